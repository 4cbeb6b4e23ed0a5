"""tests/cpu_durations.py, the opt-in plugin that writes each test phase's CPU-seconds. Cheap: the
plugin's hooks and ``summarise`` run in this process (CPU counted by /proc: this worker is never
moved into a cgroup), and the cgroup counter in one small Python subprocess (no pytest in it),
which must leave no cgroup behind even with a daemon still running in it (session 38 reader
finding 8: the suite is over its time aim; as root the plugin made a cpuacct group under the CI
runner's own). Session 38 (helper "suitecost"): wall durations of a full run at load 30-50 ranked
nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import cpu_durations
import pytest
from cpu_durations import CpuDurations, summarise

TESTS = Path(__file__).resolve().parent


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_each_phase_gets_a_row_with_its_cpu_seconds(tmp_path, monkeypatch):
    monkeypatch.setattr(cpu_durations, "CPUACCT", tmp_path / "no-cgroup")  # the /proc count
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    out = tmp_path / "cpu.tsv"
    plugin = CpuDurations(str(out))
    assert plugin.counter.method == "proc"
    (tmp_path / "proc").mkdir()
    monkeypatch.setattr(cpu_durations, "PROC", tmp_path / "proc")  # no JVM (test_jvm_threads_by_kind)
    plugin.pytest_collection_finish(None)
    for when, busy in (("setup", 0), ("call", 0.3), ("teardown", 0)):
        _burn(busy)
        plugin.pytest_runtest_logreport(SimpleNamespace(when=when, duration=0.5, outcome="passed",
                                                        nodeid="tests/test_x.py::test_busy@group"))
    plugin.pytest_runtest_logreport(SimpleNamespace(node=object(), when="call", duration=1.0, outcome="passed",
                                                    nodeid="relayed"))  # an xdist controller's: no row
    plugin.pytest_unconfigure(None)
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    assert [(r[1], r[2], r[5], r[6]) for r in rows] == [("main", "collect", "proc", "<collection>")] + [
        ("main", when, "passed", "tests/test_x.py::test_busy@group") for when in ("setup", "call", "teardown")]
    assert 0.25 <= float(rows[2][4]) < 5 and float(rows[1][4]) < 0.25
    with open(out, "a") as f:
        f.write("1.0\tgw1\tcall\t2.00\t7.50\tpassed\ttests/test_y.py::test_a\n"
                "1.0\tgw1\tcall\t1.00\t0.50\tpassed\ttests/test_y.py::test_b\n")
    lines = summarise(str(out)).splitlines()
    assert lines[1].split() == ["8.0", "3.0", "2", "tests/test_y.py"]
    assert lines[2].split()[1:] == ["1.5", "1", "tests/test_x.py"]  # @group dropped: one module
    assert lines[-1].startswith("total ") and "gw1 8.0" in lines[-1] and "main " in lines[-1]


def _fake_task(proc: Path, pid: int, tid: int, name: str, ppid: int, utime: int, stime: int) -> None:
    """A /proc/PID/task/TID/stat (and the process's own stat for its main thread) as Linux writes them."""
    hz = os.sysconf("SC_CLK_TCK")
    line = f"{tid} ({name}) S {ppid} 1 1 0 -1 4194560 10 0 0 0 {utime * hz} {stime * hz} 0 0 20 0 1 0 5 1 1\n"
    (proc / str(pid) / "task" / str(tid)).mkdir(parents=True)
    (proc / str(pid) / "task" / str(tid) / "stat").write_text(line)
    if tid == pid:
        (proc / str(pid) / "stat").write_text(line)


def test_jvm_threads_by_kind(tmp_path, monkeypatch):
    """At the end, each Java process the pytest process started itself (not another's, not a
    non-Java child) gets one ``FILE.jvm`` row per thread kind, and ``summarise`` sums them."""
    proc = tmp_path / "proc"
    me = os.getpid()
    for tid, name, user, system in ((700, "java", 1, 0), (701, "C2 CompilerThre", 30, 2), (702, "C2 CompilerThre", 5, 0),
                                    (703, "C1 CompilerThre", 4, 0), (704, "HTTP-Dispatcher", 20, 1),
                                    (705, "Executor task l", 2, 0), (706, "Thread-4", 9, 1), (707, "VM Thread", 3, 0)):
        _fake_task(proc, 700, tid, name, me, user, system)
    _fake_task(proc, 800, 800, "java", me + 1, 50, 0)  # another process's JVM
    _fake_task(proc, 900, 900, "python3", me, 50, 0)  # a child, not a JVM
    (proc / "self").mkdir()
    monkeypatch.setattr(cpu_durations, "PROC", proc)
    monkeypatch.setattr(cpu_durations, "CPUACCT", tmp_path / "no-cgroup")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    assert cpu_durations.java_children() == [700]
    assert cpu_durations.jvm_threads(700) == {"other": 1.0, "jit_c2": 37.0, "jit_c1": 4.0, "hail_driver": 21.0,
                                              "executor_tasks": 2.0, "py4j": 10.0, "gc": 3.0}
    out = tmp_path / "cpu.tsv"
    plugin = CpuDurations(str(out))
    plugin.pytest_collection_finish(None)
    plugin.pytest_unconfigure(None)
    rows = [line.split("\t") for line in (tmp_path / "cpu.tsv.jvm").read_text().splitlines()]
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [
        ("gw1", "700", "executor_tasks", "2.00"), ("gw1", "700", "gc", "3.00"), ("gw1", "700", "hail_driver", "21.00"),
        ("gw1", "700", "jit_c1", "4.00"), ("gw1", "700", "jit_c2", "37.00"), ("gw1", "700", "other", "1.00"),
        ("gw1", "700", "py4j", "10.00")]
    assert summarise(str(out)).splitlines()[-1] == ("JVM threads 78.0 CPU-s: jit_c2 37.0, hail_driver 21.0, py4j 10.0, "
                                                    "jit_c1 4.0, gc 3.0, executor_tasks 2.0, other 1.0")


CHILD = '''
import json, os, subprocess, sys, time
from cpu_durations import _Counter
counter = _Counter()
group = str(counter.group)
before = counter.seconds()
done = sys.argv[1]
code = ("import os, sys, time\\n"
        "if os.fork(): sys.exit(0)\\n"
        "end = time.process_time() + 0.3\\n"
        "while time.process_time() < end: pass\\n"
        f"open({done!r}, 'w').close()\\n")
subprocess.run([sys.executable, "-c", code], check=True)  # an orphan (as a driver's JVM) burns CPU
while not os.path.exists(done):
    time.sleep(0.01)
time.sleep(0.1)
daemon = subprocess.Popen(["sleep", "60"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # in the group at close
orphan_cpu = counter.seconds() - before
counter.close()
print(json.dumps({"group": group, "cpu": orphan_cpu, "daemon": daemon.pid}))
'''


def test_the_cgroup_counter_counts_an_orphan_and_leaves_no_group(tmp_path):
    r = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "done")], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(TESTS)}, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(r.stdout)
    os.kill(got["daemon"], signal.SIGKILL)
    if got["group"] == "None":
        pytest.skip("no writable cgroup v1 cpuacct here (not root): the plugin counts by /proc")
    assert 0.25 <= got["cpu"] < 5
    assert not Path(got["group"]).exists(), f"cgroup {got['group']} left behind"
