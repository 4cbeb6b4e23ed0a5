"""Privacy, session 34: what a shown model's note tells beyond the counts the audit reasons over.

A model fitted on complete cases leaves out the persons of its status groups who lack the PGS or
a covariate (or, Cox, have a negative follow-up time). The audit links each model's N to its
status groups with those persons as a cell of their own (``tables.build_audit``'s ``missing``),
0 or more for an outsider. The note "persons with missing values left out" (or "persons with a
negative <duration> left out") of a shown model told that cell is at least 1, one person narrower
than the audit assumed (session 33's "left as they are"). The export now leaves those notes out
(``tables.exported_note``; the internal models tables keep them), and the Methods say once that
every model is fitted on complete cases.
"""

from __future__ import annotations

import io

import pandas as pd

from trd_spark.config import load_config
from trd_spark.report.stage import build_report
from trd_spark.report.suppression import audit_with_fewer_hidden
from trd_spark.report.tables import ReleaseCounts, build_audit, exported_note
from trd_spark.schemas import COHORT_FLOW, LOGISTIC_RESULTS, PGS_MATCH_SUMMARY

T = 20  # report.small_count_threshold's default
MISSING = "persons with missing values left out"


def _release(definition: str) -> dict[str, pd.DataFrame]:
    """One dataset, one TRD definition: 30 TRD persons, 5 of whom lack PGS900001 (the model's 25
    cases), 500 non-MDD controls all with it; the model of TRD vs non-MDD so has N 525 and 25
    cases, and its note says persons were left out. PGS900002 has everyone (N 530, 30 cases)."""
    counts = pd.DataFrame({"dataset": "discovery", "definition": definition,
                           "status": ["TRD", "trMDD", "MDD_other", "non_MDD"], "n": [30, 200, 100, 500]})
    fits = pd.DataFrame([
        {"dataset": "discovery", "definition": definition, "contrast": "trd_vs_nonmdd", "pgs_id": pgs,
         "trait": pgs, "domain": "d", "n": n, "n_cases": k, "beta": 0.1, "se": 0.2, "odds_ratio": 1.105,
         "ci_low": 0.75, "ci_high": 1.6, "p": 0.6, "p_bonferroni": 1.0, "q_fdr": 0.6, "converged": True,
         "failure_reason": None, "note": note}
        for pgs, n, k, note in (("PGS900001", 525, 25, MISSING), ("PGS900002", 530, 30, ""))],
        columns=LOGISTIC_RESULTS.names)
    return {"logistic": fits, "cohort_counts": counts, "cohort_flow": pd.DataFrame(columns=COHORT_FLOW.names),
            "match_summary": pd.DataFrame(columns=PGS_MATCH_SUMMARY.names)}


def test_a_shown_models_note_tells_no_more_than_the_audit_assumes():
    """The 5 TRD persons lacking PGS900001 are a cell of 1..19 (30 - 25). The audit protects it
    (its interval reaches 0: an outsider may read 0 persons lacking data) and shows PGS900001's
    model (N 525, 25 cases). On 69efbc5 that row's note read "persons with missing values left
    out": 1 or more, where the audit's interval starts at 0. Here the export's note says nothing
    of persons left out, and the Methods say every model is fitted on complete cases."""
    cfg = load_config()
    t = _release(cfg.phenotypes.primary_definition)
    rc = ReleaseCounts(cohort_flow=t["cohort_flow"], cohort_counts=t["cohort_counts"], logistic=t["logistic"],
                       cox=None, pgs_distribution=None, primary_definition=cfg.phenotypes.primary_definition)
    values, published, relations, *_ = build_audit(rc)
    lacking = [k for k in values if k[0] == "missing" and values[k] == 5]
    assert lacking, sorted(values, key=str)
    audit = audit_with_fewer_hidden(values, published, relations, T)
    assert all(audit.intervals[k][0] < 1 for k in lacking), {k: audit.intervals[k] for k in lacking}

    files = build_report(cfg, t, {})
    shown = pd.read_csv(io.StringIO(files["results.tsv"]), sep="\t", dtype=str, keep_default_na=False)
    row = shown[shown["pgs_id"] == "PGS900001"].iloc[0]
    assert (row["n"], row["n_cases"]) == ("525", "25"), row.to_dict()  # the model is shown ...
    assert "left out" not in "".join(shown["note"]), shown["note"].tolist()  # ... and its note says nothing
    assert "each model on the persons of its groups with complete data" in files["report.html"]


def test_the_exported_note_keeps_every_other_note():
    """Only the left-out notes go; a failure, a dropped covariate or a small cell stays, and a
    replication row's failed fit keeps its reason."""
    assert exported_note(MISSING) == ""
    assert exported_note(f"{MISSING}; persons with a negative time_days left out; "
                         "dropped constant covariate(s): sex_female") == "dropped constant covariate(s): sex_female"
    assert exported_note(f"small cell: no event at one value of sex_female; {MISSING}") == \
        "small cell: no event at one value of sex_female"
    assert exported_note(f"replication fit failed: {MISSING}; too few cases (fewer than min_cases=20)") == \
        "replication fit failed: too few cases (fewer than min_cases=20)"
    for kept in ("", "replication fit failed: perfect separation", "proportional-hazards test failed", None):
        assert exported_note(kept) == kept


def test_the_headline_says_the_same_of_every_fit_the_export_hides(tmp_path):
    """The headline table (console and run log) named why a fit's estimates were not shown:
    "<20 cases or controls" (a group of 1..19) or "hidden in the export" (the audit's choice).
    For two fits with 100 cases each whose n the export hides as "suppressed" (at least 20) and
    whose cases it shows, the controls (n - cases, which no table shows: 19 and 50) read 1..19 on
    69efbc5 for the first and 0 or 20 and more for the second. Here both lines read "not shown:
    hidden in the export", as does a fit whose 7 cases the export shows as "<20"; before the
    report has run every line reads "not shown: the report not run"."""
    from pathlib import Path

    from test_cli import publish_headline_export

    from trd_spark.cli import headline_table
    from trd_spark.config import DEFAULT_CONFIG
    from trd_spark.layout import Layout

    cfg = load_config(DEFAULT_CONFIG)
    cfg = cfg.model_copy(update={"output_root": str(tmp_path)})
    layout = Layout.of(cfg)
    discovery = next(d.name for d in cfg.datasets if d.role == "discovery")
    fits = [("PGS000003", 119, 100), ("PGS000006", 150, 100), ("PGS000007", 807, 7), ("PGS000001", 900, 100)]
    rows = [{"dataset": discovery, "definition": cfg.phenotypes.primary_definition, "contrast": "trd_vs_nonmdd",
             "pgs_id": pgs_id, "trait": "t", "domain": "d", "n": n, "n_cases": k, "odds_ratio": 1.25,
             "ci_low": 1.01, "ci_high": 1.55, "p": 0.0123} for pgs_id, n, k in fits]
    path = Path(layout.table("models", "logistic"))
    path.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(path / "part-0.parquet")

    def headline() -> dict[str, str]:
        return {line.split()[0]: line for line in headline_table(None, cfg, None).splitlines()[2:]}

    assert {p: line.split(": ", 1)[-1] for p, line in headline().items()} == {
        p: "the report not run" for p, _, _ in fits}
    shown = {"PGS000003": ("suppressed", 100), "PGS000006": ("suppressed", 100), "PGS000007": (800, "<20")}
    export = [{**r, "n": shown.get(r["pgs_id"], (r["n"],))[0], "n_cases": shown.get(r["pgs_id"], (0, r["n_cases"]))[1],
               **({"odds_ratio": "", "ci_low": "", "ci_high": "", "p": ""} if r["pgs_id"] in shown else {})}
              for r in rows]
    publish_headline_export(layout, export)
    lines = headline()
    assert {p: lines[p].split(": ", 1)[-1] for p in shown} == {p: "hidden in the export" for p in shown}, lines
    assert "1.25" in lines["PGS000001"] and "(1.01-1.55)" in lines["PGS000001"], lines


def test_persons_in_both_releases_give_no_hidden_count_of_scored_persons(tmp_path):
    """compare-releases' pgs_correlation.tsv showed ``n_both``, the persons scored in both
    releases, audited with each release's scored persons (``n_a``, ``n_b``) as known ("the
    export gives them away"): it does not. They are the first step of the genotyped -> analysed
    table, on report.html only, and the toy releases' reports hide it ("suppressed", to protect
    the related persons removed). toy-r1's persons are all in toy-r2, so n_both is toy-r1's
    scored persons: 195 in replication_wgs, less its 0 removed as related and 0 without
    ancestry (both shown) and its analysis frame (187, the MDD vs non-MDD model's N) gave the 8
    persons with PCs outside the frame, a count the report hid. On 69efbc5 195 was shown (the
    toy comparison's _disclosure.json: for export). Here a dataset whose scored persons either
    report hides shows no n_both (a label), and ``scored_persons_shown`` reads which datasets a
    report shows from its internal manifest's record."""
    import json

    from trd_spark.layout import Layout
    from trd_spark.releases import LocalFs
    from trd_spark.report.compare import pair_counts_shown

    counts = pd.DataFrame([("replication_wgs", "PGS900001", 195, 1026, 195, False, False),
                           ("replication_wgs", "PGS900002", 195, 1026, 195, False, False),
                           ("discovery", "PGS900001", 268, 1290, 268, True, True),
                           ("tiny", "PGS900001", 12, 40, 12, True, False)],
                          columns=["dataset", "pgs_id", "n_a", "n_b", "n_both", "shown_a", "shown_b"])
    assert list(pair_counts_shown(counts, T)) == ["suppressed", "suppressed", 268, "<20"]

    from trd_spark.report.compare import scored_persons_shown

    cfg = load_config(None, overrides={"output_root": str(tmp_path), "release": "r1"})
    lay = Layout.of(cfg)
    assert scored_persons_shown(LocalFs(), lay) == set()  # no report: none
    (tmp_path / "r1" / "report").mkdir(parents=True)
    shows = [["report_shows", "dflow", ds, "all", step, text] for ds, step, text in (
        ("discovery", "genotyped persons with PGS", "1290"), ("discovery", "after removing related persons", "1286"),
        ("replication_wgs", "genotyped persons with PGS", "suppressed"),
        ("replication_wgs", "after removing related persons", "1026"))]
    record = {"notes": {"hidden_counts": [["dflow", "discovery", "all", "genotyped persons with PGS", 1290], *shows]}}
    (tmp_path / "r1" / "report" / "_manifest.json").write_text(json.dumps(record))
    assert scored_persons_shown(LocalFs(), lay) == {"discovery"}
