"""Reading a vocabulary or replacements file, with a message instead of a traceback when it cannot be read."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import VocabularyError

MAX_FILE_BYTES = 1 << 20  # 1,000 phrases of 100 characters fit many times over


def read_text_file(path: str | os.PathLike, what: str, fix: str) -> str:
    """The UTF-8 text of ``path``; raises ``VocabularyError`` naming the path, why, and ``fix``."""
    path = Path(path).expanduser()
    try:
        if path.is_dir():
            raise VocabularyError(f"The {what} {path} is a folder, not a file. {fix}")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise VocabularyError(f"The {what} {path} is {size:,} bytes; at most {MAX_FILE_BYTES:,} are read. {fix}")
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise VocabularyError(f"The {what} {path} does not exist. {fix}") from None
    except PermissionError:
        raise VocabularyError(f"The {what} {path} cannot be read (permission denied). {fix}") from None
    except UnicodeDecodeError as exc:
        raise VocabularyError(f"The {what} {path} is not UTF-8 text (byte {exc.start}). {fix}") from None
    except OSError as exc:
        raise VocabularyError(f"The {what} {path} cannot be read ({exc.strerror or exc}). {fix}") from None
