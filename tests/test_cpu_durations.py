"""tests/cpu_durations.py, the opt-in plugin that writes each test phase's CPU-seconds: a pytest
run of two small tests (a subprocess, no Spark) with the plugin on. Session 38 (helper
"suitecost"): wall durations of a full run at load 30-50 ranked nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cpu_durations import summarise

TESTS = Path(__file__).resolve().parent

BUSY = '''
import os, subprocess, sys, time

def burn(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass

def test_busy_here():
    burn(0.4)

def test_busy_in_an_orphan(tmp_path):
    """A grandchild that outlives its parent (as a pyspark driver's JVM does) burns CPU."""
    done = tmp_path / "done"
    code = ("import os, sys, time\\n"
            "if os.fork(): sys.exit(0)\\n"
            "end = time.process_time() + 0.4\\n"
            "while time.process_time() < end: pass\\n"
            f"open({str(done)!r}, 'w').close()\\n")
    subprocess.run([sys.executable, "-c", code], check=True)
    while not done.exists():
        time.sleep(0.01)
    time.sleep(0.1)  # the orphan exits
'''


def test_each_phase_gets_a_row_with_its_cpu_seconds(tmp_path):
    (tmp_path / "test_busy.py").write_text(BUSY)
    out = tmp_path / "cpu.tsv"
    env = {**os.environ, "CPU_DURATIONS": str(out), "PYTHONPATH": str(TESTS)}
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "cpu_durations", "-p", "no:cacheprovider", "-q",
                        "-p", "no:xdist", "test_busy.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    assert [(row[1], row[2]) for row in rows] == [("main", "collect")] + [("main", when) for _ in range(2)
                                                                            for when in ("setup", "call", "teardown")]
    method = rows[0][5]
    assert method in ("cgroup", "proc")
    cpu = {(row[6].split("::")[1], row[2]): float(row[4]) for row in rows[1:]}
    assert 0.35 <= cpu[("test_busy_here", "call")] < 5
    assert cpu[("test_busy_here", "setup")] < 0.35
    if method == "cgroup":  # /proc cannot see a process that left the tree (the module says so)
        assert 0.35 <= cpu[("test_busy_in_an_orphan", "call")] < 5
    text = summarise(str(out))
    assert "  test_busy.py" in text.splitlines()[1] and "main" in text.splitlines()[-1]
