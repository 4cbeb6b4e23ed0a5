"""Package boundaries as a DAG: no import runs against the stage order (issue 15 item 2).

Layers, lowest first: the shared modules (config, errors, io, layout, logs, schemas, gates,
vocabulary, stages, session, releases, provenance and the package itself), then the stage
packages in run order phenotypes < pgs < cohort < models < report, then the runners (cli,
pipeline, and preflight: the checks `run` makes before Spark starts, which use each stage's own
input readers, e.g. pgs.genotypes' VCF checks), which may import anything. A module may import its own layer or a lower one: a
stage package may use an earlier stage's code, never a later one's, and a shared module no
stage package. ``toydata`` is the toy-data generator: it may import anything it needs, but
only the runners may import it (pipeline code never depends on the toy generator).

Imports are read with ``ast`` from every module, function-local and ``TYPE_CHECKING``
imports included, relative imports resolved.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "trd_spark"

SHARED = {"config", "errors", "io", "layout", "logs", "schemas", "gates", "vocabulary", "stages", "session", "compressed",
          "releases", "provenance", "worker_daemon", ""}
STAGE_ORDER = ("phenotypes", "pgs", "cohort", "models", "report")
RUNNERS = {"cli", "pipeline", "preflight"}
GENERATOR = "toydata"


def module_name(path: Path, root: Path) -> str:
    """Dotted module name of ``path`` inside the package directory ``root``."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import of the package ``root`` in ``path``, anywhere in it.

    ``from X import Y`` yields ``X.Y`` as well as ``X`` (Y may be a submodule, e.g.
    ``from trd_spark.pgs import engine``); a relative import is resolved against the module.
    """
    package = root.name
    module = module_name(path, root)
    is_pkg = path.name == "__init__.py"
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            out.append((node.lineno, target))
            out += [(node.lineno, f"{target}.{a.name}") for a in node.names if a.name != "*"]
    return [(line, m) for line, m in out if m == package or m.startswith(package + ".")]


def unit_of(module: str) -> str:
    """The top-level unit under the package: ``trd_spark.pgs.stage`` -> ``pgs``; the package -> ''."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def rank(unit: str) -> float:
    """Layer of a unit: shared 0, stages 1..5 in run order, runners above all."""
    if unit in STAGE_ORDER:
        return 1 + STAGE_ORDER.index(unit)
    if unit in RUNNERS:
        return len(STAGE_ORDER) + 1
    return 0


def violations(root: Path) -> list[str]:
    """One message per import that runs against the layer order, naming module, line and import."""
    known = {p.stem for p in root.iterdir() if p.suffix == ".py"} | {p.name for p in root.iterdir() if p.is_dir()}
    found: dict[tuple[str, int, str], str] = {}  # (module, line, imported unit) -> message
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        src = unit_of(module)
        if src == GENERATOR:
            continue
        for line, target in imported_modules(path, root):
            dst = unit_of(target)
            if dst == src or dst not in known or (module, line, dst) in found:
                continue  # own unit, a name that is no module (``from trd_spark import __version__``), or named
            if dst == GENERATOR and src not in RUNNERS:
                found[(module, line, dst)] = (f"{module} (line {line}) imports {target}: only the runners may "
                                              "import the toy generator")
            elif dst != GENERATOR and rank(dst) > rank(src):
                found[(module, line, dst)] = (f"{module} (line {line}) imports {target}: against the stage order "
                                              f"(shared < {' < '.join(STAGE_ORDER)} < runners)")
    return sorted(found.values())


def test_every_unit_has_a_layer():
    """A new top-level module or package must be placed in a layer here before it is used."""
    units = {p.stem for p in PACKAGE_DIR.iterdir() if p.suffix == ".py" and p.stem != "__init__"}
    units |= {p.name for p in PACKAGE_DIR.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert units - (SHARED | set(STAGE_ORDER) | RUNNERS | {GENERATOR}) == set()


def test_imports_follow_the_stage_order():
    assert violations(PACKAGE_DIR) == []


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "trd_spark"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for d in [root, *[p for p in root.rglob("*") if p.is_dir()]]:
        (d / "__init__.py").touch()
    return root


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param({"phenotypes/flow.py": "from trd_spark.models.logistic import fit\n", "models/logistic.py": ""},
                     ["trd_spark.phenotypes.flow (line 1) imports trd_spark.models.logistic"], id="stage-imports-later"),
        pytest.param({"pgs/standardise.py": "def f():\n    from trd_spark.cohort import frame\n", "cohort/frame.py": ""},
                     ["trd_spark.pgs.standardise (line 2) imports trd_spark.cohort"], id="function-local"),
        pytest.param({"config.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                   "    from trd_spark.report.stage import x\n", "report/stage.py": ""},
                     ["trd_spark.config (line 3) imports trd_spark.report.stage"], id="shared-imports-stage"),
        pytest.param({"models/stage.py": "from ..report import html\n", "report/html.py": ""},
                     ["trd_spark.models.stage (line 1) imports trd_spark.report"], id="relative"),
        pytest.param({"vocabulary.py": "from trd_spark import cohort\n", "cohort/frame.py": ""},
                     ["trd_spark.vocabulary (line 1) imports trd_spark.cohort"], id="from-package-import-subpackage"),
        pytest.param({"cohort/stage.py": "import trd_spark.toydata.omop\n", "toydata/omop.py": ""},
                     ["trd_spark.cohort.stage (line 1) imports trd_spark.toydata.omop: only the runners"],
                     id="stage-imports-generator"),
    ],
)
def test_checker_names_a_planted_violation(tmp_path, files, expected):
    found = violations(_package(tmp_path, files))
    assert len(found) == len(expected) and all(f.startswith(e) for f, e in zip(found, expected)), found


def test_checker_allows_the_order(tmp_path):
    """Earlier stages, shared modules, own package, runners and the generator importing anything."""
    root = _package(tmp_path, {
        "report/stage.py": "from trd_spark.models import km\nfrom trd_spark.vocabulary import Status\n"
                           "from . import html\n",
        "report/html.py": "",
        "models/km.py": "from trd_spark.cohort.frame import x\nfrom trd_spark.config import Config\n",
        "cohort/frame.py": "import trd_spark.pgs.scoring\n",
        "pgs/scoring.py": "from trd_spark.phenotypes import persons\n",
        "phenotypes/persons.py": "from trd_spark import errors\n",
        "pipeline.py": "from trd_spark.toydata import generate\nfrom trd_spark.report import stage\n",
        "toydata/generate.py": "from trd_spark.report import stage\n",
        "vocabulary.py": "", "config.py": "from trd_spark.vocabulary import Contrast\n", "errors.py": "",
    })
    assert violations(root) == []
