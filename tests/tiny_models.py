"""Build tiny but real NeMo models for the tests.

* ``build_tiny_parakeet(out)``: a FastConformer-TDT ``EncDecRNNTBPEModel`` (Parakeet-TDT's class and
  decoding) with a SentencePiece tokenizer trained on the spot, saved with ``save_to`` as a ``.nemo``.
* ``build_tiny_canary(out, asr_nemo)``: a speechlm2 ``SALM`` with a tiny Qwen3 LLM, a locally built
  tokenizer and the tiny ASR model as its encoder, written as the self-contained folder the store expects
  (``save_pretrained`` + tokenizer + ``llm_backbone/config.json``); with ``lora=True`` its LLM is wrapped with a
  LoRA adapter of non-zero weights, as Canary-Qwen-2.5B's is.
* ``build_scripted_qwen3(out)``: a tiny Qwen3 whose weights are set (not trained) so that it answers the app's
  prompts with a known thinking block and a known answer, for the LLM mode's tests (``tests/test_ask.py``).
* ``build_tiny_sortformer(out)``: a Streaming Sortformer ``SortformerEncLabelModel`` (the class of
  ``diar_streaming_sortformer_4spk-v2``), scaled down, saved as a ``.nemo``. ``sortformer_config`` also gives
  the full v2 shape for the benchmark.

Weights are otherwise random (seeded); the tests check that files load and code paths run, not what is said.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

TINY_CORPUS = [
    "zero one two three four five six seven eight nine",
    "the quick brown fox jumps over the lazy dog",
    "hello world this is a small speech model for tests",
    "she sells sea shells by the sea shore",
    "please transcribe this audio file offline",
]

TDT_DURATIONS = [0, 1, 2, 3, 4]


def tiny_parakeet_config(tokenizer_dir: str, d_model: int = 64, n_layers: int = 2) -> dict:
    """Config of a tiny FastConformer-TDT model shaped like Parakeet-TDT-0.6B-v2 (scaled down)."""
    return {
        "sample_rate": 16000,
        "model_defaults": {"enc_hidden": d_model, "pred_hidden": 64, "joint_hidden": 64},
        "tokenizer": {"dir": tokenizer_dir, "type": "bpe"},
        "preprocessor": {
            "_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
            "sample_rate": 16000,
            "normalize": "per_feature",
            "window_size": 0.025,
            "window_stride": 0.01,
            "window": "hann",
            "features": 80,
            "n_fft": 512,
            "log": True,
            "frame_splicing": 1,
            "dither": 0.0,
            "pad_to": 0,
            "pad_value": 0.0,
        },
        "encoder": {
            "_target_": "nemo.collections.asr.modules.ConformerEncoder",
            "feat_in": 80,
            "feat_out": -1,
            "n_layers": n_layers,
            "d_model": d_model,
            "subsampling": "dw_striding",
            "subsampling_factor": 8,
            "subsampling_conv_channels": 32,
            "causal_downsampling": False,
            "ff_expansion_factor": 4,
            "self_attention_model": "rel_pos",
            "n_heads": 4,
            "att_context_size": [-1, -1],
            "xscaling": True,
            "untie_biases": True,
            "pos_emb_max_len": 5000,
            "conv_kernel_size": 9,
            "conv_norm_type": "batch_norm",
            "dropout": 0.0,
            "dropout_pre_encoder": 0.0,
            "dropout_emb": 0.0,
            "dropout_att": 0.0,
        },
        "decoder": {
            "_target_": "nemo.collections.asr.modules.RNNTDecoder",
            "normalization_mode": None,
            "random_state_sampling": False,
            "blank_as_pad": True,
            "prednet": {"pred_hidden": 64, "pred_rnn_layers": 1, "t_max": None, "dropout": 0.0},
        },
        "joint": {
            "_target_": "nemo.collections.asr.modules.RNNTJoint",
            "log_softmax": None,
            "preserve_memory": False,
            "fuse_loss_wer": False,
            "num_extra_outputs": len(TDT_DURATIONS),
            "jointnet": {"joint_hidden": 64, "activation": "relu", "dropout": 0.0},
        },
        "decoding": {
            "strategy": "greedy_batch",
            "model_type": "tdt",
            "durations": TDT_DURATIONS,
            "greedy": {"max_symbols": 10},
        },
        "loss": {
            "loss_name": "tdt",
            "tdt_kwargs": {
                "fastemit_lambda": 0.0, "clamp": -1.0, "durations": TDT_DURATIONS, "sigma": 0.02, "omega": 0.1,
            },
        },
        "validation_ds": {
            "manifest_filepath": None,
            "use_start_end_token": False,
            "defer_setup": True,
            "sample_rate": 16000,
            "batch_size": 1,
        },
        "optim": None,
    }


def train_tiny_tokenizer(out_dir: Path, corpus: list[str] = TINY_CORPUS, vocab_size: int = 48) -> Path:
    """Train a SentencePiece BPE tokenizer on ``corpus`` into ``out_dir`` (NeMo's own helper)."""
    from nemo.collections.common.tokenizers.sentencepiece_tokenizer import create_spt_model

    out_dir.mkdir(parents=True, exist_ok=True)
    corpus_file = out_dir / "corpus.txt"
    corpus_file.write_text("\n".join(corpus) + "\n")
    create_spt_model(
        str(corpus_file), vocab_size, sample_size=-1, do_lower_case=True, tokenizer_type="bpe", output_dir=str(out_dir)
    )
    return out_dir


def build_tiny_parakeet(out: Path, seed: int = 0):
    """Build and save a tiny FastConformer-TDT model; returns the in-memory model."""
    import torch
    from nemo.collections.asr.models import EncDecRNNTBPEModel
    from omegaconf import OmegaConf

    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        tok_dir = train_tiny_tokenizer(Path(tmp) / "tokenizer")
        model = EncDecRNNTBPEModel(cfg=OmegaConf.create(tiny_parakeet_config(str(tok_dir))))
        out.parent.mkdir(parents=True, exist_ok=True)
        model.save_to(str(out))
    return model.eval()


def _tiny_tokenizer(extra_tokens: tuple[str, ...] = (), vocab_size: int = 300):
    """A small byte-level BPE tokenizer with Qwen's special tokens (and ``extra_tokens`` as added tokens)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(TINY_CORPUS + ["Transcribe the following:", "user assistant system"], trainer)
    if extra_tokens:
        tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in extra_tokens])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token=None
    )


def _qwen3_config(hf_tok, shape: dict | None = None):
    from transformers import Qwen3Config

    fields = {
        "vocab_size": len(hf_tok) + 8,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 8,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": True,
        **(shape or {}),
    }
    return Qwen3Config(**fields, eos_token_id=hf_tok.eos_token_id, pad_token_id=hf_tok.pad_token_id, bos_token_id=None)


def build_tiny_qwen3(out_dir: Path, seed: int = 0, shape: dict | None = None) -> Path:
    """Write a tiny Qwen3 causal LM (config, random weights) and a small fast tokenizer to ``out_dir``.

    ``shape`` overrides ``Qwen3Config`` fields (the benchmark builds Qwen3-1.7B's widths with it); the
    tokenizer stays small (ids beyond it decode to nothing).
    """
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    hf_tok = _tiny_tokenizer()
    hf_tok.save_pretrained(out_dir)
    AutoModelForCausalLM.from_config(_qwen3_config(hf_tok, shape)).save_pretrained(out_dir)
    return out_dir


SCRIPTED_THINKING = " quick brown fox"  # what the scripted LLM thinks: must never reach the user
SCRIPTED_ANSWER = "she sells sea shells by the shore"  # what it then answers, to any prompt that ends like the app's


def build_scripted_qwen3(
    out_dir: Path, thinking: str = SCRIPTED_THINKING, answer: str = SCRIPTED_ANSWER, hidden_size: int = 32,
    vocab_size: int | None = None,
) -> Path:
    """A tiny Qwen3 that answers every prompt ending like the app's (a newline after the empty thinking block)
    with ``<think>{thinking}</think>{answer}`` and its end-of-text token, greedily.

    Its weights are set, not trained: every layer's value projection and MLP output are zero, so each layer adds
    nothing, the last hidden state is the current token's embedding and the LM head decides the next token from
    the current one alone; the tokens of the script get orthonormal embeddings and the head maps each to the next.
    A LoRA adapter on ``v_proj`` (Canary-Qwen's targets) with non-zero weights makes the values, and so every
    layer's output, non-zero: with the adapter on, the answer changes. ``<think>`` and ``</think>`` are added
    tokens, as in Qwen3's tokenizer, whose vocabulary holds the corpus' words whole. The script's tokens must all
    differ (checked). ``vocab_size`` above the tokenizer's makes the model bigger (ids no token has are never
    written) without making its activations bigger.
    """
    import torch
    from transformers import AutoModelForCausalLM

    from offline_transcribe.backends.salm_text import NO_THINKING

    out_dir.mkdir(parents=True, exist_ok=True)
    hf_tok = _tiny_tokenizer(("<think>", "</think>"), vocab_size=1000)
    start = hf_tok.encode(NO_THINKING)[-1]
    script = hf_tok.encode(f"<think>{thinking}</think>{answer}") + [hf_tok.eos_token_id]
    chain = [start, *script]
    if len(set(chain)) != len(chain):
        raise ValueError(f"the script repeats a token: {hf_tok.convert_ids_to_tokens(chain)}")
    heads = 4
    config = _qwen3_config(hf_tok, {
        "tie_word_embeddings": False, "hidden_size": hidden_size, "num_attention_heads": heads,
        "num_key_value_heads": heads, "head_dim": hidden_size // heads,
        **({"vocab_size": vocab_size} if vocab_size else {}),
    })
    if len(chain) > hidden_size:
        raise ValueError(f"a script of {len(chain)} tokens needs hidden_size >= {len(chain)}")
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.v_proj.weight.zero_()
            layer.self_attn.o_proj.weight.copy_(torch.linalg.qr(torch.randn(hidden_size, hidden_size))[0] * 4.0)
            layer.mlp.down_proj.weight.zero_()
        basis, _ = torch.linalg.qr(torch.randn(hidden_size, hidden_size))
        embed, head = model.model.embed_tokens.weight, model.lm_head.weight
        embed.normal_(0.0, 0.02)
        head.zero_()
        for k, token in enumerate(chain):
            embed[token] = basis[:, k] * hidden_size**0.5  # RMS 1: the norms leave it as it is
            if k + 1 < len(chain):
                head[chain[k + 1]] = basis[:, k] * 10.0
    hf_tok.save_pretrained(out_dir)
    model.save_pretrained(out_dir)
    return out_dir


TINY_LORA = {"task_type": "CAUSAL_LM", "r": 4, "lora_alpha": 8, "lora_dropout": 0.0,
             "target_modules": ["q_proj", "v_proj"]}  # Canary-Qwen-2.5B's LoRA targets, smaller rank


def tiny_salm_config(llm_dir: str, asr_nemo: str, lora: bool = False) -> dict:
    """SALM config shaped like Canary-Qwen-2.5B's (scaled down); a plain dict, as SALM requires. With ``lora``,
    the LLM is wrapped with a LoRA adapter as Canary-Qwen's is (peft's fresh adapter: ``lora_B`` is zero)."""
    config = {
        "pretrained_llm": llm_dir,
        "pretrained_asr": asr_nemo,
        "pretrained_weights": True,
        "freeze_params": [],
        "prevent_freeze_params": [],
        "prompt_format": "qwen",
        "audio_locator_tag": "<|audioplaceholder|>",
        "perception": {
            "target": "nemo.collections.speechlm2.modules.perception.AudioPerceptionModule",
            "modality_adapter": {
                "_target_": "nemo.collections.asr.modules.ConformerEncoder",
                "feat_in": 64,
                "d_model": 64,
                "n_layers": 1,
                "subsampling_factor": 1,
                "self_attention_model": "rel_pos",
                "n_heads": 4,
                "conv_kernel_size": 9,
                "dropout": 0.0,
                "dropout_pre_encoder": 0.0,
                "dropout_emb": 0.0,
                "dropout_att": 0.0,
            },
        },
    }
    if lora:
        config["lora"] = dict(TINY_LORA)
    return config


def write_salm_folder(model, out_dir: Path) -> Path:
    """Write a loaded SALM as a self-contained folder: weights, config, tokenizer, ``llm_backbone/config.json``."""
    from peft import PeftModel

    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    model.tokenizer.tokenizer.save_pretrained(out_dir)
    llm = model.llm.get_base_model() if isinstance(model.llm, PeftModel) else model.llm
    llm.config.save_pretrained(out_dir / "llm_backbone")
    return out_dir


def build_tiny_canary(
    out_dir: Path, asr_nemo: Path, seed: int = 0, lora: bool = False, llm: Callable[[Path], Path] | None = None
):
    """Build a tiny SALM on ``asr_nemo`` and write it as a Canary-style folder; returns the model.

    ``lora``: its LLM wrapped with LoRA as Canary-Qwen's is, with non-zero weights as a trained adapter has (a
    fresh one is zero and changes nothing); ``llm``: writes the LLM into the folder it is given (default
    ``build_tiny_qwen3``).
    """
    import torch
    from nemo.collections.speechlm2.models import SALM

    with tempfile.TemporaryDirectory() as tmp:
        llm_dir = (llm or (lambda d: build_tiny_qwen3(d, seed=seed)))(Path(tmp) / "qwen3")
        torch.manual_seed(seed)
        model = SALM(tiny_salm_config(str(llm_dir), str(asr_nemo), lora=lora))
        if lora:
            with torch.no_grad():
                for name, weight in model.llm.named_parameters():
                    if "lora_B" in name:
                        weight.normal_(0.0, 1.0)
        write_salm_folder(model, out_dir)
    return model.eval()


# The streaming settings of NVIDIA's "very high latency" preset for Streaming Sortformer v2 (30.4 s of latency,
# the best DER on its model card): what an offline app wants, with memory that stays flat for hours.
SORTFORMER_OFFLINE_STREAMING = {
    "chunk_len": 340,
    "chunk_right_context": 40,
    "chunk_left_context": 1,
    "fifo_len": 40,
    "spkcache_len": 188,
    "spkcache_update_period": 340,  # NVIDIA lists 300; NeMo raises it to chunk_len (340)
}


def sortformer_config(
    *,
    features: int = 80,
    d_model: int = 96,
    n_layers: int = 3,
    n_heads: int = 4,
    conv_channels: int = 32,
    tf_d_model: int = 64,
    tf_layers: int = 2,
    tf_heads: int = 4,
    tf_inner: int = 128,
    dropout: float = 0.0,
    normalize: str = "NA",
    streaming: dict | None = None,
) -> dict:
    """Config of a Streaming Sortformer (``SortformerEncLabelModel``) shaped like ``diar_streaming_sortformer_4spk-v2``.

    The defaults are the tiny test model; ``SORTFORMER_V2_SHAPE`` gives the real one (17 FastConformer layers of 512,
    18 Transformer layers of 192, 128 mel features). Features are not normalised per file (``normalize: NA``, what
    the streaming model computes chunk by chunk) unless ``normalize`` says otherwise, and the streaming settings
    default to ``SORTFORMER_OFFLINE_STREAMING``.
    """
    modules = {
        "_target_": "nemo.collections.asr.modules.sortformer_modules.SortformerModules",
        "num_spks": 4,
        "dropout_rate": dropout,
        "fc_d_model": d_model,
        "tf_d_model": tf_d_model,
        "subsampling_factor": 8,
        "spkcache_sil_frames_per_spk": 3,
        "causal_attn_rate": 0.0,
        "causal_attn_rc": 7,
        **SORTFORMER_OFFLINE_STREAMING,
        **(streaming or {}),
    }
    return {
        "sample_rate": 16000,
        "pil_weight": 0.5,
        "ats_weight": 0.5,
        "max_num_of_spks": 4,
        "streaming_mode": True,
        "model_defaults": {"fc_d_model": d_model, "tf_d_model": tf_d_model},
        "preprocessor": {
            "_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
            "normalize": normalize,
            "window_size": 0.025,
            "sample_rate": 16000,
            "window_stride": 0.01,
            "window": "hann",
            "features": features,
            "n_fft": 512,
            "frame_splicing": 1,
            "dither": 1e-5,
        },
        "sortformer_modules": modules,
        "encoder": {
            "_target_": "nemo.collections.asr.modules.ConformerEncoder",
            "feat_in": features,
            "feat_out": -1,
            "n_layers": n_layers,
            "d_model": d_model,
            "subsampling": "dw_striding",
            "subsampling_factor": 8,
            "subsampling_conv_channels": conv_channels,
            "causal_downsampling": False,
            "ff_expansion_factor": 4,
            "self_attention_model": "rel_pos",
            "n_heads": n_heads,
            "att_context_size": [-1, -1],
            "att_context_style": "regular",
            "xscaling": True,
            "untie_biases": True,
            "pos_emb_max_len": 5000,
            "conv_kernel_size": 9,
            "conv_norm_type": "batch_norm",
            "dropout": dropout,
            "dropout_pre_encoder": dropout,
            "dropout_emb": 0.0,
            "dropout_att": dropout,
        },
        "transformer_encoder": {
            "_target_": "nemo.collections.asr.modules.transformer.transformer_encoders.TransformerEncoder",
            "num_layers": tf_layers,
            "hidden_size": tf_d_model,
            "inner_size": tf_inner,
            "num_attention_heads": tf_heads,
            "attn_score_dropout": dropout,
            "attn_layer_dropout": dropout,
            "ffn_dropout": dropout,
            "hidden_act": "relu",
            "pre_ln": False,
            "pre_ln_final_layer_norm": True,
        },
        "loss": {"_target_": "nemo.collections.asr.losses.bce_loss.BCELoss", "weight": None, "reduction": "mean"},
        "optim": None,
    }


SORTFORMER_V2_SHAPE = dict(
    features=128, d_model=512, n_layers=17, n_heads=8, conv_channels=256,
    tf_d_model=192, tf_layers=18, tf_heads=8, tf_inner=768,
)  # fmt: skip
"""``diar_streaming_sortformer_4spk-v2``'s architecture (NeMo's ``streaming_sortformer_diarizer_4spk-v2.yaml``)."""


def build_tiny_sortformer(out: Path, seed: int = 0, **shape):
    """Build and save a Streaming Sortformer (random weights; tiny unless ``shape`` says otherwise)."""
    import torch
    from nemo.collections.asr.models import SortformerEncLabelModel
    from omegaconf import OmegaConf

    torch.manual_seed(seed)
    model = SortformerEncLabelModel(cfg=OmegaConf.create(sortformer_config(**shape)))
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save_to(str(out))
    return model.eval()


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args()
    nemo = args.out_dir / "parakeet.nemo"
    build_tiny_parakeet(nemo)
    build_tiny_canary(args.out_dir / "canary", nemo)
    for path in sorted(args.out_dir.rglob("*")):
        if path.is_file():
            print(path.relative_to(args.out_dir))


if __name__ == "__main__":
    main()
