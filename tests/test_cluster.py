"""The pipeline on a real Spark standalone cluster (loopback only), through scripts/submit.sh.

One master + two workers (1 core, 2g each) from the pip-installed pyspark, shared by the tests
of this module. The toy data are small (400 persons x 400 variants) and the reference is the
local-mode run of the same data by the wheel-installed console script (conftest's
installed_toy_run, also checked by test_cli).

- test_pipeline_on_cluster_equals_local_even_after_losing_a_worker: the whole pipeline via
  spark-submit (Hail on the executors, the library shipped as a zip), with one worker (and its
  executor) SIGKILLed while a PGS task runs: Spark re-runs the lost work on a surviving worker
  and every stage publishes the same tables as local mode. One cluster run covers both (each
  run costs minutes).
"""

from __future__ import annotations

import re
import signal

import pytest
from cluster import StandaloneCluster, assert_same_results, driver_executors, free_port, submit, toy_config, wait_for
from installed import PERSONS, VARIANTS

pytestmark = pytest.mark.slow

RUN_TIMEOUT_S = 1500  # generous: CI machines are shared; a healthy run takes a few minutes
ALL_STAGES = ("pgs", "phenotypes", "cohort", "models", "report")


@pytest.fixture(scope="module")
def toy(installed_toy_run, tmp_path_factory):
    """A directory for the cluster's configs and outputs, and the local-mode reference: the
    installed console script's run of the same toy data (conftest.installed_toy_run)."""
    r = installed_toy_run.result
    assert r.returncode == 0, r.stderr[-3000:]
    return tmp_path_factory.mktemp("cluster-toy"), installed_toy_run


@pytest.fixture(scope="module")
def cluster(spark, tmp_path_factory):
    # `spark` first: the in-process session is started (and stopped last) around the cluster.
    with StandaloneCluster(tmp_path_factory.mktemp("standalone"), workers=2, cores=1, memory="2g") as c:
        yield c


def test_cluster_binds_loopback_only(cluster):
    state = cluster.state()
    assert state["status"] == "ALIVE" and state["url"] == cluster.url
    workers = [w for w in state["workers"] if w["state"] == "ALIVE"]
    assert len(workers) == 2 and {w["cores"] for w in workers} == {1} and {w["memory"] for w in workers} == {2048}
    assert {w["host"] for w in workers} == {"127.0.0.1"}


def test_pipeline_on_cluster_equals_local_even_after_losing_a_worker(cluster, toy):
    """The whole pipeline via spark-submit on the cluster, with the worker of a busy executor
    SIGKILLed mid-PGS: Spark re-runs the lost work on a surviving worker, every stage finishes,
    and every published table equals the local-mode run (one cluster run covers both)."""
    tmp, local = toy
    ui_port = free_port()
    cluster.add_worker()  # a third worker: room for a replacement executor (cores.max=2)
    config = toy_config(
        tmp / "cluster.yaml", local.data_dir, tmp / "cluster", persons=PERSONS, variants=VARIANTS,
        extra_conf={"spark.ui.enabled": "true", "spark.ui.port": str(ui_port), "spark.cores.max": "2"})
    run = submit(cluster.url, config, tmp / "cluster-logs")
    try:
        # Mid-stage: PGS has started and finished matching the first dataset ...
        wait_for(lambda: re.search(r"matching \d+ scores in dataset replication_wgs", run.log()) or run.proc.poll() is not None,
                 RUN_TIMEOUT_S, "the PGS stage to reach its second dataset")
        assert run.proc.poll() is None, run.log()[-5000:]

        # ... and an executor is running a task right now: its worker is the one we kill.
        def busy_executor():
            return next((e for e in driver_executors(ui_port) if e["id"] != "driver" and e["activeTasks"] > 0), None)

        executor = wait_for(busy_executor, 300, "an executor with an active task", poll_s=0.2)
        victim = next(w for w in cluster.worker_daemons
                      if (cluster.work_dir / w.name / executor["app_id"] / executor["id"]).is_dir())
        # The master may have placed an executor on any of the three workers (the spare
        # included): whichever one is busy dies, and a surviving worker must take over.
        survivors = [w for w in cluster.worker_daemons if w is not victim]
        executors_before = {w.name: set(cluster.executor_logs(w)) for w in survivors}
        log_before_kill = run.log()
        victim.signal_group(signal.SIGKILL)
        victim.proc.wait(timeout=30)
        assert "pgs: done" not in log_before_kill  # the kill landed inside the PGS stage

        rc = run.wait(RUN_TIMEOUT_S)
    finally:
        run.kill()
    log = run.log()
    assert rc == 0, log[-5000:]
    assert f"master {cluster.url}" in log  # the driver really used the cluster, not local mode
    # Executors of this one application ran on the workers (so Hail ran on executors, not the driver).
    apps = {p.parent.parent.name for w in cluster.worker_daemons for p in cluster.executor_logs(w)}
    assert len(apps) == 1
    after_kill = log[len(log_before_kill):]
    # Spark saw the loss (after Hail starts, Spark's driver log goes to hail.log in spark.tmp_dir) ...
    hail_log = (tmp / "cluster-tmp" / "hail.log").read_text(errors="replace")
    assert re.search(r"Lost executor \d+ on 127\.0\.0\.1: worker lost", hail_log)
    assert all(f"{stage}: done" in after_kill for stage in ALL_STAGES)  # ... and finished the run
    assert any(set(cluster.executor_logs(w)) - executors_before[w.name] for w in survivors), \
        "no surviving worker started a replacement executor"
    counts = assert_same_results(local.release, tmp / "cluster" / "toy-r1", ALL_STAGES)
    assert counts["pgs/scores"] > 0 and counts["models/logistic"] > 0 and counts["cohort/analysis_frame"] > 0
