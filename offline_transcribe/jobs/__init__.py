"""Jobs over many files: folders, manifests and a watched folder, with a ledger that survives any stop.

``sources`` turns what the user named into items with stable output names; ``ledger`` records each item's state
in SQLite; ``batcher`` decodes ahead and groups short files into batches; ``runner`` transcribes a batch in this
process; ``outputs`` writes the exports atomically; ``job`` puts them together, with ``progress``; ``watch`` keeps
a folder's job going as files arrive.
"""
