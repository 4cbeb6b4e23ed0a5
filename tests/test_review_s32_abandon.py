"""Review of session 32 (runsafe, c9dea48): an abandoned start's JVM that does not end on SIGTERM
is killed (``session.BackgroundStart.abandon``), and the kill is counted in the log.

The start is a fake as in test_runsafe_s32 (tests/fake_spark_start.py: a child process whose
command line names Spark's submit class, as PySpark's JVM's does), here one that ignores SIGTERM;
it runs in a process of its own, since this one's children include the shared session's JVM.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from fake_spark_start import FAKE_START

REPO = Path(__file__).resolve().parents[1]

def test_an_abandoned_starts_jvm_deaf_to_sigterm_is_killed_and_counted():
    """The JVM the start launched ignores SIGTERM (a JVM whose shutdown hooks hang): it was left
    running (c9dea48 sent SIGTERM only), the start's thread waiting on it with this process's
    stdout and stderr sent to the run log (the run's error line would reach the log only), and
    it outlived the run. Now it is killed ``ABANDON_TERM_SECONDS`` after its SIGTERM, the thread
    ends, and one WARNING counts the JVMs killed. Fails on 45356c7 (the fake left running: 'left'),
    passes here."""
    proc = subprocess.run([sys.executable, "-c", FAKE_START, "deaf"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[-2:] == ["ValueError True", f"ended {-signal.SIGKILL} False"], proc.stdout
    warnings = [line for line in lines if line.startswith("LOG WARNING")]
    assert warnings == ["LOG WARNING the abandoned Spark start's JVMs still running 0.5 s after SIGTERM were killed "
                        "(SIGKILL): 1"], proc.stdout


_FORGETS = r'''
import subprocess, sys, time
import pyspark.context
from trd_spark.config import SparkSettings
from trd_spark.session import BackgroundStart

class Exited:  # the gateway's JVM process, ended (stopped by the abandon)
    def poll(self):
        return -15

class Gateway:
    proc = Exited()

launched = []

def start(settings, *, gate):
    gate.step()
    gate.launching()
    jvm = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "org.apache.spark.deploy.SparkSubmit"])
    launched.append(jvm)
    # PySpark's state as its launch leaves it: the class's gateway names the new JVM
    pyspark.context.SparkContext._gateway, pyspark.context.SparkContext._jvm = Gateway(), object()
    jvm.wait()
    raise RuntimeError("Java gateway process exited before sending its port number")

begun = BackgroundStart(SparkSettings(master="local[1]"), start=start).begin()
while not launched:
    time.sleep(0.01)
time.sleep(0.1)
begun.stop_waiting(ValueError("the parse failed"))
try:
    begun.result()
except ValueError:
    pass
print(launched[0].poll() is not None, pyspark.context.SparkContext._gateway, pyspark.context.SparkContext._jvm)
'''


def test_an_abandoned_starts_stopped_jvm_is_forgotten_by_pyspark():
    """c9dea48: once the abandoned start's thread has ended, PySpark's class state naming the
    JVM it stopped (``SparkContext._gateway``, reused by any later context) is cleared
    (``session._forget_stopped_jvm``), so a later start in the process launches a new JVM
    rather than calling a dead one. Mutant (the call after the wait dropped): the state stays,
    and test_runsafe_s32 passed. A fake launch, in a process of its own."""
    proc = subprocess.run([sys.executable, "-c", _FORGETS], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["True", "None", "None"], proc.stdout
