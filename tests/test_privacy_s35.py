"""Privacy, session 35: counts a reader of the published outputs can get back by arithmetic.

compare-releases' ``n_both`` (persons scored in both releases, per dataset and score) was audited
with each score's scored persons per release as known. What a release's report shows is the
dataset's scored persons (with any score): a person lacking one score counts there and not in
that score's count, so the report's number less ``n_both`` counts persons the audit never saw.
"""

from __future__ import annotations

import pandas as pd

T = 20  # report.small_count_threshold's default


def _scores(persons: range, lacking: dict[str, set[int]]) -> pd.DataFrame:
    """pgs scores rows (dataset d) of ``persons`` under P1 and P2, less the persons ``lacking``
    names per score."""
    return pd.DataFrame([("d", p, pgs, float(p % 11)) for pgs in ("P1", "P2") for p in persons
                         if p not in lacking.get(pgs, set())],
                        columns=["dataset", "person_id", "pgs_id", "score_sum"])


def test_a_person_lacking_one_score_gives_no_count_through_n_both(spark):
    """Release A scores 500 persons of dataset d, one lacking P1 and another lacking P2; release
    B scores 1,000 persons with both (A's among them). Both reports show their scored persons
    (500, 1,000). On f7d6547 n_both was shown, 499 and 499, audited with each score's 499 in A as
    known: nobody in one release only, nobody lacking a score in both. 500 - 499 gave the 1
    person of A's scored persons not counted in P1's n_both. Here the report's 500 is what is
    known and each score's 499 the dataset's less a cell: n_both is hidden, and no shown number
    less a report's leaves 1..19."""
    from export_attacker import Attacker

    from trd_spark.report.compare import score_correlation

    a = spark.createDataFrame(_scores(range(500), {"P1": {0}, "P2": {1}}))
    b = spark.createDataFrame(_scores(range(1000), {}))
    out = score_correlation(a, b, T, ({"d"}, {"d"}))
    shown = dict(zip(out["pgs_id"], out["n_both"]))
    reports = {"a": 500, "b": 1000}  # the reports' genotyped persons with PGS
    for pgs, n in shown.items():
        if isinstance(n, int):
            assert not [tag for tag, s in reports.items() if 0 < s - n < T], (pgs, n, reports)
    assert shown == {"P1": "suppressed", "P2": "suppressed"}, shown

    # The outsider's reading: each report's number, each n_both as shown, each score's persons
    # in a release unknown (at most the report's number). A's persons not in P1's n_both (1
    # person, lacking P1) are no longer pinned.
    att = Attacker(T)
    for pgs, text in shown.items():
        both = att.cell(("both", pgs), str(text))
        for tag, total in reports.items():
            scored, rest = att.cell(("scored", tag, pgs)), att.cell(("not_in_both", tag, pgs))
            att.know({att.cell(("report", tag), str(total)): 1, both: -1, rest: -1})
            att.know({scored: 1, both: -1, att.cell(("only", tag, pgs)): -1})
            att.know({("report", tag): 1, scored: -1, att.cell(("lacking", tag, pgs)): -1})
    lo, hi = att.interval(("not_in_both", "a", "P1"))
    assert hi - lo >= T - 2, (lo, hi)

