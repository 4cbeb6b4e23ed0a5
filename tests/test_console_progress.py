"""What a user reads on the console while a stage works on the driver (issue 18's progress lines,
read as a new user on a toy run, session 26).

During the pgs stage's matching no Spark job runs for minutes at biobank scale; the heartbeat's
"no Spark job active (work on the driver)", line after line, read as a hang. It now names the
stage's last progress line and how long ago it was logged (``logs.LastStep``), never a DEBUG
record (the run log's alone).
"""

from __future__ import annotations

import logging
import re
import time

from trd_spark.logs import TRD_LOGGER, Heartbeat


def test_heartbeat_names_the_last_progress_line_while_the_driver_works(spark, caplog):
    caplog.set_level(logging.DEBUG, logger="trd_spark")
    stage_log = logging.getLogger("trd_spark.pgs.stage")
    with Heartbeat(spark.sparkContext, "[1/5] pgs", seconds=0.2) as beat:
        stage_log.info("pgs: matching %d scores in dataset %s", 61, "discovery")
        stage_log.debug("pgs: a DEBUG record (run log only)")
        time.sleep(0.7)
    assert not beat._thread.is_alive()  # noqa: SLF001
    lines = [r.getMessage() for r in caplog.records if r.name == "trd_spark.progress"]
    named = re.compile(r"\[1/5\] pgs: still running \(\d+s elapsed\); no Spark job active \(work on the driver; "
                       r"since 'pgs: matching 61 scores in dataset discovery' \d+s ago\)")
    assert lines and all(named.fullmatch(line) for line in lines), lines
    assert not [h for h in logging.getLogger(TRD_LOGGER).handlers if h is getattr(beat, "last_step", None)]


class _Stage:
    stageId, name, numCompletedTasks, numTasks, numActiveTasks = 201, "collect at stage.py:139", 0, 1, 1


class _Tracker:
    """A status tracker read between a job's end and its stage's: a stage, no job."""

    def getActiveStageIds(self):  # noqa: N802 - PySpark's names
        return [201]

    def getStageInfo(self, i):  # noqa: N802
        return _Stage()

    def getActiveJobsIds(self):  # noqa: N802
        return []


class _Context:
    def statusTracker(self):  # noqa: N802
        return _Tracker()


def test_heartbeat_with_a_stage_but_no_job_names_no_empty_job():
    """Seen on a toy run: "Spark job , stage 201 (...)" (the job ended between the two reads)."""
    assert Heartbeat(_Context(), "[3/5] cohort", seconds=30).spark_status() == \
        "Spark stage 201 (collect at stage.py:139): 0/1 tasks done, 1 running"
