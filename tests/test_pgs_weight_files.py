"""The native pass's weights built straight into the files its tasks map (issue 16, session 33).

``matching.weight_matrices(..., directory)`` builds slope and n_vars in ``<directory>/weights/
<field>.npy`` (``native_task.mapped_rows``) in the common case (one site per row), and
``native_task.shared_task_rows`` then leaves those files as they are (``in_place``) and writes
the other arrays. The matrices must be the in-memory ones bit for bit, the files must hold them
(what a task maps, ``TaskRows.load``), and a file replaced while the driver maps the old one must
not change under it. No Spark: plain frames and files.
"""

from __future__ import annotations

import os

import numpy as np
from test_pgs_weight_matrices import HAPLOID, _same_bits, _sites_and_rows

from trd_spark.pgs.matching import frame_matches, weight_matrices
from trd_spark.pgs.native_task import TaskRows, mapped_rows, shared_task_rows


def test_weight_matrices_built_in_the_pass_files_equal_the_in_memory_ones(tmp_path):
    """One site per row (unmatched sites' members present, so a spare last row in the file, and
    without them): slope, offset and its column sums and n_vars with the in-memory bits, the
    result naming the directory, and each task's rows of the files (``TaskRows.load``) the
    matrices' rows. Two sites on one row (the bincount path): built in memory, no file."""
    rng = np.random.default_rng(33)
    k = 5
    for i, (shared_row, every_row_used) in enumerate(((False, False), (False, True), (True, False))):
        sites, rows = _sites_and_rows(rng, k, shared_row=shared_row, every_row_used=every_row_used)
        m = frame_matches(sites, rows)
        directory = str(tmp_path / f"pass{i}")
        os.makedirs(directory)
        memory, in_files = weight_matrices(m, HAPLOID), weight_matrices(m, HAPLOID, directory)
        assert memory.directory is None
        assert _same_bits(in_files.slope, memory.slope) and _same_bits(in_files.offset, memory.offset)
        assert _same_bits(in_files.offset_total(), memory.offset_total())
        assert np.array_equal(in_files.n_vars, memory.n_vars) and in_files.n_vars.dtype == memory.n_vars.dtype
        files = os.path.join(directory, "weights")
        if shared_row:
            assert in_files.directory is None and not os.path.exists(files)
            continue
        assert in_files.directory == directory
        assert sorted(os.listdir(files)) == ["n_vars.npy", "slope.npy"]
        n = len(in_files.rows)
        tasks = shared_task_rows(directory, {"variant_idx": np.arange(n, dtype=np.int64),
                                             "slope": in_files.slope, "n_vars": in_files.n_vars},
                                 [0, n // 2, n], frozenset({"slope", "n_vars"}))
        for task in tasks:
            got = task.load()
            assert _same_bits(got.slope, memory.slope[task.lo:task.hi])
            assert np.array_equal(got.n_vars, memory.n_vars[task.lo:task.hi])
            assert np.array_equal(got.variant_idx, np.arange(task.lo, task.hi))


def test_shared_task_rows_leaves_arrays_in_place_and_replaces_the_others_under_a_new_inode(tmp_path):
    """An ``in_place`` field's file is not written again (a value set through the mapping after
    ``shared_task_rows`` is what a task reads); a field not in place whose file exists (the
    matrices reordered after they were built in the files) is written under a new inode, so the
    driver's mapping of the old file keeps its values (np.save into the same inode would first
    truncate it under the mapping)."""
    directory = str(tmp_path)
    slope = np.asarray(mapped_rows(directory, "slope", (6, 3), np.dtype(np.float64)))
    slope[:] = np.arange(18.0).reshape(6, 3)
    old_n_vars = np.asarray(mapped_rows(directory, "n_vars", (6, 3), np.dtype(np.uint8)))
    old_n_vars[:] = 1
    before = os.stat(os.path.join(directory, "weights", "n_vars.npy")).st_ino
    reordered = np.full((6, 3), 2, dtype=np.uint8)
    [task] = shared_task_rows(directory, {"slope": slope, "n_vars": reordered}, [0, 6], frozenset({"slope"}))
    slope[0, 0] = -1.0  # after the call: a task maps the same pages
    assert task == TaskRows(os.path.join(directory, "weights"), 0, 6)
    got = task.load()
    assert got.slope[0, 0] == -1.0 and _same_bits(got.slope[1:], np.arange(3.0, 18.0).reshape(5, 3))
    assert np.array_equal(got.n_vars, reordered)
    assert os.stat(os.path.join(directory, "weights", "n_vars.npy")).st_ino != before
    assert (old_n_vars == 1).all()
