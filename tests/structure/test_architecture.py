"""The structure stays true: import rules (import-linter contracts in pyproject.toml), lint, types,
and the size limits of hand-written code (no module over 350 lines, no function over 60)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "services" / "tuneloop"
GENERATED = ("v1", "core/migrations")
BIN = Path(sys.executable).parent


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root / "services")}
    return subprocess.run([str(BIN / "lint-imports"), "--config", str(root / "pyproject.toml"), "--no-cache"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120)


def test_import_rules_hold():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_import_rules_fail_on_a_forbidden_import(tmp_path):
    """The evaluator reaching into the trainer's internals breaks the independence contract."""
    shutil.copytree(PACKAGE, tmp_path / "services" / "tuneloop", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    core = tmp_path / "services" / "tuneloop" / "evaluator" / "core.py"
    core.write_text(core.read_text() + "\nfrom tuneloop.trainer.records import State  # noqa: E402,F401\n")
    result = _lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "A service package never imports another" in result.stdout and "BROKEN" in result.stdout
    assert "tuneloop.evaluator.core -> tuneloop.trainer.records" in result.stdout


def test_ruff_passes():
    result = subprocess.run([str(BIN / "ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def _hand_written() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py")
                  if not any(p.relative_to(PACKAGE).as_posix().startswith(g) for g in GENERATED))


def test_no_module_over_350_lines():
    long = {p.relative_to(ROOT).as_posix(): n for p in _hand_written()
            if (n := len(p.read_text().splitlines())) > 350}
    assert long == {}


def test_no_function_over_60_lines():
    long = {}
    for path in _hand_written():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > 60:
                    long[f"{path.relative_to(ROOT).as_posix()}:{node.name}"] = length
    assert long == {}


def test_mypy_passes_on_the_shared_cores():
    """errors, core, client and ml type-check (pyproject's [tool.mypy] names them)."""
    result = subprocess.run([str(BIN / "mypy")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
