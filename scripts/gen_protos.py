"""Generate the Python code for protos/tuneloop/v1 into services/tuneloop/v1 (importable as tuneloop.v1).

Run `python scripts/gen_protos.py` after editing a .proto; `--check` exits 1 when the
committed code is stale (tests/test_protos.py runs the same comparison).
"""

from __future__ import annotations

import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
TARGET = ROOT / "services" / "tuneloop" / "v1"
INIT = '"""Generated protobuf and gRPC code for protos/tuneloop/v1 (see scripts/gen_protos.py)."""\n'


def generate(out: Path) -> list[Path]:
    """Generate into `out` (a folder) and return the files written, by name."""
    import grpc_tools
    from grpc_tools import protoc

    include = Path(grpc_tools.__file__).parent / "_proto"
    sources = sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / "tuneloop" / "v1").glob("*.proto"))
    with tempfile.TemporaryDirectory() as tmp:
        args = ["protoc", f"-I{PROTOS}", f"-I{include}", f"--python_out={tmp}", f"--pyi_out={tmp}",
                f"--grpc_python_out={tmp}", *sources]
        if protoc.main(args) != 0:
            raise RuntimeError("protoc failed")
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for f in sorted((Path(tmp) / "tuneloop" / "v1").iterdir()):
            shutil.copy(f, out / f.name)
            written.append(out / f.name)
    (out / "__init__.py").write_text(INIT)
    return [*written, out / "__init__.py"]


def stale_files() -> list[str]:
    """Names of generated files that differ from (or are missing in) services/tuneloop/v1."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        wanted = {f.name for f in fresh}
        have = {f.name for f in TARGET.glob("*") if f.is_file() and f.suffix in (".py", ".pyi")}
        diff = [f.name for f in fresh if not (TARGET / f.name).exists()
                or not filecmp.cmp(f, TARGET / f.name, shallow=False)]
        return sorted(set(diff) | (have - wanted))


if __name__ == "__main__":
    if "--check" in sys.argv:
        stale = stale_files()
        print("stale: " + ", ".join(stale) if stale else "generated code is fresh")
        sys.exit(1 if stale else 0)
    for stale in TARGET.glob("*_pb2*.py*"):
        stale.unlink()
    for path in generate(TARGET):
        print(path.relative_to(ROOT))
