"""Uploads that Gradio refuses leave nothing behind.

Gradio 6.31 writes each uploaded file to a ``tmp*`` file at the top of its upload folder while it reads the request,
and moves it into a folder of its own only when the whole upload is accepted (``route_utils.upload_fn``). An upload
refused afterwards (a file name it does not accept: 400) or broken off keeps its bytes in that ``tmp*`` file, which
nothing ever deletes. This middleware counts the uploads under way; once one has failed and none is under way any
more, every ``tmp*`` file left at the top of the upload folder is such a leftover, and it is deleted at once: a
refused upload's own leftover before the refusal's last byte is sent, when it was the only upload under way.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("transcribe.ui")

UPLOAD_PATH = "/gradio_api/upload"
TEMP_NAME = re.compile(r"tmp[a-z0-9_]{6,}")  # the names of Python's tempfile, which Gradio's parser uses


def remove_leftovers(upload_dir: Path) -> int:
    """Delete the ``tmp*`` files at the top of ``upload_dir`` (not its folders, not links); how many went."""
    removed = 0
    for path in upload_dir.iterdir() if upload_dir.is_dir() else ():
        if TEMP_NAME.fullmatch(path.name) and path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


class RefusedUploadCleanup:
    """ASGI middleware around Gradio's upload route: a failed upload's bytes are deleted once no upload is under
    way (one event loop: the counter needs no lock)."""

    def __init__(self, app: ASGIApp, upload_dir: Path) -> None:
        self.app = app
        self.upload_dir = Path(upload_dir)
        self.under_way = 0
        self.failed = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].endswith(UPLOAD_PATH):
            await self.app(scope, receive, send)
            return
        status = 0

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body") and not ok(status):
                # The refusal's last part: its leftover is deleted before the client hears of the refusal, so that
                # nothing of it is on disk once the client has its answer (when no other upload is under way).
                self.failed = True
                self._clean_if_idle(1)
            await send(message)

        self.under_way += 1
        try:
            await self.app(scope, receive, noting_status)
        finally:
            self.under_way -= 1
            self.failed = self.failed or not ok(status)
            self._clean_if_idle(0)

    def _clean_if_idle(self, under_way: int) -> None:
        """Delete the leftovers of failed uploads if only ``under_way`` uploads (the caller's own) are under way."""
        if self.failed and self.under_way == under_way:
            self.failed = False
            if removed := remove_leftovers(self.upload_dir):
                log.info("Deleted %d file(s) of an upload that was refused or broken off", removed)


def ok(status: int) -> bool:
    """Whether an HTTP status is a success (2xx)."""
    return 200 <= status < 300
