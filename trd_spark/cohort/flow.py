"""Per-dataset cohort flow: persons left after each cohort-stage step, then per definition/status.

The phenotype stage's ``cohort_flow`` counts OMOP persons per definition; this table follows
each genotyped dataset from scored persons to the analysis frame. Pure: counts in, rows out.
"""

from __future__ import annotations

from collections.abc import Iterable

from trd_spark.logs import is_small_count, partition_text
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
    """The run log's account of the persons each cohort step removed, from ``dataset_flow_rows``'
    rows: per dataset and TRD definition, "<dataset>, <definition>: <n> genotyped persons with
    PGS: removed as related <n>, without genetic ancestry or PCs <n>, not in the analysis frame
    (...) <n>, analysed <n>" (the parts add up to the genotyped count).

    The counts are given for every dataset or for none: when any part of any line is 1 to
    ``persons_below``-1 the one line says they are not logged. A part hidden in one line would
    come back by subtraction from the genotyped total and the other lines of its dataset, and a
    dataset hidden alone from the other datasets' lines and the logged row totals of the scores
    and the analysis frame (``logs.partition_text``'s rule, over the whole table). A status of 1
    to ``persons_below``-1 (a row "status ...") leaves them out too: "analysed" is the sum of the
    definition's statuses, which report.html shows only when every status is shown, and with the
    others from the export it gave the hidden one back (definition B's 1,219 analysed less 353 +
    100 + 759: 7 TRD persons; tests/test_privacy_logs.py)."""
    pre: dict[str, dict[str, int]] = {}
    in_frame: dict[tuple[str, str], int] = {}
    small_status = False
    for dataset, definition, _, step, n in rows:
        if definition == ALL_DEFINITIONS:
            pre.setdefault(dataset, {})[step] = int(n)
        elif step == IN_FRAME:
            in_frame[(dataset, definition)] = int(n)
        else:
            small_status = small_status or is_small_count(int(n), persons_below)
    lines = []
    for (dataset, definition), analysed in in_frame.items():
        genotyped, unrelated, with_ancestry = (pre[dataset][str(s)] for s in PRE_STEPS)
        parts = {"removed as related": genotyped - unrelated,
                 "without genetic ancestry or PCs": unrelated - with_ancestry,
                 "not in the analysis frame (no OMOP person, sex other or status excluded)": with_ancestry - analysed,
                 "analysed": analysed}
        text = None if small_status else partition_text(parts, persons_below=persons_below)
        if text is None:
            return [f"persons removed per step not logged (a step removed, or a status has, 1 to {persons_below - 1} "
                    "persons of a dataset; the cohort stage's dataset_flow table has them, the report's export what "
                    "may be shown)"]
        lines.append(f"{dataset}, {definition}: {genotyped:,} genotyped persons with PGS: {text}")
    return lines
