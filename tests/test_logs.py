"""Progress and run logs (issue 18): the heartbeat against the real session, the JVM-output
splitter, person-count suppression in progress lines, and a failed run's log file. Fast: no
pipeline run (the toy runs of test_cli's wheel install and test_privacy_export check the log
of a whole run)."""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import yaml

from trd_spark import errors
from trd_spark.cli import main
from trd_spark.config import DEFAULT_CONFIG, REPO_CONF_DIR, GateThreshold
from trd_spark.gates import check_gate
from trd_spark.logs import Heartbeat, Steps, configure_logging, count_text, open_run_log
from trd_spark.pipeline import summary_table_counts
from trd_spark.session import split_jvm_output

LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) ")


def test_heartbeat_reports_the_running_spark_stage_and_stops_with_the_block(spark, caplog):
    def slow_partition(rows):  # local: pickled by value for the Python workers
        time.sleep(2.0)
        yield sum(1 for _ in rows)

    caplog.set_level(logging.INFO, logger="trd_spark")
    with Heartbeat(spark.sparkContext, "[1/1] slow", seconds=0.4) as beat:
        assert spark.sparkContext.parallelize(range(8), 2).mapPartitions(slow_partition).collect() == [4, 4]
    assert not beat._thread.is_alive()  # noqa: SLF001 - stopped when the block ended
    lines = [r.getMessage() for r in caplog.records if r.name == "trd_spark.progress"]
    running = [line for line in lines if "tasks done" in line]
    assert running, lines
    assert re.fullmatch(r"\[1/1\] slow: still running \(\d+s elapsed\); Spark job \d+, stage \d+ \(.+\): "
                        r"[0-2]/2 tasks done, [0-2] running", running[0]), running[0]
    n = len(lines)
    time.sleep(1.0)
    assert len([r for r in caplog.records if r.name == "trd_spark.progress"]) == n  # silent after the block


def test_heartbeat_says_when_no_spark_job_runs_and_stops_on_an_interrupt(spark, caplog):
    caplog.set_level(logging.INFO, logger="trd_spark")
    with pytest.raises(KeyboardInterrupt), Heartbeat(spark.sparkContext, "models", seconds=0.2) as beat:
        time.sleep(0.7)  # driver-side work, as the models stage does
        raise KeyboardInterrupt
    assert not beat._thread.is_alive()  # noqa: SLF001
    lines = [r.getMessage() for r in caplog.records if r.name == "trd_spark.progress"]
    # Any whole seconds: a main thread that oversleeps its 0.7 s on a loaded machine gets a beat at
    # "(1s elapsed)" (session 56: the old "(0s elapsed)" check fails so; shown with a 0.5 s oversleep).
    assert lines and all(re.match(r"models: still running \(\d+s elapsed\); no Spark job active", line)
                         for line in lines), lines


def test_jvm_output_split_into_lines_and_progress_bar_redraws():
    text = ("Setting default log level to \"WARN\".\n2026-11-30 WARN NativeCodeLoader:60 - Unable\n"
            "\r[Stage 1:>          (0 + 2) / 8]\r[Stage 1:=====>    (4 + 2) / 8]\r" + " " * 20 + "\r"
            "2026-11-30 WARN SparkConf:72 - Note\npartial")
    lines, progress, rest = split_jvm_output(text)
    assert lines == ["Setting default log level to \"WARN\".", "2026-11-30 WARN NativeCodeLoader:60 - Unable",
                     "2026-11-30 WARN SparkConf:72 - Note"]
    assert progress == "\r[Stage 1:>          (0 + 2) / 8]\r[Stage 1:=====>    (4 + 2) / 8]\r" + " " * 20 + "\r"
    assert rest == "partial"
    assert split_jvm_output("\r[Stage 2:>  (0 + 1) / 1]") == ([], "\r[Stage 2:>  (0 + 1) / 1]", "")


def test_spark_progress_bar_only_on_a_terminal(monkeypatch):
    """spark.ui.showConsoleProgress (Spark's and so Hail's progress bar) follows stderr."""
    from trd_spark import session
    from trd_spark.config import SparkSettings

    for tty in (True, False):
        monkeypatch.setattr(session, "stderr_is_terminal", lambda tty=tty: tty)
        assert session.spark_conf(SparkSettings())["spark.ui.showConsoleProgress"] == str(tty).lower()


def test_person_counts_in_progress_lines_and_gates_are_suppressed(caplog):
    caplog.set_level(logging.INFO, logger="trd_spark")
    # Persons: 0, <T or T+, never the count (a count of T or more may be one the export hides).
    assert [count_text(n, persons_below=20) for n in (0, 1, 19, 20, 12345)] == ["0", "<20", "<20", "20+", "20+"]
    assert count_text(7) == "7"  # records, variants: never suppressed
    steps = Steps("phenotypes", small_count_threshold=20)
    steps.done("wrote persons", 7, "rows", persons=True)
    steps.done("drug exposures filtered", 12345)
    gate = check_gate("sex_other", 5, 3000, GateThreshold(warn=0.001), what="persons with sex 'other'", cause="c",
                      where="phenotypes", persons_below=20)
    assert gate["n"] == 5  # the manifest keeps the exact count
    messages = [r.getMessage() for r in caplog.records]
    assert re.fullmatch(r"phenotypes: wrote persons, <20 person-level rows, exact count not logged \(\d+\.\d s\)",
                        messages[0]), messages
    assert re.fullmatch(r"phenotypes: drug exposures filtered, 12,345 records \(\d+\.\d s\)", messages[1])
    assert "gate sex_other: <20 of 20+ persons with sex 'other'; likely cause: c (warning at >= 0.1%, which a count read as these labels can reach)" in messages[2]
    # elapsed times ("(0.5 s)") are cut first: they may hold the digits
    assert not any(re.search(r"\b5\b|3,?000", re.sub(r"\(\d+\.\d s\)", "", m)) for m in messages)


@pytest.mark.parametrize(("stage", "tables", "text"), [
    ("models", {"logistic": 12, "consistency": 3, "meta": 1500}, "logistic=12, consistency=3, meta=1,500"),
    ("phenotypes", {"persons": 7, "cohort_flow": 14}, "persons=<20, cohort_flow=14"),  # rows of persons: hidden
    ("pgs", {"scores": 19, "match_summary": 4}, "scores=<20, match_summary=4"),
    ("cohort", {"analysis_frame": 5, "dataset_flow": 9, "cohort_counts": 0}, "analysis_frame=<20, dataset_flow=9, "
     "cohort_counts=0"),
    ("report", {"undeclared": 3}, "undeclared=<20"),  # no schema: treated as persons
], ids=["model-rows-plain", "persons-hidden", "scores-hidden", "frame-hidden", "undeclared-hidden"])
def test_run_summary_prints_table_rows_plainly_and_person_rows_suppressed(stage, tables, text):
    """The run summary's table rows (cli._run): 'consistency=<20' read as a small count of
    persons; only tables whose rows are persons (schema with person_id) keep the rule."""
    assert summary_table_counts(stage, tables, persons_below=20) == text


def test_records_before_the_run_log_opens_are_kept_and_debug_goes_to_the_file_only(tmp_path, capsys):
    configure_logging("INFO")
    logging.getLogger("trd_spark.test").debug("before the log opened")
    logging.getLogger("py4j.clientserver").warning("library noise")
    run_log = open_run_log(tmp_path / "logs", "run", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    logging.getLogger("trd_spark.test").info("progress line")
    run_log.close(0)
    assert run_log.path == tmp_path / "logs" / "20260102T030405Z-run.log"
    text = run_log.path.read_text()
    assert "DEBUG   trd_spark.test: before the log opened" in text and "library noise" in text
    assert text.splitlines()[-1].endswith("trd-spark run finished, exit code 0")
    err = capsys.readouterr().err
    assert "progress line" in err and "before the log opened" not in err and "library noise" not in err


def _config_failing_after_the_log_opens(tmp_path: Path, output_root: str) -> tuple[Path, dict]:
    """The toy config without toy-data generation, its cohort inputs present: `trd-spark
    cohort` passes the input checks (a missing input stops a run before its log exists) and
    stops on the pgs / phenotypes outputs it reads, which are not complete (exit 2)."""
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw.pop("toy_data")
    raw["output_root"] = output_root
    raw["spark"]["tmp_dir"] = str(tmp_path / "tmp")
    for name in ("ancestry.tsv", "related.tsv"):
        (tmp_path / name).write_text("sample_id\n")
    raw["ancestry"] = {"path": str(tmp_path / "ancestry.tsv"), "related_samples_to_remove": str(tmp_path / "related.tsv")}
    raw["pgs"]["trait_panel"] = str(REPO_CONF_DIR / "trait_panel_toy.yaml")
    raw["phenotypes"]["concept_sets"] = str(REPO_CONF_DIR / "concept_sets.yaml")
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(raw))
    return config, raw


def test_an_object_store_output_root_gets_a_copy_of_the_run_log(spark, tmp_path, capsys):
    """A URI output root (file:// here, gs:// on a cluster): the log is written under
    {spark.tmp_dir}/logs/ and copied to {output_root}/{release}/logs/ through Hadoop's FS."""
    config, raw = _config_failing_after_the_log_opens(tmp_path, f"file://{tmp_path}/results")
    assert main(["cohort", "--config", str(config)]) == errors.ConfigError.exit_code
    (local,) = (tmp_path / "tmp" / "logs").glob("*-cohort.log")
    copy = tmp_path / "results" / raw["release"] / "logs" / local.name
    assert copy.read_text() == local.read_text()
    assert copy.read_text().splitlines()[-1].endswith("trd-spark cohort FAILED, exit code 2")
    assert f"run log: file://{copy}" in capsys.readouterr().err


def test_a_failed_run_says_so_on_the_last_line_of_its_log(tmp_path, capsys):
    """A run failing before Spark starts, after its input checks (a stage run alone whose
    upstream outputs are not complete): the log under {output_root}/{release}/logs/ has the
    resolved config (DEBUG), the error and, last, the outcome; the console names the log."""
    config, raw = _config_failing_after_the_log_opens(tmp_path, str(tmp_path / "results"))
    assert main(["cohort", "--config", str(config)]) == errors.ConfigError.exit_code
    (log_file,) = (tmp_path / "results" / raw["release"] / "logs").glob("*-cohort.log")
    assert re.fullmatch(r"\d{8}T\d{6}Z-cohort\.log", log_file.name)
    lines = log_file.read_text().splitlines()
    assert any(" DEBUG " in line and "# resolved config" in line for line in lines)
    assert any(" ERROR " in line and "ConfigError" in line and "which are not complete" in line for line in lines)
    assert LINE.match(lines[-1]) and lines[-1].endswith("trd-spark cohort FAILED, exit code 2"), lines[-1]
    err = capsys.readouterr().err
    assert f"run log: {log_file}" in err
    assert "# resolved config" not in err  # DEBUG: the file only
    assert "FAILED" not in err  # the console has the error line already
    assert isinstance(log_file, Path)


def test_an_unexpected_error_keeps_the_failed_line_last(tmp_path):
    """Exit code 1 (a bug): the traceback goes into the run log before the closing line."""
    configure_logging("INFO")
    run_log = open_run_log(tmp_path, "pgs", datetime.now(UTC))
    try:
        raise RuntimeError("boom")
    except RuntimeError as e:
        run_log.close(1, e)
    lines = run_log.path.read_text().splitlines()
    assert "Traceback (most recent call last):" in lines and "RuntimeError: boom" in lines
    assert lines[-1].endswith("trd-spark pgs FAILED, exit code 1")


@pytest.mark.parametrize(("msg", "args", "text"), [
    ("toy data not found: generating %d persons x %d variants (seed %d)", (3000, 1780, 42),
     "generating 3,000 persons x 1,780 variants (seed 42)"),
    ("  %s %s: %d/%d variants matched (%.1f%%; flipped %d)", ("disc", "PGS1", 1234567, np.int64(2000000), 61.7, 1780),
     "disc PGS1: 1,234,567/2,000,000 variants matched (61.7%; flipped 1,780)"),
    ("padded %5d, hex %x, flag %d, text %s", (12345, 4096, True, "1780"), "padded 12345, hex 1000, flag 1, text 1780"),
])
def test_counts_in_log_lines_have_one_form(tmp_path, capsys, msg, args, text):
    """A count logged with %d by any trd_spark module reads as the progress lines write counts
    (count_text: 1,780), on the console and in the run log alike (new-user trial: '1780' beside
    '1,780'); widths, other types, bools and text are left as they are, other loggers too."""
    configure_logging("INFO")
    run_log = open_run_log(tmp_path, "run", datetime.now(UTC))
    logging.getLogger("trd_spark.pipeline").info(msg, *args)
    logging.getLogger("py4j.other").error("other %d", 5000)
    run_log.close(0)
    console, written = capsys.readouterr().err, run_log.path.read_text()
    assert text in console and text in written, (console, written)
    assert "other 5000" in written
