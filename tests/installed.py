"""The package as a user installs it: built as a wheel, installed into a fresh venv, and the
installed console script run on a small toy config (shared by test_cli and test_cluster
through the session fixtures in conftest.py: one run serves as the wheel-install check and as
the cluster tests' local-mode reference)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
# Small toy data: the default-size run is covered in-process by test_pipeline_e2e.
PERSONS, VARIANTS = 400, 400
# Three of the toy panel's ten scores (a protective, a risk and a null one, three domains) are
# scored and modelled in the installed run and in test_cluster's run of the same data: every
# table and code path of the ten, at under a third of the fits (models) and of the report's
# cells (its suppression audit); the ten-score panel runs in test_pipeline_e2e's toy releases.
PANEL_SCORES = ("PGS900001", "PGS900003", "PGS900005")


@dataclass(frozen=True)
class Installed:
    venv: Path
    site_dir: Path
    work: Path  # a working directory outside the checkout


@dataclass(frozen=True)
class InstalledRun:
    """`trd-spark run --config conf/small.yaml` of the installed script, from ``work``."""

    installed: Installed
    result: subprocess.CompletedProcess
    toy: Path  # work/out/toy: data/ and results/

    @property
    def data_dir(self) -> Path:
        return self.toy / "data"

    @property
    def release(self) -> Path:
        return self.toy / "results" / "toy-r1"


def installed_env() -> dict[str, str]:
    """The environment without PYTHONPATH: the installed wheel, not a source tree, is imported."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def build_and_install(tmp: Path) -> Installed:
    """The package built as a wheel and installed with --no-deps into a fresh venv that sees
    the test venv's dependencies through a .pth file (no network). The wheel is built from a
    copy of the sources (the build writes build/)."""
    src = tmp / "src"
    shutil.copytree(REPO / "trd_spark", src / "trd_spark", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "conf", src / "conf")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    run = functools.partial(subprocess.run, check=True, capture_output=True, text=True, timeout=300)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp / "dist"),
         str(src)])
    (wheel,) = (tmp / "dist").glob("trd_spark-*.whl")
    venv = tmp / "venv"
    run(["python3.11", "-m", "venv", "--without-pip", str(venv)])  # the test venv's pip installs into it
    site_dir = Path(run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
                    .stdout.strip())
    (site_dir / "test_venv_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps", "--no-index",
         "-q", str(wheel)])
    work = tmp / "work"
    work.mkdir()
    return Installed(venv, site_dir, work)


def small_panel(raw: dict, panel: Path, conf_dir: Path) -> None:
    """Restrict the toy config ``raw`` (a dict of conf/toy.yaml, its scoring-files glob as the
    file has it, paths possibly rewritten) to PANEL_SCORES, in place: ``panel`` (a toy trait
    panel) filtered to them is written to ``conf_dir``/trait_panel_small.yaml, and its
    scoring files are theirs only, so files and panel agree (no preflight warning)."""
    (pattern,) = raw["pgs"]["scoring_files"]
    raw["pgs"]["scoring_files"] = [str(Path(pattern).parent / f"{pgs_id}.txt.gz") for pgs_id in PANEL_SCORES]
    entries = yaml.safe_load(panel.read_text())
    entries["scores"] = [e for e in entries["scores"] if e["pgs_id"] in PANEL_SCORES]
    assert [e["pgs_id"] for e in entries["scores"]] == list(PANEL_SCORES), entries["scores"]
    path = conf_dir / "trait_panel_small.yaml"
    path.write_text(yaml.safe_dump(entries, sort_keys=False))
    raw["pgs"]["trait_panel"] = str(path)


def run_installed_toy(installed: Installed) -> InstalledRun:
    """The shipped toy config with PERSONS x VARIANTS toy data and the PANEL_SCORES of its
    trait panel, run by the installed console script from the work directory (``../out`` of
    conf/small.yaml resolves to work/out)."""
    shipped = installed.site_dir / "trd_spark" / "conf"
    raw = yaml.safe_load((shipped / "toy.yaml").read_text())
    raw["toy_data"].update(persons=PERSONS, variants=VARIANTS)
    raw["phenotypes"]["concept_sets"] = str(shipped / "concept_sets.yaml")
    (installed.work / "conf").mkdir()
    small_panel(raw, shipped / "trait_panel_toy.yaml", installed.work / "conf")
    (installed.work / "conf" / "small.yaml").write_text(yaml.safe_dump(raw))
    r = subprocess.run([str(installed.venv / "bin" / "trd-spark"), "run", "--config", "conf/small.yaml"],
                       cwd=installed.work, capture_output=True, text=True, timeout=3000, env=installed_env())
    return InstalledRun(installed, r, installed.work / "out" / "toy")
