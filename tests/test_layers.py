"""The package's layers: models are described and loaded in ``models/``, run by ``backends/``, shown by ``server/``.
A lower layer never imports an upper one, not even inside a function (read from the source, every import)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "offline_transcribe"

# module (and its submodules) -> the prefixes of what it must not import ("offline_transcribe.cli": cli_commands too)
FORBIDDEN = {
    "offline_transcribe.models": ["offline_transcribe.backends", "offline_transcribe.server", "offline_transcribe.jobs",
                                  "offline_transcribe.live", "offline_transcribe.ask", "offline_transcribe.diarize",
                                  "offline_transcribe.cli"],
    "offline_transcribe.models.registry": ["offline_transcribe.config"],
    "offline_transcribe.backends": ["offline_transcribe.server", "offline_transcribe.jobs", "offline_transcribe.cli"],
    "offline_transcribe.jobs": ["offline_transcribe.server", "offline_transcribe.cli"],
    "offline_transcribe.native_memory": ["offline_transcribe."],
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("lower", sorted(FORBIDDEN))
def test_lower_layers_do_not_import_upper_ones(lower):
    ties = []
    for path in MODULES:
        name = module_name(path)
        if name != lower and not name.startswith(lower + "."):
            continue
        for imported in imports(path):
            ties += [f"{name} imports {imported}" for upper in FORBIDDEN[lower] if imported.startswith(upper)]
    assert not ties, ties
