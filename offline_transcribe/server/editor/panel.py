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
from ...exports import ExportOptions
from ..run_downloads import RunDownloads, names_of
from ..subtitles_panel import options_of
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
    """Show a run in the editor, and save its edits (every download written again by ``run_downloads``, with the
    speakers' names of the renaming table and the page's subtitle settings)."""

    def __init__(
        self,
        downloads: RunDownloads,
        text: Callable[[list[FileResult]], str],
        segments: Callable[[list[FileResult]], dict],
    ):
        self.downloads, self.text, self.segments = downloads, text, segments

    @staticmethod
    def show(results: list[FileResult] | None) -> dict[str, Any]:
        """The editor's data for a finished run."""
        return editor_value(results)

    def save(
        self, results: list[FileResult] | None, names: object, preset: str | None, max_line_chars: float | None,
        max_lines: float | None, max_cue_seconds: float | None, max_cps: float | None, evt: gr.EventData,
    ) -> tuple[str, dict, list[str], list[FileResult], dict[str, Any]]:  # fmt: skip
        """Apply the editor's edits: text, segments table, downloads, the run's results and the editor's data.

        The run's results keep the speakers' labels (the names are the renaming table's, applied on writing)."""
        results = results or []
        try:
            edits = json.loads(getattr(evt, "_data", {}).get("edits") or "null")
        except (TypeError, ValueError):
            edits = None
        shown = [res for res in results if res.transcript is not None and res.ok]
        if not isinstance(edits, list) or len(edits) != len(shown):
            raise gr.Error("The editor does not match the last transcription: transcribe again and edit that.")
        options = ExportOptions(options_of(preset, max_line_chars, max_lines, max_cue_seconds, max_cps))
        by_file = dict(zip((id(r) for r in shown), edits, strict=True))
        try:
            saved = [self._edited(res, by_file[id(res)]) if id(res) in by_file else res for res in results]
        except EditError as exc:
            raise gr.Error(str(exc), title="Not saved") from None
        written, files = self.downloads.write(saved, names_of(names), options)
        gr.Info("Saved: the transcript, the table and every download follow your edits.")
        return self.text(written), self.segments(written), files, saved, editor_value(saved)

    @staticmethod
    def _edited(res: FileResult, edits: Any) -> FileResult:
        assert res.transcript is not None
        return FileResult(res.path, res.name, apply_edits(res.transcript, edits), res.outputs, res.error)


def wire(view: gr.HTML, handlers: EditorHandlers, state: gr.State, names: gr.Dataframe,
         subtitles: list[gr.components.Component], text: gr.Textbox, segments: gr.Dataframe,
         downloads: gr.File) -> None:  # fmt: skip
    """Saving: the editor's submit event (its Save button, or Ctrl+Enter in a segment); ``names``: the speaker
    renaming table, ``subtitles``: the page's subtitle preset and its four limits."""
    view.submit(handlers.save, inputs=[state, names, *subtitles], outputs=[text, segments, downloads, state, view],
                api_visibility="private", show_progress="hidden")
