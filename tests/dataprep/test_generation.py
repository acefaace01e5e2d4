"""Text-generation datasets (prompt, completion) through the dataprep service: cleaned with their
lines kept, deduplicated on the prompt, split 70/15/15 unstratified and leak-free, versioned,
reported in tokens; and the errors a wrong file gets."""

from __future__ import annotations

import json

import grpc
import polars as pl
import pytest

from conftest import write_jsonl


def pairs(n: int, prefix: str = "article") -> list[dict]:
    return [{"prompt": f"{prefix} number {i} says something about topic {i % 7}.\nSecond line {i}.",
             "completion": f"Headline {i}"} for i in range(n)]


def test_a_generation_dataset_is_deduplicated_on_the_prompt_and_split_unstratified(client, tmp_path):
    rows = pairs(200)
    rows += [{"prompt": rows[0]["prompt"].upper() + "!", "completion": "another headline"},  # same prompt, normalized
             {"prompt": rows[1]["prompt"], "completion": "a second completion"},  # same prompt exactly
             {"prompt": "  ", "completion": "no prompt"},
             {"prompt": "no completion here", "completion": ""}]
    version = client.dataprep.ingest(write_jsonl(tmp_path / "pairs.jsonl", rows), dataset="headlines",
                                     task="text-generation")
    assert version.task == "text-generation"
    assert dict(version.labels) == {}, "completions are not labels"
    assert dict(version.dropped) == {"duplicate_exact": 1, "duplicate_normalized": 1, "empty_prompt": 1,
                                     "missing_completion": 1}
    assert dict(version.splits) == {"train": 140, "validation": 30, "test": 30}

    train = list(client.dataprep.read_split("headlines", version.version, "train"))
    assert "\n" in train[0].text, "a prompt keeps its line breaks"
    kept = {r.text: r.label for s in ("train", "validation", "test")
            for r in client.dataprep.read_split("headlines", version.version, s)}
    assert kept[rows[0]["prompt"]] == "Headline 0" and kept[rows[1]["prompt"]] == "Headline 1", "the first one wins"

    out = tmp_path / "test.parquet"
    client.dataprep.download_split("headlines", version.version, "test", out)
    assert pl.read_parquet(out).columns == ["prompt", "completion"]
    exported = tmp_path / "test.jsonl"
    client.dataprep.export("headlines", version.version, "test", exported)
    assert set(json.loads(exported.read_text().splitlines()[0])) == {"prompt", "completion"}

    report = client.dataprep.report("headlines", version.version)
    assert set(report.tokens) == {"train", "validation", "test"}
    # words, digits and full stops
    assert report.tokens["train"].completion.max == 2 and report.tokens["train"].prompt.max == 13
    assert dict(report.split_labels["train"].counts) == {}


def test_appending_keeps_old_splits_and_drops_prompts_already_there(client, tmp_path):
    first = client.dataprep.ingest(write_jsonl(tmp_path / "a.jsonl", pairs(100)), dataset="gen-append",
                                   task="text-generation", prompt_column="prompt", completion_column="completion")
    again = pairs(100)[:10] + pairs(40, prefix="story")
    again[0] = {**again[0], "completion": "a different headline"}  # a seen prompt: a duplicate, not a conflict
    result = client.dataprep.append(write_jsonl(tmp_path / "b.jsonl", again), dataset="gen-append")
    assert result.created and result.version.task == "text-generation"
    assert dict(result.dropped) == {"duplicate_existing": 10}
    assert result.version.rows_out == first.rows_out + 40


def test_columns_can_be_named_and_a_missing_one_is_invalid_argument(client, tmp_path):
    rows = [{"article": r["prompt"], "title": r["completion"]} for r in pairs(30)]
    path = write_jsonl(tmp_path / "named.jsonl", rows)
    with pytest.raises(grpc.RpcError) as err:
        client.dataprep.ingest(path, dataset="named", task="text-generation")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "missing column 'prompt', 'completion'" in err.value.details()
    version = client.dataprep.ingest(path, dataset="named", task="text-generation", prompt_column="article",
                                     completion_column="title")
    assert version.rows_out == 30
    with pytest.raises(grpc.RpcError) as err:
        client.dataprep.ingest(path, dataset="bad-task", task="translation")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "task" in err.value.details()
