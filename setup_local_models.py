"""One-time setup: put the models in local_models/, each at a pinned commit, verified, ready to load offline.

    python setup_local_models.py                      # the required models: re-use what you have, download the rest
    python setup_local_models.py --only parakeet --from ~/parakeet-tdt-0.6b-v2.nemo
    python setup_local_models.py --only parakeet-v3   # an optional model
    python setup_local_models.py --verify             # re-hash everything against the manifest

The code is the package ``offline_transcribe.setup`` (sources, staging, hub, command line).
"""

from offline_transcribe.setup.cli import main, run

__all__ = ["main"]

if __name__ == "__main__":
    run()
