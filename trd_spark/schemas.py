"""Declared schemas of every table a stage writes, checked when the stage writes it.

Columns are documented here once (docs/outputs.md is generated from them). Keys are given per table. Dates are
Spark ``DateType``; IDs are ``long`` (OMOP ``person_id``); ``sample_id`` strings in genotype
files are the person_id as text (AoU convention) and are cast on join.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from trd_spark.errors import TrdSparkError

# A person_id written as text the way OMOP / All of Us write it: no sign, no leading zeros, no
# decimals, no spaces (at most 18 digits: a long). The one rule for every file that names
# persons by text (genotype sample IDs, sample maps, ancestry and relatedness files): a lenient
# cast would make ``01001`` and ``1001`` one person. Match it whole (``re.fullmatch``, or
# ``^(...)$`` in Spark's ``rlike``).
PERSON_ID_TEXT = r"0|[1-9][0-9]{0,17}"


@dataclass(frozen=True)
class TableSchema:
    """A published table's name, key columns and typed, described columns."""
    name: str
    key: tuple[str, ...]
    columns: tuple[tuple[str, T.DataType, str], ...]  # (name, type, description)
    # Why the run log and summary give no row count of this table (None: they give it, as
    # ``rows_are_persons`` says): its number of rows tells what the export hides.
    rows_not_logged: str | None = None

    @property
    def names(self) -> list[str]:
        return [c[0] for c in self.columns]

    @property
    def struct(self) -> T.StructType:
        return T.StructType([T.StructField(n, t, True) for n, t, _ in self.columns])

    @property
    def rows_are_persons(self) -> bool:
        """True when a row count of this table counts persons or person-level records (it has
        ``person_id``): logs then show it with the small-count rule. Flows, counts, model rows
        and variants count steps, models or sites, and are shown plainly."""
        return "person_id" in self.names


def _s(name: str, key: tuple[str, ...], *cols: tuple[str, T.DataType, str], rows_not_logged: str | None = None
       ) -> TableSchema:
    return TableSchema(name, key, tuple(cols), rows_not_logged)


# One-letter type aliases keep the column tables below readable as tables.
S, L, D, I, B, Dt = T.StringType(), T.LongType(), T.DoubleType(), T.IntegerType(), T.BooleanType(), T.DateType()  # noqa: E741

# ---------------------------------------------------------------------------- pgs stage
PGS_SCORES = _s(
    "scores",
    ("dataset", "person_id", "pgs_id"),
    ("dataset", S, "dataset name from the config"),
    ("person_id", L, "OMOP person_id (the genotype sample ID as a number)"),
    ("pgs_id", S, "score identifier (PGS Catalog ID)"),
    ("score_sum", D, "sum over matched variants of effect_weight x effect-allele dosage (plink2 SCORE_SUM)"),
    ("allele_count", L, "alleles of the matched variants with a non-missing genotype: 2 each, 1 on chrY (males only) "
                        "and chrM (plink2 ALLELE_CT)"),
    ("score_avg", D, "score_sum / (2 x matched variants) (plink2 SCORE_AVG with mean imputation)"),
    ("n_missing", L, "matched variants with a missing genotype (mean-imputed or zero, per config)"),
    ("n_matched", L, "score variants matched in this dataset (plink2 DENOM = 2 x n_matched)"),
)

PGS_MATCH_SUMMARY = _s(
    "match_summary",
    ("dataset", "pgs_id"),
    ("dataset", S, "dataset name"),
    ("pgs_id", S, "score identifier"),
    ("trait", S, "trait from the trait panel"),
    ("domain", S, "domain from the trait panel"),
    ("n_variants", L, "variant rows of the scoring file, complex-allele rows (HLA/APOE: left out at the parse) "
                      "included, duplicate rows dropped (file check or match) not"),
    ("n_matched", L, "variants used in the score"),
    ("n_matched_ref_alt", L, "effect allele = ALT"),
    ("n_matched_alt_ref", L, "effect allele = REF"),
    ("n_matched_flipped", L, "matched after complementing both alleles (strand flip)"),
    ("n_ambiguous_dropped", L, "strand-ambiguous A/T or C/G variants dropped"),
    ("n_not_found", L, "variants absent from the genotypes (incl. positions that failed liftover, the "
                       "complex-allele rows and indels written not left-aligned, not_found_unnormalised)"),
    ("n_unreadable", L, "variants at a locus whose multi-allelic genotype row the reader skips (BGEN; WARNING)"),
    ("matched_fraction", D, "n_matched / n_variants"),
    ("n_matched_multiallelic", L, "of n_matched, variants scored at a multi-allelic genotype site (its alts in one "
                                  "row or given split; pgsc_calc leaves these out by default, plink2 scores them)"),
)

PGS_VARIANT_MATCHES = _s(
    "variant_matches",
    ("dataset", "pgs_id", "chrom", "pos", "effect_allele"),
    ("dataset", S, "dataset name"),
    ("pgs_id", S, "score identifier"),
    ("chrom", S, "contig as in the genotypes (e.g. chr1); null (and pos) when the scoring-file row has no "
               "position on the dataset's build (not_found)"),
    ("pos", I, "1-based position on the dataset's build"),
    ("effect_allele", S, "effect allele from the scoring file"),
    ("other_allele", S, "other allele from the scoring file (null when absent)"),
    ("effect_weight", D, "weight from the scoring file"),
    ("match_type", S, "ref_alt | alt_ref | ref_alt_flipped | alt_ref_flipped | ambiguous_dropped | not_found | "
                      "liftover_failed | multiallelic_unreadable | not_found_unnormalised (an indel written shifted right "
                      "in a repeat or anchored on its right, not found; docs/pgs.md \"Indel representations\")"),
    ("multiallelic", B, "the variant is scored at a multi-allelic genotype site (false when not matched)"),
)

# ---------------------------------------------------------------------------- phenotypes stage
PERSONS = _s(
    "persons",
    ("person_id",),
    ("person_id", L, "OMOP person_id"),
    ("sex_at_birth", S, "male | female | other (omop.sex_at_birth column, else gender_concept_id 8507/8532)"),
    ("year_of_birth", I, "year of birth"),
    ("birth_date", Dt, "birth date (birth_datetime when the month is known; year-only births 1 July)"),
    ("observation_end_date", Dt, "end of follow-up: min(last observation_period end, death, data cutoff)"),
    ("has_observation_period", B, "false: no usable observation_period row (none, or each one dropped: first day "
                                  "after the data cutoff, ending before the birth year, with neither date); followed "
                                  "to death or the data cutoff"),
    ("age_at_observation_end", D, "exact age in years at observation_end_date (calendar arithmetic)"),
)

ANTIDEPRESSANT_TRIALS = _s(
    "antidepressant_trials",
    ("person_id", "ingredient_concept_id", "trial_start_date"),
    ("person_id", L, "OMOP person_id"),
    ("ingredient_concept_id", L, "RxNorm ingredient reached through concept_ancestor"),
    ("ingredient_name", S, "ingredient concept_name"),
    ("trial_start_date", Dt, "first exposure start of the episode"),
    ("trial_end_date", Dt, "last exposure end of the episode (gaps <= persistence window merged), clipped at followup_end_date"),
    ("trial_days", I, "trial_end_date - trial_start_date + 1"),
    ("adequate", B, "trial_days >= min_trial_days and starts on/after MDD index - pre_index_window"),
)

PHENOTYPES = _s(
    "phenotypes",
    ("person_id", "definition"),
    ("person_id", L, "OMOP person_id"),
    ("definition", S, "TRD definition name from the config"),
    ("status", S, "TRD | trMDD | MDD_other | non_MDD | excluded"),
    ("exclusion_reason", S, "why status is excluded/MDD_other (null otherwise)"),
    ("mdd_index_date", Dt, "first MDD diagnosis (null if not MDD)"),
    ("trd_onset_date", Dt, "date the definition is met (null if not TRD)"),
    ("followup_end_date", Dt, "end of observation (status rules: TRD onset, trMDD follow-up)"),
    ("at_risk_end_date", Dt, "MDD only: the Cox time at risk's end (phenotypes.cox_time_at_risk; index_period: end "
                             "of the index's observation span, periods merged across gaps of at most "
                             "phenotypes.observation_period_gap_days days, capped at followup_end_date)"),
    ("time_to_trd_days", I, "days from MDD index to TRD onset (on/before at_risk_end_date) or censoring at "
                            "at_risk_end_date (MDD only)"),
    ("trd_event", I, "1 if TRD onset on/before at_risk_end_date, 0 if censored (MDD only)"),
    ("n_adequate_trials", I, "adequate antidepressant trials (distinct ingredients; MDD only)"),
    ("sex_at_birth", S, "male | female | other (as in persons)"),
    ("age_at_index", D, "age in years at the MDD index (MDD only)"),
    ("age_at_followup_end", D, "age in years at followup_end_date"),
)

COHORT_FLOW = _s(
    "cohort_flow",
    ("definition", "step"),
    ("definition", S, "TRD definition (or 'all' for steps before definitions)"),
    ("step_order", I, "order of the step"),
    ("step", S, "inclusion/exclusion step"),
    ("n", L, "persons remaining / in the group after the step"),
)

# ---------------------------------------------------------------------------- cohort stage
# Wide: one row per dataset x definition x person; PGS columns named by pgs_id (per SD).
ANALYSIS_FRAME_FIXED = _s(
    "analysis_frame",
    ("dataset", "definition", "person_id"),
    ("dataset", S, "dataset name"),
    ("definition", S, "TRD definition"),
    ("person_id", L, "OMOP person_id"),
    ("status", S, "TRD | trMDD | MDD_other | non_MDD"),
    ("ancestry", S, "genetic ancestry group (ancestry_pred)"),
    ("age", D, "age in years at observation end (the logistic models' age)"),
    ("age_at_index", D, "MDD only: age in years at the MDD index (the Cox models' age: their time origin)"),
    ("sex_female", I, "1 female, 0 male"),
    ("time_to_trd_days", I, "MDD only: days from index to TRD or censoring"),
    ("trd_event", I, "MDD only: 1 TRD observed, 0 censored"),
)
# plus pc1..pcK (double) and one double column per pgs_id (PGS per SD in the dataset).

# ---------------------------------------------------------------------------- models stage
LOGISTIC_RESULTS_COLUMNS = [
    "dataset", "definition", "contrast", "pgs_id", "trait", "domain", "n", "n_cases",
    "beta", "se", "odds_ratio", "ci_low", "ci_high", "p", "p_bonferroni", "q_fdr",
    "converged", "failure_reason", "note",
]
COX_RESULTS_COLUMNS = [
    "dataset", "definition", "pgs_id", "trait", "domain", "n", "n_events",
    "beta", "se", "hazard_ratio", "ci_low", "ci_high", "p", "ph_statistic", "ph_p", "converged", "failure_reason",
    "note",
]


def check_spark(df: DataFrame, schema: TableSchema, *, extra_ok: bool = False) -> DataFrame:
    """Check that ``df`` has the schema's columns with the schema's types; select them in order."""
    extra = check_struct(df.schema, schema, extra_ok=extra_ok)
    return df.select(*schema.names, *(extra if extra_ok else []))


def check_struct(struct: T.StructType, schema: TableSchema, *, extra_ok: bool = False) -> list[str]:
    """``check_spark``'s check alone, on a table's Spark schema ``struct``: TrdSparkError naming
    the table and its problems, else the columns ``schema`` does not declare (in ``struct``'s
    order). No plan is built (a select of every column is one py4j round trip per column)."""
    have = {f.name: f.dataType for f in struct.fields}
    problems = []
    for name, typ, _ in schema.columns:
        if name not in have:
            problems.append(f"missing column {name}")
        elif have[name] != typ:
            problems.append(f"column {name} is {have[name].simpleString()}, expected {typ.simpleString()}")
    extra = [c for c in have if c not in schema.names]
    if extra and not extra_ok:
        problems.append(f"unexpected columns {extra}")
    if problems:
        raise TrdSparkError(f"table {schema.name} does not match its schema: {'; '.join(problems)}")
    return extra


def check_pandas(df: pd.DataFrame, columns: list[str], name: str) -> pd.DataFrame:
    """``df`` restricted to ``columns`` in order; TrdSparkError naming the table when any is missing."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise TrdSparkError(f"table {name} is missing columns {missing}")
    return df[columns]



def check_arrow(table: Any, schema: TableSchema) -> Any:
    """The pyarrow Table ``table`` when its columns are ``schema``'s, in order, each of its
    declared type (``pyspark.sql.pandas.types.to_arrow_schema``; a dictionary-encoded column by
    its values' type); TrdSparkError naming the table and the columns otherwise."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    want = to_arrow_schema(schema.struct)
    got = [(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type) for f in table.schema]
    if got != [(f.name, f.type) for f in want]:
        raise TrdSparkError(f"table {schema.name} has columns {got}, not its declared {[(f.name, f.type) for f in want]}")
    return table

LOGISTIC_RESULTS = _s(
    "logistic",
    ("dataset", "definition", "contrast", "pgs_id"),
    ("dataset", S, "dataset name"),
    ("definition", S, "TRD definition"),
    ("contrast", S, "trd_vs_nonmdd | trmdd_vs_nonmdd | trd_vs_trmdd | mdd_vs_nonmdd"),
    ("pgs_id", S, "score identifier"),
    ("trait", S, "trait (trait panel)"),
    ("domain", S, "domain (trait panel)"),
    ("n", L, "persons in the model"),
    ("n_cases", L, "persons with outcome 1"),
    ("beta", D, "log odds ratio per SD of PGS, adjusted for the covariates"),
    ("se", D, "standard error of beta"),
    ("odds_ratio", D, "exp(beta)"),
    ("ci_low", D, "lower 95% Wald confidence limit of the odds ratio"),
    ("ci_high", D, "upper 95% Wald confidence limit of the odds ratio"),
    ("p", D, "Wald p-value"),
    ("p_bonferroni", D, "Bonferroni-adjusted p within (dataset, definition, contrast)"),
    ("q_fdr", D, "Benjamini-Hochberg q-value within (dataset, definition, contrast)"),
    ("converged", B, "false when the fit failed (then estimates are null)"),
    ("failure_reason", S, "why the fit failed (trd_spark.vocabulary.ModelFailure: too_few_cases, "
                          "perfect_separation, ...); null when it converged"),
    ("note", S, "why a fit failed or what was adjusted (e.g. a constant covariate dropped)"),
)
COX_RESULTS = _s(
    "cox",
    ("dataset", "definition", "pgs_id"),
    ("dataset", S, "dataset name"),
    ("definition", S, "TRD definition"),
    ("pgs_id", S, "score identifier"),
    ("trait", S, "trait (trait panel)"),
    ("domain", S, "domain (trait panel)"),
    ("n", L, "MDD persons in the model"),
    ("n_events", L, "persons reaching TRD during follow-up"),
    ("beta", D, "log hazard ratio per SD of PGS, adjusted for the covariates"),
    ("se", D, "standard error of beta"),
    ("hazard_ratio", D, "exp(beta)"),
    ("ci_low", D, "lower 95% confidence limit of the hazard ratio"),
    ("ci_high", D, "upper 95% confidence limit of the hazard ratio"),
    ("p", D, "Wald p-value"),
    ("ph_statistic", D, "proportional-hazards test of the PGS term: chi-square (1 df) on scaled Schoenfeld "
                        "residuals vs transformed time (lifelines proportional_hazard_test, models.ph_time_transform)"),
    ("ph_p", D, "p-value of that test (small: the PGS hazard ratio changes over follow-up)"),
    ("converged", B, "false when the fit failed"),
    ("failure_reason", S, "why the fit failed (trd_spark.vocabulary.ModelFailure: too_few_events, "
                          "not_converged, ...); null when it converged"),
    ("note", S, "why a fit failed"),
)
DIFFERENCE = _s(
    "difference",
    ("dataset", "definition", "pgs_id"),
    ("dataset", S, "dataset name"),
    ("definition", S, "TRD definition"),
    ("pgs_id", S, "score identifier"),
    ("trait", S, "trait (trait panel)"),
    ("domain", S, "domain (trait panel)"),
    ("beta_trd", D, "log OR per SD, TRD vs non-MDD (logistic table)"),
    ("se_trd", D, "its standard error"),
    ("beta_trmdd", D, "log OR per SD, trMDD vs non-MDD"),
    ("se_trmdd", D, "its standard error"),
    ("beta_diff", D, "beta_trd - beta_trmdd"),
    ("se_diff", D, "sqrt(se_trd^2 + se_trmdd^2) (treats the two estimates as independent; they share "
                   "the controls, so the test is conservative)"),
    ("z", D, "beta_diff / se_diff"),
    ("p", D, "two-sided normal p-value of z"),
    ("p_bonferroni", D, "Bonferroni-adjusted p within (dataset, definition)"),
    ("q_fdr", D, "Benjamini-Hochberg q-value within (dataset, definition)"),
    ("beta_trd_vs_trmdd", D, "log OR per SD of the direct TRD vs trMDD model (logistic table)"),
    ("p_trd_vs_trmdd", D, "its Wald p-value"),
    ("note", S, "why the test is missing (a fit failed), or that a fit is estimated among the persons at one "
                "value of a 0/1 covariate (its note; models.covariates.empty_cell)"),
)
REPLICATION = _s(
    "replication",
    ("dataset", "definition", "contrast", "pgs_id"),
    ("dataset", S, "replication dataset name"),
    ("definition", S, "TRD definition"),
    ("contrast", S, "model contrast"),
    ("pgs_id", S, "score identifier"),
    ("trait", S, "trait (trait panel)"),
    ("domain", S, "domain (trait panel)"),
    ("beta_discovery", D, "log OR per SD in the discovery dataset"),
    ("p_adjusted_discovery", D, "the discovery corrected p-value that made it significant "
                                "(models.discovery_significance: q_fdr or p_bonferroni); in export/ "
                                "recomputed over the fits the export shows, so possibly above models.alpha "
                                "when a smaller p is hidden (the row's note then says so)"),
    ("beta", D, "log OR per SD in this replication dataset"),
    ("se", D, "its standard error"),
    ("p", D, "its Wald p-value (uncorrected)"),
    ("same_direction", B, "sign(beta) = sign(beta_discovery) (null when the replication fit failed)"),
    ("replicated", B, "same_direction and p < models.replication_alpha (false when the fit failed)"),
    ("note", S, "why the replication estimate is missing, or that it is estimated among the persons at one value "
                "of a 0/1 covariate (the fit's note); in export/ also, where the shown "
                "`p_adjusted_discovery` is not below models.alpha, that the row was selected over every fit "
                "of the family, hidden ones included (`vocabulary.ReplicationNote`)"),
    # The rows are the discovery fits found significant, hidden ones included (report.tables.
    # hide_estimates_of_hidden_counts leaves those out): 86 logged beside 76 exported told that 5
    # fits the export hides were significant.
    rows_not_logged="one row per significant discovery fit, those the export hides included",
)
META = _s(
    "meta",
    ("method", "definition", "contrast", "pgs_id"),
    ("method", S, "fixed (inverse-variance) | random (DerSimonian-Laird)"),
    ("definition", S, "TRD definition"),
    ("contrast", S, "model contrast"),
    ("pgs_id", S, "score identifier"),
    ("trait", S, "trait (trait panel)"),
    ("domain", S, "domain (trait panel)"),
    ("k", I, "datasets with a converged fit with a finite estimate, standard error > 0 and p (the studies pooled; "
              "a converged fit without one is left out with a WARNING naming dataset and PGS, and named in `note`)"),
    ("beta", D, "pooled log OR per SD"),
    ("se", D, "its standard error"),
    ("odds_ratio", D, "exp(beta)"),
    ("ci_low", D, "lower 95% confidence limit of the odds ratio"),
    ("ci_high", D, "upper 95% confidence limit of the odds ratio"),
    ("p", D, "two-sided normal p-value of beta/se"),
    ("p_bonferroni", D, "Bonferroni-adjusted p within (method, definition, contrast)"),
    ("q_fdr", D, "Benjamini-Hochberg q-value within (method, definition, contrast)"),
    ("cochran_q", D, "Cochran's Q = sum w_i (beta_i - beta_fixed)^2, w_i = 1/se_i^2"),
    ("q_p", D, "p-value of Q on k - 1 degrees of freedom (null when k < 2)"),
    ("i2", D, "I^2 as a fraction 0..1 (the report shows it in percent): max(0, (Q - (k - 1)) / Q) (0 when Q = 0; "
              "null when k < 2)"),
    ("tau2", D, "DerSimonian-Laird between-dataset variance (0 for fixed; null for random with one dataset: "
                "not estimable, as Q and I^2)"),
    ("datasets", S, "the datasets pooled, comma-separated"),
    ("note", S, "\"includes a fit estimated among the persons at one value of a 0/1 covariate: <datasets> (its "
                "note)\" when a pooled fit is at its limit (one sex without a case, control or event); \"left out "
                "(converged, but a non-finite estimate, standard error or p): <datasets>\"; \"pooled odds ratio or its "
                "95% CI beyond double precision ...; estimates withheld\" (beta, se, odds_ratio, CI and p then null: "
                "exp overflowed; failure_reason ratio_out_of_range of a fit) (joined by '; '); else "
                "empty; in export/ also why a row's estimates are hidden (`vocabulary.HiddenEstimatesNote`)"),
)
CONSISTENCY = _s(
    "consistency",
    ("contrast", "definition_a", "definition_b"),
    ("contrast", S, "model contrast"),
    ("definition_a", S, "TRD definition (or 'all' for the overall row)"),
    ("definition_b", S, "TRD definition (or 'all' for the overall row)"),
    ("n_pgs", I, "PGS with a fixed-effect meta estimate under both (all) definitions"),
    ("r2", D, "pair: squared Pearson correlation of the meta log ORs; overall: share of the variance of "
              "all definitions' log ORs explained by the PGS (between-PGS sum of squares / total)"),
)
KM_CURVES = _s(
    "km_curves",
    ("dataset", "definition", "pgs_id", "tertile", "time_days"),
    ("dataset", S, "dataset name"),
    ("definition", S, "TRD definition"),
    ("pgs_id", S, "score identifier"),
    ("trait", S, "trait (trait panel)"),
    ("tertile", I, "PGS tertile among the MDD persons (1 lowest, 3 highest)"),
    ("time_days", I, "days since the MDD index (grid of models.km_step_days)"),
    ("n_at_risk", L, "persons still followed and TRD-free at the start of day time_days (a count: audited in exports)"),
    ("n_events_after", L, "TRD events on day time_days or later (internal, never exported: the export audit "
                          "derives each step's events from it)"),
    ("survival", D, "Kaplan-Meier probability of remaining TRD-free up to the start of day time_days"),
    ("ci_low", D, "lower 95% limit (lifelines, log(-log) transform)"),
    ("ci_high", D, "upper 95% limit"),
    # One row per grid day up to the longest follow-up among the curve set's persons
    # (models.km.km_curves_for_pgs): 36,450 rows told that persons' follow-up to within
    # models.km_step_days, an individual's dates.
    rows_not_logged="its day grid ends at the longest follow-up of its persons",
)
COHORT_COUNTS = _s(
    "cohort_counts",
    ("dataset", "definition", "status"),
    ("dataset", S, "dataset name"),
    ("definition", S, "TRD definition"),
    ("status", S, "TRD | trMDD | MDD_other | non_MDD"),
    ("n", L, "persons in the analysis frame"),
)

DATASET_FLOW = _s(
    "dataset_flow",
    ("dataset", "definition", "step"),
    ("dataset", S, "dataset name"),
    ("definition", S, "TRD definition ('all' for steps before the split by definition)"),
    ("step_order", I, "order of the step within the dataset"),
    ("step", S, "cohort step: scored, unrelated, with ancestry/PCs, in the analysis frame, then one row "
                "per status"),
    ("n", L, "persons after the step / with the status (a count: suppress 1-19 in exports)"),
)

# Every documented table, by stage (docs/outputs.md's "Output columns" is checked against this).
TABLES_BY_STAGE = {
    "pgs": [PGS_SCORES, PGS_MATCH_SUMMARY, PGS_VARIANT_MATCHES],
    "phenotypes": [PERSONS, ANTIDEPRESSANT_TRIALS, PHENOTYPES, COHORT_FLOW],
    "cohort": [ANALYSIS_FRAME_FIXED, COHORT_COUNTS, DATASET_FLOW],
    "models": [LOGISTIC_RESULTS, COX_RESULTS, DIFFERENCE, REPLICATION, META, CONSISTENCY, KM_CURVES],
}
assert LOGISTIC_RESULTS.names == LOGISTIC_RESULTS_COLUMNS and COX_RESULTS.names == COX_RESULTS_COLUMNS


def markdown() -> str:
    """The column tables of docs/outputs.md ("Output columns"), generated from the declared schemas."""
    out = []
    for stage, tables in TABLES_BY_STAGE.items():
        for t in tables:
            out.append(f"**`{stage}/{t.name}.parquet`** (key: {', '.join(t.key)})\n")
            out.append("| column | type | meaning |\n|---|---|---|")
            out.extend(f"| `{n}` | {typ.simpleString()} | {desc} |" for n, typ, desc in t.columns)
            out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown())
