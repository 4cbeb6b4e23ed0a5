"""Which counts secondary suppression hides: no headline count where a detail cell suffices.

New-user trial, session 24: on the toy release, "MDD included" read ``suppressed`` under every
definition. The audit protects one small group at a time (text order): the 2 MDD_other persons
of the cohort flow not analysed in any dataset came before the 7 and 10 TRD persons not
analysed, and were protected by hiding mdd_included (its 4 copies and the step before it)
rather than with_adequate_trial (3 copies), which would also have needed TRD and trMDD hidden
-- as they were next, for the 7 and 10. ``suppression.audit_with_fewer_hidden`` audits once
more with the cells hidden anyway taken first. Pure pandas + scipy (no Spark).
"""

from __future__ import annotations

import pandas as pd
from export_attacker import Attacker

from trd_spark.report.tables import CONTRAST_GROUPS, ReleaseCounts, suppress_release

T = 20
# One definition A, one dataset d. Flow: mdd_included 1106 = with_adequate_trial 931 + MDD_other
# 175 (+ 0 TRD without a trial), with_adequate_trial = TRD 379 + trMDD 552 (+ 0 short follow-up);
# the dataset analyses 369 TRD, 543 trMDD, 173 MDD_other and 1747 non-MDD persons: 10, 9, 2 and
# 33 of the flow's are not analysed (not genotyped, related, no ancestry).
FLOW = [("all", 1, "mdd_included", 1106), ("all", 2, "non_MDD", 1780),
        ("A", 1, "mdd_included", 1106), ("A", 2, "with_adequate_trial", 931), ("A", 3, "TRD_without_adequate_trial", 0),
        ("A", 4, "TRD", 379), ("A", 5, "trMDD", 552), ("A", 6, "MDD_other_no_adequate_trial", 175),
        ("A", 7, "MDD_other_short_followup", 0), ("A", 8, "non_MDD", 1780)]
ANALYSED = {"TRD": 369, "trMDD": 543, "MDD_other": 173, "non_MDD": 1747}
NOT_ANALYSED = {"TRD": ("TRD", 10), "trMDD": ("trMDD", 9), "MDD_other_no_adequate_trial": ("MDD_other", 2),
                "non_MDD": ("non_MDD", 33)}


def release() -> ReleaseCounts:
    """The flow above, the dataset's status counts and each contrast's model of one score
    (everyone scored): the status counts are the models' groups, so hiding one hides models."""
    models = [("d", "A", c, "P1", sum(ANALYSED[s] for s in whole), sum(ANALYSED[s] for s in cases))
              for c, (cases, whole) in CONTRAST_GROUPS.items()]
    return ReleaseCounts(
        cohort_flow=pd.DataFrame(FLOW, columns=["definition", "step_order", "step", "n"]),
        cohort_counts=pd.DataFrame([("d", "A", s, n) for s, n in ANALYSED.items()],
                                   columns=["dataset", "definition", "status", "n"]),
        logistic=pd.DataFrame(models, columns=["dataset", "definition", "contrast", "pgs_id", "n", "n_cases"]),
        cox=None, pgs_distribution=None, primary_definition="A")


def test_detail_flow_steps_are_hidden_where_they_suffice_not_status_or_model_counts():
    """The 2 MDD_other persons not analysed (sorted before the 10 TRD persons) needed one of
    flow MDD_other, the dataset's MDD_other and the models counting it hidden: c765c14 hid the
    analysed MDD_other count and the MDD vs non-MDD model's n and cases (3 cells, then flow TRD
    and trMDD for the 10: 5 hidden), not with_adequate_trial and the flow's MDD_other step (2
    more once TRD and trMDD are hidden anyway: 4). An outsider (tests/export_attacker.py's
    Attacker: the flow's nesting, each flow step = the dataset's analysed count + the persons
    not analysed, each model's n and cases = its status groups) narrows no group of 1..19
    persons below 18 wide."""
    safe = suppress_release(release(), T)
    shown = {(r.definition, r.step): r.n for r in safe["cohort_flow"].astype(str).itertuples()}
    hidden = sorted(k for k, v in shown.items() if v == "suppressed")
    assert hidden == [("A", "MDD_other_no_adequate_trial"), ("A", "TRD"), ("A", "trMDD"),
                      ("A", "with_adequate_trial")], hidden
    assert shown[("all", "mdd_included")] == shown[("A", "mdd_included")] == "1106", shown
    status = dict(zip(safe["cohort_counts"]["status"], safe["cohort_counts"]["n"].astype(str)))
    assert status == {s: str(n) for s, n in ANALYSED.items()}, status
    models = safe["logistic"].astype(str)
    assert not (models[["n", "n_cases"]] == "suppressed").any().any(), models

    a = Attacker(T)
    for k, v in shown.items():
        a.cell(("flow", *k), v)
    for s, v in status.items():
        a.cell(("status", s), v)
    for r in models.itertuples():
        cases, whole = CONTRAST_GROUPS[r.contrast]
        a.know({a.cell(("n", r.contrast), r.n): 1, **{("status", s): -1 for s in whole}})
        a.know({a.cell(("n_cases", r.contrast), r.n_cases): 1, **{("status", s): -1 for s in cases}})
    a.know({("flow", "all", "mdd_included"): 1, ("flow", "A", "mdd_included"): -1})
    a.know({("flow", "A", "mdd_included"): 1, ("flow", "A", "with_adequate_trial"): -1,
            ("flow", "A", "TRD_without_adequate_trial"): -1, ("flow", "A", "MDD_other_no_adequate_trial"): -1})
    a.know({("flow", "A", "with_adequate_trial"): 1, ("flow", "A", "TRD"): -1, ("flow", "A", "trMDD"): -1,
            ("flow", "A", "MDD_other_short_followup"): -1, ("flow", "A", "TRD_without_adequate_trial"): 1})
    for step, (s, _) in NOT_ANALYSED.items():
        a.know({("flow", "A", step): 1, ("status", s): -1, ("not_analysed", s): -1})
    for s, n in NOT_ANALYSED.values():
        lo, hi = a.interval(("not_analysed", s))
        assert lo - 1e-6 <= n <= hi + 1e-6, (s, lo, hi)
        if n < T:
            assert hi - lo >= T - 2 - 1e-6, (s, lo, hi)


def test_the_second_pass_solves_no_interval_the_first_solved(monkeypatch):
    """``audit_with_fewer_hidden`` audits twice; until the second pass hides a cell of a group,
    its bounds there are the first pass's, and the bounds with every count hidden never change.
    a61194e solved all of those again (the same LP model, cell and bounds: the same optimum);
    the second pass now takes them from the first (``audit_suppression``'s ``work``). Every
    interval is solved once, and the export is the one above."""
    from scipy.sparse import csr_matrix

    from trd_spark.report import suppression

    solved: list[tuple] = []
    init, interval = suppression.IntervalSolver.__init__, suppression.IntervalSolver.interval

    def recording_init(self, rel) -> None:
        rel = csr_matrix(rel)
        self.test_model = (rel.shape, rel.indptr.tobytes(), rel.indices.tobytes(), rel.data.tobytes())
        init(self, rel)

    def recording_interval(self, bounds, j):
        solved.append((self.test_model, j, tuple(bounds)))
        return interval(self, bounds, j)

    monkeypatch.setattr(suppression.IntervalSolver, "__init__", recording_init)
    monkeypatch.setattr(suppression.IntervalSolver, "interval", recording_interval)
    passes = []
    audit = suppression.audit_suppression
    monkeypatch.setattr(suppression, "audit_suppression", lambda *a, **k: passes.append(k.get("prefer")) or audit(*a, **k))
    safe = suppress_release(release(), T)
    assert len(passes) == 2 and passes[1], "the release must need the second pass"
    again = len(solved) - len(set(solved))
    assert again == 0, f"{again} of {len(solved)} intervals solved again"
    hidden = sorted((r.definition, r.step) for r in safe["cohort_flow"].astype(str).itertuples() if r.n == "suppressed")
    assert hidden == [("A", "MDD_other_no_adequate_trial"), ("A", "TRD"), ("A", "trMDD"), ("A", "with_adequate_trial")]
