"""Offline speech transcription: a Gradio page (and a headless command) over local NeMo models.

    python transcribe_ui.py                       # the page, on http://127.0.0.1:7860
    python transcribe_ui.py --preload --port 8000
    python transcribe_ui.py --transcribe a.wav b.mp3 --model parakeet --format srt --output-dir out/

The required models (Parakeet-TDT-0.6B-v2 as ``local_models/parakeet.nemo``, Canary-Qwen-2.5B as the folder
``local_models/canary/``) are checked before anything else (``validate_local_models``); when one is missing the
command prints every missing path, the setup command and the guide, and exits with status 1 without opening a
port. The code is the package ``offline_transcribe`` (``offline_transcribe/cli.py``).
"""

from offline_transcribe.cli import main, run, validate_local_models

__all__ = ["main", "validate_local_models"]

if __name__ == "__main__":
    run()
