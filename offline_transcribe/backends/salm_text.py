"""Canary-Qwen's LLM mode: its LLM alone (Qwen3-1.7B) answering about text, with the speech LoRA switched off.

NVIDIA's model card documents this mode: inside ``model.llm.disable_adapter()``, ``model.generate`` on a prompt
without audio runs the original LLM. Here the adapter is off for exactly one ``generate_text`` call: peft's context
manager turns it back on on the way out, also when the call raises or is cancelled, so the next transcription has
its LoRA again. The store hands a model to one job at a time (``ModelStore.use``), so no transcription runs on the
model while its adapter is off.

Thinking: Qwen3 writes a ``<think>…</think>`` block before its answer unless the prompt ends with an empty one (what
Qwen3's chat template does for ``enable_thinking=False``). Of NeMo 3.0's prompt formatters, ``qwen3`` adds that block
when ``encode_dialog(..., enable_thinking=False)`` asks for it (``SALM.generate`` passes the option on); ``qwen``
has no such option (its ``encode_dialog`` takes none). Which one a checkpoint uses is its config's
``prompt_format``, so the prompt is built here with the model's own formatter, with thinking turned off when the
formatter can do it and the empty block appended when it cannot. (The caller also filters any thinking out of the
answer: ``ask.thinking``.)
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .base import ChatTurn, Generated

NO_THINKING = "<think>\n\n</think>\n\n"  # an empty thinking block right after the assistant's turn opens


@contextlib.contextmanager
def adapter_off(model: Any) -> Iterator[None]:
    """The SALM's LLM without its LoRA adapter for the duration of the block (a SALM without LoRA: as it is)."""
    disable = getattr(model.llm, "disable_adapter", None)  # peft's PeftModel
    if disable is None:
        yield
        return
    with disable():
        yield


def _formatter(model: Any) -> Any:
    from nemo.collections.common.prompts.formatter import PromptFormatter

    return PromptFormatter.resolve(model.cfg.prompt_format)(model.tokenizer)


def _dialog(turns: Sequence[ChatTurn], roles: Sequence[str]) -> list[dict[str, str]]:
    """Fresh dicts (the formatter changes what it is given); system messages go into the next user message when
    the prompt format has no system role."""
    if not turns or turns[-1].role != "user":
        raise ValueError("the last message must be the user's")
    dialog: list[dict[str, str]] = []
    pending: list[str] = []
    for turn in turns:
        if turn.role == "system" and "system" not in roles:
            pending.append(turn.content)
            continue
        content = turn.content
        if turn.role == "user" and pending:
            content, pending = "\n\n".join([*pending, content]), []
        dialog.append({"role": turn.role, "content": content})
    return dialog


class SalmTextLlm:
    """The ``TextLlm`` side of the SALM backend (``backends.base.TextLlm``)."""

    def context_tokens(self, model: Any) -> int:
        """The LLM's ``max_position_embeddings`` (Qwen3-1.7B: 40,960; its model card gives 32,768 as its context)."""
        llm = model.llm.get_base_model() if hasattr(model.llm, "get_base_model") else model.llm
        return int(llm.config.max_position_embeddings)

    def count_tokens(self, model: Any, text: str) -> int:
        """``text``'s length in the LLM's tokens."""
        return len(model.tokenizer.text_to_ids(text))

    def chat_prompt(self, model: Any, turns: Sequence[ChatTurn]) -> list[int]:
        """The model's prompt format for ``turns`` and the assistant's turn to come, thinking off."""
        formatter = _formatter(model)
        dialog = _dialog(turns, formatter.get_roles())
        can_turn_off = "enable_thinking" in inspect.signature(formatter.encode_dialog).parameters
        options = {"enable_thinking": False} if can_turn_off else {}
        ids = formatter.encode_dialog(dialog, **options)["input_ids"].tolist()
        return ids if can_turn_off else ids + list(model.tokenizer.text_to_ids(NO_THINKING))

    def generate_text(
        self, model: Any, prompt: Sequence[int], max_new_tokens: int,
        on_token: Callable[[int], None] | None = None, cancelled: Callable[[], bool] | None = None,
    ) -> Generated:
        """Greedy decoding of the LLM alone (adapter off, no audio), the new tokens streamed to ``on_token``."""
        import torch
        from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList
        from transformers.generation.streamers import BaseStreamer

        class Cancel(StoppingCriteria):
            def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
                return torch.full((input_ids.shape[0],), bool(cancelled and cancelled()), dtype=torch.bool,
                                  device=input_ids.device)

        ends = {model.text_eos_id, model.text_pad_id}

        class Tokens(BaseStreamer):
            prompt_seen = False

            def put(self, value: torch.Tensor) -> None:
                if not self.prompt_seen:  # generate() first passes the prompt itself
                    self.prompt_seen = True
                elif on_token is not None:
                    for token in value.reshape(-1).tolist():
                        if token not in ends:
                            on_token(int(token))

            def end(self) -> None:
                pass

        config = GenerationConfig(
            bos_token_id=model.text_bos_id, eos_token_id=model.text_eos_id, pad_token_id=model.text_pad_id,
            max_new_tokens=max_new_tokens, do_sample=False,
        )
        tokens = torch.tensor([list(prompt)], dtype=torch.long, device=model.device)
        with adapter_off(model), torch.inference_mode():
            out = model.generate(prompts=tokens, generation_config=config, streamer=Tokens(),
                                 stopping_criteria=StoppingCriteriaList([Cancel()]))
        new = out[0, tokens.shape[1]:].tolist()
        cut = next((i for i, token in enumerate(new) if token in ends), None)
        stopped = cancelled is not None and cancelled()
        reason = "stop" if cut is not None else "cancelled" if stopped else "length"
        return Generated(tuple(new[:cut]), reason)

    def decode_text(self, model: Any, ids: Sequence[int]) -> str:
        """Token ids to text, special tokens left out."""
        return model.tokenizer.ids_to_text(list(ids))
