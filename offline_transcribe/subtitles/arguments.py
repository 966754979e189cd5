"""The subtitle options as command-line flags (``--subtitle-preset``, ``--max-line-chars``, ``--max-lines``,
``--max-cue-seconds``, ``--max-cps``) and as the API's form fields of the same names."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from .presets import LIMITS, PRESETS, SubtitleOptions, subtitle_options

FIELDS = ("max_line_chars", "max_lines", "max_cue_seconds", "max_cps")
_TYPES: dict[str, type] = {"max_line_chars": int, "max_lines": int, "max_cue_seconds": float, "max_cps": float}


def add_arguments(group: argparse._ArgumentGroup | argparse.ArgumentParser) -> None:
    """Add the subtitle flags to ``group``."""
    standard = PRESETS["standard"]
    group.add_argument("--subtitle-preset", metavar="NAME",
                       help=f"how SRT and VTT cues are shaped: {', '.join(repr(p) for p in PRESETS)} (default: "
                       "standard; 'as transcribed' is one cue per segment)")  # fmt: skip
    for name in FIELDS:
        low, high, what = LIMITS[name]
        group.add_argument(f"--{name.replace('_', '-')}", type=_TYPES[name], metavar="N",
                           help=f"subtitles: at most N {what} ({low:g}-{high:g}; default {getattr(standard, name):g}, "
                           "or the preset's)")  # fmt: skip


def from_args(args: argparse.Namespace) -> SubtitleOptions:
    """The options the flags describe; raises ``ValueError`` with the message to show."""
    return subtitle_options(args.subtitle_preset, **{name: getattr(args, name) for name in FIELDS})


class FieldError(ValueError):
    """A subtitle field that is wrong; ``field`` is its name."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def from_fields(get: Callable[[str], str]) -> SubtitleOptions:
    """The options of text fields (``get(name)`` returns ``""`` for a field not sent): ``subtitle_preset`` and the
    limits by their flag names with underscores; none sent is "standard". Raises ``FieldError`` naming the field."""
    values: dict[str, int | float] = {}
    for name in FIELDS:
        raw = get(name).strip()
        if raw:
            try:
                values[name] = _TYPES[name](raw)
            except ValueError:
                kind = "a whole number" if _TYPES[name] is int else "a number"
                raise FieldError(f"{name} must be {kind}, not {raw!r}", name) from None
    try:
        return subtitle_options(get("subtitle_preset").strip() or None, **values)
    except ValueError as exc:
        named = [name for name in FIELDS if str(exc).startswith(name.replace("_", "-"))]
        raise FieldError(str(exc).replace("-", "_") if named else str(exc), (named or ["subtitle_preset"])[0]) from None
