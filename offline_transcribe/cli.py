"""The command line of ``transcribe_ui.py``: options, the start-up check, then the page or the headless batch.

    python transcribe_ui.py                       # the page, on http://127.0.0.1:7860 (and the API, on /v1)
    python transcribe_ui.py --preload --port 8000
    python transcribe_ui.py --transcribe a.wav b.mp3 --model parakeet --format srt --output-dir out/

The required models are checked before anything else; when one is missing the command prints every missing
path, the setup command and the guide, and exits with status 1 without opening a port (and without importing
Gradio: the page, ``server.page``, is imported only once the check has passed).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from .batch import parse_formats, summary_line, transcribe_files
from .config import API_KEY_ENV, DEFAULT_HOST, DEFAULT_PORT, MAX_FILE_SIZE, Settings, parse_size
from .errors import AppError
from .exports import EXPORT_FORMATS
from .models.registry import DEFAULT_MODEL, MODELS, required_keys
from .models.store import ModelStore

log = logging.getLogger("transcribe.ui")


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
    p.add_argument("--model", choices=list(MODELS), default=DEFAULT_MODEL,
                   help=f"default model on the page; the model for --transcribe (default: {DEFAULT_MODEL})")
    p.add_argument("--max-file-size", default=MAX_FILE_SIZE, help=f"largest upload (default: {MAX_FILE_SIZE})")
    p.add_argument("--allowed-hosts", default="", metavar="NAMES",
                   help="host names, separated by commas, that the server answers to besides 127.0.0.1, localhost "
                   "and [::1] (a reverse proxy's); requests for any other name are refused")
    p.add_argument("--api-key", metavar="KEY", help=f"the key that the API and the page ask for (default: "
                   f"${API_KEY_ENV}, which other users cannot see in the process list); needed with a --host "
                   "other computers can reach")
    p.add_argument("--transcribe", nargs="+", metavar="FILE", help="transcribe these files without a browser")
    p.add_argument("--format", default="txt", help=f"with --transcribe: {', '.join(EXPORT_FORMATS)}, several "
                   "separated by commas, or all (default: txt)")
    p.add_argument("--output-dir", type=Path, default=Path("."), help="with --transcribe: where to write (default: .)")
    args = p.parse_args(argv)
    try:
        args.formats = parse_formats(args.format)
    except ValueError as exc:
        p.error(f"--format: {exc}")
    if args.unload_after is not None and args.unload_after <= 0:
        p.error("--unload-after: give a number of minutes above 0")
    try:
        parse_size(args.max_file_size)
    except ValueError as exc:
        p.error(f"--max-file-size: {exc}")
    args.allowed_hosts = tuple(name.strip() for name in args.allowed_hosts.split(",") if name.strip())
    if bad := [name for name in args.allowed_hosts if "/" in name or " " in name]:
        p.error(f"--allowed-hosts: give host names such as transcribe.example.org, not {', '.join(bad)}")
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
        allowed_hosts=args.allowed_hosts,
        api_key=args.api_key,
    )


def validate_local_models(store: ModelStore, keys: list[str] | None = None) -> Path | None:
    """Check the models' files before the page is built; print what is wrong and return None when any is."""
    try:
        return store.validate(keys or required_keys())
    except AppError as exc:
        print(f"❌ {exc}", file=sys.stderr, flush=True)
        return None


def run_batch(store: ModelStore, files: Sequence[str], model_key: str, formats: Sequence[str], output_dir: Path) -> int:
    """Transcribe ``files`` headless, print one line per file; 0 when all succeeded, else 1."""
    try:
        store.validate([model_key])
    except AppError as exc:
        print(str(exc))
        return 1
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"Cannot create the output folder {output_dir}: {exc.strerror or exc}")
        return 1
    results = transcribe_files(
        files, model_key, output_dir, store=store, formats=formats,
        on_done=lambda res: print(summary_line(res), flush=True),
    )
    return 0 if all(res.ok for res in results) else 1


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
    """Run the page (or the headless batch with ``--transcribe``); returns the exit status."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = settings_from_args(args)
    store = ModelStore.from_settings(settings)
    if args.transcribe:
        return run_batch(store, args.transcribe, settings.default_model, args.formats, args.output_dir)
    if validate_local_models(store) is None:
        return 1
    return serve(settings, store)


def run() -> None:
    """The ``transcribe_ui.py`` / ``transcribe-ui`` command."""
    sys.exit(main())
