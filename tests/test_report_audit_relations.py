"""The design equalities the suppression audit states across TRD definitions (privacy round 15,
ebc252a), each checked on its own: a relation missing from ``contrast_group_relations`` is a
group the audit does not protect, and the attacker test (test_export_attacker) that found the
round's leak passes without some of them (a Cox model's n is linked through MDD vs non-MDD's
cases there, where the two counts agree).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trd_spark.models.km import coarsen_km, km_on_grid
from trd_spark.report.tables import ReleaseCounts, build_audit, contrast_group_relations
from trd_spark.schemas import KM_CURVES


def _models(cox_n: dict[str, int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One dataset and score under definitions A and B: MDD vs non-MDD 300 cases of 700 (the
    same persons under both), TRD vs trMDD 185 persons with an adequate trial and data (60 /
    7 TRD), and a Cox model whose n (the MDD persons with data AND follow-up, ``cox_n``) is
    not MDD vs non-MDD's 300 cases (10 without follow-up)."""
    logistic = pd.DataFrame(
        [("d", definition, contrast, "P1", n, k)
         for definition, trd in (("A", 60), ("B", 7))
         for contrast, n, k in (("mdd_vs_nonmdd", 700, 300), ("trd_vs_trmdd", 185, trd))],
        columns=["dataset", "definition", "contrast", "pgs_id", "n", "n_cases"])
    cox = pd.DataFrame([("d", definition, "P1", n, {"A": 58, "B": 6}[definition]) for definition, n in cox_n.items()],
                       columns=["dataset", "definition", "pgs_id", "n", "n_events"])
    return logistic, cox


def test_a_cox_models_n_is_linked_across_definitions_where_it_is_not_the_mdd_cases():
    """A Cox model's n is the same persons under every definition (MDD persons with the score,
    covariates and follow-up): the audit states it where the counts agree (290 and 290), by
    value, not where they differ (290 and 289: a definition that changes the group). Here it
    equals no logistic count, so no other relation links the two."""
    a, b = (("cox", "d", definition, "progression", "n", 290) for definition in ("A", "B"))
    _, relations = contrast_group_relations(*_models({"A": 290, "B": 290}))
    assert {a: 1, b: -1} in relations or {b: 1, a: -1} in relations, relations
    _, relations = contrast_group_relations(*_models({"A": 290, "B": 289}))
    assert not [r for r in relations if {k[0] for k in r} == {"cox"}], relations


def _curve_set(definition: str, events_on_day_15: int) -> pd.DataFrame:
    """KM_CURVES grid rows (30-day grid) of one curve set under ``definition``: three thirds of
    100 persons each (the same persons under every definition), ``events_on_day_15`` TRD onsets on
    day 15, the rest censored on day 200."""
    out = []
    for tertile in (1, 2, 3):
        duration = np.array([15] * events_on_day_15 + [200] * (100 - events_on_day_15), dtype=float)
        event = np.array([1] * events_on_day_15 + [0] * (100 - events_on_day_15), dtype=float)
        grid = km_on_grid(duration, event, np.arange(0, 201, 30))
        out.append(grid.assign(dataset="d", definition=definition, pgs_id="P1", trait="P1", tertile=tertile))
    return pd.concat(out, ignore_index=True)[KM_CURVES.names]


def test_a_curve_sets_persons_are_linked_across_definitions():
    """A Kaplan-Meier curve set's persons (the MDD persons with the score and follow-up) are the
    same under every definition: the audit states it (ebc252a's km_sets), which no attacker test
    checked (with it removed test_export_attacker passed whole)."""
    grid = pd.concat([_curve_set("A", 30), _curve_set("B", 25)], ignore_index=True)
    rc = ReleaseCounts(cohort_flow=pd.DataFrame(columns=["definition", "step_order", "step", "n"]), cohort_counts=None,
                       logistic=pd.DataFrame(columns=["dataset", "definition", "contrast", "pgs_id", "n", "n_cases"]),
                       cox=None, pgs_distribution=None, primary_definition="A", km_curves=coarsen_km(grid, 20))
    values, _, relations, *_ = build_audit(rc)
    a, b = ("km_persons", "d", "A", "P1"), ("km_persons", "d", "B", "P1")
    assert values[a] == values[b] == 300
    assert {a: 1, b: -1} in relations or {b: 1, a: -1} in relations
