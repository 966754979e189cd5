"""The command line of ``transcribe_ui.py``: options, the start-up check, then the page, the headless batch or
live transcription.

    python transcribe_ui.py                       # the page, on http://127.0.0.1:7860 (and the API, on /v1)
    python transcribe_ui.py serve --only parakeet --preload --port 8000
    python transcribe_ui.py transcribe a.wav b.mp3 --model parakeet --format srt --output-dir out/
    ffmpeg -f pulse -i default -ac 1 -ar 16000 -f s16le - | python transcribe_ui.py live -
    python transcribe_ui.py transcribe talk.mp3 --ask "What are the action items?"   # and talk.answers.md
    python transcribe_ui.py ask summary --transcript out/talk.json                 # a transcript made before
    python transcribe_ui.py transcribe interview.m4a --speakers 2 --format srt,json   # who said what
    python transcribe_ui.py transcribe recordings/ --output-dir out/   # a job: resumable, out/ mirrors the tree
    python transcribe_ui.py status --output-dir out/                   # the job's counts and failures
    python transcribe_ui.py watch inbox/ --output-dir out/             # a drop folder, until Ctrl-C
    python transcribe_ui.py transcribe recordings/ --output-dir /shared/out --ray auto   # the job on a Ray cluster
    python transcribe_ui.py transcribe clip.mp4 --format srt --subtitle-preset "one line"   # vertical video
    python transcribe_ui.py transcribe talk.wav --vocabulary names.txt --replacements fixes.txt

The commands (``cli_commands``) mean exactly what the flags of earlier versions meant, which still work:
``--transcribe PATH...``, ``--watch DIR``, ``--status``, ``--live SOURCE``, ``--ask Q --transcript JSON...``.

The required models (or those named by ``--only``) are checked before anything else; when one is missing the
command prints every missing path, the setup command and the guide, and exits with status 1 without opening a
port (and without importing Gradio: the page, ``server.page``, is imported only once the check has passed).

Exit status of ``--transcribe``: 0 every file transcribed; 1 a file failed (or nothing was done: model missing,
outputs already there without ``--overwrite``); 2 a usage error; 3 no file failed, but in at least one no speech
was recognised (nothing is written for it). With ``--ask`` (``ask.headless``), a question that could not be answered
is a failure (1) too.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from . import cli_commands as commands
from .ask import headless as ask_headless
from .batch import FileResult, Outcome, output_stems, parse_formats, planned_outputs, summary_line, transcribe_files
from .cli_options import build_parser
from .config import (
    LiveOptions,
    LongAudioPolicy,
    Settings,
    normal_origin,
    parse_size,
)
from .diarize import SpeakerOptions
from .errors import AppError
from .exports import SPEAKER_FORMATS, ExportOptions
from .jobs import sources as job_sources
from .jobs.on_ray import options as ray_options
from .logs import configure_logging
from .models.files import start_command
from .models.registry import DIARIZER, MODELS, transcription_models
from .models.store import ModelStore
from .native_memory import limit_malloc_arenas
from .subtitles import arguments as subtitle_arguments
from .vocabulary import Vocabulary
from .vocabulary.options_cli import vocabulary_from_args

log = logging.getLogger("transcribe.ui")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_SPEECH = 0, 1, 2, 3
HALF_IS_DEFAULT = (
    "Note: --half is no longer needed: Canary runs in bfloat16 by default on GPUs that support it (--float32 turns "
    "that off). --half still works, and also lets Canary run in float16 on GPUs without bfloat16; it will be "
    "removed in a later version."
)


def parse_model_keys(value: str) -> tuple[str, ...]:
    """``"parakeet"`` or ``"parakeet,canary"`` as registry keys; raises ``ValueError`` naming unknown ones."""
    keys = tuple(dict.fromkeys(k.strip() for k in value.split(",") if k.strip()))
    unknown = [k for k in keys if k not in MODELS]
    if not keys or unknown:
        raise ValueError(f"unknown model {', '.join(unknown) or repr(value)}; choose from {', '.join(MODELS)}")
    if not set(keys) & set(transcription_models()):
        raise ValueError(f"name a model that transcribes too ({', '.join(transcription_models())})")
    return keys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring): a command (``serve``, ``transcribe``, ``watch``, ``status``,
    ``live``, ``ask``) with its options, or the flags of earlier versions; both give the same namespace."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in commands.COMMANDS:
        p, args = commands.parse(argv[0], argv[1:], build_parser)
    elif argv and argv[0] in ("-h", "--help"):
        commands.print_overview(build_parser)
        sys.exit(0)
    else:
        p = build_parser()
        args = p.parse_args(argv)
    return check_args(p, args)


def check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """Check what was given together and turn the strings into options; a usage error exits 2 through ``p``."""
    args.ray_options = ray_options.from_args(p, args)  # None without --ray; exits 2 when Ray is not installed
    try:
        args.vocabulary = vocabulary_from_args(args)
    except AppError as exc:
        p.error(str(exc))
    if args.transcript and (not args.ask or args.transcribe):
        p.error("--transcript JSON... needs --ask QUESTION, and not --transcribe (ask about a transcript made before, "
                "or transcribe and ask)")
    if args.ask and not (args.transcribe or args.transcript):
        p.error("--ask applies only with --transcribe FILE... or --transcript JSON...")
    if args.transcript and args.format is not None:
        p.error("--format applies only with --transcribe FILE... (the answers about a --transcript are Markdown)")
    if args.transcript and args.speakers is not None:
        p.error("--speakers applies only with --transcribe FILE... (a --transcript keeps the speakers it has)")
    if args.retries < 0 or (args.batch_seconds is not None and args.batch_seconds <= 0):
        p.error("--retries: give 0 or more; --batch-seconds: give a number of seconds above 0")
    if args.watch and args.transcribe:
        p.error("--watch DIR and --transcribe: choose one (--watch transcribes what is in DIR first)")
    if args.status and (args.transcribe or args.watch or args.live or args.transcript):
        p.error("--status only reads a job's ledger: give it with --output-dir alone")
    if not args.transcribe and not args.transcript and not args.watch and not args.status:
        given = [name for name, value in (("--format", args.format), ("--output-dir", args.output_dir),
                                          ("--overwrite", args.overwrite or None),
                                          ("--subtitle-preset", args.subtitle_preset),
                                          ("--speakers", args.speakers)) if value is not None]
        if given:
            verb = "applies" if len(given) == 1 else "apply"
            p.error(f"{' and '.join(given)} {verb} only with --transcribe FILE...; without it the command starts the "
                    "page (add --transcribe and the files to transcribe them here)")
    try:
        args.speaker_options = SpeakerOptions.parse(args.speakers) if args.speakers is not None else None
    except ValueError as exc:
        p.error(f"--speakers: {exc}")
    try:
        args.formats = parse_formats(args.format or "txt")
    except ValueError as exc:
        p.error(f"--format: {exc}")
    try:
        args.export_options = ExportOptions(subtitle_arguments.from_args(args))
    except ValueError as exc:
        p.error(f"subtitles: {exc}")
    try:
        args.only = parse_model_keys(args.only) if args.only is not None else ()
    except ValueError as exc:
        p.error(f"--only: {exc}")
    if args.model is not None and args.only and args.model not in args.only:
        p.error(f"--model {args.model} is not one of --only {','.join(args.only)}")
    if args.half and args.float32:
        p.error("--half and --float32 contradict each other: choose one")
    if args.unload_after is not None and args.unload_after <= 0:
        p.error("--unload-after: give a number of minutes above 0")
    if args.live and (args.transcribe or args.transcript):
        p.error(f"--live and {'--transcribe' if args.transcribe else '--transcript'}: choose one")
    if args.live_chunk is not None and args.live_chunk <= 0:
        p.error("--live-chunk: give a number of seconds above 0")
    for name in ("left", "right"):
        if (getattr(args, f"live_{name}") or 0) < 0:
            p.error(f"--live-{name}: give a number of seconds, 0 or more")
    try:
        parse_size(args.max_file_size)
    except ValueError as exc:
        p.error(f"--max-file-size: {exc}")
    args.allowed_hosts = tuple(name.strip() for name in args.allowed_hosts.split(",") if name.strip())
    if bad := [name for name in args.allowed_hosts if "/" in name or " " in name]:
        p.error(f"--allowed-hosts: give host names such as transcribe.example.org, not {', '.join(bad)}")
    try:
        args.allowed_origins = tuple(normal_origin(o) for o in args.allowed_origins.split(",") if o.strip())
    except ValueError as exc:
        p.error(f"--allowed-origins: {exc}")
    return args


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The settings the command line and the environment describe."""
    return Settings.from_env(
        models_dir=args.models_dir,
        host=args.host,
        port=args.port,
        share=args.share,
        preload=args.preload,
        precision="float32" if args.float32 else "half" if args.half else "auto",
        default_model=args.model or next((k for k in args.only if k in transcription_models()), None),
        only_models=args.only,
        max_file_size=args.max_file_size,
        unload_after_s=args.unload_after * 60 if args.unload_after is not None else None,
        live=LiveOptions(args.live_chunk, args.live_left, args.live_right),
        long_audio=LongAudioPolicy(borrow_word_times=args.canary_word_times == "on"),
        allowed_hosts=args.allowed_hosts,
        allowed_origins=args.allowed_origins,
        api_key=args.api_key,
        verbose=args.verbose,
        vocabulary=args.vocabulary,
    )


def validate_local_models(store: ModelStore, keys: list[str] | None = None) -> Path | None:
    """Check the models' files before the page is built; print what is wrong and return None when any is.

    When some models are installed, the message ends with the command that starts the app with those.
    """
    try:
        return store.validate(keys)
    except AppError as exc:
        print(f"❌ {exc}", file=sys.stderr, flush=True)
        if installed := store.installed():
            print(f"\nOr start with the models that are set up:\n  {start_command(store.models_dir, installed)}",
                  file=sys.stderr, flush=True)
        return None


class TerminalProgress:
    """A tqdm bar per file on a terminal (stderr), nothing when stderr is not one (a pipe, a log file); each file's
    result line on ``out``."""

    def __init__(self, total: int, out: TextIO, enabled: bool | None = None) -> None:
        self.total, self.out = total, out
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.index, self.bar = 0, None

    def start(self, index: int, res: FileResult) -> None:
        """A new file begins."""
        if self.enabled:
            from tqdm import tqdm

            self.index = index
            self.bar = tqdm(total=100, file=sys.stderr, leave=False, bar_format="{percentage:3.0f}% |{bar:24}| {desc}")

    def __call__(self, fraction: float, message: str) -> None:
        """``batch``'s progress (of the whole run) as the current file's bar."""
        if self.bar is not None:
            self.bar.n = round(max(0.0, min(1.0, fraction * self.total - self.index)) * 100, 1)
            self.bar.set_description_str(message, refresh=False)
            self.bar.refresh()

    def done(self, res: FileResult) -> None:
        """A file ended: its bar goes, its result line is printed."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        print(summary_line(res), file=self.out, flush=True)


@contextlib.contextmanager
def libraries_quiet(verbose: bool):
    """What the libraries print while they work (huggingface_hub prints a line when Canary loads) goes to stderr
    with ``verbose``, else nowhere; yields the real stdout, for the result lines."""
    out = sys.stdout
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(sys.stderr if verbose else devnull):
        yield out


def run_batch(
    store: ModelStore, files: Sequence[str], model_key: str, formats: Sequence[str], output_dir: Path,
    overwrite: bool = False, verbose: bool = False, speakers: SpeakerOptions | None = None,
    questions: Sequence[str] = (), export_options: ExportOptions | None = None, policy: LongAudioPolicy | None = None,
    vocabulary: Vocabulary | None = None,
) -> int:
    """Transcribe ``files`` headless, print one line per file; the exit status (see the module docstring).

    With ``speakers`` the speakers are identified too (the speaker model is checked first, with the other). With
    ``questions`` (``--ask``), each transcript is then asked them and the answers are written beside it. stdout
    holds the result lines (and the answers) only.
    """
    try:
        store.validate([model_key, *([DIARIZER] if speakers is not None else [])])
    except AppError as exc:
        print(str(exc))
        return EXIT_FAILED
    if questions and not ask_headless.check_llm(store, sys.stdout):
        return EXIT_FAILED
    names = [Path(f).name for f in files]
    written = [*formats, *(SPEAKER_FORMATS if speakers is not None else ())]
    answers = [ask_headless.answers_path(output_dir, stem) for stem in output_stems(names)] if questions else []
    existing = [path for path in [*planned_outputs(names, output_dir, written), *answers] if path.exists()]
    if existing and not overwrite:
        shown = "\n".join(f"  {path}" for path in existing[:10]) + ("\n  …" if len(existing) > 10 else "")
        print(f"Nothing transcribed: these output files already exist:\n{shown}\n"
              "Add --overwrite to replace them, or choose another folder with --output-dir.")
        return EXIT_FAILED
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"Cannot create the output folder {output_dir}: {exc.strerror or exc}")
        return EXIT_FAILED
    with libraries_quiet(verbose) as out:
        terminal = TerminalProgress(len(files), out=out)
        results = transcribe_files(
            files, model_key, output_dir, store=store, formats=formats, speakers=speakers, vocabulary=vocabulary,
            progress=terminal, on_start=terminal.start, on_done=terminal.done, export_options=export_options,
            policy=policy,
        )
        pairs = zip(results, answers, strict=False)  # no answers without questions
        transcribed = [(res.transcript, path) for res, path in pairs if res.ok and res.transcript is not None]
        answered = ask_headless.ask_transcribed(store, transcribed, questions, out)
    outcomes = {res.outcome for res in results}
    if Outcome.FAILED in outcomes or not answered:
        return EXIT_FAILED
    return EXIT_NO_SPEECH if Outcome.NO_SPEECH in outcomes else EXIT_OK


def serve(settings: Settings, store: ModelStore) -> int:
    """Serve the page and the API until Ctrl-C or SIGTERM; returns the exit status.

    Refuses (status 1) to listen where other computers can reach it without an API key.
    """
    from .server import access  # only now: the server imports FastAPI and Gradio, which take seconds

    if refusal := access.startup_refusal(settings):
        print(f"✗ {refusal}", file=sys.stderr, flush=True)
        return 1
    if settings.preload:
        store.preload(settings.default_model)
    from .server import app

    return app.serve(settings, store)


def main(argv: list[str] | None = None) -> int:
    """Run the page (or the headless batch with ``--transcribe``, live with ``--live``); returns the exit status."""
    args = parse_args(argv)
    limit_malloc_arenas()  # before the server's or the job's threads start
    headless = args.transcribe or args.transcript or args.live
    configure_logging(verbose=args.verbose, level=logging.ERROR if headless else logging.INFO)
    if args.half:
        print(HALF_IS_DEFAULT, file=sys.stderr)
    settings = settings_from_args(args)
    store = ModelStore.from_settings(settings)
    if args.status or args.watch or (args.transcribe and (job_sources.needs_job(args.transcribe) or args.ray)):
        return run_job_command(args, store, settings)
    if args.transcribe:
        return run_batch(store, args.transcribe, settings.default_model, args.formats, args.output_dir or Path("."),
                         overwrite=args.overwrite, verbose=args.verbose, speakers=args.speaker_options,
                         questions=args.ask or (), export_options=args.export_options, policy=settings.long_audio,
                         vocabulary=args.vocabulary)
    if args.live:
        from .live.headless import run_live

        return run_live(store, args.live, settings.default_model, settings.live, verbose=args.verbose,
                        vocabulary=args.vocabulary)
    if args.transcript:
        with libraries_quiet(args.verbose) as out:
            ok = ask_headless.ask_transcripts(store, args.transcript, args.ask, args.output_dir, args.overwrite, out)
        return EXIT_OK if ok else EXIT_FAILED
    if validate_local_models(store, settings.startup_models) is None:
        return 1
    return serve(settings, store)


def run_job_command(args: argparse.Namespace, store: ModelStore, settings: Settings) -> int:
    """``--status``, ``--watch`` and ``--transcribe`` of folders or manifests (``offline_transcribe.jobs``)."""
    from .jobs import command
    from .jobs.job import JobOptions

    out_dir = args.output_dir or Path(".")
    if args.status:
        return command.status(out_dir)
    if args.ask:
        print("--ask works with files given one by one, not with folders, manifests or --watch.", file=sys.stderr)
        return EXIT_USAGE
    opts = JobOptions(settings.default_model, out_dir, args.formats, args.speaker_options, args.retries,
                      args.batch_seconds, args.overwrite, runner="ray" if args.ray_options else "local",
                      runner_options=args.ray_options, export_options=args.export_options)
    with libraries_quiet(args.verbose) as out:
        if args.watch:
            from .jobs.watch import watch

            return watch(store, args.watch, opts, verbose=args.verbose, out=out)
        return command.run(store, args.transcribe, opts, verbose=args.verbose, out=out)


def run() -> None:
    """The ``transcribe_ui.py`` / ``transcribe-ui`` command."""
    sys.exit(main())
