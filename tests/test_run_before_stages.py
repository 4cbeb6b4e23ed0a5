"""What a run says before a stage's own start (new-user trial, session 30): an interrupt there
names the stage and says nothing of it was published; a long check there has heartbeat lines;
a scoring-file error found by the parse running while Spark starts ends the start at once.

The stages' outputs are published with the real ``publish_stage`` (a one-line text file each,
as tests/test_pipeline_rerun.py does) on small input files, so ``trd-spark models`` has its
upstream complete; the CLI runs in this process on the shared session, but for the parse case,
whose subject is a Spark start of its own (a subprocess).
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from trd_spark import cli, pipeline
from trd_spark.config import REPO_CONF_DIR, load_config
from trd_spark.layout import STAGES, Layout, publish_stage
from trd_spark.releases import LocalFs
from trd_spark.stages import STAGE_SPECS

REPO = Path(__file__).resolve().parents[1]

# A PGS Catalog header (one of conf/trait_panel_toy.yaml's scores) over rows of the toy's shape.
HEADER = ("#pgs_id=PGS900001\n#genome_build=GRCh38\n#weight_type=beta\n#HmPOS_build=GRCh38\n"
          "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\thm_chr\thm_pos\n")


def _config(tmp: Path, scoring_text: str = HEADER + "rs1\t1\t100\tG\tA\t0.1\t1\t100\n", **logging_keys) -> Path:
    inputs = tmp / "inputs"
    for name in ("omop/person.parquet", "ancestry.tsv", "related.tsv"):
        (inputs / name).parent.mkdir(parents=True, exist_ok=True)
        (inputs / name).write_text(f"{name}\n")
    # A VCF `run`'s preflight accepts (header, a GT record, whole last line).
    (inputs / "discovery.vcf").write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\t"
                                          "FORMAT\tS1\nchr1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\n")
    (inputs / "scores").mkdir()
    with gzip.open(inputs / "scores" / "PGS900001.txt.gz", "wt") as f:
        f.write(scoring_text)
    raw = yaml.safe_load((REPO_CONF_DIR / "toy.yaml").read_text())
    raw.pop("toy_data")
    raw["output_root"] = str(tmp / "results")
    raw["spark"]["tmp_dir"] = str(tmp / "tmp")
    raw["datasets"] = [{"name": "discovery", "role": "discovery",
                        "genotypes": {"format": "vcf", "path": str(inputs / "discovery.vcf")}}]
    raw["ancestry"] = {"path": str(inputs / "ancestry.tsv"), "related_samples_to_remove": str(inputs / "related.tsv")}
    raw["pgs"].update(scoring_files=[str(inputs / "scores" / "*.txt.gz")],
                      trait_panel=str(REPO_CONF_DIR / "trait_panel_toy.yaml"))
    raw["omop"]["path"] = str(inputs / "omop")
    raw["phenotypes"]["concept_sets"] = str(REPO_CONF_DIR / "concept_sets.yaml")
    raw.setdefault("logging", {}).update(logging_keys)
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def publish_every_stage(spark, config: Path) -> Path:
    """``config`` (a ``_config``) with every stage's outputs published by the real
    ``publish_stage`` (a one-line text file each), so models' upstream is complete."""
    cfg = load_config(config)
    for stage in STAGES:
        for out in STAGE_SPECS[stage].outputs:
            with publish_stage(spark, cfg, out) as writer:
                writer.write_text("out.txt", f"{out}\n")
    return config


@pytest.fixture
def published(spark, tmp_path) -> Path:
    """A config whose every stage is published (a text file each), models' upstream complete."""
    return publish_every_stage(spark, _config(tmp_path, heartbeat_seconds=0.2))


def test_an_interrupt_before_the_stage_starts_names_it_and_says_nothing_was_published(
        published, monkeypatch, capsys, interrupt_kept_in_test):
    """SIGINT after "[1/1] models: running", during the upstream-schema check (before the stage's
    own start): the line read "Interrupted: SIGINT received; stopped, nothing partial published",
    naming no stage. A real signal to this process, through the CLI's handlers."""
    cfg = load_config(published)
    before = Layout.of(cfg).manifest(LocalFs(), "models")["run_id"]
    real_check = pipeline.check_upstream_schemas

    def check_then_interrupted(*args, **kwargs):
        real_check(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(30)  # the handler raises here, at once

    monkeypatch.setattr(pipeline, "check_upstream_schemas", check_then_interrupted)
    t0 = time.monotonic()
    assert cli.main(["models", "--config", str(published), "--force"]) == 130
    assert time.monotonic() - t0 < 25
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if "Interrupted:" in x)
    assert "SIGINT received during stage models" in line, line
    assert "nothing of stage models published" in line and "lock released" in line, line
    assert "[1/1] models: running (--force)" in err
    assert Layout.of(cfg).manifest(LocalFs(), "models")["run_id"] == before  # and indeed nothing was


def test_an_interrupt_after_the_stage_published_says_so(published, spark, interrupt_kept_in_test):
    """A signal after the stage's folder was published (the report stage writes its export after
    its own folder; the pgs stage removes a stale failure log): "nothing ... published" would be
    wrong there. The real publish, then a real SIGINT through the CLI's handlers."""
    from trd_spark.errors import Interrupted
    from trd_spark.logs import WarningCounter

    cfg = load_config(published)
    counter = WarningCounter()
    with pytest.raises(Interrupted) as raised, cli._signals_handled(counter):  # noqa: SLF001 - as main() installs them
        with counter.attached(), counter.running_stage("report"), counter.stage_scope("report"):
            with publish_stage(spark, cfg, "report", warnings=counter) as writer:
                writer.write_text("out.txt", "report\n")
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(30)  # the handler raises here, at once
    assert str(raised.value) == "SIGINT received during stage report"
    assert raised.value.what_was_published() == "the report stage's folder published before the signal"


def test_a_long_check_before_the_stage_has_heartbeat_lines(published, monkeypatch, capsys):
    """The upstream-schema check (Parquet footers of every upstream table) ran >20 s under load
    with no line; here it takes three heartbeats (logging.heartbeat_seconds 0.2), then fails as a
    real check does on a table of another schema."""
    from trd_spark.errors import InputDataError

    real_check = pipeline.check_upstream_schemas

    def slow_check(*args, **kwargs):
        real_check(*args, **kwargs)
        time.sleep(0.7)
        raise InputDataError("a column of another type (this test's)", where="models' upstream table")

    monkeypatch.setattr(pipeline, "check_upstream_schemas", slow_check)
    assert cli.main(["models", "--config", str(published), "--force"]) == 3
    err = capsys.readouterr().err
    beats = [x for x in err.splitlines() if "[1/1] models: checking its upstream tables' schemas: still running" in x]
    assert beats, err
    assert "InputDataError: models' upstream table: a column of another type" in err


@pytest.mark.parametrize("case", ["bad_weight", "two_files_of_one_score"])
def test_a_scoring_file_error_stops_the_run_while_spark_starts(tmp_path, case):
    """A bad weight on a scoring file's line 6, or a second file of the same score: the parse
    runs in a thread while Spark and Hail start; its error surfaced only when the pgs stage took
    the result, after the session had started (~50 s in under load; the second case ~70 s).
    Now the start is broken off: no "Spark ..., Hail ..." line in the run log, one error line
    naming the file (and line, in one row's words)."""
    row = "rs1\t1\t100\tG\tA\t" + ("not-a-number" if case == "bad_weight" else "0.1") + "\t1\t100\n"
    config = _config(tmp_path, HEADER + row)
    if case == "two_files_of_one_score":
        scores = tmp_path / "inputs" / "scores"
        (scores / "PGS900001_copy.txt.gz").write_bytes((scores / "PGS900001.txt.gz").read_bytes())
    proc = subprocess.run([sys.executable, "-m", "trd_spark.cli", "pgs", "--config", str(config)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3, proc.stderr
    run_log = next((tmp_path / "results" / "toy-r1" / "logs").glob("*-pgs.log")).read_text()
    assert "trd-spark pgs FAILED, exit code 3" in run_log
    assert "trd_spark.session: Spark " not in run_log, "Spark and Hail finished starting before the error"
    errors = [x for x in proc.stderr.splitlines() if " ERROR " in x]
    assert len(errors) == 1, proc.stderr
    if case == "bad_weight":
        assert "PGS900001.txt.gz:6: column effect_weight" in errors[0]
        assert "(value 'not-a-number'; 1 such row)" in errors[0]
    else:
        assert "PGS900001_copy.txt.gz: #pgs_id=PGS900001 is also the score of" in errors[0]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "results" / "toy-r1" / "pgs").exists()


_INTERRUPTED_REDIRECTION = r'''
import os, sys
from trd_spark import session

real_dup2, calls = os.dup2, []

def dup2(a, b):
    calls.append(b)
    if len(calls) == 2:  # an exception (the parse's signal handler) between the two redirections
        raise KeyboardInterrupt
    return real_dup2(a, b)

os.dup2 = dup2
try:
    with session.jvm_output_to_log():
        pass
except KeyboardInterrupt:
    pass
os.dup2 = real_dup2
os.write(1, b"on the terminal\n")
'''


def test_an_exception_while_redirecting_the_jvm_output_restores_stdout():
    """``session.jvm_output_to_log`` moves fds 1 and 2 onto a pipe while the JVM starts; a
    signal handler (SIGINT, SIGTERM) may raise between any two bytecodes of that start. Raised
    between the two redirections, fd 1 stayed on the pipe (the run's error line went to the relay
    thread, not the terminal; read-through, session 31)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _INTERRUPTED_REDIRECTION], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-1500:]
    assert out.stdout == "on the terminal\n"


def test_a_parse_error_does_not_break_into_a_session_already_running(spark, tmp_path):
    """The CLI called in process while a SparkContext runs (the tests' shared session, a
    notebook) reuses it: session 31's parse signal then broke into that session's py4j calls and
    the gateway was lost for the whole process (the suite: test_bad_inputs' scoring-file cases,
    then the next Spark test of that worker, "SparkSession does not exist in the JVM"). With a
    JVM running, nothing is abandoned: the session is returned and the parse's error is left to
    the stage."""
    from trd_spark.config import PgsSettings
    from trd_spark.pgs.scoring_files import SCORING_FILES_AHEAD, ParseAhead

    (tmp_path / "PGS900001.txt.gz").write_bytes(gzip.compress(b""))
    ahead = ParseAhead(PgsSettings(scoring_files=[str(tmp_path / "*.txt.gz")], trait_panel="unused.yaml"),
                       ["GRCh38"]).start()
    ahead.wait()  # failed already: a start would be told at once
    started = cli._session(load_config(_config(tmp_path)).spark, {SCORING_FILES_AHEAD: ahead})  # noqa: SLF001
    assert started.sparkContext is spark.sparkContext
    assert spark.range(3).count() == 3
