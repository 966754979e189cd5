"""The offline switches: every network path of the hub libraries and Gradio, turned off before they are imported.

Importing the package (any module of it) calls ``enable_offline_mode()`` first, so whatever a program imports
first of ours, NeMo, transformers, huggingface_hub and Gradio read these variables as "offline" when they are
imported afterwards. Only the one-time setup, which must download, turns the hub switches off again
(``allow_hub_downloads``) before it imports huggingface_hub.
"""

from __future__ import annotations

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
HUB_DOWNLOAD_SWITCHES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


def enable_offline_mode() -> None:
    """Set the offline switches in this process (and the child processes it starts)."""
    os.environ.update(OFFLINE_ENV)


def allow_hub_downloads() -> None:
    """Turn the hub's offline switches off again, for the one-time setup (telemetry stays off).

    Call it before huggingface_hub is imported: the hub library reads them once, at import time.
    """
    for name in HUB_DOWNLOAD_SWITCHES:
        os.environ.pop(name, None)
