"""The command line of ``transcribe_ui.py``: options, the start-up check, then the page or the headless batch.

    python transcribe_ui.py                       # the page, on http://127.0.0.1:7860
    python transcribe_ui.py --preload --port 8000
    python transcribe_ui.py --transcribe a.wav b.mp3 --model parakeet --format srt --output-dir out/
    python transcribe_ui.py --transcribe interview.m4a --speakers 2 --format srt,json   # who said what

The required models are checked before anything else; when one is missing the command prints every missing
path, the setup command and the guide, and exits with status 1 without opening a port (and without importing
Gradio: the page, ``server.page``, is imported only once the check has passed).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from .batch import parse_formats, summary_line, transcribe_files
from .config import DEFAULT_HOST, DEFAULT_PORT, MAX_FILE_SIZE, Settings
from .diarize import MAX_SPEAKERS, SpeakerOptions
from .errors import AppError
from .exports import EXPORT_FORMATS
from .models.registry import DEFAULT_MODEL, DIARIZER, required_keys, transcription_models
from .models.store import ModelStore

log = logging.getLogger("transcribe.ui")

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(description="Offline speech transcription with local NeMo models.")
    p.add_argument("--models-dir", help="folder with the model files (default: $LOCAL_MODELS_DIR or local_models/ "
                   "beside transcribe_ui.py)")
    p.add_argument("--host", default=DEFAULT_HOST, help="address to listen on (default: 127.0.0.1, this computer only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default: {DEFAULT_PORT})")
    p.add_argument("--share", action="store_true", help="also create a public Gradio link (uses the internet)")
    p.add_argument("--preload", action="store_true", help="load the default model in the background at start")
    p.add_argument("--half", action="store_true", help="run Canary in bfloat16 on a GPU (about half the GPU memory)")
    p.add_argument("--unload-after", type=float, metavar="MINUTES",
                   help="unload a model from memory after this many minutes without use (default: keep it)")
    p.add_argument("--model", choices=list(transcription_models()), default=DEFAULT_MODEL,
                   help=f"default model on the page; the model for --transcribe (default: {DEFAULT_MODEL})")
    p.add_argument("--max-file-size", default=MAX_FILE_SIZE, help=f"largest upload (default: {MAX_FILE_SIZE})")
    p.add_argument("--transcribe", nargs="+", metavar="FILE", help="transcribe these files without a browser")
    p.add_argument("--format", default="txt", help=f"with --transcribe: {', '.join(EXPORT_FORMATS)}, several "
                   "separated by commas, or all (default: txt)")
    p.add_argument("--output-dir", type=Path, default=Path("."), help="with --transcribe: where to write (default: .)")
    p.add_argument("--speakers", nargs="?", const="auto", metavar="N|auto",
                   help=f"with --transcribe: identify the speakers (1 to {MAX_SPEAKERS}, or auto: the default); needs "
                   f"the speaker model (python setup_local_models.py --only {DIARIZER}); also writes an .rttm file")
    args = p.parse_args(argv)
    try:
        args.speaker_options = SpeakerOptions.parse(args.speakers) if args.speakers is not None else None
    except ValueError as exc:
        p.error(f"--speakers: {exc}")
    try:
        args.formats = parse_formats(args.format)
    except ValueError as exc:
        p.error(f"--format: {exc}")
    if args.unload_after is not None and args.unload_after <= 0:
        p.error("--unload-after: give a number of minutes above 0")
    return args


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The settings the command line and the environment describe."""
    return Settings.from_env(
        models_dir=args.models_dir,
        host=args.host,
        port=args.port,
        share=args.share,
        preload=args.preload,
        precision="half" if args.half else "float32",
        default_model=args.model,
        max_file_size=args.max_file_size,
        unload_after_s=args.unload_after * 60 if args.unload_after is not None else None,
    )


def validate_local_models(store: ModelStore, keys: list[str] | None = None) -> Path | None:
    """Check the models' files before the page is built; print what is wrong and return None when any is."""
    try:
        return store.validate(keys or required_keys())
    except AppError as exc:
        print(f"❌ {exc}", file=sys.stderr, flush=True)
        return None


def run_batch(
    store: ModelStore, files: Sequence[str], model_key: str, formats: Sequence[str], output_dir: Path,
    speakers: SpeakerOptions | None = None,
) -> int:  # fmt: skip
    """Transcribe ``files`` headless, print one line per file; 0 when all succeeded, else 1."""
    try:
        store.validate([model_key, *([DIARIZER] if speakers is not None else [])])
    except AppError as exc:
        print(str(exc))
        return 1
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"Cannot create the output folder {output_dir}: {exc.strerror or exc}")
        return 1
    results = transcribe_files(
        files, model_key, output_dir, store=store, formats=formats, speakers=speakers,
        on_done=lambda res: print(summary_line(res), flush=True),
    )
    return 0 if all(res.ok for res in results) else 1


def _stop_on_sigterm() -> None:
    """Let SIGTERM (service managers, ``kill``) stop the server the way Ctrl-C does, so Gradio cleans its cache."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def serve(settings: Settings, store: ModelStore) -> int:
    """Build the page and serve it until Ctrl-C or SIGTERM; returns the exit status."""
    if settings.preload:
        store.preload(settings.default_model)
    if settings.host not in LOOPBACK_HOSTS:
        log.warning("Listening on %s: other computers on the network can open the page.", settings.host)
    if settings.share:
        log.warning("--share sends the page's traffic through Gradio's public share servers: this is not offline.")
    from .server import page  # only now: importing Gradio takes seconds, and a failed check should not wait for it

    demo = page.build_app(settings, store)
    _stop_on_sigterm()
    try:
        demo.launch(
            server_name=settings.host,
            server_port=settings.port,
            share=settings.share,
            max_file_size=settings.max_file_size,
            allowed_paths=[],
            show_error=True,
            theme=page.theme(),
            css=page.CSS,
            ssr_mode=False,
            footer_links=["api", "settings"],
        )
    except OSError as exc:  # port taken, address not on this machine
        print(f"✗ Cannot listen on {settings.host}:{settings.port}: {exc}\nChoose another with --port or --host.",
              file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the page (or the headless batch with ``--transcribe``); returns the exit status."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = settings_from_args(args)
    store = ModelStore.from_settings(settings)
    if args.transcribe:
        return run_batch(
            store, args.transcribe, settings.default_model, args.formats, args.output_dir, args.speaker_options
        )
    if validate_local_models(store) is None:
        return 1
    return serve(settings, store)


def run() -> None:
    """The ``transcribe_ui.py`` / ``transcribe-ui`` command."""
    sys.exit(main())
