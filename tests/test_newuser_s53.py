"""A new user's scheduled reruns (session 53, helper newuser): two ``scripts/submit.sh`` jobs from one
checkout.

1. ``submit.sh`` zipped ``trd_spark/`` into one fixed ``build/trd_spark.zip`` at every submission and
  shipped that path with ``--py-files``. The driver of a running job imports ``trd_spark`` modules
  from it for the whole run (the report stage's modules hours after the start; zipimport reopens
  the file at each import with the directory it read first), and executors fetch it when they
  start. A second submission from the same checkout while the first ran (the nightly cron job and
  a manual ``--job report`` or another release; or a ``git pull`` then a submit) rewrote the file
  under it: the running job stopped with ``ZipImportError: bad local file header`` or imported the
  new code beside the old. Now each source state has its own package, ``build/pkg-<digest>/``,
  made once (temporary folder, then a rename) and never rewritten.
2. ``submit.sh`` exec'd spark-submit, whose JVM runs the Python driver as its child: a SIGTERM to the
  job's process (``kill PID``, a scheduler's cancel) reached the JVM only, whose shutdown hook stopped
  the SparkContext under the driver: "unexpected error: FatalError: SparkException: Job 10 cancelled
  because SparkContext was shut down", exit 1 in the run log and nothing on the job's output (the
  JVM relayed it and was gone). submit.sh now forwards SIGTERM / SIGINT to the driver, which stops
  with its one Interrupted line and exit 143 (seen on a standalone cluster here).

No Spark: submit.sh's dry run and the packaging step it prints, on a copy of the checkout's code;
for the signal, a stand-in spark-submit (a process that dies on SIGTERM, running a driver child).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _checkout(tmp: Path) -> Path:
    """A copy of what submit.sh packages and reads (scripts, jobs, conf, trd_spark, pyproject.toml)."""
    repo = tmp / "checkout"
    for d in ("scripts", "jobs", "conf", "trd_spark"):
        shutil.copytree(REPO / d, repo / d, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(REPO / "pyproject.toml", repo)
    return repo


def _submit(repo: Path) -> tuple[list[str], Path]:
    """submit.sh --dry-run's packaging command, run as submit.sh runs it; the --py-files path."""
    out = subprocess.run(["bash", str(repo / "scripts" / "submit.sh"), "--dry-run", "--master", "local[2]"],
                         capture_output=True, text=True, env={**os.environ, "PYTHON": sys.executable}, check=True)
    package, cmd = (shlex.split(line) for line in out.stdout.strip().splitlines())
    pkg = Path(cmd[cmd.index("--py-files") + 1])
    subprocess.run(package, check=True, capture_output=True)
    return package, pkg


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_a_second_submission_never_rewrites_the_package_a_running_job_imports_from(tmp_path):
    """Before this session: both submissions shipped ``build/trd_spark.zip``, the second rewrote it
    (same path, other bytes), and a module imported after that from the first job's zip failed with
    ZipImportError or came from the new code."""
    repo = _checkout(tmp_path)
    _, first = _submit(repo)
    before = _sha(first)
    # The first job's driver has started: it imported the package and keeps the zip on sys.path.
    probe = ("import sys, time; sys.path.insert(0, sys.argv[1]); import trd_spark; "
             "input(); import trd_spark.errors as m; print(m.__file__, m.LockedError.__name__)")
    driver = subprocess.Popen([sys.executable, "-c", probe, str(first)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=tmp_path, env={**os.environ, "PYTHONSAFEPATH": "1"})
    try:
        # Meanwhile the code changes and a second job is submitted from the same checkout.
        errors = repo / "trd_spark" / "errors.py"
        errors.write_text(errors.read_text() + "\n# edited after the first submission\n" + "#" * 4000 + "\n")
        _, second = _submit(repo)
        out, err = driver.communicate("\n", timeout=600)
    finally:
        driver.kill()
    assert second != first and second.exists()
    assert _sha(first) == before, "the first job's package was rewritten under it"
    assert driver.returncode == 0, err
    assert out.split() == [f"{first}/trd_spark/errors.py", "LockedError"]


def test_the_same_sources_reuse_one_package_unchanged(tmp_path):
    """A nightly submission of unchanged code makes no new package and does not touch the old one
    (before: rewritten at every submission)."""
    repo = _checkout(tmp_path)
    _, first = _submit(repo)
    stat = first.stat()
    (repo / "trd_spark" / "__pycache__").mkdir(exist_ok=True)  # bytecode written meanwhile: not a change
    (repo / "trd_spark" / "__pycache__" / "layout.cpython-311.pyc").write_bytes(b"\0" * 16)
    _, again = _submit(repo)
    assert again == first
    assert (first.stat().st_ino, first.stat().st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    assert [p.name for p in (repo / "build").iterdir()] == [first.parent.name]  # no temporary folder left


def test_a_sigterm_to_the_submitted_job_reaches_the_python_driver(tmp_path):
    """Before this session: submit.sh exec'd spark-submit, so the signal went to the "JVM" alone: it
    died at once (return code -15), the driver was never told (no "driver interrupted") and ran on."""
    repo = _checkout(tmp_path)
    home = tmp_path / "spark"
    (home / "bin").mkdir(parents=True)
    submit_stand_in = home / "bin" / "spark-submit"
    # Like spark-submit's JVM: no handler of its own (dies on SIGTERM), the Python driver its child.
    submit_stand_in.write_text("#!/bin/bash\n"
                               "sh -c 'trap \"echo driver interrupted; exit 143\" TERM; echo driver started; "
                               "while :; do sleep 0.2; done' &\nwait $!\n")
    submit_stand_in.chmod(0o755)
    shim = tmp_path / "python"
    shim.write_text("#!/bin/sh\n"
                    f'case "$*" in *find_spec*) printf "%s\\n%s\\n" {home} {tmp_path}/hail-all-spark.jar; exit 0 ;;\n'
                    '  *"trd_spark.cli java"*) echo /usr; exit 0 ;;\nesac\n'
                    f'exec {shlex.quote(sys.executable)} "$@"\n')
    shim.chmod(0o755)
    out = tmp_path / "job.out"
    with open(out, "wb") as o:
        job = subprocess.Popen(["bash", str(repo / "scripts" / "submit.sh"), "--master", "local[2]"], stdout=o,
                               stderr=subprocess.STDOUT, env={**os.environ, "PYTHON": str(shim)}, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while b"driver started" not in out.read_bytes():
            assert job.poll() is None and time.monotonic() < deadline, out.read_text()
            time.sleep(0.2)
        job.send_signal(signal.SIGTERM)
        rc = job.wait(timeout=600)
        assert "driver interrupted" in out.read_text()
        assert rc == 143
    finally:
        try:
            os.killpg(job.pid, signal.SIGKILL)  # the stand-in's driver, were it left running
        except ProcessLookupError:
            pass
