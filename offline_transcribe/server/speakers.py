"""The page's speaker features: the "Identify speakers" controls, the speaker timeline, renaming speakers.

``page.py`` builds these with ``build_controls`` and ``build_view`` and wires them with ``wire``; everything else
about speakers on the page is here. Renaming rewrites every download (``run_downloads``: with the page's
subtitle settings) into a fresh folder, and the text, table and timeline follow; the names apply to the
transcripts as first made, so renaming again starts from ``Speaker 1``, ``Speaker 2``…
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import gradio as gr

from ..batch import FileResult
from ..diarize import MAX_SPEAKERS, SpeakerOptions
from ..exports import ExportOptions
from ..models.files import models_dir_option
from ..models.registry import DIARIZER, get_spec
from ..models.store import ModelStore
from . import speaker_timeline
from .run_downloads import RunDownloads, names_of
from .speaker_timeline import timeline_html
from .subtitles_panel import options_of

COUNT_CHOICES = ["auto", *(str(n) for n in range(1, MAX_SPEAKERS + 1))]
NAME_HEADERS = ["File", "Speaker", "Name"]
SPEAKER_SEGMENT_WIDTHS = ["18%", "68px", "68px", "14%", "auto"]  # File, Start, End, Speaker, Text

CSS = speaker_timeline.CSS + """
/* The speakers table edits names only: no menu to add or delete rows and columns. */
#speaker-names .cell-menu-button { display: none !important; }
#speaker-names-script { display: none; }
"""


# Typing on a selected Name cell (one click) opens it with what is typed: Gradio's table would keep only the last
# key, or lose the first one. The keys typed before its editor opens are kept and put in it.
ONE_CLICK_EDIT_JS = """
let pending = null;
const put = (editor, text) => { editor.value = text; editor.dispatchEvent(new Event('input', {bubbles: true})); };
let armed = null;  // the Name cell clicked last (the table may not have marked it selected yet)
document.addEventListener('mousedown', (event) => {
  armed = (event.target.closest && event.target.closest('#speaker-names [role=gridcell][data-col="2"]')) || null;
  const editing = document.activeElement;  // a name still being typed is kept before any other click (Rename)
  if (editing && editing.closest && editing.closest('#speaker-names') && !editing.contains(event.target)
      && editing.matches('input, textarea')) editing.blur();
}, true);
document.addEventListener('keydown', (event) => {
  const table = document.querySelector('#speaker-names'), focus = document.activeElement;
  const typingElsewhere = focus && !table?.contains(focus)
    && focus.matches('input, textarea, select, [contenteditable]');
  const here = table && armed && !typingElsewhere;
  if (!here || event.ctrlKey || event.metaKey || event.altKey) return;
  if (pending) {  // the editor is not open yet: keep the key for it
    if (event.key.length !== 1 && event.key !== 'Enter' && event.key !== 'Backspace') return;
    event.preventDefault(); event.stopImmediatePropagation();
    if (event.key === 'Enter') pending.enter = true;
    else if (event.key === 'Backspace') pending.text = pending.text.slice(0, -1);
    else pending.text += event.key;
    return;
  }
  if (event.key.length !== 1) return;
  const cell = armed && armed.isConnected ? armed : table.querySelector('[role=gridcell][data-col="2"].cell-selected');
  if (!cell || cell.querySelector('input, textarea')) return;
  event.preventDefault(); event.stopImmediatePropagation();
  pending = {cell, text: event.key, enter: false, frames: 0};
  cell.dispatchEvent(new MouseEvent('dblclick', {bubbles: true, cancelable: true}));
  const fill = () => {
    const editor = pending.cell.querySelector('input, textarea');
    if (!editor) { if (++pending.frames < 300) requestAnimationFrame(fill); else pending = null; return; }
    editor.focus();
    const since = performance.now();
    const settle = () => {  // the table may still reset its new editor: put the keys back until it is settled
      if (editor.value !== pending.text) put(editor, pending.text);
      if (performance.now() - since < 400 && editor.isConnected) { requestAnimationFrame(settle); return; }
      const enter = pending.enter;
      pending = null;
      if (enter) editor.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true}));
    };
    settle();
  };
  requestAnimationFrame(fill);
}, true);
"""


@dataclass
class SpeakerControls:
    """The inputs: identify speakers (off by default) and how many there are."""

    identify: gr.Checkbox
    count: gr.Dropdown


@dataclass
class SpeakerView:
    """The outputs above the transcript: the timeline and the table to rename speakers (hidden without speakers)."""

    panel: gr.Column
    timeline: gr.HTML
    names: gr.Dataframe
    rename: gr.Button
    state: gr.State = field(default_factory=lambda: gr.State(None))


def install_hint(store: ModelStore) -> str:
    """The command that installs the speaker model."""
    return f"{get_spec(DIARIZER).setup_command()}{models_dir_option(store.models_dir)}"


def build_controls(store: ModelStore) -> SpeakerControls:
    """The "Identify speakers" checkbox and the number of speakers (shown when it is ticked)."""
    installed = DIARIZER in store.installed()
    info = (
        f"Label who says what: up to {MAX_SPEAKERS} speakers ({get_spec(DIARIZER).display_name})."
        if installed
        else f"Needs the speaker model, not installed yet: {install_hint(store)}"
    )
    identify = gr.Checkbox(False, label="Identify speakers", info=info, elem_id="identify-speakers")
    count = gr.Dropdown(
        COUNT_CHOICES, value="auto", label="Number of speakers", visible=False, elem_id="speaker-count",
        info="auto: the speaker model finds out (up to 4)",
    )  # fmt: skip
    identify.change(
        lambda on: gr.update(visible=bool(on)), identify, count, queue=False, show_progress="hidden",
        api_visibility="private",
    )  # fmt: skip
    return SpeakerControls(identify, count)


def speaker_options(identify: bool | None, count: str | None) -> SpeakerOptions | None:
    """What the two controls ask for (None: speakers off)."""
    return SpeakerOptions.parse(count) if identify else None


def build_view() -> SpeakerView:
    """The speaker panel: timeline and renaming (hidden until a transcript has speakers)."""
    gr.HTML("", js_on_load=ONE_CLICK_EDIT_JS, elem_id="speaker-names-script", padding=False)
    with gr.Column(visible=False, elem_id="speakers-panel") as panel:
        timeline = gr.HTML(elem_id="speaker-timeline")
        names = gr.Dataframe(
            headers=NAME_HEADERS, datatype=["str", "str", "str"], interactive=True, static_columns=[0, 1],
            label="Speakers: click a Name cell and type a name (the same name for two speakers makes them one), then "
                  "press Rename speakers", elem_id="speaker-names",
        )  # fmt: skip
        rename = gr.Button("Rename speakers", elem_id="rename-speakers", size="sm")
    return SpeakerView(panel, timeline, names, rename)


# ---------------------------------------------------------------------------------------------------------------
# Formatting


def name_rows(results: list[FileResult]) -> list[list[str]]:
    """The renaming table: one row per speaker of each file, its name to type (empty: the label stays)."""
    return [[r.name, s, ""] for r in results if r.transcript is not None for s in r.transcript.speakers]


def has_speakers(results: list[FileResult]) -> bool:
    return any(r.transcript is not None and r.transcript.speakers for r in results)


# ---------------------------------------------------------------------------------------------------------------
# Handlers


class SpeakerHandlers:
    """Show the speakers of a run, and rename them (every download written again by ``run_downloads``)."""

    def __init__(
        self,
        downloads: RunDownloads,
        text: Callable[[list[FileResult]], str],
        segments: Callable[[list[FileResult]], dict],
        segment_widths: list[str],
    ):
        self.downloads, self.text, self.segments = downloads, text, segments
        self.segment_widths = segment_widths  # the segments table's column widths without a Speaker column

    def show(self, results: list[FileResult] | None) -> tuple[dict, str, list[list[str]], dict]:
        """Panel visibility, timeline, renaming table and the segments table's column widths for a finished run."""
        results = results or []
        found = has_speakers(results)
        widths = SPEAKER_SEGMENT_WIDTHS if found else self.segment_widths
        return gr.update(visible=found), timeline_html(results), name_rows(results), gr.update(column_widths=widths)

    def rename(
        self, results: list[FileResult] | None, names: object, preset: str | None = None, *limits: float | None
    ) -> tuple[str, dict, list[str], str]:
        """Text, segments, downloads and timeline with the names of the table (the downloads' subtitles shaped by
        the page's Subtitles settings: ``preset`` and its ``limits``; the standard ones without)."""
        results = results or []
        if not has_speakers(results):
            raise gr.Error("Transcribe with “Identify speakers” ticked first: there are no speakers to rename.")
        options = ExportOptions(options_of(preset, *limits))
        renamed, files = self.downloads.write(results, names_of(names), options)
        return self.text(renamed), self.segments(renamed), files, timeline_html(renamed)


def wire(view: SpeakerView, handlers: SpeakerHandlers, text: gr.Textbox, segments: gr.Dataframe,
         downloads: gr.File, subtitles: list[gr.components.Component]) -> None:  # fmt: skip
    """The rename button (the transcription's ``.then`` shows the panel: see ``page.build_app``); ``subtitles``:
    the page's subtitle preset and limits, which shape the SRT and VTT written again."""
    view.rename.click(
        handlers.rename,
        inputs=[view.state, view.names, *subtitles],
        outputs=[text, segments, downloads, view.timeline],
        api_name="rename_speakers",
        api_description="Rename the speakers of the last transcription; every download is written again (SRT and VTT "
        "with the subtitle preset and limits given, the standard ones when left out).",
    )
