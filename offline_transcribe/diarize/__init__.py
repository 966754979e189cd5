"""Who spoke when: speaker diarization with NVIDIA's Streaming Sortformer, and speakers on the transcript.

* ``options``: what the user asks for (``SpeakerOptions``: identify speakers, how many) and the diarizer's
  settings (``DiarizationPolicy``: NeMo's streaming lengths, the offline preset, post-processing).
* ``sortformer``: the ``sortformer`` backend (loads ``diarizer.nemo`` for the store) and the streaming run that
  turns audio into per-speaker activity with memory that stays flat for hours.
* ``turns``: activity to speaker turns, the number of speakers, labels in order of first speech.
* ``attribute``: speakers onto the transcript: words to the speaker whose turn overlaps them most (Parakeet),
  or the audio cut at the turns and each turn transcribed (Canary); renaming speakers.
* ``rttm``: the standard diarization file.
* ``pipeline``: the one call ``transcribe`` makes.
"""

from .options import MAX_SPEAKERS, DiarizationPolicy, SpeakerOptions

__all__ = ["MAX_SPEAKERS", "DiarizationPolicy", "SpeakerOptions"]
