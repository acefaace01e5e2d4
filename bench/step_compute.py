"""Benchmark: one data-parallel worker's step compute against the bytes DDP all-reduces per step,
for MiniLM (all-MiniLM-L6-v2's shape) and MPNet-base: the inputs of the scaling model in
docs/benchmarks.md (where data-parallel training stops paying off).

Each step is what tuneloop's train loop does: forward and backward of a sequence classifier
(bf16 autocast on GPU) and a fused AdamW step, batch B x length L. The models are built from
their configurations with random weights (time does not depend on the values), so the script
needs only torch and transformers and runs on a bare GPU machine too. DDP all-reduces the fp32
gradient of every trainable parameter once per step: 4 bytes x trainable parameters; a ring
all-reduce moves 2 (N-1)/N times that over each worker's link.

    python bench/step_compute.py [--batch 32] [--length 128] [--steps 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def models() -> dict:
    from transformers import BertConfig, MPNetConfig

    return {
        "MiniLM-L6 (all-MiniLM-L6-v2)": BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                                                   intermediate_size=1536, vocab_size=30522, num_labels=5),
        "MPNet-base": MPNetConfig(num_labels=5),
    }


def measure(config, *, batch: int, length: int, steps: int, device: torch.device) -> dict:
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_config(config).to(device)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
    ids = torch.randint(1000, config.vocab_size, (batch, length), device=device)
    labels = torch.randint(0, config.num_labels, (batch,), device=device)
    autocast = device.type == "cuda"

    def step() -> None:
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=autocast):
            loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(3):  # warm-up: kernels chosen, allocator settled
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - started) / steps
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"step_ms": seconds * 1000, "parameters": trainable, "gradient_mb": trainable * 4 / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    where = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    results = {name: measure(config, batch=args.batch, length=args.length, steps=args.steps, device=device)
               for name, config in models().items()}
    if args.json:
        print(json.dumps({"device": where, "batch": args.batch, "length": args.length, "models": results}))
        return
    print(f"{where}: batch {args.batch} x length {args.length}, forward + backward + fused AdamW"
          f"{' (bf16 autocast)' if device.type == 'cuda' else ''}")
    for name, r in results.items():
        print(f"  {name:30s} {r['step_ms']:9.1f} ms/step  {r['parameters'] / 1e6:7.1f} M parameters  "
              f"{r['gradient_mb']:7.1f} MB of fp32 gradient all-reduced per step")


if __name__ == "__main__":
    main()
