"""The local Ray start survives a start whose raylet never registers.

CI saw it (the headline demo's first job failed with Ray's "The current node timed out during
startup", and the controller's next run, on a fresh start, trained): Ray waits 30 s for the
raylet and then gives up, leaving what it had started running until the process exits. Nothing
here can make a real raylet hang on demand, so the failed start is staged: a first `_init` that
starts a child process (standing for the stranded GCS) and raises Ray's exception. The second
start is Ray's own, in a fresh interpreter, so that this process's Ray is left alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from tuneloop.trainer import raytrain

STAGED = textwrap.dedent("""
    import logging, subprocess, sys
    import psutil, ray
    from tuneloop.trainer import raytrain

    logging.basicConfig(level=logging.WARNING, stream=sys.stdout)
    real, calls, stranded = raytrain._init, [], []

    def init(address):
        calls.append(address)
        if len(calls) == 1:
            stranded.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            raise Exception("The current node timed out during startup. This could happen because some of "
                            "the raylet failed to startup or the GCS has become overloaded.")
        real(address)

    raytrain._init = init
    raytrain.ensure_ray(timeout=120)
    assert ray.is_initialized() and len(calls) == 2, calls
    assert ray.cluster_resources().get("CPU", 0) >= 1
    assert stranded[0].poll() is not None, "the failed start's process still runs"
    print("started on the second try")
""")


@pytest.mark.timeout(180)
def test_a_start_whose_raylet_never_registered_is_stopped_and_started_again():
    proc = subprocess.run([sys.executable, "-c", STAGED], capture_output=True, text=True, timeout=150,
                          env={**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "the local Ray did not start (The current node timed out during startup" in proc.stdout
    assert "started on the second try" in proc.stdout


def test_other_start_errors_are_not_retried(monkeypatch):
    """Only the raylet timeout is retried: any other failure (a bad setting, a full disk) reaches
    the job at once, and nothing is stopped."""
    calls: list[str | None] = []

    def broken(address):
        calls.append(address)
        raise ValueError("object_store_memory is larger than the machine")

    monkeypatch.setattr(raytrain, "_init", broken)
    monkeypatch.setattr(raytrain, "_stop_new_children", lambda before: pytest.fail("stopped processes"))
    with pytest.raises(ValueError, match="object_store_memory"):
        raytrain._start_local(deadline=time.monotonic() + 30, give_up=lambda: False)
    assert calls == [None]
