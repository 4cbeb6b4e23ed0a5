"""Run-log lines read with the export: a log line pasted into a ticket must not give back a
count the export hides (AoU dissemination policy: no count 1-19 recoverable by arithmetic
from what is published, the run logs included)."""

from __future__ import annotations

import re

import pytest
from export_attacker import Attacker
from test_report_suppression import STATUSES, definitions_release

from trd_spark.phenotypes.stage import status_log_text
from trd_spark.report.tables import suppress_release

T = 20


def test_a_definition_status_line_gives_no_count_the_export_hides():
    """Definitions A (TRD 60) and B (TRD 7) of one dataset: the export hides B's 7 and, since the
    MDD total (TRD + trMDD + MDD_other) is the same under both, one more count of that total
    (the audit picks A's trMDD 300). The phenotype stage logged each definition whose statuses
    are all 0 or >= 20 in full ("A: TRD 60, trMDD 300, MDD_other 100, non_MDD 759 persons"),
    so the log line and the export together gave B's TRD: 60 + 300 + 100 - 353 - 100 = 7 (fails on
    5ed5b80's line, ``phenotypes.stage.status_log_text`` then returning it). The line now gives no
    count (the report's export has them, audited)."""
    rc = definitions_release({"A": 60, "B": 7})
    cc = suppress_release(rc, T)["cohort_counts"]
    assert rc.cohort_counts is not None
    logged = {}
    for definition in ("A", "B"):
        line = status_log_text(definition, T)
        assert line.startswith(f"{definition}: ")
        logged.update({(definition, s): int(n.replace(",", "")) for s, n in
                       re.findall(r"(\w+) (\d[\d,]*)", line.split(": ", 1)[1])})
    a = Attacker(T)
    for d, s, n in zip(cc["definition"], cc["status"], cc["n"]):
        a.cell(("status", d, s), logged.get((d, s), n))  # a number in the log beats a label
    for s in ("MDD_other", "non_MDD"):
        a.know({("status", "A", s): 1, ("status", "B", s): -1})
    a.know({**{("status", "A", s): 1 for s in STATUSES[:3]}, **{("status", "B", s): -1 for s in STATUSES[:3]}})
    trd = ("status", "B", "TRD")
    assert not a.determined(trd), (cc, logged)
    lo, hi = a.interval(trd)
    assert hi - lo >= T - 3, (lo, hi, logged)


def test_the_cohort_log_gives_no_analysed_count_the_export_hides():
    """The cohort stage's run-log account of its steps (7eaa3df) gave each definition's analysed
    persons (the analysis frame, the sum of its statuses). report.html shows that count only
    when every status is shown, since with the others shown it gives a hidden one back:
    definition B's frame 1219 in the log, less B's trMDD 353, MDD_other 100 and non-MDD 759 in
    the export, gave B's 7 TRD persons. aa20629 left the counts out when a status was 1..T-1;
    now the log gives no count per definition at all and labels the steps before the split (0,
    <T, T+: ``logs.person_count_text``)."""
    from test_report_reexport import with_dataset_flow

    from trd_spark.cohort.flow import dataset_flow_log_lines

    rc = with_dataset_flow(definitions_release({"A": 60, "B": 7}), [3000, 2950, 2900])
    assert rc.dataset_flow is not None
    cc = suppress_release(rc, T)["cohort_counts"]
    lines = dataset_flow_log_lines(list(rc.dataset_flow.itertuples(index=False, name=None)), persons_below=T)
    analysed = {}
    assert all(n in ("0", f"<{T}", f"{T}+") for line in lines for n in re.findall(r"<?\d[\d,]*\+?", line)), lines
    for line in lines:
        if m := re.match(r"d, (\w+): .* analysed ([\d,]+)$", line):
            analysed[m.group(1)] = int(m.group(2).replace(",", ""))
    a = Attacker(T)
    for d, s, n in zip(cc["definition"], cc["status"], cc["n"]):
        a.cell(("status", d, s), n)
    for d, n in analysed.items():  # the frame: every analysed status of the definition
        a.know({**{("status", d, s): 1 for s in STATUSES}}, n)
    trd = ("status", "B", "TRD")
    assert not a.determined(trd), (cc, lines)
    lo, hi = a.interval(trd)
    assert hi - lo >= T - 3, (lo, hi, lines)


def dataset_flow_outsider(shown) -> tuple[Attacker, list[tuple]]:
    """An outsider holding report.html's genotyped -> analysed table (``shown``: the audited
    dataset_flow) and the steps before the split by definition as its cells."""
    a = Attacker(T)
    steps = [("step", i) for i in range(3)]
    rows = shown[shown["definition"] == "all"]
    for i, (n, removed) in enumerate(zip(rows["n"], rows["removed"])):
        a.cell(steps[i], n)
        if i:
            a.cell(("removed", i), removed)
            a.know({steps[i - 1]: 1, steps[i]: -1, ("removed", i): -1})
    return a, steps


def frame_outsider(safe) -> tuple[Attacker, list[tuple]]:
    """``dataset_flow_outsider`` on an audited release (``safe``: suppress_release's tables) plus
    the cohort's status counts as cells and the frame's relation: its statuses and the persons
    not in it (``("not_in_frame",)``) make the persons with ancestry and PCs (``steps[2]``)."""
    a, steps = dataset_flow_outsider(safe["dataset_flow"])
    cc = safe["cohort_counts"]
    statuses = [("status", s) for s in cc["status"]]
    for s, n in zip(statuses, cc["n"]):
        a.cell(s, n)
    a.know({steps[2]: 1, **{s: -1 for s in statuses}, ("not_in_frame",): -1})
    return a, steps


def test_a_gate_line_gives_no_count_the_export_hides(caplog):
    """Session 18's reproduction: a dataset of 3000 persons with a PGS, 2988 unrelated and 2983
    with ancestry and PCs (12 and 5 removed). The export shows 2988 and hides both others (the 5
    next to a shown 2988), but the cohort stage's gate on genotyped persons absent from OMOP
    logged "35 of 2,983 unrelated genotyped persons ... (1.2%)", a WARNING line a user pastes
    into a ticket: with the export's 2988 it gave the 5 persons without ancestry or PCs. Person
    counts of T or more reach no log line exactly (``logs.person_count_text``), nor a share of
    them: the line shows no count the export hides (fails on bc5b24d: removed determined)."""
    import logging

    from test_report_reexport import with_dataset_flow

    from trd_spark.cohort.stage import genotyped_without_person_gate
    from trd_spark.config import GateThreshold

    rc = with_dataset_flow(definitions_release({"A": 60}), [3000, 2988, 2983])
    shown = suppress_release(rc, T)["dataset_flow"]
    with caplog.at_level(logging.WARNING, logger="trd_spark"):
        genotyped_without_person_gate(35, 2983, "d", GateThreshold(warn=0.01, error=0.5), persons_below=T)
    line = next(r.getMessage() for r in caplog.records if "genotyped_without_person" in r.getMessage())
    m = re.search(r"gate genotyped_without_person: (\S+) of (\S+) unrelated .*? OMOP person(?: \(([\d.]+)%\))?;", line)
    assert m, line
    a, steps = dataset_flow_outsider(shown)
    n_text, total_text, share = m.groups()
    if total_text.replace(",", "").isdigit():  # the gate's total: the persons with ancestry and PCs
        a.know({steps[2]: 1}, int(total_text.replace(",", "")))
    if share is not None and n_text.replace(",", "").isdigit():  # n / total shown to 0.1%
        n = int(n_text.replace(",", ""))
        a.know({steps[2]: 1, ("total_low",): -1}, 100 * n / (float(share) + 0.05))
        a.know({steps[2]: 1, ("total_high",): 1}, 100 * n / (float(share) - 0.05))
    for removed in (("removed", 1), ("removed", 2)):
        assert not a.determined(removed), (line, shown)
        lo, hi = a.interval(removed)
        assert hi - lo >= T - 3, (removed, lo, hi, line)


def test_the_fit_failures_in_the_log_bound_no_small_count(caplog):
    """The models stage logged its failed fits by reason: "logistic failures: 10 x too_few_cases"
    with the export's "<20" cases of definition B's 10 fits (one per PGS) put B's TRD persons
    below models.min_cases (5): 1..4, where the export's label leaves 1..19. Failures for too few
    cases, controls or events, and fits with a group of 1..T-1, are not counted in the log (fails
    on bc5b24d, whose _log_fits named every failure reason with its count)."""
    import logging

    import pandas as pd

    from trd_spark.models.stage import _log_fits

    fits = pd.DataFrame(
        [("A", f"P{i}", 819, 60, i != 0, "" if i else "perfect_separation") for i in range(10)]
        + [("B", f"P{i}", 762, 3, False, "too_few_cases") for i in range(10)],
        columns=["definition", "pgs_id", "n", "n_cases", "converged", "failure_reason"])
    with caplog.at_level(logging.INFO, logger="trd_spark"):
        _log_fits("logistic", fits, "n_cases", T)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "too_few" not in text and "10 x" not in text, text
    assert "logistic: 20 fits, 1 failed" in text and "1 x perfect_separation" in text, text
    # What is not counted is failures, not fits (new-user trial, session 24: "20 fits, 1 failed
    # (not counted: fits with a group of 1 to 19 persons, ...)" read as 20 fits less those).
    assert "(failures for too few cases, controls or events, and of fits with a group of 1 to 19 persons, are not " \
           "counted here; every fit is a row of the models tables)" in text, text


def test_ancestry_file_errors_count_persons_as_every_log_line(spark):
    """The ancestry file's rows are persons: its errors (a research_id twice, too few PCs) gave
    their exact number ("1 duplicated research_id row(s)"); with the stage's threshold they read
    as every person count in a log or error does (fails on bc5b24d: no threshold, "1", "21")."""
    from trd_spark.cohort.stage import check_ancestry
    from trd_spark.errors import InputDataError

    def ancestry(ids: list[int], pcs: str):
        return spark.createDataFrame([(str(i), "EUR", pcs) for i in ids], ["research_id", "ancestry_pred", "pca_features"])

    with pytest.raises(InputDataError, match=r"^ancestry.path a.tsv: <20 duplicated research_id row\(s\)"):
        check_ancestry(ancestry([1, 2, 2], "[0.1, 0.2]"), 2, "a.tsv", persons_below=T)
    with pytest.raises(InputDataError, match=r"^ancestry.path a.tsv: 20\+ row\(s\) have fewer than covariates.n_pcs = 4"):
        check_ancestry(ancestry(list(range(21)), "[0.1, 0.2]"), 4, "a.tsv", persons_below=T)


@pytest.mark.parametrize("total", [10, 100, 1000, 1900, 2000, 3000])
def test_a_person_gate_tells_nothing_more_of_a_small_count_than_its_label(caplog, total):
    """A person gate decided on the exact share: with the export's total of 1,900 persons and
    a 1% warning level, a WARNING put its '<20' persons at 19 or more, exactly 19, and no
    warning at 1..18 (an error at 50% of 30 persons: 15..19). Now its level, message and
    whether it raised are the same for every count of 1..T-1 (fails on fd84436: warning at 19,
    ok at 18 of 1,900)."""
    import logging

    from trd_spark.config import GateThreshold
    from trd_spark.errors import InputDataError
    from trd_spark.gates import check_gate

    outcomes = set()
    for level in (GateThreshold(warn=0.01, error=0.5), GateThreshold(warn=0.1, error=0.2), GateThreshold(warn=0.001)):
        for n in range(1, min(T, total + 1)):
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="trd_spark"):
                try:
                    outcome = check_gate("g", n, total, level, what="persons", cause="c", where="cohort",
                                         persons_below=T)["level"]
                except InputDataError as e:
                    outcome = f"error: {e}"
            outcomes.add((str(level), outcome, caplog.text.split(":", 3)[-1] if caplog.text else ""))
        assert len({o for o in outcomes if o[0] == str(level)}) == 1, (total, level, outcomes)
    # Exact counts of T or more still decide exactly (the internal record keeps every count).
    with pytest.raises(InputDataError, match=r"gate g: 20\+ of 20\+ persons; .*phenotypes\.gates\.g\.error"):
        check_gate("g", 30, 40, GateThreshold(error=0.5), what="persons", cause="c", where="s", persons_below=T)
    assert check_gate("g", 30, 4000, GateThreshold(warn=0.01), what="persons", cause="c", where="s",
                      persons_below=T)["level"] == "ok"


def test_the_observation_period_line_gives_no_person_count_the_export_hides():
    """The AoU CDR has one observation period per participant, so the phenotype stage's
    'observation_periods: n_periods 2,993' (a record count) with the export's cohort flow (all
    persons 3,000, no observation period '<20') gave the 7 persons without a period. The line
    now labels the observation periods' counts as persons (fails with fd84436's rule, which
    labelled only the persons part and n_persons_* counts)."""
    from trd_spark.phenotypes.stage import quirk_log_text

    line = quirk_log_text("observation_periods", {"n_periods": 2993, "n_overlapping_periods": 0,
                                                  "n_persons_with_overlap": 0, "n_open_periods": 12}, T)
    a = Attacker(T)
    a.cell(("all_persons",), 3000)
    a.cell(("no_observation_period",), f"<{T}")
    if m := re.search(r"n_periods (\d[\d,]*)(?![\d+])", line):  # one period per person
        a.know({("all_persons",): 1, ("no_observation_period",): -1}, int(m.group(1).replace(",", "")))
    assert not a.determined(("no_observation_period",)), line
    assert line == "observation_periods: n_periods 20+, n_overlapping_periods 0, n_persons_with_overlap 0, " \
                   "n_open_periods <20"
    records = quirk_log_text("antidepressant_exposures", {"n_records": 8052, "n_duplicates_removed": 232}, T)
    assert records == "antidepressant_exposures: n_records 8,052, n_duplicates_removed 232"


def test_a_gate_at_twenty_or_more_persons_bounds_no_small_group_with_the_export(caplog):
    """Privacy round 11, item 2: a person gate whose count is 20 or more decides on the exact
    share, so whether it warned tells count < level x total (or >=). 400 persons, 36 without an
    observation period, 30 excluded only for records outside their follow-up: the two steps
    differ by 6, so the audit hides the 36 (``suppressed``: 30..400 for the outsider, the 6 then
    anywhere in 0..370). The no_observation_period gate (warning at 10%) did not fire: the 36 is
    under 40, so 30..40, and the 6 between the steps 0..10 (fails on 8641b16: the audit did not
    know the gate). The report's audit now
    states each person gate's outcome as an inequality (``ReleaseCounts.gates``)."""
    import pandas as pd

    from trd_spark.config import GateThreshold
    from trd_spark.gates import check_gate
    from trd_spark.report.tables import ReleaseCounts

    steps = [("all_persons", 400), ("no_observation_period", 36), ("excluded_outside_followup_only", 30)]
    gate = check_gate("no_observation_period", 36, 400, GateThreshold(warn=0.1, error=None), what="persons",
                      cause="-", where="phenotypes", persons_below=T)
    fired = any("gate no_observation_period" in r.getMessage() for r in caplog.records)
    assert gate["level"] == ("warning" if fired else "ok") == "ok"
    rc = ReleaseCounts(
        cohort_flow=pd.DataFrame({"definition": "all", "step_order": [1, 2, 3], "step": [s for s, _ in steps],
                                  "n": [n for _, n in steps]}),
        cohort_counts=None, logistic=pd.DataFrame(columns=["dataset", "definition", "contrast", "pgs_id", "n", "n_cases"]),
        cox=None, pgs_distribution=None, primary_definition="A",
        gates={"no_observation_period": {**gate, "warn": 0.1}})
    flow = suppress_release(rc, T)["cohort_flow"]
    a = Attacker(T)
    shown = dict(zip(flow["step"], flow["n"].astype(str)))
    for s, _ in steps:
        a.cell(s, shown[s])
    a.know({"no_observation_period": 1, "excluded_outside_followup_only": -1, "between": -1})  # 36 - 30
    # The run log: the gate did not warn, so (the count being 20 or more) 36 < 10% of 400.
    a.know({"no_observation_period": 1, "all_persons": -0.1, "slack": 1})
    lo, hi = a.interval("between")
    assert hi - lo >= T - 2, (lo, hi, shown)


def test_a_genotyped_without_person_warning_bounds_no_small_group_with_the_export(caplog):
    """Privacy round 12, item 1: the genotyped_without_person gate counts persons of the step
    'not in the analysis frame' (report.html's genotyped -> analysed table: the persons with
    ancestry and PCs less the frame, never shown). With 20 or more of them it decides on the
    exact share, so its WARNING tells that step >= level x total. 1,239 persons with ancestry
    and PCs, definition A's frame 7 TRD (hidden) + 353 + 100 + 759, 20 absent from OMOP person
    and a 1.6% gate that warned: the step (27 less the TRD persons) is at least 19.8, so the 7
    lie in 1..7 (fails without the audit's relation,
    ``tables.dataset_gate_relations``: interval 1..7).
    The audit now states it for every definition's frame of the dataset. The sex_other gate bounds
    no cell: its persons need not be genotyped, so neither outcome bounds a step."""
    import logging
    from dataclasses import replace

    from test_report_reexport import with_dataset_flow

    from trd_spark.cohort.stage import genotyped_without_person_gate
    from trd_spark.config import GateThreshold

    rc = with_dataset_flow(definitions_release({"A": 7}), [1300, 1280, 1239])
    with caplog.at_level(logging.WARNING, logger="trd_spark"):
        gate = genotyped_without_person_gate(20, 1239, "d", GateThreshold(warn=0.016, error=0.5), persons_below=T)
    fired = any("gate genotyped_without_person" in r.getMessage() for r in caplog.records)
    assert gate["level"] == ("warning" if fired else "ok") == "warning"
    # No model: its n (TRD + non-MDD) would fix the frame whatever the gate says.
    rc = replace(rc, logistic=rc.logistic.iloc[:0], dataset_gates={"d": {**gate, "warn": 0.016}})
    safe = suppress_release(rc, T)
    shown, cc = safe["dataset_flow"], safe["cohort_counts"]
    a, steps = frame_outsider(safe)
    # The run log: the gate warned with 20 or more persons, so the step is >= 1.6% of its total.
    a.know({("not_in_frame",): 1, steps[2]: -0.016, ("slack",): -1})
    lo, hi = a.interval(("status", "TRD"))
    assert hi - lo >= T - 2, (lo, hi, shown, cc)


def test_the_headline_tells_no_failure_of_a_fit_the_export_hides(tmp_path):
    """The headline table (console and run log) printed "NA" for every failed fit before it
    looked at the export (fails on 8a12b1b). The export blanks a fit whose count it hides,
    failure reason included: with models.min_cases 35 (above T, as ``_log_fits`` allows), TRD 40
    persons, 40 cases with PGS P1 and 33 with P2 (7 lack P2), the audit shows P1's 40 and hides
    P2's 33 ("suppressed", at least 20), leaving the 7 anywhere in 0..20; P2's "NA" (too few
    cases) put its cases under 35, and the 7 in 6..20, narrower than "<20" itself. The line now
    reads "not shown: hidden in the export", as for a fit that converged."""
    import json
    from pathlib import Path

    import pandas as pd

    from trd_spark.cli import headline_table
    from trd_spark.config import DEFAULT_CONFIG, load_config
    from trd_spark.layout import Layout
    from trd_spark.report.tables import ReleaseCounts

    min_cases = 35
    cfg = load_config(DEFAULT_CONFIG)
    cfg = cfg.model_copy(update={"output_root": str(tmp_path),
                                 "models": cfg.models.model_copy(update={"min_cases": min_cases})})
    layout, definition = Layout.of(cfg), cfg.phenotypes.primary_definition
    discovery = next(d.name for d in cfg.datasets if d.role == "discovery")
    key = (discovery, definition, "trd_vs_nonmdd")
    fits = pd.DataFrame([(*key, "P1", 40 + 759, 40, 1.3, 1.1, 1.6, 0.01, True, ""),
                         (*key, "P2", 33 + 759, 33, float("nan"), float("nan"), float("nan"), float("nan"), False,
                          "too_few_cases")],  # 33 < min_cases: the fit failed
                        columns=["dataset", "definition", "contrast", "pgs_id", "n", "n_cases", "odds_ratio",
                                 "ci_low", "ci_high", "p", "converged", "failure_reason"])
    fits["trait"], fits["domain"] = "t", "d"
    counts = [(discovery, definition, s, n) for s, n in zip(STATUSES, (40, 320, 100, 759))]
    rc = ReleaseCounts(
        cohort_flow=pd.DataFrame({"definition": ["all"], "step_order": [1], "step": ["all_persons"], "n": [3000]}),
        cohort_counts=pd.DataFrame(counts, columns=["dataset", "definition", "status", "n"]),
        logistic=fits, cox=None, pgs_distribution=None, primary_definition=definition)
    results = suppress_release(rc, T)["logistic"].set_index("pgs_id")
    assert [results.loc["P1", "n_cases"], results.loc["P2", "n_cases"]] == [40, "suppressed"]

    path = Path(layout.table("models", "logistic"))
    path.mkdir(parents=True)
    fits.to_parquet(path / "part-0.parquet")
    Path(layout.stage_dir("models"), "_manifest.json").write_text(json.dumps({"run_id": "m1"}))
    Path(layout.stage_dir("report")).mkdir(parents=True)
    Path(layout.stage_dir("report"), "_manifest.json").write_text(
        json.dumps({"run_id": "r1", "fingerprint_parts": {"upstream": {"models": "m1"}}}))
    Path(layout.stage_dir("export")).mkdir(parents=True)
    results.reset_index().to_csv(layout.file("export", "results.tsv"), sep="\t", index=False)
    Path(layout.stage_dir("export"), "_SUCCESS").write_text("")
    lines = {line.split()[0]: line for line in headline_table(None, cfg, None).splitlines()[2:]}

    def lacking_p2(headline: str) -> tuple[float, float]:
        a = Attacker(T)
        a.cell(("cases", "P1"), str(results.loc["P1", "n_cases"]))
        a.cell(("cases", "P2"), str(results.loc["P2", "n_cases"]))
        a.know({("cases", "P1"): 1, ("cases", "P2"): -1, ("lacking", "P2"): -1})  # the TRD persons with P1, not P2
        if headline.split()[-1] == "NA":  # the fit failed: fewer than min_cases cases (the config says how many)
            a.know({("cases", "P2"): 1, ("below_min_cases", "P2"): 1}, min_cases - 1)
        return a.interval(("lacking", "P2"))

    assert "1.30" in lines["P1"]
    assert lines["P2"].endswith("not shown: hidden in the export"), lines["P2"]
    lo, hi = lacking_p2(lines["P2"])
    assert hi - lo >= T - 2, (lo, hi)
    # The outsider of the old line ("NA"): the 7 in 6..20.
    assert lacking_p2("P2 t d NA") == (6.0, 20.0)
    # The export showing P2's n but not its cases (a secondary "suppressed"), or its cases but not
    # its n: still not shown, as either hidden count hides whether the fit failed (mutation
    # check of cab5486).
    for shown_n, shown_cases in ((33 + 759, "suppressed"), ("suppressed", 33)):
        partly = results.reset_index()
        partly.loc[partly["pgs_id"] == "P2", ["n", "n_cases"]] = [shown_n, shown_cases]
        partly.to_csv(layout.file("export", "results.tsv"), sep="\t", index=False)
        lines = {line.split()[0]: line for line in headline_table(None, cfg, None).splitlines()[2:]}
        assert lines["P2"].endswith("not shown: hidden in the export"), (shown_n, shown_cases, lines["P2"])
    # A failed fit whose counts the export shows is shown as failed (the export shows its reason).
    fits.loc[1, "n_cases"], fits.loc[1, "n"] = 0, 759
    fits.to_parquet(path / "part-0.parquet")
    shown = results.reset_index()
    shown.loc[shown["pgs_id"] == "P2", ["n", "n_cases", "note"]] = [759, 0, ""]
    shown.to_csv(layout.file("export", "results.tsv"), sep="\t", index=False)
    lines = {line.split()[0]: line for line in headline_table(None, cfg, None).splitlines()[2:]}
    assert lines["P2"].split()[-1] == "NA", lines["P2"]


@pytest.mark.parametrize("kind", ["unknown", "disagreeing"])
def test_a_sex_on_x_warning_tells_nothing_more_of_a_small_count_than_its_label(caplog, kind):
    """The pgs stage's sex-on-X check (``sample_sex.SexCounts.check``, 5ef4936) logs its counts as
    labels, then warned when the exact share of samples of unknown sex (or disagreeing with their
    X calls) exceeded pgs.sex_warn_share (5%): of 306 scored samples (the export's genotyped
    persons with a PGS) a WARNING meant 16..19 where the INFO line said <20, and none 1..15
    (fails on 5ef4936). Now the share is over the label's largest count (``gates.share_range``),
    so every count of 1..19 reads the same: the same INFO line, and a WARNING for each or for
    none."""
    import logging

    from trd_spark.pgs.sample_sex import SexCounts

    def logged(n: int) -> tuple[str, ...]:
        counts = SexCounts("file", male=150, female=156 - (n if kind == "unknown" else 0),
                           unknown=n if kind == "unknown" else 0, not_in_file=n if kind == "unknown" else 0,
                           disagreeing=n if kind == "disagreeing" else 0)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="trd_spark"):
            counts.check("d", 0.05, T)
        return tuple(f"{r.levelname}: {r.getMessage()}" for r in caplog.records)

    seen = {n: logged(n) for n in range(0, 40)}
    assert all(seen[n][0] == seen[1][0] for n in range(1, T)), seen[1]  # the INFO line: labels only
    # What an outsider reads from a count of 16 (and of 3): every count of the label, 1..19.
    for n in (16, 3):
        alike = [m for m in range(0, 40) if seen[m] == seen[n]]
        assert alike == list(range(1, T)), (n, alike, seen[n])
    assert any("WARNING" in line and "which a count read as its label can reach" in line for line in seen[16])
    assert not any("WARNING" in line for line in seen[0])
    # 20 or more is shown as 20+, its share exact: 20 of 306 (6.5%) warns, as before.
    assert any("WARNING" in line and "pgs.sex_warn_share" in line for line in seen[20])


def test_gate_and_sex_warnings_say_a_label_reaches_the_level_in_one_wording(caplog):
    """A WARNING decided on the largest share its labels leave (``gates.share_range``) says that
    a count read as its labels can reach the level, not that the count does: the phenotype
    gates (``gates.check_gate``, "these labels": the count and its total) and the pgs sex-on-X
    check (``sample_sex.SexCounts.check``, "its label") took those words from one function,
    ``gates.label_reach`` (93c1e64: sample_sex kept a copy in the singular, free to drift); an
    exact share adds nothing."""
    import logging

    from trd_spark.config import GateThreshold
    from trd_spark.gates import check_gate, label_reach, share_range
    from trd_spark.pgs.sample_sex import SexCounts

    assert label_reach((0.05, 0.05), labels=1) == label_reach((0.05, 0.05), labels=2) == ""
    assert label_reach((0.003, 0.06), labels=1) == ", which a count read as its label can reach"
    assert label_reach((0.003, 0.06), labels=2) == ", which a count read as these labels can reach"
    with caplog.at_level(logging.WARNING, logger="trd_spark"):
        check_gate("sex_other", 5, 3000, GateThreshold(warn=0.001), what="persons with sex 'other'", cause="c",
                   where="phenotypes", persons_below=T)
        SexCounts("file", male=150, female=150, unknown=6, not_in_file=6).check("d", 0.05, T)
        check_gate("sex_other", 50, 3000, GateThreshold(warn=0.001), what="persons with sex 'other'", cause="c",
                   where="phenotypes", persons_below=T)
    gate, sex, exact = (r.getMessage() for r in caplog.records)
    assert gate.endswith(f"(warning at >= 0.1%{label_reach(share_range(5, 3000, T), labels=2)})"), gate
    assert f"not in the sex file){label_reach(share_range(6, 306, T), labels=1)};" in sex, sex
    assert "can reach" not in exact and exact.endswith("(warning at >= 0.1%)"), exact
