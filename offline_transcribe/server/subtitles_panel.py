"""The page's "Subtitles" settings: a preset and its limits. They shape the SRT and VTT downloads of the run that
follows, and "Apply to the downloads" writes the downloads of the last run again with new settings, from the
transcript the page already has (no new transcription), with the speaker names of the renaming table."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from ..batch import FileResult
from ..exports import ExportOptions
from ..subtitles import PRESETS, SubtitleOptions, subtitle_options
from ..subtitles.arguments import FIELDS
from ..subtitles.presets import LIMITS, STANDARD
from .run_downloads import RunDownloads, names_of

LABELS = {"max_line_chars": "Characters per line", "max_lines": "Lines per cue", "max_cue_seconds": "Longest cue (s)",
          "max_cps": "Characters per second"}  # fmt: skip


@dataclass
class SubtitleControls:
    """The preset, its four limits and the button that applies them to the last run's downloads."""

    preset: gr.Dropdown
    limits: list[gr.Number]
    apply: gr.Button

    @property
    def inputs(self) -> list[gr.components.Component]:
        return [self.preset, *self.limits]


def build_controls() -> SubtitleControls:
    """The "Subtitles" group (folded): choosing a preset fills in its limits, which may then be changed."""
    standard = PRESETS[STANDARD]
    with gr.Accordion("Subtitles", open=False, elem_id="subtitles"):
        preset = gr.Dropdown(list(PRESETS), value=STANDARD, label="Subtitle preset", elem_id="subtitle-preset",
                             info="standard: 42 × 2, 7 s, 17 characters a second; one line: 1 × 32 (vertical video); "
                             "as transcribed: one cue per segment")  # fmt: skip
        with gr.Row():
            limits = [
                gr.Number(getattr(standard, name), label=LABELS[name], minimum=LIMITS[name][0],
                          maximum=LIMITS[name][1], precision=0 if name in ("max_line_chars", "max_lines") else 1,
                          elem_id=f"subtitle-{name.replace('_', '-')}", min_width=100)  # fmt: skip
                for name in FIELDS
            ]
        apply = gr.Button("Apply to the downloads", size="sm", elem_id="subtitle-apply")
    preset.change(_preset_limits, preset, limits, queue=False, show_progress="hidden", api_visibility="private")
    return SubtitleControls(preset, limits, apply)


def _preset_limits(preset: str) -> list[dict]:
    chosen = PRESETS.get(preset, PRESETS[STANDARD])
    return [gr.update(value=getattr(chosen, name), interactive=chosen.shaped) for name in FIELDS]


def options_of(preset: str | None, *limits: float | None) -> SubtitleOptions:
    """The options the controls show; raises ``gr.Error`` for limits out of range."""
    try:
        if not limits or not PRESETS.get(preset or STANDARD, PRESETS[STANDARD]).shaped:  # no limits: the preset's
            return subtitle_options(preset or STANDARD)
        given = {name: (int(v) if name in ("max_line_chars", "max_lines") else float(v))
                 for name, v in zip(FIELDS, limits, strict=True) if v is not None}  # fmt: skip
        return subtitle_options(preset, **given)
    except ValueError as exc:
        raise gr.Error(f"Subtitles: {exc}.", title="Subtitles", print_exception=False) from None


class Reshaper:
    """Writes a run's downloads again with the controls' settings (``run_downloads.RunDownloads``)."""

    def __init__(self, downloads: RunDownloads):
        self.downloads = downloads

    def __call__(
        self, results: list[FileResult] | None, names: object, preset: str | None, *limits: float | None
    ) -> list[str]:
        """The downloads of ``results`` written again with the settings (and the speakers' ``names`` table)."""
        results = [r for r in results or [] if r.ok and r.transcript is not None and r.outputs]
        if not results:
            raise gr.Error("Transcribe something first: there are no downloads to write again.", title="Subtitles",
                           print_exception=False)  # fmt: skip
        return self.downloads.write(results, names_of(names), ExportOptions(options_of(preset, *limits)))[1]

    def after_run(
        self, results: list[FileResult] | None, names: object, preset: str | None, *limits: float | None
    ) -> dict:
        """After a transcription: its downloads in the chosen shape (unchanged when the settings are the
        standard ones, which the run already used)."""
        if options_of(preset, *limits) == PRESETS[STANDARD] or not any(r.ok for r in results or []):
            return gr.update()
        return gr.update(value=self(results, names, preset, *limits))


def wire(
    controls: SubtitleControls, results: gr.State, names: gr.Dataframe, downloads: gr.File, reshaper: Reshaper
) -> None:
    """The apply button: the last run's downloads written again (``names``: the speaker-renaming table)."""
    controls.apply.click(
        reshaper, inputs=[results, names, *controls.inputs], outputs=downloads, api_name="reshape_subtitles",
        api_description="Write the last transcription's downloads again with other subtitle settings (preset, "
        "characters per line, lines, longest cue, characters per second).",
    )
