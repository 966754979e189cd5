"""The subtitle limits and their named presets: "standard" (42 × 2, 7 s, 17 characters a second: the usual
broadcast limits), "one line" (1 × 32, e.g. for vertical video) and "as transcribed" (one cue per segment).

``subtitle_options`` is how every front end (command line, API, page) turns a preset name and overrides into
checked options.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

STANDARD = "standard"
ONE_LINE = "one line"
AS_TRANSCRIBED = "as transcribed"


@dataclass(frozen=True)
class SubtitleOptions:
    """Limits for subtitle cues. ``preset`` "as transcribed" ignores them (one cue per segment)."""

    preset: str = STANDARD
    max_line_chars: int = 42  # characters on one line
    max_lines: int = 2  # lines in one cue
    max_cue_seconds: float = 7.0  # longest cue
    max_cps: float = 17.0  # reading speed: characters a second (without line breaks)
    min_cue_seconds: float = 1.0  # shortest cue, where the gap to the next one allows
    min_gap_seconds: float = 0.08  # between two cues

    @property
    def shaped(self) -> bool:
        """False for "as transcribed": cues are the segments as they are."""
        return self.preset != AS_TRANSCRIBED


PRESETS: dict[str, SubtitleOptions] = {
    STANDARD: SubtitleOptions(),
    ONE_LINE: SubtitleOptions(ONE_LINE, max_line_chars=32, max_lines=1),
    AS_TRANSCRIBED: SubtitleOptions(AS_TRANSCRIBED),
}

# field: (smallest, largest, what it is) — the limits a user may set
LIMITS: dict[str, tuple[float, float, str]] = {
    "max_line_chars": (10, 200, "characters per line"),
    "max_lines": (1, 4, "lines per cue"),
    "max_cue_seconds": (1.0, 60.0, "seconds per cue"),
    "max_cps": (5.0, 100.0, "characters per second"),
}


def preset_name(name: str) -> str:
    """``name`` as a preset key (``one-line``, ``One_Line`` → ``one line``); raises ``ValueError`` if unknown."""
    key = " ".join(name.strip().lower().replace("-", " ").replace("_", " ").split())
    if key not in PRESETS:
        raise ValueError(f"unknown subtitle preset {name!r}: choose {', '.join(repr(p) for p in PRESETS)}")
    return key


def subtitle_options(
    preset: str | None = None,
    *,
    max_line_chars: int | None = None,
    max_lines: int | None = None,
    max_cue_seconds: float | None = None,
    max_cps: float | None = None,
) -> SubtitleOptions:
    """The preset (default "standard") with the limits given; raises ``ValueError`` naming a limit out of range,
    or limits given with "as transcribed" (which has none)."""
    base = PRESETS[preset_name(preset or STANDARD)]
    given = {
        k: v
        for k, v in dict(max_line_chars=max_line_chars, max_lines=max_lines, max_cue_seconds=max_cue_seconds,
                         max_cps=max_cps).items()
        if v is not None
    }  # fmt: skip
    if given and not base.shaped:
        names = ", ".join(k.replace("_", "-") for k in given)
        raise ValueError(
            f"{names} cannot apply to the preset 'as transcribed' (one cue per segment, no limits): "
            "choose the preset 'standard' or 'one line', or leave the limits out"
        )
    for key, value in given.items():
        low, high, what = LIMITS[key]
        if not low <= value <= high:
            raise ValueError(f"{key.replace('_', '-')} must be from {low:g} to {high:g} {what}, not {value:g}")
    return replace(base, **given)
