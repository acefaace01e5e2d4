"""The report as one self-contained HTML file: inline CSS and inline SVG plots (`tuneloop.plots`),
no script and no link, so it opens anywhere, offline, and can be mailed or stored as it is.

Sections: the version and its warnings; training curves; the evaluation (scores, per-class
bars, confusion heatmap, reliability diagram); the champion timeline; the dataset's splits,
labels and drift; the version against the champion with the paired interval. A part with no
data says what is missing and how to get it, instead of an empty plot.
"""

from __future__ import annotations

from html import escape

from tuneloop import plots

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.6rem 0} td,th{border:1px solid #ddd;padding:.25rem .6rem;text-align:left}
th{background:#f5f5f5} .num{text-align:right;font-variant-numeric:tabular-nums}
.warning{background:#fff4e5;border-left:4px solid #e67e22;padding:.5rem .8rem;margin:.4rem 0}
.missing{background:#f3f3f3;border-left:4px solid #999;padding:.5rem .8rem;color:#555}
figure.plot{display:inline-block;margin:.5rem 1rem .5rem 0;vertical-align:top}
figure.plot svg{max-width:100%;height:auto} figcaption{font-size:.85rem;color:#555}
.muted{color:#777}
"""

HYPERPARAMETERS = ("epochs", "learning_rate", "head_lr_multiplier", "batch_size", "max_length", "freeze_layers",
                   "lora", "class_weighting", "warmup_ratio", "weight_decay", "scheduler", "seed")


def _figure(name: str, figure, caption: str) -> str:
    return f'<figure class="plot" id="plot-{name}">{plots.svg(figure)}<figcaption>{escape(caption)}</figcaption></figure>'


def _table(header: list[str], rows: list[list[object]]) -> str:
    def cell(value: object) -> str:
        if isinstance(value, float):
            return f'<td class="num">{value:.4f}</td>'
        return f'<td class="num">{value}</td>' if isinstance(value, int) else f"<td>{escape(str(value))}</td>"

    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _missing(data: dict, part: str) -> str:
    return f'<p class="missing" id="missing-{part}">Missing: {escape(data["missing"][part])}</p>'


def _header(data: dict) -> str:
    v = data["version"]
    warnings = [*(data["training"] or {}).get("warnings", []), *(data["evaluation"] or {}).get("warnings", [])]
    config = v["lineage"]["config"]
    rows = [["kind", v["kind"]], ["aliases", ", ".join(v["aliases"]) or "none"], ["created", v["created_at"]],
            ["base model", v["lineage"]["base_model"] or "-"], ["dataset", v["lineage"]["dataset"] or "-"],
            ["training job", v["lineage"]["job"] or "-"], ["description", v["description"] or "-"]]
    rows += [[name, config[name]] for name in HYPERPARAMETERS if name in config]
    return (f"<h1>{escape(data['model'])}</h1><p class='muted'>tuneloop report: evaluated on "
            f"{escape(data['dataset'] or '-')} ({escape(data['split'])})</p>"
            + "".join(f'<p class="warning">Warning: {escape(w)}</p>' for w in dict.fromkeys(warnings))
            + _table(["", ""], rows))


def _training(data: dict) -> str:
    t = data["training"]
    if t is None:
        return _missing(data, "training")
    if not t["epochs"]:
        return f'<p class="missing" id="missing-training">Missing: job {escape(t["job"])} recorded no epoch</p>'
    return _figure("curves", plots.curves(t["steps"], t["epochs"]),
                   f"job {t['job']}: training loss by step; validation by epoch")


def _evaluation(data: dict) -> str:
    e = data["evaluation"]
    if e is None:
        return _missing(data, "evaluation")
    if e["generation"] is not None:
        g = e["generation"]
        return _table(["examples", "ROUGE-L", "exact match", "token F1"],
                      [[e["n"], g["rouge_l"], g["exact_match"], g["token_f1"]]])
    scores = _table(["examples", "accuracy", "macro-F1", "macro precision", "macro recall", "ECE", "log loss"],
                    [[e["n"], e["accuracy"], e["f1_macro"], e["precision_macro"], e["recall_macro"], e["ece"],
                      e["log_loss"]]])
    return (scores + _figure("per-class", plots.per_class(e["per_class"]), "precision, recall and F1 per class")
            + _figure("confusion", plots.confusion(e["confusion"]["matrix"], e["confusion"]["labels"]),
                      "confusion matrix (rows: true, columns: predicted)")
            + _figure("reliability", plots.reliability(e["calibration"]),
                      f"reliability: accuracy against confidence (ECE {e['ece']:.4f}); counts per bin"))


def _timeline(data: dict) -> str:
    points = data["timeline"]
    if not points:
        return '<p class="missing" id="missing-timeline">Missing: the model has never had a champion</p>'
    from datetime import datetime

    drawn = [{**p, "at": datetime.fromisoformat(p["at"].rstrip("Z"))} for p in points]
    rows = [[p["at"], p["kind"], f"v{p['from'] or '-'} -> v{p['version'] or '-'}",
             "-" if p["score"] is None else p["score"], "-" if p["delta"] is None else f"{p['delta']:+.4f}",
             p["actor"] or "-", p["reason"] or "-"] for p in points]
    return (_figure("timeline", plots.timeline(drawn), "champion score after each promotion (^) and rollback (v)")
            + _table(["when", "change", "versions", "champion score", "delta", "by", "reason"], rows))


def _data(data: dict) -> str:
    d = data["data"]
    if d is None:
        return _missing(data, "data") if "data" in data["missing"] else _missing(data, "evaluation")
    drift = d["drift"]
    drift_table = _table(["label shift (TV)", "length shift (KS)", "mean length change", "new labels", "new rows"],
                         [[drift["label_shift"], drift["length_shift"], drift["mean_length_change"],
                           ", ".join(drift["new_labels"]) or "-", d["new_rows"]]]) if drift["has_parent"] else \
        "<p class='muted'>First version of the dataset: no drift to measure.</p>"
    return (f"<p>{escape(d['version'])}: {d['label_conflicts']} texts had conflicting labels.</p>"
            + _figure("labels", plots.grouped_bars(d["splits"], ylabel="rows"), "rows per label in each split")
            + drift_table)


def _comparison(data: dict) -> str:
    c = data["comparison"]
    if c is None:
        return _missing(data, "comparison")
    summary = _table(["candidate", "baseline", "examples", f"delta {c['metric']}", "95% interval", "p", "verdict"],
                     [[c["candidate"], c["baseline"], c["n"], c["delta"], f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]",
                       c["p_value"], c["verdict"]]])
    reasons = "".join(f"<li>{escape(r)}</li>" for r in c["reasons"])
    deltas = _figure("class-deltas", plots.deltas(c["per_class_delta"], xlabel="F1 change per class"),
                     "per-class F1, candidate minus baseline") if c["per_class_delta"] else ""
    return summary + (f"<ul>{reasons}</ul>" if reasons else "") + deltas


def render(data: dict) -> str:
    """The whole page for `report.gather`'s dict."""
    sections = [("Training", _training), ("Evaluation", _evaluation), ("Champion timeline", _timeline),
                ("Dataset", _data), ("Against the champion", _comparison)]
    body = _header(data) + "".join(f"<h2>{title}</h2>{part(data)}" for title, part in sections)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(data['model'])} - tuneloop"
            f"</title><style>{_STYLE}</style></head><body>{body}</body></html>")
