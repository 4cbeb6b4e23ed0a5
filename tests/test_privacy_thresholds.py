"""Privacy round 13: a re-export under a stricter threshold, and a gate's error pasted into a
ticket (README "Privacy": what an earlier export or message showed cannot be taken back).

Pure pandas + scipy but for the file system (``Fs`` on the session's Spark): tiny inline
releases (``test_report_reexport.release``), no toy run."""

from __future__ import annotations

import json

import pytest
from test_report_reexport import export_files, release

T = 20


def test_a_reexport_under_a_stricter_threshold_names_the_earlier_export_that_shows_its_small_counts(spark, tmp_path):
    """toy-r1 exported under 20 shows its 20 TRD persons; re-exported under 21 (the AoU
    policy's own wording, README "Privacy") the new export hides them as "<21", but whoever
    holds the first export still has the 20, and the new export said nothing of it. The report
    now finds such earlier exports of the release (``tables.shown_under_threshold``, from what
    ``released_exports`` reads), warns, and names them in ``export/_manifest.json`` (label and
    threshold only). A re-export under the same threshold, or an export that shows no count
    under the new threshold, or another release's export (other persons) is not named."""
    from trd_spark.config import load_config
    from trd_spark.io import Fs
    from trd_spark.report.stage import EARLIER_EXPORTS_SHOWING, export_manifest, publish_export, released_exports
    from trd_spark.report.tables import shown_under_threshold

    fs = Fs(spark)

    def cfg(release_name: str, threshold: int):
        return load_config(None, overrides={"output_root": str(tmp_path), "release": release_name,
                                            "report": {"small_count_threshold": threshold}})

    files = export_files(release(20))  # TRD 20: shown under 20
    assert "\tTRD\t20\n" in files["cohort_counts.tsv"]
    publish_export(fs, cfg("r1", T), files, run_id="run1")
    publish_export(fs, cfg("r2", T), export_files(release(20)), run_id="runA")  # another release

    stricter = cfg("r1", T + 1)
    others = released_exports(fs, stricter)
    assert set(others) == {"r1@run1", "r2"}
    disclosed = shown_under_threshold(others, "r1", T + 1)
    assert disclosed == {"r1@run1": T}
    manifest = export_manifest(stricter, export_files(release(20)), "run2", disclosed)
    assert manifest[EARLIER_EXPORTS_SHOWING] == {"r1@run1": T}
    # Published, the manifest says it too (and only label and threshold).
    publish_export(fs, stricter, export_files(release(20)), run_id="run2", earlier_disclosed=disclosed)
    written = json.loads((tmp_path / "r1" / "export" / "_manifest.json").read_text())
    assert written[EARLIER_EXPORTS_SHOWING] == {"r1@run1": T} and written["small_count_threshold"] == T + 1

    # The same threshold again: nothing the earlier export shows is under it.
    assert shown_under_threshold(released_exports(fs, cfg("r1", T)), "r1", T) == {}
    # A stricter threshold whose range the earlier exports show no count in (TRD 20 < 20 + 0).
    assert shown_under_threshold(others, "r1", T) == {}
    assert EARLIER_EXPORTS_SHOWING not in export_manifest(cfg("r1", T), files, "run3", {})


@pytest.mark.parametrize("n_at_risk, named", [("20", True), ("<21", False)])
def test_a_kaplan_meier_number_at_risk_under_the_new_threshold_names_the_earlier_export(n_at_risk, named):
    """A Kaplan-Meier number at risk is a count the earlier export shows too (a point with 20
    at risk under 20), though no audit cell carries it alone."""
    import pandas as pd

    from trd_spark.report.tables import shown_under_threshold

    km = pd.DataFrame({"dataset": "d", "definition": "A", "pgs_id": "P1", "tertile": ["1", "1"],
                       "time_days": ["0", "30"], "n_at_risk": ["300", n_at_risk]})
    got = shown_under_threshold({"r1@run1": {"km_curves": km, "threshold": None}}, "r1", T + 1)
    assert got == ({"r1@run1": None} if named else {})
