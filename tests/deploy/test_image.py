"""The Dockerfile: hadolint passes, and the build has the shape we promise (multi-stage,
dependencies from a hashed lock before code, the lock checked, non-root, an init process,
`tuneloop serve`, both ports, one LOCK argument for the service, CPU and CUDA images), and the
locks agree with pyproject.toml and Chart.yaml on Ray. scripts/build-images.sh builds and runs
the images for real (docs/images.md); CI has no Docker engine."""

from __future__ import annotations

import json
import re
import sys
import tomllib

import yaml
from deploytools import ROOT, run, tool


def test_hadolint_passes():
    result = run(tool("hadolint"), str(ROOT / "Dockerfile"), check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_multi_stage_non_root_and_serves_a_service():
    text = (ROOT / "Dockerfile").read_text()
    instructions = [line.split()[0] for line in text.splitlines() if line and not line.startswith(("#", " "))]
    assert instructions.count("FROM") == 2
    final = text[text.rindex("\nFROM"):]
    assert "COPY --from=build /opt/venv /opt/venv" in final
    user = re.search(r"^USER (\S+)", final, re.M).group(1)
    assert not user.startswith(("root", "0")), user
    assert re.search(r'^ENTRYPOINT \["dumb-init", "--", "tuneloop"\]', final, re.M) and 'CMD ["serve", ' in final
    assert re.search(r"^EXPOSE 50051 9090$", final, re.M)
    build = text[:text.rindex("\nFROM")]
    assert build.index("COPY requirements") < build.index("COPY services"), "dependencies before code"
    assert "ARG LOCK=service" in build and "--require-hashes" in build and 'requirements/${LOCK}.txt' in build
    assert "check_lock.py" in build and "/etc/profile.d/" in final


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / f"{lock}.txt").read_text()
    return {m[1].lower(): m[2] for m in re.finditer(r"^([A-Za-z0-9._-]+)==(\S+) \\$", text, re.M)}


def test_every_lock_pins_with_hashes_and_only_the_ml_locks_hold_torch_and_ray():
    for lock in ("service", "ml-cpu", "ml-cuda"):
        text = (ROOT / "requirements" / f"{lock}.txt").read_text()
        found = pins(lock)
        assert len(found) > 30 and text.count("==") == len(found)
        assert text.count("--hash=sha256:") >= len(found), "every pin has its hash"
        assert {"dumb-init", "grpcio", "sqlalchemy"} <= set(found)
        assert ("torch" in found) == ("ray" in found) == lock.startswith("ml-"), lock
    assert pins("ml-cpu")["torch"].endswith("+cpu") and "+" not in pins("ml-cuda")["torch"]
    assert any(name.startswith("nvidia-") for name in pins("ml-cuda"))
    assert not any(name.startswith("nvidia-") for name in pins("ml-cpu"))


def test_ray_has_one_version_for_image_chart_and_client():
    chart = yaml.safe_load((ROOT / "helm" / "tuneloop" / "Chart.yaml").read_text())
    version = chart["annotations"]["tuneloop.dev/ray-version"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert f"ray[train,tune,default]=={version}" in project["optional-dependencies"]["ml"]
    assert pins("ml-cpu")["ray"] == pins("ml-cuda")["ray"] == version
    import ray

    assert ray.__version__ == version, "the client (this venv) runs the chart's Ray"


def test_this_venv_runs_the_ml_image_lock():
    """scripts/setup-venv.sh installs under the ml lock's pins (unconstrained, pip's resolver spends
    over 20 minutes backtracking): every package the lock pins is installed here at the lock's version."""
    from importlib import metadata

    from packaging.utils import canonicalize_name

    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    locked = {canonicalize_name(name): version for name, version in pins("ml-cpu").items()}
    differ = {name: (want, installed[name]) for name, want in locked.items() if installed.get(name, want) != want}
    assert not differ, differ
    assert {"ray", "torch", "botocore", "s3fs"} <= set(locked) & set(installed)


def test_the_build_refuses_an_image_that_is_not_its_lock(tmp_path):
    """scripts/check_lock.py, as the image build runs it, against this venv: a lock that pins a
    version not installed, or misses what is installed, fails loudly, naming each difference."""
    script = str(ROOT / "scripts" / "check_lock.py")
    listing = "import json; from importlib import metadata as m; print(json.dumps({d.metadata['Name'].lower(): " \
              "d.version for d in m.distributions()}))"
    installed = json.loads(run(sys.executable, "-c", listing).stdout)  # as the script sees them
    lock = tmp_path / "lock.txt"
    lock.write_text("".join(f"{n}=={v} \\\n    --hash=sha256:00\n" for n, v in installed.items() if n != "tuneloop"))
    ok = run(sys.executable, script, str(lock), "ml", "test", check=False)
    assert ok.returncode == 0, ok.stderr
    lock.write_text(lock.read_text().replace(f"grpcio=={installed['grpcio']}", "grpcio==0.0.1")
                    .replace(f"polars=={installed['polars']} \\\n", "x \\\n"))
    bad = run(sys.executable, script, str(lock), "ml", "test", check=False)
    assert bad.returncode == 1
    assert f"grpcio: the lock pins 0.0.1, installed {installed['grpcio']}" in bad.stderr
    assert f"polars {installed['polars']} is installed but not in the lock" in bad.stderr
    assert "tuneloop needs polars" in bad.stderr and "the lock has no polars" in bad.stderr


def test_dockerignore_keeps_state_and_tools_out_of_the_context():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".tools", "tests"} <= ignored
