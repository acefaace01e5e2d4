"""The two-node, no-shared-disk cluster scenarios (netns_scenarios.py), run by pytest inside a
network namespace of their own (`unshare --net --mount`, only loopback up): there a Ray
cluster may span several nodes on 127.0.0.1 without touching the host's network. Needs root
(CI runs as root), as `unshare` and the worker node's tmpfs mounts do.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.mark.timeout(2400)
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare")
def test_training_on_two_nodes_without_a_shared_disk(tmp_path):
    script = (f"ip link set lo up && exec {sys.executable} -m pytest -q -p no:cacheprovider -x -rA "
              f"--basetemp={tmp_path / 'inner'} --timeout=1500 {HERE / 'netns_scenarios.py'}")
    env = {**os.environ, "TUNELOOP_IN_NETNS": "1", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    proc = subprocess.run(["unshare", "--net", "--mount", "--fork", "bash", "-c", script], env=env, cwd=HERE.parent.parent,
                          capture_output=True, text=True, timeout=2300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-12000:]
    assert "4 passed" in output, output[-4000:]
