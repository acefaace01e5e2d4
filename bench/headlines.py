"""Benchmark (slow, quality): BBC headline generation with SmolLM2-135M-Instruct, fine-tuned by tuneloop.

Everything goes through the real services on one loopback server, as a user's job would:
headline pairs (prompt: an instruction and the article body, cut at --body-chars; completion:
the headline) ingested by dataprep as a text-generation dataset, SmolLM2 imported from its GGUF
file into the registry, a LoRA fine-tune by the trainer on Ray Train, greedy generation and
scoring of the test split by the evaluator. Baselines in the same run, on the same test split:

- the base model zero-shot (the instruction is in every prompt);
- "lead": the body's first sentence, the standard extractive baseline.

Goal: the fine-tuned model's ROUGE-L above both, with the paired bootstrap interval against
zero-shot excluding zero. Prints a Markdown table for docs/benchmarks.md, and the training
throughput (tokens/s). On a GPU machine, --gpu trains and evaluates there in bf16.

    python bench/headlines.py [--every 4] [--train-samples 300] [--epochs 1] [--gpu]
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
    parser.add_argument("--every", type=int, default=4, help="take every n-th BBC article")
    parser.add_argument("--body-chars", type=int, default=600)
    parser.add_argument("--train-samples", type=int, default=300, help="0: the whole train split")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=224)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--lora-rank", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--gpu", action="store_true", help="train on a GPU (bf16 autocast)")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    from tuneloop import bbc
    from tuneloop.evaluator import textgen

    with tempfile.TemporaryDirectory() as tmp, services_with_smollm2(Path(tmp)) as client:
        pairs = [{"prompt": p["prompt"], "completion": p["completion"]}
                 for p in bbc.headlines(args.body_chars, instruction=True)[::args.every]]
        version = client.dataprep.ingest(bbc.write_jsonl(Path(tmp) / "pairs.jsonl", pairs), dataset="headlines",
                                         task="text-generation")
        started = time.perf_counter()
        job = client.trainer.submit(
            dataset="headlines", base_model="smollm2", model="headlines-ft", epochs=args.epochs,
            max_train_samples=args.train_samples, batch_size=args.batch_size, max_length=args.max_length,
            learning_rate=args.learning_rate, lora_rank=args.lora_rank, lora_alpha=2.0 * args.lora_rank,
            lora_targets="all-linear", gpu=args.gpu, log_every=10)
        done = client.trainer.wait(job.id, timeout=7200)
        train_seconds = time.perf_counter() - started
        assert done.error == "", done.error
        n = args.max_new_tokens
        tuned = client.evaluator.evaluate(done.model, "headlines", "test", max_new_tokens=n)
        zero = client.evaluator.evaluate("smollm2", "headlines", "test", max_new_tokens=n)
        rows = list(client.dataprep.read_split("headlines", version.version, "test"))
        lead = textgen.scores([bbc.lead(r.text) for r in rows], [r.label for r in rows], loss=0.0)
        versus = client.evaluator.compare(done.model, "smollm2", "headlines", "test", max_new_tokens=n)
    print_results(args, version, done, train_seconds, tuned, zero, lead, versus)


def print_results(args, version, done, train_seconds, tuned, zero, lead, versus) -> None:
    gen, zgen = tuned.generation, zero.generation
    print(f"\nheadlines: {sum(version.splits.values())} pairs ({dict(version.splits)}), "
          f"trained on {args.train_samples or version.splits['train']} for {args.epochs} epoch(s), "
          f"{train_seconds:.0f} s; {done.metrics['tokens_per_second']:.0f} tokens/s, "
          f"{done.metrics['samples_per_second']:.2f} samples/s ({'GPU bf16' if args.gpu else 'CPU'})\n")
    print("| headline generator (test split) | ROUGE-L | exact match | token F1 | completion loss |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(f"| lead: the body's first sentence | {lead['rouge_l']:.4f} | {lead['exact_match']:.4f} | "
          f"{lead['token_f1']:.4f} | |")
    print(f"| SmolLM2-135M-Instruct zero-shot | {zgen.rouge_l:.4f} | {zgen.exact_match:.4f} | {zgen.token_f1:.4f} | "
          f"{zgen.loss:.3f} |")
    print(f"| **SmolLM2 + LoRA fine-tuned by tuneloop** | **{gen.rouge_l:.4f}** | {gen.exact_match:.4f} | "
          f"{gen.token_f1:.4f} | {gen.loss:.3f} |")
    print(f"\nfine-tuned vs zero-shot: ROUGE-L {versus.delta:+.4f}, 95% paired bootstrap interval "
          f"[{versus.ci_low:+.4f}, {versus.ci_high:+.4f}], Wilcoxon p = {versus.p_value:.3g}; verdict {versus.verdict}")
    print(f"fine-tuned vs lead: ROUGE-L {gen.rouge_l - lead['rouge_l']:+.4f}")
    for sample in gen.samples:
        print(f"  reference: {sample.reference!r}\n  generated: {sample.generated!r}")


if __name__ == "__main__":
    main()
