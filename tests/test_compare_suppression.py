"""compare-releases: cohort-size changes are counts too (pure pandas), and its estimates are the exports'."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from trd_spark.report.compare import cohort_size_changes

STEPS = ["all_persons", "with_mdd_diagnosis", "mdd_included", "non_MDD"]


def _flow(ns: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"definition": "all", "step_order": range(1, len(ns) + 1), "step": STEPS, "n": ns})


def _as_exported(flow: pd.DataFrame) -> pd.DataFrame:
    return flow.assign(n=flow["n"].astype(str))


def _small_changes_derivable(out: pd.DataFrame) -> list:
    both = out[out.n_a.str.isdigit() & out.n_b.str.isdigit()]
    diff = (both.n_b.astype(int) - both.n_a.astype(int)).abs()
    return list(both.step[diff.between(1, 19)])


def test_small_changes_are_hidden_and_the_folder_is_not_for_export():
    # The case: changes of 8 and 12 persons between two releases that both show them.
    a, b = _flow([600, 250, 200, 300]), _flow([608, 262, 230, 300])
    out, for_export = cohort_size_changes(a, b, _as_exported(a), _as_exported(b), 20)
    assert _small_changes_derivable(out) == []
    assert out.set_index("step").loc["all_persons", "change"] == "<20"
    assert out.set_index("step").loc["mdd_included", "change"] == "30"
    assert out.set_index("step").loc["non_MDD", "change"] == "0"
    assert for_export is False  # each export shows 600 and 608: together they reveal the 8


def test_large_changes_are_shown_and_the_folder_may_leave():
    # No two changes differ by 1..19 either (230 MDD included would be 10 more excluded
    # between diagnosis and inclusion: test_persons_newly_excluded_between_two_steps_...).
    a, b = _flow([600, 250, 200, 300]), _flow([700, 290, 260, 400])
    out, for_export = cohort_size_changes(a, b, _as_exported(a), _as_exported(b), 20)
    assert list(out.change) == ["100", "40", "60", "100"]
    assert for_export is True


def test_counts_hidden_in_an_export_stay_hidden():
    a, b = _flow([600, 250, 200, 300]), _flow([700, 290, 230, 400])
    shown_b = _as_exported(b).assign(n=["700", "suppressed", "230", "400"])
    out, for_export = cohort_size_changes(a, b, _as_exported(a), shown_b, 20)
    row = out.set_index("step").loc["with_mdd_diagnosis"]
    assert row.n_b == "suppressed" and row.change == ""
    assert _small_changes_derivable(out) == [] and for_export is True


def test_the_comparison_shows_nothing_the_exports_do_not():
    """Privacy round 10, item 2: an outsider holding both exports and the comparison
    (``export_attacker.compare_leaks``) finds no count shown otherwise than its export shows it,
    no change next to a count an export hides, no change of 1..19 and no change that is not the
    difference of the counts shown; planted leaks of each kind are found."""
    from export_attacker import compare_leaks

    a = _flow([600, 250, 200, 300])
    cases = [(_as_exported(a), _as_exported(b)) for b in (_flow([608, 262, 230, 300]), _flow([700, 290, 260, 400]))]
    b = _flow([700, 290, 230, 400])
    cases.append((_as_exported(a), _as_exported(b).assign(n=["700", "suppressed", "230", "400"])))
    for (shown_a, shown_b), flow_b in zip(cases, (_flow([608, 262, 230, 300]), _flow([700, 290, 260, 400]), b)):
        out, _ = cohort_size_changes(a, flow_b, shown_a, shown_b, 20)
        assert compare_leaks(out, shown_a, shown_b) == [], out
    out, _ = cohort_size_changes(a, b, *cases[2], 20)
    i = out.index[out.step == "with_mdd_diagnosis"][0]
    planted = [out.assign(change=out.change.where(out.index != i, "40")),  # 290 - 250 next to B's hidden count
               out.assign(n_b=out.n_b.where(out.index != i, "290")),
               out.assign(change=out.change.where(out.step != "mdd_included", "25"))]  # not 230 - 200
    for leak in planted:
        assert compare_leaks(leak, *cases[2]), leak


def test_compare_estimates_are_the_exported_ones(tmp_path):
    """compare-releases' estimates.tsv read the models' internal tables: the OR and CI of a
    model whose cases the export hides ("<20"; the export leaves its estimates out because
    1/se^2 gives the cases back) went into the compare folder. Now both sides are the exports'
    (``release_estimates``, what ``compare_releases`` writes): that model's row has no
    estimate, a shown one keeps its values. No Spark: the exports are text files."""
    from trd_spark.io import LocalFs
    from trd_spark.layout import Layout
    from trd_spark.report.compare import release_estimates

    cols = ["dataset", "definition", "contrast", "pgs_id", "trait", "n", "n_cases", "odds_ratio", "ci_low", "ci_high", "p"]
    for release, shift in (("r1", 0.0), ("r2", 0.1)):
        base = tmp_path / release
        for d in ("models", "export"):
            (base / d).mkdir(parents=True)
        internal = pd.DataFrame([("d", "A", "trd_vs_nonmdd", "P1", "t", 460, 60, 1.2 + shift, 1.1, 1.4 + shift, 0.01),
                                 ("d", "B", "trd_vs_nonmdd", "P1", "t", 407, 7, 2.5 + shift, 1.3, 4.8, 0.02)], columns=cols)
        internal.to_parquet(base / "models" / "logistic.parquet")  # what compare-releases used to read
        shown = internal.astype(object)
        shown.loc[1, ["n_cases", "odds_ratio", "ci_low", "ci_high", "p"]] = ["<20", None, None, None, None]
        shown.to_csv(base / "export" / "results.tsv", sep="\t", index=False)
    est = release_estimates(LocalFs(), Layout(str(tmp_path), "r1"), Layout(str(tmp_path), "r2")).set_index("definition")
    assert est.loc["A", ["effect_a", "effect_b", "ci_high_b"]].tolist() == pytest.approx([1.2, 1.3, 1.5])
    assert est.loc["A", "ci_overlap"] is True
    assert est.loc["B", ["effect_a", "effect_b", "ci_low_a", "ci_high_a", "ci_low_b", "ci_high_b"]].isna().all()
    assert est.loc["B", "ci_overlap"] is None


def test_persons_newly_excluded_between_two_steps_are_no_small_change():
    """Every step changes by 493 or 500, but 400 -> 900 with an MDD diagnosis and 300 -> 793 MDD
    included tell 7 more persons excluded between them (cohort_sizes.tsv showed all eight
    counts): the difference of two shown changes is a count too (a signed audit cell)."""
    a, b = _flow([1000, 400, 300, 500]), _flow([1500, 900, 793, 1000])
    out, for_export = cohort_size_changes(a, b, _as_exported(a), _as_exported(b), 20)
    both = out[out.n_a.str.isdigit() & out.n_b.str.isdigit()]
    change = dict(zip(both.step, both.n_b.astype(int) - both.n_a.astype(int)))
    assert not [(x, y) for x in change for y in change if 0 < abs(change[x] - change[y]) < 20], out
    assert for_export is False  # the two exports show all eight counts: together they tell the 7


def test_summary_shows_counts_with_separators():
    """compare-releases' printed summary writes counts as the logs do (``logs.count_text``):
    "3,000 -> 3,600  600", not "3000 -> 3600 600" (new-user trial, session 15); labels stay."""
    from trd_spark.report.compare import summary_text
    from trd_spark.vocabulary import ALL_DEFINITIONS

    a, b = _flow([3000, 1250, 200, 1750]), _flow([3600, 1262, 230, 1750])
    sizes, _ = cohort_size_changes(a, b, _as_exported(a), _as_exported(b), 20)
    sizes["definition"] = ALL_DEFINITIONS
    tables = {"cohort_sizes": sizes, "estimates": pd.DataFrame(),
              "pgs_correlation": pd.DataFrame({"dataset": ["ds1"], "pgs_id": ["PGS1"], "correlation": [0.5]})}
    text = summary_text(tables, "r1", "r2", "/out")
    assert re.search(r"all_persons +3,000 -> +3,600  600$", text, re.M), text
    assert re.search(r"with_mdd_diagnosis +1,250 -> +suppressed  <20$", text, re.M), text  # labels as they are
    assert re.search(r"non_MDD +1,750 -> +1,750  0$", text, re.M), text


def test_a_change_next_to_a_count_an_export_hides_is_not_labelled():
    """cohort_sizes.tsv labelled a change '<20' when one side was hidden (here by A's export:
    166 with an MDD diagnosis, 'suppressed' between 1000 and 160 shown), but the audit never
    saw that label: 170 in B and a change of 1..19 put A's count in 151..169, so the 6 persons
    excluded between A's two steps (166 - 160), which A's export leaves anywhere in 0..840,
    read as 0..9 (the outsider knowing the change's sign, their best case). A change next to a
    count an export hides is blank: the table shows nothing the two exports do not."""
    from export_attacker import Attacker

    a, b = _flow([1000, 166, 160, 400]), _flow([1100, 170, 150, 400])
    shown_a = _as_exported(a).assign(n=["1000", "suppressed", "160", "400"])
    out, _ = cohort_size_changes(a, b, shown_a, _as_exported(b), 20)
    row = out.set_index("step").loc["with_mdd_diagnosis"]
    assert (row.n_a, row.n_b, row.change) == ("suppressed", "170", "")

    att = Attacker(20)  # A's chain as its export and this table show it, B's counts as shown
    for r in out.itertuples():
        att.cell(("a", r.step), r.n_a)
    for x, y in zip(STEPS[:2], STEPS[1:3]):
        att.know({("a", x): 1, ("a", y): -1, ("excluded", x, y): -1})  # persons only leave
    if row.change:
        att.cell("change", row.change)
        att.know({("a", "with_mdd_diagnosis"): 1, "change": 1}, rhs=170.0)
    lo, hi = att.interval(("excluded", "with_mdd_diagnosis", "mdd_included"))
    assert hi - lo >= 18, (lo, hi)


def test_persons_in_both_releases_lacking_one_score_are_not_given_by_two_n_both():
    """pgs_correlation.tsv's n_both per dataset and score: 500 persons in both releases with P1
    and 493 with P2 are 7 lacking P2 (each release's export shows 520 / 513 scored, so the
    one-release counts are 20: nothing small there). Both n_both were shown, audited each
    alone. Now the largest n_both of a dataset is a group and the others' shortfall a cell."""
    from trd_spark.report.compare import pair_counts_shown

    counts = pd.DataFrame([("d", "P1", 520, 520, 500), ("d", "P2", 513, 513, 493), ("d", "P3", 520, 520, 500)],
                          columns=["dataset", "pgs_id", "n_a", "n_b", "n_both"])
    shown = dict(zip(counts["pgs_id"], pair_counts_shown(counts, 20)))
    numbers = [v for v in shown.values() if isinstance(v, int)]
    assert not [(x, y) for x in numbers for y in numbers if 0 < abs(x - y) < 20], shown
    assert shown["P1"] == shown["P3"] == 500  # the largest, shown where nothing small depends on it


def test_releases_exported_under_different_thresholds_are_compared_under_the_stricter():
    """Privacy round 11, item 1: toy-r1 exported with ``small_count_threshold: 25`` and toy-r2
    with 20, compared under 20. The comparison showed a change of 22 persons (1000 -> 1022),
    a count of 1..24 under toy-r1's rule, and read toy-r1's labels as 20's (its ``suppressed``
    as >= 20, its ``<25`` as 1..19), so its audit met bounds that the exports do not give.
    Now it works under the stricter threshold (``comparison_threshold``) and reads each export's
    labels by the threshold its ``_manifest.json`` names."""
    from export_attacker import compare_leaks

    from trd_spark.report.compare import comparison_threshold

    assert comparison_threshold(20, 25, 20) == 25
    a, b = _flow([1000, 300, 230, 400]), _flow([1022, 322, 230, 400])
    out, for_export = cohort_size_changes(a, b, _as_exported(a), _as_exported(b), comparison_threshold(20, 25, 20),
                                          export_thresholds=(25, 20))
    assert compare_leaks(out, _as_exported(a), _as_exported(b), threshold=25) == [], out
    assert out.set_index("step").loc["all_persons", "change"] == "<25", out
    assert for_export is False  # the exports show 1000 and 1022: together they tell the 22

    # toy-r1's "<25" (22 persons) stays "<25", never "<20"; toy-r2's "<20" stays "<20".
    a, b = _flow([1000, 22, 10, 400]), _flow([1100, 60, 7, 400])
    shown_a = _as_exported(a).assign(n=["1000", "<25", "<25", "400"])
    shown_b = _as_exported(b).assign(n=["1100", "60", "<20", "400"])
    out, _ = cohort_size_changes(a, b, shown_a, shown_b, 25, export_thresholds=(25, 20))
    rows = out.set_index("step")
    assert (rows.loc["with_mdd_diagnosis", "n_a"], rows.loc["mdd_included", "n_a"]) == ("<25", "<25"), out
    assert rows.loc["mdd_included", "n_b"] == "<20", out
    assert compare_leaks(out, shown_a, shown_b, threshold=25) == [], out


def test_an_exports_labels_are_read_by_its_own_threshold():
    """A ``<20`` of an export made under 20 is 1..19 to whoever holds it, not the 1..24 a ``<25``
    of the comparison's threshold would be: A's 30 persons with an MDD diagnosis and its ``<20``
    (7) included leave 11..29 excluded between the two steps, 18 wide, narrower than the 23 a
    count of 1..24 must keep under the comparison's 25. Read as ``<25`` the audit saw 6..29 and
    passed the folder for export. The outsider holding both exports and the comparison
    (``export_attacker.Attacker``) must not narrow that group below 23 unless the folder is
    marked not for export."""
    from export_attacker import Attacker

    a, b = _flow([1000, 30, 7, 400]), _flow([1000, 30, 7, 400])
    shown_a = _as_exported(a).assign(n=["1000", "30", "<20", "400"])
    shown_b = _as_exported(b).assign(n=["1000", "30", "<25", "400"])
    out, for_export = cohort_size_changes(a, b, shown_a, shown_b, 25, export_thresholds=(20, 25))
    att = Attacker(25)
    for side, shown in (("a", shown_a), ("b", shown_b)):
        for st, text in zip(shown["step"], shown["n"]):
            att.cell((side, st), text)
        for x, y in zip(STEPS[:2], STEPS[1:3]):
            att.know({(side, x): 1, (side, y): -1, (side, "excluded", x, y): -1})
    lo, hi = att.interval(("a", "excluded", "with_mdd_diagnosis", "mdd_included"))
    assert (lo, hi) == (11.0, 29.0)
    assert for_export is False or hi - lo >= 23, (lo, hi, out)
    assert out.set_index("step").loc["mdd_included", "n_a"] == "<20"  # as A's export shows it
