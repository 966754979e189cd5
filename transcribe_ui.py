"""Offline speech transcription: a Gradio page (and a headless command) over local NeMo models.

    python transcribe_ui.py                       # the page, on http://127.0.0.1:7860
    python transcribe_ui.py --preload --port 8000
    python transcribe_ui.py --transcribe a.wav b.mp3 --model parakeet --format srt --output-dir out/

The models (Parakeet-TDT-0.6B-v2 as ``local_models/parakeet.nemo``, Canary-Qwen-2.5B as the folder
``local_models/canary/``) are checked before anything else; when one is missing the command prints every
missing path, the setup command and the guide, and exits with status 1 without opening a port (and without
importing Gradio: the page itself is ``ui_page.py``, imported once the check has passed).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

import model_store  # first: switches the hub libraries and Gradio offline before they are imported
from errors import AppError
from model_files import DEFAULT_MODEL, MODELS

# isort: split
import cli
from exports import EXPORT_FORMATS

log = logging.getLogger("transcribe.ui")

MAX_FILE_SIZE = "2gb"


# ---------------------------------------------------------------------------------------------------------------
# Start-up


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(description="Offline speech transcription with local NeMo models.")
    p.add_argument("--models-dir", help="folder with parakeet.nemo and canary/ (default: $LOCAL_MODELS_DIR or "
                   "local_models/ beside this script)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this computer only)")
    p.add_argument("--port", type=int, default=7860, help="port to listen on (default: 7860)")
    p.add_argument("--share", action="store_true", help="also create a public Gradio link (uses the internet)")
    p.add_argument("--preload", action="store_true", help="load the default model in the background at start")
    p.add_argument("--half", action="store_true", help="run Canary in bfloat16 on a GPU (about half the GPU memory)")
    p.add_argument("--model", choices=list(MODELS), default=DEFAULT_MODEL,
                   help=f"default model on the page; the model for --transcribe (default: {DEFAULT_MODEL})")
    p.add_argument("--max-file-size", default=MAX_FILE_SIZE, help=f"largest upload (default: {MAX_FILE_SIZE})")
    p.add_argument("--transcribe", nargs="+", metavar="FILE", help="transcribe these files without a browser")
    p.add_argument("--format", default="txt", help=f"with --transcribe: {', '.join(EXPORT_FORMATS)}, several "
                   "separated by commas, or all (default: txt)")
    p.add_argument("--output-dir", type=Path, default=Path("."), help="with --transcribe: where to write (default: .)")
    args = p.parse_args(argv)
    try:
        args.formats = cli.parse_formats(args.format)
    except ValueError as exc:
        p.error(f"--format: {exc}")
    return args


def validate_local_models(models_dir: str | Path | None) -> Path | None:
    """Check every model's files before the page is built; print what is wrong and return None when any is."""
    try:
        return model_store.validate_local_models(models_dir)
    except AppError as exc:
        print(f"❌ {exc}", file=sys.stderr, flush=True)
        return None


def _stop_on_sigterm() -> None:
    """Let SIGTERM (service managers, ``kill``) stop the server the way Ctrl-C does, so Gradio cleans its cache."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    """Run the page (or the headless batch with ``--transcribe``); returns the exit status."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    model_store.use_half_precision(args.half)
    if args.transcribe:
        return cli.run_batch(args.transcribe, args.model, args.formats, args.output_dir, args.models_dir)
    models_dir = validate_local_models(args.models_dir)
    if models_dir is None:
        return 1
    if args.preload:
        model_store.preload(args.model, models_dir)
    if args.host not in {"127.0.0.1", "localhost", "::1"}:
        log.warning("Listening on %s: other computers on the network can open the page.", args.host)
    if args.share:
        log.warning("--share sends the page's traffic through Gradio's public share servers: this is not offline.")
    import ui_page  # only now: importing Gradio takes seconds, and a failed check should not wait for it

    demo = ui_page.build_app(models_dir, args.model)
    _stop_on_sigterm()
    try:
        demo.launch(
            server_name=args.host,
            server_port=args.port,
            share=args.share,
            max_file_size=args.max_file_size,
            allowed_paths=[],
            show_error=True,
            theme=ui_page.theme(),
            css=ui_page.CSS,
            ssr_mode=False,
            footer_links=["api", "settings"],
        )
    except OSError as exc:  # port taken, address not on this machine
        print(f"✗ Cannot listen on {args.host}:{args.port}: {exc}\nChoose another with --port or --host.",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
