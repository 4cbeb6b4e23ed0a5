"""Opt-in pytest plugin: the CPU-seconds of every test phase, written as the phase ends.

Why: ``--durations`` reports wall time, and on a shared 2-core machine at load 30-50 wall time
measures the load, not the test (sessions 34, 36 and 38 could not rank the suite's modules from
a loaded full run). The CPU-seconds of the process that ran a phase and of everything it started
(the shared Spark/Hail JVM, subprocess runs and their JVMs) barely depend on the load.

Use (tests/ on the path; with xdist every worker loads it and writes its own rows)::

    PYTHONPATH=tests CPU_DURATIONS=/tmp/cpu.tsv python -m pytest -p cpu_durations -p no:cacheprovider -q
    python tests/cpu_durations.py /tmp/cpu.tsv        # per-module totals, most CPU first

Rows (tab-separated, appended): unix time, worker (``gw0``.. or ``main``), phase (``collect``
once per process, then ``setup`` / ``call`` / ``teardown``), wall seconds, CPU-seconds since the
previous row of the same process, outcome, node id.

How CPU is counted: where the cgroup v1 ``cpuacct`` controller is writable (root on this
project's machines), the process moves itself into a cgroup of its own at start; every process
it starts afterwards inherits it, so ``cpuacct.usage`` counts them all, JVMs that outlive their
Python parent included. Elsewhere it sums /proc: itself, its live descendants and the children
they reaped (``cutime``/``cstime``); a process reparented away from the tree (a pyspark driver's
JVM after the driver exits) is then missed, so the counting method is named in the first row.
Where it goes inside the JVM: as the process ends, the CPU-seconds of each Java process it
started itself (the shared Spark/Hail session's JVM) are written by thread kind to ``FILE.jvm``
(unix time, worker, pid, kind, CPU-seconds; ``THREAD_KINDS``), summed by ``summarise``. Threads
that ended before (Spark's task threads leave an idle pool after 60 s) are in the kind ``exited``:
the process's own total (/proc/PID/stat) less its live threads'; without it the kinds summed only
the threads alive at the end (a suite's JVM CPU by kind undercounted, most in ``executor_tasks``).
Not for timed assertions: a measuring tool only (speed is judged in benchmarks).
"""

from __future__ import annotations

import collections
import os
import sys
import time
from pathlib import Path

ENV = "CPU_DURATIONS"
CPUACCT = Path("/sys/fs/cgroup/cpuacct")
PROC = Path("/proc")
# A JVM's threads by what they run, from the names HotSpot, Spark, Hail and py4j give them (/proc
# shows 15 characters); the rest is "other". Why: a short in-process run spent ~45% of its JVM's
# CPU in the JIT compilers and ~2% in Spark's tasks (session 48, benchmarks/RESULTS.md), which the
# per-test rows cannot show; the suite's share was not measured then.
THREAD_KINDS = (("C2 CompilerThre", "jit_c2"), ("C1 CompilerThre", "jit_c1"), ("HTTP-Dispatcher", "hail_driver"),
                ("Executor task l", "executor_tasks"), ("Thread-", "py4j"), ("GC Thread", "gc"), ("VM Thread", "gc"))
_HZ = os.sysconf("SC_CLK_TCK")


class _Counter:
    """CPU-seconds of this process and what it starts, by a cgroup of its own or by /proc."""

    def __init__(self) -> None:
        self.group: Path | None = None
        try:
            # Under the current group (cpuacct is hierarchical: an enclosing measurement, such as
            # a cgroup around the whole run, still counts this process).
            current = next(line.split(":", 2)[2].strip() for line in Path("/proc/self/cgroup").read_text().splitlines()
                           if "cpuacct" in line.split(":", 2)[1].split(","))
            parent = CPUACCT / current.lstrip("/")
            _remove_stale_groups(parent)
            group = parent / f"{GROUP_PREFIX}{os.getpid()}"
            group.mkdir()
            (group / "cgroup.procs").write_text(str(os.getpid()))
            self.group = group
        except (OSError, StopIteration):
            self.group = None

    @property
    def method(self) -> str:
        return "cgroup" if self.group else "proc"

    def seconds(self) -> float:
        if self.group is not None:
            return int((self.group / "cpuacct.usage").read_text()) / 1e9
        return self._proc_tree_seconds()

    @staticmethod
    def _proc_tree_seconds() -> float:
        me = os.getpid()
        parent: dict[int, int] = {}
        ticks: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # the process ended meanwhile
                continue
            parent[int(entry)] = int(fields[1])
            ticks[int(entry)] = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        total = 0
        for pid in ticks:
            p = pid
            while p not in (0, me) and p in parent:
                p = parent[p]
            total += ticks[pid] if p == me else 0
        return total / _HZ

    def close(self) -> None:
        """Back to the parent cgroup with every process still in the group (a daemon a test
        started, a JVM that outlives its driver: counted by the parent from then on), and the
        group removed: the plugin leaves no cgroup behind (as root, under the CI runner's own)."""
        if self.group is None:
            return
        group, self.group = self.group, None
        for _ in range(5):  # a process may fork while it is moved: read the list again
            try:
                for pid in [os.getpid(), *(group / "cgroup.procs").read_text().split()]:
                    try:
                        (group.parent / "cgroup.procs").write_text(str(pid))
                    except ProcessLookupError:  # it ended meanwhile
                        pass
                group.rmdir()
                return
            except FileNotFoundError:  # removed already
                return
            except OSError:  # still busy (EBUSY): a process started meanwhile
                time.sleep(0.05)


GROUP_PREFIX = "cpu_durations_"


def _remove_stale_groups(parent: Path) -> None:
    """Remove the empty groups of earlier runs of this plugin under ``parent`` whose process is
    gone (killed before ``close``): the kernel keeps an empty cgroup until it is removed."""
    for group in parent.glob(f"{GROUP_PREFIX}*"):
        pid = group.name[len(GROUP_PREFIX):]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            try:
                group.rmdir()
            except OSError:  # a process still in it, or removed meanwhile
                pass


def _stat(path: Path) -> tuple[str, list[str]]:
    """(name, the fields after it) of a /proc stat file."""
    text = path.read_text()
    return text[text.index("(") + 1:text.rindex(")")], text.rsplit(")", 1)[1].split()


def jvm_threads(pid: int) -> dict[str, float]:
    """CPU-seconds (user + system) of process ``pid``'s threads by kind (``THREAD_KINDS``)."""
    kinds: collections.Counter[str] = collections.Counter()
    for task in (PROC / str(pid) / "task").iterdir():
        try:
            name, fields = _stat(task / "stat")
        except OSError:  # the thread ended meanwhile
            continue
        kind = next((k for prefix, k in THREAD_KINDS if name.startswith(prefix)), "other")
        kinds[kind] += (int(fields[11]) + int(fields[12])) / _HZ
    # The process's utime + stime count its ended threads too (Linux adds a thread's times to its
    # process when it exits). Read after the threads: what a live thread ran since its own read
    # lands here too (little: this runs as pytest ends, the JVM idle).
    try:
        _, fields = _stat(PROC / str(pid) / "stat")
    except OSError:  # the process ended meanwhile
        return dict(kinds)
    exited = (int(fields[11]) + int(fields[12])) / _HZ - sum(kinds.values())
    if exited >= 0.01:
        kinds["exited"] = exited
    return dict(kinds)


def java_children() -> list[int]:
    """The live Java processes this process started itself (PySpark execs its JVM in the child)."""
    me, found = os.getpid(), []
    for entry in os.listdir(PROC):
        try:
            name, fields = _stat(PROC / entry / "stat") if entry.isdigit() else ("", [])
        except OSError:
            continue
        if name == "java" and int(fields[1]) == me:
            found.append(int(entry))
    return sorted(found)


class CpuDurations:
    def __init__(self, path: str) -> None:
        self.path = path
        self.worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        self.counter = _Counter()
        self.last = self.counter.seconds()

    def _write(self, when: str, wall: float, outcome: str, nodeid: str) -> None:
        now = self.counter.seconds()
        cpu, self.last = now - self.last, now
        with open(self.path, "a") as f:
            f.write(f"{time.time():.1f}\t{self.worker}\t{when}\t{wall:.2f}\t{cpu:.2f}\t{outcome}\t{nodeid}\n")

    def pytest_collection_finish(self, session) -> None:
        self._write("collect", 0.0, self.counter.method, "<collection>")

    def pytest_runtest_logreport(self, report) -> None:
        if getattr(report, "node", None) is not None:
            return  # an xdist controller relaying a worker's report: that worker wrote the row
        self._write(report.when, report.duration, report.outcome, report.nodeid)

    def pytest_unconfigure(self, config) -> None:
        rows = [f"{time.time():.1f}\t{self.worker}\t{pid}\t{kind}\t{cpu:.2f}\n"
                for pid in java_children() for kind, cpu in sorted(jvm_threads(pid).items())]
        if rows:  # no file where no JVM was started
            with open(self.path + ".jvm", "a") as f:
                f.writelines(rows)
        self.counter.close()


def pytest_configure(config) -> None:
    path = os.environ.get(ENV)
    if path:
        config.pluginmanager.register(CpuDurations(path), "cpu_durations_counter")


def summarise(path: str, top: int = 40) -> str:
    """Per module: CPU-seconds, wall seconds and tests, most CPU first (``@group`` suffixes of
    xdist's node ids dropped), then the total and each worker's share."""
    cpu: collections.Counter[str] = collections.Counter()
    wall: collections.Counter[str] = collections.Counter()
    tests: collections.Counter[str] = collections.Counter()
    workers: collections.Counter[str] = collections.Counter()
    for line in Path(path).read_text().splitlines():
        _, worker, when, wall_s, cpu_s, _, nodeid = line.split("\t")
        module = nodeid.split("::")[0].split("@")[0]
        cpu[module] += float(cpu_s)
        wall[module] += float(wall_s)
        tests[module] += when == "call"
        workers[worker] += float(cpu_s)
    rows = [f"{'cpu_s':>8} {'wall_s':>8} {'tests':>5}  module"]
    rows += [f"{c:8.1f} {wall[m]:8.1f} {tests[m]:5d}  {m}" for m, c in cpu.most_common(top)]
    rows.append(f"total {sum(cpu.values()):.1f} CPU-s; per worker: "
                + ", ".join(f"{w} {c:.1f}" for w, c in sorted(workers.items())))
    jvm = Path(path + ".jvm")
    if jvm.exists():  # included in the totals above: the JVMs' share by thread kind
        kinds: collections.Counter[str] = collections.Counter()
        for line in jvm.read_text().splitlines():
            _, _, _, kind, cpu_s = line.split("\t")
            kinds[kind] += float(cpu_s)
        rows.append(f"JVM threads {sum(kinds.values()):.1f} CPU-s: "
                    + ", ".join(f"{k} {c:.1f}" for k, c in kinds.most_common()))
    return "\n".join(rows)


if __name__ == "__main__":
    print(summarise(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 40))
