"""Read back the JSON download (``exports.to_json``: ``Transcript.to_dict``) to go on editing it.

Everything in it came from a client, so it is checked field by field: a file that is not a transcript this app
wrote gets a ``TranscriptFileError`` saying what is wrong (which field of which segment) and what to open instead.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ...errors import TranscriptFileError
from ...paragraphs import paragraph_text
from ...types import Segment, SpeakerTurn, Transcript, Word
from .model import MAX_TEXT

MAX_JSON_BYTES = 50 * 1024 * 1024  # an 8-hour transcript with every word's times is about 15 MB
MAX_SEGMENTS = 100_000
MAX_WORDS = 2_000  # words of one segment
MAX_SPEAKERS = 32
WHAT_TO_OPEN = "Open the JSON download of a transcription made here (the file ending in .json)."


def _bad(name: str, what: str) -> TranscriptFileError:
    return TranscriptFileError(f"'{name}' is not a transcript this app wrote: {what}. {WHAT_TO_OPEN}")


def _time(value: Any, where: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise _bad(name, f"{where} is not a time in seconds")
    return float(value)


def _text(value: Any, where: str, name: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise _bad(name, f"{where} is not text")
    if len(value) > limit:
        raise _bad(name, f"{where} is longer than {limit:,} characters")
    return value


def _speaker(value: Any, speakers: list[str], where: str, name: str) -> str | None:
    if not speakers or value is None:  # a word or segment no speaker was found for
        return None
    if value not in speakers:
        raise _bad(name, f"{where} is not one of the speakers listed in 'speakers'")
    return value


def _span(item: dict, where: str, name: str) -> tuple[float, float]:
    start, end = _time(item.get("start"), f"{where}'s start", name), _time(item.get("end"), f"{where}'s end", name)
    if end < start:
        raise _bad(name, f"{where} ends before it starts")
    return start, end


def _segment(item: Any, i: int, speakers: list[str], name: str) -> Segment:
    where = f"segment {i + 1}"
    if not isinstance(item, dict):
        raise _bad(name, f"{where} is not an object")
    start, end = _span(item, where, name)
    words = item.get("words", [])
    if not isinstance(words, list) or len(words) > MAX_WORDS:
        raise _bad(name, f"{where}'s 'words' is not a list of at most {MAX_WORDS:,} words")
    parsed = []
    for k, word in enumerate(words):
        at = f"word {k + 1} of {where}"
        if not isinstance(word, dict):
            raise _bad(name, f"{at} is not an object")
        w_start, w_end = _span(word, at, name)
        parsed.append(Word(_text(word.get("text"), f"{at}'s 'text'", name, 200), w_start, w_end,
                           _speaker(word.get("speaker"), speakers, f"{at}'s speaker", name)))  # fmt: skip
    edited = item.get("edited", False)
    if not isinstance(edited, bool):
        raise _bad(name, f"{where}'s 'edited' is not true or false")
    return Segment(start, end, _text(item.get("text"), f"{where}'s 'text'", name), tuple(parsed),
                   _speaker(item.get("speaker"), speakers, f"{where}'s speaker", name), edited)  # fmt: skip


def parse_transcript(data: Any, name: str) -> Transcript:
    """The transcript that ``data`` (a JSON download, parsed) holds; ``name`` names the file in messages."""
    if not isinstance(data, dict):
        raise _bad(name, "it holds no object with 'segments'")
    missing = [key for key in ("segments", "model", "audio_duration", "timestamp_level") if key not in data]
    if missing:
        raise _bad(name, f"it has no {', '.join(repr(k) for k in missing)}")
    segments = data["segments"]
    if not isinstance(segments, list) or len(segments) > MAX_SEGMENTS:
        raise _bad(name, f"'segments' is not a list of at most {MAX_SEGMENTS:,} segments")
    speakers = data.get("speakers", [])
    names_ok = isinstance(speakers, list) and all(isinstance(s, str) and 0 < len(s) <= 200 for s in speakers)
    if not names_ok or len(speakers) > MAX_SPEAKERS or len(set(speakers)) != len(speakers):
        raise _bad(name, f"'speakers' is not a list of at most {MAX_SPEAKERS} different names")  # fmt: skip
    turns = data.get("speaker_turns", [])
    if not isinstance(turns, list) or len(turns) > MAX_SEGMENTS:
        raise _bad(name, "'speaker_turns' is not a list of turns")
    speaker_turns = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise _bad(name, f"speaker turn {i + 1} is not an object")
        start, end = _span(turn, f"speaker turn {i + 1}", name)
        speaker = _speaker(turn.get("speaker"), speakers, f"speaker turn {i + 1}'s speaker", name)
        if speaker is not None:
            speaker_turns.append(SpeakerTurn(start, end, speaker))
    parsed = [_segment(item, i, speakers, name) for i, item in enumerate(segments)]
    notes = data.get("notes", [])
    notes = [n for n in notes if isinstance(n, str)][:50] if isinstance(notes, list) else []
    level = _text(data["timestamp_level"], "'timestamp_level'", name, 20)
    processing = data.get("processing_time", 0.0)
    text = data.get("text")
    return Transcript(
        text=text if isinstance(text, str) and len(text) <= MAX_JSON_BYTES else paragraph_text(parsed),
        segments=parsed,
        model=_text(data["model"], "'model'", name, 100), model_name=_text(data.get("model_name", ""), "'model_name'",
                                                                          name, 200),
        audio_duration=_time(data["audio_duration"], "'audio_duration'", name),
        processing_time=processing if isinstance(processing, int | float) and math.isfinite(processing) else 0.0,
        device=str(data.get("device", ""))[:200], timestamp_level=level,
        source=_text(data.get("source", ""), "'source'", name, 255), notes=notes, speakers=list(speakers),
        speaker_turns=speaker_turns,
    )  # fmt: skip


def read_transcript(path: str | Path, name: str | None = None) -> Transcript:
    """The transcript of a JSON download at ``path`` (``name``: what the person called the file)."""
    path = Path(path)
    name = name or path.name
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise TranscriptFileError(f"'{name}' is {size / 1e6:.0f} MB: a transcript's JSON is at most "
                                  f"{MAX_JSON_BYTES // 2**20} MB. {WHAT_TO_OPEN}")  # fmt: skip
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise TranscriptFileError(f"'{name}' is not JSON (it could not be read as JSON text). {WHAT_TO_OPEN}") from None
    return parse_transcript(data, name)
