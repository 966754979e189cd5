"""The models the app knows: one ``ModelSpec`` per model, naming its hub source at a pinned commit, how its files
are stored, the backend that runs it and what the page says about it.

A new model is one entry here (plus, for a new family, one backend in ``offline_transcribe/backends``).
Nothing outside the backends and the file layer looks at which model or family it is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import UnknownModelError
from ..paths import SETUP_SCRIPT, resolve_models_dir

Storage = Literal["nemo", "folder"]  # one .nemo archive, or a checkpoint folder (SALM.save_pretrained)
Task = Literal["transcribe", "diarize"]  # what a model is for: turning speech into text, or telling who speaks

# Files a SALM folder needs to load offline: NeMo's wrapper config and weights, the LLM tokenizer
# at the root, and the LLM config under llm_backbone/ (speechlm2/parts/hf_hub.py).
SALM_REQUIRED_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "llm_backbone/config.json",
)


@dataclass(frozen=True)
class ModelCard:
    """What the page tells about a model: published figures (from NVIDIA's model card, not measured here)."""

    parameters: str
    architecture: str
    wer: str  # average WER on the Hugging Face Open ASR Leaderboard
    rtfx: str  # published throughput
    url: str
    weights: str  # GPU memory the weights take, by precision


@dataclass(frozen=True)
class ModelSpec:
    """One model the app can use: where it comes from, how it is stored, which backend runs it."""

    key: str
    display_name: str
    repo_id: str
    revision: str  # the pinned commit on the hub: setup fetches exactly this
    local_name: str  # file or folder name inside the models folder
    storage: Storage
    backend: str  # a family's name in models.loading.FAMILIES
    summary: str
    card: ModelCard
    task: Task = "transcribe"  # only transcription models are offered as "the model" (page, --model)
    languages: tuple[str, ...] = ("en",)
    required: bool = True  # checked before the page starts; optional models are used when installed
    hub_filename: str = ""  # storage "nemo": the published .nemo file in the repo
    folder_files: tuple[str, ...] = ()  # storage "folder": the files that must be there to load offline
    llm_repo_id: str = ""  # storage "folder": where the LLM tokenizer and config come from
    llm_revision: str = ""
    # The name of the model's text-only LLM mode (its LLM answering about text, as the API's chat model), or "".
    # Its backend implements ``backends.base.TextLlm``.
    llm_name: str = ""
    word_times_from: str = ""  # a model without word times: the model whose word times it borrows when installed

    def path(self, models_dir: str | os.PathLike | None = None) -> Path:
        """The model's file (``.nemo``) or folder inside ``models_dir``."""
        return resolve_models_dir(models_dir) / self.local_name

    @property
    def is_folder(self) -> bool:
        """True when the model is stored as a folder of files rather than one archive."""
        return self.storage == "folder"

    @property
    def local_label(self) -> str:
        """The local name as the page shows it: ``parakeet.nemo``, ``canary/``."""
        return self.local_name + ("/" if self.is_folder else "")

    def required_files(self) -> tuple[str, ...]:
        """Paths, relative to the models folder, that must exist for this model to load."""
        if not self.is_folder:
            return (self.local_name,)
        return tuple(f"{self.local_name}/{name}" for name in self.folder_files)

    def setup_command(self) -> str:
        """The command that (re)creates this model's files."""
        return f"python {SETUP_SCRIPT} --only {self.key}"

    @property
    def llm_label(self) -> str:
        """What the page calls the LLM of a model with an LLM mode: ``Qwen3-1.7B``."""
        return self.llm_repo_id.rsplit("/", 1)[-1]


MODELS: dict[str, ModelSpec] = {
    spec.key: spec
    for spec in (
        ModelSpec(
            key="parakeet",
            display_name="Parakeet-TDT-0.6B-v2",
            repo_id="nvidia/parakeet-tdt-0.6b-v2",
            revision="ae9ad07059c7c739ffaf932226a8fe64ae2620b0",
            local_name="parakeet.nemo",
            storage="nemo",
            backend="nemo_tdt",
            hub_filename="parakeet-tdt-0.6b-v2.nemo",
            summary="English, fastest; punctuation, capitals, word and segment timestamps.",
            card=ModelCard(
                parameters="0.6 B",
                architecture="FastConformer encoder + TDT decoder",
                wer="≈ 6.05 %",
                rtfx="≈ 3380 (A100)",
                url="https://huggingface.co/nvidia/parakeet-tdt-0.6b-v2",
                weights="about 2.5 GB in float32",
            ),
        ),
        ModelSpec(
            key="canary",
            display_name="Canary-Qwen-2.5B",
            repo_id="nvidia/canary-qwen-2.5b",
            # Public snapshot folders of this repository carry this commit with its 4.8 GB model.safetensors.
            revision="6cfc37ec7edc35a0545c403f551ecdfa28133d72",
            local_name="canary",
            storage="folder",
            backend="salm",
            folder_files=SALM_REQUIRED_FILES,
            llm_repo_id="Qwen/Qwen3-1.7B",
            llm_revision="70d244cc86ccca08cf5af4e1e306ecf908b1ad5e",
            llm_name="canary-qwen-llm",  # Qwen3-1.7B with the speech LoRA off: answers about transcripts
            word_times_from="parakeet",  # its words aligned to Parakeet's (wordtimes)
            summary="English, most accurate; slower; timestamps per window (up to 40 s), not per word.",
            card=ModelCard(
                parameters="2.5 B",
                architecture="FastConformer encoder + Qwen3-1.7B LLM (LoRA)",
                wer="≈ 5.63 %",
                rtfx="≈ 418",
                url="https://huggingface.co/nvidia/canary-qwen-2.5b",
                weights="about 5 GB in bfloat16 (the default on a GPU that supports it), about 10 GB in float32 "
                "(`--float32`)",
            ),
        ),
        ModelSpec(
            key="parakeet-v3",
            display_name="Parakeet-TDT-0.6B-v3",
            repo_id="nvidia/parakeet-tdt-0.6b-v3",
            # A public snapshot of this commit holds parakeet-tdt-0.6b-v3.nemo (the repo's README is at 541d1f9).
            revision="541d1f99c6b0c3cd0b11a95167540bb8edefd82b",
            local_name="parakeet-v3.nemo",
            storage="nemo",
            backend="nemo_tdt",
            hub_filename="parakeet-tdt-0.6b-v3.nemo",
            required=False,
            languages=(
                "bg", "hr", "cs", "da", "nl", "en", "et", "fi", "fr", "de", "el", "hu", "it",
                "lv", "lt", "mt", "pl", "pt", "ro", "sk", "sl", "es", "sv", "ru", "uk",
            ),
            summary="25 European languages, detected automatically; punctuation, capitals, word and segment "
            "timestamps.",
            card=ModelCard(
                parameters="0.6 B",
                architecture="FastConformer encoder + TDT decoder",
                wer="≈ 6.34 % (English)",
                rtfx="≈ 3330 (A100)",
                url="https://huggingface.co/nvidia/parakeet-tdt-0.6b-v3",
                weights="about 2.5 GB in float32",
            ),
        ),
        ModelSpec(
            key="diarizer",
            display_name="Streaming Sortformer 4spk-v2",
            repo_id="nvidia/diar_streaming_sortformer_4spk-v2",
            # Public Hugging Face cache snapshots of this commit hold diar_streaming_sortformer_4spk-v2.nemo
            # (471,367,680 bytes, sha256 b371afce…83329); its child 5240a64 only adds a GGUF file.
            revision="6dbf0d69730bfee097056692b86525a0a23b32f9",
            local_name="diarizer.nemo",
            storage="nemo",
            backend="sortformer",
            hub_filename="diar_streaming_sortformer_4spk-v2.nemo",
            task="diarize",
            required=False,
            languages=(),
            summary="Tells up to 4 speakers apart (who spoke when), for the transcript's speaker labels.",
            card=ModelCard(
                parameters="117 M",
                architecture="Streaming Sortformer: FastConformer (17 layers) + Transformer (18 layers), 4 speakers",
                wer="— (a speaker diarizer)",
                rtfx="—",
                url="https://huggingface.co/nvidia/diar_streaming_sortformer_4spk-v2",
                weights="about 0.47 GB in float32",
            ),
        ),
    )
}
DEFAULT_MODEL = "parakeet"
DIARIZER = "diarizer"  # the registry key of the model that identifies speakers


def get_spec(key: str) -> ModelSpec:
    """The registry entry for ``key``, with a clear message for an unknown name."""
    try:
        return MODELS[key]
    except KeyError:
        raise UnknownModelError(f"Unknown model {key!r}. Choose one of: {', '.join(MODELS)}.") from None


def llm_specs() -> list[ModelSpec]:
    """The models with a text-only LLM mode (``llm_name``), in registry order."""
    return [spec for spec in MODELS.values() if spec.llm_name]


def get_transcription_spec(key: str) -> ModelSpec:
    """``get_spec`` for a model that must transcribe (the diarizer, for one, does not)."""
    spec = get_spec(key)
    if spec.task != "transcribe":
        choices = ", ".join(transcription_models())
        raise UnknownModelError(f"{spec.display_name} ({key!r}) does not transcribe. Choose one of: {choices}.")
    return spec


def required_keys() -> list[str]:
    """The models the app checks before it starts (in registry order)."""
    return [key for key, spec in MODELS.items() if spec.required]


def models_for(task: Task) -> dict[str, ModelSpec]:
    """The registry's models for ``task`` (registry order)."""
    return {key: spec for key, spec in MODELS.items() if spec.task == task}


def transcription_models() -> dict[str, ModelSpec]:
    """The models that turn speech into text: what the page's selector and ``--model`` offer."""
    return models_for("transcribe")
