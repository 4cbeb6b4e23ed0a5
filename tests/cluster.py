"""Support for the standalone-cluster tests: the cluster helper, toy configs, spark-submit runs,
and the comparison of two releases' published tables.

The cluster itself is scripts/standalone_cluster.py (loaded from its path, so the script and the
tests share one implementation).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from trd_spark.config import DEFAULT_CONFIG

REPO = Path(__file__).resolve().parent.parent
SUBMIT = REPO / "scripts" / "submit.sh"


def _load_cluster_module():
    spec = importlib.util.spec_from_file_location("standalone_cluster", REPO / "scripts" / "standalone_cluster.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


standalone = _load_cluster_module()
StandaloneCluster = standalone.StandaloneCluster
free_port = standalone.free_port


def toy_config(path: Path, data_dir: Path, output_root: Path, *, persons: int, variants: int,
               extra_conf: dict[str, str] | None = None) -> Path:
    """The embedded toy config with its data in ``data_dir`` and outputs in ``output_root``,
    scoring and modelling the installed run's three scores (``installed.small_panel``: the
    installed run is test_cluster's reference).

    Executors get 1g (the test workers have 2g each); ``extra_conf`` adds Spark properties.
    """
    from installed import small_panel

    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["toy_data"].update(dir=str(data_dir), persons=persons, variants=variants)
    text = yaml.safe_dump(raw).replace("../out/toy/data", str(data_dir))
    raw = yaml.safe_load(text)
    raw["output_root"] = str(output_root)
    raw["phenotypes"]["concept_sets"] = str(REPO / "conf" / "concept_sets.yaml")
    small_panel(raw, REPO / "conf" / "trait_panel_toy.yaml", path.parent)
    raw["spark"].update(driver_memory="2g", executor_memory="1g", shuffle_partitions=4,
                        tmp_dir=str(path.parent / f"{path.stem}-tmp"), extra_conf=extra_conf or {})
    path.write_text(yaml.safe_dump(raw))
    return path


@dataclass
class Submitted:
    """One `scripts/submit.sh` run in its own process group; stdout and stderr both in ``output``."""

    proc: subprocess.Popen
    output: Path

    def log(self) -> str:
        return self.output.read_text(errors="replace")

    def wait(self, timeout_s: float) -> int:
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"submit.sh still running after {timeout_s:.0f}s; log tail:\n{self.log()[-3000:]}") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=30)


def submit(master: str, config: Path, log_dir: Path, *job_args: str) -> Submitted:
    """Start `scripts/submit.sh --master MASTER --config CONFIG -- JOB_ARGS` (spark-submit mode)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    output = log_dir / "submit.log"
    env = {**os.environ, "PYTHON": sys.executable}
    with open(output, "wb") as o:
        # One file for both streams: which stream the driver's log lines take is not ours to fix.
        proc = subprocess.Popen(["bash", str(SUBMIT), "--master", master, "--config", str(config), "--", *job_args],
                                stdout=o, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=REPO,
                                start_new_session=True)
    return Submitted(proc, output)


def driver_executors(ui_port: int) -> list[dict]:
    """The running application's executors from the driver's REST API ([] while not answering)."""
    base = f"http://127.0.0.1:{ui_port}/api/v1/applications"
    try:
        with urllib.request.urlopen(base, timeout=5) as r:
            apps = json.loads(r.read())
        with urllib.request.urlopen(f"{base}/{apps[0]['id']}/executors", timeout=5) as r:
            return [e | {"app_id": apps[0]["id"]} for e in json.loads(r.read())]
    except (OSError, ValueError, IndexError, KeyError):
        return []


def wait_for(predicate, timeout_s: float, what: str, poll_s: float = 0.5):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


# -- comparing two runs ----------------------------------------------------------------------

def read_tables(release: Path, stages: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    """Every published Parquet table of ``stages`` under ``release``, keyed "stage/name"."""
    tables = {}
    for stage in stages:
        assert (release / stage / "_SUCCESS").exists(), f"{stage} not published under {release}"
        for path in sorted((release / stage).glob("*.parquet")):
            tables[f"{stage}/{path.stem}"] = pd.read_parquet(path)
    return tables


def assert_same_table(name: str, a: pd.DataFrame, b: pd.DataFrame, tol: float = 1e-9) -> None:
    """Same columns, same row count, same rows once sorted by every non-float column; floats
    equal to ``tol`` (absolute, or relative for |x| > 1), nulls in the same places."""
    assert list(a.columns) == list(b.columns), name
    assert len(a) == len(b), f"{name}: {len(a)} rows vs {len(b)}"
    floats = [c for c in a.columns if pd.api.types.is_float_dtype(a[c])]
    keys = [c for c in a.columns if c not in floats]
    a = a.sort_values(keys + floats, kind="mergesort").reset_index(drop=True)
    b = b.sort_values(keys + floats, kind="mergesort").reset_index(drop=True)
    pd.testing.assert_frame_equal(a[keys], b[keys], check_dtype=True, obj=name)
    for c in floats:
        x, y = a[c].to_numpy(float), b[c].to_numpy(float)
        assert (np.isnan(x) == np.isnan(y)).all(), f"{name}.{c}: nulls differ"
        ok = np.isnan(x) | (np.abs(x - y) <= tol * np.maximum(1.0, np.abs(x)))
        assert ok.all(), f"{name}.{c}: {int((~ok).sum())} values differ by more than {tol} (e.g. {x[~ok][:3]} vs {y[~ok][:3]})"


def assert_same_results(release_a: Path, release_b: Path, stages: tuple[str, ...]) -> dict[str, int]:
    """Both releases published the same tables with equal contents; returns row counts."""
    a, b = read_tables(release_a, stages), read_tables(release_b, stages)
    assert sorted(a) == sorted(b)
    for name in a:
        assert_same_table(name, a[name], b[name])
    for stage in stages:  # the human-readable TSVs too (full-precision floats: same tolerance)
        for tsv in sorted((release_a / stage).glob("*.tsv")):
            ta, tb = pd.read_csv(tsv, sep="\t"), pd.read_csv(release_b / stage / tsv.name, sep="\t")
            assert list(ta.columns) == list(tb.columns), f"{stage}/{tsv.name}"
            # config_hash (report TSVs, session 54) names the run's config, paths and output root
            # among it: two runs into different folders differ there and nowhere else
            assert_same_table(f"{stage}/{tsv.name}", ta.drop(columns=["config_hash"], errors="ignore"),
                              tb.drop(columns=["config_hash"], errors="ignore"))
    return {name: len(df) for name, df in a.items()}
