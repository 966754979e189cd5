"""The page's transcript editor: read along with the audio, click a word to hear it, correct the text and the
speakers, and save (every download is written again). ``model`` holds the data and the edits, ``panel`` the
Gradio side, ``editor.js`` and ``editor.css`` the browser's; ``reopen`` and ``transcript_file`` open a JSON
download with its audio again ("Open transcript")."""

from .model import EditError, apply_edits, file_value
from .panel import CSS, EditorHandlers, build, editor_value, wire
from .reopen import OpenControls, Reopener, build_controls
from .transcript_file import parse_transcript, read_transcript

__all__ = ["CSS", "EditError", "EditorHandlers", "OpenControls", "Reopener", "apply_edits", "build", "build_controls",
           "editor_value", "file_value", "parse_transcript", "read_transcript", "wire"]
