"""Write a run's downloads again, from the transcripts the page holds (no new transcription): with the names of
the speaker-renaming table and the page's subtitle settings, into a fresh folder. Renaming speakers, "Apply to the
downloads" of the Subtitles group and the editor's Save all do it this one way, so each keeps what the others
chose (an edit keeps the names and the subtitle preset; a rename keeps the edits and the preset)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..batch import FileResult
from ..diarize.attribute import rename_speakers
from ..exports import ExportOptions, write_exports

Names = dict[tuple[str, str], str]  # (file name, speaker label) -> the name typed for it ("" keeps the label)


def table_rows(value: object) -> list[list]:
    """A Gradio table's rows, whether it hands a DataFrame, a dict or a list."""
    if hasattr(value, "values") and hasattr(value, "columns"):  # pandas
        return [list(r) for r in value.values.tolist()]  # type: ignore[union-attr]
    if isinstance(value, dict):
        return [list(r) for r in value.get("data", [])]
    return [list(r) for r in value or []]


def names_of(table: object) -> Names:
    """The speaker-renaming table (File, Speaker, Name) as a lookup."""
    return {(str(row[0]), str(row[1])): str(row[2]) for row in table_rows(table) if len(row) >= 3}


def named(res: FileResult, names: Names) -> FileResult:
    """``res`` with its speakers named as the table says (unchanged without speakers)."""
    t = res.transcript
    if t is None or not t.speakers:
        return res
    return FileResult(res.path, res.name, rename_speakers(t, {s: names.get((res.name, s), "") for s in t.speakers}),
                      res.outputs, res.error)  # fmt: skip


class RunDownloads:
    """Writes a run's downloads again: ``new_dir`` gives a fresh folder, ``listing`` the page's list of the files
    (the ZIP first)."""

    def __init__(self, new_dir: Callable[[], Path], listing: Callable[[list[FileResult], Path], list[str]]):
        self.new_dir, self.listing = new_dir, listing

    def write(
        self, results: list[FileResult], names: Names | None = None, options: ExportOptions | None = None
    ) -> tuple[list[FileResult], list[str]]:
        """Every file of ``results`` that has downloads, written again in the same formats with the speakers'
        ``names`` and the subtitle ``options`` (RTTM comes with speakers); returns the results as written (named)
        and the page's list of downloads."""
        out_dir = self.new_dir()
        again = [self._again(named(res, names or {}), out_dir, options) for res in results]
        return again, self.listing(again, out_dir)

    @staticmethod
    def _again(res: FileResult, out_dir: Path, options: ExportOptions | None) -> FileResult:
        if res.transcript is None or not res.outputs:
            return res
        stem = next(iter(res.outputs.values())).stem
        outputs = write_exports(res.transcript, out_dir, stem, [f for f in res.outputs if f != "rttm"] or ["txt"],
                                options)  # fmt: skip
        return FileResult(res.path, res.name, res.transcript, outputs, res.error)
