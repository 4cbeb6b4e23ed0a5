"""scripts/submit.sh --dry-run prints the exact commands for each master and Dataproc mode."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SUBMIT = REPO / "scripts" / "submit.sh"


def dry_run(*args: str) -> list[list[str]]:
    env = {**os.environ, "PYTHON": sys.executable}
    out = subprocess.run(["bash", str(SUBMIT), "--dry-run", *args], capture_output=True, text=True, env=env, check=True)
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2, out.stdout  # packaging command, then the submit command
    return [shlex.split(line) for line in lines]


def option(argv: list[str], name: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == name]


@pytest.mark.parametrize("master", ["local[2]", "spark://127.0.0.1:7077", "yarn"], ids=["local", "standalone", "yarn"])
def test_spark_submit_command(master):
    package, cmd = dry_run("--master", master, "--job", "pgs")
    assert package[-2:] == [str(REPO / "build" / "trd_spark"), str(REPO)]
    spark_submit = next(a for a in cmd if a.endswith("/bin/spark-submit"))
    argv = cmd[cmd.index(spark_submit):]
    assert option(argv, "--master") == [master]
    assert option(argv, "--py-files") == [str(REPO / "build" / "trd_spark.zip")]
    jar = option(argv, "--jars")[0]
    assert jar.endswith("hail/backend/hail-all-spark.jar") and Path(jar).exists()
    confs = option(argv, "--conf")
    assert f"spark.driver.extraClassPath={jar}" in confs
    assert "spark.executor.extraClassPath=./hail-all-spark.jar" in confs
    assert "spark.serializer=org.apache.spark.serializer.KryoSerializer" in confs
    assert argv[-3:] == [str(REPO / "jobs" / "pgs.py"), "--config", str(REPO / "conf" / "toy.yaml")]
    java_home = next(a for a in cmd if a.startswith("JAVA_HOME=")).split("=", 1)[1]
    assert Path(java_home, "bin", "java").exists()
    loopback = "spark.driver.bindAddress=127.0.0.1" in confs
    assert loopback == (master != "yarn")


def test_gcloud_command_ships_config_and_properties():
    _, cmd = dry_run("--mode", "gcloud", "--cluster", "c1", "--region", "europe-west4",
                     "--requester-pays-project", "my-proj", "--bigquery", "--", "--release", "v8")
    assert cmd[:5] == ["gcloud", "dataproc", "jobs", "submit", "pyspark"]
    assert cmd[5] == str(REPO / "jobs" / "run_all.py")
    assert "--cluster=c1" in cmd and "--region=europe-west4" in cmd
    files = next(a for a in cmd if a.startswith("--files=")).split("=", 1)[1].split(",")
    assert {Path(f).name for f in files} >= {"toy.yaml", "concept_sets.yaml", "trait_panel_toy.yaml"}
    props = next(a for a in cmd if a.startswith("--properties=")).split("=", 1)[1].split(",")
    assert "spark.hadoop.fs.gs.requester.pays.project.id=my-proj" in props
    assert any(a.startswith("--jars=gs://") and "bigquery" in a for a in cmd)
    assert cmd[cmd.index("--"):] == ["--", "--config", "toy.yaml", "--release", "v8"]


def test_hailctl_command():
    _, cmd = dry_run("--mode", "hailctl", "--cluster", "c1", "--job", "models")
    assert cmd[:5] == ["hailctl", "dataproc", "submit", "c1", str(REPO / "jobs" / "models.py")]
    assert f"--pyfiles={REPO / 'build' / 'trd_spark.zip'}" in cmd
    assert cmd[-3:] == ["--", "--config", "toy.yaml"]


@pytest.mark.parametrize(
    "args, message",
    [(["--job", "nope"], "no job named 'nope'"), (["--mode", "gcloud"], "needs --cluster"),
     (["--config", "/absent.yaml"], "config not found")],
    ids=["bad-job", "no-cluster", "no-config"],
)
def test_bad_arguments_fail_clearly(args, message):
    out = subprocess.run(["bash", str(SUBMIT), "--dry-run", *args], capture_output=True, text=True)
    assert out.returncode == 2
    assert message in out.stderr
