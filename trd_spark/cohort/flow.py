"""Per-dataset cohort flow: persons left after each cohort-stage step, then per definition/status.

The phenotype stage's ``cohort_flow`` counts OMOP persons per definition; this table follows
each genotyped dataset from scored persons to the analysis frame. Pure: counts in, rows out.
"""

from __future__ import annotations

from collections.abc import Iterable

from trd_spark.logs import person_count_text
from trd_spark.vocabulary import ALL_DEFINITIONS, ANALYSED_STATUSES, DatasetFlowStep, status_step

# Steps before the split by TRD definition, in order (the stage counts each).
PRE_STEPS = (DatasetFlowStep.WITH_PGS, DatasetFlowStep.UNRELATED, DatasetFlowStep.WITH_ANCESTRY)
IN_FRAME = DatasetFlowStep.IN_FRAME


def dataset_flow_rows(
    pre_counts: dict[str, list[int]], status_counts: Iterable[tuple[str, str, str, int]]
) -> list[tuple[str, str, int, str, int]]:
    """Rows ``(dataset, definition, step_order, step, n)``.

    ``pre_counts``: dataset -> counts for PRE_STEPS (definition ``all``). ``status_counts``:
    ``(dataset, definition, status, n)`` of the analysis frame; per definition one
    IN_FRAME row (their sum) then one row per status in ANALYSED_STATUSES order (0 when absent).
    Steps are plain ``str`` (the rows become a declared Parquet table).
    """
    by: dict[tuple[str, str], dict[str, int]] = {}
    for dataset, definition, status, n in status_counts:
        by.setdefault((dataset, definition), {})[status] = int(n)
    rows = []
    for dataset, counts in pre_counts.items():
        if len(counts) != len(PRE_STEPS):
            raise ValueError(f"expected {len(PRE_STEPS)} counts for dataset {dataset}, got {len(counts)}")
        rows += [(dataset, ALL_DEFINITIONS, i + 1, str(step), int(n)) for i, (step, n) in enumerate(zip(PRE_STEPS, counts))]
        for definition in sorted(d for ds, d in by if ds == dataset):
            c = by[(dataset, definition)]
            order = len(PRE_STEPS) + 1
            rows.append((dataset, definition, order, str(IN_FRAME), sum(c.values())))
            rows += [(dataset, definition, order + 1 + j, status_step(s), c.get(s, 0))
                     for j, s in enumerate(ANALYSED_STATUSES)]
    return rows


def dataset_flow_log_lines(rows: Iterable[tuple[str, str, int, str, int]], *, persons_below: int) -> list[str]:
    """The run log's account of the persons the cohort steps before the split by definition
    removed, from ``dataset_flow_rows``' rows: per dataset "<dataset>: <n> genotyped persons with
    PGS, removed as related <n>, without genetic ancestry or PCs <n>", each count as
    ``logs.person_count_text`` shows it (0, <T, T+), then one line saying where the counts are.

    Labels only, as every person count in the logs: the report's export may hide a count of T or
    more to protect a small one, and an exact count here would give it back (definition B's
    frame 1,219 in this log less B's trMDD 353, MDD_other 100 and non-MDD 759 in the export gave
    B's 7 TRD persons; tests/test_privacy_logs.py). These steps are published (report.html's
    genotyped -> analysed table) with the same labels or more. The per-definition parts (not in
    the analysis frame, analysed) are not: their labels, a 0 among them, would be relations the
    export's audit does not know, so they are left out."""
    pre: dict[str, dict[str, int]] = {}
    for dataset, definition, _, step, n in rows:
        if definition == ALL_DEFINITIONS:
            pre.setdefault(dataset, {})[step] = int(n)
    lines = []
    for dataset, steps in pre.items():
        genotyped, unrelated, with_ancestry = (steps[str(s)] for s in PRE_STEPS)
        lines.append(f"{dataset}: {person_count_text(genotyped, persons_below)} genotyped persons with PGS, removed as "
                     f"related {person_count_text(genotyped - unrelated, persons_below)}, without genetic ancestry or "
                     f"PCs {person_count_text(unrelated - with_ancestry, persons_below)}")
    lines.append("persons per step, definition and status: the cohort stage's dataset_flow table (internal); the "
                 "report's export shows what may be shown")
    return lines
