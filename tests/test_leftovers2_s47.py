"""Session 47 (helper "leftovers2"): known gaps of session 46.

- compare-releases' ``pinned`` (d184bd4: a small change of ``n_both`` that an earlier published
  comparison pins, which no label of this one hides) was reached by no test, and the note of a
  comparison not for export named a cohort-size change whatever the cause.
- compare-releases compared a release whose recorded inputs changed (or were gone) after it
  published without a word (session 46 mixrun's open point): now one WARNING per such release
  naming each input's path, and a line in the summary and in ``_disclosure.json``.
"""

from __future__ import annotations

import pandas as pd

T = 20


def _counts(n_a: int, n_both: int) -> pd.DataFrame:
    """One dataset and score: ``n_a`` persons scored in A (all of A's scored persons, as A's
    report shows them), 600 in B, ``n_both`` in both."""
    return pd.DataFrame({"dataset": ["d"], "pgs_id": ["P1"], "n_a": [n_a], "n_b": [600], "n_both": [n_both],
                         "scored_a": [n_a], "scored_b": [600], "shown_a": [True], "shown_b": [True]})


def _prior(n: int) -> pd.DataFrame:
    return pd.DataFrame({"dataset": ["d"], "pgs_id": ["P1"], "n_both": [n], "source": ["toy-r1_vs_toy-r2@x"]})


def test_n_both_pinned_by_an_earlier_comparison_marks_the_comparison_not_for_export():
    """All 20 persons A's report shows scored in dataset d are in B (n_both 20, the threshold);
    an earlier comparison showed 27 (or 13, published under a threshold of 10). Hidden as
    ``suppressed`` (at least 20) beside A's 20, n_both would still be 20: the 7 persons between
    the two comparisons are pinned by what is published, so ``pinned`` (not for export), and the
    note says so, not "a cohort-size change". With 21 scored in A, hiding n_both protects them:
    not pinned. On 1dcddaa: ImportError (no ``export_verdict``); with ``pinned`` always False
    (the branch removed), the first assertion fails."""
    from trd_spark.report.compare import (
        NOT_FOR_EXPORT,
        NOT_FOR_EXPORT_PAIRS,
        disclosure,
        export_verdict,
        pair_counts_audit,
    )

    for earlier in (27, 13):
        shown, pinned = pair_counts_audit(_counts(20, 20), T, _prior(earlier))
        assert pinned and list(shown) == [20], earlier
    shown, pinned = pair_counts_audit(_counts(21, 21), T, _prior(28))
    assert not pinned and list(shown) == ["suppressed"]
    assert not pair_counts_audit(_counts(20, 20), T)[1]  # no earlier comparison: nothing pinned

    assert export_verdict(True, True) == (NOT_FOR_EXPORT_PAIRS,)
    assert export_verdict(False, False) == (NOT_FOR_EXPORT,)
    assert export_verdict(False, True) == (NOT_FOR_EXPORT, NOT_FOR_EXPORT_PAIRS)
    assert export_verdict(True, False) == ()
    assert "n_both" in NOT_FOR_EXPORT_PAIRS and "cohort-size" not in NOT_FOR_EXPORT_PAIRS
    record = disclosure(False, T, None, export_verdict(True, True))
    assert not record["for_export"] and record["note"] == NOT_FOR_EXPORT_PAIRS


def test_compare_releases_says_when_a_release_inputs_changed_since_it_published(spark, tmp_path, monkeypatch,
                                                                                 caplog):
    """A release published (real ``publish_stage`` manifests, test_pipeline_rerun's small
    inputs), then its VCF replaced and its OMOP folder removed: compare-releases still compares
    what was published (the tables are stand-ins here: the two releases' outputs are not what is
    checked) but one WARNING names the release and both inputs with their paths, "no longer
    exists" for the folder, and ``_disclosure.json`` and the printed summary carry a line each
    (no path in the folder's record). The other release (nothing published under this config)
    has nothing to compare. On 1dcddaa: TypeError (no ``config_for``), and nothing said it."""
    import json
    import shutil
    from pathlib import Path

    from test_pipeline_rerun import published_in

    from trd_spark.releases import LocalFs
    from trd_spark.report import compare

    cfg = published_in(spark, tmp_path)
    assert compare.release_input_changes(cfg, LocalFs()) == []
    vcf, omop = Path(cfg.datasets[0].genotypes.path), Path(cfg.omop.path)
    _the_config_names_another_path(cfg, vcf, tmp_path / "moved.vcf")
    vcf.write_text(vcf.read_text().replace("0/1", "1/1"))
    shutil.rmtree(omop)
    changes = compare.release_input_changes(cfg, LocalFs())
    assert [(c.stage, c.key, c.path, c.gone) for c in changes] == [
        ("pgs", "datasets.discovery.genotypes.path", str(vcf), False), ("phenotypes", "omop.path", str(omop), True)]

    tables = {"cohort_sizes": pd.DataFrame({"definition": ["all"], "step_order": [0], "step": ["genotyped"],
                                            "n_a": ["1000"], "n_b": ["1040"], "change": ["40"]}),
              "pgs_correlation": pd.DataFrame({"dataset": ["d"], "pgs_id": ["P1"], "n_both": [980],
                                               "correlation": [0.99]}),
              "estimates": pd.DataFrame({"ci_overlap": pd.Series([], dtype=object)})}
    monkeypatch.setattr(compare, "check_comparable", lambda *args, **kwargs: None)
    monkeypatch.setattr(compare, "compare_releases", lambda *args: (tables, (), T))
    monkeypatch.setattr("trd_spark.session.command_session", lambda settings: spark)
    monkeypatch.setattr("trd_spark.stages.check_spark_reads", lambda spark, cfg: None)
    caplog.set_level("WARNING", logger="trd_spark.report.compare")
    summary = compare.compare_releases_job(cfg, "toy-r0", cfg.release)  # each release's config as the CLI's
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and r.name == compare.log.name]
    assert len(warned) == 1 and f"release {cfg.release}'s inputs changed since it was published" in warned[0]
    assert f"({vcf}) of its pgs stage changed since it was published" in warned[0]
    assert f"input omop.path ({omop}) of its phenotypes stage no longer exists" in warned[0]
    record = json.loads((Path(cfg.output_root) / "compare" / f"toy-r0_vs_{cfg.release}" / "_disclosure.json")
                        .read_text())
    lines = record["inputs_changed_since_published"]
    assert lines == [f"release {cfg.release}: input datasets.discovery.genotypes.path of its pgs stage changed "
                     "since the release was published",
                     f"release {cfg.release}: input omop.path of its phenotypes stage no longer exists"]
    assert record["for_export"] and not any(str(tmp_path) in line for line in lines)
    assert summary.splitlines()[-2:] == lines


def _the_config_names_another_path(cfg, vcf, moved) -> None:
    """(Session 47 fixesC, reader finding 6.) The release's config now names another VCF (``moved``,
    a copy with other genotypes; an identical copy is no change: no line): the input is reported with the path it read, ``now`` the new one, and worded "is no
    longer the one its config names" (its data did not change); "no longer exists" once the file it read
    is gone. On 5e8e7ae the wording was "changed since it was published" (this branch had no test: a
    mutant setting ``gone`` False or ``now`` None there survived)."""
    from trd_spark.releases import LocalFs
    from trd_spark.report.compare import release_input_changes

    moved.write_text(vcf.read_text().replace("0/1", "1/1"))
    ds = cfg.datasets[0]
    now = cfg.model_copy(update={"datasets": [
        ds.model_copy(update={"genotypes": ds.genotypes.model_copy(update={"path": str(moved)})}), *cfg.datasets[1:]]})
    key = "datasets.discovery.genotypes.path"
    [change] = release_input_changes(now, LocalFs())
    assert (change.stage, change.key, change.path, change.gone, change.now) == ("pgs", key, str(vcf), False, str(moved))
    assert change.text() == (f"input {key} ({vcf}) of its pgs stage is no longer the one its config names; "
                             f"the release's config now reads {moved}")
    assert change.record() == f"release {cfg.release}: input {key} of its pgs stage is no longer the one its config names"
    vcf.rename(vcf.with_suffix(".away"))
    try:
        [change] = release_input_changes(now, LocalFs())
        assert (change.gone, change.now) == (True, str(moved))
        assert change.text().endswith(f"stage no longer exists; the release's config now reads {moved}")
    finally:
        vcf.with_suffix(".away").rename(vcf)
