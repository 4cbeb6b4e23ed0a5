"""Session 35's new-user trial: what a first user of the CLI met (no Spark: config, preflight,
the release lock and the CLI's early exits, all before a session starts)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from trd_spark.config import load_config
from trd_spark.errors import ConfigError, LockedError
from trd_spark.preflight import check_inputs
from trd_spark.releases import LocalFs, ReleaseLock

REPO = Path(__file__).resolve().parent.parent


def test_a_locked_release_names_who_holds_it(tmp_path, capsys):
    """Two runs on one output root: the second stopped with exit 6 and 'another run holds the
    lock on release toy-r1', nothing more, so the user could not tell a live run from a hung
    one (which process, since when) without reading the hidden lock file. The error now names
    the holder's pid and host, when it started and how long ago, and what happens next; both
    where it is raised: ``run``'s look before its input checks and ``acquire``."""
    from trd_spark.cli import main

    cfg = load_config(None, overrides={"output_root": str(tmp_path / "results")})
    with ReleaseLock(cfg, LocalFs()):
        with pytest.raises(LockedError) as err:
            ReleaseLock(cfg, LocalFs()).acquire()
        text = str(err.value)
        assert f"another run holds the lock on release {cfg.release}: held by pid {os.getpid()} on host " \
               f"{socket.gethostname()} since {time.strftime('%Y-%m-%d', time.gmtime())}" in text, text
        assert "ago); wait for it to end" in text and "releases.lock_stale_hours 24" in text, text
        config = tmp_path / "c.yaml"
        config.write_text((REPO / "conf" / "toy.yaml").read_text().replace(
            "output_root: ../out/toy/results", f"output_root: {tmp_path / 'results'}").replace(
            "../out/toy/data", str(tmp_path / "absent"))
            .replace("trait_panel_toy.yaml", str(REPO / "conf" / "trait_panel_toy.yaml"))
            .replace("concept_sets: concept_sets.yaml", f"concept_sets: {REPO / 'conf' / 'concept_sets.yaml'}"))
        capsys.readouterr()
        assert main(["run", "--config", str(config)]) == 6  # before any input check or Spark
        stderr = capsys.readouterr().err
        assert f"held by pid {os.getpid()} on host" in stderr, stderr
    # An unreadable lock (a run killed while writing it) is named so, with its age.
    os.makedirs(os.path.dirname(ReleaseLock(cfg, LocalFs()).path), exist_ok=True)
    Path(ReleaseLock(cfg, LocalFs()).path).write_text("")
    with pytest.raises(LockedError, match="held by a run whose lock file cannot be read since "):
        ReleaseLock(cfg, LocalFs()).acquire()


@pytest.mark.parametrize(("entry", "hint"), [("PGS000001", True), ("pgs004228", True),
                                             ("PGS000001_hmPOS_GRCh38.txt.gz", False)])
def test_a_pgs_id_as_scoring_file_says_where_files_come_from(tmp_path, capsys, entry, hint):
    """``pgs.scoring_files: [PGS000001]`` (a PGS Catalog ID, as pgsc_calc's --pgs_id takes it),
    offline: run stopped with 'no such file or directory: <config dir>/PGS000001' and check-config
    warned the same, a path the user never meant, with no word that the pipeline fetches nothing
    and where such a file comes from. Both now say it (the trait panel, download-scores, needing
    the network); a missing file by its name keeps the plain error."""
    from trd_spark.cli import main

    data = tmp_path / "data"
    (data / "genotypes").mkdir(parents=True)
    for name in ("discovery", "replication_wgs", "replication_array"):
        (data / "genotypes" / f"{name}.vcf.bgz").touch()  # only the scoring file is missing
    config = tmp_path / "c.yaml"
    config.write_text((REPO / "conf" / "toy.yaml").read_text().replace(
        "scoring_files: [../out/toy/data/scores/*.txt.gz]", f"scoring_files: [{entry}]")
        .replace("output_root: ../out/toy/results", f"output_root: {tmp_path / 'results'}")
        .replace("../out/toy/data", str(data))
        .replace("trait_panel_toy.yaml", str(REPO / "conf" / "trait_panel_toy.yaml"))
        .replace("concept_sets: concept_sets.yaml", f"concept_sets: {REPO / 'conf' / 'concept_sets.yaml'}"))
    (data / "truth.json").write_text("{}")  # toy data "generated": a missing file is the user's
    cfg = load_config(config)
    with pytest.raises(ConfigError) as err:
        check_inputs(cfg, ["pgs"])
    text = str(err.value)
    assert f"pgs.scoring_files.0: no such file or directory: {tmp_path / entry}" in text, text
    words = ("not PGS Catalog IDs: name the ID in the trait panel (pgs.trait_panel) and fetch its harmonised file "
             "with `trd-spark download-scores` (needs the network")
    assert (words in text) == hint, text
    capsys.readouterr()
    assert main(["check-config", "--config", str(config)]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "input pgs.scoring_files.0" in line]
    assert len(warned) == 1 and (words in warned[0]) == hint, warned


def test_the_methods_say_when_the_release_had_no_death_table():
    """A release without its death table ran with one WARNING ('OMOP table death not found;
    treated as empty') that reached only the log; the report's Methods still said persons were
    censored at 'the earliest of the last observation period's end, death and the EHR data
    cutoff', so a reader took the Cox fits and trMDD follow-up as cut at death. The Methods now
    name the absent table and what it changes, from the phenotypes manifest's
    ``notes.optional_tables_absent``; with the table present the words are as before."""
    from trd_spark.report.stage import methods_html

    cfg = load_config()
    with_death = methods_html(cfg, {}, 20)
    assert "end, death and the EHR data cutoff" in with_death and "OMOP tables absent" not in with_death
    without = methods_html(cfg, {}, 20, absent_tables=["death", "device_exposure"])
    assert "end, death and the EHR data cutoff" not in without
    assert "end and the EHR data cutoff (no death table: see OMOP tables absent)" in without
    assert "OMOP tables absent" in without and "death (read as empty): no death is known" in without
    assert "device_exposure (read as empty)" in without


def test_the_flow_label_names_no_death_without_the_death_table():
    """The attrition diagram's step for persons without an observation period read '(followed to
    death or cutoff)' also when the release had no death table (session 35 reader's finding 10),
    beside Methods saying no follow-up ends at a death. ``build_report`` passes the phenotypes
    manifest's absent tables on; with the table present the label is as before."""
    import inspect

    from trd_spark.phenotypes.flow import FlowStep
    from trd_spark.report import stage as report_stage

    cfg = load_config()
    step = FlowStep.NO_OBSERVATION_PERIOD
    assert report_stage.flow_labels(cfg, [])[1][step] == "without an observation period (followed to death or cutoff)"
    without = report_stage.flow_labels(cfg, [], deaths_known=False)[1][step]
    assert without == "without an observation period (followed to the data cutoff: no death table)"
    assert 'deaths_known="death" not in (absent_tables or [])' in inspect.getsource(report_stage.build_report)


def test_the_headline_says_why_a_reexport_hides_its_fits(tmp_path):
    """After a one-line fix of an input (one related sample fewer) and a rerun, the toy run's
    headline read 'not shown: hidden in the export' for all 10 PGS, where the first run showed
    every OR, with no word why: the report's audit linked the new export to the release's earlier
    one (export_history/) and hid the counts a change of 1 would be read from. The headline now
    ends with one line saying so (how many earlier exports, no fit or count named); a first
    export, or one hiding nothing, has no such line."""
    import pandas as pd
    from test_cli import publish_headline_export, write_headline_fits

    from trd_spark.cli import headline_table
    from trd_spark.layout import EXPORT_HISTORY, Layout

    cfg = load_config(None, overrides={"output_root": str(tmp_path)})
    layout = Layout.of(cfg)
    rows = write_headline_fits(cfg, layout)
    publish_headline_export(layout, [{**r, "n": "suppressed", "n_cases": "suppressed", "odds_ratio": ""}
                                     if r["pgs_id"] == "PGS000002" else r for r in rows])
    words = ("(this release was exported before: 1 earlier export(s) in export_history/ showed a fit hidden here; "
             "the export's audit also hides")
    assert words not in headline_table(None, cfg, None)  # the first export: nothing to say
    kept = Path(layout.release_dir, EXPORT_HISTORY, "8bf3056fcd394976b13368291d6fc167")
    kept.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(kept / "results.tsv", sep="\t", index=False)  # the earlier export showed both fits
    lines = headline_table(None, cfg, None).splitlines()
    assert lines[-1].startswith(words) and "a change of 1 to 19" in lines[-1], lines
    assert lines[-2].endswith("not shown: hidden in the export") and "1.25" in lines[-3]
    # The toy's run prints the truth column after every fit (reader's finding 1, session 35: the
    # line was looked for by its end, 'hidden in the export', so the toy never printed it).
    truth = {"effects": {p: {"log_or_trd_vs_nonmdd": 0.2} for p in ("PGS000001", "PGS000002")}}
    lines = headline_table(None, cfg, truth).splitlines()
    assert lines[-1].startswith(words) and "hidden in the export      1.22" in lines[-2], lines
    # A fit the earlier export hid too (1..T-1 cases from the first export on): the re-export did
    # not hide it, so no line blames it (reader's finding 12).
    hidden_then = [{**r, "n": "suppressed", "n_cases": "suppressed", "odds_ratio": ""} if r["pgs_id"] == "PGS000002"
                   else r for r in rows]
    pd.DataFrame(hidden_then).to_csv(kept / "results.tsv", sep="\t", index=False)
    assert "exported before" not in headline_table(None, cfg, truth)
    (kept / "results.tsv").unlink()  # a kept export without a results table showed no fit
    assert "exported before" not in headline_table(None, cfg, None)
    pd.DataFrame(rows).to_csv(kept / "results.tsv", sep="\t", index=False)
    pd.DataFrame(rows).to_csv(layout.file("export", "results.tsv"), sep="\t", index=False)  # every fit shown
    assert words not in headline_table(None, cfg, None)


def test_readme_says_a_single_stage_command_skips_a_current_stage():
    """`trd-spark models` on a complete, current release printed 'models: up to date, skipped'
    and ran nothing in 4 s, where README's command table said only 'one stage' (a new user
    expected it to refit). The row now says it is skipped as `run` skips it and that `--force`
    reruns it; every single-stage command takes --force."""
    from trd_spark.cli import build_parser
    from trd_spark.layout import STAGES

    row = next(line for line in (REPO / "README.md").read_text().splitlines()
               if line.startswith("| `trd-spark pgs\\|phenotypes"))
    assert "[--force]" in row and "up to date, skipped" in row and "`--force` reruns it" in row, row
    parser = build_parser()
    for stage in STAGES:
        assert parser.parse_args([stage, "--force"]).force is True
