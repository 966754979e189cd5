"""The commands of the command line (``transcribe_ui.py transcribe|watch|status|live|ask|serve``): each means the
same as the flags of earlier versions, takes only its own options, and has a short ``--help``."""

from __future__ import annotations

import argparse

import pytest

import transcribe_ui
from app_process import speech_wav
from offline_transcribe.cli import parse_args
from offline_transcribe.cli_commands import COMMANDS


def same(a: argparse.Namespace, b: argparse.Namespace) -> None:
    assert vars(a) == vars(b)


@pytest.mark.parametrize("command, flags", [
    ([], []),
    (["serve", "--port", "8000", "--preload"], ["--port", "8000", "--preload"]),
    (["transcribe", "a.wav", "in/", "--format", "srt,json", "--output-dir", "out", "--speakers", "2"],
     ["--transcribe", "a.wav", "in/", "--format", "srt,json", "--output-dir", "out", "--speakers", "2"]),
    (["transcribe", "--subtitle-preset", "one line", "x.mp4", "--retries", "0", "--ask", "summary"],
     ["--transcribe", "x.mp4", "--subtitle-preset", "one line", "--retries", "0", "--ask", "summary"]),
    (["watch", "inbox", "--output-dir", "out", "--format", "srt"],
     ["--watch", "inbox", "--output-dir", "out", "--format", "srt"]),
    (["status", "--output-dir", "out"], ["--status", "--output-dir", "out"]),
    (["live", "-", "--model", "parakeet", "--live-chunk", "2"],
     ["--live", "-", "--model", "parakeet", "--live-chunk", "2"]),
    (["ask", "summary", "Who spoke?", "--transcript", "t.json", "--output-dir", "o"],
     ["--ask", "summary", "--ask", "Who spoke?", "--transcript", "t.json", "--output-dir", "o"]),
])  # fmt: skip
def test_a_command_means_what_its_flags_meant(command, flags):
    same(parse_args(command), parse_args(flags))


@pytest.mark.parametrize("argv, said", [
    (["transcribe", "a.wav", "--host", "0.0.0.0"], "unrecognized arguments: --host"),
    (["status", "--format", "srt"], "unrecognized arguments: --format"),
    (["ask", "summary"], "the following arguments are required: --transcript"),
    (["transcribe"], "the following arguments are required: PATH"),
    (["transcribe", "a", "--speakers", "9"], "--speakers"),
])  # fmt: skip
def test_a_command_refuses_what_is_not_its_own(argv, said, capsys):
    with pytest.raises(SystemExit) as stop:
        parse_args(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and said in err, err
    assert err.startswith(f"usage: transcribe_ui.py {argv[0]}")


def test_help_is_short_and_names_the_commands(capsys):
    with pytest.raises(SystemExit) as stop:
        parse_args(["--help"])
    overview = capsys.readouterr().out
    assert stop.value.code == 0
    assert all(f"\n  {name} " in overview for name in COMMANDS), overview
    assert "--transcribe PATH... " in overview or "--transcribe PATH...," in overview  # the old flags still work
    assert "--retries" not in overview and "--ray" not in overview  # a job's options are under transcribe --help
    with pytest.raises(SystemExit):
        parse_args(["status", "--help"])
    assert len(capsys.readouterr().out.splitlines()) < 10


def test_transcribe_command_writes_what_the_flag_wrote(tiny_models_dir, tmp_path, capsys):
    clip = speech_wav(tmp_path / "hello.wav", "hello world")
    for name, argv in (("new", ["transcribe", str(clip)]), ("old", ["--transcribe", str(clip)])):
        out = tmp_path / name
        status = transcribe_ui.main([*argv, "--models-dir", str(tiny_models_dir), "--output-dir", str(out),
                                     "--format", "srt,txt"])  # fmt: skip
        assert status == 0, capsys.readouterr()
    for suffix in (".srt", ".txt"):
        assert (tmp_path / "new" / f"hello{suffix}").read_bytes() == (tmp_path / "old" / f"hello{suffix}").read_bytes()
