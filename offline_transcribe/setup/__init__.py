"""The one-time setup: fetch each model once, at its pinned commit (or adopt a copy), verify it, install it."""
