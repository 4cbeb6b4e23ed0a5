"""`--release latest` takes a complete release that `run` would rerun (session 37, helper "latest");
another host's pgs scratch folder is judged by its refreshed owner record, as the release lock.

Before, `latest` took the newest release whose outputs were incomplete and exited 7 when all
were complete, even when a config or code change since made `run` rerun stages of the newest:
a nightly cron (README's recipe) never applied the change. Releases are published with the real
``publish_stage`` on test_pipeline_rerun's small inputs (its ``_config``, ``_publish``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import yaml
from test_pipeline_rerun import _config, _publish

from trd_spark.cli import _load, build_parser, main
from trd_spark.config import load_config
from trd_spark.pgs import scratch
from trd_spark.releases import LocalFs, statuses
from trd_spark.stages import plan

RELEASES = ("r1", "r2")


@pytest.fixture
def released(spark, tmp_path) -> Path:
    """A config over releases r1, r2 (same small inputs), both published and up to date."""
    config = _config(tmp_path)
    raw = yaml.safe_load(config.read_text())
    raw["release"] = "r1"
    raw["releases"] = {**(raw.get("releases") or {}), "input_root": str(tmp_path / "releases")}
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    for r in RELEASES:
        (tmp_path / "releases" / r).mkdir(parents=True)
        cfg = load_config(config, overrides={"release": r})
        _publish(spark, cfg)
        _export_of_its_report(cfg)
        assert not any(plan(cfg, LocalFs()).values())
    return config


def _export_of_its_report(cfg) -> None:
    """Give export/ the run id of the report run, as the report stage publishes it (``_publish``
    gives each folder its own: ``releases.stale_outputs`` would call such an export stale)."""
    base = Path(cfg.output_root) / cfg.release
    export = json.loads((base / "export" / "_manifest.json").read_text())
    export["run_id"] = json.loads((base / "report" / "_manifest.json").read_text())["run_id"]
    _rewrite(base / "export" / "_manifest.json", export)
    assert all(s.complete for s in statuses(cfg, LocalFs()) if s.release == cfg.release)


def _rewrite(manifest: Path, record: dict) -> None:
    """Rewrite a manifest and drop the checksum Hadoop's local file system wrote beside it."""
    manifest.write_text(json.dumps(record))
    manifest.with_name(f".{manifest.name}.crc").unlink(missing_ok=True)


def _latest(config: Path) -> str:
    return _load(build_parser().parse_args(["run", "--config", str(config), "--release", "latest"])).release


def _set(config: Path, section: str, key: str, value) -> None:
    raw = yaml.safe_load(config.read_text())
    raw.setdefault(section, {})[key] = value
    config.write_text(yaml.safe_dump(raw, sort_keys=False))


def _republish_outdated(spark, config: Path, release: str) -> None:
    cfg = load_config(config, overrides={"release": release})
    _publish(spark, cfg, [s for s, reasons in plan(cfg, LocalFs()).items() if reasons])
    _export_of_its_report(cfg)
    assert not any(plan(cfg, LocalFs()).values())


def test_complete_release_whose_config_changed_is_taken_newest_first(spark, released, capsys):
    """All complete and up to date: exit 7 (nothing to do). After a config change every release
    is out of date: the newest is taken, then (once rerun) the older one, then exit 7 again."""
    assert main(["run", "--config", str(released), "--release", "latest"]) == 7
    threshold = load_config(released).report.small_count_threshold
    _set(released, "report", "small_count_threshold", threshold + 5)
    assert _latest(released) == "r2"
    assert "release r2: complete but out of date (pgs: config changed: report.small_count_threshold" in capsys.readouterr().err
    _republish_outdated(spark, released, "r2")
    assert _latest(released) == "r1"  # back-fill
    _republish_outdated(spark, released, "r1")
    assert main(["run", "--config", str(released), "--release", "latest"]) == 7


def test_complete_release_published_by_other_code_is_taken(spark, released, tmp_path):
    """The models output of r1 was published by another cox.py (its manifest's code digest, as
    provenance.code_digests records it, differs from this tree's): r1 is taken, r2 being up to date."""
    path = tmp_path / "results" / "r1" / "models" / "_manifest.json"
    m = json.loads(path.read_text())
    m["fingerprint_parts"]["code"]["trd_spark.models.cox"] = "0" * 16
    _rewrite(path, m)
    assert _latest(released) == "r1"
    _republish_outdated(spark, released, "r1")  # models and report
    assert main(["run", "--config", str(released), "--release", "latest"]) == 7


def _other_host_folder(base: Path, started: float, refreshed: float | None) -> Path:
    folder = base / "pgs_export_1"
    folder.mkdir()
    record = {"host": f"not-{socket.gethostname()}", "pid": 1, "started": started}
    if refreshed is not None:
        record["refreshed"] = refreshed
    (folder / scratch.OWNER).write_text(json.dumps(record))
    return folder


def test_live_other_host_scratch_is_kept_past_stale_hours(tmp_path):
    """Another host's run that started 30 h ago and refreshed its record a minute ago is alive:
    its export folder is kept (before: removed after lock_stale_hours, and that run failed).
    One not refreshed for 30 h is removed."""
    now = time.time()
    live = _other_host_folder(tmp_path, now - 30 * 3600, now - 60)
    assert not scratch.abandoned(str(live), 24.0)
    assert scratch.remove_abandoned(str(tmp_path), "pgs_export_", 24.0) == []
    assert live.exists()
    (live / scratch.OWNER).write_text(json.dumps({"host": "elsewhere", "pid": 1, "started": now - 30 * 3600,
                                                  "refreshed": now - 30 * 3600}))
    os.utime(live / scratch.OWNER, (now - 30 * 3600,) * 2)  # last written then: the storage's time judges (session 39)
    assert scratch.remove_abandoned(str(tmp_path), "pgs_export_", 24.0) == ["pgs_export_1"]


def _owner_record(folder) -> dict:
    """The owner record as written: since 38d2c93 each refresh renames it away, checks it and writes
    it back (scratch._refresh), so a read can find it absent or half written for a moment."""
    deadline = time.time() + 10
    while True:
        try:
            return json.loads((folder / scratch.OWNER).read_text())
        except (FileNotFoundError, ValueError):
            assert time.time() < deadline, "the owner record stayed away"
            time.sleep(0.005)


def test_claim_refreshes_the_record_until_the_folder_is_removed(tmp_path):
    folder = tmp_path / "pgs_export_2"
    folder.mkdir()
    scratch.claim(str(folder), refresh_seconds=0.05)
    first = _owner_record(folder)
    deadline = time.time() + 30
    while _owner_record(folder)["refreshed"] == first["refreshed"]:
        assert time.time() < deadline, "the owner record was never refreshed"
        time.sleep(0.05)
    record = _owner_record(folder)
    assert {k: v for k, v in record.items() if k != "refreshed"} == {k: v for k, v in first.items() if k != "refreshed"}
    assert record["refreshed"] > first["started"]
    # The refresher writes a temporary file and renames it every 0.05 s: one may be in flight at a
    # listing (the full suite, session 38); a file left behind stays, and the listing never settles.
    deadline = time.time() + 10
    while sorted(os.listdir(folder)) != [scratch.OWNER]:
        assert time.time() < deadline, f"stray files beside the owner record: {sorted(os.listdir(folder))}"
        time.sleep(0.01)
    name = f"scratch-refresh-{folder.name}"
    deadline = time.time() + 30
    while any(t.name == name for t in threading.enumerate()):
        # As the stage removes it (ignore_errors): a temporary file renamed during the removal is
        # not an error, and a removal the refresher's write outran is done again.
        shutil.rmtree(folder, ignore_errors=True)
        assert time.time() < deadline, "the refresher outlived its folder"
        time.sleep(0.05)
    assert not folder.exists()


def test_complete_release_that_cannot_be_judged_is_passed_over_with_a_warning(released, caplog):
    """A complete release whose config cannot be loaded (or whose inputs are gone) cannot be
    rerun as it is: one WARNING naming it, and the next older out-of-date one is taken."""
    from trd_spark.errors import ConfigError
    from trd_spark.releases import latest_incomplete

    _set(released, "report", "small_count_threshold", load_config(released).report.small_count_threshold + 5)

    def config_for(release: str):
        if release == "r2":
            raise ConfigError("no such file or directory: /gone/omop/", where="omop.path")
        return load_config(released, overrides={"release": release})

    caplog.set_level("WARNING", logger="trd_spark.releases")
    assert latest_incomplete(load_config(released), LocalFs(), config_for=config_for) == "r1"
    warned = [r.getMessage() for r in caplog.records if r.name == "trd_spark.releases" and r.levelname == "WARNING"]
    assert len(warned) == 1 and warned[0].startswith("release r2: complete; whether it is up to date could not") \
        and "/gone/omop/" in warned[0], warned
