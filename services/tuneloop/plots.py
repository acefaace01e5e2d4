"""The figures people look at instead of reading numbers, drawn with matplotlib (object API, Agg:
no display, no global pyplot state, safe in a service's threads): the HTML report's plots
(`tuneloop.report`) and the confusion-matrix image in TensorBoard (`ml.board`).

Each function takes plain values (lists, dicts) and returns a `matplotlib.figure.Figure`; `svg`
serializes one for an HTML page (inline, so the page needs no network and no other file).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import timedelta

from matplotlib.figure import Figure

COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3")


def svg(figure: Figure) -> str:
    """The figure as an <svg> element (no XML prolog), sized for a page."""
    out = io.StringIO()
    figure.savefig(out, format="svg", metadata={"Date": None})  # no date: the same data, the same page
    text = out.getvalue()
    return text[text.index("<svg"):]


def confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> Figure:
    """Rows: true label, columns: predicted; each cell's count written in."""
    side = 2.5 + 0.6 * len(labels)
    figure = Figure(figsize=(side, side), layout="constrained")
    ax = figure.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    peak = max((max(row) for row in matrix), default=0)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            ax.text(j, i, str(count), ha="center", va="center", color="white" if count > peak / 2 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    figure.colorbar(image, ax=ax, shrink=0.7)
    return figure


def per_class(scores: dict[str, dict[str, float]]) -> Figure:
    """Precision, recall and F1 of each class, side by side."""
    labels = list(scores)
    figure = Figure(figsize=(max(5.0, 1.2 * len(labels) + 2), 3.6), layout="constrained")
    ax = figure.add_subplot()
    width = 0.27
    for k, name in enumerate(("precision", "recall", "f1")):
        ax.bar([i + (k - 1) * width for i in range(len(labels))], [scores[x][name] for x in labels], width,
               label=name, color=COLOURS[k])
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.legend(loc="lower right", ncols=3)
    return figure


def reliability(bins: Sequence[dict]) -> Figure:
    """Accuracy against confidence per bin (a calibrated model's lie on the diagonal), with how
    many predictions each bin holds."""
    figure = Figure(figsize=(4.6, 4.2), layout="constrained")
    ax = figure.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="calibrated")
    ax.bar([(b["low"] + b["high"]) / 2 for b in bins], [b["accuracy"] for b in bins],
           width=[b["high"] - b["low"] for b in bins], edgecolor="black", alpha=0.7, color=COLOURS[0],
           label="accuracy")
    ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o", color=COLOURS[1],
            label="mean confidence")
    for b in bins:
        ax.annotate(str(b["count"]), ((b["low"] + b["high"]) / 2, b["accuracy"]), ha="center", va="bottom", fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.legend(loc="upper left")
    return figure


def curves(steps: Sequence[tuple[int, float]], epochs: Sequence[dict]) -> Figure:
    """Training loss by step, and each epoch's training loss and validation score at its step."""
    figure = Figure(figsize=(7.0, 3.6), layout="constrained")
    loss, val = figure.subplots(1, 2)
    if steps:
        loss.plot([s for s, _ in steps], [v for _, v in steps], color=COLOURS[0], label="step loss")
    loss.plot([e["step"] for e in epochs], [e["train_loss"] for e in epochs], "o-", color=COLOURS[1],
              label="epoch loss")
    loss.set_xlabel("step")
    loss.set_title("training loss")
    loss.legend()
    for k, name in enumerate(("val_f1_macro", "val_accuracy", "val_loss")):
        points = [(e["epoch"] + 1, e[name]) for e in epochs if name in e]
        if points:
            val.plot([p for p, _ in points], [v for _, v in points], "o-", color=COLOURS[k + 2], label=name)
    val.set_xlabel("epoch")
    val.set_title("validation")
    val.legend()
    return figure


def grouped_bars(groups: dict[str, dict[str, float]], *, ylabel: str) -> Figure:
    """One bar per (group, key): e.g. rows per label in each split."""
    keys = sorted({k for values in groups.values() for k in values})
    figure = Figure(figsize=(max(5.0, 0.9 * len(keys) * max(len(groups), 1) / 2 + 3), 3.4), layout="constrained")
    ax = figure.add_subplot()
    width = 0.8 / max(len(groups), 1)
    for g, (name, values) in enumerate(groups.items()):
        ax.bar([i + (g - (len(groups) - 1) / 2) * width for i in range(len(keys))], [values.get(k, 0) for k in keys],
               width, label=name, color=COLOURS[g % len(COLOURS)])
    ax.set_xticks(range(len(keys)), keys, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.legend()
    return figure


def deltas(values: dict[str, float], *, xlabel: str) -> Figure:
    """Signed horizontal bars: gains in green, losses in red."""
    labels = list(values)
    figure = Figure(figsize=(5.5, 0.45 * len(labels) + 1.4), layout="constrained")
    ax = figure.add_subplot()
    ax.barh(labels, [values[x] for x in labels], color=[COLOURS[2] if values[x] >= 0 else COLOURS[3] for x in labels])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(xlabel)
    return figure


def timeline(points: Sequence[dict]) -> Figure:
    """The champion's score after each alias change (`at`, `score`, `version`, `kind`:
    promotion or rollback), as a step line with labelled markers."""
    figure = Figure(figsize=(7.0, 3.2), layout="constrained")
    ax = figure.add_subplot()
    scored = [p for p in points if p.get("score") is not None]
    if scored:
        ax.step([p["at"] for p in scored], [p["score"] for p in scored], where="post", color=COLOURS[0])
    for p in scored:
        rollback = p["kind"] == "rollback"
        ax.plot(p["at"], p["score"], "v" if rollback else "^", color=COLOURS[3] if rollback else COLOURS[2],
                markersize=9)
        ax.annotate(f"v{p['version']}", (p["at"], p["score"]), textcoords="offset points", xytext=(0, 8),
                    ha="center", fontsize=8)
    if len({p["at"] for p in scored}) == 1:  # one change: an hour either side, not matplotlib's years
        ax.set_xlim(scored[0]["at"] - timedelta(hours=1), scored[0]["at"] + timedelta(hours=1))
    ax.set_ylabel("champion score")
    figure.autofmt_xdate()
    return figure
