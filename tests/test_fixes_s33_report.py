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
