"""Fail an image build, loudly, when what is installed is not what the lock file says.

Run in the image's venv after installing a lock (`python scripts/check_lock.py LOCK [EXTRA]`):
every pin of the lock must be installed at exactly its version, nothing may be installed that
the lock does not pin (tuneloop itself and pip aside), and every requirement of tuneloop (with
EXTRA, e.g. `ml`) must be met by the lock, so a pyproject.toml changed without re-running
`scripts/lock.sh` stops the build here rather than shipping an image that breaks at run time.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")
_UNPINNED = {"pip", "setuptools", "tuneloop"}


def pins(lock_file: str) -> dict[str, str]:
    found = {}
    with open(lock_file, encoding="utf-8") as lines:
        for line in lines:
            if match := _PIN.match(line.strip()):
                found[canonicalize_name(match[1])] = match[2]
    return found


def problems(lock: dict[str, str], extras: set[str]) -> list[str]:
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    out = [f"{name}: the lock pins {want}, installed {installed.get(name, 'nothing')}"
           for name, want in sorted(lock.items()) if installed.get(name) != want]
    out += [f"{name} {version} is installed but not in the lock" for name, version in sorted(installed.items())
            if name not in lock and name not in _UNPINNED]
    for text in metadata.requires("tuneloop") or []:
        req = Requirement(text)
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in extras | {""}):
            continue
        name = canonicalize_name(req.name)
        if name == "tuneloop":
            continue
        if name not in lock:
            out.append(f"tuneloop needs {req} and the lock has no {name}: run bash scripts/lock.sh")
        elif not req.specifier.contains(Version(lock[name]), prereleases=True):
            out.append(f"tuneloop needs {req} and the lock pins {name}=={lock[name]}: run bash scripts/lock.sh")
    return out


def main(argv: list[str]) -> int:
    lock_file, extras = argv[0], set(argv[1:])
    found = problems(pins(lock_file), extras)
    for line in found:
        print(f"lock check: {line}", file=sys.stderr)
    if found:
        print(f"lock check: {len(found)} difference(s) between {lock_file} and the image", file=sys.stderr)
        return 1
    print(f"lock check: the image holds exactly {lock_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
