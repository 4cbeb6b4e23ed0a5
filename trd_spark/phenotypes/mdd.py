"""MDD cases, exclusions and non-MDD controls from condition_occurrence and drug_exposure.

One row per person with the person's MDD group before any TRD definition is applied:

- ``MDD``: >= ``min_diagnoses`` records of the MDD concept set on DISTINCT dates (two codes
  on one visit are one diagnosis); ``mdd_index_date`` = the first such date.
- ``excluded`` (flagged, never dropped), reasons in this precedence:
  0. any person (MDD or not) whose year of birth gives no usable age -> ``implausible_year_of_birth``
     (``persons.birth_implausible_expr``: a year_of_birth before 1850, OHDSI DQD's
     plausibleValueLow, or an age at the end of observation below 0 or above 120: a 2099 or 1800
     placeholder); such a person can be neither a case nor a control, since every age rule and the
     models' age covariate read that age;
  1. MDD persons with any diagnosis (ever) in an ``exclude_concept_sets`` set -> the set's
     name (``bipolar``, ``schizophrenia_spectrum``; the first in config order wins);
  2. MDD persons younger than ``min_age_at_index`` at index -> ``under_18_at_index`` (named
     for the default of 18);
  3. not MDD but any depression-spectrum or MDD-set diagnosis -> ``depression_not_mdd``;
  4. not MDD, no depression code, but an exclusion diagnosis -> that set's name (controls
     are kept free of bipolar/psychotic disorders, like cases);
  5. not MDD, no diagnosis above, but any antidepressant exposure -> ``antidepressant_no_mdd``
     (a drug record of ``antidepressant_ids``, or a procedure record of
     ``antidepressant_procedure_ids``: esketamine given in clinic, HCPCS G2082/G2083);
  6. not MDD, none of the above, and no evidence of EHR data (``ehr_persons``, config
     ``omop.ehr_evidence``) -> ``no_ehr_data``: a person whose EHR was never shared (All of Us:
     a person row from The Basics survey and nothing else) has no record that could show a
     diagnosis or a drug, so their "no depression, no antidepressant" is unknown, not observed.
- ``non_MDD``: none of the above (EHR data, no depression code ever, no antidepressant ever, no
  exclusion diagnosis).

Two views of the events (docs/phenotypes.md): the MDD diagnosis count and index use records
within follow-up (``restrict_to_followup``); "ever" (exclusion diagnoses, and everything that
keeps a person out of the controls) means the WHOLE record: any date, before, between or after
observation periods, after death or after the data cutoff. A depression code or an
antidepressant outside follow-up cannot make anyone MDD or TRD, but it does make the person
no control. ``excluded_outside_followup_only`` flags persons whose reason comes only from
records outside follow-up (counted in the cohort flow).

A preliminary diagnosis (``condition_status_concept_id`` in ``vocabulary.
PRELIMINARY_DIAGNOSIS_STATUS_IDS``: OMOP's "Preliminary diagnosis", where ETLs put possible
diagnoses, and its rule-out, "Condition to be diagnosed by procedure") and a "history of" record
(``vocabulary.HISTORY_OF_STATUS_IDS``: a past disorder noted at a visit) are no MDD diagnosis
(``vocabulary.NOT_A_DIAGNOSIS_STATUS_IDS``): such a record is not one of the distinct dates and is
never the index. Like a record outside follow-up it still keeps the person out of the controls,
and a preliminary or past bipolar or schizophrenia-spectrum code still excludes (both rules err
towards a clean case and a clean control). Rationale (docs/phenotypes.md "Concepts"): the study's MDD is a
formal diagnosis dated when it was made; a suspected diagnosis is not one, and a history record
dates the note, not the disorder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from trd_spark.config import MddSettings
from trd_spark.phenotypes.persons import age_years_expr, birth_implausible_expr
from trd_spark.vocabulary import NOT_A_DIAGNOSIS_STATUS_IDS, ExclusionReason, Status

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame


def _excl_col(name: str) -> str:
    return f"has_{name}"


def _ids(ids) -> list[int]:
    return sorted(ids)


def derive_mdd(
    persons: DataFrame,
    condition_occurrence: DataFrame,
    drug_exposure: DataFrame,
    *,
    mdd_ids: frozenset[int],
    depression_ids: frozenset[int],
    exclusion_ids: dict[str, frozenset[int]],
    antidepressant_ids: frozenset[int],
    settings: MddSettings,
    record_conditions: DataFrame | None = None,
    record_drugs: DataFrame | None = None,
    procedures: DataFrame | None = None,
    record_procedures: DataFrame | None = None,
    antidepressant_procedure_ids: frozenset[int] = frozenset(),
    ehr_persons: DataFrame | None = None,
) -> DataFrame:
    """Per person (every row of ``persons``): MDD group, reason and index date.

    Inputs: ``persons`` (PERSONS: year_of_birth, birth_date, observation_end_date,
    age_at_observation_end, has_observation_period, sex_at_birth), conditions (person_id,
    condition_concept_id, condition_start_date, optionally condition_status_concept_id: a
    preliminary or history-of status drops the record from the MDD count and index) and drug exposures (person_id,
    drug_concept_id) within follow-up; ``record_conditions`` / ``record_drugs``: the same
    columns over the whole record, any date (None: the follow-up frames, i.e. no records
    outside follow-up); ``procedures`` / ``record_procedures`` (person_id,
    procedure_concept_id; within follow-up / whole record, None: no procedure records): a record of
    ``antidepressant_procedure_ids`` is an antidepressant exposure for the control rule as a drug
    record of ``antidepressant_ids`` is (study.md: controls have no antidepressant exposure);
    concept-ID sets (``concepts.expand_concept_set``); ``exclusion_ids`` ordered by precedence;
    ``ehr_persons`` (person_id, duplicates allowed; optionally in_release, boolean: whether the row is
    evidence, else every row is): the persons with a row that is evidence of EHR data, the
    others never controls (reason ``no_ehr_data``, the last); None: no such rule (every person may be
    a control; config ``omop.ehr_evidence: none``).
    Output columns: person_id, mdd_status (MDD | non_MDD | excluded), exclusion_reason,
    mdd_index_date (first MDD-set date, set for every person meeting the diagnosis-count
    rule even if later excluded), n_mdd_dates (distinct MDD-set dates), has_mdd_diagnosis,
    has_<exclusion set> flags (whole record), excluded_outside_followup_only,
    has_observation_period, followup_end_date (PERSONS observation_end_date), sex_at_birth,
    birth_date, ehr_rows_after_cutoff_only (rows in ``ehr_persons``, none of them evidence: under
    any_record every one dated after the data cutoff; false without ``ehr_persons``).
    """
    concept = F.col("condition_concept_id")
    is_mdd = concept.isin(_ids(mdd_ids))
    # A preliminary (rule-out) or history-of record is no MDD diagnosis; it counts everywhere
    # else. Frames without the optional status column (tests' hand-made frames) have none.
    status_col = "condition_status_concept_id"
    is_diagnosis = (is_mdd & ~F.coalesce(F.col(status_col).isin(_ids(NOT_A_DIAGNOSIS_STATUS_IDS)), F.lit(False))
                    if status_col in condition_occurrence.columns else is_mdd)
    # The MDD set counts as depression too, even if a vocabulary puts it outside the spectrum set.
    is_dep = concept.isin(_ids(mdd_ids | depression_ids))

    def flags(suffix: str) -> list:
        return [F.max(is_dep.cast("int")).alias(f"_dep{suffix}")] + [
            F.max(concept.isin(_ids(ids)).cast("int")).alias(_excl_col(n) + suffix) for n, ids in exclusion_ids.items()
        ]

    # One exchange by person for the distinct-date count: a countDistinct per person plans two
    # (by person and date, then by person); both of its aggregates accept rows already
    # partitioned by person_id, so this repartition is the only shuffle of the conditions.
    in_followup = condition_occurrence.repartition("person_id").groupBy("person_id").agg(
        F.countDistinct(F.when(is_diagnosis, F.col("condition_start_date"))).alias("n_mdd_dates"),
        F.min(F.when(is_diagnosis, F.col("condition_start_date"))).alias("first_mdd_date"),
        *flags("_fu"),
    )
    whole_record = (condition_occurrence if record_conditions is None else record_conditions).groupBy(
        "person_id").agg(*flags(""))

    def users(drugs: DataFrame, procs: DataFrame | None, col: str) -> DataFrame:
        exposed = drugs.where(F.col("drug_concept_id").isin(_ids(antidepressant_ids))).select("person_id")
        if procs is not None and antidepressant_procedure_ids:
            exposed = exposed.unionByName(
                procs.where(F.col("procedure_concept_id").isin(_ids(antidepressant_procedure_ids))).select("person_id"))
        return exposed.distinct().withColumn(col, F.lit(1))

    flag_cols = ["_dep", "_dep_fu", *[_excl_col(n) + s for n in exclusion_ids for s in ("", "_fu")]]
    df = (
        persons.select("person_id", "sex_at_birth", "birth_date", "observation_end_date", "has_observation_period",
                       birth_implausible_expr(F.col("year_of_birth"), F.col("age_at_observation_end"))
                       .alias("_implausible_birth"))
        .join(in_followup, "person_id", "left")
        .join(whole_record, "person_id", "left")
        .join(users(drug_exposure, procedures, "_ad_fu"), "person_id", "left")
        .join(users(drug_exposure if record_drugs is None else record_drugs,
                    procedures if record_procedures is None else record_procedures, "_ad"), "person_id", "left")
        .fillna(0, subset=["n_mdd_dates", "_ad", "_ad_fu", *flag_cols])
    )
    if ehr_persons is not None:
        # One row per person: 1 with a row that is evidence, 0 with rows none of which is (any_record: all
        # dated after the cutoff), null without rows. One aggregate, as the distinct it replaces: the
        # persons of the second kind are counted on this pass (``ehr_rows_after_cutoff_only``) instead of
        # by a job scanning the clinical tables again (session 48).
        evidence = F.col("in_release") if "in_release" in ehr_persons.columns else F.lit(True)
        df = df.join(ehr_persons.groupBy("person_id").agg(F.max(evidence.cast("int")).alias("_ehr_rows")),
                     "person_id", "left").withColumn("_ehr", F.coalesce(F.col("_ehr_rows"), F.lit(0)))
    meets_count = F.col("n_mdd_dates") >= settings.min_diagnoses
    index_date = F.when(meets_count, F.col("first_mdd_date"))
    under_age = age_years_expr(F.col("birth_date"), index_date) < settings.min_age_at_index

    def reason_expr(suffix: str) -> Column:
        """Reasons in precedence order (module docstring), from the flags with ``suffix``."""
        has = {n: F.col(_excl_col(n) + suffix) == 1 for n in exclusion_ids}
        no_reason = F.lit(None).cast("string")
        cases = [(F.col("_implausible_birth"), F.lit(ExclusionReason.IMPLAUSIBLE_YEAR_OF_BIRTH))]
        cases += [(meets_count & has[n], F.lit(n)) for n in exclusion_ids]
        cases += [(meets_count & under_age, F.lit(ExclusionReason.UNDER_AGE)), (meets_count, no_reason)]
        cases += [((F.col(f"_dep{suffix}") == 1) | (F.col("n_mdd_dates") > 0), F.lit(ExclusionReason.DEPRESSION_NOT_MDD))]
        cases += [(has[n], F.lit(n)) for n in exclusion_ids]
        cases += [(F.col(f"_ad{suffix}") == 1, F.lit(ExclusionReason.ANTIDEPRESSANT_NO_MDD))]
        if ehr_persons is not None:  # the same under both suffixes: never "outside follow-up only"
            cases += [(F.col("_ehr") == 0, F.lit(ExclusionReason.NO_EHR_DATA))]
        out = F.when(*cases[0])
        for cond, value in cases[1:]:
            out = out.when(cond, value)
        return out

    reason = reason_expr("")
    # Excluded only because of records outside follow-up: follow-up records alone give no reason.
    outside_only = reason.isNotNull() & reason_expr("_fu").isNull()

    status = (
        F.when(F.col("exclusion_reason").isNotNull(), F.lit(Status.EXCLUDED))
        .when(meets_count, F.lit(Status.MDD))
        .otherwise(F.lit(Status.NON_MDD))
    )
    return (
        df.withColumn("exclusion_reason", reason)
        .withColumn("excluded_outside_followup_only", outside_only)
        .withColumn("mdd_status", status)
        .select(
            "person_id",
            "mdd_status",
            "exclusion_reason",
            index_date.alias("mdd_index_date"),
            F.col("n_mdd_dates").cast("int").alias("n_mdd_dates"),
            (F.col("n_mdd_dates") > 0).alias("has_mdd_diagnosis"),
            *[(F.col(_excl_col(n)) == 1).alias(_excl_col(n)) for n in exclusion_ids],
            "excluded_outside_followup_only",
            "has_observation_period",
            F.col("observation_end_date").alias("followup_end_date"),
            "sex_at_birth",
            "birth_date",
            (F.coalesce(F.col("_ehr_rows") == 0, F.lit(False)) if ehr_persons is not None else F.lit(False))
            .alias("ehr_rows_after_cutoff_only"),
        )
    )
