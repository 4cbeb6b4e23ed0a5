"""scripts/submit.sh --dry-run prints the exact commands for each master and Dataproc mode."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SUBMIT = REPO / "scripts" / "submit.sh"


WORKBENCH_ENV = {"WORKSPACE_CDR": "wb-project.C2024Q3R5", "GOOGLE_PROJECT": "wb-project",
                 "WORKSPACE_BUCKET": "gs://wb-bucket"}


def dry_run(*args: str, n_commands: int = 2, extra_env: dict[str, str] | None = None) -> list[list[str]]:
    env = {**os.environ, "PYTHON": sys.executable, **(extra_env or {})}
    out = subprocess.run(["bash", str(SUBMIT), "--dry-run", *args], capture_output=True, text=True, env=env, check=True)
    lines = out.stdout.strip().splitlines()
    # packaging command, [upload to the staging directory,] then the submit command
    assert len(lines) == n_commands, out.stdout
    return [shlex.split(line) for line in lines]


def option(argv: list[str], name: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == name]


@pytest.mark.parametrize("master", ["local[2]", "spark://127.0.0.1:7077", "yarn"], ids=["local", "standalone", "yarn"])
def test_spark_submit_command(master):
    package, cmd = dry_run("--master", master, "--job", "pgs")
    assert package[1:4] == [str(REPO / "scripts" / "package.py"), "build", str(REPO)] and package[4] == "zip"
    pkg = Path(package[5])
    assert pkg.name == "trd_spark.zip" and pkg.parent.parent == REPO / "build" and pkg.parent.name.startswith("pkg-")
    spark_submit = next(a for a in cmd if a.endswith("/bin/spark-submit"))
    argv = cmd[cmd.index(spark_submit):]
    assert option(argv, "--master") == [master]
    assert option(argv, "--py-files") == [str(pkg)]
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
    package, cmd = dry_run("--mode", "hailctl", "--cluster", "c1", "--job", "models")
    assert cmd[:5] == ["hailctl", "dataproc", "submit", "c1", str(REPO / "jobs" / "models.py")]
    assert f"--pyfiles={package[-1]}" in cmd and package[-1].endswith("/trd_spark.zip")
    assert cmd[-3:] == ["--", "--config", "toy.yaml"]


def test_driver_memory_comes_from_the_config():
    _, cmd = dry_run("--master", "local[2]")
    assert option(cmd, "--driver-memory") == ["4g"]  # conf/toy.yaml spark.driver_memory
    _, cmd = dry_run("--mode", "gcloud", "--cluster", "c1", "--config", str(REPO / "conf" / "aou.yaml"),
                     extra_env=WORKBENCH_ENV)
    props = next(a for a in cmd if a.startswith("--properties=")).split("=", 1)[1].split(",")
    assert "spark.driver.memory=32g" in props  # conf/aou.yaml


def test_wheel_package_is_built_and_importable_from_py_files(tmp_path):
    package, cmd = dry_run("--package", "wheel", "--master", "local[2]")
    assert package[:5] == [sys.executable, str(REPO / "scripts" / "package.py"), "build", str(REPO), "wheel"]
    wheel = Path(option(cmd, "--py-files")[0])
    assert wheel.name == "trd_spark-0.1.0-py3-none-any.whl" and package[5] == str(wheel)
    # Really build it (as submit.sh does) and import the package from the wheel alone, the
    # way executors do with --py-files (zipimport), from a directory without the source tree.
    subprocess.run([sys.executable, *package[1:]], check=True, capture_output=True, cwd=REPO)
    probe = "import sys; sys.path.insert(0, sys.argv[1]); import trd_spark.layout as m; print(m.__file__)"
    out = subprocess.run([sys.executable, "-c", probe, str(wheel)], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONSAFEPATH": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"{wheel}/trd_spark/layout.py"


@pytest.mark.parametrize("mode", ["gcloud", "hailctl"])
def test_staging_uploads_then_submits_gs_uris(mode):
    # hailctl re-zips any --pyfiles that is not a single .zip, so it ships the zip
    pkg = "trd_spark.zip" if mode == "hailctl" else "trd_spark-0.1.0-py3-none-any.whl"
    package, upload, cmd = dry_run("--mode", mode, "--cluster", "c1", "--package", "zip" if mode == "hailctl" else "wheel",
                                   "--staging", "gs://bucket/jobs/r1/", "--config", str(REPO / "conf" / "dataproc.yaml"),
                                   n_commands=3)
    whl = pkg
    assert upload[:3] == ["gcloud", "storage", "cp"] and upload[-1] == "gs://bucket/jobs/r1/"
    sources = {Path(a).name for a in upload[3:-1]}
    assert {whl, "run_all.py", "dataproc.yaml", "concept_sets.yaml", "trait_panel_toy.yaml"} <= sources
    assert "gs://bucket/jobs/r1/run_all.py" in cmd
    assert f"--py-files=gs://bucket/jobs/r1/{whl}" in cmd or f"--pyfiles=gs://bucket/jobs/r1/{whl}" in cmd
    files = next(a for a in cmd if a.startswith("--files=")).split("=", 1)[1].split(",")
    assert files and all(f.startswith("gs://bucket/jobs/r1/") and f.endswith(".yaml") for f in files)
    assert cmd[cmd.index("--"):] == ["--", "--config", "dataproc.yaml"]
    assert not any(a.startswith(str(REPO)) for a in cmd)  # nothing local left in the job


@pytest.mark.parametrize(
    "args, message",
    [(["--job", "nope"], "no job named 'nope'"), (["--mode", "gcloud"], "needs --cluster"),
     (["--config", "/absent.yaml"], "config not found"), (["--package", "egg"], "unknown --package egg"),
     (["--mode", "gcloud", "--cluster", "c", "--staging", "/tmp/x"], "must be a gs:// directory"),
     (["--staging", "gs://b/p"], "--staging is for --mode gcloud/hailctl"),
     (["--mode", "hailctl", "--cluster", "c", "--package", "wheel"], "ships --package zip only")],
    ids=["bad-job", "no-cluster", "no-config", "bad-package", "staging-not-gs", "staging-spark-submit", "hailctl-wheel"],
)
def test_bad_arguments_fail_clearly(args, message):
    out = subprocess.run(["bash", str(SUBMIT), "--dry-run", *args], capture_output=True, text=True)
    assert out.returncode == 2
    assert message in out.stderr


def test_help_is_the_header_comment_without_code():
    """--help prints the script's leading comment (usage, options, what it does) and no shell code."""
    out = subprocess.run(["bash", str(SUBMIT), "--help"], capture_output=True, text=True, check=True).stdout
    header = []
    for line in SUBMIT.read_text().splitlines()[1:]:
        if not line.startswith("#"):
            break
        header.append(line[2:] if line.startswith("# ") else line[1:])
    assert out.splitlines() == header
    assert "--dry-run" in out and "set -euo" not in out and "here=" not in out


@pytest.mark.parametrize("mode", ["gcloud", "hailctl"])
def test_dataproc_modes_ship_the_config_with_the_workbench_variables_resolved(mode, monkeypatch):
    # The driver of a Dataproc job runs under the cluster's job agent, without the Workbench
    # shell's ${WORKSPACE_CDR} / ${GOOGLE_PROJECT} / ${WORKSPACE_BUCKET}: the shipped aou.yaml
    # carries their values, and loads as the original does here (paths aside).
    from trd_spark.config import load_config

    for k in WORKBENCH_ENV:
        monkeypatch.delenv(k, raising=False)
    _, cmd = dry_run("--mode", mode, "--cluster", "c1", "--config", str(REPO / "conf" / "aou.yaml"),
                     extra_env=WORKBENCH_ENV)
    files = next(a for a in cmd if a.startswith("--files=")).split("=", 1)[1].split(",")
    shipped = Path(next(f for f in files if f.endswith("/aou.yaml")))
    assert shipped.parent == REPO / "build" / "conf"
    assert "${" not in "".join(line for line in shipped.read_text().splitlines() if not line.startswith("#"))
    cfg = load_config(shipped)  # no Workbench variable set in this process
    assert cfg.omop.path == WORKBENCH_ENV["WORKSPACE_CDR"] and cfg.omop.billing_project == "wb-project"
    assert cfg.output_root.startswith("gs://wb-bucket/")
    # the concept sets and trait panel (no ${VAR}) travel byte for byte
    concept_sets = next(Path(f) for f in files if f.endswith("/concept_sets.yaml"))
    assert concept_sets.read_bytes() == (REPO / "conf" / "concept_sets.yaml").read_bytes()


def test_dataproc_mode_stops_on_an_unset_workbench_variable(monkeypatch):
    for k in WORKBENCH_ENV:
        monkeypatch.delenv(k, raising=False)
    out = subprocess.run(["bash", str(SUBMIT), "--dry-run", "--mode", "gcloud", "--cluster", "c1",
                          "--config", str(REPO / "conf" / "aou.yaml")],
                         capture_output=True, text=True, env={**os.environ, "PYTHON": sys.executable})
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().splitlines() == [
        f"submit.sh: {REPO / 'conf' / 'aou.yaml'}: output_root: environment variable WORKSPACE_BUCKET is not set "
        "(the job's driver on the cluster would not have it either)"]


def test_dataproc_mode_refuses_a_config_with_a_key_written_twice(tmp_path, monkeypatch):
    # The shipped copy is re-dumped from the parsed YAML, which keeps only a key's last value:
    # the duplicate that load_config refuses here would vanish on the cluster.
    for k in WORKBENCH_ENV:
        monkeypatch.delenv(k, raising=False)
    config = tmp_path / "aou.yaml"
    config.write_text((REPO / "conf" / "aou.yaml").read_text() + "spark:\n  driver_memory: 8g\n")
    first = next(i for i, line in enumerate(config.read_text().splitlines(), 1) if line.startswith("spark:"))
    last = len(config.read_text().splitlines()) - 1
    assert first != last
    out = subprocess.run(["bash", str(SUBMIT), "--dry-run", "--mode", "gcloud", "--cluster", "c1",
                          "--config", str(config)],
                         capture_output=True, text=True, env={**os.environ, **WORKBENCH_ENV, "PYTHON": sys.executable})
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().splitlines() == [
        f"submit.sh: {config}: line {last}: duplicate key 'spark' (first at line {first})"]


def _path_with_a_python_without_pyspark(tmp_path: Path) -> str:
    """PATH whose `python` / `python3` cannot import pyspark: a shell that did not activate .venv."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("python", "python3"):
        shim = bin_dir / name
        shim.write_text("#!/bin/sh\necho 'ModuleNotFoundError: No module named pyspark' >&2\nexit 1\n")
        shim.chmod(0o755)
    return f"{bin_dir}:{os.environ['PATH']}"


def test_readme_submit_command_finds_the_install_venv_without_python_set(tmp_path):
    # README: `./scripts/install.sh` (makes .venv), then `scripts/submit.sh --master 'local[2]'`
    # from a shell that never activated .venv. submit.sh ran `python -c 'import pyspark'` and
    # stopped with a traceback; it now uses the checkout's .venv when PYTHON is not set.
    assert (REPO / ".venv" / "bin" / "python").exists(), "the README's install makes .venv in the checkout"
    env = {k: v for k, v in os.environ.items() if k != "PYTHON"}
    env["PATH"] = _path_with_a_python_without_pyspark(tmp_path)
    out = subprocess.run(["bash", str(SUBMIT), "--dry-run", "--master", "local[2]"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    package, cmd = (shlex.split(line) for line in out.stdout.strip().splitlines())
    venv_python = str(REPO / ".venv" / "bin" / "python")
    assert package[0] == venv_python
    assert any(a.endswith("/bin/spark-submit") for a in cmd)
    assert f"PYSPARK_PYTHON={Path(venv_python).resolve()}" in cmd or f"PYSPARK_PYTHON={venv_python}" in cmd


def test_submit_without_a_python_that_has_pyspark_stops_with_one_line(tmp_path):
    # A checkout without .venv (copied scripts, jobs and conf) and no PYTHON: one line naming what
    # to do, not a Python traceback.
    root = tmp_path / "checkout"
    for sub in ("scripts", "jobs", "conf"):
        shutil.copytree(REPO / sub, root / sub)
    (root / "trd_spark").mkdir()
    (root / "trd_spark" / "__init__.py").write_text((REPO / "trd_spark" / "__init__.py").read_text())
    env = {k: v for k, v in os.environ.items() if k != "PYTHON"}
    env["PATH"] = _path_with_a_python_without_pyspark(tmp_path)
    out = subprocess.run(["bash", str(root / "scripts" / "submit.sh"), "--dry-run", "--master", "local[2]"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().splitlines() == [
        "submit.sh: python3 cannot import pyspark and hail: run scripts/install.sh (it makes .venv), "
        "or set PYTHON to the Python of the environment trd-spark is installed in"]


def test_a_dry_run_imports_hail_in_no_process(tmp_path):
    """submit.sh locates Hail's jar without importing hail (~5 CPU-seconds a process; the
    script imported it twice, so every dry run here cost ~10 CPU-s): the import-time trace of
    every Python the script starts (PYTHON is a shim adding ``-X importtime``, stderr to a file)
    names no hail module, and the command still carries the installed jar
    (test_spark_submit_command checks the rest)."""
    trace = tmp_path / "importtime.txt"
    shim = tmp_path / "python"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -X importtime "$@" 2>>{shlex.quote(str(trace))}\n')
    shim.chmod(0o755)
    out = subprocess.run(["bash", str(SUBMIT), "--dry-run", "--master", "local[2]"], capture_output=True, text=True,
                         env={**os.environ, "PYTHON": str(shim)}, check=True)
    traced = [line.rsplit("|", 1)[-1].strip() for line in trace.read_text().splitlines()
              if line.startswith("import time:")]
    assert "pyspark" in traced  # the trace works: the script's Python found pyspark
    assert not [name for name in traced if name == "hail" or name.startswith("hail.")]
    jar = option(shlex.split(out.stdout.strip().splitlines()[-1]), "--jars")[0]
    assert jar.endswith("hail/backend/hail-all-spark.jar") and Path(jar).is_file()
