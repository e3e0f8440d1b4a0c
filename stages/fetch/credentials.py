"""The one place a git access token is handed out: the libgit2 credentials callback."""

from __future__ import annotations

import pygit2

from stages.fetch.errors import AuthenticationFailed
from stages.fetch.targets import RepoTarget


class Credentials(pygit2.RemoteCallbacks):
    """Hands the token to libgit2 once per network operation; a second request means the server rejected it.

    libgit2 keeps a credential for the rest of its connection and asks again only after a 401 with it.
    """

    def __init__(self, target: RepoTarget, token: str | None) -> None:
        super().__init__()
        self._target = target
        self._token = token
        self.attempts = 0

    def begin_operation(self) -> None:
        """Called before each connection (listing refs, each fetch): the first request of each gets the token."""
        self.attempts = 0

    def credentials(
        self, url: str, username_from_url: str | None, allowed_types: pygit2.enums.CredentialType
    ) -> pygit2.UserPass | pygit2.KeypairFromAgent:
        self.attempts += 1
        if self.attempts > 1:
            raise AuthenticationFailed(f"{self._target.url} rejected the configured credentials")
        if self._target.transport == "ssh" and allowed_types & pygit2.enums.CredentialType.SSH_KEY:
            return pygit2.KeypairFromAgent(username_from_url or "git")
        if self._token is None:
            raise AuthenticationFailed(f"{self._target.url} requires authentication and no access token is configured")
        if not allowed_types & pygit2.enums.CredentialType.USERPASS_PLAINTEXT:
            raise AuthenticationFailed(f"{self._target.url} does not accept token authentication")
        return pygit2.UserPass("x-access-token", self._token)
