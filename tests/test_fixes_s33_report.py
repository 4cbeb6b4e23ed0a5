"""Session 33 fixesA: the reader's findings on the report, privacy and rerun slices.

Each test failed on the tree before its fix (the commit message says how) and passes here."""
from __future__ import annotations

import pytest

from trd_spark.config import load_config
from trd_spark.errors import ConfigError


def _publish(fs, root, release: str, trd: int, run_id: str | None) -> None:
    from test_report_reexport import export_files
    from test_report_reexport import release as counts

    from trd_spark.report.stage import publish_export

    publish_export(fs, load_config(None, overrides={"output_root": str(root), "release": release}),
                   export_files(counts(trd)), run_id=run_id)


# A root of ``report.audit_output_roots`` that exists but holds no export (a typo'd bucket
# root that happens to exist, a release folder given instead of the output root) was audited
# against nothing, silently: the new export could give a small change against the exports the
# user meant to name.
def test_an_audit_output_root_with_no_export_is_one_config_error(spark, tmp_path):
    from trd_spark.io import Fs
    from trd_spark.report.stage import released_exports

    fs = Fs(spark)
    first, second = tmp_path / "workspace1", tmp_path / "workspace2"
    second.mkdir()
    _publish(fs, first, "r1", 167, "run1")
    ok = load_config(None, overrides={"output_root": str(second), "release": "r2",
                                      "report": {"audit_output_roots": [str(first)]}})
    assert sorted(released_exports(fs, ok)) == ["r1@run1"]
    for wrong in (first / "r1", tmp_path / "empty"):  # a release folder; an empty root
        wrong.mkdir(exist_ok=True)
        cfg = load_config(None, overrides={"output_root": str(second), "release": "r2",
                                           "report": {"audit_output_roots": [str(first), str(wrong)]}})
        with pytest.raises(ConfigError, match=rf"report\.audit_output_roots: {wrong} holds no export"):
            released_exports(fs, cfg)


# Two exports labelled the same (``release@unknown``: exports by an older version that recorded
# no run id, one under each of two roots): ``out.update`` kept one and dropped the other from the
# audit, silently. The second label is qualified by the key naming its root.
def test_two_exports_with_the_same_label_are_both_audited(spark, tmp_path):
    from trd_spark.io import Fs
    from trd_spark.report.stage import released_exports
    from trd_spark.report.tables import prior_counts

    fs = Fs(spark)
    first, second, own = tmp_path / "workspace1", tmp_path / "workspace2", tmp_path / "workspace3"
    own.mkdir()
    _publish(fs, first, "r1", 167, None)
    _publish(fs, second, "r1", 174, None)
    cfg = load_config(None, overrides={"output_root": str(own), "release": "r2",
                                       "report": {"audit_output_roots": [str(first), str(second)]}})
    others = released_exports(fs, cfg)
    assert sorted(others) == ["r1@unknown", "r1@unknown (report.audit_output_roots[1])"]
    trd = {n for (label, cell), n in prior_counts(others).items() if "TRD" in cell}
    assert {167, 174} <= trd, trd


# ``spark.sql.files.ignoreCorruptFiles`` / ``ignoreMissingFiles`` true: Spark's file reads (the
# OMOP tables) skip a part file they cannot read and return the rest, with no count of what was
# dropped. The run refuses them at its start, naming the key.
def test_a_spark_setting_that_skips_unreadable_files_is_refused_at_run_start(tmp_path):
    from trd_spark.preflight import check_inputs

    for key in ("spark.sql.files.ignoreCorruptFiles", "spark.sql.files.ignoreMissingFiles"):
        for value in ("true", " True "):
            cfg = load_config(None, overrides={"output_root": str(tmp_path), "spark": {"extra_conf": {key: value}}})
            with pytest.raises(ConfigError, match=rf"spark\.extra_conf\.{key}: true is refused"):
                check_inputs(cfg, ["models"])
        check_inputs(load_config(None, overrides={"output_root": str(tmp_path),
                                                  "spark": {"extra_conf": {key: "false"}}}), ["models"])


# Under ``spark.sql.files.`` only the split sizes are tuning: any other key there (one that
# changes what a read returns, or one Spark adds later) is in every stage's slice.
def test_only_the_split_sizes_under_spark_sql_files_are_tuning():
    from trd_spark.stages import result_spark_conf

    sizes = {f"spark.sql.files.{k}": "8" for k in ("maxPartitionBytes", "openCostInBytes", "minPartitionNum",
                                                  "maxPartitionNum")}
    other = {"spark.sql.files.ignoreInvalidPartitionPaths": "true", "spark.sql.files.maxRecordsPerFile": "10"}
    cfg = load_config(None, overrides={"spark": {"extra_conf": {**sizes, **other}}})
    assert result_spark_conf(cfg) == other


# A significance figure with no score to show (no result has a p-value) set the x limits to
# (-0.5, -0.5): matplotlib's "identical low and high xlims" warning in the suite. It now draws an
# axis of one empty column with a note saying nothing is shown.
def test_an_empty_significance_figure_warns_nothing_and_says_so():
    import warnings

    import pandas as pd

    from trd_spark.report.figures import significance_figure

    empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in (("pgs_id", str), ("trait", str), ("domain", str),
                                                               ("contrast", str), ("p", float))})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = significance_figure(empty, domains=[], contrasts=["TRD vs non-TRD"], bonferroni_p=0.05, title="t")
    assert fig.data["points"].empty
    assert "no score has a p-value" in fig.svg
