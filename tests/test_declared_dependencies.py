"""Every package the pipeline imports is a declared dependency of its wheel (pyproject's
``[project] dependencies``), not only present in the test venv.

``pip install trd_spark-*.whl`` installs what the wheel declares and what those declare in
turn; the wheel-install tests (tests/installed.py) install it with ``--no-deps`` over the test
venv, so they cannot see a missing declaration. A package we import that arrives only through
another one (``httpx`` and ``tenacity`` through pgscatalog-core, ``pyspark`` through hail) goes
missing, as an ImportError at run time, the day that one stops requiring it. Read statically
(``ast``, every import anywhere in a module, function-local and ``TYPE_CHECKING`` ones too),
each top-level module mapped to the distributions that provide it in this venv
(``importlib.metadata.packages_distributions``). Costs milliseconds: no Spark.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "trd_spark"

# Imports that need no distribution, each with why.
NOT_DISTRIBUTIONS = {
    # Python 3.14's standard library (``compression.zstd``), tried first in bgen_reader; on 3.11
    # it is absent and ``backports.zstd`` (declared) is imported instead.
    "compression",
}


def _normalise(name: str) -> str:
    """A distribution name as PEP 503 compares them (``Backports.ZSTD`` == ``backports-zstd``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions(pyproject: Path) -> set[str]:
    """The distributions ``[project] dependencies`` names (normalised; markers and versions dropped)."""
    with open(pyproject, "rb") as f:
        deps = tomllib.load(f)["project"]["dependencies"]
    return {_normalise(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", d).group(0)) for d in deps}  # type: ignore[union-attr]


def imported_top_levels(package: Path) -> dict[str, list[str]]:
    """Top-level module -> ``path:line`` of its imports in ``package`` (absolute imports only:
    a relative one is the package's own), the standard library and the package left out."""
    out: dict[str, list[str]] = {}
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != package.name:
                    out.setdefault(top, []).append(f"{path.relative_to(package.parent)}:{node.lineno}")
    return out


@functools.cache
def _providers() -> dict[str, list[str]]:
    """Top-level module -> the installed distributions providing it (one scan of the venv)."""
    return importlib.metadata.packages_distributions()


def undeclared_imports(package: Path, pyproject: Path) -> dict[str, str]:
    """Imported top-level module -> what is wrong: no installed distribution provides it, or
    none of those that do is declared."""
    declared = declared_distributions(pyproject)
    providers = _providers()
    problems = {}
    for top, where in sorted(imported_top_levels(package).items()):
        if top in NOT_DISTRIBUTIONS:
            continue
        dists = sorted({_normalise(d) for d in providers.get(top, [])})
        if not dists:
            problems[top] = f"imported at {where[0]}, provided by no installed distribution"
        elif not set(dists) & declared:
            problems[top] = f"imported at {where[0]}, from {' / '.join(dists)}, which pyproject does not declare"
    return problems


def test_every_imported_package_is_a_declared_dependency():
    assert undeclared_imports(PACKAGE, ROOT / "pyproject.toml") == {}


def test_the_check_finds_an_import_that_arrives_only_through_another_package(tmp_path):
    """The check itself: tenacity (installed here, through pgscatalog-core) imported by a module
    of a package whose pyproject declares pgscatalog-core alone is reported with its line;
    declared, it is not; an import of the standard library never is."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "m.py").write_text("import json\n\n\ndef f():\n    import tenacity\n    return tenacity, json\n")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\ndependencies = ["pgscatalog-core>=1.1"]\n')
    assert list(undeclared_imports(package, pyproject)) == ["tenacity"]
    assert "m.py:5" in undeclared_imports(package, pyproject)["tenacity"]
    pyproject.write_text('[project]\ndependencies = ["pgscatalog-core>=1.1", "Tenacity>=9"]\n')
    assert undeclared_imports(package, pyproject) == {}
