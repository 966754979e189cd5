"""Speaker identification, piece by piece: the registry entry, the streaming run against NeMo's own, turns and the
number of speakers, words and segments to speakers, Canary's turn windows, renaming, and every export with speakers
(SRT/VTT read back by pysubs2 and webvtt-py, RTTM by pyannote.database and NeMo's own reader).

The streaming check uses a tiny random Streaming Sortformer; what a trained one hears is in
``test_speakers_trained.py``.
"""

from __future__ import annotations

import csv
import io
import json
import re

import docx
import numpy as np
import pysubs2
import pytest
import webvtt

from offline_transcribe.cli import parse_args, settings_from_args
from offline_transcribe.diarize import DiarizationPolicy, SpeakerOptions
from offline_transcribe.diarize.attribute import assign_words, rename_speakers, speaker_of, turn_windows
from offline_transcribe.diarize.rttm import to_rttm
from offline_transcribe.diarize.turns import FRAME_S, turns_from_activity
from offline_transcribe.exports import to_csv, to_json, to_srt, to_txt, to_vtt, write_exports
from offline_transcribe.models.registry import DIARIZER, MODELS, get_transcription_spec, transcription_models
from offline_transcribe.types import Segment, SpeakerTurn, Transcript, Word

POLICY = DiarizationPolicy()


def activity(seconds: float, *spans: tuple[int, float, float], slots: int = 4) -> np.ndarray:
    """Frame probabilities ``[frames, slots]``: 0.9 inside each (slot, start, end), 0.05 elsewhere (times are
    rounded to 80 ms frames)."""
    probs = np.full((round(seconds / FRAME_S), slots), 0.05, dtype=np.float32)
    for slot, start, end in spans:
        probs[round(start / FRAME_S) : round(end / FRAME_S), slot] = 0.9
    return probs


# ---------------------------------------------------------------------------------------------------------------
# The registry entry


def test_the_diarizer_is_a_pinned_optional_model_that_does_not_transcribe():
    spec = MODELS[DIARIZER]
    assert spec.repo_id == "nvidia/diar_streaming_sortformer_4spk-v2"
    assert spec.hub_filename == "diar_streaming_sortformer_4spk-v2.nemo" and spec.storage == "nemo"
    assert re.fullmatch(r"[0-9a-f]{40}", spec.revision) and not spec.required and spec.task == "diarize"
    assert DIARIZER not in transcription_models() and set(transcription_models()) == {"parakeet", "canary",
                                                                                      "parakeet-v3"}  # fmt: skip
    with pytest.raises(KeyError, match="does not transcribe"):
        get_transcription_spec(DIARIZER)
    with pytest.raises(SystemExit):
        parse_args(["--model", DIARIZER])


@pytest.mark.parametrize("value, count", [(None, None), ("auto", None), ("", None), ("1", 1), (4, 4)])
def test_speaker_options_parse(value, count):
    assert SpeakerOptions.parse(value).count == count


@pytest.mark.parametrize("value", ["0", "5", "two", "-1"])
def test_speaker_options_refuse_what_the_diarizer_cannot_do(value):
    with pytest.raises(ValueError, match="1 to 4|number of speakers"):
        SpeakerOptions.parse(value)


def test_the_command_line_takes_a_number_of_speakers_or_auto(capsys):
    assert parse_args(["--transcribe", "a.wav", "--speakers"]).speaker_options == SpeakerOptions()
    assert parse_args(["--transcribe", "a.wav", "--speakers", "3"]).speaker_options.count == 3
    assert parse_args(["--transcribe", "a.wav"]).speaker_options is None
    with pytest.raises(SystemExit):
        parse_args(["--transcribe", "a.wav", "--speakers", "5"])
    assert "--speakers: the number of speakers must be 1 to 4" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--speakers", "2"])  # the page has its own option
    assert "--speakers applies only with --transcribe" in capsys.readouterr().err
    only = parse_args(["--only", f"{DIARIZER},parakeet"])  # as the start command names what is installed
    assert only.only == (DIARIZER, "parakeet") and settings_from_args(only).default_model == "parakeet"
    with pytest.raises(SystemExit):
        parse_args(["--only", DIARIZER])
    assert "name a model that transcribes too" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------------
# Activity to turns


def test_turns_are_labelled_in_order_of_first_speech_and_short_pauses_are_bridged():
    probs = activity(10, (2, 0.4, 2.0), (2, 2.16, 3.04), (0, 3.6, 5.04), (2, 6.0, 7.04))
    d = turns_from_activity(probs, SpeakerOptions(), POLICY)
    assert d.speakers == ["Speaker 1", "Speaker 2"]  # slot 2 spoke first
    assert [(t.speaker, t.start, t.end) for t in d.turns] == [
        ("Speaker 1", 0.4, 3.04),  # the 0.16 s pause is bridged
        ("Speaker 2", 3.6, 5.04),
        ("Speaker 1", 6.0, 7.04),
    ]
    assert d.notes == []


def test_blips_are_dropped_and_auto_ignores_a_speaker_who_barely_talks():
    probs = activity(10, (0, 1.0, 4.0), (1, 5.0, 5.08), (3, 6.0, 6.4))
    d = turns_from_activity(probs, SpeakerOptions(), POLICY)
    assert d.speakers == ["Speaker 1"] and len(d.turns) == 1


def test_a_given_number_of_speakers_keeps_the_most_talkative_and_loses_no_speech():
    probs = activity(12, (0, 0.0, 4.0), (1, 4.5, 8.0), (2, 8.5, 9.5))
    two = turns_from_activity(probs, SpeakerOptions(2), POLICY)
    assert two.speakers == ["Speaker 1", "Speaker 2"]
    covered = sum(t.end - t.start for t in two.turns)
    assert covered == pytest.approx(4.0 + 3.5 + 1.0, abs=0.2)  # slot 2's second of speech went to a kept speaker
    one = turns_from_activity(probs, SpeakerOptions(1), POLICY)
    assert one.speakers == ["Speaker 1"] and {t.speaker for t in one.turns} == {"Speaker 1"}
    three = turns_from_activity(activity(5, (0, 0.0, 4.0)), SpeakerOptions(3), POLICY)
    assert three.speakers == ["Speaker 1"] and three.notes == ["Asked for 3 speakers; only 1 could be heard apart."]


def test_four_speakers_found_says_more_may_share_a_label():
    probs = activity(20, (0, 0, 3), (1, 4, 7), (2, 8, 11), (3, 12, 15))
    d = turns_from_activity(probs, SpeakerOptions(), POLICY)
    assert len(d.speakers) == 4
    assert d.notes and "4 speakers found: the most this diarizer tells apart" in d.notes[0]


def test_silence_has_no_speakers():
    d = turns_from_activity(activity(5), SpeakerOptions(), POLICY)
    assert d.turns == [] and d.speakers == []


# ---------------------------------------------------------------------------------------------------------------
# Speakers onto words, segments and Canary's windows

TURNS = [SpeakerTurn(0.0, 2.0, "Speaker 1"), SpeakerTurn(1.8, 4.0, "Speaker 2"), SpeakerTurn(6.0, 7.0, "Speaker 1")]


def test_a_word_goes_to_the_turn_it_overlaps_most_else_the_nearest():
    assert speaker_of(0.5, 0.9, TURNS) == "Speaker 1"
    assert speaker_of(1.7, 2.3, TURNS) == "Speaker 2"  # 0.3 s with speaker 1, 0.5 s with speaker 2
    assert speaker_of(4.3, 4.6, TURNS) == "Speaker 2" and speaker_of(5.5, 5.8, TURNS) == "Speaker 1"
    assert speaker_of(1.0, 2.0, []) is None


def test_segments_break_where_the_speaker_changes():
    words = (Word("a", 0.2, 0.5), Word("b", 0.6, 1.0), Word("c", 2.5, 2.9), Word("d", 3.0, 3.5), Word("e", 6.1, 6.4))
    out = assign_words([Segment(0.2, 6.4, "a b c d e", words)], TURNS)
    assert [(s.speaker, s.text, s.start, s.end) for s in out] == [
        ("Speaker 1", "a b", 0.2, 1.0), ("Speaker 2", "c d", 2.5, 3.5), ("Speaker 1", "e", 6.1, 6.4),
    ]  # fmt: skip
    assert all(w.speaker == s.speaker for s in out for w in s.words)


def test_canary_windows_follow_the_turns_merge_a_speaker_s_close_turns_and_split_long_ones():
    audio = np.zeros(16000 * 100, dtype=np.float32)
    turns = [SpeakerTurn(1.0, 3.0, "Speaker 1"), SpeakerTurn(3.5, 5.0, "Speaker 1"), SpeakerTurn(5.5, 6.0, "Speaker 2"),
             SpeakerTurn(10.0, 95.0, "Speaker 1")]  # fmt: skip
    windows = turn_windows(turns, audio, 40.0, POLICY)
    assert windows[0] == pytest.approx((0.85, 5.15, "Speaker 1"), abs=1e-6)  # merged across the 0.5 s pause, padded
    assert windows[1] == pytest.approx((5.35, 6.15, "Speaker 2"), abs=1e-6)
    long = windows[2:]
    assert {w[2] for w in long} == {"Speaker 1"} and len(long) == 3 and all(e - s <= 40.0 for s, e, _ in long)
    assert long[0][0] == pytest.approx(9.85) and long[-1][1] == pytest.approx(95.15)


# ---------------------------------------------------------------------------------------------------------------
# Exports and renaming


def diarized() -> Transcript:
    segments = [
        Segment(0.2, 1.0, "hello there", (Word("hello", 0.2, 0.5, "Speaker 1"), Word("there", 0.6, 1.0, "Speaker 1")),
                "Speaker 1"),
        Segment(2.5, 3.5, "yes", (Word("yes", 2.5, 3.5, "Speaker 2"),), "Speaker 2"),
        Segment(6.1, 6.4, "good", (Word("good", 6.1, 6.4, "Speaker 1"),), "Speaker 1"),
    ]  # fmt: skip
    return Transcript(
        text="Speaker 1: hello there\n\nSpeaker 2: yes\n\nSpeaker 1: good", segments=segments, model="parakeet",
        model_name="Parakeet-TDT-0.6B-v2", audio_duration=7.5, processing_time=1.0, device="cpu",
        timestamp_level="word", source="the talk.wav", speakers=["Speaker 1", "Speaker 2"], speaker_turns=TURNS,
    )  # fmt: skip


def test_subtitles_carry_the_speaker():
    srt = pysubs2.SSAFile.from_string(to_srt(diarized()), format_="srt")
    assert [e.plaintext for e in srt] == ["Speaker 1: hello there", "Speaker 2: yes", "Speaker 1: good"]
    captions = list(webvtt.from_buffer(io.StringIO(to_vtt(diarized()))))
    assert [(c.voice, c.text) for c in captions] == [("Speaker 1", "hello there"), ("Speaker 2", "yes"),
                                                     ("Speaker 1", "good")]  # fmt: skip
    assert captions[1].start == "00:00:02.500" and captions[1].end == "00:00:03.500"


def test_json_csv_and_text_carry_the_speakers():
    t = diarized()
    data = json.loads(to_json(t))
    assert data["speakers"] == ["Speaker 1", "Speaker 2"]
    assert [s["speaker"] for s in data["segments"]] == ["Speaker 1", "Speaker 2", "Speaker 1"]
    assert all(w["speaker"] == s["speaker"] for s in data["segments"] for w in s["words"])
    assert data["speaker_turns"][1] == {"start": 1.8, "end": 4.0, "speaker": "Speaker 2"}
    rows = list(csv.reader(io.StringIO(to_csv(t))))
    assert rows[0] == ["start", "end", "speaker", "text"] and rows[2] == ["2.500", "3.500", "Speaker 2", "yes"]
    assert to_txt(t).startswith("Speaker 1: hello there\n\nSpeaker 2: yes")


def test_without_speakers_nothing_changes(tmp_path):
    t = Transcript("hi", [Segment(0, 1, "hi", (Word("hi", 0, 1),))], "parakeet", "P", 1.0, 0.1, "cpu", "word")
    assert "speaker" not in to_json(t) and to_csv(t).startswith("start,end,text")
    assert to_srt(t).splitlines()[2] == "hi" and "<v" not in to_vtt(t)
    assert set(write_exports(t, tmp_path, "t", ["txt", "rttm"])) == {"txt"}  # no turns: no RTTM


def test_rttm_round_trips_through_pyannote_and_nemo(tmp_path):
    from nemo.collections.asr.parts.utils.speaker_utils import rttm_to_labels
    from pyannote.database.util import load_rttm

    path = write_exports(diarized(), tmp_path, "the talk", ["txt"])["rttm"]
    annotation = load_rttm(str(path))["the_talk"]
    assert sorted(annotation.labels()) == ["Speaker_1", "Speaker_2"]
    got = sorted((round(s.start, 3), round(s.end, 3), label) for s, _, label in annotation.itertracks(yield_label=True))
    assert got == [(0.0, 2.0, "Speaker_1"), (1.8, 4.0, "Speaker_2"), (6.0, 7.0, "Speaker_1")]
    assert rttm_to_labels(str(path)) == ["0.0 2.0 Speaker_1", "1.8 4.0 Speaker_2", "6.0 7.0 Speaker_1"]
    assert to_rttm([], "x") == ""


def test_renaming_reaches_text_segments_words_turns_and_every_export(tmp_path):
    renamed = rename_speakers(diarized(), {"Speaker 1": "  Alice  Smith ", "Speaker 2": ""})
    assert renamed.speakers == ["Alice Smith", "Speaker 2"]  # blank keeps the label; spaces tidied
    assert renamed.text == "Alice Smith: hello there\n\nSpeaker 2: yes\n\nAlice Smith: good"
    assert {w.speaker for w in renamed.words} == {"Alice Smith", "Speaker 2"}
    assert [t.speaker for t in renamed.speaker_turns] == ["Alice Smith", "Speaker 2", "Alice Smith"]
    files = write_exports(renamed, tmp_path, "talk")
    assert set(files) == {"txt", "srt", "vtt", "json", "csv", "docx", "md", "rttm"}
    for fmt, path in files.items():
        content = "\n".join(p.text for p in docx.Document(str(path)).paragraphs) if fmt == "docx" else path.read_text()
        assert ("Alice_Smith" if fmt == "rttm" else "Alice Smith") in content, fmt
        assert "Speaker 1" not in content and "Speaker_1" not in content, fmt
    assert [c.voice for c in webvtt.read(str(files["vtt"]))] == ["Alice Smith", "Speaker 2", "Alice Smith"]
    same = rename_speakers(diarized(), {"Speaker 1": "Bo", "Speaker 2": "Bo"})  # one person split in two, merged
    assert same.speakers == ["Bo"] and {w.speaker for w in same.words} == {"Bo"}
    assert [t.speaker for t in same.speaker_turns] == ["Bo", "Bo", "Bo"] and "Speaker" not in same.text
    assert "Bo (2)" not in write_exports(same, tmp_path / "merged", "talk")["json"].read_text()


# ---------------------------------------------------------------------------------------------------------------
# The streaming run


@pytest.fixture(scope="module")
def random_sortformer(tmp_path_factory):
    from tiny_models import build_tiny_sortformer

    return build_tiny_sortformer(tmp_path_factory.mktemp("sortformer") / "tiny.nemo", seed=1)


@pytest.mark.parametrize(
    "policy",
    [DiarizationPolicy(), DiarizationPolicy(chunk_len=40, chunk_right_context=7, fifo_len=30, spkcache_len=40,
                                            spkcache_update_period=40)],  # fmt: skip
    ids=["offline-preset", "small-chunks"],
)
def test_chunked_features_give_exactly_nemo_s_streaming_output(random_sortformer, policy):
    """The app computes each chunk's features from its own audio; NeMo's forward computes the whole file's."""
    import torch

    from offline_transcribe.diarize import sortformer

    rng = np.random.default_rng(0)
    t = np.arange(16000 * 33) / 16000
    audio = (0.3 * np.sin(2 * np.pi * (150 + 100 * np.sin(t)) * t) * (rng.random(t.size) > 0.3)).astype(np.float32)
    seen: list[float] = []
    mine = sortformer.speaker_activity(random_sortformer, audio, policy, lambda f, m: seen.append(f))
    sortformer.apply_streaming_settings(random_sortformer, policy)
    with torch.inference_mode():
        ref = random_sortformer.forward(audio_signal=torch.from_numpy(audio)[None],
                                        audio_signal_length=torch.tensor([len(audio)]))[0].numpy()  # fmt: skip
    assert mine.shape == (int(np.ceil(len(audio) / 1280)), 4) and mine.shape[0] <= ref.shape[0]
    np.testing.assert_allclose(mine, ref[: len(mine)], atol=1e-5)
    assert len(seen) == int(np.ceil(len(audio) / 16000 / (policy.chunk_len * FRAME_S)))
