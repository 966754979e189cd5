"""One server on one port: the Gradio page at ``/`` and the OpenAI-compatible API at ``/v1``, behind the access
check, served by uvicorn.

``build_server(settings, store)`` is the FastAPI app: the /v1 routes (``openai_api``), the page from
``page.build_app`` mounted with ``gr.mount_gradio_app`` (with what ``demo.launch()`` used to set: the upload limit,
no extra file paths, the theme and CSS, client-side rendering, the footer, the login when there is a key) and the
access middleware (``access``) in front of both. Page and API share the store and one job line (``jobs``).
Everything the server writes lives in its private ``workspace`` (Gradio's cache included); only files in there
are ever taken as inputs, which Gradio also checks once it is told the app has launched.
``serve(settings, store)`` runs it until Ctrl-C or SIGTERM with umask 077; a clean stop deletes the workspace, and
the next start deletes those of servers that were killed.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import secrets
import signal
import socket
import sys

import gradio as gr
import uvicorn
from fastapi import FastAPI
from starlette.routing import Mount

from ..config import Settings
from ..models.store import ModelStore
from . import live, openai_api, openai_chat, page, realtime
from .access import AccessMiddleware, AccessPolicy, is_loopback
from .jobs import JobQueue
from .upload_leftovers import RefusedUploadCleanup
from .workspace import Workspace, use_private_files

log = logging.getLogger("transcribe.ui")

SHUTDOWN_GRACE_S = 10  # requests still running when the server is asked to stop get this long to finish
LOGIN_MESSAGE = "This server is protected by its API key: enter any user name, and the key as the password."
# How often Gradio looks at a page's open event stream when nothing else is sent: a page closed while its job waits
# in the job line is noticed within this time, and its job dropped before its turn (Gradio's default is 15 s: a
# job that waited less than that could run for a page that was gone).
PAGE_HEARTBEAT_S = "2"


def build_server(settings: Settings, store: ModelStore, workspace: Workspace | None = None) -> FastAPI:
    """The page and the API on one FastAPI app, behind the Host, Origin and key checks, writing only into
    ``workspace`` (default: a new one, removed at exit)."""
    if workspace is None:
        workspace = Workspace.create()
        atexit.register(workspace.remove)
    os.environ["GRADIO_TEMP_DIR"] = str(workspace.gradio)  # Gradio reads it for every upload and cached result
    os.environ.setdefault("GRADIO_HEARTBEAT_INTERVAL", PAGE_HEARTBEAT_S)  # read for each page's event stream
    policy = AccessPolicy.from_settings(settings)
    jobs = JobQueue()
    app = FastAPI(title="Offline Speech Transcription", docs_url=None, redoc_url=None, openapi_url=None)
    realtime.install(app, settings, store, jobs)  # /v1/realtime: a WebSocket, before the page's mount
    live.install(app, jobs, settings.default_model)  # the page's Live socket, /live/ws
    openai_chat.install(app, settings, store, jobs)  # before the transcription API, whose last route takes all /v1
    openai_api.install(app, settings, store, jobs, workspace.api_uploads)  # before the page's mount at "/"
    demo = page.build_app(settings, store, exports_root=workspace.exports, jobs=jobs,
                          input_check=workspace.is_input)
    gr.mount_gradio_app(
        app,
        demo,
        path="/",
        server_name=settings.host,
        server_port=settings.port,
        footer_links=["api", "settings"],
        auth=policy.login if policy.api_key else None,
        auth_message=LOGIN_MESSAGE if policy.api_key else None,
        allowed_paths=[],
        max_file_size=settings.max_file_size,
        show_error=True,
        ssr_mode=False,
        theme=page.theme(),
        css=page.CSS,
    )
    # mount_gradio_app, unlike launch(), leaves has_launched False, and Gradio skips its check that an input file was
    # uploaded by a user until it is True: without it, a client could name any server file as an input.
    demo.has_launched = True
    app.state.gradio = next(r.app for r in app.routes if isinstance(r, Mount))
    app.state.workspace = workspace
    app.add_middleware(RefusedUploadCleanup, upload_dir=workspace.gradio)  # inside the access check
    app.add_middleware(AccessMiddleware, policy=policy)
    app.add_middleware(realtime.SubprotocolKey)  # outside the access check: the browsers' key becomes its header
    return app


def local_url(settings: Settings) -> str:
    """The address to open on this machine."""
    host = "127.0.0.1" if settings.host in {"", "0.0.0.0", "::"} else settings.host.strip("[]")
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.port}/"


class _Server(uvicorn.Server):
    """uvicorn that says where it listens once it does, creates the share link when asked, and ends the page's open
    heartbeat streams as soon as it is told to stop (otherwise it would wait for every open browser tab)."""

    def __init__(self, config: uvicorn.Config, settings: Settings) -> None:
        super().__init__(config)
        self.settings = settings

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started:
            return
        url = local_url(self.settings)
        api = f"{url}{openai_api.API_PREFIX.lstrip('/')}"
        lines = [f"* Running on local URL:  {url}", f"* OpenAI-compatible API: {api}"]
        if not self.settings.share:
            host = self.settings.host
            where = "this computer only" if is_loopback(host) else f"every address of {host}"
            lines.append(f"* Listening on {where}. --share would add a public link through Gradio's servers "
                         "(not offline).")
        lines.append("* Press Ctrl-C to stop.")
        print("\n".join(lines), flush=True)
        if self.settings.share:
            await self._share()

    async def _share(self) -> None:
        from gradio import networking

        try:
            address = await asyncio.to_thread(
                networking.setup_tunnel, "127.0.0.1", self.settings.port, secrets.token_urlsafe(32), None, None
            )
        except Exception as exc:  # no internet, Gradio's share servers down: the local server goes on
            log.error("Could not create the share link: %s", exc)
            return
        print(f"* Running on public URL: {address}", flush=True)

    async def on_tick(self, counter: int) -> bool:
        should_exit = await super().on_tick(counter)
        if should_exit:
            self.config.app.state.gradio.stop_event.set()
        return should_exit


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (IPv4 or IPv6); raises ``OSError`` when the port is taken or the address is
    not this machine's."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host.strip("[]") or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def _stop_on_sigterm() -> None:
    """Let SIGTERM (service managers, ``kill``) end the process the way Ctrl-C does.

    uvicorn catches both while it serves, stops cleanly, then raises the signal again: this handler turns that
    into the same ``KeyboardInterrupt`` as Ctrl-C's, which ``serve`` takes as a normal end.
    """

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def serve(settings: Settings, store: ModelStore) -> int:
    """Serve the page and the API until Ctrl-C or SIGTERM; returns the exit status."""
    if not is_loopback(settings.host):
        log.warning("Listening on %s: other computers on the network can reach the server (with its API key).",
                    settings.host)
    if settings.share:
        log.warning("--share sends the page's traffic through Gradio's public share servers: this is not offline.")
    use_private_files()  # uploads, caches, downloads, recordings: 0600 files in 0700 folders
    try:
        sock = _listen(settings.host, settings.port)
    except OSError as exc:  # port taken, address not on this machine
        print(f"✗ Cannot listen on {settings.host}:{settings.port}: {exc}\nChoose another with --port or --host.",
              file=sys.stderr)
        return 1
    try:
        workspace = Workspace.create()
    except OSError as exc:
        sock.close()
        print(f"✗ Cannot make the server's private folder: {exc}", file=sys.stderr)
        return 1
    app = build_server(settings, store, workspace)
    config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=SHUTDOWN_GRACE_S)
    _stop_on_sigterm()
    try:
        _Server(config, settings).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
        workspace.remove()
    return 0
