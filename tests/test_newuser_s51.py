"""Session 51's new-user trial of the CLI on the toy data: what misled a first user (no Spark: the
headline is read with pyarrow, the commands stop or skip before a session starts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trd_spark.config import load_config

REPO = Path(__file__).resolve().parent.parent


def test_releases_on_the_default_config_names_the_toy_releases_config(monkeypatch, capsys):
    """Right after the quick start, ``trd-spark releases`` stops with exit 2: the default toy
    config has no releases. The error named README's section only (before session 51), not the
    shipped toy config that lists releases; now it ends with its ``--config``."""
    from trd_spark.cli import main

    monkeypatch.chdir(REPO)  # the config's path is shown from the working directory
    capsys.readouterr()
    assert main(["releases"]) == 2
    err = capsys.readouterr().err
    assert "releases.input_root is not set" in err
    assert "the toy data as two releases: --config conf/toy_releases.yaml" in err, err
    # a config that is not a toy one gets no such hint (conf/aou.yaml: tests/test_preflight.py)
    from trd_spark.releases import _toy_releases_hint

    cfg = load_config(None)
    assert _toy_releases_hint(cfg.model_copy(update={"toy_data": None})) == ""


def test_a_packaged_config_installed_from_a_wheel_writes_under_the_working_directory(monkeypatch, tmp_path):
    """Installed from a wheel, the default config's data and outputs go to ``./out`` (not into
    site-packages); the toy releases config that ``trd-spark releases`` now names by its packaged
    path wrote under ``site-packages/trd_spark/out`` (before session 51 only ``--config``-less runs
    were moved). A config of the user's is resolved as written."""
    from trd_spark import config

    monkeypatch.setattr(config, "INSTALLED", True)
    monkeypatch.chdir(tmp_path)
    cfg = load_config(config.REPO_CONF_DIR / "toy_releases.yaml")
    assert cfg.output_root == str(tmp_path / "out" / "toy_releases" / "results")
    assert cfg.releases.input_root == str(tmp_path / "out" / "toy_releases" / "inputs")
    mine = tmp_path / "a" / "conf" / "mine.yaml"
    mine.parent.mkdir(parents=True)
    mine.write_text((config.REPO_CONF_DIR / "toy_releases.yaml").read_text()
                    .replace("concept_sets.yaml", str(config.REPO_CONF_DIR / "concept_sets.yaml"))
                    .replace("trait_panel_toy.yaml", str(config.REPO_CONF_DIR / "trait_panel_toy.yaml")))
    assert load_config(mine).output_root == str(tmp_path / "a" / "out" / "toy_releases" / "results")  # as written


def _headline(cfg) -> list[str]:
    from trd_spark.cli import headline_table

    return headline_table(None, cfg, None).splitlines()


def test_the_headline_gives_each_shown_fit_its_n_cases_and_controls(tmp_path):
    """The headline showed ORs without N (persons, cases, controls): an OR of 150 cases read as one
    of 5,000 (README said to look in results.tsv). Each fit the export shows now has them beside
    it, as the export shows them; a fit it hides has none (its line reads as before)."""
    from test_cli import publish_headline_export, write_headline_fits

    from trd_spark.layout import Layout

    cfg = load_config(None, overrides={"output_root": str(tmp_path)})
    layout = Layout.of(cfg)
    rows = write_headline_fits(cfg, layout)  # n 925, 166 cases
    publish_headline_export(layout, [{**r, "n": "suppressed", "n_cases": "<20", "odds_ratio": ""}
                                     if r["pgs_id"] == "PGS000002" else r for r in rows])
    lines = _headline(cfg)
    assert lines[1].split()[3:6] == ["N", "cases", "controls"], lines
    shown = next(line for line in lines if line.startswith("PGS000001"))
    assert shown.split()[3:7] == ["925", "166", "759", "1.25"], shown
    hidden = next(line for line in lines if line.startswith("PGS000002"))
    assert hidden.split()[3:] == ["not", "shown:", "hidden", "in", "the", "export"], hidden
    assert len(hidden) == len(shown)  # the columns stay aligned


def test_the_headline_after_a_models_rerun_says_the_report_is_out_of_date(tmp_path):
    """After ``trd-spark models`` (a models rerun) with a report of the earlier models output, every
    line read "not shown: the report not run" although a report exists, and no line said how to
    see the ORs (session 50's finding). Now the lines say the report is out of date and the title
    names ``trd-spark report``; with no report at all they read as before, the title naming both
    commands."""
    from test_cli import publish_headline_export, write_headline_fits

    from trd_spark.layout import Layout

    cfg = load_config(None, overrides={"output_root": str(tmp_path)})
    layout = Layout.of(cfg)
    rows = write_headline_fits(cfg, layout)
    lines = _headline(cfg)  # no report yet
    assert "`trd-spark report` or `trd-spark run`" in lines[0], lines
    assert all(line.endswith("not shown: the report not run") for line in lines[2:]), lines
    publish_headline_export(layout, rows)
    assert "1.25" in _headline(cfg)[2]
    Path(layout.stage_dir("models"), "_manifest.json").write_text(json.dumps({"run_id": "m2"}))  # models reran
    lines = _headline(cfg)
    assert "(shown once the report has run on this models output: `trd-spark report`)" in lines[0], lines
    assert all(line.endswith("not shown: the report is out of date") and "1.25" not in line and "925" not in line
               for line in lines[2:]), lines


def test_trd_spark_report_alone_prints_the_headline(monkeypatch, tmp_path, capsys):
    """``trd-spark report`` printed no headline (only a command that ran or skipped the models
    stage did), though the report is what makes the ORs showable: after ``trd-spark models`` and
    ``trd-spark report`` the user saw no OR at all. A stage command of another stage still prints
    none. The inputs, toy data and stages are stubbed: this is the CLI's choice only."""
    from trd_spark import cli, pipeline, preflight

    monkeypatch.setattr(preflight, "check_inputs", lambda cfg, stages: None)
    monkeypatch.setattr(preflight, "toy_data_pending", lambda cfg: None)
    monkeypatch.setattr(pipeline, "ensure_toy_data", lambda cfg: None)
    monkeypatch.setattr(pipeline, "load_truth", lambda cfg: None)
    monkeypatch.setattr(cli, "headline_table", lambda spark, cfg, truth: "HEADLINE TABLE")
    for stage, printed in (("report", True), ("cohort", False)):
        monkeypatch.setattr(pipeline, "skip_all_without_spark", lambda cfg, stages, force=False, s=stage: [
            pipeline.StageResult(s, "skipped", 0.0, {})])
        capsys.readouterr()
        assert cli.main([stage, "--output-root", str(tmp_path)]) == 0
        assert ("HEADLINE TABLE" in capsys.readouterr().out) == printed, stage


def test_toy_data_names_the_option_a_count_is_too_small_for(tmp_path, capsys):
    """``trd-spark toy-data --persons 0`` said "ConfigError: generate_toy_data(persons): need at
    least 50 persons", naming a Python function; it now names the option, and writes nothing
    (since session 53 an argparse error, as the options are parsed: tests/test_dates_s53.py)."""
    from trd_spark.cli import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["toy-data", "--out", str(tmp_path / "toy"), "--persons", "0"])
    assert e.value.code == 2
    assert "trd-spark toy-data: error: argument --persons: need at least 50, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["toy-data", "--out", str(tmp_path / "toy"), "--variants", "10"])
    assert e.value.code == 2
    assert "trd-spark toy-data: error: argument --variants: need at least 200, got 10" in capsys.readouterr().err
    assert not (tmp_path / "toy").exists()
