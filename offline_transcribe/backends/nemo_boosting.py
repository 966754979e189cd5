"""Phrase boosting for NeMo transducers (Parakeet-TDT): NeMo's boosting tree in the greedy decoder.

Offline on a CPU, ``boosted_decoding`` adds the phrases' tree (NeMo's ``GPUBoostingTreeModel``, built once per
phrase list and kept with the model, ``TREES_KEPT`` lists at most, its rows remembered: ``nemo_boosting_rows``) to
the fusion models of the model's own ``greedy_batch`` decoder for one request, with the weight as its alpha, which
is what NeMo's ``greedy.boosting_tree`` / ``greedy.boosting_tree_alpha`` build; the decoding is not rebuilt. Where
that decoder is not there (another strategy) and on a GPU (whose CUDA graphs are captured with their fusion
models), it switches the model's decoding to ``greedy_batch`` with ``greedy.boosting_tree`` (the phrases) and
``greedy.boosting_tree_alpha`` (the weight) for the request, and always puts the decoding it found back.
Live, ``StreamBoost`` adds the phrases as one model of the decoder's per-stream biasing multi-model
(``greedy.enable_per_stream_biasing``), so each stream has its own phrases and other requests none.

The tokenizer decides what can be boosted: a phrase it spells only with ``<unk>`` is left out and named in the
notes; a phrase it spells only in other capitals (a lower-case tokenizer) is boosted as it spells it, and the
transcript writes it back as typed (``vocabulary.spelling_rules``).
"""

from __future__ import annotations

import copy
import logging
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .nemo_boosting_rows import remember_rows

log = logging.getLogger("transcribe.vocabulary")

# NeMo's per-token score of a phrase's arcs (multiplied by the weight, ``boosting_tree_alpha``): measured with
# the weight on the trained tiny model (docs/benchmarks.md, "Custom vocabulary").
CONTEXT_SCORE = 3.0
DEPTH_SCALING = 2.0  # NeMo's value for CTC, RNN-T and TDT
TREES_KEPT = 4  # phrase lists whose trees a model keeps (the server's defaults, a client's hotwords…)
_TREES_LOCK = threading.Lock()


@dataclass(frozen=True)
class Spelled:
    """What the tokenizer makes of the phrases: the forms to boost, and the phrases it cannot spell."""

    boosted: tuple[str, ...]  # as the tokenizer spells them (lower case for a lower-case tokenizer)
    typed: tuple[str, ...]  # the same phrases as the user typed them
    unspellable: tuple[str, ...]


def spell(tokenizer: Any, phrases: Sequence[str]) -> Spelled:
    """Sort ``phrases`` into those ``tokenizer`` can spell (as typed, else in lower case) and those it cannot."""
    unk = getattr(tokenizer, "unk_id", None)
    boosted, typed, unspellable = [], [], []
    for phrase in phrases:
        for form in dict.fromkeys((phrase, phrase.lower())):
            ids = tokenizer.text_to_ids(form)
            if ids and (unk is None or unk not in ids):
                boosted.append(form)
                typed.append(phrase)
                break
        else:
            unspellable.append(phrase)
    return Spelled(tuple(dict.fromkeys(boosted)), tuple(typed), tuple(unspellable))


def tree_config(phrases: Sequence[str], use_triton: bool) -> dict:
    """NeMo's ``BoostingTreeModelConfig`` for ``phrases``, as a plain dict for the decoding config."""
    return {
        "key_phrases_list": list(phrases),
        "context_score": CONTEXT_SCORE,
        "depth_scaling": DEPTH_SCALING,
        "use_triton": use_triton,
    }


def _on_cuda(model: Any) -> bool:
    return next(model.parameters()).device.type == "cuda"


def _phrases_file(folder: str, phrases: Sequence[str]) -> Path:
    """The phrases in a private file (0600 in the 0700 ``folder``), one per line, for NeMo to read."""
    path = Path(folder) / "phrases.txt"
    path.touch(mode=0o600)
    path.write_text("\n".join(phrases) + "\n", encoding="utf-8")
    return path


def kept_tree(model: Any, phrases: Sequence[str]) -> Any:
    """The boosting tree of ``phrases`` (spellable) for ``model``'s tokenizer on the CPU, its rows remembered: built
    the first time, then kept with the model for the last ``TREES_KEPT`` phrase lists."""
    from nemo.collections.asr.parts.context_biasing import BoostingTreeModelConfig, GPUBoostingTreeModel
    from omegaconf import OmegaConf

    key = (tuple(phrases), CONTEXT_SCORE, DEPTH_SCALING)
    with _TREES_LOCK:
        trees: OrderedDict = model.__dict__.setdefault("_vocabulary_trees", OrderedDict())
        if key in trees:
            trees.move_to_end(key)
            return trees[key]
    with tempfile.TemporaryDirectory(prefix="vocabulary-") as folder:  # not the 1,000 phrases through OmegaConf
        given = {**tree_config((), use_triton=False), "key_phrases_list": None,
                 "key_phrases_file": str(_phrases_file(folder, phrases))}
        tree = GPUBoostingTreeModel.from_config(OmegaConf.structured(BoostingTreeModelConfig(**given)),
                                                tokenizer=model.tokenizer)
    remember_rows(tree)
    with _TREES_LOCK:
        trees[key] = tree
        while len(trees) > TREES_KEPT:
            trees.popitem(last=False)
    return tree


def _label_looping(model: Any) -> Any:
    """The model's greedy_batch label-looping decoder on the CPU, with timestamps on as the app's transcription
    wants them (switched on as ``transcribe(timestamps=True)`` does); None where it has another."""
    from omegaconf import open_dict

    if _on_cuda(model) or model.cfg.decoding.get("strategy") != "greedy_batch":
        return None
    if model.cfg.decoding.get("compute_timestamps", None) is not True:
        with open_dict(model.cfg.decoding):
            model.cfg.decoding.compute_timestamps = True
        model.change_decoding_strategy(model.cfg.decoding, verbose=False)
    computer = getattr(model.decoding.decoding, "decoding_computer", None)
    return computer if isinstance(getattr(computer, "fusion_models", None), list) else None


class boosted_decoding:
    """Decode with ``phrases`` boosted by ``weight`` inside the ``with``; the model's decoding is restored after.

    ``phrases`` must be spellable (see ``spell``). See the module docstring for the two ways in.
    """

    def __init__(self, model: Any, phrases: Sequence[str], weight: float) -> None:
        self.model, self.phrases, self.weight = model, list(phrases), weight
        self.saved: Any = None
        self.folder: tempfile.TemporaryDirectory | None = None
        self.added: tuple[Any, Any] | None = None  # (the decoder, the tree) while the tree is among its fusion models

    def __enter__(self) -> Any:
        from omegaconf import OmegaConf, open_dict

        if not self.phrases or self.weight <= 0:
            return self.model
        computer = _label_looping(self.model)
        if computer is not None:
            tree = kept_tree(self.model, self.phrases)
            computer.fusion_models.append(tree)
            computer.fusion_models_alpha.append(float(self.weight))
            self.added = (computer, tree)
            return self.model
        # The phrases go to NeMo in a private file, not in the config: a config holding 1,000 phrases costs
        # OmegaConf most of a second to copy and merge on every switch.
        self.folder = tempfile.TemporaryDirectory(prefix="vocabulary-")
        phrases_file = _phrases_file(self.folder.name, self.phrases)
        self.saved = copy.deepcopy(self.model.cfg.decoding)
        cfg = copy.deepcopy(self.saved)
        with open_dict(cfg):
            cfg.strategy = "greedy_batch"  # plain "greedy" refuses a boosting tree
            cfg.compute_timestamps = True  # as transcribe(timestamps=True) wants it: no second rebuild there
            tree = {**tree_config((), _on_cuda(self.model)), "key_phrases_list": None,
                    "key_phrases_file": str(phrases_file)}
            cfg.greedy.boosting_tree = OmegaConf.create(tree)
            cfg.greedy.boosting_tree_alpha = float(self.weight)
        try:
            self.model.change_decoding_strategy(cfg, verbose=False)
        except Exception:
            self.__exit__()
            raise
        return self.model

    def __exit__(self, *exc: object) -> None:
        if self.added is not None:
            computer, tree = self.added
            index = next(i for i, m in enumerate(computer.fusion_models) if m is tree)
            del computer.fusion_models[index], computer.fusion_models_alpha[index]
            self.added = None
        if self.saved is not None:
            self.model.change_decoding_strategy(self.saved, verbose=False)
            self.saved = None
        if self.folder is not None:
            self.folder.cleanup()
            self.folder = None


def enable_per_stream_biasing(model: Any) -> Any:
    """The decoder's per-stream biasing multi-model, switching it on (once) where the decoding has none."""
    from omegaconf import open_dict

    computer = getattr(model.decoding.decoding, "decoding_computer", None)
    multi = getattr(computer, "biasing_multi_model", None)
    if multi is not None:
        return multi
    cfg = copy.deepcopy(model.cfg.decoding)
    with open_dict(cfg):
        cfg.strategy = "greedy_batch"
        cfg.compute_timestamps = True
        cfg.greedy.enable_per_stream_biasing = True
    model.change_decoding_strategy(cfg, verbose=False)
    return model.decoding.decoding.decoding_computer.biasing_multi_model


class StreamBoost:
    """One live stream's phrases in the decoder's per-stream biasing multi-model.

    ``ids(model)`` gives the ``multi_biasing_ids`` for the stream's next step, adding the tree to the decoder's
    multi-model when it is not there yet (the first step, or a decoder rebuilt by another request since);
    ``close(model)`` takes it out again.
    """

    def __init__(self, model: Any, phrases: Sequence[str], weight: float) -> None:
        from nemo.collections.asr.parts.context_biasing import BoostingTreeModelConfig, GPUBoostingTreeModel
        from omegaconf import OmegaConf

        cfg = OmegaConf.structured(BoostingTreeModelConfig(**tree_config(phrases, _on_cuda(model))))
        self.tree = GPUBoostingTreeModel.from_config(cfg, tokenizer=model.tokenizer).to(next(model.parameters()).device)
        self.weight = float(weight)
        self._multi: Any = None
        self._id: int | None = None

    def ids(self, model: Any) -> Any:
        import torch

        multi = enable_per_stream_biasing(model)
        if multi is not self._multi:
            self._multi, self._id = multi, multi.add_model(self.tree, alpha=self.weight)
        return torch.tensor([self._id], dtype=torch.long, device=next(model.parameters()).device)

    def close(self, model: Any) -> None:
        import torch

        multi = getattr(getattr(model.decoding.decoding, "decoding_computer", None), "biasing_multi_model", None)
        if self._id is not None and multi is self._multi:
            with torch.inference_mode():  # as the steps that added it: its tensors are inference tensors
                multi.remove_model(self._id)
        self._multi, self._id = None, None
