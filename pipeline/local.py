"""Index a repository in this process, without a database: for notebooks, tests and the speed baseline.

``run_local`` runs the same stage functions as the multiprocess pipeline — fetch, parse+extract, link — one after
the other in the calling process and returns the rows as Structs. The stored index of a commit equals what this
returns for it (the end-to-end tests check that).
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import msgspec
import pygit2

from stages.commit import LinkedCommit, link_commit
from stages.extract import ExtractionLimits, extract_source
from stages.fetch import (
    FileListing,
    clone_bare,
    commit_context,
    job_workdir,
    list_files,
    parse_target,
    read_files,
    resolve_commit,
    token_hosts_for,
)
from stages.models import FileExtraction
from stages.parse import ParseLimits


class IndexedFile(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    blob_oid: str
    extraction: FileExtraction


class LocalIndex(msgspec.Struct, frozen=True, kw_only=True):
    """One commit's index: files in path order (their position is their file index), and the cross-file links."""

    commit_sha: str
    files: list[IndexedFile]
    linked: LinkedCommit
    skipped: dict[str, int]
    files_seen: int


def index_commit(
    repo: pygit2.Repository,
    commit_sha: str,
    *,
    max_file_bytes: int = 2 * 1024 * 1024,
    parse_timeout: float = 5.0,
) -> LocalIndex:
    """Index ``commit_sha`` of an open repository: list, read, parse+extract, link."""
    listing: FileListing = list_files(repo, commit_sha, max_file_bytes=max_file_bytes)
    limits = ExtractionLimits(parse=ParseLimits(max_bytes=max_file_bytes, parse_timeout_seconds=parse_timeout))
    files = [
        IndexedFile(
            path=item.path,
            blob_oid=item.oid,
            extraction=extract_source(item.path, data, limits=limits, language=item.language),
        )
        for item, data in read_files(repo, listing.items, skipped=listing.skipped)
    ]
    linked = link_commit(
        [file.extraction for file in files], commit_context(repo, listing.commit_sha, rescued=listing.rescued)
    )
    return LocalIndex(
        commit_sha=listing.commit_sha,
        files=files,
        linked=linked,
        skipped=listing.skipped,
        files_seen=listing.files_seen,
    )


def run_local(
    target: str,
    *,
    ref: str | None = None,
    commit_sha: str | None = None,
    token: str | None = None,
    base_url: str | None = "https://github.com",
    tmp_root: Path | None = None,
    max_file_bytes: int = 2 * 1024 * 1024,
) -> LocalIndex:
    """Clone ``target`` (URL, local path or owner/name) bare into a temp dir, index the commit, clean up.

    ``token`` is sent only over https to the host of ``base_url`` (``stages.fetch.token_allowed``).
    """
    repo_target = parse_target(target, base_url=base_url)
    root = tmp_root or Path(tempfile.gettempdir())
    with job_workdir(root, f"local-{uuid.uuid4().hex[:12]}") as workdir:
        token_hosts = token_hosts_for((), base_url or "")
        repo = clone_bare(repo_target, workdir, token=token, token_hosts=token_hosts, ref=ref, commit_sha=commit_sha)
        resolved = resolve_commit(repo, ref=ref, commit_sha=commit_sha)
        return index_commit(repo, resolved, max_file_bytes=max_file_bytes)
