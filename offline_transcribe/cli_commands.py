"""The commands of ``transcribe_ui.py``: each takes only the options that apply to it, so its ``--help`` is short.

    transcribe_ui.py [serve]                    the page and the API (the default)
    transcribe_ui.py transcribe PATH...         files, folders or manifests, then exit
    transcribe_ui.py watch DIR                  a drop folder, until Ctrl-C
    transcribe_ui.py status                     a job's counts and failures
    transcribe_ui.py live SOURCE                words while the audio plays or streams in
    transcribe_ui.py ask QUESTION... --transcript JSON...

A command gives the same namespace as the flags of earlier versions (``--transcribe PATH...``, ``--watch DIR``,
``--status``, ``--live SOURCE``, ``--ask Q --transcript J``), which still work: the checks and the runs are theirs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import cli_options as opts

PROG = "transcribe_ui.py"


@dataclass(frozen=True)
class Command:
    """One command: what it does, the options it takes, and the flag of earlier versions it stands for."""

    summary: str
    add_options: Callable[[argparse.ArgumentParser], None]
    as_flags: Callable[[argparse.Namespace], dict]  # the legacy namespace's fields this command sets


def _serve(p: argparse.ArgumentParser) -> None:
    opts.add_model_options(p)
    opts.add_server_options(p)
    opts.add_vocabulary_options(p)
    opts.add_live_options(p)


def _add_file_options(p: argparse.ArgumentParser, jobs_title: str) -> None:
    """What ``transcribe`` and ``watch`` share: models, outputs, speakers, subtitles, vocabulary, a job's retries
    and batches (under ``jobs_title``)."""
    opts.add_model_options(p)
    outputs = p.add_argument_group("outputs")
    opts.add_output_options(outputs)
    opts.add_speaker_option(outputs)
    opts.subtitle_arguments.add_arguments(p.add_argument_group("subtitles"))
    opts.add_vocabulary_options(p)
    opts.add_job_options(p.add_argument_group(jobs_title))


def _transcribe(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="files, folders (searched recursively; outputs mirror the tree) or manifests (NeMo JSONL, or "
                   "a list of paths); a folder or manifest runs as a job that a rerun resumes")  # fmt: skip
    _add_file_options(p, "folders and manifests (jobs)")
    opts.ray_options.add_arguments(p)
    p.add_argument_group("questions").add_argument(
        "--ask", action="append", metavar="QUESTION",
        help="ask Canary-Qwen's own LLM about each transcript: a question, or summary, key-points, action-items, "
        "questions; again for more questions (answers in <name>.answers.md)")  # fmt: skip


def _watch(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", type=Path, metavar="DIR", help="the folder to transcribe and watch")
    _add_file_options(p, "jobs")


def _status(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output-dir", type=Path, help="the job's output folder (default: the current folder)")
    p.add_argument("--verbose", action="store_true", help=argparse.SUPPRESS)


def _live(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SOURCE", help="- reads 16 kHz mono s16le PCM from standard input; a file is "
                   "played at real-time speed")  # fmt: skip
    opts.add_model_options(p)
    opts.add_vocabulary_options(p)
    opts.add_live_options(p)


def _ask(p: argparse.ArgumentParser) -> None:
    p.add_argument("questions", nargs="+", metavar="QUESTION",
                   help="a question, or summary, key-points, action-items, questions (answers in "
                   "<name>.answers.md)")  # fmt: skip
    p.add_argument("--transcript", nargs="+", metavar="JSON", required=True,
                   help="transcripts the app wrote before (their .json)")
    opts.add_model_options(p)
    opts.add_output_options(p.add_argument_group("outputs"), formats=False)


COMMANDS: dict[str, Command] = {
    "serve": Command("the page and the API on http://127.0.0.1:7860 (the default)", _serve, lambda a: {}),
    "transcribe": Command("transcribe files, folders or manifests, then exit", _transcribe,
                          lambda a: {"transcribe": a.paths}),
    "watch": Command("transcribe a folder, then each new file in it, until Ctrl-C", _watch,
                     lambda a: {"watch": a.folder}),
    "status": Command("a job's counts and failures (of --output-dir)", _status, lambda a: {"status": True}),
    "live": Command("print words while audio plays or streams in", _live, lambda a: {"live": a.source}),
    "ask": Command("ask Canary-Qwen's own LLM about transcripts made before", _ask,
                   lambda a: {"ask": a.questions}),
}  # fmt: skip


def command_parser(name: str) -> argparse.ArgumentParser:
    """The parser of one command: its options only."""
    command = COMMANDS[name]
    p = argparse.ArgumentParser(prog=f"{PROG} {name}", description=command.summary[0].upper() + command.summary[1:]
                                + ".")  # fmt: skip
    command.add_options(p)
    return p


def parse(
    name: str, argv: list[str], build_parser: Callable[[], argparse.ArgumentParser]
) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """``argv`` after the command ``name``, as the namespace the flags of earlier versions give (their defaults
    for what this command does not take); the parser is the command's, for its usage errors."""
    p = command_parser(name)
    given = p.parse_args(argv)
    args = build_parser().parse_args([])
    for key, value in vars(given).items():
        if hasattr(args, key):
            setattr(args, key, value)
    for key, value in COMMANDS[name].as_flags(given).items():
        setattr(args, key, value)
    return p, args


def print_overview(build_parser: Callable[[], argparse.ArgumentParser]) -> None:
    """``transcribe_ui.py --help``: the commands, then the options of ``serve`` (what runs without a command)."""
    width = max(len(n) for n in COMMANDS)
    lines = [f"usage: {PROG} [COMMAND] [options]", "", "Offline speech transcription with local NeMo models.", "",
             "commands (each has its own --help):"]  # fmt: skip
    lines += [f"  {n:<{width}}  {c.summary}" for n, c in COMMANDS.items()]
    lines += ["", "Without a command: serve. The flags of earlier versions (--transcribe PATH..., --watch DIR, "
              "--status, --live SOURCE, --ask QUESTION) still work.", "", "Options of serve:"]  # fmt: skip
    help_text = command_parser("serve").format_help()
    print("\n".join(lines))
    print(help_text[help_text.index("options:") + len("options:"):].rstrip())
