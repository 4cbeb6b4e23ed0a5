"""Stale reruns, session 46 (helper "mixrun"): an input changed between two stages of one run.

``run_stages`` judged each stage by its own ``rerun_reasons`` alone, which sees an upstream
stage's new run id but never fingerprints again the inputs of a stage published (or judged
current) earlier in the same run, and ``layout._check_inputs_unchanged`` checks only the
publishing stage's own inputs. So a genotype file or OMOP folder re-pointed between two stages
left one stage's outputs of the old input, and the stages after it combined them with the new
inputs into a complete export, exit 0 (found by helper privrerun3). Now every upstream stage,
direct or not, in the run or not, is judged again just before a stage runs
(``pipeline._check_upstream_inputs``): one InputDataError naming the input, and
nothing of the stage runs. Stages are published with the real ``publish_stage`` on small inputs
(test_pipeline_rerun's ``published_in``); only the stages' own work is a stand-in (``run_stage``
publishes a one-line output), which also changes an input after a chosen stage: the trigger.
The checks, fingerprints and manifests are the real ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_pipeline_rerun import published_in

from trd_spark import pipeline
from trd_spark.errors import ConfigError, InputDataError
from trd_spark.layout import Layout, publish_stage
from trd_spark.releases import LocalFs
from trd_spark.report.compare import check_comparable
from trd_spark.stages import STAGE_SPECS, plan

DOWNSTREAM = ("cohort", "models", "report", "export")


def _stand_in(ran: list[str], after: str, change: Path, text: str):
    """``run_stage`` publishing each output of the stage (real ``publish_stage``: manifest,
    fingerprint, run id) and writing ``text`` into ``change`` once stage ``after`` published."""
    def run_stage(spark, cfg, stage, *, warnings=None, handed=None):
        ran.append(stage)
        for out in STAGE_SPECS[stage].outputs:
            with publish_stage(spark, cfg, out, warnings=warnings) as writer:
                writer.write_text("out.txt", f"{out}, {len(ran)}\n")
        if stage == after:
            change.write_text(text)  # the release's file replaced between two stages of the run
    return run_stage


def test_an_input_changed_between_two_stages_of_one_run_stops_it_before_mixing(spark, tmp_path, monkeypatch):
    """A run reruns pgs (its genotypes changed); the VCF is replaced again once pgs published.
    Before cohort runs: one InputDataError at the VCF naming pgs, cohort onwards unpublished (the
    earlier run's complete folders kept, each out of date now, as after any failed run). A run
    after it, the inputs left alone, goes through. Then ``run --stages cohort models`` with an
    OMOP part replaced after cohort: models stops on phenotypes, published before the run.
    On d099127 the first run went through cohort, models and report (a complete export, exit 0)."""
    cfg = published_in(spark, tmp_path)
    layout, fs = Layout.of(cfg), LocalFs()
    vcf = Path(cfg.datasets[0].genotypes.path)
    run_ids = {out: layout.manifest(fs, out)["run_id"] for out in DOWNSTREAM}
    header = vcf.read_text().rsplit("chr1", 1)[0]
    vcf.write_text(header + "chr1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t1/1\n")  # pgs reruns, and all after it

    ran: list[str] = []
    monkeypatch.setattr(pipeline, "run_stage",
                        _stand_in(ran, "pgs", vcf, header + "chr1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t0/0\n"))
    with pytest.raises(InputDataError, match=r"input datasets\.discovery\.genotypes\.path of the pgs stage, "
                                             r"published earlier in this run, changed since: nothing of the cohort "
                                             r"stage run") as raised:
        pipeline.run_stages(spark, cfg)
    assert raised.value.where == str(vcf)
    assert ran == ["pgs"]
    assert {out: layout.manifest(fs, out)["run_id"] for out in DOWNSTREAM} == run_ids  # none republished
    assert [s for s, r in plan(cfg, fs).items() if r] == ["pgs", "cohort", "models", "report"]
    with pytest.raises(InputDataError, match=r"release toy-r1 is stale \(models"):  # so not compared meanwhile
        check_comparable(cfg, fs, cfg.release)

    ran.clear()
    monkeypatch.setattr(pipeline, "run_stage", _stand_in(ran, "none", vcf, ""))
    assert [r.status for r in pipeline.run_stages(spark, cfg)] == ["ran", "skipped", "ran", "ran", "ran"]
    assert ran == ["pgs", "cohort", "models", "report"] and not any(plan(cfg, fs).values())

    person = Path(cfg.omop.path) / "person.parquet"
    ran.clear()
    monkeypatch.setattr(pipeline, "run_stage", _stand_in(ran, "cohort", person, "person, another export\n"))
    with pytest.raises(InputDataError, match=r"input omop\.path of the phenotypes stage, published before this "
                                             r"run, changed since: nothing of the models stage run") as raised:
        pipeline.run_stages(spark, cfg, ["cohort", "models"], force=True)
    assert raised.value.where == cfg.omop.path and ran == ["cohort"]
    # Before any stage, the same change is the start check's (ConfigError, session 45), not a run's.
    with pytest.raises(ConfigError, match="computed by the phenotypes stage, which is out of date"):
        pipeline.run_stages(spark, cfg, ["cohort", "models"], force=True)
