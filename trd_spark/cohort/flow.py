"""Per-dataset cohort flow: persons left after each cohort-stage step, then per definition/status.

The phenotype stage's ``cohort_flow`` counts OMOP persons per definition; this table follows
each genotyped dataset from scored persons to the analysis frame. Pure: counts in, rows out.
"""

from __future__ import annotations

from collections.abc import Iterable

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
