"""Who may drive the server: a Host (and Origin) check against DNS rebinding and cross-site requests, and the API
key that a server other computers can reach must have.

* On a loopback address the server answers only requests whose ``Host`` is a loopback name (``127.0.0.1``,
  ``localhost``, ``[::1]``, with any port) or one of ``--allowed-hosts`` (a reverse proxy's name). A web page on
  another site that points its own DNS name at 127.0.0.1 (DNS rebinding) sends that name as the Host and is
  refused with 403: the page, Gradio's API, uploads and ``/v1`` alike.
* A request with an ``Origin`` (a browser's script) must come from the server's own page (the same scheme, host
  and port as the request's ``Host``) or one of ``--allowed-origins``. Pages on other sites, and pages served from
  other ports of this machine (another local program's page), get 403: they cannot make the user's browser read
  from or send audio to the server. WebSockets are checked the same way (cross-site WebSocket hijacking).
* Off loopback (``--host 0.0.0.0``, ``--share``) the server does not start without an API key (``--api-key`` or
  ``$TRANSCRIBE_UI_API_KEY``). ``/v1`` then needs ``Authorization: Bearer <key>`` (401 otherwise; compared in
  constant time) and the page asks for the same key as its password. Such a server answers any Host name unless
  ``--allowed-hosts`` is given. The key is never logged.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import urllib.parse
from dataclasses import dataclass, field

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..config import API_KEY_ENV, Settings, normal_origin
from .openai_api import API_PREFIX, openai_error

log = logging.getLogger("transcribe.access")

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def host_name(value: str | None) -> str | None:
    """The name in a ``Host`` header or URL authority: lower case, without the port, brackets or a final dot."""
    if not value:
        return None
    try:
        name = urllib.parse.urlsplit(f"//{value.strip()}").hostname
    except ValueError:  # e.g. an unclosed "[::1"
        return None
    return (name or "").rstrip(".") or None


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is this machine only."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def startup_refusal(settings: Settings) -> str | None:
    """Why the server must not start as configured (other computers could use it, and it has no key), or None."""
    if settings.api_key:
        return None
    if settings.share:
        where = "a public link (--share)"
    elif not is_loopback(settings.host):
        where = f"{settings.host}, where other computers can reach it,"
    else:
        return None
    return (
        f"Not starting: listening on {where} needs an API key; without one, anyone who reaches the server could "
        "use it and read what it transcribes.\n"
        f"Choose a key and start with {API_KEY_ENV}=<key> (or --api-key <key>, which other users of this computer "
        "can see in the process list), for example:\n"
        f"  export {API_KEY_ENV}=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')\n"
        "Programs then send it as 'Authorization: Bearer <key>'; the page asks for it as the password."
    )


@dataclass(frozen=True)
class AccessPolicy:
    """The Host names a server answers and the key it wants."""

    hosts: frozenset[str] | None  # names answered besides any loopback address; None: every name
    api_key: str | None = field(default=None, repr=False)
    origins: frozenset[str] = frozenset()  # pages besides the server's own, as normal_origin writes them

    @classmethod
    def from_settings(cls, settings: Settings) -> AccessPolicy:
        """Loopback names plus ``--allowed-hosts``; every name for a public server without ``--allowed-hosts``;
        the server's own page plus ``--allowed-origins``."""
        extra = frozenset(name for name in map(host_name, settings.allowed_hosts) if name)
        public = settings.share or not is_loopback(settings.host)
        origins = frozenset(normal_origin(o) for o in settings.allowed_origins)
        return cls(None if public and not extra else LOOPBACK_NAMES | extra, settings.api_key, origins)

    def _known(self, name: str | None) -> bool:
        return name is not None and self.hosts is not None and (name in self.hosts or is_loopback(name))

    def host_allowed(self, host: str | None) -> bool:
        """Whether to answer a request whose ``Host`` header is ``host``."""
        return self.hosts is None or self._known(host_name(host))

    def origin_allowed(self, origin: str | None, host: str | None, scheme: str = "http") -> bool:
        """Whether a request with this ``Origin`` (None: not from a browser script) may go on: the page's own
        origin (``scheme`` and the request's ``Host``), or one of ``origins``. ``null`` (a sandboxed page, a local
        file) and anything unreadable are refused."""
        if origin is None:
            return True
        try:
            asked = normal_origin(origin)
        except ValueError:
            return False
        if asked in self.origins:
            return True
        try:
            return bool(host) and asked == normal_origin(f"{scheme}://{str(host).strip()}")
        except ValueError:
            return False

    def key_matches(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header carries the key (always, when there is no key)."""
        if self.api_key is None:
            return True
        scheme, _, token = (authorization or "").strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.api_key.encode())

    def login(self, username: str, password: str) -> bool:
        """Gradio's login check for the page: any user name, the key as the password."""
        return self.api_key is not None and hmac.compare_digest(password.encode(), self.api_key.encode())


class AccessMiddleware:
    """ASGI middleware in front of everything the server serves: the Host and Origin checks, and the key on /v1."""

    def __init__(self, app: ASGIApp, policy: AccessPolicy) -> None:
        self.app, self.policy = app, policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and (refusal := self.refusal(scope)) is not None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})  # before accepting: the client gets 403
            else:
                await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> Response | None:
        """The response that refuses this request, or None when it may go on."""
        headers = Headers(scope=scope)
        host, path = headers.get("host"), scope.get("path", "")
        if not self.policy.host_allowed(host):
            log.warning("Refused %s %s for Host %r: not a name this server answers to", scope.get("method"), path, host)
            names = ", ".join(f"[{n}]" if ":" in n else n for n in sorted(self.policy.hosts or ()))
            return openai_error(403, f"This server answers only to {names} (and loopback addresses), not to "
                                f"{host!r}. To reach it under another name, such as a reverse proxy's, start it "
                                "with --allowed-hosts NAME.", code="host_not_allowed")
        origin = headers.get("origin")
        scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope.get("scheme", "http"))
        if not self.policy.origin_allowed(origin, host, scheme):
            log.warning("Refused %s %s from a page of %r", scope.get("method"), path, origin)
            return openai_error(403, f"Requests from other web pages ({origin!r}) are refused: only this server's "
                                "own page may use it. Start the server with --allowed-origins ORIGIN to let a page "
                                "you trust use it.", code="origin_not_allowed")
        if (path == API_PREFIX or path.startswith(API_PREFIX + "/")) and not self.policy.key_matches(
            headers.get("authorization")
        ):
            log.info("Refused %s %s: missing or wrong API key", scope.get("method"), path)
            return openai_error(401, "This server needs its API key: send 'Authorization: Bearer <key>' with the key "
                                f"it was started with (--api-key or {API_KEY_ENV}).", code="invalid_api_key",
                                headers={"WWW-Authenticate": "Bearer"})
        return None
