"""The page's transcript editor: read along with the audio, click a word to hear it, correct the text and the
speakers, and save (every download is written again). ``model`` holds the data and the edits, ``panel`` the
Gradio side, ``editor.js`` and ``editor.css`` the browser's."""

from .model import EditError, apply_edits, file_value
from .panel import CSS, EditorHandlers, build, editor_value, wire

__all__ = ["CSS", "EditError", "EditorHandlers", "apply_edits", "build", "editor_value", "file_value", "wire"]
