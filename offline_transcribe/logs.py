"""What reaches the terminal: the app's own log lines, and the libraries' (NeMo, Lightning, transformers, NVIDIA's
telemetry stub, Python warnings) only with ``--verbose``, errors always.

Each library configures its logging when it is imported (NeMo attaches its own handlers and sets its level, Lightning
sets its level), which happens long after start-up, so the libraries' records are filtered where they are written,
not by their levels: a filter on the root handler (for the libraries that propagate to it) and on NeMo's logger
(which does not). transformers reads its verbosity from the environment when it is first imported.
"""

from __future__ import annotations

import logging
import os

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LIBRARY_LOGGERS = (
    "nemo_logger", "nemo", "lightning", "pytorch_lightning", "lightning_fabric", "nv_one_logger", "transformers",
    "huggingface_hub", "py.warnings", "torch", "numba", "matplotlib", "httpx", "httpcore", "urllib3",
)


class LibraryFilter(logging.Filter):
    """Lets through the app's records, and the libraries' from ``min_level`` up."""

    def __init__(self, min_level: int = logging.ERROR) -> None:
        super().__init__()
        self.min_level = min_level

    def filter(self, record: logging.LogRecord) -> bool:
        from_library = record.name.split(".", 1)[0] in LIBRARY_LOGGERS
        return not from_library or record.levelno >= self.min_level


def configure_logging(*, verbose: bool = False, level: int = logging.INFO) -> None:
    """Log the app's records from ``level`` (and with ``verbose`` everything the libraries say) to stderr."""
    logging.basicConfig(level=logging.DEBUG if verbose else level, format=FORMAT, force=True)
    logging.captureWarnings(True)  # warnings.warn(...) from the libraries become "py.warnings" records
    if verbose:
        return
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    only_errors = LibraryFilter()
    for handler in logging.getLogger().handlers:
        handler.addFilter(only_errors)
    logging.getLogger("nemo_logger").addFilter(only_errors)  # NeMo's own handlers, not propagated to the root
