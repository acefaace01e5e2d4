"""The generated code matches the .proto files, and buf lint passes with the committed config."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import gen_protos  # noqa: E402


def test_generated_code_is_fresh():
    assert gen_protos.stale_files() == [], "run: python scripts/gen_protos.py"


def test_stale_check_notices_an_edit(tmp_path, monkeypatch):
    target = tmp_path / "v1"
    shutil.copytree(gen_protos.TARGET, target)
    (target / "dataprep_pb2.py").write_text("# edited\n")
    monkeypatch.setattr(gen_protos, "TARGET", target)
    assert gen_protos.stale_files() == ["dataprep_pb2.py"]


def test_buf_lint_passes():
    buf = shutil.which("buf")
    assert buf, "buf (PyPI buf-bin) must be installed"
    result = subprocess.run([buf, "lint"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
