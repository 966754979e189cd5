"""Tests for exports.py: each format's content, round trips through pysubs2 and csv, and file writing."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pysubs2
import pytest

from offline_transcribe.exports import (
    EXPORT_FORMATS,
    safe_stem,
    to_csv,
    to_json,
    to_srt,
    to_txt,
    to_vtt,
    write_exports,
    write_zip,
)
from offline_transcribe.subtitles import PRESETS
from offline_transcribe.types import Segment, Transcript, Word

AS_IS = PRESETS["as transcribed"]  # one cue per segment

SEGMENTS = [
    Segment(0.0, 1.2346, "Hello, world.", (Word("Hello,", 0.0, 0.5), Word("world.", 0.6, 1.2346))),
    Segment(1.5, 3.25, 'Two lines,\nwith "quotes" and, commas'),
    Segment(3.9, 7261.25, "Über größe – 会议记录"),
]


def make_transcript(segments: list[Segment] = SEGMENTS) -> Transcript:
    return Transcript(
        text=" ".join(s.text for s in segments),
        segments=list(segments),
        model="parakeet",
        model_name="Parakeet-TDT-0.6B-v2",
        audio_duration=7262.0,
        processing_time=12.5,
        device="cpu",
        timestamp_level="word",
        source="meeting.wav",
    )


def test_txt_is_the_text() -> None:
    t = make_transcript()
    assert to_txt(t) == t.text + "\n"


@pytest.mark.parametrize("fmt, to_text", [("srt", to_srt), ("vtt", to_vtt)])
def test_subtitles_round_trip(fmt: str, to_text) -> None:
    text = to_text(make_transcript(), AS_IS)
    subs = pysubs2.SSAFile.from_string(text, format_=fmt)
    assert [e.plaintext for e in subs] == [s.text for s in SEGMENTS]
    for event, seg in zip(subs, SEGMENTS, strict=True):
        assert abs(event.start / 1000 - seg.start) <= 0.001
        assert abs(event.end / 1000 - seg.end) <= 0.001


def test_subtitle_timestamps() -> None:
    t = make_transcript()
    assert "00:00:01,500 --> 00:00:03,250" in to_srt(t, AS_IS)
    assert "00:00:03,900 --> 02:01:01,250" in to_srt(t, AS_IS)
    vtt = to_vtt(t, AS_IS)
    assert vtt.startswith("WEBVTT")
    assert "00:00:01.500 --> 00:00:03.250" in vtt


def test_subtitles_skip_empty_segments_and_keep_braces() -> None:
    t = make_transcript([Segment(0, 1, "  "), Segment(1, 2, "{laughs} yes"), Segment(2, 3, "a\n\n\nb")])
    subs = pysubs2.SSAFile.from_string(to_srt(t, AS_IS))
    assert len(subs) == 2
    assert "{laughs} yes" in to_srt(t, AS_IS) and "{laughs} yes" in to_srt(t)
    assert subs[1].plaintext == "a\nb"  # a blank line would end an SRT cue


def test_csv_round_trip() -> None:
    rows = list(csv.reader(io.StringIO(to_csv(make_transcript()))))
    assert rows[0] == ["start", "end", "text"]
    assert rows[1:] == [[f"{s.start:.3f}", f"{s.end:.3f}", s.text] for s in SEGMENTS]
    assert rows[2][:2] == ["1.500", "3.250"]


def test_json_has_everything() -> None:
    t = make_transcript()
    data = json.loads(to_json(t))
    assert data["text"] == t.text
    assert data["segments"][0]["words"][1] == {"text": "world.", "start": 0.6, "end": 1.235}  # to the millisecond
    assert data["segments"][2]["text"] == "Über größe – 会议记录"
    assert data["real_time_factor"] == pytest.approx(12.5 / 7262.0, abs=1e-6)
    assert "会议记录" in to_json(t)  # not \u-escaped


def test_json_times_are_rounded_to_the_millisecond() -> None:
    noisy = 0.1 + 0.2  # 0.30000000000000004
    t = make_transcript([Segment(noisy, 2.8000000000000003, "a", (Word("a", noisy, 2.8000000000000003),))])
    t.processing_time, t.audio_duration = 1 / 3, 2.80000001
    text = to_json(t)
    assert "0000000" not in text and '"end": 2.8' in text
    data = json.loads(text)
    assert data["segments"][0]["start"] == 0.3 and data["processing_time"] == 0.333 and data["audio_duration"] == 2.8


def test_zip_holds_every_file(tmp_path) -> None:
    paths = list(write_exports(make_transcript(), tmp_path, "talk.wav").values())
    archive = write_zip(paths, tmp_path / "all.zip")
    with zipfile.ZipFile(archive) as z:
        assert sorted(z.namelist()) == sorted(f"talk.wav.{fmt}" for fmt in EXPORT_FORMATS)
        assert z.read("talk.wav.srt").decode() == paths[1].read_text()


def test_empty_transcript() -> None:
    t = make_transcript([])
    assert to_txt(t) == "\n"
    assert pysubs2.SSAFile.from_string(to_vtt(t), format_="vtt").events == []
    assert list(csv.reader(io.StringIO(to_csv(t)))) == [["start", "end", "text"]]


def test_write_exports(tmp_path) -> None:
    t = make_transcript()
    paths = write_exports(t, tmp_path / "out", "réunion 3 mai")
    assert list(paths) == list(EXPORT_FORMATS)
    for fmt, path in paths.items():
        assert path == tmp_path / "out" / f"réunion 3 mai.{fmt}"
    assert paths["srt"].read_text(encoding="utf-8") == to_srt(t)
    assert json.loads(paths["json"].read_text(encoding="utf-8"))["source"] == "meeting.wav"
    with paths["csv"].open(newline="", encoding="utf-8") as f:
        assert list(csv.reader(f))[2][2] == SEGMENTS[1].text


def test_write_exports_some_formats_and_unknown(tmp_path) -> None:
    assert set(write_exports(make_transcript(), tmp_path, "x", formats=["txt", "vtt"])) == {"txt", "vtt"}
    with pytest.raises(ValueError, match="pdf"):
        write_exports(make_transcript(), tmp_path, "x", formats=["pdf"])


@pytest.mark.parametrize(
    "stem, expected",
    [
        ("../../etc/passwd", "etc_passwd"),
        (".hidden", "hidden"),
        ("a\\b:c", "a_b_c"),
        ("会议 notes", "会议 notes"),
        ("", "transcript"),
        ("...", "transcript"),
    ],
)
def test_safe_stem(stem: str, expected: str) -> None:
    assert safe_stem(stem) == expected


def test_safe_stem_is_short_enough_for_a_file_name(tmp_path) -> None:
    stem = safe_stem("ü" * 300)
    assert len(stem.encode()) <= 200
    assert write_exports(make_transcript(), tmp_path, "ü" * 300, formats=["txt"])["txt"].exists()
