"""`tuneloop eval` (a model on a split) and `tuneloop eval compare` (candidate vs baseline)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tuneloop.cli.options import JsonOpt, ServerOpt
from tuneloop.cli.output import console, emit, errors_to_exit
from tuneloop.client import Client

app = typer.Typer(rich_markup_mode=None, help="Evaluate a model on a dataset split, or compare a candidate with a baseline.",
                  invoke_without_command=True)



def report_dict(r) -> dict:
    if r.task == "text-generation":
        g = r.generation
        return {"model": r.model, "dataset": r.dataset, "split": r.split, "n": r.n, "task": r.task,
                "exact_match": g.exact_match, "rouge_l": g.rouge_l, "token_f1": g.token_f1, "loss": g.loss,
                "perplexity": g.perplexity, "max_new_tokens": g.max_new_tokens,
                "samples": [{"prompt": x.prompt, "reference": x.reference, "generated": x.generated,
                             "rouge_l": x.rouge_l} for x in g.samples]}
    return {
        "model": r.model, "dataset": r.dataset, "split": r.split, "n": r.n, "task": r.task or "text-classification",
        "accuracy": r.accuracy,
        "precision_macro": r.precision_macro, "recall_macro": r.recall_macro, "f1_macro": r.f1_macro,
        "f1_weighted": r.f1_weighted, "log_loss": r.log_loss, "ece": r.ece,
        "per_class": {k: {"precision": v.precision, "recall": v.recall, "f1": v.f1, "support": v.support}
                      for k, v in sorted(r.per_class.items())},
        "confusion_matrix": {"labels": list(r.confusion_matrix.labels),
                             "matrix": [list(row.counts) for row in r.confusion_matrix.rows]},
        "warnings": list(r.warnings),
        "calibration": [{"low": b.low, "high": b.high, "count": b.count, "confidence": b.confidence,
                         "accuracy": b.accuracy} for b in r.calibration],
    }


def render_generation(o: dict) -> None:
    console.print(f"[bold]{o['model']}[/bold] on {o['dataset']} ({o['split']}, {o['n']:,} prompts, greedy, "
                  f"{o['max_new_tokens']} new tokens at most): ROUGE-L {o['rouge_l']:.4f}, exact match "
                  f"{o['exact_match']:.4f}, token F1 {o['token_f1']:.4f}, reference loss {o['loss']:.4f} "
                  f"(perplexity {o['perplexity']:.2f})")
    table = Table("prompt", "reference", "generated", "ROUGE-L", title="samples", title_justify="left", show_lines=True)
    for x in o["samples"]:
        table.add_row(x["prompt"][:120], x["reference"], x["generated"], f"{x['rouge_l']:.2f}")
    console.print(table)


def render_report(o: dict) -> None:
    if o.get("task") == "text-generation":
        render_generation(o)
        return
    console.print(f"[bold]{o['model']}[/bold] on {o['dataset']} ({o['split']}, {o['n']:,} examples): "
                  f"accuracy {o['accuracy']:.4f}, macro-F1 {o['f1_macro']:.4f}, weighted-F1 {o['f1_weighted']:.4f}, "
                  f"log loss {o['log_loss']:.4f}, ECE {o['ece']:.4f}")
    table = Table("class", "precision", "recall", "F1", "support")
    for label, m in o["per_class"].items():
        table.add_row(label, f"{m['precision']:.4f}", f"{m['recall']:.4f}", f"{m['f1']:.4f}", str(m["support"]))
    console.print(table)
    cm = o["confusion_matrix"]
    matrix = Table("true \\ predicted", *cm["labels"], title="confusion matrix", title_justify="left")
    for label, row in zip(cm["labels"], cm["matrix"], strict=True):
        matrix.add_row(label, *map(str, row))
    console.print(matrix)
    for warning in o.get("warnings", ()):
        console.print(f"[bold yellow]warning:[/bold yellow] {warning}")


@app.callback()
def evaluate(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option(help="NAME[@VERSION|:ALIAS]")] = None,
    dataset: Annotated[str | None, typer.Option(help="NAME[@VERSION]")] = None,
    split: Annotated[str, typer.Option(help="train, validation or test.")] = "test",
    refresh: Annotated[bool, typer.Option(help="Recompute even if a report is stored.")] = False,
    max_new_tokens: Annotated[int, typer.Option(help="text-generation: tokens per completion (0: 32).")] = 0,
    address: ServerOpt = None, as_json: JsonOpt = False,
) -> None:
    """Evaluate a model on a dataset split: accuracy, precision/recall/F1, confusion matrix, calibration;
    for text-generation, greedy completions scored by ROUGE-L, exact match and token F1."""
    if ctx.invoked_subcommand is not None:
        return
    if not model or not dataset:
        raise typer.BadParameter("--model and --dataset are required")
    with errors_to_exit(), Client(address) as client:
        report = client.evaluator.evaluate(model, dataset, split, refresh=refresh, max_new_tokens=max_new_tokens)
        emit(report_dict(report), as_json, render_report)


@app.command()
def compare(
    candidate: Annotated[str, typer.Option(help="NAME[@VERSION|:ALIAS] of the candidate.")],
    baseline: Annotated[str, typer.Option(help="NAME[@VERSION|:ALIAS] of the baseline, e.g. clf:champion.")],
    dataset: Annotated[str, typer.Option(help="NAME[@VERSION]")],
    split: Annotated[str, typer.Option(help="train, validation or test.")] = "test",
    min_improvement: Annotated[float | None, typer.Option(help="Macro-F1 gain needed to promote (0).")] = None,
    alpha: Annotated[float | None, typer.Option(help="Significance level (0.05).")] = None,
    max_class_drop: Annotated[float | None, typer.Option(help="Largest per-class F1 drop allowed (0.05).")] = None,
    resamples: Annotated[int | None, typer.Option(help="Bootstrap resamples (1000).")] = None,
    seed: Annotated[int | None, typer.Option(help="Bootstrap seed (0).")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="text-generation: tokens per completion (0: 32).")] = 0,
    address: ServerOpt = None, as_json: JsonOpt = False,
) -> None:
    """Candidate vs baseline on the same split: paired bootstrap CI, McNemar, per-class change, verdict
    (for text-generation: on ROUGE-L, with the Wilcoxon signed-rank test)."""
    with errors_to_exit(), Client(address) as client:
        r = client.evaluator.compare(candidate, baseline, dataset, split, min_improvement=min_improvement,
                                     alpha=alpha, max_class_drop=max_class_drop, resamples=resamples, seed=seed,
                                     max_new_tokens=max_new_tokens)
    obj = {"candidate": r.candidate, "baseline": r.baseline, "dataset": r.dataset, "split": r.split,
           "metric": r.metric, "delta": r.delta, "test": r.test, "p_value": r.p_value,
           "delta_f1_macro": r.delta_f1_macro, "ci_low": r.ci_low, "ci_high": r.ci_high,
           "delta_accuracy": r.delta_accuracy, "mcnemar_p": r.mcnemar_p,
           "per_class_delta": dict(sorted(r.per_class_delta.items())), "verdict": r.verdict, "reasons": list(r.reasons)}

    def render(o: dict) -> None:
        colour = {"promote": "green", "reject": "red"}.get(o["verdict"], "yellow")
        console.print(f"{o['candidate']} vs {o['baseline']} on {o['dataset']} ({o['split']}): "
                      f"{o['metric']} {o['delta']:+.4f} (CI [{o['ci_low']:.4f}, {o['ci_high']:.4f}]), "
                      f"{o['test']} p={o['p_value']:.4g} -> [bold {colour}]{o['verdict']}[/bold {colour}]")
        for reason in o["reasons"]:
            console.print(f"  - {reason}")

    emit(obj, as_json, render)
