"""`tuneloop data ...`: ingest, append, show, list, export and report datasets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tuneloop.cli.options import JsonOpt, ServerOpt
from tuneloop.cli.output import console, counts_table, emit, errors_to_exit, plain
from tuneloop.client import Client
from tuneloop.core.names import split_ref

app = typer.Typer(rich_markup_mode=None, help="Prepare and version labeled datasets.", no_args_is_help=True)



def version_dict(v) -> dict:
    return {
        "dataset": v.dataset, "version": v.version, "parent": v.parent or None,
        "rows_in": v.rows_in, "rows_out": v.rows_out, "dropped": dict(sorted(v.dropped.items())),
        "splits": {s: v.splits.get(s, 0) for s in ("train", "validation", "test")},
        "labels": dict(sorted(v.labels.items())), "task": v.task or "text-classification",
        "source": v.source or None,
    }


def render_version(obj: dict) -> None:
    parent = f" (parent {obj['parent']})" if obj.get("parent") else ""
    console.print(f"[bold]{obj['dataset']}@{obj['version']}[/bold]{parent} ({obj['task']}): "
                  f"{obj['rows_in']:,} rows in, {obj['rows_out']:,} rows in the version")
    if obj.get("source"):
        console.print(f"source: {obj['source']}", soft_wrap=True)
    if obj.get("created") is False:
        console.print("[yellow]no new rows: the dataset is unchanged[/yellow]")
    console.print(counts_table("dropped", obj["dropped"] or {"(none)": 0}, "reason"))
    console.print(counts_table("splits", obj["splits"], "split"))
    if obj["task"] != "text-generation":
        console.print(counts_table("labels", obj["labels"], "label"))


PrepOpts = dict


def _prep_options(text_column, label_column, fmt, seed, casefold_labels, fill_label, conflict_policy,
                  near_dedupe, near_threshold, task, prompt_column, completion_column, image_column="",
                  near_distance=0) -> PrepOpts:
    return dict(text_column=text_column, label_column=label_column, format=fmt or "", seed=seed,
                casefold_labels=casefold_labels, fill_label=fill_label or "", conflict_policy=conflict_policy,
                near_dedupe=near_dedupe, near_threshold=near_threshold, task=task or "", prompt_column=prompt_column,
                completion_column=completion_column, image_column=image_column, near_distance=near_distance)


# the file options ingest and append share
TextColumnOpt = Annotated[str, typer.Option(help="Column holding the text.")]
LabelColumnOpt = Annotated[str, typer.Option(help="Column holding the label.")]
FormatOpt = Annotated[str | None, typer.Option("--format", help="csv, jsonl, parquet or archive (default: from "
                                                               "the suffix; a folder is sent as an archive).")]
FillLabelOpt = Annotated[str | None, typer.Option(help="Label for rows missing one (default: drop).")]
PromptColumnOpt = Annotated[str, typer.Option(help="text-generation: the column holding the prompt.")]
CompletionColumnOpt = Annotated[str, typer.Option(help="text-generation: the column holding the completion.")]
SourceOpt = Annotated[str, typer.Option(help="Where the rows came from, recorded with the version "
                                             "(default: the file name).")]


@app.command()
def ingest(
    path: Path,
    dataset: Annotated[str, typer.Option(help="Name of the new dataset.")],
    text_column: TextColumnOpt = "text",
    label_column: LabelColumnOpt = "label",
    fmt: FormatOpt = None,
    seed: Annotated[int, typer.Option(help="Seed of the split.")] = 0,
    casefold_labels: Annotated[bool, typer.Option(help="Lower-case labels.")] = False,
    fill_label: FillLabelOpt = None,
    conflict_policy: Annotated[str, typer.Option(help="majority or drop_all.")] = "majority",
    near_dedupe: Annotated[bool, typer.Option(help="Also drop near-duplicates (MinHash for texts, perceptual "
                                                   "hashes for images).")] = False,
    near_threshold: Annotated[float, typer.Option(help="Jaccard threshold for near-duplicate texts.")] = 0.9,
    near_distance: Annotated[int, typer.Option(help="Images: most differing bits (of 64) of two near-duplicates' "
                                                    "perceptual hashes; 0: the default, 6.")] = 0,
    task: Annotated[str | None, typer.Option(
        help="text-classification (text, label), text-generation (prompt, completion) or image-classification "
             "(a folder or archive of <label>/<image>, or image, label columns). Default: image-classification "
             "for a folder or archive, else text-classification.")] = None,
    prompt_column: PromptColumnOpt = "prompt",
    completion_column: CompletionColumnOpt = "completion",
    image_column: Annotated[str, typer.Option(help="image-classification tables: the column holding the image "
                                                   "(bytes, base64, or a {bytes} struct).")] = "image",
    source: SourceOpt = "",
    address: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Upload a CSV/JSONL/Parquet file, or a folder or archive of images, and prepare it as a new dataset."""
    with errors_to_exit(), Client(address) as client:
        opts = _prep_options(text_column, label_column, fmt, seed, casefold_labels, fill_label,
                             conflict_policy, near_dedupe, near_threshold, task, prompt_column, completion_column,
                             image_column, near_distance)
        emit(version_dict(client.dataprep.ingest(path, dataset=dataset, source=source, **opts)), as_json,
             render_version)


@app.command()
def append(
    path: Path,
    dataset: Annotated[str, typer.Option(help="Dataset to add rows to.")],
    text_column: Annotated[str | None, typer.Option(help="Column holding the text (default: the dataset's).")] = None,
    label_column: Annotated[str | None, typer.Option(help="Column holding the label (default: the dataset's).")] = None,
    prompt_column: Annotated[str | None, typer.Option(help="Column holding the prompt (default: the dataset's).")] = None,
    completion_column: Annotated[str | None, typer.Option(
        help="Column holding the completion (default: the dataset's).")] = None,
    fmt: FormatOpt = None,
    fill_label: FillLabelOpt = None,
    source: SourceOpt = "",
    address: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a file's rows to a dataset as a new version; old rows keep their split."""
    with errors_to_exit(), Client(address) as client:
        resp = client.dataprep.append(path, dataset=dataset, text_column=text_column or "",
                                      label_column=label_column or "", prompt_column=prompt_column or "",
                                      completion_column=completion_column or "",
                                      format=fmt or "", fill_label=fill_label or "", source=source)
        obj = version_dict(resp.version) | {"rows_in": resp.rows_in, "dropped": dict(sorted(resp.dropped.items())),
                                            "created": resp.created}
        emit(obj, as_json, render_version)


@app.command()
def show(ref: Annotated[str, typer.Argument(help="NAME[@VERSION]")], address: ServerOpt = None,
         as_json: JsonOpt = False) -> None:
    """Show a version (the latest when none is given)."""
    name, version = split_ref(ref)
    with errors_to_exit(), Client(address) as client:
        emit(version_dict(client.dataprep.get_version(name, version)), as_json, render_version)


@app.command("list")
def list_(address: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """List datasets with their latest version."""
    with errors_to_exit(), Client(address) as client:
        items = [{"name": d.name, "latest_version": d.latest_version, "versions": d.version_count}
                 for d in client.dataprep.list_datasets()]
    emit({"datasets": items}, as_json,
         lambda o: console.print(counts_table("datasets", {d["name"]: d["latest_version"] for d in o["datasets"]},
                                              "dataset", "latest")))


@app.command()
def versions(name: str, address: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """List every version of a dataset, oldest first."""
    with errors_to_exit(), Client(address) as client:
        items = [version_dict(v) for v in client.dataprep.list_versions(name)]
    emit({"versions": items}, as_json,
         lambda o: console.print(counts_table(name, {v["version"]: v["rows_out"] for v in o["versions"]}, "version")))


@app.command()
def report(ref: Annotated[str, typer.Argument(help="NAME[@VERSION]")], address: ServerOpt = None,
           as_json: JsonOpt = False) -> None:
    """The full preparation report: per-split labels, lengths, conflicts, drift."""
    name, version = split_ref(ref)
    with errors_to_exit(), Client(address) as client:
        rep = client.dataprep.report(name, version)
    obj = version_dict(rep.version) | plain(rep)
    obj["version"] = rep.version.version
    obj["options"] = json.loads(obj.pop("options_json") or "{}")
    emit(obj, as_json, render_report)


def render_report(o: dict) -> None:
    render_version(o)
    if o["task"] == "text-generation":
        o = {**o, "split_labels": {}}
    labels = sorted({label for counts in o["split_labels"].values() for label in counts.get("counts", {})})
    table = Table(title="labels per split", title_justify="left")
    table.add_column("split")
    for label in labels:
        table.add_column(label, justify="right")
    for split, counts in o["split_labels"].items():
        table.add_row(split, *(f"{counts.get('counts', {}).get(label, 0):,}" for label in labels))
    console.print(table)
    if o.get("images"):
        _render_images(o["images"])
    lengths = Table(title="text length (characters)", title_justify="left")
    stats = sorted({k for v in o["lengths"].values() for k in v})
    lengths.add_column("split")
    for k in stats:
        lengths.add_column(k, justify="right")
    for split, values in o["lengths"].items():
        lengths.add_row(split, *(f"{values.get(k, 0):,.1f}" if isinstance(values.get(k), float) else
                                 f"{values.get(k, 0):,}" for k in stats))
    if o["lengths"]:
        console.print(lengths)
    if o.get("tokens"):
        tokens = Table(title="tokens (approximate: words and punctuation)", title_justify="left")
        for column in ("split", "prompt p50", "prompt p95", "prompt max", "completion p50", "completion p95",
                       "completion max"):
            tokens.add_column(column, justify="left" if column == "split" else "right")
        for split, t in o["tokens"].items():
            tokens.add_row(split, *(f"{t[part][k]:,.0f}" for part in ("prompt", "completion")
                                    for k in ("p50", "p95", "max")))
        console.print(tokens)
    console.print(f"label conflicts: {o['label_conflicts']:,}   new rows: {o['new_rows']:,}")
    if o.get("drift"):
        console.print(counts_table("drift against the parent", o["drift"], "measure", "value"))
    console.print(counts_table("preparation options", o["options"], "option", "value"))


def _render_images(images: dict) -> None:
    table = Table(title="images (pixels; aspect is width / height)", title_justify="left")
    for column in ("split", "width p50", "width min-max", "height p50", "height min-max", "aspect p50",
                   "aspect min-max", "source modes"):
        table.add_column(column, justify="left" if column in ("split", "source modes") else "right")
    for split, st in images.items():
        w, h, a = st["width"], st["height"], st["aspect"]
        table.add_row(split, f"{w['p50']:,.0f}", f"{w['min']:,.0f}-{w['max']:,.0f}", f"{h['p50']:,.0f}",
                      f"{h['min']:,.0f}-{h['max']:,.0f}", f"{a['p50']:.2f}", f"{a['min']:.2f}-{a['max']:.2f}",
                      ", ".join(f"{m} {n:,}" for m, n in sorted(st.get("modes", {}).items())))
    console.print(table)


@app.command()
def export(
    ref: Annotated[str, typer.Argument(help="NAME[@VERSION]")],
    split: Annotated[str, typer.Option(help="train, validation, test or dropped.")],
    output: Annotated[Path, typer.Option(help="JSONL file to write.")],
    address: ServerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write one split as JSONL, one {"text", "label"} object a line ({"prompt", "completion"} for text-generation)."""
    name, version = split_ref(ref)
    with errors_to_exit(), Client(address) as client:
        version = client.dataprep.get_version(name, version).version
        n = client.dataprep.export(name, version, split, output)
    emit({"dataset": name, "version": version, "split": split, "rows": n, "output": str(output)},
         as_json, lambda o: console.print(f"wrote {o['rows']:,} rows to {o['output']}"))
