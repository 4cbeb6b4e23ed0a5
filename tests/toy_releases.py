"""Two toy releases run from the CLI as a scheduler would (conftest's session fixture
``toy_releases``): toy-r1 small enough that suppression and the export attacker have hidden
groups to work on, toy-r2 the default toy size, so that test_pipeline_e2e checks it as the
end-to-end run (planted effects, truth counts, reruns), test_privacy_export checks both
releases' exports and their comparison, and test_fault_resume takes toy-r1 as the uninterrupted
run its signalled and resumed runs must equal. One run of each release serves the three modules:
each whole-pipeline run costs minutes and the suite has a time budget.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import NamedTuple

import yaml

from trd_spark.cli import main
from trd_spark.config import DEFAULT_CONFIG

REPO = Path(__file__).resolve().parent.parent
# Persons per release (toy releases are prefix-stable: toy-r1's persons are toy-r2's first 600).
TOY_RELEASES = {"toy-r1": 600, "toy-r2": 3000}


class ToyReleases(NamedTuple):
    tmp: Path  # inputs/{release}/, results/{release}/, results/compare/
    config: Path
    codes: list[int]  # exit codes: run x3 (toy-r2, toy-r1, nothing to do), compare-releases
    logs: str  # every record the pipeline logged (DEBUG up) plus what it printed
    stdout: str


def run_toy_releases(tmp: Path) -> ToyReleases:
    """The embedded toy config with two releases under ``tmp`` (default variants and seed),
    run with ``--release latest`` three times, then ``releases`` and ``compare-releases``."""
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw = yaml.safe_load(yaml.safe_dump(raw).replace("../out/toy/data", str(tmp / "inputs" / "{release}"))
                         .replace("../out/toy", str(tmp)))
    raw["phenotypes"]["concept_sets"] = str(REPO / "conf" / "concept_sets.yaml")
    raw["pgs"]["trait_panel"] = str(REPO / "conf" / "trait_panel_toy.yaml")
    raw["toy_data"]["releases"] = {r: {"persons": n, "seed": raw["toy_data"]["seed"]} for r, n in TOY_RELEASES.items()}
    raw["releases"] = {"input_root": str(tmp / "inputs")}
    config = tmp / "toy_releases.yaml"
    config.write_text(yaml.safe_dump(raw))

    # Capture everything the pipeline logs or prints.
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    codes = []
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            for _ in range(3):  # newest first (toy-r2), then toy-r1, then nothing to do
                codes.append(main(["run", "--config", str(config), "--release", "latest"]))
            main(["releases", "--config", str(config)])
            codes.append(main(["compare-releases", "toy-r1", "toy-r2", "--config", str(config)]))
    finally:
        root.removeHandler(handler)
    return ToyReleases(tmp, config, codes, buf.getvalue() + out.getvalue() + err.getvalue(), out.getvalue())
