#!/usr/bin/env python
"""The trd_spark package that scripts/submit.sh ships with a job (--py-files), made once per source state.

Usage::

    python scripts/package.py build REPO zip|wheel TARGET  # makes TARGET unless it exists

submit.sh names the package ``build/pkg-<digest>/trd_spark.zip`` (or the wheel's own name in that
folder), the digest taken over the path and bytes of every file under ``REPO/trd_spark`` (no
``__pycache__``, no ``.pyc``) and of ``pyproject.toml``. A TARGET that exists
was made from the same sources and is left as it is; a new one is written in a temporary folder
beside ``build/pkg-*`` and renamed into place. So a package is never rewritten under a running job:
its driver imports ``trd_spark`` modules from that path for the whole run (zipimport reopens the file
at each import, keeping the directory it read first), and its executors fetch it when they start.
The zip's entries carry a fixed date (1980-01-01), so the same sources give the same bytes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path


def sources(repo: Path) -> Iterator[Path]:
    """Every file of the package, in a fixed order (bytecode caches left out)."""
    for p in sorted((repo / "trd_spark").rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc":
            yield p


def build(repo: Path, kind: str, target: Path) -> None:
    """Make ``target`` (a zip of ``trd_spark/`` or pip's wheel) unless it exists; atomic rename."""
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent.parent))
    try:
        if kind == "zip":
            with zipfile.ZipFile(tmp / target.name, "w", zipfile.ZIP_DEFLATED) as z:
                for p in sources(repo):
                    info = zipfile.ZipInfo(p.relative_to(repo).as_posix(), (1980, 1, 1, 0, 0, 0))
                    info.external_attr, info.compress_type = 0o644 << 16, zipfile.ZIP_DEFLATED
                    z.writestr(info, p.read_bytes())
        else:
            subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                            "-w", str(tmp), str(repo)], check=True)
        os.replace(tmp / target.name, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[0] == "build" and argv[2] in ("zip", "wheel"):
        build(Path(argv[1]), argv[2], Path(argv[3]))
        return 0
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
