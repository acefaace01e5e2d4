"""What a loaded model version does with a batch of requests: text and image classifiers give
their top-k classes, causal LMs a greedy completion. One `Predictor` per loaded version; the
batcher hands it whole micro-batches.

Inputs are checked in the caller's thread (`check`) before they queue, so a bad input fails
alone and never the batch it would have joined. Tokenizing happens in `run`, in the batcher's
one thread: Hugging Face's fast tokenizers fail ("Already borrowed") when threads call one at
once. A text longer than the model's length limit is cut, and the answer says so
(`truncated`). The inference itself is the evaluator's (`ml.classifier`, `ml.imagetask`,
`ml.generation`): served and evaluated predictions agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tuneloop.errors import InvalidArgument
from tuneloop.ml.spec import CLASSIFICATION, GENERATION, IMAGE_CLASSIFICATION
from tuneloop.ml.vision import is_image_model

DEFAULT_TOP_K = 5
DEFAULT_NEW_TOKENS = 32
MAX_NEW_TOKENS = 512
MAX_PIXELS = 50_000_000  # dataprep's default bound on an image's pixels


@dataclass
class Item:
    """One request: a text (a classifier's input or a decoder's prompt) or image bytes, and its options."""

    text: str = ""
    image: bytes = b""
    top_k: int = DEFAULT_TOP_K
    max_new_tokens: int = DEFAULT_NEW_TOKENS

    @property
    def size(self) -> int:
        """What a batch is sorted by: characters of text (tokens follow them), or bytes of an image."""
        return len(self.text) or len(self.image)


@dataclass
class Answer:
    label: str = ""
    top: list[tuple[str, float]] = field(default_factory=list)
    generated: str = ""
    truncated: bool = False


def _top(probs: np.ndarray, labels: list[str], k: int) -> Answer:
    order = np.argsort(-probs, kind="stable")[:k]
    return Answer(label=labels[int(order[0])], top=[(labels[int(i)], float(probs[i])) for i in order])


class TextClassifier:
    task = CLASSIFICATION

    def __init__(self, model_dir: Path, cpu_batch_tokens: int = 0) -> None:
        from tuneloop.ml.classifier import Classifier

        self.inner = Classifier(model_dir)
        self.labels = self.inner.labels
        # a CPU is fastest at a few thousand padded tokens a pass; a GPU runs the batch whole
        self.max_tokens = cpu_batch_tokens if self.inner.device.type == "cpu" else 0

    def check(self, item: Item) -> Item:
        if item.image:
            raise InvalidArgument("this model classifies texts: send `text`, not `image`")
        if not item.text.strip():
            raise InvalidArgument("text is empty")
        return item

    def run(self, items: list[Item]) -> list[Answer]:
        """Tokenized here, in the batcher's one thread, in one call: a fast tokenizer is not safe
        to call from several threads at once ("Already borrowed"), and one call per batch is faster."""
        from tuneloop.ml.modeling import predict

        inner = self.inner
        encoded = inner.tokenizer([i.text for i in items], truncation=True, max_length=inner.max_length)
        probs = predict(inner.model, encoded["input_ids"], pad_id=inner.tokenizer.pad_token_id, batch_size=len(items),
                        max_tokens=self.max_tokens, device=inner.device, autocast=inner.device.type == "cuda").numpy()
        answers = [_top(p, self.labels, i.top_k) for p, i in zip(probs, items, strict=True)]
        for answer, e in zip(answers, encoded.encodings, strict=True):
            answer.truncated = bool(e.overflowing)
        return answers


class ImageClassifier:
    task = IMAGE_CLASSIFICATION

    def __init__(self, model_dir: Path) -> None:
        from tuneloop.ml.imagetask import ImagePredictor

        self.inner = ImagePredictor(model_dir)
        self.labels = self.inner.labels

    def check(self, item: Item) -> Item:
        from tuneloop.core.pictures import Unreadable, read_checked

        if not item.image:
            raise InvalidArgument("this model classifies images: send `image` (encoded bytes), not `text`")
        try:
            read_checked(item.image, MAX_PIXELS)  # dataprep's check: a bad image fails alone, not its batch
        except Unreadable as exc:
            raise InvalidArgument(f"image {exc}") from None
        return item

    def run(self, items: list[Item]) -> list[Answer]:
        from tuneloop.ml.imagetask import predict_images

        inner = self.inner
        probs = predict_images(inner.model, [i.image for i in items], inner.pictures, batch_size=len(items),
                               device=inner.device, autocast=inner.device.type == "cuda").numpy()
        return [_top(p, self.labels, i.top_k) for p, i in zip(probs, items, strict=True)]


class TextGenerator:
    task = GENERATION
    labels: list[str] = []

    def __init__(self, model_dir: Path) -> None:
        from tuneloop.ml.generation import Generator

        self.inner = Generator(model_dir)

    def check(self, item: Item) -> Item:
        if item.image:
            raise InvalidArgument("this model generates text from a prompt: send `text`, not `image`")
        if not item.text.strip():
            raise InvalidArgument("text (the prompt) is empty")
        if not 1 <= item.max_new_tokens <= MAX_NEW_TOKENS:
            raise InvalidArgument(f"max_new_tokens must be between 1 and {MAX_NEW_TOKENS} (0: {DEFAULT_NEW_TOKENS}), "
                                  f"not {item.max_new_tokens}")
        return item

    def run(self, items: list[Item]) -> list[Answer]:
        """In the batcher's one thread (the tokenizer is not thread-safe): whether each prompt is
        cut as in training so that its answer fits the model's length, then one generate per
        asked length."""
        inner, out = self.inner, [Answer() for _ in items]
        for n, item in enumerate(items):
            body = len(inner.tokenizer(item.text, add_special_tokens=False)["input_ids"])
            framing = len(inner.prompt_ids("", item.max_new_tokens))
            out[n].truncated = framing + body > len(inner.prompt_ids(item.text, item.max_new_tokens))
        for tokens in sorted({i.max_new_tokens for i in items}):
            picked = [n for n, i in enumerate(items) if i.max_new_tokens == tokens]
            texts, _ = inner.generate([items[n].text for n in picked], max_new_tokens=tokens)
            for n, text in zip(picked, texts, strict=True):
                out[n].generated = text
        return out


Predictor = TextClassifier | ImageClassifier | TextGenerator


def task_of(model_dir: Path) -> str:
    """What a model folder does: image classification, generation (its config's architecture
    ends in ForCausalLM), or text classification."""
    if is_image_model(model_dir):
        return IMAGE_CLASSIFICATION
    config = model_dir / "config.json"
    architectures = json.loads(config.read_text()).get("architectures") or [] if config.is_file() else []
    return GENERATION if any(a.endswith("ForCausalLM") for a in architectures) else CLASSIFICATION


def load(model_dir: Path, cpu_batch_tokens: int = 0) -> Predictor:
    """The predictor a model folder calls for; a text classifier on a CPU runs a batch in passes
    of at most `cpu_batch_tokens` padded tokens (0: whole)."""
    task = task_of(model_dir)
    if task == IMAGE_CLASSIFICATION:
        return ImageClassifier(model_dir)
    return TextGenerator(model_dir) if task == GENERATION else TextClassifier(model_dir, cpu_batch_tokens)
