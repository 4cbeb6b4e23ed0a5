"""The tests' class-data-sharing archive (tests/cds_archive.py) is in use: the shared session's
JVM maps it. A JVM refuses an archive silently (another class path, Java or jar: conftest turns
its CDS messages off), so without this check the suite could lose the saving unnoticed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import CDS_OPTIONS_ENV, SHORT_LIVED_JVM_OPTIONS


def test_the_shared_sessions_jvm_maps_the_archive(spark):
    if os.environ.get("TRD_TEST_CDS", "").lower() in ("0", "off", "false", "no"):
        pytest.skip("TRD_TEST_CDS turns the archive off")
    cds = os.environ.get(CDS_OPTIONS_ENV)
    assert cds, f"no archive: {CDS_OPTIONS_ENV} unset, JAVA_TOOL_OPTIONS={os.environ.get('JAVA_TOOL_OPTIONS')!r}"
    assert os.environ["JAVA_TOOL_OPTIONS"] == f"{SHORT_LIVED_JVM_OPTIONS} {cds}"
    (archive,) = [opt.split("=", 1)[1] for opt in cds.split() if opt.startswith("-XX:SharedArchiveFile=")]
    assert Path(archive).is_file()
    pid = spark.sparkContext._gateway.proc.pid  # noqa: SLF001 - PySpark's handle of its JVM
    maps = Path(f"/proc/{pid}/maps").read_text()
    assert archive in maps, f"the shared session's JVM (pid {pid}) did not map {archive}"
