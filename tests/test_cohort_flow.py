"""Per-dataset cohort flow rows (cohort stage): pre-definition steps, then per definition/status."""

from __future__ import annotations

import pytest

from trd_spark.cohort.flow import IN_FRAME, PRE_STEPS, dataset_flow_log_lines, dataset_flow_rows


def test_rows_per_dataset_definition_and_status():
    rows = dataset_flow_rows(
        {"discovery": [100, 90, 88], "replication_wgs": [50, 50, 49]},
        [("discovery", "ad3", "TRD", 10), ("discovery", "ad3", "non_MDD", 60), ("discovery", "ad3", "trMDD", 15),
         ("discovery", "somatic", "TRD", 3), ("replication_wgs", "ad3", "MDD_other", 7)],
    )
    disc = [r for r in rows if r[0] == "discovery"]
    assert disc[:3] == [("discovery", "all", 1, PRE_STEPS[0], 100), ("discovery", "all", 2, PRE_STEPS[1], 90),
                        ("discovery", "all", 3, PRE_STEPS[2], 88)]
    ad3 = [r[2:] for r in disc if r[1] == "ad3"]
    assert ad3 == [(4, IN_FRAME, 85), (5, "status TRD", 10), (6, "status trMDD", 15), (7, "status MDD_other", 0),
                   (8, "status non_MDD", 60)]
    assert [r[2:] for r in disc if r[1] == "somatic"][0] == (4, IN_FRAME, 3)
    rep = [r for r in rows if r[0] == "replication_wgs"]
    assert len(rep) == 3 + 5 and rep[3][1:] == ("ad3", 4, IN_FRAME, 7)
    # keys (dataset, definition, step) are unique
    assert len({(r[0], r[1], r[3]) for r in rows}) == len(rows)


def test_wrong_number_of_pre_counts_is_an_error():
    with pytest.raises(ValueError, match="expected 3 counts for dataset discovery"):
        dataset_flow_rows({"discovery": [1, 2]}, [])


def test_the_run_log_labels_the_persons_each_cohort_step_removed():
    """Per dataset, the steps before the split by definition with every person count as a label
    (0, <20, 20+: ``logs.person_count_text``; the export may hide a count of 20 or more), and
    nothing per definition (a label or 0 there is a relation the export's audit does not know)."""
    status = [("discovery", "ad3", "TRD", 30), ("discovery", "ad3", "non_MDD", 500),
              ("discovery", "somatic", "TRD", 30), ("discovery", "somatic", "non_MDD", 470),
              ("replication_wgs", "ad3", "non_MDD", 300)]
    rows = dataset_flow_rows({"discovery": [1000, 960, 960], "replication_wgs": [400, 400, 395]}, status)
    assert dataset_flow_log_lines(rows, persons_below=20) == [
        "discovery: 20+ genotyped persons with PGS, removed as related 20+, without genetic ancestry or PCs 0",
        "replication_wgs: 20+ genotyped persons with PGS, removed as related 0, without genetic ancestry or PCs <20",
        "persons per step, definition and status: the cohort stage's dataset_flow table (internal); the report's "
        "export shows what may be shown"]
