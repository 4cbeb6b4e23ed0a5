"""Stale or needless reruns, round 29 (session 39, helper "rerun29").

``trd_spark.releases`` (the release listing, ``--release latest``, the lock) is imported by every
stage (``layout.publish_stage`` asks ``check_still_held``; ``pgs.scratch`` and ``pgs.stage`` take the
lock's refresh and owner-check helpers) and was digested whole: an edit of the release listing reran
every stage of every release, hours of PGS scoring at All of Us scale. It is read by name now
(``provenance.BY_NAME``), and the run control a stage takes from it (and ``pgs.scratch``) is left
out of the code digests (``provenance.RUN_CONTROL``): it decides whether a run goes on, never what
it writes.
"""

from __future__ import annotations

import pytest
from source_edits import source_edits

from trd_spark.layout import STAGES
from trd_spark.stages import STAGE_SPECS


@pytest.fixture
def edited():
    """``edit(module, old, new)``: the five stages' code digests after replacing ``old`` by ``new``
    in ``module``'s source as ``provenance`` reads it (the file is not touched; edits add up)."""
    from trd_spark import provenance

    with source_edits(lambda: {s: provenance.code_digests(STAGE_SPECS[s].module) for s in STAGES}) as edit:
        yield edit


def _changed(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> list[str]:
    """The stages whose code digests differ."""
    return [s for s in STAGES if before[s] != after[s]]


def test_an_edit_of_releases_or_of_the_scratch_records_reruns_no_stage(edited):
    """Session 39 (reader finding 2): the release listing and ``--release latest`` (no stage runs
    them) and the run control every stage takes (the lock check before a publish, the owner check,
    the refresh interval and refresher of the pgs scratch folders: ``provenance.RUN_CONTROL``)
    decide whether a run goes on, never what it writes. Before, an edit of the refresh interval
    reran pgs onwards and one of ``process_alive`` or ``check_still_held`` every stage of every
    release (this test asserted those reruns; each was a needless one): now none reruns."""
    before = edited("trd_spark.releases", "", "")
    assert not any("trd_spark.releases" in d or "trd_spark.pgs.scratch" in d for d in before.values())
    after = [
        edited("trd_spark.releases", 'lines = [f"{\'release\':<20} {\'state\':<10} complete stages"]',
               'lines = [f"{\'release\':<24} {\'state\':<10} complete stages"]'),
        edited("trd_spark.releases", "    if force:\n        return found[-1].release",
               "    if force:\n        return found[0].release"),
        edited("trd_spark.releases", '["lock_refresh_minutes"].default * 60', '["lock_refresh_minutes"].default * 30'),
        edited("trd_spark.releases", "    except PermissionError:\n        return True",
               "    except PermissionError:\n        return False"),
        edited("trd_spark.releases", "    if not found:\n        raise LockedError(",
               "    if found is False:\n        raise LockedError("),
        edited("trd_spark.pgs.scratch", "    for _ in range(2):  # read again once", "    for _ in range(3):  # read again once"),
        edited("trd_spark.pgs.scratch", 'OWNER = "_owner.json"', 'OWNER = "_owner2.json"'),
    ]
    assert [_changed(before, a) for a in after] == [[]] * len(after)


def test_an_edit_of_a_scoring_function_still_reruns_pgs(edited):
    """The other direction: run control is left out by name, not by the stage: an edit of how a
    score is computed (``pgs.scoring``'s Hail path, ``pgs.matching``) still reruns pgs (the later
    stages through its new run id), and no stage that does not run it."""
    before = edited("trd_spark.pgs.scoring", "", "")
    scoring = edited("trd_spark.pgs.scoring", "def compute_scores(", "def compute_scores_(")
    assert _changed(before, scoring) == ["pgs"]
    matching = edited("trd_spark.pgs.matching", "import numpy as np\n", "import numpy as np\nZ = 1\n")
    assert _changed(scoring, matching) == ["pgs"]


def test_run_control_names_exist_and_what_else_uses_them_still_counts(tmp_path, monkeypatch):
    """Each ``RUN_CONTROL`` entry names a module of the package (and a top-level name of a
    ``BY_NAME`` module): a renamed one would otherwise fall out of the list unseen. In a tmp
    package: a module taking only a run-control name of a by-name module does not hold it; one
    taking another name that uses it holds that name's code with the run control it uses; a
    run-control module listed whole is left out, unless it holds top-level code (digested whole)."""
    from temp_package import temp_package

    from trd_spark import provenance
    from trd_spark.provenance import BY_NAME, RUN_CONTROL, code_digests

    for entry in RUN_CONTROL:
        module, _, name = entry.partition(":")
        found = provenance._source(module)  # noqa: SLF001
        assert found is not None, entry
        if name:
            assert module in BY_NAME, entry
            assert name in provenance._definitions(module, found[0])[1], entry  # noqa: SLF001

    shared = "def ctl():\n    return 1\n\n\ndef used():\n    return ctl()\n"
    files = {"__init__.py": "", "shared.py": shared, "scratchy.py": "X = 1\n",
             "only.py": "from ctl39_pkg.shared import ctl\nfrom ctl39_pkg.scratchy import X\n",
             "both.py": "from ctl39_pkg.shared import ctl, used\n"}
    control = ("ctl39_pkg.shared:ctl", "ctl39_pkg.scratchy")

    def digests(module: str) -> dict[str, str]:
        code_digests.cache_clear()
        found = code_digests(module, package="ctl39_pkg", by_name=("ctl39_pkg.shared",), run_control=control)
        return {k: v for k, v in found.items() if k != "lib:python"}  # every stage's (session 40)

    with temp_package(tmp_path, monkeypatch, "ctl39_pkg", files) as root:
        assert sorted(digests("ctl39_pkg.only")) == ["ctl39_pkg", "ctl39_pkg.only"]
        both = digests("ctl39_pkg.both")["ctl39_pkg.shared"]
        (root / "shared.py").write_text(shared.replace("return 1", "return 2"))
        assert digests("ctl39_pkg.both")["ctl39_pkg.shared"] != both
        assert sorted(digests("ctl39_pkg.only")) == ["ctl39_pkg", "ctl39_pkg.only"]
        (root / "scratchy.py").write_text("X = 1\nprint(X)\n")
        assert "ctl39_pkg.scratchy" in digests("ctl39_pkg.only")


def test_a_manifest_recorded_before_run_control_was_left_out_is_not_a_code_change():
    """A stage published at 30297c6 recorded ``trd_spark.releases`` (digested whole) and, for pgs,
    ``trd_spark.pgs.scratch`` in its code: ``recorded_code`` leaves those out where today's digest
    does not hold them, so the listing alone reruns nothing; any other module's change, or one of a
    run-control module today's digest still holds, is still a change."""
    from trd_spark.provenance import recorded_code

    now = {"trd_spark.layout": "a", "trd_spark.pgs.stage": "b"}
    old = {**now, "trd_spark.releases": "c", "trd_spark.pgs.scratch": "d"}
    assert recorded_code(old, now) == now
    assert recorded_code({**old, "trd_spark.layout": "e"}, now) != now
    assert recorded_code({**old, "trd_spark.vocabulary": "f"}, now) != now
    assert recorded_code(old, {**now, "trd_spark.releases": "g"}) != {**now, "trd_spark.releases": "g"}


def test_a_module_logger_named_by_dunder_name_keeps_a_module_readable_by_name(tmp_path, monkeypatch):
    """``log = logging.getLogger(__name__)`` names the logger and reaches no name of the module:
    such a module is read by name; ``sys.modules[__name__]`` beside it still makes it whole."""
    from temp_package import shared_digests, temp_package

    shared = "import logging\n\nlog = logging.getLogger(__name__)\nUSED = 1\nOTHER = 2\n"
    files = {"__init__.py": "", "shared.py": shared, "user.py": "from rerun39_pkg.shared import USED\n"}

    def digest() -> str:
        return shared_digests("rerun39_pkg", ("user",))["user"]

    with temp_package(tmp_path, monkeypatch, "rerun39_pkg", files) as root:
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

    from trd_spark import releases

    monkeypatch.setattr(releases, "json", TakeoverOnRead())  # the refresh parses there (releases.record_is)
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


def test_a_takeover_written_while_the_release_lock_refreshes_is_kept(tmp_path, monkeypatch, caplog):
    """Session 39 reader finding 5: ``ReleaseLock.refresh`` read the lock (``holds``), then replaced
    it: another run's takeover written between the two was overwritten with this run's record (two
    runs on one release). The takeover is written here exactly there (inside ``holds``, after its
    read): it stays, the refresh says False with a WARNING, and no temporary file is left."""
    import json

    from trd_spark.config import load_config
    from trd_spark.releases import LocalFs, ReleaseLock

    cfg = load_config(None, overrides={"output_root": str(tmp_path / "results"), "toy_data": None,
                                       "release": "r1"})
    lock = ReleaseLock(cfg, LocalFs())
    lock.acquire()
    assert lock.refresh() is True  # no takeover: refreshed
    assert json.loads((tmp_path / "results" / "r1" / ".lock").read_text())["started"] == lock.owner["started"]
    other = {"host": "another-host", "pid": 1, "process": "x", "started": 1.0, "refreshed": 2.0}
    real = ReleaseLock.holds

    def holds(self):
        found = real(self)
        path = tmp_path / "results" / "r1" / ".lock"
        (path.parent / "taker.tmp").write_text(json.dumps(other))
        (path.parent / "taker.tmp").replace(path)
        return found

    monkeypatch.setattr(ReleaseLock, "holds", holds)
    caplog.set_level("WARNING", logger="trd_spark.releases")
    assert lock.refresh() is False
    assert json.loads((tmp_path / "results" / "r1" / ".lock").read_text()) == other
    assert sorted(p.name for p in (tmp_path / "results" / "r1").iterdir()) == [".lock"]
    assert any("was written by another run while this run refreshed it" in r.getMessage() for r in caplog.records)


def test_the_lock_holder_text_says_the_last_refresh_by_the_files_time_whatever_the_holders_clock(tmp_path):
    """Session 39 reader finding 6: the "refreshed" phrase was said only when the file's last write
    (the storage's clock) was more recent than the record's start (the holder's clock): a holder
    whose clock ran fast (its start "in the future": age 0) got none. The start is now said as the
    holder's clock has it, the last refresh by the file's time alone."""
    import time

    from trd_spark.releases import LocalFs, lock_holder_text

    path = tmp_path / ".lock"
    now = time.time()
    _lock_of_another_host(path, refreshed=now + 3 * 3600, written=now - 120)
    text = lock_holder_text(LocalFs(), str(path), 24.0)
    assert "(0m00s ago); wait for it to end: its run last refreshed the lock 2m0" in text, text
    assert "its start above is by its host's clock" in text, text
