"""A signal while the main thread waits for a Spark job ends that job at once (cli._CancelOnSignal).

Python runs a signal handler in the main thread only, between bytecodes; a main thread blocked
in a Py4J call for a Spark job (SIGINT does not stop the JVM) ran ``cli._on_signal`` only when
the job had finished. The end-to-end contract of a signalled run (one ERROR line, exit 143 / 130,
lock released, resume equal) is tests/test_fault_resume.py's; this checks the cancel alone, on
the shared session, with a job that only sleeps (no CPU).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import warnings

import pytest

from trd_spark import cli
from trd_spark.errors import Interrupted
from trd_spark.logs import WarningCounter

SLEEP_S = 300  # the job's length: the signal must end it long before


def test_sigint_while_a_spark_job_runs_cancels_the_job_at_once(spark, monkeypatch):
    """The job runs in a thread of its own (in a `trd-spark run` it runs in the main thread,
    whose Py4J connection an interrupt leaves mid-call: harmless in a process that then exits,
    not in this shared session); the main thread holds the CLI's handlers and gets the signal."""
    assert threading.current_thread() is threading.main_thread()  # signal handlers are the main thread's
    handler = signal.getsignal(signal.SIGINT)
    wakeup_fd = signal.set_wakeup_fd(-1)  # the process's own (-1: none), put back at once
    signal.set_wakeup_fd(wakeup_fd)
    # What _on_signal changes for the rest of a dying process, restored for the rest of the suite.
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)
    sc = spark.sparkContext
    # One task that sleeps in the JVM (no CPU).
    query = spark.range(1, numPartitions=1).selectExpr(f"reflect('java.lang.Thread', 'sleep', {SLEEP_S * 1000}L)")
    outcome: dict[str, object] = {}

    def run_job() -> None:
        sc.setLocalProperty("spark.job.interruptOnCancel", "true")  # a cancelled task frees its core at once
        try:
            query.collect()
        except Exception as e:  # noqa: BLE001 - what ended the job is the check
            outcome["error"] = e

    job = threading.Thread(target=run_job, name="test-job", daemon=True)
    with warnings.catch_warnings(), pytest.raises(Interrupted) as raised:
        with cli._signals_handled(WarningCounter()):  # noqa: SLF001 - the CLI's handlers, as main() installs them
            job.start()
            deadline = time.time() + SLEEP_S / 2
            while not sc.statusTracker().getActiveJobsIds() and time.time() < deadline:
                time.sleep(0.1)
            sent = time.time()
            os.kill(os.getpid(), signal.SIGINT)
            job.join()
    assert raised.value.exit_code == 130
    # Ended by the cancel, not by the job's end (before the watcher: SLEEP_S after the signal).
    job.join(SLEEP_S / 3)
    assert not job.is_alive(), "the job still runs after the signal"
    assert "cancel" in str(outcome.get("error")), outcome
    assert time.time() - sent < SLEEP_S / 3
    assert signal.getsignal(signal.SIGINT) is handler  # the CLI's handlers removed again
    # and the wakeup fd put back (mutation check of ebdeea9): left on the closed pipe's number, a
    # later signal's byte would go to whatever file or socket reuses that number.
    assert signal.set_wakeup_fd(wakeup_fd) == wakeup_fd
