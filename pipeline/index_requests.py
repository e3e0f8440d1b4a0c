"""What a user asks to index, checked and normalised the same way for the CLI and the API before anything is written.

Guarantees:
- A repository target longer than ``MAX_TARGET_LENGTH`` characters is refused before it reaches the file system or
  the URL parser (the API's schema uses the same limit).
- ``expand_local_commit``: for a repository on this machine, a short sha names the full commit sha, so the same
  commit spelled short or long, in any case, is one job. A remote repository's short sha cannot be expanded before
  fetching; such a job keeps the short sha until its fetch resolves it, so a short and a full spelling of one remote
  commit can be two jobs. They cannot both become current: the later finisher is ``skipped`` (the commit is already
  the current index) or, when both run at once, the snapshot of the earlier request is deleted
  (``stats.superseded``), as for any two jobs of one repository.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pygit2

from pipeline.errors import IndexRequestError
from stages.fetch import RepoTarget, parse_target

MAX_TARGET_LENGTH = 2048


def parse_request_target(text: str, *, base_url: str, allow_local: bool = True) -> RepoTarget:
    """``stages.fetch.parse_target`` behind the shared length limit; raises ``IndexRequestError`` for an overlong
    target and ``FetchError`` subclasses for one that cannot be indexed. Without ``allow_local`` (the API unless
    ``api.allow_local_targets``), paths and ``file://`` URLs are refused without looking at the file system."""
    if len(text) > MAX_TARGET_LENGTH:
        raise IndexRequestError(f"repository target is {len(text)} characters long; at most {MAX_TARGET_LENGTH}")
    return parse_target(text, base_url=base_url, local=allow_local)


def expand_local_commit(target: RepoTarget, commit_sha: str) -> str:
    """The full lower-case sha of the commit ``commit_sha`` (7 to 40 hex digits) names in a local repository.

    ``commit_sha`` comes back unchanged (lower-cased) when the target is remote, or when the prefix names no commit
    or more than one object: the fetch stage then fails the job saying so, as it does for any unknown commit.
    """
    sha = commit_sha.lower()
    if not target.is_local or len(sha) == 40:
        return sha
    path = unquote(urlsplit(target.url).path) if target.transport == "file" else target.url
    try:
        commit = pygit2.Repository(path)[sha].peel(pygit2.Commit)  # an object id prefix, never a ref name
    except (KeyError, ValueError, pygit2.GitError):  # unknown or ambiguous prefix, or no commit behind it
        return sha
    return str(commit.id)
