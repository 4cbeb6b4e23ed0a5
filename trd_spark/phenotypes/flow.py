"""The cohort-flow (attrition) table: counts per step, shared steps and per TRD definition.

Steps with definition ``all`` (before any TRD definition):
  all_persons, excluded_implausible_year_of_birth (every person excluded for a year of birth
  that gives no usable age, MDD or not: ``persons.birth_implausible_expr``, the first exclusion;
  the steps after it count the other persons only), with_mdd_diagnosis (>= 1 MDD-set record),
  mdd_min_distinct_dates (>= min_diagnoses distinct dates), after_exclusion_<reason> for each MDD exclusion in
  precedence order (each removes persons whose first reason it is), mdd_included,
  non_MDD, and the persons WITHOUT an MDD diagnosis left out of the controls
  (excluded_<reason>, the last excluded_no_ehr_data: no evidence of EHR data, omop.ehr_evidence;
  a person with MDD-set records on fewer than min_diagnoses dates is the
  drop from with_mdd_diagnosis to mdd_min_distinct_dates, not counted again here); then two
  counts that cut across the steps: no_observation_period (persons without any
  observation_period row, followed to death or the data cutoff) and
  excluded_outside_followup_only (persons excluded only because of records outside their
  follow-up, e.g. a depression code after the last observation period: controls are clean
  over the whole record).
Per definition: mdd_included, with_adequate_trial, TRD_without_adequate_trial, TRD, trMDD,
  MDD_other_no_adequate_trial, MDD_other_short_followup, non_MDD. The MDD steps nest
  (``definition_partitions``): mdd_included = with_adequate_trial + TRD_without_adequate_trial
  + MDD_other_no_adequate_trial, and with_adequate_trial = the TRD persons with a trial +
  trMDD + MDD_other_short_followup. TRD_without_adequate_trial is TRD by a rule that needs no
  trial (``somatic``: ECT/TMS/esketamine after the MDD index is TRD by itself, trd.py); it is
  0 under the trial-based rules. TRD counts both (a status of PHENOTYPES).

The steps form a partition (``terminal_boxes``), as in a CONSORT / OHDSI attrition diagram:
each person is in exactly one terminal box per definition, so the boxes add up to all_persons.

Only small aggregates (one row, or one row per definition x status) reach the driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from trd_spark.schemas import COHORT_FLOW
from trd_spark.vocabulary import (
    AFTER_EXCLUSION_PREFIX,
    ALL_DEFINITIONS,
    EXCLUDED_PREFIX,
    MDD_STATUSES,
    ExclusionReason,
    FlowStep,
    Status,
    after_exclusion_step,
    excluded_step,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pyspark.sql import Column, DataFrame

R = ExclusionReason


def _n_where(cond: Column, alias: str) -> Column:
    return F.sum(F.when(cond, 1).otherwise(0)).alias(alias)


def _mdd_reasons(exclusion_sets: list[str]) -> list[str]:
    return [*exclusion_sets, R.UNDER_AGE]


def _non_mdd_reasons(exclusion_sets: list[str]) -> list[str]:
    return [R.DEPRESSION_NOT_MDD, *exclusion_sets, R.ANTIDEPRESSANT_NO_MDD, R.NO_EHR_DATA]


def shared_flow_columns(*, exclusion_sets: list[str], min_diagnoses: int) -> list[Column]:
    """Aggregates over the MDD groups (one row per person, ``mdd.derive_mdd``) that give the
    ``all`` steps (``flow_rows``' ``shared``). Persons excluded for an implausible year of birth
    are counted in their own box only (the first reason of every person: ``mdd.derive_mdd``)."""
    implausible = F.coalesce(F.col("exclusion_reason") == R.IMPLAUSIBLE_YEAR_OF_BIRTH, F.lit(False))
    meets = (F.col("n_mdd_dates") >= min_diagnoses) & ~implausible
    return [
        F.count(F.lit(1)).alias("all_persons"),
        _n_where(implausible, "implausible_year_of_birth"),
        _n_where(F.col("has_mdd_diagnosis") & ~implausible, "with_mdd_diagnosis"),
        _n_where(meets, "mdd_min_distinct_dates"),
        _n_where(F.col("mdd_status") == Status.MDD, "mdd_included"),
        _n_where(F.col("mdd_status") == Status.NON_MDD, "non_mdd"),
        *[_n_where(meets & (F.col("exclusion_reason") == r), f"mdd_excl_{i}")
          for i, r in enumerate(_mdd_reasons(exclusion_sets))],
        # Persons without any MDD-set date only: those with 1..min_diagnoses-1 dates (reason
        # depression_not_mdd) already left the chain at mdd_min_distinct_dates (session 13:
        # 50 toy persons were counted twice, the boxes added up to 3,050 of 3,000).
        *[_n_where(~F.col("has_mdd_diagnosis") & (F.col("exclusion_reason") == r), f"other_excl_{i}")
          for i, r in enumerate(_non_mdd_reasons(exclusion_sets))],
        _n_where(~F.col("has_observation_period"), "no_observation_period"),
        _n_where(F.col("excluded_outside_followup_only"), "excluded_outside_followup_only"),
    ]


# The per-definition counts, in step order: name -> condition over PHENOTYPES rows.
def _definition_conditions() -> dict[str, Column]:
    status, reason = F.col("status"), F.col("exclusion_reason")
    return {
        "n_rows": F.lit(True),  # the definition's rows: it is in PHENOTYPES (a group-by would list it)
        "mdd_included": status.isin(*MDD_STATUSES),
        "with_adequate_trial": status.isin(*MDD_STATUSES) & (F.col("n_adequate_trials") >= 1),
        "trd_no_trial": (status == Status.TRD) & (F.coalesce(F.col("n_adequate_trials"), F.lit(0)) < 1),
        "trd": status == Status.TRD,
        "trmdd": status == Status.TRMDD,
        "other_no_trial": (status == Status.MDD_OTHER) & (reason == R.NO_ADEQUATE_TRIAL),
        "other_short": (status == Status.MDD_OTHER) & (reason == R.SHORT_FOLLOWUP),
        "non_mdd": status == Status.NON_MDD,
    }


def definition_flow_columns(definitions: list[str]) -> list[Column]:
    """One-row aggregates over PHENOTYPES giving every definition's steps (``flow_rows``'
    ``per_definition``): ``<definition>:<count>`` for each count of ``_definition_conditions``.
    No group-by, so they can be observed while PHENOTYPES is written (``io.observed``)."""
    return [_n_where((F.col("definition") == d) & cond, f"{d}:{name}")
            for d in definitions for name, cond in _definition_conditions().items()]


def definition_counts(row: dict[str, int], definitions: list[str]) -> dict[str, dict[str, int]]:
    """``definition_flow_columns`` values (``row``) as definition -> counts, leaving out the
    definitions without any PHENOTYPES row (as a group-by of PHENOTYPES would)."""
    out = {d: {name: int(row[f"{d}:{name}"] or 0) for name in _definition_conditions()} for d in definitions}
    return {d: counts for d, counts in out.items() if counts["n_rows"]}


def cohort_flow_rows(
    mdd: DataFrame, phenotypes: DataFrame, *, exclusion_sets: list[str], min_diagnoses: int
) -> list[tuple[str, int, str, int]]:
    """(definition, step_order, step, n) rows; see the module docstring for the steps.

    Two small collects (one aggregate row over ``mdd``, one row per definition over
    ``phenotypes``); ``flow_rows`` assembles the steps.
    """
    shared = mdd.agg(*shared_flow_columns(exclusion_sets=exclusion_sets, min_diagnoses=min_diagnoses)).collect()[0]
    conds = _definition_conditions()
    per_def = phenotypes.groupBy("definition").agg(*[_n_where(c, name) for name, c in conds.items()]).collect()
    return flow_rows(shared.asDict(), {r["definition"]: {name: int(r[name] or 0) for name in conds} for r in per_def},
                     exclusion_sets=exclusion_sets)


def flow_rows(
    shared: dict[str, int], per_definition: dict[str, dict[str, int]], *, exclusion_sets: list[str]
) -> list[tuple[str, int, str, int]]:
    """The cohort-flow rows from the counts: ``shared`` (``shared_flow_columns`` values) and
    ``per_definition`` (definition -> ``definition_counts`` values); no Spark job."""
    rows: list[tuple[str, int, str, int]] = []

    def add(definition: str, step: str, n: int) -> None:
        order = sum(1 for r in rows if r[0] == definition) + 1
        # Plain str: the rows go to createDataFrame (Spark workers cannot unpickle an enum).
        rows.append((definition, order, str(step), int(n or 0)))

    add(ALL_DEFINITIONS, FlowStep.ALL_PERSONS, shared["all_persons"])
    add(ALL_DEFINITIONS, FlowStep.EXCLUDED_IMPLAUSIBLE_YEAR_OF_BIRTH, shared["implausible_year_of_birth"])
    add(ALL_DEFINITIONS, FlowStep.WITH_MDD_DIAGNOSIS, shared["with_mdd_diagnosis"])
    add(ALL_DEFINITIONS, FlowStep.MDD_MIN_DISTINCT_DATES, shared["mdd_min_distinct_dates"])
    remaining = int(shared["mdd_min_distinct_dates"] or 0)
    for i, r in enumerate(_mdd_reasons(exclusion_sets)):
        remaining -= int(shared[f"mdd_excl_{i}"] or 0)
        add(ALL_DEFINITIONS, after_exclusion_step(r), remaining)
    add(ALL_DEFINITIONS, FlowStep.MDD_INCLUDED, shared["mdd_included"])
    add(ALL_DEFINITIONS, FlowStep.NON_MDD, shared["non_mdd"])
    for i, r in enumerate(_non_mdd_reasons(exclusion_sets)):
        add(ALL_DEFINITIONS, excluded_step(r), shared[f"other_excl_{i}"])
    add(ALL_DEFINITIONS, FlowStep.NO_OBSERVATION_PERIOD, shared["no_observation_period"])
    add(ALL_DEFINITIONS, FlowStep.EXCLUDED_OUTSIDE_FOLLOWUP_ONLY, shared["excluded_outside_followup_only"])

    for d in sorted(per_definition):
        row = per_definition[d]
        add(d, FlowStep.MDD_INCLUDED, row["mdd_included"])
        add(d, FlowStep.WITH_ADEQUATE_TRIAL, row["with_adequate_trial"])
        add(d, FlowStep.TRD_WITHOUT_ADEQUATE_TRIAL, row["trd_no_trial"])
        add(d, FlowStep.TRD, row["trd"])
        add(d, FlowStep.TRMDD, row["trmdd"])
        add(d, FlowStep.MDD_OTHER_NO_ADEQUATE_TRIAL, row["other_no_trial"])
        add(d, FlowStep.MDD_OTHER_SHORT_FOLLOWUP, row["other_short"])
        add(d, FlowStep.NON_MDD, row["non_mdd"])
    return rows


def terminal_boxes(rows: list[tuple[str, int, str, int]]) -> dict[str, dict[str, int]]:
    """Definition -> {terminal box: persons} from ``cohort_flow_rows`` output (no Spark job).

    The boxes every person ends in, exactly one per definition (CONSORT / OHDSI attrition:
    the exclusions between consecutive steps plus the final groups), so each definition's
    boxes add up to all_persons. Definition ``all``: ``fewer_than_min_dates``
    (with_mdd_diagnosis - mdd_min_distinct_dates), ``exclusion_<reason>`` (the drop to each
    after_exclusion step), mdd_included, non_MDD and the excluded_<reason> steps (persons
    without an MDD diagnosis, and excluded_implausible_year_of_birth: every person excluded for
    that reason, MDD or not). Each TRD definition: the same boxes with mdd_included split into
    TRD, trMDD and the two MDD_other steps, and its own non_MDD. no_observation_period and
    excluded_outside_followup_only cut across the boxes and are no box. Raises KeyError when
    a fixed step is missing from ``rows``.
    """
    steps = {(d, step): n for d, _, step, n in rows}
    shared = [(step, n) for d, _, step, n in sorted(rows) if d == ALL_DEFINITIONS]
    boxes = {"fewer_than_min_dates": steps[(ALL_DEFINITIONS, FlowStep.WITH_MDD_DIAGNOSIS)]
             - steps[(ALL_DEFINITIONS, FlowStep.MDD_MIN_DISTINCT_DATES)]}
    before = steps[(ALL_DEFINITIONS, FlowStep.MDD_MIN_DISTINCT_DATES)]
    for step, n in shared:
        if step.startswith(AFTER_EXCLUSION_PREFIX):
            boxes[f"exclusion_{step.removeprefix(AFTER_EXCLUSION_PREFIX)}"] = before - n
            before = n
    side = {step: n for step, n in shared if step.startswith(EXCLUDED_PREFIX)
            and step != FlowStep.EXCLUDED_OUTSIDE_FOLLOWUP_ONLY}
    out = {ALL_DEFINITIONS: {**boxes, **{str(g): steps[(ALL_DEFINITIONS, g)] for g in (FlowStep.MDD_INCLUDED, FlowStep.NON_MDD)},
                             **side}}
    groups = (FlowStep.TRD, FlowStep.TRMDD, FlowStep.MDD_OTHER_NO_ADEQUATE_TRIAL, FlowStep.MDD_OTHER_SHORT_FOLLOWUP,
              FlowStep.NON_MDD)
    for d in sorted({d for d, *_ in rows if d != ALL_DEFINITIONS}):
        out[d] = {**boxes, **{str(g): steps[(d, g)] for g in groups}, **side}
    return out


def all_persons_parts(steps: Iterable[str]) -> list[str]:
    """The steps of definition ``all`` (among ``steps``) whose persons add up to all_persons:
    with_mdd_diagnosis, non_MDD and the excluded_<reason> side boxes (excluded_implausible_year_of_birth
    among them; not
    excluded_outside_followup_only, which cuts across them). The partition ``terminal_boxes``
    rests on, with the MDD boxes summed back to with_mdd_diagnosis; the report's disclosure
    audit needs it whole (it searches sums of at most a few parts otherwise)."""
    return [str(FlowStep.WITH_MDD_DIAGNOSIS), str(FlowStep.NON_MDD),
            *[str(s) for s in steps if s.startswith(EXCLUDED_PREFIX) and s != FlowStep.EXCLUDED_OUTSIDE_FOLLOWUP_ONLY]]


def definition_partitions() -> list[tuple[dict[str, int], str]]:
    """How a TRD definition's MDD steps nest: (``{step: sign}``, why), each signed sum zero.

    - mdd_included = with_adequate_trial + TRD_without_adequate_trial + MDD_other_no_adequate_trial
      (every MDD person has an adequate trial or not; without one: TRD by a somatic treatment,
      else MDD_other for want of a trial);
    - with_adequate_trial + TRD_without_adequate_trial = TRD + trMDD + MDD_other_short_followup
      (with a trial: TRD with a trial, trMDD or MDD_other for short follow-up).

    Both hold under every definition (TRD_without_adequate_trial is 0 under the trial-based
    rules). The report's disclosure audit declares them (``report.tables.build_audit``), so a
    hidden step is not recoverable from the others by these sums."""
    s = FlowStep
    return [
        ({str(s.MDD_INCLUDED): 1, str(s.WITH_ADEQUATE_TRIAL): -1, str(s.TRD_WITHOUT_ADEQUATE_TRIAL): -1,
          str(s.MDD_OTHER_NO_ADEQUATE_TRIAL): -1}, "MDD persons with or without an adequate trial"),
        ({str(s.WITH_ADEQUATE_TRIAL): 1, str(s.TRD_WITHOUT_ADEQUATE_TRIAL): 1, str(s.TRD): -1, str(s.TRMDD): -1,
          str(s.MDD_OTHER_SHORT_FOLLOWUP): -1}, "persons with a trial by status"),
    ]



def derive_cohort_flow(
    mdd: DataFrame, phenotypes: DataFrame, *, exclusion_sets: list[str], min_diagnoses: int
) -> DataFrame:
    """COHORT_FLOW as a (tiny) Spark DataFrame."""
    rows = cohort_flow_rows(mdd, phenotypes, exclusion_sets=exclusion_sets, min_diagnoses=min_diagnoses)
    return mdd.sparkSession.createDataFrame(rows, COHORT_FLOW.struct)
