"""Mutation review of session 37's code (session 38, helper "mutants").

Each test kills mutants of 45f9cc3..5f00ae0 that the tests of session 37 let pass (the mutant
named in each docstring; the list of mutants tried, killed and equivalent is in the commit
message). Cheap: no new Spark session (the session fixture where Spark is needed), tiny inputs.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import os
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_fixesA_s37 import FlakyFs, _cfg
from test_fixesB_s37 import _NoPyarrowFs
from test_latest_s37 import _owner_record
from test_phenotypes_support import toy_config
from test_pipeline_rerun import _config

from trd_spark import releases
from trd_spark.compressed import compression_of, decode_text
from trd_spark.config import load_config
from trd_spark.errors import InputDataError, LockedError
from trd_spark.logs import record_counts_text
from trd_spark.pgs import scratch
from trd_spark.phenotypes.omop import read_omop_table, utc_equivalent_zone
from trd_spark.phenotypes.stage import read_ehr_person_list
from trd_spark.releases import LocalFs, ReleaseLock, check_still_held, outdated_stages


def test_holds_tells_own_record_from_another_runs_and_from_no_record(tmp_path, monkeypatch):
    """``ReleaseLock.holds``: True only for this run's record (host, pid, process AND start: a later
    run of the same process, an Airflow worker running releases one after another, is another run);
    False for another run's record or a lock that is gone (deleted: ``check_still_held`` says at once
    that this run lost it, no retries, no publishing); None for bytes that are no owner record yet
    (half-written: read again, not "another run's"). Kills: the gone lock read as unknown (then a
    run whose lock was deleted published anyway after three reads), a record without ``started``
    read as another run's, the start left out of the comparison, ``all`` read as ``any``, the
    folder's trailing slash kept in the lookup of the held lock (no check)."""
    monkeypatch.setattr(releases, "LOCK_READ_PAUSE_SECONDS", 0.01)
    cfg = _cfg(tmp_path, 1.0)
    with ReleaseLock(cfg, LocalFs()) as held:
        lock = Path(held.path)
        assert held.holds() is True
        own = json.loads(lock.read_text())
        for other in ({"started": own["started"] - 1}, {"pid": own["pid"] + 1}, {"host": own["host"] + "-other"},
                      {"process": "another process"}):
            lock.write_text(json.dumps({**own, **other}))
            assert held.holds() is False, other
        for half in ({k: v for k, v in own.items() if k != "started"}, [own]):
            lock.write_text(json.dumps(half))
            assert held.holds() is None, half
        lock.write_text(json.dumps(own))
        lock.unlink()
        assert held.holds() is False
        with pytest.raises(LockedError, match="took the lock over from this run"):
            check_still_held(f"{lock.parent}/")  # a release folder named with its slash is the same
    assert not lock.exists()


def test_a_taken_over_lock_behind_two_failed_reads_stops_the_publish(tmp_path, monkeypatch):
    """``check_still_held`` reads the lock up to ``LOCK_READ_TRIES`` (3) times while it cannot be
    read: two hiccups, then another run's record is the takeover it is (LockedError, exit 6).
    Kills ``holds_after_retries`` reading once: unknown after the first hiccup, and this run,
    refreshed recently, published over the taker's stage."""
    monkeypatch.setattr(releases, "LOCK_READ_PAUSE_SECONDS", 0.01)
    fs = FlakyFs(thread="MainThread")
    with ReleaseLock(_cfg(tmp_path, 1.0), fs) as held:
        lock = Path(held.path)
        taker = {**held.owner, "host": "another-host", "started": time.time()}
        lock.write_text(json.dumps(taker))
        fs.failures = 2
        with pytest.raises(LockedError, match="took the lock over from this run") as err:
            check_still_held(str(lock.parent))
        assert err.value.exit_code == 6 and fs.failures == 0
    assert json.loads(lock.read_text()) == taker  # the taker's lock is left to it


def test_a_refresh_after_the_release_does_nothing_and_says_nothing(tmp_path, caplog):
    """A refresh that comes after the lock's release (the refresher thread waiting on the write
    mutex while ``release_lock`` deleted the file) neither writes the lock back nor WARNs that
    another run took it over. Kills the stop flag's check dropped from ``refresh``: a spurious
    "no longer holds this run's record (taken over ...)" WARNING at the end of the run."""
    with ReleaseLock(_cfg(tmp_path, 1.0), LocalFs()) as held:
        pass
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="trd_spark.releases"):
        assert held.refresh() is False
    assert not Path(held.path).exists()
    said = [r.getMessage() for r in caplog.records if r.name == "trd_spark.releases"]
    assert not said, said


def _releases_said(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "trd_spark.releases"]


def test_refresh_failures_are_warned_at_the_1st_3rd_and_10th_and_the_recovery_counted(tmp_path, caplog):
    """The refresher (every 5 ms here) fails 11 times in a row, then refreshes: WARNINGs at the
    1st, 3rd and 10th failure, one saying it refreshed again after 11. Kills the count's rule cut
    to the first failure only, and the recovery line dropped."""
    fs = FlakyFs(failures=11, thread="release-lock")
    lock = ReleaseLock(_cfg(tmp_path, 1.0), fs)
    lock.refresh_seconds = 0.005
    with caplog.at_level(logging.WARNING, logger="trd_spark.releases"), lock:
        deadline = time.time() + 60
        while not any("refreshed again" in m for m in _releases_said(caplog)):
            assert time.time() < deadline, _releases_said(caplog)
            time.sleep(0.02)
    said = _releases_said(caplog)
    failed = [int(m.split("could not be refreshed (")[1].split(" ")[0]) for m in said if "could not be refreshed" in m]
    assert failed == [1, 3, 10], said
    assert [m for m in said if "refreshed again" in m][0].endswith("after 11 failed refresh(es)")


def test_the_refresher_stops_for_good_once_another_run_holds_the_lock(tmp_path, caplog):
    """Another run's record in the lock (it took it over): the refresher WARNs once and ends; it
    never writes over the taker's record. Kills a refresher that goes on (a WARNING every interval
    for the rest of the run)."""
    lock = ReleaseLock(_cfg(tmp_path, 1.0), LocalFs())
    lock.refresh_seconds = 0.005
    with caplog.at_level(logging.WARNING, logger="trd_spark.releases"), lock:
        taker = {**lock.owner, "host": "another-host", "started": time.time()}
        Path(lock.path).write_text(json.dumps(taker))
        assert lock._refresher is not None
        lock._refresher.join(timeout=30)
        assert not lock._refresher.is_alive()
        time.sleep(0.05)
    assert len([m for m in _releases_said(caplog) if "no longer holds this run's record" in m]) == 1
    assert json.loads(Path(lock.path).read_text()) == taker


def test_a_refresh_restarts_the_clock_of_an_unreadable_lock(tmp_path, monkeypatch):
    """``surely_not_taken_over`` counts from this run's last write of its record, the last refresh,
    not from acquiring: a run that acquired its lock two hours ago (lock_stale_hours 1) and refreshed
    it just now still publishes when the lock cannot be read. Kills ``refresh`` not recording its
    write (a run longer than lock_stale_hours stopped with exit 6 at a read hiccup)."""
    monkeypatch.setattr(releases, "LOCK_READ_PAUSE_SECONDS", 0.01)
    fs = FlakyFs(thread="MainThread")
    with ReleaseLock(_cfg(tmp_path, 1.0), fs) as held:
        held._written -= 2 * 3600  # as if acquired two hours ago
        assert not held.surely_not_taken_over()
        assert held.refresh() is True
        fs.failures = -1
        check_still_held(str(Path(held.path).parent))  # unreadable, refreshed just now: publishes
        fs.failures = 0


def test_a_release_whose_local_input_is_gone_is_not_judged_up_to_date_or_not(tmp_path):
    """``outdated_stages`` (``run --release latest``'s question for a complete release) raises
    InputDataError naming the first input that is gone: such a release cannot be rerun, and
    ``latest_incomplete`` passes it over with a WARNING. Kills the check dropped: the plan of a
    release without its inputs was read as an answer."""
    cfg = load_config(_config(tmp_path))
    (tmp_path / "inputs" / "ancestry.tsv").unlink()
    with pytest.raises(InputDataError, match=r"1 input\(s\) not found, first ancestry\.path"):
        outdated_stages(cfg, LocalFs())


def test_a_person_list_folder_is_parquet_and_a_negative_id_is_no_person(spark, tmp_path):
    """``read_ehr_person_list`` (omop.ehr_evidence: person_list): a folder of Parquet part files
    (Spark's or BigQuery's export, not named .parquet) is read as Parquet; a value that is no plain
    non-negative integer (-5) is one InputDataError naming file and column, never the value. Kills
    a folder read as CSV (its binary header: "no such column") and a sign let through the check."""
    folder = tmp_path / "cb_search_person"
    folder.mkdir()
    pq.write_table(pa.table({"person_id": pa.array([2, 4, None], pa.int64())}), folder / "part-0.parquet")
    assert sorted(r.person_id for r in read_ehr_person_list(spark, str(folder), "person_id").collect()) == [2, 4]
    listed = tmp_path / "ehr.csv"
    listed.write_text("person_id\n7\n-5\n")
    with pytest.raises(InputDataError, match="a value is no person_id") as e:
        read_ehr_person_list(spark, str(listed), "person_id")
    # the value must not appear outside the path (pytest's tmp folder may hold "-5", e.g. pytest-519)
    assert str(listed) in str(e.value) and "-5" not in str(e.value).replace(str(listed), "")


def test_a_scratch_refresher_never_writes_over_another_processes_record(tmp_path):
    """``pgs.scratch.claim``'s refresher rewrites the owner record only while it is this process's:
    once another run's record is there (it took the folder over), the refresher ends and leaves it.
    Kills the pid check's ``return`` dropped (this run's record written back over the taker's)."""
    folder = tmp_path / "pgs_export_3"
    folder.mkdir()
    scratch.claim(str(folder), refresh_seconds=0.01)
    other = {**_owner_record(folder), "pid": os.getpid() + 1, "host": "another-host"}
    (folder / scratch.OWNER).write_text(json.dumps(other))
    name = f"scratch-refresh-{folder.name}"
    deadline = time.time() + 30
    while any(t.name == name for t in threading.enumerate()):
        assert time.time() < deadline, "the refresher went on over another process's record"
        if _owner_record(folder) != other:  # a refresh under way as it was written
            (folder / scratch.OWNER).write_text(json.dumps(other))
        time.sleep(0.02)
    assert json.loads((folder / scratch.OWNER).read_text()) == other


@pytest.mark.parametrize(("head", "kind"), [
    (b"BZh91AY&SY", "bzip2"), (b"BZh11AY", "bzip2"), (b"BZh0abc", None), (b"BZh:ab", None), (b"BZh", None),
    (b"BZ", None), (b"PK\x03\x04\x14\x00", "zip"), (b"PK\x05\x06\x00\x00", "zip"), (b"PK\x07\x08", None),
    (b"\xfd7zXZ\x00", "xz"), (b"\xfd7zXZ\x01", None), (b"\x28\xb5\x2f\xfd\x04", "zstd"), (b"\x1f\x8b\x08", "gzip"),
    (b"", None), (b"#pgs_id=PGS1", None)])
def test_compression_is_told_by_the_whole_magic_number(head, kind):
    """``compressed.compression_of``: bzip2 needs 'BZh' and a block-size digit 1-9 (a text file
    starting 'BZh0', 'BZh:' or just 'BZh' is text; 3 bytes must not raise), an empty zip archive
    (PK\\5\\6) is a zip, xz needs its whole six bytes. Kills the digit range widened to '0', the
    length check off by one (IndexError on a 3-byte file), the digit check dropped, the empty-zip
    magic dropped."""
    assert compression_of(head) == kind


def test_damaged_gzip_data_is_one_error_naming_format_and_file(tmp_path):
    """A gzip file whose deflate data are damaged (zlib.error, no OSError) is the same one
    InputDataError as a truncated one. Kills zlib.error dropped from ``decompress``'s errors (the
    raw 'Error -3 while decompressing data' naming no file)."""
    raw = gzip.compress(b"rsID\teffect_allele\teffect_weight\n" * 50)
    damaged = raw[:10] + b"\xff" * 8 + raw[18:]
    with pytest.raises(InputDataError, match=r"PGS1\.txt: corrupt or truncated gzip data: Error -3"):
        decode_text(damaged, str(tmp_path / "PGS1.txt"), "scoring file")


def test_a_total_beside_a_labelled_part_of_at_least_t(tmp_path):
    """``record_counts_text``'s ``within``: a part shown ``20+`` (labelled by its own sum: 25 = 22 +
    a rest of 3) is at least T = 20 records, so a total of 37 beside it leaves a slack of 17, under
    T-2: labelled; 38 leaves 18: exact. Kills the least count of a ``T+`` label read as T-1."""
    def shown(total: int) -> dict[str, str]:
        return record_counts_text({"t": total, "q": 25, "r": 22}, 20, {"q": ("r",)}, within=[("t", ("q",))])

    assert shown(37) == {"t": "20+", "q": "20+", "r": "22"}
    assert shown(38)["t"] == "38"


def test_a_footer_without_an_arrow_schema_declares_no_zone(spark, tmp_path, caplog, monkeypatch):
    """A Parquet file written without pyarrow's ARROW:schema key (Spark, Hive, parquet-mr; here
    pyarrow's store_schema=False) read through Hadoop's footer reader (pyarrow cannot open the
    path) declares no zone: no WARNING that footers could not be read. Kills
    ``hadoop_arrow_schema`` returning None for such a footer (every Spark-written table on
    hdfs:// / s3a:// counted as unchecked)."""
    import trd_spark.phenotypes.omop as omop_module

    values = pa.array([1547078400000000], pa.timestamp("us", tz="UTC"))
    pq.write_table(pa.table({"person_id": pa.array([1], pa.int64()), "death_date": values}),
                   tmp_path / "death.parquet", store_schema=False)
    monkeypatch.setattr(omop_module, "pafs", _NoPyarrowFs)
    with caplog.at_level(logging.WARNING, logger="trd_spark.phenotypes.omop"):
        got = read_omop_table(spark, toy_config(path=str(tmp_path), time_zone="UTC").omop, "death").collect()
    assert [r.death_date for r in got] == [dt.date(2019, 1, 10)]
    said = [r.getMessage() for r in caplog.records if r.name == "trd_spark.phenotypes.omop"]
    assert not [m for m in said if "could not be read" in m or "declare time zone" in m], said


@pytest.mark.parametrize(("zone", "utc"), [
    ("UTC", True), ("Etc/UTC", True), ("GMT", True), ("Z", True), ("+00:00", True), ("-0000", True),
    ("+00:30", False), ("-05:00", False), ("Europe/London", False), ("Atlantic/Reykjavik", False),
    ("Asia/Tokyo", False), ("Mars/Olympus", False)])
def test_a_zone_is_utc_only_when_its_offset_is_always_zero(zone, utc):
    """``omop.utc_equivalent_zone``: a UTC tag (any spelling) says nothing of a local calendar; a
    zone that is UTC+0 only in winter (London) or was not always (Reykjavik until 1968) or an offset
    of minutes (+00:30) is a declared zone. Kills: the minutes of an offset ignored, ``all`` years
    read as ``any``, the ``Z`` spelling dropped."""
    assert utc_equivalent_zone(zone) is utc


def test_a_declared_zone_that_is_no_zone_is_one_error_naming_the_file(spark, tmp_path):
    """A Parquet file whose Arrow schema declares a zone no IANA name or offset spells (a typo,
    'Mars/Olympus') is one InputDataError naming the file, the column and the zone, at the read
    (``declared_time_zones``). Kills the check dropped: the zone went to Spark's convert_timezone,
    which failed later with its own error naming no file."""
    pq.write_table(pa.table({"person_id": pa.array([1], pa.int64()),
                             "death_date": pa.array([1547078400000000], pa.timestamp("us", tz="Mars/Olympus"))}),
                   tmp_path / "death.parquet")
    with pytest.raises(InputDataError, match=r"death\.parquet: OMOP table death column death_date: this file declares "
                                             r"time zone 'Mars/Olympus' .*no IANA time zone or UTC offset"):
        read_omop_table(spark, toy_config(path=str(tmp_path), time_zone="UTC").omop, "death")
