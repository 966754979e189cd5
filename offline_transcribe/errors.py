"""Every error whose message is written for the person using the app, in one tree under ``AppError``.

The page, the command line and the setup script show ``str(error)`` as it is: what is wrong, the exact path,
and the command that fixes it. Anything that is not an ``AppError`` is a bug and is logged with its traceback.
"""

from __future__ import annotations

from pathlib import Path


class AppError(Exception):
    """An error the user can act on: its message says what is wrong, where, and what to do."""


# ---------------------------------------------------------------------------------------------------------------
# Model files


class LocalModelError(AppError):
    """A problem with the model files in the models folder."""


class UnknownModelError(LocalModelError, KeyError):
    """A model name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ModelsMissingError(LocalModelError, FileNotFoundError):
    """One or more model files are not in the models folder."""

    def __init__(self, message: str, missing: list[Path]):
        super().__init__(message)
        self.missing = missing

    def __str__(self) -> str:  # FileNotFoundError would format (errno, strerror)
        return str(self.args[0])


class ModelFilesInvalidError(LocalModelError):
    """Model files are present but damaged, incomplete, or disagree with the manifest."""

    def __init__(self, message: str, paths: list[Path]):
        super().__init__(message)
        self.paths = paths


class ModelLoadError(LocalModelError):
    """The files passed every check but the model still failed to build (e.g. another NeMo version)."""


class SetupError(AppError):
    """The one-time setup cannot go on; the message says why and what to do."""


# ---------------------------------------------------------------------------------------------------------------
# Audio and transcription


class AudioDecodeError(AppError, ValueError):
    """A file could not be turned into audio; the message is meant for the person who gave it (page or command line)."""


class AudioTooLongError(AudioDecodeError):
    """The audio is longer than the allowed limit.

    ``duration`` and ``limit`` are in seconds; ``duration`` is a lower bound when the file did not state its length
    and decoding stopped at the limit.
    """

    def __init__(self, message: str, duration: float, limit: float) -> None:
        super().__init__(message)
        self.duration = duration
        self.limit = limit


class GpuOutOfMemoryError(AppError):
    """The GPU ran out of memory; the cache has been freed and the next request can run."""


class FileMissingError(AppError):
    """An input file that is not there (any more)."""


class UnexpectedError(AppError):
    """A bug or an environment failure (logged with its traceback), reported to the user in one sentence."""


class CancelledError(AppError):
    """The person stopped the run: raised at the next window or file, what was finished is kept."""


class LiveUnavailableError(AppError):
    """Live transcription cannot run: the model cannot stream, or live transcription is busy elsewhere."""
# ---------------------------------------------------------------------------------------------------------------
# Asking about a transcript (Canary-Qwen's LLM mode)


class AskError(AppError):
    """A question about a transcript that cannot be answered; the message says why and what to do."""


class LlmNotInstalledError(AskError):
    """No model with an LLM mode (Canary-Qwen-2.5B) is installed; the message gives its setup command."""


class ContextTooLongError(AskError):
    """A conversation longer than the LLM reads at once (the API's chat; transcripts are split instead)."""

    def __init__(self, message: str, tokens: int, limit: int) -> None:
        super().__init__(message)
        self.tokens, self.limit = tokens, limit


# ---------------------------------------------------------------------------------------------------------------
# Jobs over folders and manifests


class JobRefusedError(AppError):
    """A job that cannot start (a manifest that is not valid JSONL, an output folder inside an input folder, a
    ledger of another model or options); the message says what to fix."""


# Custom vocabulary


class VocabularyError(AppError, ValueError):
    """A vocabulary or replacements list (or file) that cannot be used; the message names the line or the path."""


# ---------------------------------------------------------------------------------------------------------------
# The editor


class TranscriptFileError(AppError, ValueError):
    """A file opened to go on editing that is not a transcript JSON this app wrote; the message says what is wrong."""
