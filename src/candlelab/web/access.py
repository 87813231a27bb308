"""Access tokens: none needed on 127.0.0.1; beyond it, every route wants one.

Only SHA-256 digests of the tokens are configured (CANDLELAB_TOKEN_HASHES), so a leaked
configuration gives no token away. A request presents its token as `Authorization:
Bearer <token>`; it is hashed and compared with each digest in constant time.

A browser signs in once: without credentials every page answers 401 with a sign-in form,
which posts the token to /login. A valid token buys a session, a random id kept in the
HttpOnly, SameSite=Strict cookie `candlelab_session`; the server keeps only the id's
digest, with its expiry, so the cookie never holds the token and dies with the server.

Guessing is slowed down: after FREE_FAILURES wrong tokens from one client (its address),
sign-in form and Bearer header alike, every try answers 429 with Retry-After until a
wait has passed, one second after the fifth failure and twice as long after each
further one (up to LONGEST_WAIT). The right token works again once the wait is over,
and resets the count. The counts live in memory: one process, one count.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import math
import secrets
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response, status
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from candlelab.web.rendering import templates

COOKIE = "candlelab_session"
SESSION_SECONDS = 12 * 3600
LOGIN = "/login"
# What a browser fetches before anyone signs in (a 401 there would be a console error on
# every page), and the health check a load balancer or container runtime asks without a
# token; nothing secret in either.
PUBLIC = frozenset({"/favicon.ico", "/health"})
LOOPBACK_NAMES = {"localhost"}
FREE_FAILURES = 5  # wrong tokens a client may send before it must wait
FIRST_WAIT = 1.0  # seconds, doubled with each failure past FREE_FAILURES
LONGEST_WAIT = 15 * 60.0
KEPT_CLIENTS = 10_000  # past this many counted clients, those not waiting are forgotten
Clock = Callable[[], float]
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


class Throttle:
    """Each client's failed sign-ins, and how long it must wait before the next try."""

    def __init__(self, clock: Clock = time.monotonic, free: int = FREE_FAILURES) -> None:
        self.clock, self.free = clock, free
        self.failures: dict[str, tuple[int, float]] = {}  # client → (failures, wait until)

    def wait(self, client: str) -> float:
        """Seconds `client` must still wait before it may try a token; 0 when it may."""
        _, until = self.failures.get(client, (0, 0.0))
        return max(0.0, until - self.clock())

    def failed(self, client: str) -> None:
        count = self.failures.get(client, (0, 0.0))[0] + 1
        past = count - self.free
        wait = min(FIRST_WAIT * 2.0**past, LONGEST_WAIT) if past >= 0 else 0.0
        if len(self.failures) >= KEPT_CLIENTS:
            self._forget_idle()
        self.failures[client] = (count, self.clock() + wait)

    def succeeded(self, client: str) -> None:
        self.failures.pop(client, None)

    def _forget_idle(self) -> None:
        now = self.clock()
        self.failures = {c: f for c, f in self.failures.items() if f[1] > now}


class Access:
    """Checks requests against the configured token digests; open when there are none."""

    def __init__(self, digests: list[str], throttle: Throttle | None = None) -> None:
        self.digests = [digest.strip().lower() for digest in digests if digest.strip()]
        self.sessions: dict[str, float] = {}  # session id digest → expiry (monotonic)
        self.throttle = throttle or Throttle()

    @property
    def open(self) -> bool:
        return not self.digests

    def allows(self, request: Request) -> bool:
        """Whether the request may go on: always when no tokens are configured."""
        if self.open:
            return True
        token = _bearer(request)
        if token is not None:
            return self.check(client(request), token)
        return self._in_session(request.cookies.get(COOKIE))

    def check(self, who: str, token: str) -> bool:
        """Whether `token` is one of ours, counted for or against the client `who`."""
        known = bool(token) and self.knows(token)
        if known:
            self.throttle.succeeded(who)
        else:
            self.throttle.failed(who)
        return known

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

    def refused(self, request: Request) -> Response | None:
        """Every route, pages and API and /docs alike: 401 without a token or session
        (None: the request goes on). Only the sign-in form's POST goes through, to be
        checked by its handler, and the site's icon and health check."""
        signing_in = request.method == "POST" and request.url.path == LOGIN
        if request.method == "GET" and request.url.path in PUBLIC:
            return None
        trying = not self.open and (signing_in or _bearer(request) is not None)
        wait = self.throttle.wait(client(request)) if trying else 0.0
        if wait > 0:
            return too_many_tries(wait)
        if signing_in or self.allows(request):
            return None
        return refusal(request)

    def _in_session(self, session: str | None) -> bool:
        if not session:
            return False
        # Looked up by digest: a guess's timing says nothing of any real session id.
        expiry = self.sessions.get(token_hash(session))
        return expiry is not None and expiry > time.monotonic()


class Guard:
    """`Access` as plain ASGI middleware: the request goes on untouched (body and all, no
    task of its own, unlike `@app.middleware`), or gets the refusal."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app, self.access = app, access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refused = self.access.refused(Request(scope)) if scope["type"] == "http" else None
        await (self.app if refused is None else refused)(scope, receive, send)


def router(access: Access) -> APIRouter:
    """POST /login (the sign-in form's target) and POST /logout."""
    routes = APIRouter(include_in_schema=False)

    @routes.post(LOGIN)
    def login(request: Request, token: Annotated[str, Form(max_length=1000)] = "",
              next: Annotated[str, Form(max_length=2000)] = "/") -> Response:  # fmt: skip
        if access.open:
            return RedirectResponse(local_path(next), status.HTTP_303_SEE_OTHER)
        if not access.check(client(request), token):
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


def too_many_tries(wait: float) -> Response:
    """429: this client sent too many wrong tokens; it may try again after Retry-After."""
    seconds = math.ceil(wait)
    detail = f"too many wrong tokens from this address; try again in {seconds} s"
    headers = {"Retry-After": str(seconds)}
    return JSONResponse({"detail": detail}, status.HTTP_429_TOO_MANY_REQUESTS, headers)


def client(request: Request) -> str:
    """Who a request counts against: its peer's address."""
    return request.client.host if request.client else "unknown"


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
