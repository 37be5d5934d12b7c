"""GGUF to safetensors: dequantize an embedded model with transformers (imported only when converting)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path


@contextmanager
def gguf_parsed_once():
    """Memoize the gguf package's file parsing and tensor-name maps for one conversion.

    transformers parses the GGUF three times (tokenizer, config, weights; most
    of it the 49k vocabulary strings) and rebuilds the same tensor-name map for
    every tensor: 15 of the 21 seconds a conversion took. Both are pure
    functions of their arguments, so caching them changes nothing but time.
    """
    import functools

    import gguf

    reader, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    gguf.GGUFReader = functools.lru_cache(maxsize=2)(reader)
    gguf.get_tensor_name_map = functools.lru_cache(maxsize=8)(name_map)
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = reader, name_map


def convert_gguf(gguf_path: Path, out: Path) -> str:
    """Dequantize a GGUF into a safetensors model + tokenizer in ``out``; return the saved dtype."""
    with gguf_parsed_once():
        return _convert_parsed(gguf_path, out)


def _convert_parsed(gguf_path: Path, out: Path) -> str:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict = {"gguf_file": gguf_path.name, "dtype": torch.float32}
    try:  # newer transformers keep GGUF blocks packed unless asked to dequantize
        from transformers import GgufConfig

        kwargs["quantization_config"] = GgufConfig(dequantize=True)
    except ImportError:
        pass
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    if not tokenizer.chat_template:
        raise ValueError("the GGUF carries no chat template")
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, **kwargs)
    if getattr(model, "hf_quantizer", None) is not None:  # the weights are dense already
        model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    eos = tokenizer.eos_token_id  # <|im_end|> for ChatML models: a chat turn ends there
    pad = eos if tokenizer.pad_token_id is None else tokenizer.pad_token_id
    model.config.eos_token_id = model.generation_config.eos_token_id = eos
    model.config.pad_token_id = model.generation_config.pad_token_id = pad
    tokenizer.model_max_length = model.config.max_position_embeddings
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return str(model.dtype).removeprefix("torch.")
