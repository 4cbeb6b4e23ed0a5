"""Driver SIGKILL mid-stage, then rerun: the run resumes after the last complete stage.

A `trd-spark run` (subprocess, own process group: Python driver + its Spark JVM) on a tiny
toy dataset is killed with SIGKILL once the phenotypes stage has opened its in-progress
directory. The rerun (in-process, shared session) must: take over the lock the dead run left
(stale: same host, dead pid), skip the complete pgs stage, leave the killed run's in-progress
directory unused (it never counts as complete), and produce the same tables as an
uninterrupted run. Equality is of CONTENT (every table read with pandas, rows sorted):
byte-identity does not hold, since Parquet part-file names and write metadata differ per run.
Stages pgs, phenotypes, cohort (models/report add time, not resume logic).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_bad_inputs import write_config

from trd_spark.cli import main
from trd_spark.layout import code_version
from trd_spark.schemas import TABLES_BY_STAGE
from trd_spark.toydata import generate_toy_data

pytestmark = pytest.mark.slow

STAGES = ["pgs", "phenotypes", "cohort"]


def _tables(release: Path) -> dict[str, pd.DataFrame]:
    out = {}
    for stage in STAGES:
        for schema in TABLES_BY_STAGE.get(stage, []):
            df = pd.read_parquet(release / stage / f"{schema.name}.parquet")
            cols = sorted(df.columns)
            out[f"{stage}/{schema.name}"] = df[cols].sort_values(cols, kind="mergesort").reset_index(drop=True)
    return out


def test_sigkill_in_phenotypes_then_resume(tmp_path, capsys):
    toy = tmp_path / "toy"
    generate_toy_data(str(toy), persons=60, variants=200, seed=13)
    killed_dir, ref_dir = tmp_path / "killed", tmp_path / "reference"
    killed_dir.mkdir()
    ref_dir.mkdir()
    config = write_config(killed_dir, toy)
    release = Path(yaml.safe_load(config.read_text())["output_root"]) / "toy-r1"

    log_path = tmp_path / "killed_run.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "trd_spark.cli", "run", "--stages", *STAGES, "--config", str(config)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.time() + 300
        while not list(release.glob(".phenotypes.inprogress-*")):
            assert proc.poll() is None, log_path.read_text()[-3000:]
            assert time.time() < deadline, "phenotypes never started: " + log_path.read_text()[-3000:]
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its JVM
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert (release / "pgs" / "_SUCCESS").exists()
    assert not (release / "phenotypes").exists()
    leftovers = list(release.glob(".phenotypes.inprogress-*"))
    assert leftovers and not any((d / "_SUCCESS").exists() for d in leftovers)
    held = json.loads((release / ".lock").read_text())
    assert held["pid"] == proc.pid  # the killed run's lock is still there

    # The killed subprocess computed the code version afresh: so must this process (it is
    # cached per process; a checkout changed in between would rightly rerun every stage).
    code_version.cache_clear()
    capsys.readouterr()
    assert main(["run", "--stages", *STAGES, "--config", str(config)]) == 0
    err = capsys.readouterr().err
    assert "taking over a stale lock" in err, err[-3000:]
    assert "pgs: up to date, skipped" in err, err[-3000:]
    assert "phenotypes: running" in err and "cohort: running" in err
    assert not (release / ".lock").exists()
    for stage in STAGES:
        assert (release / stage / "_SUCCESS").exists()
    # The killed run's directory was never renamed into place, and the rerun removed it.
    assert not list(release.glob(".phenotypes.inprogress-*"))
    assert "left by an interrupted run" in err

    ref_config = write_config(ref_dir, toy)
    assert main(["run", "--stages", *STAGES, "--config", str(ref_config)]) == 0
    ref_release = Path(yaml.safe_load(ref_config.read_text())["output_root"]) / "toy-r1"
    got, want = _tables(release), _tables(ref_release)
    assert got.keys() == want.keys() and len(got) >= 6
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], check_exact=False, rtol=1e-12, obj=name)
