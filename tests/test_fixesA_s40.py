"""Session 40 helper "fixesA": the release lock and the pgs scratch owner records (reader findings 1, 4, 10).

A local release lock taken through Hadoop's file system (``io.Fs``: a run whose inputs are on
gs:// and outputs on a local disk) could not be refreshed after its first refresh; a record
rewritten in place could read as no JSON; a damaged scratch record was judged by this host's pid
rule; each time zone data release reran every stage.
"""

from __future__ import annotations

import json
import logging
import os
import time
import types

import pytest


def _cfg(tmp_path):
    from trd_spark.config import load_config

    return load_config(None, overrides={"output_root": str(tmp_path / "results"), "toy_data": None, "release": "r1"})


def test_a_local_lock_taken_through_hadoop_is_refreshed_again_and_again(spark, tmp_path, caplog):
    """``ReleaseLock(cfg, Fs(spark))`` on a local output root (the CLI's choice when only the
    input root is a URI): Hadoop's checksummed local file system wrote ``..lock.crc`` at acquire,
    the refresh rewrote ``.lock`` in place, and ``holds`` read it through Hadoop: ChecksumException,
    so from the 2nd refresh on every refresh raised, the lock went stale under the live run and its
    publish check failed (249c02d). Now the lock is read and written as a local file."""
    from trd_spark.io import Fs
    from trd_spark.releases import ReleaseLock, check_still_held

    cfg = _cfg(tmp_path)
    with caplog.at_level(logging.INFO, logger="trd_spark.releases"), ReleaseLock(cfg, Fs(spark)) as lock:
        assert [lock.refresh(), lock.refresh(), lock.refresh()] == [True, True, True]
        assert lock.holds() is True
        check_still_held(os.path.dirname(lock.path))  # no LockedError, no retries
        assert json.loads(open(lock.path).read())["refreshed"] == lock.owner["refreshed"]
    assert not os.path.exists(lock.path)
    assert [r.getMessage() for r in caplog.records if r.name == "trd_spark.releases"] == []


def test_hadoop_fs_reads_a_local_file_edited_since_hadoop_wrote_it(spark, tmp_path):
    """``Fs.read_text`` read local files through Hadoop's checksummed local file system, which
    fails on a file edited in place since it wrote it (its ``.crc`` stale); ``Fs.read_bytes``
    already read local paths directly: now both do."""
    from trd_spark.io import Fs

    fs, path = Fs(spark), str(tmp_path / "record.json")
    fs.write_text(path, '{"a": 1}')
    assert (tmp_path / ".record.json.crc").exists()
    with open(path, "r+b") as f:  # in place, as releases.rewrite_if_held does
        f.write(b'{"a": 2}')
    assert fs.read_text(path) == '{"a": 2}'
    assert fs.read_bytes(path) == b'{"a": 2}'


def _clock(module, monkeypatch, times):
    """Make ``module.time.time()`` return ``times`` in turn (the rest of ``time`` as it is)."""
    it = iter(times)
    fake = types.SimpleNamespace(**{n: getattr(time, n) for n in ("sleep", "strftime", "gmtime", "monotonic")},
                                 time=lambda: next(it))
    monkeypatch.setattr(module, "time", fake)


# Refresh times whose milliseconds end in 0, 00 and 000 (json.dumps writes 1765000200.1), then full ones.
_TIMES = [1765000100.123, 1765000200.1, 1765000300.12, 1765000400.0, 1765000500.456]


def _every_tear_parses(texts: list[str]) -> list[str]:
    """The mixes a read beside an in-place rewrite can see (the new text's first k bytes, the old
    file's rest) of successive records ``texts`` that are no JSON object."""
    bad = []
    for old, new in zip(texts, texts[1:]):
        for k in range(len(new) + 1):
            mixed = new[:k] + old[k:]
            try:
                assert isinstance(json.loads(mixed), dict)
            except (ValueError, AssertionError):
                bad.append(mixed)
    return bad


def test_a_refreshed_lock_keeps_one_length_so_a_torn_read_is_still_a_record(tmp_path, monkeypatch):
    """``refreshed`` was written by json.dumps to the millisecond: ``...200.1`` is shorter than
    ``...100.123``, so a refresh moved the closing brace, and a read seeing the new start and the
    old end found no JSON (session 40 reader: 8 of 448 tear points). Now every record of a run has
    one length (three decimals always)."""
    from trd_spark import releases
    from trd_spark.releases import LocalFs, ReleaseLock

    lock = ReleaseLock(_cfg(tmp_path), LocalFs())
    lock.acquire()
    texts = [open(lock.path).read()]
    _clock(releases, monkeypatch, _TIMES)
    for _ in _TIMES:
        assert lock.refresh()
        texts.append(open(lock.path).read())
    monkeypatch.undo()
    assert {len(t) for t in texts} == {len(texts[0])}, [len(t) for t in texts]
    assert [json.loads(t)["refreshed"] for t in texts[1:]] == _TIMES
    assert all(t == t.strip() for t in texts)  # one length by the record itself, not by padding
    assert _every_tear_parses(texts) == []
    lock.release_lock()


def test_a_refreshed_scratch_record_keeps_one_length_so_a_torn_read_is_still_a_record(tmp_path, monkeypatch):
    """The pgs scratch owner record: written by ``claim`` and rewritten in place by each refresh
    (``scratch._refresh``), at one length (as the lock's, above)."""
    from trd_spark.pgs import scratch

    scratch.claim(str(tmp_path), refresh_seconds=3600)
    try:
        path = tmp_path / scratch.OWNER
        texts = [path.read_text()]
        record = json.loads(texts[0])
        _clock(scratch, monkeypatch, _TIMES)
        for _ in _TIMES:
            assert scratch._refresh(str(tmp_path), record)  # noqa: SLF001
            texts.append(path.read_text())
        monkeypatch.undo()
    finally:
        scratch._CLAIMED.pop(str(tmp_path))[0].set()  # noqa: SLF001 - stop the refresher, keep the folder
    assert {len(t) for t in texts} == {len(texts[0])}, [len(t) for t in texts]
    assert _every_tear_parses(texts) == []


@pytest.mark.parametrize("hours_old, judged", [(0, False), (48, True)])
def test_a_damaged_scratch_record_is_judged_by_its_age_not_by_the_pid_rule(tmp_path, hours_old, judged):
    """A scratch folder whose owner record is there but is no record (damaged; read twice) is
    judged by the record file's age (``releases.lock_stale_hours``): it went to ``unclaimed`` (the
    pgs stage's rule: a pid in the folder's name, of THIS host), so another host's live folder on a
    shared mount was removed when that pid was gone here. A folder without a record still goes to
    ``unclaimed``."""
    from trd_spark.pgs import scratch

    asked = []

    def unclaimed(folder):
        asked.append(folder)
        return True

    damaged = tmp_path / "damaged"
    damaged.mkdir()
    record = damaged / scratch.OWNER
    record.write_text('{"host": "another-host", "pid": 7, "started": 1765000000.0, "refreshed": 1765000200.12}}')
    then = time.time() - hours_old * 3600
    os.utime(record, (then, then))
    assert scratch.abandoned(str(damaged), 24.0, unclaimed) is judged
    assert asked == []
    bare = tmp_path / "bare"
    bare.mkdir()
    assert scratch.abandoned(str(bare), 24.0, unclaimed) is True
    assert asked == [str(bare)]


def test_a_time_zone_data_release_reruns_no_stage(tmp_path, monkeypatch):
    """pandas requires tzdata and pytz: since 409727a their versions were in every stage's digest,
    so each IANA release (several a year) reran every stage of every release, while no stage
    converts a named zone in Python (the phenotypes stage converts in Spark's JVM). Now neither is
    in any digest; python-dateutil (pandas' date parsing) still is, where pandas is."""
    from test_rerun_s40 import _changed, _digests_with_installed

    before = _digests_with_installed(tmp_path, monkeypatch)
    assert [s for s in before if "lib:tzdata" in before[s] or "lib:pytz" in before[s]] == []
    assert all("lib:python-dateutil" in before[s] for s in before if "lib:pandas" in before[s])
    assert _changed(before, _digests_with_installed(tmp_path, monkeypatch, tzdata="9999.1", pytz="9999.1")) == []
