"""Stale or needless reruns and run control, round 30 (session 40, helper "rerun30").

The release lock's and the pgs scratch records' refresh renamed the record away, checked it and
created it again exclusively (session 39): while it was away a run starting on the release found
no lock and took it, and the live run stopped at its next publish (exit 6); a reader of a scratch
record found none. Both refreshes are one helper now (``releases.rewrite_if_held``): checked and
rewritten through one open file, never away.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

# How long each two-process race below runs once the other process is ready (s): on 958d6e4 the
# starter took the lock within a few ms, the reader missed the record within a few ms (2.0 s each
# until session 40's reader: two busy processes for 4 s of a loaded suite for a ms signal).
_RACE_SECONDS = 0.5


def _other_process(code: str, *args: str) -> subprocess.Popen:
    """``code`` run by this interpreter in another process (the package importable), stdout piped."""
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], stdout=subprocess.PIPE, text=True,
                            env=env, cwd=root)


def _ready(proc: subprocess.Popen) -> None:
    line = proc.stdout.readline() if proc.stdout else ""
    assert line.strip() == "READY", f"the other process did not start: {line!r} (exit {proc.poll()})"


def test_a_run_starting_while_the_lock_is_refreshed_never_takes_it(tmp_path):
    """Two real processes: this one holds release r1's lock and refreshes it without pause; the
    other starts runs on r1 (``ReleaseLock.acquire``) without pause. Every start is refused (the
    lock is there throughout) and every refresh keeps this run's record. On 958d6e4 a start landing
    while the refresh had the lock renamed away created its own: "TOOK", and the refresh said
    False (this run would stop at its next publish, exit 6)."""
    from trd_spark.config import load_config
    from trd_spark.releases import LocalFs, ReleaseLock

    overrides = {"output_root": str(tmp_path / "results"), "toy_data": None, "release": "r1"}
    lock = ReleaseLock(load_config(None, overrides=overrides), LocalFs())
    lock.acquire()
    starter = _other_process("""
        import json, sys, time
        from trd_spark.config import load_config
        from trd_spark.errors import LockedError
        from trd_spark.releases import LocalFs, ReleaseLock
        cfg = load_config(None, overrides=json.loads(sys.argv[1]))
        print("READY", flush=True)
        refused, end = 0, time.time() + float(sys.argv[2])
        while time.time() < end:
            try:
                ReleaseLock(cfg, LocalFs()).acquire()
            except LockedError:
                refused += 1
                continue
            print("TOOK", refused, flush=True)
            break
        else:
            print("REFUSED", refused, flush=True)
    """, json.dumps(overrides), str(_RACE_SECONDS))
    try:
        _ready(starter)
        refreshed = []
        while starter.poll() is None:
            refreshed.append(lock.refresh())
        said = starter.stdout.read().split() if starter.stdout else []
    finally:
        starter.kill()
        starter.wait()
    assert said[:1] == ["REFUSED"] and int(said[1]) > 0, said
    assert refreshed and all(refreshed), f"{refreshed.count(False)} of {len(refreshed)} refreshes lost the lock"
    assert json.loads(Path(lock.path).read_text())["started"] == lock.owner["started"]
    assert sorted(p.name for p in Path(lock.path).parent.iterdir()) == [".lock"]


def test_a_scratch_owner_record_is_always_there_whole_while_it_is_refreshed(tmp_path):
    """Two real processes: this one refreshes a pgs scratch folder's owner record without pause
    (``scratch._refresh``, the refresher's step), the other reads it without pause: every read
    finds the record whole (on 958d6e4 it was renamed away for each refresh: FileNotFoundError),
    and the record stays this run's."""
    from trd_spark.pgs import scratch
    from trd_spark.releases import process_identity

    now = time.time()
    record = {"host": "this-host", "pid": os.getpid(), "process": process_identity(os.getpid()), "started": now,
              "refreshed": now}
    (tmp_path / scratch.OWNER).write_text(json.dumps(record))
    reader = _other_process("""
        import json, sys, time
        path, end = sys.argv[1], None
        print("READY", flush=True)
        reads, missing, cut = 0, 0, 0
        end = time.time() + float(sys.argv[2])
        while time.time() < end:
            reads += 1
            try:
                with open(path) as f:
                    json.load(f)
            except FileNotFoundError:
                missing += 1
            except ValueError:
                cut += 1
        print(reads, missing, cut, flush=True)
    """, str(tmp_path / scratch.OWNER), str(_RACE_SECONDS))
    try:
        _ready(reader)
        refreshed = []
        while reader.poll() is None:
            refreshed.append(scratch._refresh(str(tmp_path), record))  # noqa: SLF001
        reads, missing, cut = map(int, reader.stdout.read().split()) if reader.stdout else (0, -1, -1)
    finally:
        reader.kill()
        reader.wait()
    assert reads > 0 and (missing, cut) == (0, 0), f"{missing} reads found no record, {cut} a cut one, of {reads}"
    assert refreshed and all(refreshed)
    held = json.loads((tmp_path / scratch.OWNER).read_text())
    assert {k: held[k] for k in ("host", "pid", "started")} == {k: record[k] for k in ("host", "pid", "started")}
    assert held["refreshed"] > now
    assert sorted(p.name for p in tmp_path.iterdir()) == [scratch.OWNER]


def _digests_with_installed(tmp_path, monkeypatch, **versions: str) -> dict[str, dict[str, str]]:
    """The five stages' code digests with distributions ``versions`` ({name: version}) installed
    at those versions, as an upgrade leaves them: a ``.dist-info`` of each (its metadata and
    top-level names copied from the real one) first on ``sys.path``."""
    import importlib.metadata

    from trd_spark import provenance
    from trd_spark.layout import STAGES
    from trd_spark.stages import STAGE_SPECS

    site = tmp_path / f"site-{len(list(tmp_path.glob('site-*')))}"
    for name, version in versions.items():
        real = importlib.metadata.distribution(name)
        info = site / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        meta = (real.read_text("METADATA") or "").splitlines()
        (info / "METADATA").write_text("\n".join(f"Version: {version}" if line.startswith("Version:") else line
                                                 for line in meta) + "\n")
        tops = real.read_text("top_level.txt") or "\n".join(sorted(
            {f.parts[0].removesuffix(".py") for f in real.files or () if f.parts[0].isidentifier()
             or f.parts[0].endswith(".py")}))
        (info / "top_level.txt").write_text(tops)
    monkeypatch.syspath_prepend(str(site))
    _clear_caches()
    try:
        return {s: provenance.code_digests(STAGE_SPECS[s].module) for s in STAGES}
    finally:
        monkeypatch.undo()
        _clear_caches()


def _clear_caches() -> None:
    from trd_spark import provenance

    for cached in ("code_digests", "_distribution_versions", "_requirements", "_closure_versions"):
        if hasattr(getattr(provenance, cached, None), "cache_clear"):
            getattr(provenance, cached).cache_clear()
    import importlib

    importlib.invalidate_caches()


def _changed(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> list[str]:
    return [s for s in before if before[s] != after[s]]


def test_a_library_a_models_library_computes_with_reruns_models_onwards(tmp_path, monkeypatch):
    """statsmodels builds design matrices with patsy / formulaic, lifelines fits with autograd:
    their versions were in no digest (only the libraries the package imports were), so an upgrade
    that changed a fit reran nothing. Each imported distribution's requirement closure counts now
    (as pip freeze / conda-lock pins it), per stage: such an upgrade reruns models and report, not
    the pgs, phenotypes or cohort stage. The Python minor version is in every stage's digest."""
    import sys

    before = _digests_with_installed(tmp_path, monkeypatch)
    for lib in ("lib:patsy", "lib:formulaic", "lib:autograd"):
        assert [s for s in before if lib in before[s]] == ["models", "report"], lib
    patsy = _digests_with_installed(tmp_path, monkeypatch, patsy="99.0")
    assert _changed(before, patsy) == ["models", "report"]
    assert patsy["models"]["lib:patsy"] == "patsy==99.0"
    autograd = _digests_with_installed(tmp_path, monkeypatch, autograd="99.0")
    assert _changed(before, autograd) == ["models", "report"]
    # matplotlib's drawing requirements count where the report draws, not where lifelines reaches them.
    pillow = _digests_with_installed(tmp_path, monkeypatch, pillow="99.0")
    assert _changed(before, pillow) == ["report"]
    python = f"CPython {sys.version_info.major}.{sys.version_info.minor}"
    assert {s: d.get("lib:python") for s, d in before.items()} == dict.fromkeys(before, python)


def test_a_hail_upgrade_reruns_the_stages_that_compute_with_hail_only(tmp_path, monkeypatch):
    """``session`` starts every run's Spark session through Hail and every stage publishes through
    ``layout``, which reads ``session.versions``: Hail's version was in every stage's digest, so a
    Hail upgrade reran the phenotypes stage (and a manifest's ``lib:hail`` there made it look
    changed). Now it counts where a stage's own modules import Hail: pgs and cohort. Its cloud
    clients (its Python requirements) count nowhere: an aiohttp upgrade reruns nothing."""
    from trd_spark.provenance import recorded_code

    before = _digests_with_installed(tmp_path, monkeypatch)
    assert [s for s in before if "lib:hail" in before[s]] == ["pgs", "cohort"]
    hail = _digests_with_installed(tmp_path, monkeypatch, hail="99.0")
    assert _changed(before, hail) == ["pgs", "cohort"]
    aiohttp = _digests_with_installed(tmp_path, monkeypatch, aiohttp="99.0")
    assert _changed(before, aiohttp) == []
    # A manifest written before (phenotypes with lib:hail) compares equal: no rerun for the listing.
    recorded = {**before["phenotypes"], "lib:hail": "hail==0.2.139"}
    assert recorded_code(recorded, before["phenotypes"]) == before["phenotypes"]
