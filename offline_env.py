"""Switch off every network path of the hub libraries and Gradio before they are imported.

Import this module before NeMo, transformers, huggingface_hub or gradio: they read these
variables once, at import time. ``model_store`` and ``transcribe_ui`` import it first.
"""

import os

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",  # huggingface_hub: never call the hub, serve only local files
    "TRANSFORMERS_OFFLINE": "1",  # transformers: same for tokenizers/configs
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",  # Gradio: no usage analytics, no version check
    "DO_NOT_TRACK": "1",
    "WANDB_MODE": "disabled",
    "NEMO_REDIRECT_LOGS_TO_STDERR": "1",  # NeMo's INFO lines to stderr: stdout stays the app's own output
}


def enable_offline_mode() -> None:
    """Set the offline switches in this process (and the child processes it starts)."""
    os.environ.update(OFFLINE_ENV)


enable_offline_mode()
