"""Signals mid-stage (SIGTERM, SIGINT, SIGKILL), then rerun: the run resumes after the last complete stage.

A `trd-spark run` (subprocess, own process group: Python driver + its Spark JVM) on toy-r1 of
conftest's session fixture ``toy_releases`` (600 persons, three datasets) is killed with SIGKILL
once the phenotypes stage has opened its in-progress directory. The rerun (in-process, shared
session) must: take over the lock the dead run left (stale: same host, dead pid), skip the
complete pgs stage, leave the killed run's in-progress directory unused (it never counts as
complete), and produce the same tables as an uninterrupted run. The uninterrupted run is toy-r1
itself (same config but for its output root, same code and inputs): no run of this module
computes a reference (each pipeline run costs minutes; the suite has a time budget). Equality is
of CONTENT (every table read with pandas, rows sorted): byte-identity does not hold, since Parquet
part-file names and write metadata differ per run. Stages pgs, phenotypes, cohort (models/report
add time, not resume logic). The complete pgs stage the interrupted runs find is toy-r1's, copied
in (no subprocess computes it).

Signals (issue 15): SIGTERM to the run's process group (what `timeout`, YARN and Airflow do:
the JVM dies too) and SIGINT to it (a terminal's Ctrl-C; PySpark's JVM ignores SIGINT) each
end the run with one ERROR line, exit 143 / 130, no traceback, the lock released and no
process left; the next run resumes and ends with the same tables as an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from trd_spark.cli import main
from trd_spark.provenance import code_digests
from trd_spark.schemas import TABLES_BY_STAGE

pytestmark = pytest.mark.slow

STAGES = ["pgs", "phenotypes", "cohort"]
RELEASE = "toy-r1"  # the smaller of the shared toy releases


def _tables(release: Path) -> dict[str, pd.DataFrame]:
    out = {}
    for stage in STAGES:
        for schema in TABLES_BY_STAGE.get(stage, []):
            df = pd.read_parquet(release / stage / f"{schema.name}.parquet")
            cols = sorted(df.columns)
            out[f"{stage}/{schema.name}"] = df[cols].sort_values(cols, kind="mergesort").reset_index(drop=True)
    return out


@pytest.fixture(scope="module")
def reference(toy_releases) -> tuple[Path, Path, dict[str, pd.DataFrame]]:
    """(release directory, config, its tables) of an uninterrupted run: toy-r1 of the shared
    toy releases, whose run (in-process, shared session) ended with exit code 0."""
    assert toy_releases.codes[:2] == [0, 0], toy_releases.logs[-3000:]
    release = toy_releases.tmp / "results" / RELEASE
    return release, toy_releases.config, _tables(release)


def _config_in(run_dir: Path, config: Path) -> Path:
    """``config`` with its outputs (and Spark's scratch space) under ``run_dir``: the inputs,
    and so every stage's fingerprint, stay the reference's."""
    raw = yaml.safe_load(config.read_text())
    raw["output_root"] = str(run_dir / "results")
    raw["spark"]["tmp_dir"] = str(run_dir / "tmp")
    path = run_dir / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _start(config: Path, log_path: Path) -> subprocess.Popen:
    """`trd-spark run` in its own process group (driver + its Spark JVM), output to log_path."""
    with open(log_path, "w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "trd_spark.cli", "run", "--stages", *STAGES, "--config", str(config), "--release", RELEASE],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )


def _signal_mid_phenotypes(proc: subprocess.Popen, release: Path, log_path: Path, sig: int) -> None:
    """Send ``sig`` to the run's process group once phenotypes opened a new in-progress directory."""
    before = set(release.glob(".phenotypes.inprogress-*"))
    try:
        deadline = time.time() + 1800  # a guard against a hung run only (a loaded machine is slow)
        while not set(release.glob(".phenotypes.inprogress-*")) - before:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            assert time.time() < deadline, "phenotypes never started: " + log_path.read_text()[-3000:]
            time.sleep(0.2)
        os.killpg(proc.pid, sig)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def _group_gone(pgid: int) -> bool:
    """True once no process of the group is left (the JVM exits shortly after the driver)."""
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def _assert_same_tables(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> None:
    assert got.keys() == want.keys() and len(got) >= 6
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], check_exact=False, rtol=1e-12, obj=name)


def _one_error_line(log_path: Path) -> str:
    text = log_path.read_text()
    assert "Traceback" not in text, text[-4000:]
    errors = [line for line in text.splitlines() if " ERROR " in line or line.startswith("ERROR")]
    assert len(errors) == 1, (errors, text[-4000:])
    return errors[0]


def test_sigterm_sigint_sigkill_mid_stage_then_resume(reference, tmp_path, capsys):
    """One output directory, three interrupted runs in a row (one subprocess start each is the
    cost of this test), then one in-process resume that must equal the uninterrupted run.

    The complete pgs stage every interrupted run finds is the uninterrupted run's, copied in
    (same config slice, code and inputs, so the same fingerprint): no subprocess computes it
    again (suite time), each must skip it, and the resumed tables must still equal the
    reference's, pgs included (a run that damaged the published stage would fail there)."""
    ref_release, ref_config, ref_tables = reference
    run_dir = tmp_path / "signals"
    run_dir.mkdir()
    config = _config_in(run_dir, ref_config)
    release = run_dir / "results" / RELEASE
    release.mkdir(parents=True)
    shutil.copytree(ref_release / "pgs", release / "pgs")

    # SIGTERM to the process group (timeout / YARN / Airflow): the JVM dies with the driver.
    log_path = tmp_path / "sigterm.log"
    proc = _start(config, log_path)
    _signal_mid_phenotypes(proc, release, log_path, signal.SIGTERM)
    assert proc.returncode == 143, log_path.read_text()[-4000:]
    line = _one_error_line(log_path)
    assert "Interrupted: SIGTERM received during stage phenotypes" in line and "lock released" in line
    assert "pgs: up to date, skipped" in log_path.read_text()
    assert not (release / ".lock").exists()
    assert _group_gone(proc.pid)
    assert (release / "pgs" / "_SUCCESS").exists() and not (release / "phenotypes").exists()

    # SIGINT to the process group (Ctrl-C in a terminal): the next run skips pgs, is stopped too.
    log_path = tmp_path / "sigint.log"
    proc = _start(config, log_path)
    _signal_mid_phenotypes(proc, release, log_path, signal.SIGINT)
    assert proc.returncode == 130, log_path.read_text()[-4000:]
    line = _one_error_line(log_path)
    assert "Interrupted: SIGINT received during stage phenotypes" in line
    assert "pgs: up to date, skipped" in log_path.read_text()
    assert not (release / ".lock").exists()
    assert _group_gone(proc.pid)
    assert not (release / "phenotypes").exists()

    # SIGKILL of the driver and its JVM: nothing can clean up, the lock and the in-progress
    # directory stay behind.
    log_path = tmp_path / "killed_run.log"
    proc = _start(config, log_path)
    _signal_mid_phenotypes(proc, release, log_path, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert (release / "pgs" / "_SUCCESS").exists()
    assert not (release / "phenotypes").exists()
    leftovers = list(release.glob(".phenotypes.inprogress-*"))
    assert leftovers and not any((d / "_SUCCESS").exists() for d in leftovers)
    held = json.loads((release / ".lock").read_text())
    assert held["pid"] == proc.pid  # the killed run's lock is still there

    # The killed subprocess read the code afresh: so must this process (the digests are
    # cached per process; a module changed in between would rightly rerun its stages).
    code_digests.cache_clear()
    capsys.readouterr()
    assert main(["run", "--stages", *STAGES, "--config", str(config), "--release", RELEASE]) == 0
    err = capsys.readouterr().err
    assert "taking over a stale lock" in err, err[-3000:]
    assert "pgs: up to date, skipped" in err, err[-3000:]
    assert "phenotypes: running" in err and "cohort: running" in err
    assert not (release / ".lock").exists()
    for stage in STAGES:
        assert (release / stage / "_SUCCESS").exists()
    # The killed run's directory was never renamed into place, and the rerun removed it.
    assert "left by an interrupted run" in err
    assert not [p.name for p in release.iterdir() if p.name.startswith(".")]
    _assert_same_tables(_tables(release), ref_tables)
