"""Session 52 fixed16 (issue 16, the score phase's fixed CPU): the benchmark's split of the
JVM's CPU by thread (``benchmarks/pgs_vs_plink2.py``: ``jvm_threads_cpu``, ``thread_cpu_split``),
which tells JIT compiles from Spark's job and task threads in a phase's JVM share, and the
weights build's running offset sums (``matching._written_cells``) taken without numpy's masked
reduction, bit for bit the column sums ``WeightMatrices.offset_total`` takes.

Before this session the benchmark had no such split (the functions did not exist: these tests
fail with AttributeError there); the offset sums are checked against the sums of the rows
themselves, as tests/test_flatbed_s39.py does for other shapes (they held before too: the
change is CPU only)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np


def _bench():
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "pgs_vs_plink2.py"
    spec = importlib.util.spec_from_file_location("bench_pgs_vs_plink2_s52", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_thread_cpu_by_name_digits_grouped(tmp_path):
    """Threads are read from /proc/<pid>/task/<tid>/stat (a stand-in tree here): user + system
    ticks summed by thread name with its digits made ``#`` (two C2 compiler threads are one
    group), a name holding ')' and spaces read whole; the JVM's own pid as given."""
    bench = _bench()
    tick = os.sysconf("SC_CLK_TCK")

    def stat(tid: int, name: str, utime: int, stime: int) -> None:
        d = tmp_path / "77" / "task" / str(tid)
        d.mkdir(parents=True)
        rest = ["S", "1"] + ["0"] * 9 + [str(utime), str(stime)] + ["0"] * 30
        (d / "stat").write_text(f"{tid} ({name}) " + " ".join(rest) + "\n")

    stat(1, "C2 CompilerThre", 3 * tick, tick)
    stat(2, "C2 CompilerThre", tick, 0)
    stat(3, "Executor task l", 0, 2 * tick)
    stat(4, "odd) name 1", tick, 0)
    assert bench.jvm_threads_cpu(77, proc=str(tmp_path)) == {"C# CompilerThre": 5.0, "Executor task l": 2.0,
                                                              "odd) name #": 1.0}
    assert bench.jvm_threads_cpu(78, proc=str(tmp_path)) == {}  # no such process


def test_thread_cpu_split_top_and_other():
    """The top names by CPU spent between two readings, at least 0.01 s each, the rest as ``other``."""
    bench = _bench()
    before = {"C# CompilerThre": 1.0, "dag-scheduler-e": 0.5, "VM Thread": 0.2}
    after = {"C# CompilerThre": 1.3, "dag-scheduler-e": 0.52, "VM Thread": 0.205, "Executor task l": 0.04}
    assert bench.thread_cpu_split(before, after, top=2) == {"C# CompilerThre": 0.3, "Executor task l": 0.04,
                                                            "other": 0.02}
    assert bench.jvm_threads_cpu(-1) == {}  # no such process: nothing, no error


def test_written_cells_offset_sums_bits(tmp_path):
    """The offset sums of the negated rows (-2 x their column sums in row order, +0.0 for a zero
    sum) equal numpy's sequential column sum of those rows bit for bit, over several chunks, a
    chunk with no negated row, zero and negative-zero sums included."""
    from trd_spark.pgs import matching

    rng = np.random.default_rng(52)
    n_rows, k = 9000, 5
    cols = np.tile(np.arange(k, dtype=np.int32), n_rows)
    bounds = np.arange(0, (n_rows + 1) * k, k, dtype=np.int32)
    values = rng.normal(size=n_rows * k) * 1e-3
    values[::7] = 0.0
    negated = rng.random(n_rows) < 0.4
    negated[: 2 * (2**20 // (k * 8))] = False  # whole chunks without a negated row
    negated[-3:] = True
    values.reshape(n_rows, k)[:, 4] = 0.0  # a column whose sum is zero
    matrix, sums = matching._written_cells(str(tmp_path), "slope", (n_rows, k), values, cols, bounds, negated)
    dense = values.reshape(n_rows, k).copy()
    dense[negated] = 0.0 - dense[negated]
    assert np.array_equal(np.asarray(matrix), dense)
    expected = -2.0 * np.add.reduce(dense[negated], axis=0) + 0.0
    assert sums is not None and sums.tobytes() == expected.tobytes()
