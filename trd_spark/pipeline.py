"""Runs stages in order, skipping those already complete for the same config and inputs."""

from __future__ import annotations

import importlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pyspark.sql import SparkSession

from trd_spark.config import Config
from trd_spark.io import Fs
from trd_spark.layout import EXPORT, STAGES, Layout, code_version
from trd_spark.logs import WARNINGS

log = logging.getLogger(__name__)

# Stage name -> module with ``run(spark, cfg)``; imported lazily so a stage's heavy imports
# are paid only when it runs.
STAGE_MODULES = {
    "pgs": "trd_spark.pgs.stage",
    "phenotypes": "trd_spark.phenotypes.stage",
    "cohort": "trd_spark.cohort.stage",
    "models": "trd_spark.models.stage",
    "report": "trd_spark.report.stage",
}
UPSTREAM = {
    "pgs": (),
    "phenotypes": (),
    "cohort": ("pgs", "phenotypes"),
    "models": ("cohort",),
    "report": ("models", "cohort", "phenotypes", "pgs"),
}


def stage_runner(stage: str) -> Callable[[SparkSession, Config], None]:
    return importlib.import_module(STAGE_MODULES[stage]).run


@dataclass
class StageResult:
    stage: str
    status: str  # "ran" | "skipped"
    seconds: float
    tables: dict[str, int]
    warnings: int = 0  # WARNING records logged by the stage (skipped: those of the run that published it)


def _up_to_date(fs: Fs, layout: Layout, cfg: Config, stage: str, rerun: set[str]) -> bool:
    if not layout.is_complete(fs, stage) or any(u in rerun for u in UPSTREAM[stage]):
        return False
    manifest = layout.manifest(fs, stage) or {}
    if manifest.get("config_hash") != cfg.fingerprint():
        return False
    if manifest.get("code_version") != code_version():
        log.info("  %s: code version changed (%s -> %s)", stage, manifest.get("code_version"), code_version())
        return False
    # The report stage also publishes the export folder.
    if stage == "report" and not layout.is_complete(fs, EXPORT):
        return False
    # Inputs recorded by the stage must be unchanged (size + modification time).
    for name, old in (manifest.get("inputs") or {}).items():
        if fs.fingerprint(old["path"]) != old:
            log.info("  %s: input %s changed", stage, name)
            return False
    return True


def run_stages(spark: SparkSession, cfg: Config, stages: list[str] | None = None, *, force: bool = False) -> list[StageResult]:
    """Run ``stages`` (default: all, in order). A stage whose outputs are complete for this
    config and unchanged inputs is skipped unless ``force``; a rerun stage forces its
    downstream stages to rerun too."""
    fs = Fs(spark)
    layout = Layout.of(cfg)
    todo = [s for s in STAGES if stages is None or s in stages]
    rerun: set[str] = set()
    results = []
    for i, stage in enumerate(todo, 1):
        prefix = f"[{i}/{len(todo)}] {stage}"
        if not force and _up_to_date(fs, layout, cfg, stage, rerun):
            log.info("%s: up to date, skipped (use --force to rerun)", prefix)
            manifest = layout.manifest(fs, stage) or {}
            results.append(StageResult(stage, "skipped", 0.0, manifest.get("tables", {}),
                                       (manifest.get("notes") or {}).get("warnings") or 0))
            continue
        log.info("%s: running", prefix)
        t0 = time.time()
        with WARNINGS.stage_scope(stage):
            stage_runner(stage)(spark, cfg)
        seconds = time.time() - t0
        manifest = layout.manifest(fs, stage) or {}
        log.info("%s: done in %.1fs -> %s", prefix, seconds, layout.stage_dir(stage))
        rerun.add(stage)
        results.append(StageResult(stage, "ran", seconds, manifest.get("tables", {}), WARNINGS.count(stage)))
    return results


def ensure_toy_data(cfg: Config) -> None:
    """Generate the toy data the config points at when it is absent (toy configs only)."""
    if cfg.toy_data is None:
        return
    truth = Path(cfg.toy_data.dir) / "truth.json"
    if truth.exists():
        return
    from trd_spark.toydata import generate_toy_data

    toy = cfg.toy_data
    per_release = toy.releases.get(cfg.release)
    persons = per_release.persons if per_release and per_release.persons else toy.persons
    seed = per_release.seed if per_release and per_release.seed is not None else toy.seed
    log.info("toy data not found: generating %d persons x %d variants (seed %d) in %s",
             persons, toy.variants, seed, toy.dir)
    generate_toy_data(toy.dir, persons=persons, variants=toy.variants, seed=seed)


def load_truth(cfg: Config) -> dict | None:
    if cfg.toy_data is None:
        return None
    path = Path(cfg.toy_data.dir) / "truth.json"
    return json.loads(path.read_text()) if path.exists() else None
