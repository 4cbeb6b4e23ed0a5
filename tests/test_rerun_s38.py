"""Stale reruns and run safety, round 28 (session 38, helper "rerun28").

`trd-spark releases` listed a complete release as "complete" from its outputs alone while
`run --release latest` took it as out of date (a config or code change since): the listing a user
checks before (or instead of) the scheduled run said there was nothing to do. Both now judge a
complete release the same way (``releases.judged``). A release named ``latest`` could not be run
(``--release latest`` picks one): refused.
"""

from __future__ import annotations

import re

import pytest
from test_latest_s37 import _latest, _set, released  # noqa: F401 - released: the fixture

from trd_spark.cli import main
from trd_spark.config import load_config
from trd_spark.errors import ConfigError, InputDataError
from trd_spark.releases import LocalFs, found_releases, statuses


def test_releases_lists_as_outdated_what_latest_would_rerun(released, capsys, caplog):  # noqa: F811
    """Both releases complete and up to date: `releases` says complete. After a config change
    `run --release latest` takes r2 (then r1): `releases` lists both as outdated, naming the
    stages `run` would rerun and why (it listed them complete). A complete release whose config
    cannot be loaded is listed with why it could not be judged."""
    assert main(["releases", "--config", str(released)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^r1\s+complete\s", out, re.M) and re.search(r"^r2\s+complete\s", out, re.M), out
    _set(released, "report", "small_count_threshold", load_config(released).report.small_count_threshold + 5)
    assert _latest(released) == "r2"
    capsys.readouterr()
    assert main(["releases", "--config", str(released)]) == 0
    out = capsys.readouterr().out
    for r in ("r1", "r2"):
        assert re.search(rf"^{r}\s+outdated\s+pgs, phenotypes, cohort, models, report, export$", out, re.M), out
    assert out.count("reruns pgs, phenotypes, cohort, models, report (pgs: config changed: "
                     "report.small_count_threshold)") == 2, out

    cfg = load_config(released)

    def config_for(release: str):
        if release == "r2":
            raise InputDataError("1 input(s) not found, first omop.path: /gone/omop/")
        return load_config(released, overrides={"release": release})

    got = {s.release: s for s in statuses(cfg, LocalFs(), config_for=config_for)}
    assert got["r1"].state == "outdated" and [st for st, _ in got["r1"].outdated] == ["pgs", "phenotypes", "cohort", "models", "report"]
    assert got["r2"].state == "complete" and "/gone/omop/" in (got["r2"].unjudged or "")


def test_a_release_named_latest_is_refused(tmp_path, caplog):
    """`--release latest` picks a release, so one named `latest` could never be run by name: the
    config refuses the name (one ConfigError naming the key), and a `latest` folder under
    releases.input_root is left out of the releases with a WARNING."""
    inputs = tmp_path / "inputs"
    for name in ("r1", "latest"):
        (inputs / name).mkdir(parents=True)
    overrides = {"output_root": str(tmp_path / "results"), "releases": {"input_root": str(inputs)}, "toy_data": None}
    with pytest.raises(ConfigError, match=r"release.*'latest' is no release name"):
        load_config(None, overrides={**overrides, "release": "latest"})
    cfg = load_config(None, overrides=overrides)
    caplog.set_level("WARNING", logger="trd_spark.releases")
    assert found_releases(cfg, LocalFs()) == ["r1"]
    assert any("a release named 'latest' cannot be run" in r.getMessage() for r in caplog.records)


def test_a_pgs_export_folder_owner_is_refreshed_well_within_lock_stale_hours(spark, tmp_path):
    """The native engine's export folder under ``pgs.native.export_dir`` (a mount other hosts
    share) holds its owner record, which another host judges stale after
    ``releases.lock_stale_hours`` without a refresh. The record was refreshed every 10 minutes
    whatever that age, so with lock_stale_hours under 10 min a live run's folder was removed by
    the next run. It is refreshed as the release lock is now: at most every quarter of it
    (0.0004 h here: every 0.36 s)."""
    import json
    import time

    import hail as hl

    from trd_spark.pgs import scratch
    from trd_spark.pgs.stage import scoring_scratch

    cfg = load_config(None, overrides={"output_root": str(tmp_path / "results"), "toy_data": None,
                                       "releases": {"lock_stale_hours": 0.0004}})
    native = cfg.pgs.native.model_copy(update={"export_dir": str(tmp_path / "exports")})
    cfg = cfg.model_copy(update={"pgs": cfg.pgs.model_copy(update={"native": native})})
    with scoring_scratch(hl, spark, cfg) as folder:
        assert folder is not None
        record = f"{folder}/{scratch.OWNER}"
        first = json.loads(open(record).read())["refreshed"]
        deadline = time.time() + 20
        while json.loads(open(record).read())["refreshed"] == first:
            assert time.time() < deadline, "the owner record was not refreshed within lock_stale_hours"
            time.sleep(0.05)
