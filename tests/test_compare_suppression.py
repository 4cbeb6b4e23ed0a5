"""compare-releases: cohort-size changes are counts too (pure pandas, no Spark)."""

from __future__ import annotations

import pandas as pd

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
    a, b = _flow([600, 250, 200, 300]), _flow([700, 290, 230, 400])
    out, for_export = cohort_size_changes(a, b, _as_exported(a), _as_exported(b), 20)
    assert list(out.change) == ["100", "40", "30", "100"]
    assert for_export is True


def test_counts_hidden_in_an_export_stay_hidden():
    a, b = _flow([600, 250, 200, 300]), _flow([700, 290, 230, 400])
    shown_b = _as_exported(b).assign(n=["700", "suppressed", "230", "400"])
    out, for_export = cohort_size_changes(a, b, _as_exported(a), shown_b, 20)
    row = out.set_index("step").loc["with_mdd_diagnosis"]
    assert row.n_b == "suppressed" and row.change == ""
    assert _small_changes_derivable(out) == [] and for_export is True
