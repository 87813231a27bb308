"""Access tokens: none needed on 127.0.0.1; beyond it, every route wants one.

Only SHA-256 digests of the tokens are configured (CANDLELAB_TOKEN_HASHES), so a leaked
configuration gives no token away. A request presents its token as `Authorization:
Bearer <token>`; it is hashed and compared with each digest in constant time.

A browser signs in once: without credentials every page answers 401 with a sign-in form,
which posts the token to /login. A valid token buys a session, a random id kept in the
HttpOnly, SameSite=Strict cookie `candlelab_session`; the server keeps only the id's
digest, with its expiry, so the cookie never holds the token and dies with the server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response, status
from fastapi.responses import JSONResponse, RedirectResponse

from candlelab.web.rendering import templates

COOKIE = "candlelab_session"
SESSION_SECONDS = 12 * 3600
LOGIN = "/login"
# What a browser fetches before anyone signs in; nothing secret, and a 401 there would be
# a console error on every page.
PUBLIC = frozenset({"/favicon.ico"})
LOOPBACK_NAMES = {"localhost"}
# The sign-in page cannot load /static without credentials, so it carries its few rules
# inline; the page's policy allows exactly this text by its hash.
SIGN_IN_STYLE = (
    "body{margin:0;font:14px/1.4 system-ui,sans-serif;background:#f6f7f9;color:#1d1d1f}"
    "header{padding:8px 16px;background:#14171c;color:#fff;font-weight:700}"
    "section{max-width:440px;margin:48px auto;background:#fff;border:1px solid #e2e5ea;"
    "border-radius:6px;padding:12px 16px}label{display:flex;flex-direction:column;gap:4px;"
    "margin-bottom:10px}.error{color:#b3261e}"
)
_DIGEST = base64.b64encode(hashlib.sha256(SIGN_IN_STYLE.encode()).digest()).decode()
SIGN_IN_STYLE_HASH = f"'sha256-{_DIGEST}'"


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
        self.sessions: dict[str, float] = {}  # session id digest → expiry (monotonic)

    @property
    def open(self) -> bool:
        return not self.digests

    def allows(self, request: Request) -> bool:
        """Whether the request may go on: always when no tokens are configured."""
        if self.open:
            return True
        token = _bearer(request)
        if token is not None:
            return self.knows(token)
        return self._in_session(request.cookies.get(COOKIE))

    def knows(self, token: str) -> bool:
        # Every digest is compared, so the time taken tells nothing about which was close.
        digest = token_hash(token)
        matches = [hmac.compare_digest(digest, known) for known in self.digests]
        return any(matches)

    def start_session(self) -> str:
        """A new session id for the cookie; only its digest is kept."""
        session = secrets.token_urlsafe(32)
        self.sessions[token_hash(session)] = time.monotonic() + SESSION_SECONDS
        return session

    def end_session(self, session: str | None) -> None:
        if session:
            self.sessions.pop(token_hash(session), None)

    async def middleware(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Every route, pages and API and /docs alike: 401 without a token or session.
        Only the sign-in form's POST goes through, to be checked by its handler, and the
        site's icon."""
        signing_in = request.method == "POST" and request.url.path == LOGIN
        public = request.method == "GET" and request.url.path in PUBLIC
        if signing_in or public or self.allows(request):
            return await call_next(request)
        return refusal(request)

    def _in_session(self, session: str | None) -> bool:
        if not session:
            return False
        # Looked up by digest: a guess's timing says nothing of any real session id.
        expiry = self.sessions.get(token_hash(session))
        return expiry is not None and expiry > time.monotonic()


def router(access: Access) -> APIRouter:
    """POST /login (the sign-in form's target) and POST /logout."""
    routes = APIRouter(include_in_schema=False)

    @routes.post(LOGIN)
    def login(request: Request, token: Annotated[str, Form(max_length=1000)] = "",
              next: Annotated[str, Form(max_length=2000)] = "/") -> Response:  # fmt: skip
        if access.open:
            return RedirectResponse(local_path(next), status.HTTP_303_SEE_OTHER)
        if not token or not access.knows(token):
            return refusal(request, wrong=True, next_path=next)
        return signed_in(access, request, next)

    @routes.post("/logout")
    def logout(request: Request) -> Response:
        access.end_session(request.cookies.get(COOKIE))
        response = RedirectResponse("/", status.HTTP_303_SEE_OTHER)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    return routes


def refusal(request: Request, wrong: bool = False, next_path: str | None = None) -> Response:
    """401: the sign-in form for a browser, a JSON detail for anything else."""
    headers = {"WWW-Authenticate": "Bearer"}
    if "text/html" in request.headers.get("Accept", ""):
        context = {"next": next_path or _here(request), "wrong": wrong, "style": SIGN_IN_STYLE}
        return templates.TemplateResponse(request, "login.html", context, 401, headers)
    detail = "an access token is needed: Authorization: Bearer <token>"
    return JSONResponse({"detail": detail}, status.HTTP_401_UNAUTHORIZED, headers)


def signed_in(access: Access, request: Request, next_path: str) -> Response:
    """A redirect to where the user was going, with the new session's cookie."""
    response = RedirectResponse(local_path(next_path), status.HTTP_303_SEE_OTHER)
    response.set_cookie(COOKIE, access.start_session(), max_age=SESSION_SECONDS, path="/",
                        httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")  # fmt: skip
    return response


def local_path(path: str) -> str:
    """`path` if it stays on this site, else "/": a sign-in never redirects elsewhere."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    return None
