"""Releases, lock and scheduler exit codes (no Spark: local filesystem only)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from trd_spark.cli import main
from trd_spark.config import load_config
from trd_spark.errors import ConfigError, LockedError, NothingToDo
from trd_spark.layout import EXPORT, STAGES, code_version
from trd_spark.releases import LocalFs, ReleaseLock, found_releases, latest_incomplete, natural_key, statuses


@pytest.fixture
def cfg(tmp_path):
    inputs = tmp_path / "inputs"
    for name in ("C2022Q4R9", "C2024Q3R5", "C2023Q2R1", ".hidden", "not a release"):
        (inputs / name).mkdir(parents=True)
    (inputs / "README.txt").write_text("not a release directory either\n")
    return load_config(None, overrides={"output_root": str(tmp_path / "results"),
                                        "releases": {"input_root": str(inputs)}, "toy_data": None})


def _complete(cfg, release, stages=(*STAGES, EXPORT)):
    for s in stages:
        d = os.path.join(cfg.output_root, release, s)
        os.makedirs(d, exist_ok=True)
        open(os.path.join(d, "_SUCCESS"), "w").close()


def test_natural_order():
    assert sorted(["r10", "r2", "r1"], key=natural_key) == ["r1", "r2", "r10"]
    assert sorted(["C2024Q3R5", "C2022Q4R9", "C2023Q2R1"], key=natural_key) == ["C2022Q4R9", "C2023Q2R1", "C2024Q3R5"]


def test_releases_listed_oldest_first_with_state(cfg):
    fs = LocalFs()
    assert found_releases(cfg, fs) == ["C2022Q4R9", "C2023Q2R1", "C2024Q3R5"]
    _complete(cfg, "C2022Q4R9")
    _complete(cfg, "C2023Q2R1", ("pgs", "phenotypes"))
    got = {s.release: s.state for s in statuses(cfg, fs)}
    assert got == {"C2022Q4R9": "complete", "C2023Q2R1": "partial", "C2024Q3R5": "not run"}


def test_latest_is_newest_incomplete_else_nothing_to_do(cfg):
    fs = LocalFs()
    assert latest_incomplete(cfg, fs) == "C2024Q3R5"
    _complete(cfg, "C2024Q3R5")
    assert latest_incomplete(cfg, fs) == "C2023Q2R1"  # then back-fill, newest first
    _complete(cfg, "C2023Q2R1")
    _complete(cfg, "C2022Q4R9")
    with pytest.raises(NothingToDo):
        latest_incomplete(cfg, fs)
    assert latest_incomplete(cfg, fs, force=True) == "C2024Q3R5"
    # Missing only the export: not complete.
    os.remove(os.path.join(cfg.output_root, "C2024Q3R5", EXPORT, "_SUCCESS"))
    assert latest_incomplete(cfg, fs) == "C2024Q3R5"


def test_latest_never_picks_a_release_without_the_ready_marker(cfg, caplog):
    """Session 48: with ``releases.ready_marker`` set, a release folder without that file (still being
    copied in) is no release for the listing and ``--release latest``: one WARNING names it (no count);
    without the key every folder is a release, as before."""
    fs = LocalFs()
    marked = cfg.model_copy(update={"releases": cfg.releases.model_copy(update={"ready_marker": "_READY"})})
    root = cfg.releases.input_root
    open(os.path.join(root, "C2022Q4R9", "_READY"), "w").close()
    open(os.path.join(root, "C2023Q2R1", "_READY"), "w").close()
    with caplog.at_level("WARNING", logger="trd_spark.releases"):
        assert found_releases(marked, fs) == ["C2022Q4R9", "C2023Q2R1"]
        assert latest_incomplete(marked, fs) == "C2023Q2R1"  # C2024Q3R5 is newer but not copied in yet
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and all("C2024Q3R5 without releases.ready_marker _READY" in line for line in lines)
    assert not any(n in line for line in lines for n in ("C2022Q4R9", "C2023Q2R1"))
    open(os.path.join(root, "C2024Q3R5", "_READY"), "w").close()
    assert latest_incomplete(marked, fs) == "C2024Q3R5"
    os.remove(os.path.join(root, "C2022Q4R9", "_READY"))
    assert latest_incomplete(cfg, fs) == "C2024Q3R5" and found_releases(cfg, fs)[0] == "C2022Q4R9"  # no key: as before
    for bad in ("/abs/_READY", "../_READY", "gs://b/_READY", " "):
        with pytest.raises(ConfigError, match="releases.ready_marker: .*relative to a release folder"):
            load_config(None, overrides={"releases": {"input_root": root, "ready_marker": bad}, "toy_data": None})


def _write_config(cfg):
    import yaml

    config = os.path.join(os.path.dirname(cfg.output_root), "c.yaml")
    raw = json.loads(json.dumps(cfg.model_dump(mode="json")))
    raw["phenotypes"]["concept_sets"] = cfg.phenotypes.concept_sets
    with open(config, "w") as f:
        f.write(yaml.safe_dump(raw))
    return config


def test_cli_exit_codes_for_schedulers(cfg, tmp_path, capsys, monkeypatch):
    config = _write_config(cfg)
    # The releases here are success markers without manifests, which `run` would rerun (published by
    # an older version), so `--release latest` takes them since session 37: this test's subject is the
    # exit codes, so every complete release counts as up to date here (tests/test_latest_s37.py decides
    # that on releases published with real manifests).
    monkeypatch.setattr("trd_spark.releases.outdated_stages", lambda _cfg, _fs: {})
    assert main(["releases", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert out.index("C2022Q4R9") < out.index("C2023Q2R1") < out.index("C2024Q3R5")
    assert "not run" in out
    for r in ("C2022Q4R9", "C2023Q2R1", "C2024Q3R5"):
        _complete(cfg, r)
    # Nothing to do: exit 7 before any Spark work, logged as INFO (schedulers grep for ERROR).
    capsys.readouterr()
    assert main(["run", "--config", str(config), "--release", "latest"]) == 7
    err = capsys.readouterr().err
    assert re.search(r"INFO .*NothingToDo: ", err) and "ERROR" not in err, err
    # Locked: exit 6 (the lock is taken before any stage runs).
    _complete(cfg, "C2024Q3R5", ())
    os.remove(os.path.join(cfg.output_root, "C2024Q3R5", "report", "_SUCCESS"))
    held = ReleaseLock(cfg.model_copy(update={"release": "C2024Q3R5"}), LocalFs())
    with held:
        rc = subprocess.run([sys.executable, "-m", "trd_spark.cli", "run", "--config", str(config),
                             "--release", "latest", "--master", "local[1]"],
                            capture_output=True, text=True, timeout=300)
    assert rc.returncode == 6, rc.stderr[-2000:]
    assert "LockedError" in rc.stderr


def test_lock_is_exclusive_and_released(cfg):
    fs = LocalFs()
    a = ReleaseLock(cfg, fs)
    assert not a.held_by_live_run()
    with a:
        assert ReleaseLock(cfg, fs).held_by_live_run()  # what `run` asks before its input checks
        with pytest.raises(LockedError, match="another run holds the lock"):
            ReleaseLock(cfg, fs).acquire()
    # Released on exit: can be taken again.
    with ReleaseLock(cfg, fs):
        pass
    assert not os.path.exists(a.path)


def test_stale_lock_taken_over(cfg, caplog):
    fs = LocalFs()
    lock = ReleaseLock(cfg, fs)
    os.makedirs(os.path.dirname(lock.path), exist_ok=True)
    # A dead process on this host.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with open(lock.path, "w") as f:
        json.dump({"host": lock.owner["host"], "pid": dead.pid, "started": time.time()}, f)
    with ReleaseLock(cfg, fs):
        pass
    assert "stale lock" in caplog.text
    # Too old, other host (its file last written then: the storage's time judges, session 39).
    with open(lock.path, "w") as f:
        json.dump({"host": "elsewhere", "pid": 1, "started": time.time() - 25 * 3600}, f)
    os.utime(lock.path, (time.time() - 25 * 3600,) * 2)
    with ReleaseLock(cfg, fs):
        pass
    # Recent, other host: respected.
    with open(lock.path, "w") as f:
        json.dump({"host": "elsewhere", "pid": 1, "started": time.time() - 60}, f)
    with pytest.raises(LockedError):
        ReleaseLock(cfg, fs).acquire()


def test_releases_shows_a_lock_left_by_a_killed_run_as_no_running_run(cfg):
    """``trd-spark releases`` says ``running`` only while a live run holds the lock: a lock of
    a dead process on this host, an old one, or an old empty one (a run killed by SIGKILL or
    with its node) is what the next run takes over, not a run to wait for (it said
    ``running`` for up to lock_stale_hours)."""
    fs = LocalFs()
    _complete(cfg, "C2024Q3R5", ("pgs",))
    path = os.path.join(cfg.output_root, "C2024Q3R5", ".lock")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    old = time.time() - (cfg.releases.lock_stale_hours + 1) * 3600
    held = {"live, this host": ({"host": ReleaseLock(cfg, fs).owner["host"], "pid": os.getpid(),
                                 "started": time.time()}, None, "running"),
            "recent, another host": ({"host": "elsewhere", "pid": 1, "started": time.time() - 60}, None, "running"),
            "dead process, this host": ({"host": ReleaseLock(cfg, fs).owner["host"], "pid": dead.pid,
                                         "started": time.time()}, None, "partial"),
            "old, another host": ({"host": "elsewhere", "pid": 1, "started": old}, old, "partial"),
            "empty, recent": ("", None, "running"),
            "empty, old": ("", old, "partial")}
    for case, (content, mtime, state) in held.items():
        with open(path, "w") as f:
            f.write(content if isinstance(content, str) else json.dumps(content))
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        got = {s.release: s.state for s in statuses(cfg, fs)}["C2024Q3R5"]
        assert got == state, case
    assert latest_incomplete(cfg, fs) == "C2024Q3R5"


def test_release_placeholder_in_input_paths(tmp_path):
    c = load_config(None, overrides={"release": "C2024Q3R5", "omop": {
        "format": "parquet", "path": str(tmp_path / "{release}" / "omop"), "data_cutoff_date": "2024-07-01"}})
    assert c.omop.path == str(tmp_path / "C2024Q3R5" / "omop")


def test_code_version_recorded():
    v = code_version()
    assert v.startswith("0.") and v == code_version()


@pytest.mark.parametrize("content", [b"", b'{"host": "elsewh', b"\xff\xfe not json"])
def test_empty_or_unreadable_lock_goes_stale_by_file_age(cfg, caplog, content):
    """A run killed while writing its lock leaves it empty or half-written: recent, it is
    respected (the writer may still be alive); older than lock_stale_hours, taken over."""
    fs = LocalFs()
    lock = ReleaseLock(cfg, fs)
    os.makedirs(os.path.dirname(lock.path), exist_ok=True)
    with open(lock.path, "wb") as f:
        f.write(content)
    with pytest.raises(LockedError):
        ReleaseLock(cfg, fs).acquire()
    old = time.time() - (cfg.releases.lock_stale_hours + 1) * 3600
    os.utime(lock.path, (old, old))
    with ReleaseLock(cfg, fs):
        assert json.loads(open(lock.path).read())["pid"] == os.getpid()
    assert "stale lock" in caplog.text
    assert not os.path.exists(lock.path)


def _publish_consistent(cfg, release):
    """Success markers and manifests as a complete run writes them: each output records the
    run id of every upstream output it read (the report's export records the report's)."""
    from trd_spark.stages import STAGE_SPECS

    _complete(cfg, release)
    base = os.path.join(cfg.output_root, release)
    for stage, spec in STAGE_SPECS.items():
        manifest = {"run_id": f"{stage}-1", "fingerprint_parts": {"upstream": {u: f"{u}-1" for u in spec.upstream}}}
        with open(os.path.join(base, stage, "_manifest.json"), "w") as f:
            json.dump(manifest, f)
    with open(os.path.join(base, EXPORT, "_manifest.json"), "w") as f:
        json.dump({"run_id": "report-1"}, f)


def _republish(cfg, release, stage, run_id):
    path = os.path.join(cfg.output_root, release, stage, "_manifest.json")
    with open(path) as f:
        m = json.load(f)
    m["run_id"] = run_id
    with open(path, "w") as f:
        json.dump(m, f)


def test_release_with_outputs_of_an_older_upstream_is_stale_not_complete(cfg, capsys):
    """An interrupted rerun republished cohort and stopped: models, report and export still
    have their success markers but were computed from the old cohort. The release is not
    complete, so `--release latest` reruns it instead of exiting 7 (nothing to do)."""
    fs = LocalFs()
    for r in ("C2022Q4R9", "C2023Q2R1", "C2024Q3R5"):
        _publish_consistent(cfg, r)
    assert all(s.complete for s in statuses(cfg, fs))
    with pytest.raises(NothingToDo):
        latest_incomplete(cfg, fs)
    _republish(cfg, "C2023Q2R1", "cohort", "cohort-2")
    got = {s.release: s for s in statuses(cfg, fs)}
    assert got["C2023Q2R1"].stale_stages == ("models", "report", EXPORT)
    assert got["C2023Q2R1"].state == "stale" and not got["C2023Q2R1"].complete
    assert latest_incomplete(cfg, fs) == "C2023Q2R1"
    # Only the export is stale when another report run wrote the report (and failed to export).
    _publish_consistent(cfg, "C2023Q2R1")
    _republish(cfg, "C2024Q3R5", "report", "report-2")
    assert {s.release: s.stale_stages for s in statuses(cfg, fs)} == {
        "C2022Q4R9": (), "C2023Q2R1": (), "C2024Q3R5": (EXPORT,)}
    assert main(["releases", "--config", str(_write_config(cfg))]) == 0
    out = capsys.readouterr().out
    assert re.search(r"C2024Q3R5\s+stale\s+pgs, phenotypes, cohort, models, report, export \(stale\)", out), out


def test_release_with_an_output_edited_since_published_is_stale(cfg):
    """A stage folder whose files no longer match its manifest's record (an output edited or
    deleted by hand) makes the release stale from that stage on: `--release latest` picks it
    again instead of exiting 7, and the run reruns that stage (stages.rerun_reasons)."""
    from trd_spark.layout import output_record

    fs = LocalFs()
    for r in ("C2022Q4R9", "C2023Q2R1", "C2024Q3R5"):
        _publish_consistent(cfg, r)
    folder = os.path.join(cfg.output_root, "C2022Q4R9", "cohort")
    with open(os.path.join(folder, "counts.tsv"), "w") as f:
        f.write("n\n100\n")
    manifest = os.path.join(folder, "_manifest.json")
    with open(manifest) as f:
        m = json.load(f)
    with open(manifest, "w") as f:
        json.dump({**m, "outputs": output_record(fs, folder)}, f)
    with pytest.raises(NothingToDo):
        latest_incomplete(cfg, fs)
    with open(os.path.join(folder, "counts.tsv"), "w") as f:
        f.write("n\n101\n")
    got = {s.release: s for s in statuses(cfg, fs)}
    assert got["C2022Q4R9"].stale_stages == ("cohort", "models", "report", EXPORT)
    assert latest_incomplete(cfg, fs) == "C2022Q4R9"


def test_compare_releases_refuses_a_stale_or_incomplete_release_before_spark(tmp_path, monkeypatch, capsys):
    """compare-releases reads each release's phenotypes cohort flow with its export's suppression
    labels, and its scores with its models. In a stale release (an interrupted rerun republished
    cohort; models, report and export still from the old one) those belong to different runs, so
    it is refused, naming the release and the command that mends it; so is a release without a
    complete phenotypes output. Both before any Spark session (local outputs: LocalFs). Before,
    only `_SUCCESS` of pgs, models and export was checked, after starting Spark and Hail.
    The config's inputs name {release}, so `run --release R` runs R's own data (on a config
    whose inputs do not, the command is not advised: tests/test_privacy_s36.py)."""
    import shutil

    from trd_spark import session
    from trd_spark.errors import InputDataError
    from trd_spark.report.compare import compare_releases_job

    def no_spark(*_args, **_kwargs):
        raise AssertionError("compare-releases started Spark before refusing")

    # In the suite another module's session may already run in this process: a guard on the
    # one way the command starts its session, rather than a look at SparkContext.
    monkeypatch.setattr(session, "command_session", no_spark)

    config = str(_config_with_release_inputs(tmp_path, None))
    cfg = load_config(config)
    for r in ("C2022Q4R9", "C2023Q2R1"):
        _publish_consistent(cfg, r)
    _republish(cfg, "C2023Q2R1", "cohort", "cohort-2")
    with pytest.raises(InputDataError, match=r"release C2023Q2R1 is stale \(models, export computed from an "
                                             r"upstream output .*: trd-spark run --release C2023Q2R1"):
        compare_releases_job(cfg, "C2022Q4R9", "C2023Q2R1")
    # From the command line, the mending command keeps the --config given (new-user trial,
    # session 15: without it, copied as given it ran the embedded toy config).
    assert main(["compare-releases", "C2022Q4R9", "C2023Q2R1", "--config", config]) == 3
    assert f"rerun it first: trd-spark run --config {config} --release C2023Q2R1" in capsys.readouterr().err
    shutil.rmtree(os.path.join(cfg.output_root, "C2022Q4R9", "phenotypes"))
    with pytest.raises(InputDataError, match=r"release C2022Q4R9 has no complete phenotypes output"):
        compare_releases_job(cfg, "C2022Q4R9", "C2023Q2R1")


def _config_with_release_inputs(tmp_path, toy_releases: dict | None):
    """The embedded toy config with every input under ``tmp_path/inputs/{release}`` (as
    tests/toy_releases.py); ``toy_releases``: its ``toy_data.releases``, None for real data (no toy_data)."""
    import yaml

    from trd_spark.config import DEFAULT_CONFIG

    raw = yaml.safe_load(yaml.safe_dump(yaml.safe_load(DEFAULT_CONFIG.read_text()))
                         .replace("../out/toy/data", str(tmp_path / "inputs" / "{release}"))
                         .replace("../out/toy", str(tmp_path)))
    raw["phenotypes"]["concept_sets"] = str(DEFAULT_CONFIG.parent / "concept_sets.yaml")
    raw["pgs"]["trait_panel"] = str(DEFAULT_CONFIG.parent / "trait_panel_toy.yaml")
    raw["releases"] = {"input_root": str(tmp_path / "inputs")}
    if toy_releases is None:
        raw.pop("toy_data")
    else:
        raw["toy_data"]["releases"] = toy_releases
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(raw))
    return config


@pytest.mark.parametrize("command", [["run"], ["check-config"], ["run", "--stages", "pgs"]])
def test_release_not_under_toy_data_releases_is_one_config_error(tmp_path, capsys, command):
    """``--release toy-r9`` (a typo for toy-r2, new-user trial) generated a whole toy release,
    which ``releases`` then listed as the newest: now exit 2 naming the key and the known
    releases, before anything is generated; a stray directory already generated is no release."""
    config = _config_with_release_inputs(tmp_path, {"toy-r1": {"persons": 600}, "toy-r2": {"persons": 700}})
    assert main([*command, "--config", str(config), "--release", "toy-r9"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "ERROR" in line]
    assert len(err) == 1 and "release: 'toy-r9' is not a key of toy_data.releases (known: toy-r1, toy-r2)" in err[0], err
    assert not (tmp_path / "inputs").exists()  # nothing generated
    (tmp_path / "inputs" / "toy-r9").mkdir(parents=True)  # as the typo left it before
    cfg = load_config(config)
    assert found_releases(cfg, LocalFs()) == ["toy-r1", "toy-r2"]
    assert latest_incomplete(cfg, LocalFs()) == "toy-r2"


def test_toy_releases_need_no_ready_marker(tmp_path, caplog):
    """A toy release is generated whole, never copied in: ``releases.ready_marker`` does not apply to
    ``toy_data.releases`` (releases.found_releases), so a generated toy folder without the marker is
    still listed and picked, with no ready-marker WARNING (a spurious one per listing before)."""
    cfg = load_config(_config_with_release_inputs(tmp_path, {"toy-r1": {"persons": 600}, "toy-r2": {"persons": 700}}))
    marked = cfg.model_copy(update={"releases": cfg.releases.model_copy(update={"ready_marker": "_READY"})})
    for name in ("toy-r1", "toy-r2"):
        (tmp_path / "inputs" / name).mkdir(parents=True)  # as generated: no _READY
    with caplog.at_level("WARNING", logger="trd_spark.releases"):
        assert found_releases(marked, LocalFs()) == ["toy-r1", "toy-r2"]
        assert latest_incomplete(marked, LocalFs()) == "toy-r2"
    assert [r.getMessage() for r in caplog.records] == []


def test_real_data_release_without_inputs_names_the_path(tmp_path, capsys):
    """No toy data: a release whose input folder does not exist stops before Spark with exit 2,
    one error naming the config key and the missing path of that release."""
    config = _config_with_release_inputs(tmp_path, None)
    (tmp_path / "inputs" / "C2024Q3R5").mkdir(parents=True)
    assert main(["run", "--config", str(config), "--release", "C2024Q3R6"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "ERROR" in line]
    assert len(err) == 1 and f"no such file or directory: {tmp_path / 'inputs' / 'C2024Q3R6'}/" in err[0], err
