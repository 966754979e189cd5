"""The editor on the page: a ``gr.HTML`` whose script (``editor.js``) draws the player and the segments, and the
handlers that show a run's transcripts in it and save its edits (every download written again, like renaming
speakers does)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from ...batch import FileResult
from ...exports import write_exports
from .model import EditError, apply_edits, file_value

_HERE = Path(__file__).resolve().parent
CSS = (_HERE / "editor.css").read_text(encoding="utf-8")
_SPEEDS = ("0.75", "1", "1.25", "1.5", "2")
TEMPLATE = """<div class="ed" data-empty="1">
  <div class="ed-bar">
    <select class="ed-file" aria-label="File to edit" hidden></select>
    <audio class="ed-audio" controls preload="metadata"></audio>
    <div class="ed-controls">
      <button type="button" class="ed-back" title="Back 5 s (←)">−5 s</button>
      <button type="button" class="ed-play" title="Play or pause (space)">▶ Play</button>
      <button type="button" class="ed-fwd" title="Forward 5 s (→)">+5 s</button>
      <label>Speed <select class="ed-speed" aria-label="Playback speed">""" + "".join(
    f'<option value="{s}"{" selected" if s == "1" else ""}>{s}×</option>' for s in _SPEEDS) + """</select></label>
      <button type="button" class="ed-undo" disabled>Undo</button>
      <button type="button" class="ed-redo" disabled>Redo</button>
      <button type="button" class="ed-save" disabled>Save edits</button>
      <span class="ed-status" role="status"></span>
    </div>
  </div>
  <div class="ed-segs"></div>
</div>"""


def editor_value(results: list[FileResult] | None) -> dict[str, Any]:
    """The editor's data for the files of a run that have a transcript with text."""
    files = [file_value(res.name, res.path, res.transcript) for res in results or []
             if res.transcript is not None and res.ok]
    return {"files": files}


def build() -> gr.HTML:
    """The editor (hidden by its own CSS until a transcript is there)."""
    return gr.HTML(
        value={"files": []}, html_template=TEMPLATE, js_on_load=(_HERE / "editor.js").read_text(encoding="utf-8"),
        elem_id="editor", apply_default_css=False,
    )  # fmt: skip


class EditorHandlers:
    """Show a run in the editor, and save its edits into a fresh downloads folder."""

    def __init__(
        self,
        new_exports_dir: Callable[[], Path],
        downloads: Callable[[list[FileResult], Path], list[str]],
        text: Callable[[list[FileResult]], str],
        segments: Callable[[list[FileResult]], dict],
    ):
        self.new_exports_dir, self.downloads, self.text, self.segments = new_exports_dir, downloads, text, segments

    @staticmethod
    def show(results: list[FileResult] | None) -> dict[str, Any]:
        """The editor's data for a finished run."""
        return editor_value(results)

    def save(
        self, results: list[FileResult] | None, evt: gr.EventData
    ) -> tuple[str, dict, list[str], list[FileResult], dict[str, Any]]:
        """Apply the editor's edits: text, segments table, downloads, the run's results and the editor's data."""
        results = results or []
        try:
            edits = json.loads(getattr(evt, "_data", {}).get("edits") or "null")
        except (TypeError, ValueError):
            edits = None
        shown = [res for res in results if res.transcript is not None and res.ok]
        if not isinstance(edits, list) or len(edits) != len(shown):
            raise gr.Error("The editor does not match the last transcription: transcribe again and edit that.")
        out_dir = self.new_exports_dir()
        by_file = dict(zip((id(r) for r in shown), edits, strict=True))
        try:
            saved = [self._saved(res, by_file[id(res)], out_dir) if id(res) in by_file else res for res in results]
        except EditError as exc:
            raise gr.Error(str(exc), title="Not saved") from None
        gr.Info("Saved: the transcript, the table and every download follow your edits.")
        return self.text(saved), self.segments(saved), self.downloads(saved, out_dir), saved, editor_value(saved)

    @staticmethod
    def _saved(res: FileResult, edits: Any, out_dir: Path) -> FileResult:
        assert res.transcript is not None
        edited = apply_edits(res.transcript, edits)
        stem = next(iter(res.outputs.values())).stem if res.outputs else Path(res.name).stem
        outputs = write_exports(edited, out_dir, stem, [f for f in res.outputs if f != "rttm"] or ["txt"])
        return FileResult(res.path, res.name, edited, outputs, res.error)


def wire(view: gr.HTML, handlers: EditorHandlers, state: gr.State, text: gr.Textbox, segments: gr.Dataframe,
         downloads: gr.File) -> None:  # fmt: skip
    """Saving: the editor's submit event (its Save button, or Ctrl+Enter in a segment)."""
    view.submit(handlers.save, inputs=state, outputs=[text, segments, downloads, state, view],
                api_visibility="private", show_progress="hidden")
