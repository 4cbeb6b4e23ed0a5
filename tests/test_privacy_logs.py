"""Run-log lines read with the export: a log line pasted into a ticket must not give back a
count the export hides (AoU dissemination policy: no count 1-19 recoverable by arithmetic
from what is published, the run logs included)."""

from __future__ import annotations

import re

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
    the export, gave B's 7 TRD persons. Now a status of 1..T-1 in any definition of any dataset
    leaves the counts out of the log, as a step removing 1..T-1 persons does."""
    from test_report_reexport import with_dataset_flow

    from trd_spark.cohort.flow import dataset_flow_log_lines

    rc = with_dataset_flow(definitions_release({"A": 60, "B": 7}), [3000, 2950, 2900])
    assert rc.dataset_flow is not None
    cc = suppress_release(rc, T)["cohort_counts"]
    lines = dataset_flow_log_lines(list(rc.dataset_flow.itertuples(index=False, name=None)), persons_below=T)
    analysed = {}
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
