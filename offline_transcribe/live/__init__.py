"""Live transcription: words while the person is still speaking, from a model whose backend can stream.

``session.LiveSession`` runs one stream (audio in pieces → committed and tentative words, closed segments);
``headless.run_live`` is ``transcribe_ui.py --live``; the page's Live mode is ``server/live.py``.
"""
