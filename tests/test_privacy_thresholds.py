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


def test_a_pasted_gate_error_bounds_no_small_group_of_a_later_export_of_the_same_data(caplog):
    """Privacy round 13, item 1 (README "Not covered" until now): a run stops at the
    genotyped_without_person gate's default error level (50%): 1,223 of the 2,445 persons with
    ancestry and PCs absent from OMOP person. Its message said "(error at >= 50%)"; pasted into a
    ticket, it tells that the persons not in the analysis frame are at least half the 2,445, so
    the frame (definition A's 7 TRD persons, hidden, + 1,212 shown) is at most 1,222.5 and the 7
    lie in 1..10. The user raises the error level to 90% and reruns on the same data; that run
    warns at 1%, which bounds nothing (interval 1..19 without the error). Now the message names
    the gate's config key instead of the level, and the audit states the largest level a run of
    the same data could have named (``gates.known_levels``: this config's and the defaults';
    ``tables.gate_outcomes``), so the later export hides what the pasted error would pin."""
    import logging
    from dataclasses import replace

    from test_privacy_logs import frame_outsider
    from test_report_reexport import with_dataset_flow
    from test_report_suppression import definitions_release

    from trd_spark.cohort.stage import genotyped_without_person_gate
    from trd_spark.config import GateThreshold
    from trd_spark.errors import InputDataError
    from trd_spark.gates import known_levels
    from trd_spark.report.tables import suppress_release

    n, total = 1223, 2445
    with pytest.raises(InputDataError) as stopped:
        genotyped_without_person_gate(n, total, "d", GateThreshold(warn=0.01, error=0.5), persons_below=T)
    message = str(stopped.value)
    assert "phenotypes.gates.genotyped_without_person.error" in message and "20+ of 20+" in message
    assert not [x for x in ("50", "%", "1,223", "2,445") if x in message], message

    raised = GateThreshold(warn=0.01, error=0.9)
    with caplog.at_level(logging.WARNING, logger="trd_spark"):
        gate = genotyped_without_person_gate(n, total, "d", raised, persons_below=T)
    assert gate["level"] == "warning"
    assert known_levels("genotyped_without_person", gate, raised, T) == [0.01, 0.5, 0.9]
    rc = with_dataset_flow(definitions_release({"A": 7}), [2500, 2470, total])
    # No model: its n (TRD + non-MDD) would fix the frame whatever the gate says.
    rc = replace(rc, logistic=rc.logistic.iloc[:0], dataset_gates={"d": {
        **gate, "warn": raised.warn, "known_levels": known_levels("genotyped_without_person", gate, raised, T)}})
    safe = suppress_release(rc, T)
    shown, cc = safe["dataset_flow"], safe["cohort_counts"]
    a, steps = frame_outsider(safe)
    # The pasted error: the gate's persons (part of the step) reached 50% of its total.
    a.know({("not_in_frame",): 1, steps[2]: -0.5, ("slack",): -1})
    lo, hi = a.interval(("status", "TRD"))
    assert lo - 1e-6 <= 7 <= hi + 1e-6 and hi - lo >= T - 2, (lo, hi, shown, cc)


def test_no_known_level_is_stated_for_a_small_gate_count():
    """A count of 1..T-1 decides on its label (``gates.share_range``): no message tells more of it
    than the label, so no level is stated for it (stating one would pin the count itself)."""
    from trd_spark.config import GateThreshold
    from trd_spark.gates import known_levels
    from trd_spark.report.tables import gate_outcomes

    record = {"n": 7, "total": 10, "share": 0.7, "level": "warning"}
    assert known_levels("genotyped_without_person", record, GateThreshold(warn=0.01, error=0.9), T) == []
    assert gate_outcomes({**record, "warn": 0.01, "known_levels": []}) == [(1, 0.01)]
    big = {"n": 40, "total": 100, "level": "ok", "warn": 0.5, "known_levels": [0.01, 0.3, 0.5]}
    assert gate_outcomes(big) == [(1, 0.3), (-1, 0.5)]  # 40 >= 30 (an earlier error at 30%), < 50 (no warning)
