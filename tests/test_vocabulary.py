"""Custom vocabulary: phrase lists and replacements (every bad input), replacements keeping word times, and phrase
boosting through the app with the trained tiny TDT (``tests/data/tiny_words_tdt.nemo``): recall on held-out clips,
the user's spelling, phrases its tokenizer cannot write, long audio, live streams, and Canary (replacements only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import synth_speech as ss
import vocabulary_clips as vc
from offline_transcribe import LongAudioPolicy, ModelStore
from offline_transcribe.errors import VocabularyError
from offline_transcribe.exports import to_srt
from offline_transcribe.transcribe import transcribe_audio
from offline_transcribe.types import Segment, Transcript, Word
from offline_transcribe.vocabulary import (
    DEFAULT_WEIGHT,
    MAX_PHRASE_CHARS,
    MAX_PHRASES,
    Vocabulary,
    apply_replacements,
    finish_open_words,
    finish_segments,
    parse_hotwords,
    parse_phrases,
    parse_replacements,
    parse_weight,
    read_phrases_file,
    read_replacements_file,
)

FIXTURE = Path(__file__).resolve().parent / "data/tiny_words_tdt.nemo"

# ------------------------------------------------------------------------------------------ parsing


def test_phrases_skip_comments_empty_lines_and_repeats_and_keep_the_typed_spelling():
    text = "# names\nSortformer\n\n  Qwen   three \nsortformer\nAlice\n# end\n"
    assert parse_phrases(text) == ("Sortformer", "Qwen three", "Alice")
    assert parse_hotwords("Sortformer, Qwen\nAlice,,sortformer") == ("Sortformer", "Qwen", "Alice")


def test_phrase_limits_name_the_line_and_the_count():
    with pytest.raises(VocabularyError, match=r"line 2: .* 101 characters; a phrase may have at most 100"):
        parse_phrases("ok\n" + "x" * (MAX_PHRASE_CHARS + 1))
    assert len(parse_phrases("\n".join(f"p{i}" for i in range(MAX_PHRASES)))) == MAX_PHRASES
    with pytest.raises(VocabularyError, match="1,001 different phrases; at most 1,000"):
        parse_phrases("\n".join(f"p{i}" for i in range(MAX_PHRASES + 1)))


@pytest.mark.parametrize(("text", "message"), [
    ("a => b\nno arrow here", r"line 2: 'no arrow here' has no `=>`"),
    ("# c\n => b", "line 2: nothing to find"),
    ("gpu => GPU\nGPU => G.P.U.\ngpu => Gpu", r"line 3: 'gpu' is already replaced on line 1, by 'GPU'"),
])  # fmt: skip
def test_bad_replacement_lines_are_named(text, message):
    with pytest.raises(VocabularyError, match=message):
        parse_replacements(text)


def test_unreadable_files_give_a_message_naming_the_path(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(VocabularyError, match=f"The vocabulary file {missing} does not exist"):
        read_phrases_file(missing)
    with pytest.raises(VocabularyError, match="is a folder, not a file"):
        read_replacements_file(tmp_path)
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(VocabularyError, match=f"The replacements file {binary} is not UTF-8 text"):
        read_replacements_file(binary)
    locked = tmp_path / "locked.txt"
    locked.write_text("x")
    locked.chmod(0)
    try:
        if not locked.is_file() or not _readable(locked):
            with pytest.raises(VocabularyError, match="permission denied"):
                read_phrases_file(locked)
    finally:
        locked.chmod(0o600)
    good = tmp_path / "rules.txt"
    good.write_text("parakeet t d t => Parakeet-TDT\n")
    assert str(read_replacements_file(good)[0]) == "parakeet t d t => Parakeet-TDT"


def _readable(path: Path) -> bool:
    try:
        path.read_bytes()
    except PermissionError:
        return False
    return True


@pytest.mark.parametrize("value", ["-1", "11", "lots"])
def test_a_bad_weight_is_refused(value):
    with pytest.raises(VocabularyError, match="from 0 to 10"):
        parse_weight(value)
    assert parse_weight("2.5") == 2.5


def test_request_vocabulary_falls_back_to_the_server_defaults_part_by_part():
    server = Vocabulary(("Qwen",), parse_replacements("a => b"), 2.0)
    assert Vocabulary().or_defaults(server) == server
    mine = Vocabulary(("Alice",))
    assert mine.or_defaults(server) == Vocabulary(("Alice",), server.replacements, DEFAULT_WEIGHT)


# ------------------------------------------------------------------------------------------ replacements


def _segment(text: str, start: float = 1.0, step: float = 0.5) -> Segment:
    words = tuple(Word(t, start + i * step, start + i * step + 0.4) for i, t in enumerate(text.split()))
    return Segment(words[0].start, words[-1].end, text, words)


def test_replacements_match_whole_words_case_aware_and_keep_punctuation():
    rules = parse_replacements("parakeet t d t => Parakeet-TDT\ngonna => going to\nNASA => N.A.S.A.\nd => D")
    seg = _segment("Gonna use parakeet t d t. nasa NASA, fine dd")
    (out,) = apply_replacements([seg], rules)
    assert out.text == "Going to use Parakeet-TDT. nasa N.A.S.A., fine dd"
    assert [w.text for w in out.words] == ["Going", "to", "use", "Parakeet-TDT.", "nasa", "N.A.S.A.,", "fine", "dd"]
    # "Gonna" (one word) became two that share its span; "parakeet t d t." spans its four words' times.
    assert (out.words[0].start, out.words[1].end) == (seg.words[0].start, seg.words[0].end)
    assert (out.words[3].start, out.words[3].end) == (seg.words[2].start, seg.words[5].end)
    assert (out.start, out.end) == (seg.start, seg.end)


def test_replacements_keep_srt_cue_times():
    segments = [_segment("we use parakeet t d t", 0.5), _segment("and sortformer too", 4.0)]
    before = Transcript("", segments, "parakeet", "P", 6.0, 1.0, "cpu", "word")
    rules = parse_replacements("parakeet t d t => Parakeet-TDT\nsortformer => Sortformer")
    after = Transcript("", apply_replacements(segments, rules), "parakeet", "P", 6.0, 1.0, "cpu", "word")
    times = [line for line in to_srt(before).splitlines() if "-->" in line]
    assert times == [line for line in to_srt(after).splitlines() if "-->" in line]
    assert "Parakeet-TDT" in to_srt(after) and "Sortformer too" in to_srt(after)


def test_live_words_settle_as_their_closed_segment_will_have_them():
    """A segment still growing (live): the words whose outcome is decided are finished exactly as the closed segment
    will be, the last ones wait (as tentative words) until the words after them decide a replacement or spelling."""
    phrases, rules = ("Ada Lovelace",), parse_replacements("parakeet t d t => Parakeet-TDT\ntoday => Today")
    seg = _segment("we use parakeet t d t with ada lovelace today")
    (final,) = finish_segments([seg], phrases, rules)
    for n in range(len(seg.words) + 1):
        done, pending = finish_open_words(seg.words[:n], phrases, rules)
        assert done == list(final.words[: len(done)]), n
        assert len(pending) <= 4 and [w.text.lower() for w in pending] == [w.text.lower() for w in
                                                                           seg.words[n - len(pending) : n]]
    assert [w.text for w in done] == ["we", "use", "Parakeet-TDT"]  # "with ada lovelace today": 4-word finds may follow
    assert finish_open_words(seg.words, (), ()) == (list(seg.words), [])


def test_replacements_apply_to_segments_without_word_times():
    seg = Segment(0.0, 40.0, "the canary qwen model works")
    (out,) = apply_replacements([seg], parse_replacements("canary qwen => Canary-Qwen"))
    assert (out.text, out.start, out.end, out.words) == ("the Canary-Qwen model works", 0.0, 40.0, ())


# ------------------------------------------------------------------------------------------ the trained tiny TDT


@pytest.fixture(scope="module")
def words_store(tmp_path_factory):
    """The trained tiny TDT adopted as ``parakeet`` (like ``setup_local_models.py --from``)."""
    from conftest import install_parakeet

    out = tmp_path_factory.mktemp("vocab_models")
    install_parakeet(out, FIXTURE)
    store = ModelStore(out)
    yield store
    store.close()


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """A tiny model gains nothing from more threads, and on shared cores OpenMP's waiting slows two threads down."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[tuple[list[str], np.ndarray]]:
    return vc.make_clips(seed=11, per_target=1, cache_dir=tmp_path_factory.mktemp("vocab_clips"))


def joined(clips, per_file: int = 6) -> list[tuple[list[str], np.ndarray]]:
    """The clips ``per_file`` at a time as one file (1 s of silence between them): fewer, longer requests."""
    pause = np.zeros(ss.SAMPLE_RATE, np.float32)
    groups = [clips[i : i + per_file] for i in range(0, len(clips), per_file)]
    return [
        ([w for words, _ in group for w in words], np.concatenate([x for _, a in group for x in (a, pause)]))
        for group in groups
    ]


@pytest.fixture(scope="module")
def measured_clips(tmp_path_factory) -> list[tuple[list[str], np.ndarray]]:
    """The clips of docs/benchmarks.md's "Custom vocabulary" table (bench/bench_vocabulary_recall.py): 96."""
    cache = tmp_path_factory.mktemp("measured_clips")
    return [clip for seed in (13, 17) for clip in vc.make_clips(seed=seed, per_target=8, cache_dir=cache)]


def test_the_default_weight_meets_the_recall_target_on_held_out_clips(words_store, measured_clips):
    """From at most 50 % to at least 80 % recall of the phrases, the other words' WER up at most 2 points."""
    import torch

    from offline_transcribe.backends import get_backend

    refs = [words for words, _ in measured_clips]

    def texts(model) -> list[str]:
        with torch.inference_mode():
            hyps = model.transcribe([a for _, a in measured_clips], batch_size=16, verbose=False)
        return [h.text for h in hyps]

    with words_store.use("parakeet") as loaded:
        plain = vc.score(refs, texts(loaded.model))
        with get_backend("nemo_tdt").boosting(loaded.model, vc.TARGETS, DEFAULT_WEIGHT):
            boosted = vc.score(refs, texts(loaded.model))
        assert not loaded.model.cfg.decoding.greedy.boosting_tree.key_phrases_list  # the normal decoding is back
    print(f"recall {plain.recall:.2f} -> {boosted.recall:.2f}, precision {plain.precision:.2f} -> "
          f"{boosted.precision:.2f}, other words' WER {plain.other_wer:.3f} -> {boosted.other_wer:.3f}")
    assert plain.recall <= 0.5 and boosted.recall >= 0.8
    assert boosted.other_wer <= plain.other_wer + 0.02


def test_remembered_rows_give_nemos_steps_exactly(words_store):
    """On a CPU the boosting tree remembers each state's row (``nemo_boosting_rows``): the same scores and next
    states as NeMo's walk, for every state, first computed and then remembered; the app's boosting uses it."""
    import torch
    from nemo.collections.asr.parts.context_biasing import BoostingTreeModelConfig, GPUBoostingTreeModel
    from omegaconf import OmegaConf

    from offline_transcribe.backends import get_backend
    from offline_transcribe.backends.nemo_boosting import tree_config
    from offline_transcribe.backends.nemo_boosting_rows import remember_rows

    with words_store.use("parakeet") as loaded:
        cfg = OmegaConf.structured(BoostingTreeModelConfig(**tree_config([*vc.TARGETS, "thank you"], False)))
        walk, remembered = (GPUBoostingTreeModel.from_config(cfg, tokenizer=loaded.model.tokenizer) for _ in "ab")
        remember_rows(remembered)
        states = torch.randperm(walk.num_states, generator=torch.Generator().manual_seed(0))
        with torch.inference_mode():
            for batch in (states[:3], states[:1], states, states.flip(0), states[5:9]):
                for mine, nemos in zip(remembered.advance(batch), walk.advance(batch), strict=True):
                    assert torch.equal(mine, nemos) and mine.dtype == nemos.dtype
        assert remembered._rows_count == walk.num_states
        with get_backend("nemo_tdt").boosting(loaded.model, vc.TARGETS, DEFAULT_WEIGHT):
            (tree,) = loaded.model.decoding.decoding.decoding_computer.fusion_models
            assert tree._rows_walk is not None


def test_phrases_come_out_as_typed_and_unspellable_ones_are_named(words_store, clips):
    words, audio = next(c for c in clips if "home" in c[0])
    result = transcribe_audio(audio, store=words_store, vocabulary=Vocabulary(("HOME", "Qwen"), weight=2.0))
    assert "HOME" in result.text.split(), result.text
    assert any("cannot write 'Qwen'" in note for note in result.notes), result.notes


def test_boosting_and_replacements_work_on_long_audio(words_store, tmp_path):
    rng = np.random.default_rng(3)
    audio, timings = ss.make_utterance(["left", "small", "water", "home"] * 8, "en-us+f4", ss.HELDOUT_SPEED,
                                       ss.HELDOUT_PITCH, rng, gap_range=(0.3, 0.6), cache_dir=tmp_path)
    policy = LongAudioPolicy(local_attention_above_s=10.0, window_above_s=20.0, window_s=15.0, overlap_s=3.0)
    vocab = Vocabulary(("Water",), parse_replacements("small => Small-ish"))
    result = transcribe_audio(audio, store=words_store, policy=policy, vocabulary=vocab)
    assert any("windows" in note for note in result.notes)
    assert result.text.count("Water") >= 6 and result.text.count("Small-ish") >= 6, result.text
    assert "water" not in result.text.split() and "small" not in result.text.split()


def _live(store: ModelStore, audio: np.ndarray, vocabulary: Vocabulary | None) -> str:
    from offline_transcribe.live.session import LiveSession

    session = LiveSession(store, "parakeet", vocabulary=vocabulary)
    session.feed(audio)
    view = session.close(timeout=120)
    assert not view.error, view.error
    return view.committed_text


def test_live_streams_boost_their_own_phrases(words_store, clips):
    audio = joined(clips[:6])[0][1]
    before = transcribe_audio(audio, store=words_store).text
    plain = _live(words_store, audio, None)
    first = plain.split()[0]
    targets = tuple(t.upper() for t in vc.TARGETS)
    vocab = Vocabulary(targets + ("Qwen",), parse_replacements(f"{first} => {first}-X"))
    boosted = _live(words_store, audio, vocab)
    assert boosted.split()[0] == f"{first}-X"
    hits = [w for w in boosted.split() if w.lower() in vc.TARGETS]
    assert hits and all(w.isupper() for w in hits), boosted  # written as typed
    assert len(hits) >= sum(w in vc.TARGETS for w in plain.split())
    with words_store.use("parakeet") as loaded:  # the stream's phrases left the decoder with it
        assert not loaded.model.decoding.decoding.decoding_computer.biasing_multi_model.model2active.any()
    assert transcribe_audio(audio, store=words_store).text == before
