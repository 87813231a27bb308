"""Access tokens: none needed on 127.0.0.1; beyond it, every route wants one.

Only SHA-256 digests of the tokens are configured (CANDLELAB_TOKEN_HASHES), so a leaked
configuration gives no token away. A request presents its token as `Authorization:
Bearer <token>` or in the `candlelab_token` cookie; it is hashed and compared with each
digest in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Awaitable, Callable

from fastapi import Request, Response, status
from fastapi.responses import JSONResponse

COOKIE = "candlelab_token"
LOOPBACK_NAMES = {"localhost"}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Access:
    """Checks requests against the configured token digests; open when there are none."""

    def __init__(self, digests: list[str]) -> None:
        self.digests = [digest.strip().lower() for digest in digests if digest.strip()]

    @property
    def open(self) -> bool:
        return not self.digests

    def allows(self, request: Request) -> bool:
        """Whether the request may go on: always when no tokens are configured."""
        if self.open:
            return True
        token = _presented(request)
        return token is not None and self._known(token_hash(token))

    async def middleware(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Every route, pages and API and /docs alike: 401 without a configured token."""
        if self.allows(request):
            return await call_next(request)
        return JSONResponse(
            {"detail": "an access token is needed: Authorization: Bearer <token>"},
            status_code=status.HTTP_401_UNAUTHORIZED,
            headers={"WWW-Authenticate": "Bearer"},
        )

    def _known(self, digest: str) -> bool:
        # Every digest is compared, so the time taken tells nothing about which was close.
        matches = [hmac.compare_digest(digest, known) for known in self.digests]
        return any(matches)


def _presented(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    return request.cookies.get(COOKIE)
