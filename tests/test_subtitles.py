"""Subtitle shaping: presets, line layout, and every written SRT/VTT checked by an independent reader
(``subtitle_check``), over hand-made and random transcripts (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offline_transcribe.exports import to_srt, to_vtt
from offline_transcribe.subtitles import PRESETS, shape_cues, subtitle_options
from offline_transcribe.subtitles.shaping import layout
from offline_transcribe.types import Segment, Transcript, Word
from tests.subtitle_check import check_cues, read_srt, read_vtt

STANDARD, ONE_LINE = PRESETS["standard"], PRESETS["one line"]


def transcript(segments: list[Segment], speakers: list[str] | None = None, duration: float | None = None) -> Transcript:
    end = max((s.end for s in segments), default=0.0)
    return Transcript(" ".join(s.text for s in segments), segments, "parakeet", "Parakeet", duration or end + 1, 1.0,
                      "cpu", "word", "talk.wav", speakers=speakers or [])  # fmt: skip


def words_from(text: str, start: float = 0.0, step: float = 0.3, speaker: str | None = None) -> list[Word]:
    return [Word(w, start + i * step, start + i * step + step * 0.8, speaker) for i, w in enumerate(text.split())]


def segment(words: list[Word]) -> Segment:
    return Segment(words[0].start, words[-1].end, " ".join(w.text for w in words), tuple(words),
                   words[0].speaker)  # fmt: skip


LONG = (
    "So this is the part of the meeting where we talk about the budget, and I think everyone agrees that we spent "
    "far too much on travel last year. We should fix that. Next we have the hiring plan, which Maria will present "
    "in a moment because she has the numbers"
)


def test_presets_and_options() -> None:
    assert (STANDARD.max_line_chars, STANDARD.max_lines, STANDARD.max_cue_seconds, STANDARD.max_cps) == (42, 2, 7, 17)
    assert (ONE_LINE.max_line_chars, ONE_LINE.max_lines) == (32, 1)
    assert subtitle_options("One-Line") == ONE_LINE
    assert subtitle_options(None, max_line_chars=37).max_line_chars == 37
    with pytest.raises(ValueError, match="max-lines must be from 1 to 4"):
        subtitle_options("standard", max_lines=9)
    with pytest.raises(ValueError, match="unknown subtitle preset 'big'"):
        subtitle_options("big")
    with pytest.raises(ValueError, match="as transcribed"):
        subtitle_options("as transcribed", max_cps=20)


def test_layout_balances_lines_and_prefers_punctuation() -> None:
    sentence = "I think everyone agrees that we spent far too much on travel"
    lines = layout(sentence.split(), 42, 2)
    assert len(lines) == 2 and abs(len(lines[0]) - len(lines[1])) <= 10
    assert layout(["short", "one"], 42, 2) == ("short one",)
    sentence = "We spent far too much on travel, so we should fix that now"
    words = sentence.split()
    assert layout(words, 42, 2)[0].endswith("travel,")
    assert layout(["yes"], 42, 2, "Speaker 1:") == ("Speaker 1: yes",)


@pytest.mark.parametrize("options", [STANDARD, ONE_LINE], ids=["standard", "one line"])
def test_long_speech_is_shaped_and_breaks_at_sentence_ends(options) -> None:
    words = words_from(LONG)
    t = transcript([segment(words)])
    for read, write in ((read_srt, to_srt), (read_vtt, to_vtt)):
        cues = read(write(t, options))
        check_cues(cues, options, [w.text for w in words], until=t.audio_duration)
    cues = read_srt(to_srt(t, options))
    assert len(cues) > 3
    ends = [c.lines[-1] for c in cues]
    assert any(e.endswith("last year.") for e in ends)
    if options is STANDARD:  # two lines leave room to break at punctuation only
        assert all(e.endswith((".", ",")) for e in ends[:-1]), ends


def test_a_speaker_change_starts_a_cue_and_srt_names_fit() -> None:
    a = words_from("hello there how are you doing", 0.0, 0.3, "Speaker 1")
    b = words_from("fine thanks and you", a[-1].end + 0.1, 0.3, "Speaker 2")
    t = transcript([segment(a), segment(b)], ["Speaker 1", "Speaker 2"])
    srt = read_srt(to_srt(t, ONE_LINE))
    check_cues(srt, ONE_LINE)
    assert all(c.lines[0].startswith(("Speaker 1:", "Speaker 2:")) for c in srt)
    vtt = read_vtt(to_vtt(t, STANDARD))
    check_cues(vtt, STANDARD, [w.text for w in a + b])
    assert [c.voice for c in vtt] == ["Speaker 1", "Speaker 2"]


def test_fast_speech_is_slowed_into_the_gap_or_split() -> None:
    fast = words_from("this sentence is spoken much faster than anyone can read it", 0.0, 0.12)
    later = words_from("then a pause", 6.0, 0.3)
    t = transcript([segment(fast), segment(later)])
    cues = read_srt(to_srt(t))
    check_cues(cues, STANDARD, [w.text for w in fast + later], until=t.audio_duration)
    assert cues[0].end > fast[-1].end + 1  # extended into the silence after it


def test_segments_without_word_times_are_shaped_too() -> None:
    t = transcript([Segment(0.0, 30.0, LONG)])  # Canary's windows
    check_cues(read_srt(to_srt(t)), STANDARD, LONG.split(), until=t.audio_duration)


def test_as_transcribed_is_one_cue_per_segment() -> None:
    t = transcript([segment(words_from(LONG))])
    assert len(shape_cues(t.segments, PRESETS["as transcribed"])) == 1


_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzÄé", min_size=1, max_size=14)
_PUNCT = st.sampled_from(["", "", "", "", ",", ".", "?", ";"])


@st.composite
def random_transcripts(draw) -> Transcript:
    """Random words with random lengths, gaps, punctuation, speakers and segment ends."""
    n = draw(st.integers(1, 120))
    t, words, segments = draw(st.floats(0, 5)), [], []
    speakers = draw(st.sampled_from([[], ["Speaker 1", "Speaker 2"]]))
    speaker = speakers[0] if speakers else None
    for _ in range(n):
        t += draw(st.sampled_from([0.0, 0.0, 0.01, 0.05, 0.1, 0.3, 0.8, 2.0, 5.0]))
        length = draw(st.floats(0.05, 1.5))
        words.append(Word(draw(_WORD) + draw(_PUNCT), t, t + length, speaker))
        t += length
        if speakers and draw(st.integers(0, 15)) == 0:
            speaker = speakers[1] if speaker == speakers[0] else speakers[0]
            segments.append(words)
            words = []
        elif draw(st.integers(0, 10)) == 0:
            segments.append(words)
            words = []
    segments = [segment(ws) for ws in [*segments, words] if ws]
    return transcript(segments, speakers, duration=t + draw(st.floats(0, 3)))


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(t=random_transcripts(), options=st.sampled_from([STANDARD, ONE_LINE, subtitle_options(max_line_chars=20,
                                                                                             max_cps=12)]))
def test_random_transcripts_keep_every_limit(t: Transcript, options) -> None:
    words = [w.text for w in t.words]
    check_cues(read_srt(to_srt(t, options)), options, None, until=t.audio_duration)
    vtt = read_vtt(to_vtt(t, options))
    check_cues(vtt, options, words, until=t.audio_duration)
    # a speaker's cue holds only that speaker's words
    assert [c.voice for c in vtt] == [c.speaker for c in shape_cues(t.segments, options)]


@settings(max_examples=40, deadline=None, database=None)
@given(gaps=st.lists(st.floats(0.0, 0.7), min_size=1, max_size=300), lengths=st.floats(0.1, 0.9))
def test_segments_are_bounded_without_punctuation(gaps: list[float], lengths: float) -> None:
    """Words without punctuation or long pauses still become segments of at most 15 s and 40 words, cut at a
    longest pause, and no word is lost."""
    from offline_transcribe.backends.windows import SEGMENT_MAX_S, SEGMENT_MAX_WORDS, words_to_segments

    t, words = 0.0, []
    for i, gap in enumerate(gaps):
        t += gap
        words.append(Word(f"w{i}", t, t + lengths))
        t += lengths
    segments = words_to_segments(words)
    assert [w for s in segments for w in s.words] == words
    for s in segments:
        assert len(s.words) <= SEGMENT_MAX_WORDS and (len(s.words) == 1 or s.end - s.start <= SEGMENT_MAX_S)
