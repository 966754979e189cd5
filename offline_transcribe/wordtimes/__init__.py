"""Word times for a model that has none (Canary-Qwen): another model that has them (Parakeet) transcribes the same
audio, and the first model's words are aligned to its words by edit distance (``align``); ``borrow`` runs it."""
