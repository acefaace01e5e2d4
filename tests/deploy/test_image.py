"""The Dockerfile: hadolint passes, and the build has the shape we promise (multi-stage,
dependencies before code, non-root, `tuneloop serve`, both ports, a GPU build argument)."""

from __future__ import annotations

import re

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
    assert re.search(r'^ENTRYPOINT \["tuneloop"\]', final, re.M) and 'CMD ["serve", ' in final
    assert re.search(r"^EXPOSE 50051 9090$", final, re.M)
    build = text[:text.rindex("\nFROM")]
    assert build.index("COPY pyproject.toml") < build.index("COPY services"), "dependencies before code"
    assert "ARG TORCH_VARIANT=cpu" in build and "whl/${TORCH_VARIANT}" in build


def test_dockerignore_keeps_state_and_tools_out_of_the_context():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".tools", "tests"} <= ignored
