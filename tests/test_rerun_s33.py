"""Session 33, stale and needless reruns (the rerun hunter): settings whose change reran stages
that do not read them, or reran none of the stages whose outputs depend on them.

Stages are published with the real ``publish_stage`` on small inputs (test_pipeline_rerun's
fixture: a one-line output per stage, the manifest and run id the runner reads); then one
setting changes and ``stages.plan`` (what ``run`` and ``explain`` decide with) must name exactly
the stages that would rerun.
"""

from __future__ import annotations

import pytest
from test_pipeline_rerun import _config, _publish, _reruns

from trd_spark.config import Config, TraitPanel, load_config
from trd_spark.layout import STAGES
from trd_spark.releases import LocalFs
from trd_spark.stages import STAGE_SPECS, config_view, plan


@pytest.fixture(scope="module")
def published(spark, tmp_path_factory) -> Config:
    """test_pipeline_rerun's ``published``, once for the module (each test changes the config
    in memory only, and puts back what it republishes)."""
    cfg = load_config(_config(tmp_path_factory.mktemp("rerun_s33")))
    _publish(spark, cfg)
    assert _reruns(cfg) == []
    return cfg


def _with_panel(cfg: Config, **changes: object) -> Config:
    panel = TraitPanel.model_validate({**cfg.trait_panel.model_dump(mode="json"), **changes})
    return cfg.model_copy(update={"trait_panel": panel})


def test_a_trait_still_to_curate_reruns_nothing_and_curating_it_reruns_pgs_onwards(published):
    """A panel entry without a ``pgs_id`` (a trait still to curate) is listed by check-config
    and download-scores and read by no stage, yet the panel's whole content was in the pgs,
    cohort, models and report slices: noting one reran every stage, hours of PGS scoring at
    All of Us scale. Giving it its ``pgs_id`` (it moves to ``scores``) reruns pgs onwards."""
    cfg = published
    todo = {"trait": "Loneliness", "domain": "personality"}
    noted = _with_panel(cfg, to_curate=[todo])
    assert noted.trait_panel.to_curate and _reruns(noted) == []
    curated = _with_panel(cfg, scores=[*cfg.trait_panel.model_dump(mode="json")["scores"],
                                       {**todo, "pgs_id": "PGS900011"}])
    assert _reruns(curated) == ["pgs", "cohort", "models", "report"]
    assert plan(curated, LocalFs())["pgs"] == ["config changed: trait_panel.scores"]
    # No stage may come to depend on it unseen: reading it through a stage's view is refused.
    with pytest.raises(LookupError, match="trait_panel.to_curate"):
        _ = config_view(noted, STAGE_SPECS["report"]).trait_panel.to_curate


def test_reordering_the_panel_domains_reruns_only_the_report(published):
    """The panel's list of domains orders the report's domain sections and is read by the report
    alone; each score's own domain is its label in the pgs scores table and the models' rows.
    Reordering the list reran pgs, cohort, models and report; moving a score to another domain
    still reruns them all."""
    cfg = published
    reordered = _with_panel(cfg, domains=list(reversed(cfg.trait_panel.domains)))
    assert _reruns(reordered) == ["report"]
    assert plan(reordered, LocalFs())["report"] == ["config changed: trait_panel.domains"]
    with pytest.raises(LookupError, match="trait_panel.domains"):
        _ = config_view(reordered, STAGE_SPECS["pgs"]).trait_panel.domains
    scores = cfg.trait_panel.model_dump(mode="json")["scores"]
    moved = [{**scores[0], "domain": "cognition" if scores[0]["domain"] != "cognition" else "sleep"}, *scores[1:]]
    assert _reruns(_with_panel(cfg, scores=moved)) == ["pgs", "cohort", "models", "report"]


def test_a_spark_setting_that_skips_unreadable_files_reruns_every_stage(spark, published):
    """``spark.sql.files.ignoreCorruptFiles`` / ``ignoreMissingFiles`` make Spark's file sources
    skip a part file they cannot read and return the rest; under the ``spark.sql.files.`` prefix
    of the split sizes they counted as tuning, in no slice: the outputs made while a corrupt OMOP
    part was skipped stayed current after the setting was removed. The split sizes still rerun
    nothing."""
    cfg = published

    def with_conf(**conf: str) -> Config:
        return cfg.model_copy(update={"spark": cfg.spark.model_copy(update={"extra_conf": conf})})

    assert _reruns(with_conf(**{"spark.sql.files.maxPartitionBytes": "64m"})) == []
    for key in ("spark.sql.files.ignoreCorruptFiles", "spark.sql.files.ignoreMissingFiles"):
        skipping = with_conf(**{key: "true"})
        assert _reruns(skipping) == list(STAGES), key
        assert plan(skipping, LocalFs())["phenotypes"] == [f"config changed: spark.extra_conf.{key}"]
    skipping = with_conf(**{"spark.sql.files.ignoreCorruptFiles": "true"})
    _publish(spark, skipping)
    assert _reruns(skipping) == []
    assert _reruns(cfg) == list(STAGES)  # the setting removed: every output made under it reruns
    _publish(spark, cfg)
