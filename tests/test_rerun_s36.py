"""Session 36, reruns and run safety (round 26): session 35's new inputs and settings, a run
killed while it writes a manifest, a code version change.

Stages are published with the real ``publish_stage`` on small inputs (test_pipeline_rerun's
fixture: a one-line output per stage, the manifest and run id the runner reads); then something
changes and ``stages.plan`` (what ``run`` and ``explain`` decide with) must name exactly the
stages that would rerun, and the rerun itself must go through.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_pipeline_rerun import _publish, _reruns, published_in

from trd_spark import layout as layout_module
from trd_spark.io import Fs
from trd_spark.layout import EXPORT, MANIFEST, STAGES, SUCCESS, Layout
from trd_spark.releases import LocalFs
from trd_spark.stages import plan


class _Killed(BaseException):
    """kill -9 of the run (or a full disk) in the middle of a write."""


class _CutShort:
    """``io.Fs`` whose write of a ``_manifest.json`` stops halfway: the first half of the text
    written through Hadoop (its .crc matching), or with ``bypass`` written past Hadoop (the .crc
    of the whole text left beside the cut file: a ChecksumException when Hadoop reads it), then
    the run is killed. Everything else passes to the real file system."""

    def __init__(self, fs: Fs, bypass: bool = False) -> None:
        self.fs, self.bypass = fs, bypass

    def __getattr__(self, name: str):
        return getattr(self.fs, name)

    def write_text(self, path: str, text: str) -> None:
        if not path.endswith(f"/{MANIFEST}"):
            return self.fs.write_text(path, text)
        self.fs.write_text(path, text)
        if self.bypass:
            Path(path).write_text(text[: len(text) // 2])
        else:
            self.fs.write_text(path, text[: len(text) // 2])
        raise _Killed(path)


def _killed_writing_the_manifest(spark, cfg, monkeypatch, stage: str, bypass: bool) -> Path:
    """Publish ``stage`` (stand-in) with a run killed while it writes the stage's manifest;
    the manifest left cut short, no ``_SUCCESS``. Returns the manifest's path."""
    fs = _CutShort(Fs(spark), bypass)
    monkeypatch.setattr(layout_module, "Fs", lambda _spark: fs)
    try:
        with pytest.raises(_Killed):
            _publish(spark, cfg, [stage])
    finally:
        monkeypatch.setattr(layout_module, "Fs", Fs)
    manifest = Path(Layout.of(cfg).stage_dir(stage)) / MANIFEST
    assert not (manifest.parent / SUCCESS).exists()
    with pytest.raises(json.JSONDecodeError):
        json.loads(manifest.read_text())
    return manifest


@pytest.mark.parametrize("bypass", [False, True], ids=["cut-short", "crc-mismatch"])
def test_a_run_killed_while_writing_a_manifest_is_resumed_by_the_next_run(spark, tmp_path, monkeypatch, bypass):
    """A stage's manifest is written after its folder is in place and before ``_SUCCESS``
    (``layout.swap_in``). A run killed there, or stopped by a full disk ("rerun to resume",
    README Troubleshooting), left the manifest cut short: the next run saw the stage incomplete
    and reran it, but the stage's start read that manifest for its stat records
    (``stages._published_stat_records``) and stopped with "the manifest is damaged ...: restore
    it or rerun the stage that wrote it" (InputDataError; through Hadoop with a stale .crc a
    ChecksumException), the same at every rerun and with ``--force``: no resume without
    deleting the file by hand. The report's own start read the report manifest the same way
    (``report.stage._current_export``) when only the report folder was cut short. Now the
    manifest of a folder without ``_SUCCESS`` that cannot be read is no record: the rerun runs
    the stage and what follows it, then nothing reruns."""
    from trd_spark.report.stage import _current_export

    cfg = published_in(spark, tmp_path)
    lay = Layout.of(cfg)
    _killed_writing_the_manifest(spark, cfg, monkeypatch, "cohort", bypass)
    assert plan(cfg, LocalFs())["cohort"] == ["no complete output (cohort)"]
    assert _reruns(cfg) == ["cohort", "models", "report"]
    _publish(spark, cfg, ["cohort", "models", "report"])  # the rerun (each stage's start reads its manifest)
    assert _reruns(cfg) == []

    # The report folder cut short, the export of the run before still complete.
    _killed_writing_the_manifest(spark, cfg, monkeypatch, "report", bypass)
    assert (Path(lay.stage_dir(EXPORT)) / SUCCESS).exists()
    assert _reruns(cfg) == ["report"]
    export = json.loads((Path(lay.stage_dir(EXPORT)) / MANIFEST).read_text())
    current = _current_export(Fs(spark), lay)  # what the report's rerun asks first
    assert current is not None and current[0] == export["run_id"] and "hidden_counts" not in current[1]
    _publish(spark, cfg, ["report"])
    assert _reruns(cfg) == [] and set(STAGES) == set(plan(cfg, LocalFs()))


def test_a_version_bump_alone_reruns_nothing_and_code_in_the_package_init_still_does(tmp_path, monkeypatch):
    """Every stage's code digest holds ``trd_spark/__init__.py`` (the package of every module
    it imports), whose one statement is ``__version__ = "0.1.0"``: a release of trd-spark that
    only bumped the version reran every stage, hours of PGS scoring at All of Us scale, though
    no result reads it (the manifests and the report record the version that made them). The
    version string is now left out of the digest as a docstring is; any other statement of the
    package's ``__init__`` still counts."""
    from temp_package import temp_package

    from trd_spark.provenance import code_digests

    stage = "from rerun36_pkg import LIMIT\n\n\ndef run(x):\n    return x * LIMIT\n"
    with temp_package(tmp_path, monkeypatch, "rerun36_pkg", {"stage.py": stage}) as root:

        def digest(init: str) -> str:
            (root / "__init__.py").write_text(init)
            code_digests.cache_clear()
            return code_digests("rerun36_pkg.stage", package="rerun36_pkg")["rerun36_pkg"]

        base = digest('"""A package."""\n\n__version__ = "0.1.0"\nLIMIT = 0.75\n')
        assert digest('"""A package."""\n\n__version__ = "0.2.0"\nLIMIT = 0.75\n') == base
        assert digest('"""A package."""\n\n__version__: str = "1.0.0"\nLIMIT = 0.75\n') == base
        assert digest('"""A package."""\n\n__version__ = "0.1.0"\nLIMIT = 0.8\n') != base
        assert digest('"""A package."""\n\n__version__ = compute()\nLIMIT = 0.75\n') != base  # code, not a string


def test_two_runs_taking_over_the_same_stale_lock_leave_one_holder(tmp_path):
    """Two runs started together on a release whose lock a killed run left (a scheduler's
    retry beside a hand-started run) both judged it stale; each deleted the lock file and
    created its own, so the one that came second deleted the first's fresh lock and both ran
    the release at once, writing the same stage folders. Now a lock is taken over through an
    exclusive marker named by the stale lock's content, and only while the file still holds
    that content: the second run finds the first's lock and stops (LockedError, exit 6)."""
    import hashlib
    import os
    import subprocess
    import sys

    from test_pipeline_rerun import _config

    from trd_spark.config import load_config
    from trd_spark.errors import LockedError
    from trd_spark.releases import ReleaseLock

    cfg = load_config(_config(tmp_path))
    fs = LocalFs()
    first, second = ReleaseLock(cfg, fs), ReleaseLock(cfg, fs)
    first.owner = {**first.owner, "pid": os.getppid()}  # another live process of this host
    Path(first.path).parent.mkdir(parents=True, exist_ok=True)
    Path(first.path).write_text(json.dumps({"host": "elsewhere", "pid": 1, "started": 0.0}))  # a killed run's
    os.utime(first.path, (0.0, 0.0))  # last written then (the storage's time judges another host's lock)

    judged, played = second._stale, []

    def first_takes_over_meanwhile() -> bool:
        stale = judged()
        if stale and not played:
            played.append(first.acquire())  # the other run, between this one's judgement and its takeover
        return stale

    second._stale = first_takes_over_meanwhile  # type: ignore[method-assign]
    with pytest.raises(LockedError, match="another run holds the lock"):
        second.acquire()
    assert json.loads(Path(first.path).read_text())["pid"] == os.getppid()  # the first run's lock stands
    first.release_lock()
    assert played and [p.name for p in Path(first.path).parent.iterdir() if p.name.startswith(".lock")] == []
    with ReleaseLock(cfg, fs):  # a later run takes the free release
        pass
    # A taker killed holding its marker (a dead pid of this host) does not stop the next takeover.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    killed = json.dumps({"host": "elsewhere", "pid": 1, "started": 0.0})
    Path(first.path).write_text(killed)
    os.utime(first.path, (0.0, 0.0))
    marker = Path(f"{first.path}.takeover-{hashlib.sha256(killed.encode()).hexdigest()[:16]}")
    marker.write_text(json.dumps({**first.owner, "pid": dead.pid}))
    with ReleaseLock(cfg, fs) as taken:
        assert json.loads(Path(first.path).read_text()) == taken.owner and not marker.exists()
