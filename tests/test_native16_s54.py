"""The native pass's workers and their memory (issue 16, session 54 helper native16).

A task's temporaries (each row chunk's missing-call mask and indices, the missing calls' n_vars
cast and sparse product, the slices' copies) were given back to the kernel by glibc's heap and
faulted in again chunk after chunk: ~20k minor faults per task of 100k rows x 2,500 samples in
every task, not only a worker's first (benchmarks/RESULTS.md, session 54 native16).
``native_task.keep_freed_heap`` keeps that memory for the next temporaries. Measured in a fresh
Python process (the settings are per process, as in a Spark worker; no Spark needed)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Three tasks of 6,000 rows x 2,000 samples x 61 scores (a .bed of random codes: ~25% missing
# calls) in one fresh process, as a worker runs a pass's tasks: the minor faults of each.
_TASKS = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    from trd_spark.pgs import native_task
    from trd_spark.pgs.native_task import PlinkFiles, Task, _score_task
    path, n, rows = sys.argv[1], 2000, 6000
    rng = np.random.default_rng(5)
    with open(path + ".bed", "wb") as f:
        f.write(bytes([0x6C, 0x1B, 0x01]))
        f.write(rng.integers(0, 256, size=(rows, (n + 3) // 4), dtype=np.uint8).tobytes())
    task = Task(variant_idx=np.arange(rows, dtype=np.int64), allele_idx=np.ones(rows, np.int32),
                slope=rng.normal(size=(rows, 61)), offset=None, n_vars=np.ones((rows, 61), np.uint8))
    faults, sums = [], []
    for i in range(3):
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        sums.append(float(sum(p[1][0].sum() for p in _score_task(PlinkFiles("plink", path), n, None, 512, True,
                                                                  10**9, task))))
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
    print(json.dumps({"faults": faults, "sums": sums, "kept": native_task._HEAP_KEPT}))
""")


def _three_tasks(tmp_path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env = {k: v for k, v in env.items() if not k.startswith("MALLOC_")}  # glibc's defaults, as a worker's
    out = subprocess.run([sys.executable, "-c", _TASKS, str(tmp_path / "g")], check=True, capture_output=True,
                         text=True, env=env, cwd=tmp_path)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="glibc's mallopt and /proc's fault counts")
def test_later_tasks_fault_in_no_memory(tmp_path):
    """A worker's tasks after its first fault in (almost) no page: their temporaries come from
    the heap the first one kept. Before session 54 (10a863e): 3,277 and 3,693 minor faults in the
    second and third task of this shape (glibc's default dynamic thresholds trimmed the heap after
    each chunk's temporaries), 12 and 2 after. The sums are the same in every task."""
    got = _three_tasks(tmp_path)
    assert got["kept"] == [True]
    assert max(got["faults"][1:]) < 600, got["faults"]
    assert got["sums"][0] == got["sums"][1] == got["sums"][2]


def test_keep_freed_heap_once_per_process(monkeypatch):
    """The settings are made once per process (the answer remembered); where the C library has no
    ``mallopt`` (macOS) the answer is False and nothing else happens."""
    from trd_spark.pgs import native_task

    monkeypatch.setattr(native_task, "_HEAP_KEPT", [False])
    assert native_task.keep_freed_heap() is False
    monkeypatch.setattr(native_task, "_HEAP_KEPT", [])

    class NoMallopt:
        def __init__(self, name):
            pass

    import ctypes

    monkeypatch.setattr(ctypes, "CDLL", NoMallopt)
    assert native_task.keep_freed_heap() is False
    assert native_task._HEAP_KEPT == [False]


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="/proc's fault counts")
def test_benchmark_counts_a_phase_s_minor_faults():
    """benchmarks/pgs_vs_plink2.py's ``process_faults`` (the score phase's ``faults_score``,
    scaling.py's ``faults_warm``) splits minor faults by process as ``process_cpu`` splits CPU:
    a child that writes 40 MiB of fresh (small) pages adds >= 10,240 to the children's count
    (``jvm``: a benchmark's only child is Spark's JVM). New in session 54 (no such count before)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import pgs_vs_plink2 as pv

    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import mmap, sys
        m = mmap.mmap(-1, 40 << 20)
        m.madvise(getattr(mmap, "MADV_NOHUGEPAGE", mmap.MADV_NORMAL))
        sys.stdin.readline()
        for i in range(0, 40 << 20, 4096):
            m[i] = 1
        print("written", flush=True)
        sys.stdin.read()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        before = pv.process_faults()  # the child waits for a line before it writes
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "written"
        after = pv.process_faults()
    finally:
        child.communicate("")
    assert set(after) == {"driver", "jvm", "workers"} and all(isinstance(v, int) for v in after.values())
    assert after["jvm"] - before["jvm"] >= 10_240, (before, after)
    cpu = pv.process_cpu()
    assert set(cpu) == {"driver", "jvm", "workers"} and cpu["driver"] > 0
