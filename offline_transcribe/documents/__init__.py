"""Transcripts as documents to send to people: Markdown (``markdown``) and Word (``docx``), both built from the same
heading and timed paragraphs (``content``)."""
