"""Token authentication: log in once, share the token, refresh it single-flight."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

__all__ = ["TokenAuth"]


class TokenAuth:
    """Holds the current auth token for a username/password pair.

    Many calls may discover at the same moment that the token expired; only the first
    one logs in again (the others wait for it and reuse the new token), so a burst of
    failures costs one `Authenticate` round trip, not one per call.
    """

    def __init__(self, login: Callable[[], Awaitable[str]]) -> None:
        self._login = login
        self._token: str | None = None
        self._lock = anyio.Lock()

    @property
    def current(self) -> str | None:
        return self._token

    async def token(self) -> str:
        token = self._token
        if token is not None:
            return token
        return await self.refresh(None)

    async def refresh(self, stale: str | None) -> str:
        """Log in again unless another task already replaced `stale`.

        The token is "" while etcd has auth disabled (no token is sent then), so a
        missing token (`None`) counts as that one.
        """
        async with self._lock:
            if self._token is not None and self._token != (stale or ""):
                return self._token
            self._token = await self._login()
            return self._token

    def reset(self) -> None:
        self._token = None
