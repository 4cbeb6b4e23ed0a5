"""The study's vocabulary: statuses, exclusion reasons, contrasts, flow steps, fit failures.

One module of ``StrEnum``s shared by phenotypes, cohort, models and report (the privacy audit
included), so a status or step is spelled once. A ``StrEnum`` member *is* its string value
(``Status.TRD == "TRD"``, ``str(Status.TRD) == "TRD"``, f-strings give the value), so written
tables, manifests and reports carry the same strings as before. Two cautions: rows handed to
``SparkSession.createDataFrame`` must hold plain ``str`` (``str(member)``; Spark's Python
workers cannot unpickle an enum), and names from config (exclusion concept-set names such as
``bipolar``) are exclusion reasons too but are not members here.

A shared module: it imports nothing from the stage packages (tests/test_import_dag.py).
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """A person's status (PHENOTYPES ``status``, MDD stage ``mdd_status``; docs/phenotypes.md)."""

    MDD = "MDD"  # MDD stage only: meets the MDD rule, before any TRD definition
    NON_MDD = "non_MDD"  # controls
    EXCLUDED = "excluded"  # flagged with an exclusion reason, never dropped
    TRD = "TRD"
    TRMDD = "trMDD"  # MDD with an adequate trial, not TRD, long enough follow-up
    MDD_OTHER = "MDD_other"  # MDD, neither TRD nor trMDD


# The MDD persons under a TRD definition (Cox population, MDD cases), in reporting order.
MDD_STATUSES: tuple[Status, ...] = (Status.TRD, Status.TRMDD, Status.MDD_OTHER)
# Statuses that enter the analysis frame (``excluded`` persons do not).
ANALYSED_STATUSES: tuple[Status, ...] = (*MDD_STATUSES, Status.NON_MDD)


class ExclusionReason(StrEnum):
    """Fixed values of ``exclusion_reason`` (phenotypes.mdd / phenotypes.trd docstrings).

    The names of ``phenotypes.mdd.exclude_concept_sets`` (config) are reasons as well.
    """

    # Every person, before any other reason: a year_of_birth outside OHDSI DQD's plausible range
    # or an age at the end of observation below 0 or above 120 (phenotypes.persons.
    # birth_implausible_expr); no age covariate or age rule can be read from it.
    IMPLAUSIBLE_YEAR_OF_BIRTH = "implausible_year_of_birth"
    UNDER_AGE = "under_18_at_index"  # named for the default min_age_at_index of 18
    DEPRESSION_NOT_MDD = "depression_not_mdd"
    ANTIDEPRESSANT_NO_MDD = "antidepressant_no_mdd"
    # Not MDD, no reason above, and no evidence of shared EHR data (config omop.ehr_evidence):
    # no record could show a diagnosis or a drug, so the person is no control (docs/phenotypes.md "Study population").
    NO_EHR_DATA = "no_ehr_data"
    NO_ADEQUATE_TRIAL = "no_adequate_trial"  # MDD_other
    SHORT_FOLLOWUP = "short_followup"  # MDD_other


# OMOP "Condition Status" concepts (condition_occurrence.condition_status_concept_id) of a
# diagnosis that is not (yet) established: 32899 "Preliminary diagnosis" and 32892 "Condition to be
# diagnosed by procedure", the vocabulary's rule-out (the condition a test or procedure is done to
# confirm or exclude, the code an order or claim carries to justify it). OHDSI/Vocabulary-v5.0 made
# the Condition Status concepts in one alphabetical run from 32890 ('Admission diagnosis', 'Cause of
# death', 'Condition to be diagnosed by procedure', 'Confirmed diagnosis', ...); public lists of the
# vocabulary name 32892 so, and the Oxford OMOP mapper's 32893 "Confirmed diagnosis" and 32899 fit
# that run. Read as a diagnosis, a rule-out MDD code beside one formal code made a person MDD, and one
# dated before the first formal code became the index (field case round 23).
# OHDSI ETLs map "possible diagnosis of" qualifiers to 32899
# (ETL-LambdaBuilder Optum Panther: 'Possible diagnosis of' -> 32899; the Oxford OMOP mapper:
# NHS basis-of-diagnosis 1/2 -> 32899, 4/5 -> 32893 "Confirmed diagnosis"). Also 4033240, the SNOMED
# "Preliminary diagnosis" that the CDM's own documentation recommended for this column before the
# Condition Status vocabulary existed (OHDSI/CommonDataModel CONDITION_OCCURRENCE convention 10:
# admitting 4203942, final 4230359, preliminary 4033240; quoted in OHDSI/Atlas#404), which ETLs
# written to that convention still load: read as a diagnosis, such a record made a second MDD date
# or an earlier index (field case round 21). Such a record never counts as an MDD diagnosis (docs/phenotypes.md
# "Concepts"; phenotypes.mdd.derive_mdd).
PRELIMINARY_DIAGNOSIS_STATUS_IDS: frozenset[int] = frozenset({32892, 32899, 4033240})

# A diagnosis written "History of" (a past disorder noted at this visit): condition_status_concept_id
# 4188893, the status OHDSI's ETL-LambdaBuilder gives it (Optum EHR diagnosis_status 'History of' ->
# 4188893, beside 'Possible diagnosis of' -> 32899; earlier versions of that ETL loaded only
# 'Diagnosis of' rows). Its date is when the history was noted, not a diagnosis: such a record never
# counts as an MDD diagnosis either (docs/phenotypes.md "Concepts"; phenotypes.mdd.derive_mdd).
HISTORY_OF_STATUS_IDS: frozenset[int] = frozenset({4188893})
# Statuses whose record is no dated MDD diagnosis (not a distinct date, never the index), though it
# still excludes and still keeps a person out of the controls.
NOT_A_DIAGNOSIS_STATUS_IDS: frozenset[int] = PRELIMINARY_DIAGNOSIS_STATUS_IDS | HISTORY_OF_STATUS_IDS

# OMOP drug_exposure.drug_type_concept_id of a record that is one administration of a drug (a dose
# given on a ward, a medication administration record), not a prescription or a dispensing: 32818
# "EHR administration record" (Type Concept vocabulary, CDM v5.4; e.g. the Oxford OMOP mapper's SACT
# administrations) and the older Drug Type concepts an OHDSI FHIR mapping reads as
# MedicationAdministration (OMOPonFHIR's OmopMedicationStatement: 38000179 "Physician administered
# drug (identified as procedure)", 38000180 "Inpatient administration", 43542356 / 43542357 /
# 43542358 "Physician administered drug (identified from EHR problem list / referral record / EHR
# observation)", 581373 "Physician administered drug (identified from EHR order)"). Such a record
# with no end after its start and no days_supply covers its own day, not the default length of an
# order (phenotypes.trials.exposure_end_expr; field case round 22): read as a 30-day order, 13
# daily doses on a ward made a 42-day adequate trial.
ADMINISTRATION_DRUG_TYPE_IDS: frozenset[int] = frozenset({32818, 38000179, 38000180, 43542356, 43542357, 43542358,
                                                          581373})

# OMOP drug_exposure.drug_type_concept_id of a prescription dispensed through a mail-order pharmacy: 38000176
# (Drug Type vocabulary; e.g. OHDSI ETL-LambdaBuilder's Optum claims: MAIL_IND 'Y' -> 38000176, else 38000175
# dispensed in pharmacy). OHDSI Themis' ratified drug_exposure_end_date convention (Themis #57, CDM #156): with
# no end date and no days_supply, a mail-order prescription ends at start + 89 days (a written one at start + 29,
# an administration record on its start). Such a record covers ``trials.mail_order_days_supply`` days, not the
# default order length (phenotypes.trials.exposure_end_expr; session 53: a 90-day mail-order fill without a
# days_supply made a 30-day exposure, no adequate trial).
MAIL_ORDER_DRUG_TYPE_IDS: frozenset[int] = frozenset({38000176})

# OMOP drug_strength units (UCUM vocabulary) of a daily dose the minimum-dose rule computes
# (phenotypes.stage.strength_per_unit_exprs; field case round 43): 8576 milligram, the unit of
# trials.ingredient_min_daily_dose, and 8587 milliliter, the unit of drug_exposure.quantity for a
# liquid whose strength is a concentration (numerator mg per denominator mL; OHDSI DrugUtilisation's
# "concentration formulation", DrugExposureDiagnostics' quantity check: a non-quantified liquid's
# quantity is its volume).
MILLIGRAM_UNIT_ID = 8576
MILLILITER_UNIT_ID = 8587


# The bounds of ExclusionReason.IMPLAUSIBLE_YEAR_OF_BIRTH (phenotypes.persons.birth_implausible_expr).
# OHDSI Data Quality Dashboard (OMOP_CDMv5.4_Field_Level.csv, PERSON.year_of_birth):
# plausibleValueLow 1850, plausibleValueHigh YEAR(GETDATE())+1 (the run's date there; here the
# data cutoff's year, the date the data end: implied by an age >= 0 at the end of observation).
PLAUSIBLE_BIRTH_YEAR_LOW = 1850
# Ages at the end of observation above this are no person's: the longest documented human life
# is 122 years (Jeanne Calment, 1875-1997), so a person older than 120 at the end of their record
# has an unrecorded death or a wrong year of birth (DQD's low bound, 1850, still allows 173 years
# at a 2023 cutoff). An analysis constant like DQD's bounds, not a study setting: no config knob.
# The models refuse an analysis frame holding an age outside 0..120 (models.covariates).
MAX_PLAUSIBLE_AGE_YEARS = 120


class Contrast(StrEnum):
    """Case-control contrasts of the logistic models (``models.contrasts``)."""

    TRD_VS_NONMDD = "trd_vs_nonmdd"
    TRMDD_VS_NONMDD = "trmdd_vs_nonmdd"
    TRD_VS_TRMDD = "trd_vs_trmdd"
    MDD_VS_NONMDD = "mdd_vs_nonmdd"


# contrast -> (statuses coded 1, statuses coded 0); other statuses are left out of the fit.
# Keyed by the contrast's value, so a plain str from config or a table looks it up.
CONTRAST_STATUSES: dict[str, tuple[tuple[Status, ...], tuple[Status, ...]]] = {
    Contrast.TRD_VS_NONMDD: ((Status.TRD,), (Status.NON_MDD,)),
    Contrast.TRMDD_VS_NONMDD: ((Status.TRMDD,), (Status.NON_MDD,)),
    Contrast.TRD_VS_TRMDD: ((Status.TRD,), (Status.TRMDD,)),
    Contrast.MDD_VS_NONMDD: (MDD_STATUSES, (Status.NON_MDD,)),
}

# The ``definition`` value meaning every TRD definition at once: cohort-flow rows counted
# before the split by definition, the consistency row over all definitions.
ALL_DEFINITIONS = "all"


class FlowStep(StrEnum):
    """Fixed steps of the phenotype stage's cohort flow (phenotypes.flow docstring).

    Steps named after an exclusion reason are built by ``after_exclusion_step`` and
    ``excluded_step``.
    """

    ALL_PERSONS = "all_persons"
    WITH_MDD_DIAGNOSIS = "with_mdd_diagnosis"
    MDD_MIN_DISTINCT_DATES = "mdd_min_distinct_dates"
    MDD_INCLUDED = "mdd_included"
    NON_MDD = "non_MDD"
    # Persons excluded for an implausible year of birth (ExclusionReason.IMPLAUSIBLE_YEAR_OF_BIRTH),
    # MDD or not: a box of their own, right after all_persons; the other steps count the rest.
    EXCLUDED_IMPLAUSIBLE_YEAR_OF_BIRTH = "excluded_implausible_year_of_birth"
    NO_OBSERVATION_PERIOD = "no_observation_period"
    EXCLUDED_OUTSIDE_FOLLOWUP_ONLY = "excluded_outside_followup_only"
    WITH_ADEQUATE_TRIAL = "with_adequate_trial"
    # TRD with no adequate antidepressant trial: the somatic rule (ECT/TMS/esketamine after
    # the MDD index) needs none, so these TRD persons are not under with_adequate_trial.
    TRD_WITHOUT_ADEQUATE_TRIAL = "TRD_without_adequate_trial"
    TRD = "TRD"
    TRMDD = "trMDD"
    MDD_OTHER_NO_ADEQUATE_TRIAL = "MDD_other_no_adequate_trial"
    MDD_OTHER_SHORT_FOLLOWUP = "MDD_other_short_followup"


AFTER_EXCLUSION_PREFIX = "after_exclusion_"
EXCLUDED_PREFIX = "excluded_"


def after_exclusion_step(reason: str) -> str:
    """Flow step of the MDD persons left after removing those whose first reason is ``reason``."""
    return f"{AFTER_EXCLUSION_PREFIX}{reason}"


def excluded_step(reason: str) -> str:
    """Flow step counting non-MDD persons kept out of the controls for ``reason``.

    A config exclusion set (bipolar, ...) gets ``_without_mdd`` so it does not read as the MDD
    exclusion of the same name.
    """
    fixed = reason in (ExclusionReason.IMPLAUSIBLE_YEAR_OF_BIRTH, ExclusionReason.DEPRESSION_NOT_MDD,
                       ExclusionReason.ANTIDEPRESSANT_NO_MDD, ExclusionReason.NO_EHR_DATA)
    return f"{EXCLUDED_PREFIX}{reason}" if fixed else f"{EXCLUDED_PREFIX}{reason}_without_mdd"


class DatasetFlowStep(StrEnum):
    """Steps of the cohort stage's per-dataset flow (cohort.flow), before the per-status rows."""

    WITH_PGS = "genotyped persons with PGS"
    UNRELATED = "after removing related persons"
    WITH_ANCESTRY = "with genetic ancestry and PCs"
    IN_FRAME = "in the analysis frame (sex male/female, analysed status)"


def status_step(status: str) -> str:
    """Per-dataset flow step of one analysed status (``status TRD`` ...)."""
    return f"status {status}"


class FitFailure(StrEnum):
    """Why a score's PC-adjusted standardisation could not be fitted (it falls back to the overall z)."""

    # Fewer persons with PCs than report.small_count_threshold (or than the PCs + 2): one reason
    # for every dataset under the threshold, so it bounds no count below "<T" (cohort.standardise).
    TOO_FEW_SAMPLES = "too_few_samples"
    COLLINEAR_PCS = "collinear_pcs"  # X'X of [1, PCs] is rank deficient
    VARIANCE_DIVERGED = "variance_diverged"  # IRLS produced non-finite coefficients
    VARIANCE_NOT_CONVERGED = "variance_not_converged"  # IRLS still moving after max_iter
    MISSING_SCORES = "missing_scores"  # a person with PCs has no value of the score


class ModelFailure(StrEnum):
    """Why a logistic or Cox fit gave no estimate: ``failure_reason`` of the model tables.

    Set exactly when ``converged`` is false; the human ``note`` beside it says more (never a count).
    """

    PGS_ABSENT = "pgs_absent"  # the score is not a column of the analysis frame
    TOO_FEW_CASES = "too_few_cases"  # fewer than models.min_cases cases (logistic)
    TOO_FEW_CONTROLS = "too_few_controls"  # fewer than models.min_cases controls (logistic)
    TOO_FEW_EVENTS = "too_few_events"  # fewer than models.min_cases TRD events (Cox)
    PGS_ZERO_VARIANCE = "pgs_zero_variance"
    SINGULAR_DESIGN = "singular_design"  # collinear PGS / covariates
    PERFECT_SEPARATION = "perfect_separation"  # the MLE does not exist
    QUASI_SEPARATION = "quasi_separation"  # some persons classified exactly; no convergence
    NOT_CONVERGED = "not_converged"
    SINGULAR_INFORMATION = "singular_information"  # information matrix not invertible at the fit
    NON_FINITE_ESTIMATE = "non_finite_estimate"  # beta or its SE not finite
    # The ratio exp(beta) or a 95% CI bound exp(beta +/- 1.96 se) is not a positive finite double:
    # |beta| + 1.96 se beyond ~709 (a huge SE: a near-constant PGS, near-separation). Withheld, as
    # R / statsmodels / lifelines would print Inf or 0 as if a number (session 54 cox).
    RATIO_OUT_OF_RANGE = "ratio_out_of_range"


class HiddenEstimatesNote(StrEnum):
    """The ``note`` of an exported model row whose estimates the small-count rule leaves out
    (report.tables.hide_estimates_of_hidden_counts): results, cox, difference, replication and
    meta rows say which count; a consistency row says which estimates it would use."""

    HIDDEN_COUNT = "estimates not shown: a count of this model is hidden (small-count rule)"
    HIDDEN_META = "estimates not shown: a meta-analysis estimate it uses is hidden (small-count rule)"
    # A fit (or a row derived from one) of a score of one or a few rare variants in its dataset
    # (report.tables.carrier_count_scores): its per-SD estimates count the variants' carriers.
    CARRIER_COUNT_SCORE = ("estimates not shown: in this dataset the score takes few values, most persons share "
                           "one or a few persons carry much of its variance, so its estimates count carriers of its "
                           "variants (small-count rule)")


class ReplicationNote(StrEnum):
    """The ``note`` of an exported replication row whose shown ``p_adjusted_discovery`` is not
    below ``models.alpha`` (report.tables.corrections_over_shown): the row was selected on the
    corrected p over every fit of the discovery family, hidden fits included, and the export
    shows the one over its shown fits only (a hidden fit's p would be read back from it)."""

    SELECTED_OVER_EVERY_FIT = ("significant on its corrected p over every fit of its discovery family, hidden fits "
                               "included; the p_adjusted_discovery shown is over the shown fits only")


# The genetic ancestry groups of the All of Us ancestry file (``ancestry_preds.tsv``'s ancestry_pred:
# African, Admixed American, East Asian, European, Middle Eastern, South Asian; the gnomAD / HGDP-1kG
# labels AoU's classifier predicts). A label of a group of fewer than report.small_count_threshold
# persons is named in a log line or the report only when it is one of these: a user's file holding
# per-person labels (an ID as the label) would otherwise print them (privacy, session 50 privguard;
# README "Privacy"). Such groups are said as ``UNNAMED_ANCESTRY``, all of a dataset as one.
ANCESTRY_GROUPS = frozenset({"afr", "amr", "eas", "eur", "mid", "sas"})
UNNAMED_ANCESTRY = "other (not named)"
