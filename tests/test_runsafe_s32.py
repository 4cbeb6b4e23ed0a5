"""The run's early stop (session 32, "runsafe"): a scoring-file parse error found while Spark and
Hail start ends the run at once without raising anything into the start
(``session.BackgroundStart``, ``cli._session``).

Session 31 raised the parse's error from a SIGUSR1 handler in the main thread, between any two
bytecodes of the start: inside ``import hail``, or inside a py4j call whose answer then stayed
unread (PySpark's cleanup of the half-made context called the JVM on that connection). Raised
inside the JavaSparkContext call, the run ended with exit 1, a py4j traceback and no error line
naming the file (``test_a_parse_error_after_the_jvm_launch_is_one_line``).

The starts here are fakes (a sleeping "import", a child process whose command line names Spark's
submit class, as PySpark's JVM's does) but for the slow CLI case, whose subject is a real JVM
start; those that stop a child process run in a process of their own: this one's children
include the shared session's JVM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fake_spark_start import FAKE_START

from trd_spark.config import SparkSettings
from trd_spark.releases import LocalFs  # the disk read with os, not through the tests' patched Spark Fs
from trd_spark.session import BackgroundStart, StartAbandoned

REPO = Path(__file__).resolve().parents[1]
SETTINGS = SparkSettings(master="local[1]")


def test_a_start_abandoned_before_its_launch_launches_nothing_and_the_reason_comes_at_once():
    """The parse fails while the start imports Hail (most of a start under load: 4-20 s): the
    reason is raised at once, and the start ends at its next step, before the launch step."""
    steps: list[str] = []

    def start(settings, *, gate):
        time.sleep(1.0)  # importing Hail
        steps.append("imported")
        gate.step()
        steps.append("launching")
        gate.launching()
        steps.append("launched")
        return "session"

    begun = BackgroundStart(SETTINGS, start=start).begin()
    threading.Timer(0.2, begun.stop_waiting, [ValueError("the parse failed")]).start()
    t0 = time.monotonic()
    with pytest.raises(ValueError, match="the parse failed"):
        begun.result()
    assert time.monotonic() - t0 < 0.9  # not after the 1 s "import"
    begun._thread.join(10)  # noqa: SLF001
    assert not begun._thread.is_alive()  # noqa: SLF001
    assert steps == ["imported"]
    assert isinstance(begun._outcome[1], StartAbandoned)  # noqa: SLF001


def test_a_start_that_ends_first_stands():
    """The session, or the start's own error (a JVM that does not start: the traceback
    matters), whatever is said after; a reason given after the start ended changes nothing."""
    began = BackgroundStart(SETTINGS, start=lambda settings, gate: "session").begin()
    began._thread.join(10)  # noqa: SLF001
    began.stop_waiting(ValueError("the parse failed, later"))
    assert began.result() == "session"

    def broken(settings, *, gate):
        gate.launching()
        raise RuntimeError("Java gateway process exited before sending its port number")

    with pytest.raises(RuntimeError, match="Java gateway process exited"):
        BackgroundStart(SETTINGS, start=broken).begin().result()


def _sigint_default() -> None:
    """In the child, before exec: SIGINT back to its default (it may be inherited ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("how", ["parse_error", "interrupt"])
def test_a_start_abandoned_after_its_launch_stops_the_jvm_it_launched(how):
    """The parse fails (or SIGINT comes) while the JVM is being launched: that JVM is stopped
    (SIGTERM: PySpark's wait for it ends at once) before the reason is raised; a JVM of the
    process from before the start and any other child are left. A JVM left running outlived the
    run (60+ s, session 31); the start's thread has ended when ``result()`` raises.

    The child's SIGINT is reset to its default before exec: pytest started as a background job
    of a non-interactive shell passes SIGINT on ignored, Python then installs no KeyboardInterrupt
    handler, and the ``interrupt`` case waited out its timeout (session 33)."""
    proc = subprocess.run([sys.executable, "-c", FAKE_START, how], cwd=REPO, capture_output=True, text=True,
                          timeout=120, preexec_fn=_sigint_default)
    assert proc.returncode == 0, proc.stderr[-2000:]
    raised = "ValueError" if how == "parse_error" else "KeyboardInterrupt"
    assert proc.stdout.split() == [raised, "True", str(-signal.SIGTERM), "None", "None", "False"], proc.stdout


_PARSE_FAILS_IN_THE_JVM_START = r'''
import sys, time
from trd_spark.pgs import scoring_files

parse = scoring_files._parse_files

def parse_once_the_context_is_being_made(*args, **kwargs):
    """The parse's error comes when PySpark has begun making the SparkContext (its JVM up, the
    JavaSparkContext being created over py4j)."""
    while (context := sys.modules.get("pyspark.context")) is None or context.SparkContext._active_spark_context is None:
        time.sleep(0.01)
    time.sleep(0.3)
    return parse(*args, **kwargs)

scoring_files._parse_files = parse_once_the_context_is_being_made
from trd_spark import cli
sys.exit(cli.main(sys.argv[1:]))
'''


@pytest.mark.slow
def test_a_parse_error_after_the_jvm_launch_is_one_line(tmp_path):
    """A bad weight whose parse fails after the JVM is up, while PySpark makes the SparkContext
    (the parse of a large file, its bad line near the end): session 31's signal raised the error
    inside the JavaSparkContext py4j call, and the run ended with exit 1 (a bug) and a
    traceback ending "Py4JError: An error occurred while calling None.org.apache.spark.api.java.
    JavaSparkContext", the file not named. Now: exit 3, one error line naming the file and line,
    no traceback, no JVM of the run left."""
    from test_run_before_stages import HEADER, _config

    config = _config(tmp_path, HEADER + "rs1\t1\t100\tG\tA\tnot-a-number\t1\t100\n")
    proc = subprocess.run([sys.executable, "-c", _PARSE_FAILS_IN_THE_JVM_START, "pgs", "--config", str(config)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 3, proc.stderr[-3000:]
    errors = [x for x in proc.stderr.splitlines() if " ERROR " in x]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert "PGS900001.txt.gz:6: column effect_weight" in errors[0]
    assert "Traceback" not in proc.stderr
    run_log = next((tmp_path / "results" / "toy-r1" / "logs").glob("*-pgs.log")).read_text()
    assert "trd_spark.session: Spark " not in run_log
    assert "the JVM being started (pid" in run_log  # it was launched, and stopped
    time.sleep(1)
    left = [p.name for p in Path("/proc").glob("[0-9]*") if _names(p, str(tmp_path))]
    assert not left, left


def _names(proc: Path, text: str) -> bool:
    try:
        return text.encode() in (proc / "cmdline").read_bytes() and int(proc.name) != os.getpid()
    except OSError:
        return False


_IN_PROCESS = r'''
import sys, threading
from pathlib import Path
sys.path.insert(0, "tests")
from test_run_before_stages import HEADER, _config
from trd_spark import cli

beside = []

class Recorder:
    """Every import asked while the start's thread runs, by another thread."""
    def find_spec(self, fullname, path=None, target=None):
        starts = [t for t in threading.enumerate() if t.name == "spark-start"]
        if starts and threading.current_thread() is not starts[0]:
            beside.append(fullname)
        return None

config = _config(Path(sys.argv[1]), HEADER + "rs1\t1\t100\tG\tA\tnot-a-number\t1\t100\n")
sys.meta_path.insert(0, Recorder())
code = cli.main(["pgs", "--config", str(config)])
hail = sys.modules.get("hail")
print(code, [t.name for t in threading.enumerate() if t.name == "spark-start"], hasattr(hail, "init"), sorted(beside))
'''


def test_an_invocation_ends_after_its_abandoned_start_has_imported(tmp_path):
    """The parse fails at once, while the start imports Hail: the error is raised without
    waiting for the import, but the invocation (``cli.main``) returns once the start's thread
    has ended: a thread still importing Hail beside the caller's next imports (a test's, a
    notebook's) can hand one of them a half-initialised module (session 31's aiohttp flake). No
    other thread imports while the start's does (the CLI's error path included: the parse's
    modules are imported before its threads start)."""
    proc = subprocess.run([sys.executable, "-c", _IN_PROCESS, str(tmp_path)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["3", "[]", "True", "[]"], proc.stdout + proc.stderr[-2000:]


# --------------------------------------------------------------------------------------------
# The interrupt line says where the stage's folder stands on disk
# --------------------------------------------------------------------------------------------
@pytest.fixture
def published_config(spark, tmp_path) -> Path:
    """A config whose every stage is published (a text file each, the real ``publish_stage``)."""
    from test_run_before_stages import _config, publish_every_stage

    return publish_every_stage(spark, _config(tmp_path))


def _sigint_and_wait() -> None:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(30)  # the CLI's handler raises here, at once


@pytest.mark.parametrize("point", ["mid_swap", "after_markers"])
def test_an_interrupt_while_the_folder_is_swapped_in_says_what_is_on_disk(
        published_config, spark, monkeypatch, point, interrupt_kept_in_test):
    """A real SIGINT (through the CLI's handlers) inside the real ``publish_stage``'s swap:
    writing the new folder's ``_SUCCESS`` (the old folder's markers are gone, the new one is not
    marked yet: the stage reads incomplete and reruns), or deleting the old copy after the new
    folder's markers were written (the stage is complete). Both read "nothing of stage models
    published": the stage was marked published only after the swap's end."""
    from trd_spark import cli, io
    from trd_spark.config import load_config
    from trd_spark.errors import Interrupted
    from trd_spark.layout import SUCCESS, Layout, publish_stage
    from trd_spark.logs import WarningCounter

    cfg = load_config(published_config)
    layout = Layout.of(cfg)
    final = layout.stage_dir("models")
    real_write, real_delete = io.Fs.write_text, io.Fs.delete

    def write_text(self, path, text, *args, **kwargs):
        if point == "mid_swap" and path == f"{final}/{SUCCESS}":
            _sigint_and_wait()
        return real_write(self, path, text, *args, **kwargs)

    def delete(self, path, *args, **kwargs):
        if point == "after_markers" and ".models.replaced-" in path:
            _sigint_and_wait()
        return real_delete(self, path, *args, **kwargs)

    monkeypatch.setattr(io.Fs, "write_text", write_text)
    monkeypatch.setattr(io.Fs, "delete", delete)
    counter = WarningCounter()
    with pytest.raises(Interrupted) as raised, cli._signals_handled(counter):  # noqa: SLF001 - as main() installs them
        with counter.attached(), counter.running_stage("models"), counter.stage_scope("models"):
            with publish_stage(spark, cfg, "models", warnings=counter) as writer:
                writer.write_text("out.txt", "models, again\n")
    said = raised.value.what_was_published()
    complete = layout.is_complete(LocalFs(), "models")  # the disk as a rerun reads it
    if point == "mid_swap":
        assert not complete
        assert said == ("stage models left incomplete: the signal came while its new folder replaced the old one "
                        "(no _SUCCESS: it reruns)")
    else:
        assert complete
        assert said == "the models stage's folder published before the signal"


@pytest.mark.parametrize("how", ["signal", "keyboard_interrupt"])
def test_an_interrupt_while_a_complete_stage_decides_whether_it_reruns_says_it_is_kept(
        published_config, monkeypatch, capsys, how, interrupt_kept_in_test):
    """``trd-spark models`` on a release whose models folder is complete: interrupted while it
    decides whether the stage reruns, the line read "nothing of stage models published", as if
    the stage had no output; a KeyboardInterrupt raised there (not by the CLI's handler: PySpark's
    own SIGINT handler raises one) named no stage at all ("nothing partial published"), the
    counter having left the stage by the time it was told."""
    from trd_spark import cli, pipeline
    from trd_spark.config import load_config
    from trd_spark.io import Fs
    from trd_spark.layout import Layout

    real_rerun_reasons = pipeline.rerun_reasons

    def rerun_reasons(cfg, spec, fs):
        if spec.name != "models":  # the upstream stages' check before any stage runs: the real one
            return real_rerun_reasons(cfg, spec, fs)
        if not isinstance(fs, Fs):  # the no-Spark look before the session: a rerun, so Spark starts
            return ["(this test's)"]
        if how == "signal":
            _sigint_and_wait()
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "rerun_reasons", rerun_reasons)
    cfg = load_config(published_config)
    before = Layout.of(cfg).manifest(LocalFs(), "models")["run_id"]
    assert cli.main(["models", "--config", str(published_config)]) == 130
    line = next(x for x in capsys.readouterr().err.splitlines() if "Interrupted:" in x)
    assert "SIGINT received during stage models" in line, line
    assert "nothing of stage models published; its complete folder of an earlier run is kept" in line, line
    assert Layout.of(cfg).manifest(LocalFs(), "models")["run_id"] == before


# --------------------------------------------------------------------------------------------
# The pgs stage's warm-up thread imports nothing beside the main thread's parse and match
# --------------------------------------------------------------------------------------------
_WARM_UP_IMPORTS = r'''
import sys, threading
from pathlib import Path
sys.path.insert(0, "tests")
off_main = []

class Recorder:
    """Every import asked by a thread other than the main one."""
    def find_spec(self, fullname, path=None, target=None):
        if threading.current_thread() is not threading.main_thread():
            off_main.append(fullname)
        return None

from test_run_before_stages import _config
import trd_spark.cli  # what a run has imported
from trd_spark.config import load_config
from trd_spark.pgs import engine, pgen_engine, stage
from trd_spark.session import command_session
import hail as hl

cfg = load_config(_config(Path(sys.argv[1])))
ds = cfg.datasets[0]
genotypes = ds.genotypes.model_copy(update={"format": "pgen", "path": sys.argv[1] + "/genotypes"})
cfg = cfg.model_copy(update={"datasets": [ds.model_copy(update={"genotypes": genotypes})]})
assert engine.engine_for(genotypes, cfg.pgs.native) == "native"  # the whole warm-up, not the workers only
spark = command_session(cfg.spark)
sys.meta_path.insert(0, Recorder())
with stage.native_warm_up(hl, spark, cfg):
    pass
print(len(pgen_engine._WARMED), sorted(set(off_main)))
'''


@pytest.mark.slow
def test_the_native_warm_up_imports_nothing_in_its_thread(tmp_path):
    """``stage.native_warm_up`` runs ``pgen_engine.warm_up`` in a thread while the main thread
    parses and matches (pandas, pyarrow, Hail). Its thread imported 80 modules on its first run
    (PySpark's to_arrow_type imports distutils.version: setuptools' distutils, packaging, jaraco,
    more_itertools; Table.to_pandas imports pyarrow.pandas_compat), beside the main thread's
    imports: two threads importing at once can hand one a half-initialised module (session 31's
    "module aiohttp has no attribute typedefs"). A fresh interpreter with a real session (nothing
    imported by other tests) and an import recorder."""
    proc = subprocess.run([sys.executable, "-c", _WARM_UP_IMPORTS, str(tmp_path)], cwd=REPO, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "1 []", proc.stdout[-3000:]
