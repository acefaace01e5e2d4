"""`tuneloop migrate` and `tuneloop health`, as the chart's hook Job and `helm test` run them
(issue 14): a service told not to migrate (TUNELOOP_DB_MIGRATE=false, as on Kubernetes)
refuses a database whose schema is behind, naming the fix; the migration brings it current;
`health` reports every service and exits 1 when one does not answer SERVING."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import child_env, free_port
from tuneloop.core.db import open_database

TUNELOOP = str(Path(sys.executable).parent / "tuneloop")


def test_a_service_that_does_not_migrate_refuses_an_old_schema_until_migrate_runs(tmp_path):
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    with pytest.raises(RuntimeError, match=r"schema is at nothing and this tuneloop needs \w+: run `tuneloop migrate`"):
        open_database(url, migrate_schema=False)
    done = subprocess.run([TUNELOOP, "migrate", "--database-url", url, "--json"], capture_output=True, text=True,
                          env=child_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    revision = json.loads(done.stdout)["revision"]
    again = subprocess.run([TUNELOOP, "migrate", "--database-url", url, "--json"], capture_output=True, text=True,
                           env=child_env(), timeout=120)
    assert json.loads(again.stdout)["revision"] == revision, "a second run finds nothing to do"
    open_database(url, migrate_schema=False).dispose()  # now it starts


def test_health_reports_every_service_serving_and_exits_1_when_one_is_not(server):
    env = child_env(TUNELOOP_ADDRESS=f"127.0.0.1:{server.port}")
    ok = subprocess.run([TUNELOOP, "health", "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    report = json.loads(ok.stdout)
    assert set(report) == {"dataprep", "registry", "trainer", "evaluator", "controller", "serving"}
    assert {row["status"] for row in report.values()} == {"SERVING"}
    env["TUNELOOP_CONTROLLER_ADDRESS"] = f"127.0.0.1:{free_port()}"  # nobody there
    bad = subprocess.run([TUNELOOP, "health", "--json", "--timeout", "2"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert report["controller"]["status"].startswith(("UNAVAILABLE", "DEADLINE_EXCEEDED"))
    assert report["registry"]["status"] == "SERVING"


@pytest.mark.parametrize("url, code, says", [
    ("not a url", 2, "error: the database URL: Could not parse SQLAlchemy URL"),
    ("postgresql+psycopg://nobody@127.0.0.1:1/x", 1, "error: cannot reach postgresql+psycopg://nobody@127.0.0.1:1/x"),
])
def test_migrate_says_what_is_wrong_with_the_database_in_one_line(url, code, says):
    done = subprocess.run([TUNELOOP, "migrate", "--database-url", url], capture_output=True, text=True,
                          env=child_env(), timeout=120)
    assert done.returncode == code
    assert done.stderr.startswith(says) and "Traceback" not in done.stderr, done.stderr
