"""Subtitles people can read: cues shaped to line, duration, reading-speed and gap limits (``shaping``), under
named presets (``presets``)."""

from .presets import AS_TRANSCRIBED, PRESETS, SubtitleOptions, subtitle_options
from .shaping import Cue, shape_cues

__all__ = ["AS_TRANSCRIBED", "PRESETS", "Cue", "SubtitleOptions", "shape_cues", "subtitle_options"]
