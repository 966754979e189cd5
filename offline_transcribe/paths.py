"""Where the app's files are: the checkout, the entry scripts' names, the models folder.

The lowest layer of settings: the model registry and the file checks read these, and ``config`` (which builds the
settings from the registry's defaults) re-exports them, so that neither imports the other in a circle.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
MODELS_DIR_ENV = "LOCAL_MODELS_DIR"
SETUP_SCRIPT = "setup_local_models.py"
APP_SCRIPT = "transcribe_ui.py"
GUIDE = "user-model-setup-guide.md"


def default_models_dir() -> Path:
    """``local_models/`` beside the entry scripts in a checkout; the user's data folder for an installed package."""
    if (PROJECT_DIR / SETUP_SCRIPT).is_file():
        return PROJECT_DIR / "local_models"
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "offline-transcribe" / "local_models"


def resolve_models_dir(models_dir: str | os.PathLike | None = None, env: Mapping[str, str] = os.environ) -> Path:
    """The models folder: ``models_dir``, else ``$LOCAL_MODELS_DIR``, else ``default_models_dir()``."""
    chosen = models_dir or env.get(MODELS_DIR_ENV) or default_models_dir()
    return Path(chosen).expanduser().resolve()


def is_default_models_dir(models_dir: Path) -> bool:
    """Whether commands shown to the user can leave ``--models-dir`` out."""
    return models_dir == default_models_dir().resolve()
