"""Session 35, run safety and reruns (the owed items of session 34): what a user is told when the
native pass's files vanish in a real Spark task.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from trd_spark.errors import EnvironmentFault


def test_pass_files_gone_in_a_spark_task_is_one_environment_line_naming_the_setting(spark, tmp_path):
    """systemd-logind's RemoveIPC empties /dev/shm at logout (``native_task.pass_files_gone``).
    Raised in a real Spark task (the Python worker's traceback inside Java's error), or on the
    driver reading a task's partials, ``hail_errors`` made it ``InputDataError: reading the
    genotypes failed: FileNotFoundError: [Errno #] ...`` (exit 3, blaming the genotype files),
    cut at 300 characters (the path and what to do lost) and its digits masked. Now it is one
    EnvironmentFault line (exit 1): the setting, what to do and the whole path."""
    from trd_spark.pgs.native_task import PASS_FILES_GONE, pass_files_gone, shared_task_rows
    from trd_spark.pgs.stage import hail_errors

    folder = tmp_path / "pgs_native_partials_42"
    rows = shared_task_rows(str(folder), {"variant_idx": np.arange(4, dtype=np.int64)}, [0, 2, 4])
    gone = str(folder / "weights")
    for name in os.listdir(gone):
        os.remove(os.path.join(gone, name))
    os.rmdir(gone)

    def in_a_task() -> None:
        spark.sparkContext.parallelize(rows, 2).map(lambda t: int(t.load().variant_idx.sum())).collect()

    def on_the_driver() -> None:
        raise pass_files_gone(gone)

    for run in (in_a_task, on_the_driver):
        with pytest.raises(EnvironmentFault) as err, hail_errors("dataset discovery (x.bed)"):
            run()
        text = str(err.value)
        assert err.value.exit_code == 1 and "\n" not in text
        assert text.startswith(f"dataset discovery (x.bed): {PASS_FILES_GONE}")
        assert text.endswith(f"'{gone}'") and "reading the genotypes failed" not in text
