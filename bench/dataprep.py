"""Benchmark: tuneloop's clean + normalized dedupe + stratified split vs a straightforward pandas version.

One run: synthesize N rows (default 1,000,000: ~10% exact duplicates, ~5% case/whitespace
variants, ~2% missing labels, 20 labels), write them to Parquet, then in a fresh child
process each, time (a) `tuneloop.dataprep.pipeline.prepare` and (b) the pandas baseline
on the same file, and print rows/s of each, the ratio, and each one's peak memory
(resident set growth over the loaded input).

    python bench/dataprep.py [--rows N] [--repeat K]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import re
import resource
import tempfile
import time
import unicodedata
from pathlib import Path

import numpy as np

N_LABELS = 20
INVISIBLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200d\u2060\ufeff\u00ad]")


def synthesize(n: int, seed: int = 0):
    import polars as pl

    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i:04d}" for i in range(5000)])
    n_base = int(n * 0.85)
    lengths = rng.integers(8, 40, n_base)
    words = vocab[rng.integers(0, len(vocab), lengths.sum())]
    cuts = np.cumsum(lengths)[:-1]
    base = [" ".join(chunk) for chunk in np.split(words, cuts)]
    labels = [f"label_{i:02d}" for i in rng.integers(0, N_LABELS, n_base)]
    texts, labs = list(base), list(labels)
    for i in rng.integers(0, n_base, n - n_base - int(n * 0.05)):  # ~10% exact duplicates
        texts.append(base[i])
        labs.append(labels[i])
    for k, i in enumerate(rng.integers(0, n_base, int(n * 0.05))):  # ~5% case/whitespace variants
        texts.append(base[i].upper() if k % 2 else "  " + base[i].replace(" ", "  ") + " ")
        labs.append(labels[i])
    order = rng.permutation(len(texts))
    frame = pl.DataFrame({"text": texts, "label": labs})[order]
    missing = rng.random(frame.height) < 0.02  # ~2% missing labels
    return frame.with_columns(label=pl.when(pl.Series(missing)).then(None).otherwise(pl.col("label")))


def tuneloop_prepare(path: Path):
    import polars as pl

    from tuneloop.dataprep.options import PrepareOptions
    from tuneloop.dataprep.pipeline import prepare

    raw = pl.read_parquet(path).with_row_index("row").with_columns(pl.col("row").cast(pl.Int64))
    rss0 = _rss_mb()
    start = time.perf_counter()
    out = prepare(raw, PrepareOptions(seed=1))
    return time.perf_counter() - start, out.new_rows.height, rss0


def pandas_prepare(path: Path):
    import pandas as pd

    df = pd.read_parquet(path)
    rss0 = _rss_mb()
    start = time.perf_counter()
    text = df["text"].map(lambda s: unicodedata.normalize("NFKC", s) if isinstance(s, str) else s)
    text = text.str.replace(INVISIBLE, "", regex=True).str.replace(r"\s+", " ", regex=True).str.strip()
    label = df["label"].str.strip()
    df = pd.DataFrame({"text": text, "label": label.where(label != "")})
    df = df[df["text"].notna() & (df["text"] != "") & df["label"].notna()]
    key = df["text"].str.lower().str.replace(r"[\W_]+", "", regex=True)
    df = df.assign(key=key.where(key != "", df["text"].str.lower()))
    n_labels = df.groupby("key")["label"].transform("nunique")
    clean, conflicted = df[n_labels == 1], df[n_labels > 1]
    votes = conflicted.groupby(["key", "label"]).size().rename("n").reset_index()
    votes = votes[votes["n"] == votes.groupby("key")["n"].transform("max")]
    winners = votes[votes.groupby("key")["key"].transform("size") == 1][["key", "label"]]
    df = pd.concat([clean, conflicted.merge(winners, on=["key", "label"])])
    df = df.drop_duplicates("text").drop_duplicates("key")
    df = df.sample(frac=1.0, random_state=1)
    rank = df.groupby("label").cumcount()
    n = df.groupby("label")["label"].transform("size")
    n_train, n_val = np.floor(n * 0.7 + 0.5), np.floor(n * 0.15 + 0.5)
    df["split"] = np.where(rank < n_train, "train", np.where(rank < n_train + n_val, "validation", "test"))
    return time.perf_counter() - start, len(df), rss0


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0


def _child(fn_name: str, path: str, queue) -> None:
    seconds, kept, rss0 = globals()[fn_name](Path(path))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((seconds, kept, peak - rss0))


def run_isolated(fn_name: str, path: Path) -> tuple[float, int, float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn_name, str(path), queue))
    proc.start()
    result = queue.get(timeout=1800)
    proc.join(timeout=60)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best is reported")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.parquet"
        t0 = time.perf_counter()
        synthesize(args.rows).write_parquet(path)
        print(f"synthesized {args.rows:,} rows in {time.perf_counter() - t0:.1f}s")
        results = {}
        for name in ("tuneloop_prepare", "pandas_prepare"):
            runs = [run_isolated(name, path) for _ in range(args.repeat)]
            results[name] = min(runs)
            seconds, kept, peak = results[name]
            print(f"{name:17s} {seconds:7.2f}s  {args.rows / seconds:12,.0f} rows/s  kept {kept:,}  "
                  f"peak +{peak:,.0f} MiB")
        ratio = results["pandas_prepare"][0] / results["tuneloop_prepare"][0]
        print(f"ratio tuneloop/pandas (rows/s): {ratio:.2f}x  (goal >= 3x)")
        if results["tuneloop_prepare"][1] != results["pandas_prepare"][1]:
            print("warning: the two kept different row counts")


if __name__ == "__main__":
    main()
