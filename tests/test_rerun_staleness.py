"""Stale and needless reruns on a new data release (session 26, helper "reruns").

Stages are published with the real ``publish_stage`` on small input files (as in
``test_pipeline_rerun``); ``stages.plan`` (what ``run`` and ``explain`` decide with) must rerun
exactly the stages whose outputs a change can alter: no stage left stale, none rerun for nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_pipeline_rerun import _config, _publish, _reruns

from trd_spark.config import Config, load_config
from trd_spark.errors import InputDataError
from trd_spark.io import Fs
from trd_spark.pipeline import run_stage
from trd_spark.releases import LocalFs
from trd_spark.stages import STAGE_SPECS, config_view, plan


@pytest.fixture
def published(spark, tmp_path) -> Config:
    cfg = load_config(_config(tmp_path))
    _publish(spark, cfg)
    assert _reruns(cfg) == []
    return cfg


def test_input_replaced_while_its_stage_runs_publishes_nothing(spark, published, monkeypatch):
    """A new release's file copied over the old one while the stage that reads it runs (a
    scheduled run started before the copy ended): the stage computed from the old bytes, but
    the manifest's fingerprint was taken when the stage published, from the new ones, so the
    next run found it up to date and the new release's file was never read (a stale rerun).
    Now the fingerprint is taken before the stage reads anything and checked again before
    publishing: the changed input is one error naming it, the old output stays, and the next
    run reruns the stage."""
    cfg = published
    ancestry = Path(cfg.ancestry.path)
    cohort_before = (Path(cfg.output_root) / cfg.release / "cohort" / "_manifest.json").read_text()

    def run(ctx):  # reads its input; the copy of the new release lands before it publishes
        seen = ancestry.read_text()
        ancestry.write_text("research_id\tancestry_pred\tpca_features\n")
        with ctx.publish() as writer:
            writer.write_text("out.txt", seen)

    monkeypatch.setattr("trd_spark.cohort.stage.run", run)
    with pytest.raises(InputDataError) as e:
        run_stage(spark, cfg, "cohort")
    assert str(e.value) == (f"{ancestry}: input ancestry.path changed while the cohort stage ran: nothing published "
                            "(its outputs may mix the old and the new bytes); rerun once the input is final")
    assert (Path(cfg.output_root) / cfg.release / "cohort" / "_manifest.json").read_text() == cohort_before
    assert plan(cfg, LocalFs())["cohort"] == [f"input ancestry.path changed ({ancestry})"]

    def run_unchanged(ctx):  # the input as the stage read it: published, then up to date
        with ctx.publish() as writer:
            writer.write_text("out.txt", ancestry.read_text())

    monkeypatch.setattr("trd_spark.cohort.stage.run", run_unchanged)
    run_stage(spark, cfg, "cohort")
    assert _reruns(cfg) == ["models", "report"]


def test_tuning_the_native_engine_reruns_nothing(published):
    """``pgs.native``'s block, task and slice sizes and the driver-sum limit decide how the
    scores are summed, not their values (config.NativeEngineSettings): they reran the pgs stage
    (hours on All of Us) and everything after it, unlike the Spark tuning settings."""
    cfg = published
    native = cfg.pgs.native.model_copy(update={"block_memory_mb": 64.0, "task_entries": 10**6, "variants_per_task": 500,
                                               "sample_slice": 1024, "driver_sum_mb": 0.0,
                                               "memory_dir": None})  # the pass's files on disk (session 34)
    assert _reruns(cfg.model_copy(update={"pgs": cfg.pgs.model_copy(update={"native": native})})) == []
    engine = cfg.pgs.native.model_copy(update={"engine": "hail"})  # which engine scores: reruns pgs
    changed = cfg.model_copy(update={"pgs": cfg.pgs.model_copy(update={"native": engine})})
    assert plan(changed, LocalFs())["pgs"] == ["config changed: pgs.native.engine"]


def test_swapping_dataset_roles_reruns_only_the_stages_that_read_roles(spark, tmp_path):
    """Which dataset is discovery and which replication is read by the models and the report,
    not by the pgs and cohort stages (each scores and assembles every dataset alike): swapping
    the roles reran hours of scoring. The pgs and cohort stages' config views refuse the role."""
    cfg = load_config(_config(tmp_path))
    first = cfg.datasets[0]
    second = first.model_copy(update={"name": "replication", "role": "replication"})
    cfg = cfg.model_copy(update={"datasets": [first, second]})
    _publish(spark, cfg)
    assert _reruns(cfg) == []
    swapped = cfg.model_copy(update={"datasets": [first.model_copy(update={"role": "replication"}),
                                                  second.model_copy(update={"role": "discovery"})]})
    reasons = plan(swapped, LocalFs())
    assert _reruns(swapped) == ["models", "report"]
    assert reasons["models"] == ["config changed: datasets"]
    for stage in ("pgs", "cohort"):
        view = config_view(cfg, STAGE_SPECS[stage])
        assert view.datasets[1].genotypes.format == first.genotypes.format
        with pytest.raises(LookupError, match=f"stage {stage} reads config key datasets.role, which its StageSpec "
                                              "excludes"):
            _ = view.datasets[0].role


def test_object_store_folder_fingerprint_sees_a_moved_or_replaced_part(spark, tmp_path):
    """``io.Fs.fingerprint`` (gs:// and hdfs:// inputs, read from the listing) was a folder's
    file count, bytes and latest mtime: a part moved to another partition folder (HDFS ``mv``
    keeps its mtime), or an older part replaced by one of the same size copied with its mtime
    kept (``hdfs dfs -cp -p`` from another release), kept all three, and the stage reading the
    folder was not rerun. Now every file's path, size and mtime count. Hadoop's local file
    system lists the folder here, as it lists gs:// and hdfs:// ones."""
    table = tmp_path / "condition_occurrence"
    old, new = table / "year=2020" / "part-00000.parquet", table / "year=2021" / "part-00001.parquet"
    for i, part in enumerate((old, new)):
        part.parent.mkdir(parents=True)
        part.write_bytes(b"PAR1 part")
        os.utime(part, (1_700_000_000 + i * 1000, 1_700_000_000 + i * 1000))
    fs = Fs(spark)
    before = fs.fingerprint(str(table))
    assert before["files"] == 2 and before["bytes"] == 18
    moved = table / "year=2021" / "part-00000.parquet"
    old.rename(moved)  # same bytes and mtime, another partition
    after_move = fs.fingerprint(str(table))
    assert after_move != before
    moved.rename(old)
    assert fs.fingerprint(str(table)) == before
    old.write_bytes(b"PAR1 PART")  # a same-size part of another release, its own (older) mtime kept
    os.utime(old, (1_600_000_000, 1_600_000_000))
    after_copy = fs.fingerprint(str(table))
    assert after_copy["files"] == 2 and after_copy["bytes"] == 18 and after_copy != before


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A two-module package ``rerun_pkg`` on sys.path (``provenance.code_digests`` reads it)."""
    from temp_package import temp_package

    with temp_package(tmp_path, monkeypatch, "rerun_pkg", {"__init__.py": '"""A package."""\n'}) as root:
        yield root


def test_docstring_comment_and_layout_edits_rerun_nothing_and_code_edits_do(package):
    """A stage's code digest was the SHA-256 of each module's source text, so a commit that only
    reworded a docstring or a comment of a module every stage imports (``stages.py``) reran
    every stage, hours of PGS scoring on All of Us. Now it digests the syntax tree without
    docstrings: such edits change no digest; a changed constant, name or string value does."""
    from trd_spark.provenance import code_digests

    stage = package / "stage.py"

    def digest(text: str) -> str:
        stage.write_text(text)
        code_digests.cache_clear()
        return code_digests("rerun_pkg.stage", package="rerun_pkg")["rerun_pkg.stage"]

    base = digest('"""Scores."""\n\nLIMIT = 0.75  # pgsc_calc\n\n\ndef run(x):\n    """Run."""\n    return x * LIMIT\n')
    reworded = digest('"""Scores every dataset\n(reworded)."""\nLIMIT = 0.75  # the pgsc_calc default\n\n\n'
                      'class Unused:\n    """A class."""\n\n\ndef run(x):\n    """Run it."""\n\n    return x * (LIMIT)\n')
    assert digest('"""Other words."""\nLIMIT = 0.75\n\n\nclass Unused:\n    """Other."""\n\n\ndef run(x):\n'
                  '    return x * LIMIT  # a comment\n') == reworded
    assert digest('"""Scores."""\n\n\nLIMIT = 0.75\n\ndef run(x):\n    """Run."""\n    return x*LIMIT\n') == base
    assert digest('"""Scores."""\nLIMIT = 0.8\n\n\ndef run(x):\n    """Run."""\n    return x * LIMIT\n') != base
    assert digest('"""Scores."""\nLIMIT = 0.75\n\n\ndef run(x):\n    """Run."""\n    return "x" * LIMIT\n') != base


def test_interrupted_compare_releases_keeps_the_earlier_comparison_whole(spark, tmp_path, monkeypatch):
    """``compare-releases`` wrote its TSVs one by one into ``compare/A_vs_B/`` and its
    ``_disclosure.json`` last: rerun after release B was rerun and stopped midway (full disk,
    kill), it left the new cohort sizes beside the earlier comparison's other tables, and the
    earlier ``_disclosure.json`` saying whether they may leave the workbench. Now the folder is
    written beside it and renamed into place (``layout.publish_folder``, as export/). The two
    releases' tables are stand-ins: what is checked is how the folder is written."""
    import pandas as pd

    from trd_spark.io import Fs as RealFs
    from trd_spark.report import compare

    cfg = load_config(_config(tmp_path))

    def tables(n: int) -> dict[str, pd.DataFrame]:
        return {"cohort_sizes": pd.DataFrame({"definition": ["all"], "step": ["genotyped"], "n_a": [str(n)],
                                              "n_b": [str(n + 40)], "change": ["40"]}),
                "pgs_correlation": pd.DataFrame({"dataset": ["discovery"], "pgs_id": ["PGS1"], "correlation": [0.99]}),
                "estimates": pd.DataFrame({"ci_overlap": pd.Series([], dtype=object)})}

    made = {"tables": tables(1000), "why_not": ()}
    monkeypatch.setattr(compare, "check_comparable", lambda *args, **kwargs: None)
    monkeypatch.setattr(compare, "compare_releases", lambda *args: (made["tables"], made["why_not"], 20))
    monkeypatch.setattr("trd_spark.session.command_session", lambda settings: spark)
    compare.compare_releases_job(cfg, "toy-r1", "toy-r2")
    folder = Path(cfg.output_root) / "compare" / "toy-r1_vs_toy-r2"
    def files() -> dict[str, str]:  # without Hadoop's hidden .crc files
        return {p.name: p.read_text() for p in folder.iterdir() if not p.name.startswith(".")}

    first = files()
    assert set(first) == {"cohort_sizes.tsv", "pgs_correlation.tsv", "estimates.tsv", "_disclosure.json"}

    made.update(tables=tables(2000), why_not=(compare.NOT_FOR_EXPORT,))
    write_text = RealFs.write_text

    def full_after_one_file(self, path, text):  # the disk fills after the first new file
        if getattr(self, "_wrote", False):
            raise OSError(28, "No space left on device")
        self._wrote = True
        write_text(self, path, text)

    monkeypatch.setattr(RealFs, "write_text", full_after_one_file)
    with pytest.raises(OSError, match="No space left"):
        compare.compare_releases_job(cfg, "toy-r1", "toy-r2")
    assert files() == first
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no half-written folder beside it


def test_the_project_billed_for_bigquery_reads_reruns_nothing(spark, tmp_path):
    """``omop.billing_project`` names who pays for the BigQuery reads (on All of Us the
    workspace's project), not which data are read (``omop.path``, the CDR dataset): the same
    CDR analysed from a cloned workspace reran the phenotype stage and everything after it."""
    cfg = load_config(_config(tmp_path))
    omop = cfg.omop.model_copy(update={"format": "bigquery", "path": "cdr-project.C2024Q3R5",
                                       "billing_project": "workspace-a"})
    cfg = cfg.model_copy(update={"omop": omop})
    _publish(spark, cfg)
    assert _reruns(cfg) == []
    cloned = cfg.model_copy(update={"omop": omop.model_copy(update={"billing_project": "workspace-b"})})
    assert _reruns(cloned) == []
    other_cdr = cfg.model_copy(update={"omop": omop.model_copy(update={"path": "cdr-project.C2025Q1R1"})})
    assert plan(other_cdr, LocalFs())["phenotypes"] == ["config changed: omop.path"]
