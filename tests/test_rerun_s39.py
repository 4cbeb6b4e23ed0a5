"""Stale or needless reruns, round 29 (session 39, helper "rerun29").

``trd_spark.releases`` (the release listing, ``--release latest``, the lock) is imported by every
stage (``layout.publish_stage`` asks ``check_still_held``; ``pgs.scratch`` and ``pgs.stage`` take the
lock's refresh and owner-check helpers) and was digested whole: an edit of the release listing reran
every stage of every release, hours of PGS scoring at All of Us scale. It is read by name now
(``provenance.BY_NAME``): a stage's code holds the definitions its modules take and those they use.
"""

from __future__ import annotations

import pytest

from trd_spark.layout import STAGES
from trd_spark.stages import STAGE_SPECS


@pytest.fixture
def edited_releases(monkeypatch):
    """``edit(old, new)``: the five stages' code digests after replacing ``old`` by ``new`` in
    ``trd_spark.releases``' source as ``provenance`` reads it (the file is not touched)."""
    from trd_spark import provenance

    real = provenance._source  # noqa: SLF001
    text = real("trd_spark.releases")[0]
    edits: list[tuple[str, str]] = []

    def source(name: str):
        if name != "trd_spark.releases":
            return real(name)
        out = text
        for old, new in edits:
            assert old in out, old
            out = out.replace(old, new, 1)
        return out, False

    monkeypatch.setattr(provenance, "_source", source)

    def edit(old: str, new: str) -> dict[str, dict[str, str]]:
        edits.append((old, new))
        provenance.code_digests.cache_clear()
        return {s: provenance.code_digests(STAGE_SPECS[s].module) for s in STAGES}

    provenance.code_digests.cache_clear()
    yield edit
    monkeypatch.undo()
    provenance.code_digests.cache_clear()


def _changed(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> list[str]:
    """The stages whose code digest of ``trd_spark.releases`` differs (the only module edited:
    comparing it alone keeps an unrelated module edited meanwhile in the working tree out)."""
    return [s for s in STAGES if before[s]["trd_spark.releases"] != after[s]["trd_spark.releases"]]


def test_an_edit_of_the_release_listing_reruns_no_stage_and_one_of_what_a_stage_runs_does(edited_releases):
    """Both directions: the release listing and ``--release latest`` (no stage runs them) rerun
    nothing; the refresh interval the pgs stage and its scratch folders take reruns pgs onwards
    (pgs only in the code digests: the later stages rerun through pgs's new run id); the owner
    check its scratch folders use, and the lock check every stage's publish runs, rerun every
    stage."""
    before = edited_releases("", "")
    assert all("trd_spark.releases" in d for d in before.values())
    listing = edited_releases('lines = [f"{\'release\':<20} {\'state\':<10} complete stages"]',
                              'lines = [f"{\'release\':<24} {\'state\':<10} complete stages"]')
    assert _changed(before, listing) == []
    latest = edited_releases("    if force:\n        return found[-1].release",
                             "    if force:\n        return found[0].release")
    assert _changed(listing, latest) == []
    refresh = edited_releases('["lock_refresh_minutes"].default * 60', '["lock_refresh_minutes"].default * 30')
    assert _changed(latest, refresh) == ["pgs"]
    alive = edited_releases("    except PermissionError:\n        return True",
                            "    except PermissionError:\n        return False")
    assert _changed(refresh, alive) == list(STAGES)
    held = edited_releases("    if not found:\n        raise LockedError(", "    if found is False:\n        raise LockedError(")
    assert _changed(alive, held) == list(STAGES)


def test_a_module_logger_named_by_dunder_name_keeps_a_module_readable_by_name(tmp_path, monkeypatch):
    """``log = logging.getLogger(__name__)`` names the logger and reaches no name of the module:
    such a module is read by name; ``sys.modules[__name__]`` beside it still makes it whole."""
    import sys

    from trd_spark.provenance import code_digests

    root = tmp_path / "rerun39_pkg"
    root.mkdir()
    shared = "import logging\n\nlog = logging.getLogger(__name__)\nUSED = 1\nOTHER = 2\n"
    files = {"__init__.py": "", "shared.py": shared, "user.py": "from rerun39_pkg.shared import USED\n"}
    for name, text in files.items():
        (root / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))

    def digest() -> str:
        code_digests.cache_clear()
        return code_digests("rerun39_pkg.user", package="rerun39_pkg", by_name=("rerun39_pkg.shared",))[
            "rerun39_pkg.shared"]

    try:
        before = digest()
        (root / "shared.py").write_text(shared.replace("OTHER = 2", "OTHER = 3"))
        assert digest() == before
        (root / "shared.py").write_text(shared.replace("USED = 1", "USED = 4"))
        assert digest() != before
        by_string = shared + "import sys\n\n\ndef get(n):\n    return getattr(sys.modules[__name__], n)\n"
        (root / "shared.py").write_text(by_string)
        whole = digest()
        (root / "shared.py").write_text(by_string.replace("OTHER = 2", "OTHER = 3"))
        assert digest() != whole
    finally:
        for name in [m for m in sys.modules if m.split(".")[0] == "rerun39_pkg"]:
            del sys.modules[name]
        code_digests.cache_clear()


def _ours() -> dict:
    import os
    import socket
    import time

    from trd_spark.releases import process_identity

    now = time.time()
    return {"host": socket.gethostname(), "pid": os.getpid(), "process": process_identity(os.getpid()),
            "started": now, "refreshed": now - 60}


def test_a_record_written_between_the_refreshers_read_and_write_is_kept(tmp_path, monkeypatch):
    """The scratch refresher read the owner record, checked it was its run's and replaced it: a
    record another run wrote between the read and the write was overwritten with this run's. The
    other record is written here exactly there (when the refresher parses what it read): it stays,
    and the refresher ends."""
    import json
    import threading

    from trd_spark.pgs import scratch

    ours = _ours()
    other = {**ours, "host": "another-host", "pid": 1}
    (tmp_path / scratch.OWNER).write_text(json.dumps(ours))
    landed = []

    class TakeoverOnRead:
        """``json`` whose first parse of what the refresher read writes the other run's record."""
        def __getattr__(self, name):
            real = getattr(json, name)
            if name not in ("load", "loads"):
                return real

            def parse(*args, **kwargs):
                if not landed:
                    landed.append(True)
                    (tmp_path / f"{scratch.OWNER}.other").write_text(json.dumps(other))
                    (tmp_path / f"{scratch.OWNER}.other").replace(tmp_path / scratch.OWNER)
                return real(*args, **kwargs)
            return parse

    monkeypatch.setattr(scratch, "json", TakeoverOnRead())
    refresher = threading.Thread(target=scratch._keep_fresh, args=(str(tmp_path), ours, 0.01), daemon=True)  # noqa: SLF001
    refresher.start()
    refresher.join(20)
    assert landed and not refresher.is_alive(), "the refresher went on over another run's record"
    assert json.loads((tmp_path / scratch.OWNER).read_text()) == other
    assert sorted(p.name for p in tmp_path.iterdir()) == [scratch.OWNER]


def test_a_run_stops_its_scratch_refresher_before_removing_its_folder(tmp_path, monkeypatch):
    """A refresh writing the record while the run's own removal ran (``rmtree``, errors ignored)
    could leave the folder behind holding a fresh owner record. ``scratch.release`` stops and joins
    the refresher first: no refresher of the folder is alive when the removal starts."""
    import shutil
    import threading

    from trd_spark.pgs import scratch

    folder = tmp_path / "pgs_export_1"
    folder.mkdir()
    scratch.claim(str(folder), refresh_seconds=0.001)
    name = f"scratch-refresh-{folder.name}"
    assert any(t.name == name for t in threading.enumerate())
    seen = []
    real = shutil.rmtree

    def rmtree(path, *args, **kwargs):
        seen.append(any(t.name == name for t in threading.enumerate()))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(scratch.shutil, "rmtree", rmtree)
    scratch.release(str(folder))
    assert seen == [False] and not folder.exists()


def test_another_runs_abandoned_folder_is_renamed_away_before_its_removal(tmp_path, monkeypatch, caplog):
    """A folder judged abandoned (another host's, not refreshed for lock_stale_hours) is renamed
    first and removed under the new name, so no write of its owner (alive after all) can leave it
    under its own name; a renamed folder a removal left is removed by the next sweep whatever it
    holds; the owner's refresher, its folder gone, ends with a WARNING."""
    import json
    import os
    import shutil
    import threading
    import time

    from trd_spark.pgs import scratch

    stale = tmp_path / "pgs_export_1"
    stale.mkdir()
    (stale / scratch.OWNER).write_text(json.dumps({"host": "elsewhere", "pid": 1, "started": time.time() - 90000,
                                                   "refreshed": time.time() - 90000}))
    os.utime(stale / scratch.OWNER, (time.time() - 90000,) * 2)  # last written then
    (stale / "part.bed").write_bytes(b"l\x1b\x01")
    left = tmp_path / "pgs_export_2.removing-12345"
    left.mkdir()
    (left / scratch.OWNER).write_text(json.dumps(_ours()))
    removing = []
    real = shutil.rmtree

    def rmtree(path, *args, **kwargs):
        removing.append((str(path), stale.exists()))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(scratch.shutil, "rmtree", rmtree)
    assert scratch.remove_abandoned(str(tmp_path), "pgs_export_", 24.0) == ["pgs_export_1"]
    assert [w for _, w in removing] == [False, False] and list(tmp_path.iterdir()) == []
    assert str(stale) not in [p for p, _ in removing]

    live = tmp_path / "pgs_export_3"
    live.mkdir()
    caplog.set_level("WARNING", logger="trd_spark.pgs.scratch")
    scratch.claim(str(live), refresh_seconds=0.01)
    live.rename(tmp_path / "pgs_export_3.removing-1")
    name = f"scratch-refresh-{live.name}"
    deadline = time.time() + 20
    while any(t.name == name for t in threading.enumerate()):
        assert time.time() < deadline, "the refresher outlived its folder"
        time.sleep(0.01)
    assert not live.exists()
    assert any("pgs_export_3 or its owner record was removed while this run used it" in r.getMessage()
               for r in caplog.records)
    scratch.release(str(live))


def _lock_of_another_host(path, refreshed: float, written: float) -> None:
    """A lock another host's run wrote: its record says ``refreshed`` (that host's clock), the
    storage says the file was last written at ``written``."""
    import json
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": "another-host", "pid": 1, "process": "x", "started": refreshed - 60,
                                "refreshed": refreshed}))
    os.utime(path, (written, written))


def test_a_lock_is_judged_by_when_its_file_was_written_not_by_its_holders_clock(tmp_path):
    """Another host's lock whose record was refreshed "30 h ago" by that host's clock (hours
    slow) but whose file was written a minute ago is alive: kept, and a second run is refused
    (exit 6) instead of taking over a live run's release. One whose record says "refreshed just
    now" (a clock hours fast) but whose file nobody wrote for 30 h is a dead run's: taken over."""
    import time

    from trd_spark.config import load_config
    from trd_spark.errors import LockedError
    from trd_spark.releases import LOCK, LocalFs, ReleaseLock, lock_is_stale

    cfg = load_config(None, overrides={"output_root": str(tmp_path / "results"), "toy_data": None,
                                       "release": "r1", "releases": {"lock_stale_hours": 24.0}})
    path = tmp_path / "results" / "r1" / LOCK
    now = time.time()
    _lock_of_another_host(path, refreshed=now - 30 * 3600, written=now - 60)
    assert not lock_is_stale(LocalFs(), str(path), 24.0)
    with pytest.raises(LockedError, match="another run holds the lock on release r1"):
        ReleaseLock(cfg, LocalFs()).acquire()
    _lock_of_another_host(path, refreshed=now, written=now - 30 * 3600)
    assert lock_is_stale(LocalFs(), str(path), 24.0)
    lock = ReleaseLock(cfg, LocalFs())
    lock.acquire()
    assert lock.holds() is True


def test_a_scratch_folder_is_judged_by_when_its_record_was_written_not_by_its_owners_clock(tmp_path):
    """As the release lock: another host's export folder whose record says "refreshed 30 h ago"
    (a slow clock) but was written a minute ago is kept; one whose record says "just now" but was
    last written 30 h ago is removed."""
    import json
    import os
    import time

    from trd_spark.pgs import scratch

    now = time.time()
    folder = tmp_path / "pgs_export_1"
    folder.mkdir()
    record = folder / scratch.OWNER
    record.write_text(json.dumps({"host": "another-host", "pid": 1, "started": now - 31 * 3600,
                                  "refreshed": now - 30 * 3600}))
    os.utime(record, (now - 60, now - 60))
    assert not scratch.abandoned(str(folder), 24.0)
    assert scratch.remove_abandoned(str(tmp_path), "pgs_export_", 24.0) == []
    record.write_text(json.dumps({"host": "another-host", "pid": 1, "started": now, "refreshed": now}))
    os.utime(record, (now - 30 * 3600, now - 30 * 3600))
    assert scratch.abandoned(str(folder), 24.0)
    assert scratch.remove_abandoned(str(tmp_path), "pgs_export_", 24.0) == ["pgs_export_1"]


def test_a_models_library_upgrade_reruns_models_onwards_not_the_pgs_stage():
    """``session.versions()`` (every stage's manifest, through ``layout``) imported statsmodels and
    lifelines to read their versions, so both were in every stage's code digest: a lifelines
    upgrade reran pgs, phenotypes and cohort (hours of scoring), which never use it. It reads
    their installed metadata now; the stages that fit models still hold them, and the manifests
    still name both versions."""
    import importlib.metadata

    from trd_spark.provenance import code_digests
    from trd_spark.session import versions

    libs = {s: {k for k in code_digests(STAGE_SPECS[s].module) if k in ("lib:lifelines", "lib:statsmodels")}
            for s in STAGES}
    assert libs == {"pgs": set(), "phenotypes": set(), "cohort": set(),
                    "models": {"lib:lifelines", "lib:statsmodels"}, "report": {"lib:lifelines", "lib:statsmodels"}}
    got = versions()
    assert got["lifelines"] == importlib.metadata.version("lifelines")
    assert got["statsmodels"] == importlib.metadata.version("statsmodels")
