"""The phenotype stage: read OMOP, derive persons / MDD / trials / TRD per definition, publish.

``derive_phenotype_tables`` is the pure chain (OMOP DataFrames in, stage DataFrames out);
``run(ctx)`` reads at the edge, persists what several outputs reuse, and writes through
``ctx.publish()`` (``layout.publish_stage``). Logs carry counts only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING

from pyspark.sql import Observation
from pyspark.sql import functions as F
from pyspark.sql import types as T

from trd_spark.config import ConceptSet, Config, TrdDefinition, local_path
from trd_spark.errors import ConfigError, InputDataError
from trd_spark.gates import check_gate, logs_range, require_rows
from trd_spark.io import observed
from trd_spark.logs import (
    count_text,
    record_count_label,
    record_count_text,
    record_counts_read,
    record_counts_text,
)
from trd_spark.phenotypes.concepts import (
    Vocabulary,
    absent_refs,
    closed_vocabulary,
    conditional_member_ids,
    conditional_refs,
    conditional_source_ids,
    dose_form_excluded,
    drug_reach,
    expand_concept_set,
    id_frame,
    ingredient_frame,
    ingredient_map,
    ingredient_names,
    ingredient_reach,
    invalid_refs,
    load_vocabulary,
    mismatched_refs,
    name_extract_pattern,
    name_pattern,
    nonstandard_refs,
    unlinked_refs,
)
from trd_spark.phenotypes.flow import (
    definition_counts,
    definition_flow_columns,
    flow_rows,
    shared_flow_columns,
)
from trd_spark.phenotypes.mdd import derive_mdd
from trd_spark.phenotypes.omop import (
    MIN_DOSE_TABLE,
    OBSERVATION_TABLE,
    OMOP_COLUMNS,
    SOURCE_CONCEPT_OF,
    omop_schema,
    omop_table_location,
    omop_tables_read,
    person_death_rows,
    read_omop_table,
    release_table,
)
from trd_spark.phenotypes.persons import (
    birth_death_quirk_counts,
    birth_implausible_expr,
    bridge_observation_gaps,
    derive_persons,
    followup_date_counts,
    index_period_count_columns,
    index_periods,
    observation_gap_count_columns,
    observation_period_overlaps,
    observation_spans,
    restrict_to_followup,
)
from trd_spark.phenotypes.shrink import earlier_release, shrink_warnings, shrunk_tables, table_rows
from trd_spark.phenotypes.trd import (
    GAP_WINDOW_COUNTS,
    TIME_AT_RISK_COUNTS,
    augmentation_onset_expr,
    derive_phenotypes,
    gap_window_columns,
    person_treatment,
    sequence_onset_expr,
    somatic_onset_expr,
    time_at_risk_columns,
)
from trd_spark.phenotypes.trials import (
    administration_one_day_expr,
    at_min_dose_records,
    derive_antidepressant_trials,
    derive_ingredient_exposures,
    drop_reversed_claims,
    exposure_record_counts,
    implausible_record_counts,
    is_exposure_expr,
    is_reversal_expr,
    mail_order_default_expr,
    min_dose_record_counts,
    refill_course_over_max_expr,
    repeated_exposure_id_count,
    reversal_matches,
    reversals_by_source,
    reversed_claim_counts,
    source_code_expr,
    source_reversal_counts,
)
from trd_spark.schemas import ANTIDEPRESSANT_TRIALS, COHORT_FLOW, PERSONS, PHENOTYPES
from trd_spark.vocabulary import (
    ALL_DEFINITIONS,
    HISTORY_OF_STATUS_IDS,
    MAX_PLAUSIBLE_AGE_YEARS,
    MILLIGRAM_UNIT_ID,
    MILLILITER_UNIT_ID,
    PLAUSIBLE_BIRTH_YEAR_LOW,
    PRELIMINARY_DIAGNOSIS_STATUS_IDS,
    ExclusionReason,
    Status,
    excluded_step,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from trd_spark.layout import Layout
    from trd_spark.stages import FsLike, StageContext

log = logging.getLogger(__name__)

OMOP_TABLES = tuple(OMOP_COLUMNS)
# Intermediate tables of ``run`` (study events, MDD groups), inside the stage's in-progress
# directory: removed before the stage is published, and with it when the run fails.
WORK_DIR = "_work"


# (OMOP table, concept column, date column) of the event tables the study reads.
EVENT_TABLES = {
    "condition": ("condition_occurrence", "condition_concept_id", "condition_start_date"),
    "drug": ("drug_exposure", "drug_concept_id", "drug_exposure_start_date"),
    "procedure": ("procedure_occurrence", "procedure_concept_id", "procedure_date"),
    "device": ("device_exposure", "device_concept_id", "device_exposure_start_date"),
    # read only when a study set has this domain (omop.omop_tables_read; else an empty frame)
    "observation": ("observation", "observation_concept_id", "observation_date"),
}


@dataclass(frozen=True)
class PhenotypeTables:
    """The phenotype stage's outputs (and internal frames) before they are written."""
    study_events: dict[str, DataFrame]  # per domain: rows in any study concept set, all dates (unread_columns null)
    persons: DataFrame  # PERSONS
    mdd: DataFrame  # per person MDD group (mdd.derive_mdd), internal
    trials: DataFrame  # ANTIDEPRESSANT_TRIALS
    phenotypes: DataFrame  # PHENOTYPES, all definitions
    ingredients: DataFrame  # drug_concept_id -> ingredient (small, literal)
    # the augmentation agents' products -> ingredient with their minimum daily dose
    # (augmentation_ingredients; None: no agent has one)
    augmentation_ingredients: DataFrame | None = None
    # trials.reversal_matches of study_events["drug"] with the reversals outside the study sets read by their source
    # code (lazy; stage_counts' ``matches``: its reversal counts then count those too)
    reversal_matches: DataFrame | None = None


def status_log_text(definition: str, threshold: int) -> str:
    """The run log's line about one TRD definition's persons by status, after "phenotypes: ":
    where they are, no count.

    A count is not logged even when every status has ``threshold`` persons or more: the export
    hides further counts to protect a small one (``report.tables.suppress_release``), also of
    this definition for another's sake (A's trMDD 300 hidden for B's TRD 7, the MDD total being
    the same under both), and a log line pasted into a ticket gave that count back (60 + 300 +
    100 of A less B's 353 + 100: 7). The report logs the counts as its export shows them."""
    return (f"{definition}: persons by status are in the report's export (audited with every published count; "
            f"a count of {threshold} or more may be hidden there to protect a smaller one)")


def _concept_set(cfg: Config, name: str) -> ConceptSet:
    sets = cfg.concept_sets.concept_sets if cfg.concept_sets else {}
    if name not in sets:
        raise ConfigError(f"unknown concept set {name!r}", where="phenotypes")
    return sets[name]


def _events(df: DataFrame, date_col: str) -> DataFrame:
    return df.select("person_id", F.col(date_col).alias("event_date"))


def _ids(ids: frozenset[int]) -> list[int]:
    return sorted(ids)


def _drug_events(drugs: DataFrame, concept_ids: frozenset[int], doses: DataFrame | None = None,
                 max_days_supply: int | None = None) -> DataFrame:
    """person_id, event_date: the exposures to a drug of ``concept_ids`` (augmentation agents,
    esketamine) by start date. A record with a negative days_supply or quantity is none
    (``trials.is_exposure_expr``), as for the trials: a reversed claim of aripiprazole made
    ad2_augmentation TRD, one of esketamine somatic TRD (field case round 15, hunter). ``doses``
    (``augmentation_ingredients``): a record whose known daily dose is below its agent's
    ``trials.ingredient_min_daily_dose`` is none either (``trials.at_min_dose_records``; field case
    round 42: quetiapine 25 mg at night, a sleep aid, was an ad2_augmentation onset whatever the key;
    ``max_days_supply``: ``trials.daily_dose_expr``)."""
    taken = drugs.where(F.col("drug_concept_id").isin(_ids(concept_ids))
                        & is_exposure_expr(F.col("days_supply"), F.col("quantity")))
    if doses is not None:
        taken = at_min_dose_records(taken, doses, max_days_supply)
    return _events(taken, "drug_exposure_start_date")


def concept_set_ids(cfg: Config, vocab: Vocabulary) -> dict[str, frozenset[int]]:
    """Every concept set the phenotype definitions use (``study_concept_set_names``), expanded
    once per chain (set name -> concept IDs, config order): the MDD groups
    (``derive_mdd_groups``) and the TRD onsets (``derive_definition_phenotypes``) take their sets
    from it. A set named twice (esketamine: a control-exclusion drug set and a somatic TRD set)
    was expanded by each user, so a change to one expansion could leave the other behind."""
    return {name: expand_concept_set(_concept_set(cfg, name), vocab) for name in study_concept_set_names(cfg)}


def observation_sets(cfg: Config) -> list[str]:
    """The study concept sets (``study_concept_set_names``) whose records are read from the
    ``observation`` table (domain or ``also_domains`` observation): ``omop.omop_tables_read``
    reads that table only when there is one."""
    return [n for n in study_concept_set_names(cfg) if "observation" in _concept_set(cfg, n).domains]


# Event tables that hold mostly records no study set can name: All of Us' observation table is
# hundreds of millions of survey answers (PPI, many with concept 0 and a PPI source concept) and
# other facts, while the study reads a handful of HCPCS codes there (esketamine_clinic). Such a
# table is read through an ``isin`` of its few study IDs, which Parquet takes as a pushed filter
# (row groups whose statistics / dictionary lack them are skipped), and its unmapped /
# non-standard counts are over the records a study set could name (``observation_count_ids``),
# not over every survey answer: a WARNING that fires on every run is one nobody reads.
NARROW_TABLES = frozenset({"observation"})


def observation_count_ids(cfg: Config, vocab: Vocabulary) -> frozenset[int]:
    """The concept IDs whose ``observation`` records a study set could read (``observation_sets``'
    expanded IDs, their excludes kept: a superset, as ``study_concept_ids``) plus those sets'
    ``only_if_standard`` codes this release holds (``concepts.conditional_source_ids``: a record with
    one as its source concept is one the set may miss). ``event_table_counts`` counts observation's
    unmapped records (concept 0) by their ``observation_source_concept_id`` and its non-standard
    ones by their ``observation_concept_id`` among these only; empty when no set reads the table."""
    out: frozenset[int] = frozenset()
    for name in observation_sets(cfg):
        cs = _concept_set(cfg, name)
        out |= expand_concept_set(cs.model_copy(update={"exclude": []}), vocab) | conditional_source_ids(cs, vocab)
    return out


# The quirk part counting the records a drug set's exclude_dose_forms leaves out (``dose_form_records``).
DOSE_FORM_PART = "dose_form_excluded"


def dose_form_ids(cfg: Config, vocab: Vocabulary) -> dict[str, frozenset[int]]:
    """Per study drug set with ``exclude_dose_forms`` (``study_concept_set_names`` order): the
    concepts its includes reach (descendants, the set's code excludes ignored) whose name holds
    one of its dose-form words (``concepts.dose_form_excluded``): its members left out as skin
    products, e.g. doxepin cream under any code (the cream's own code, excluded by code as well,
    is among them). Empty when no set has dose forms."""
    out: dict[str, frozenset[int]] = {}
    for name in study_concept_set_names(cfg):
        cs = _concept_set(cfg, name)
        if cs.exclude_dose_forms:
            out[name] = dose_form_excluded(cs, vocab) & expand_concept_set(
                cs.model_copy(update={"exclude": [], "exclude_dose_forms": []}), vocab)
    return out


def dose_form_records(drugs: DataFrame, ids: dict[str, frozenset[int]]) -> DataFrame:
    """One row (long) over study drug records ``drugs`` (every date, as ``drug_record_quirks``):
    per set of ``ids`` (``dose_form_ids``) n_records_<set>, its records of a concept left out for
    its dose form, and n_persons_<set>, their distinct persons (field case round 43: before, only
    the number of concepts was logged, an INFO line; such records are no exposure of the set:
    no trial, no reason to keep a person out of the controls). Aggregates only."""
    cols: list[Column] = []
    for name, members in ids.items():
        hit = F.col("drug_concept_id").isin(_ids(members)) if members else F.lit(False)
        cols += [F.coalesce(F.sum(hit.cast("long")), F.lit(0)).cast("long").alias(f"n_records_{name}"),
                 F.countDistinct(F.when(hit, F.col("person_id"))).cast("long").alias(f"n_persons_{name}")]
    return drugs.agg(*cols)


def _set_records(cs: ConceptSet, ids: frozenset[int], events: dict[str, DataFrame]) -> list[DataFrame]:
    """person_id, concept_id, event_date: the records of a procedure / device / observation set
    ``cs`` (IDs ``ids``) in the table of each of its domains (``ConceptSet.domains``, e.g.
    esketamine_clinic in procedure_occurrence and observation), ``events`` per domain as
    ``EVENT_TABLES`` names them (their own concept and date columns)."""
    out = []
    for domain in cs.domains:
        _, concept_col, date_col = EVENT_TABLES[domain]
        out.append(events[domain].where(F.col(concept_col).isin(_ids(ids))).select(
            "person_id", F.col(concept_col).alias("concept_id"), F.col(date_col).alias("event_date")))
    return out


def _somatic_events(
    d: TrdDefinition, cfg: Config, sets: dict[str, frozenset[int]], followup: dict[str, DataFrame],
) -> DataFrame:
    """person_id, event_date: the events of a somatic definition's concept sets, ``followup``
    per domain (``followup_events``); a procedure / device / observation set's records from the
    table of each of its domains (``_set_records``). ConfigError naming the definition for a set
    of another domain."""
    events = []
    for name in d.somatic_concept_sets:
        cs, ids = _concept_set(cfg, name), sets[name]
        if cs.domain == "drug":
            events.append(_drug_events(followup["drug"], ids))
        elif cs.domain in ("procedure", "device", "observation"):
            # procedures (ECT, TMS codes), devices (e.g. rTMS coils in device_exposure), observations
            # (HCPCS G2082/G2083 esketamine in clinic where the release gives them that domain)
            events += [r.select("person_id", "event_date") for r in _set_records(cs, ids, followup)]
        else:
            raise ConfigError(
                f"somatic concept set {name!r} has domain {cs.domain!r}; expected procedure, device, observation "
                "or drug", where=f"phenotypes.trd_definitions.{d.name}",
            )
    return reduce(lambda a, b: a.unionByName(b), events)


def concept_set_uses(cfg: Config) -> list[tuple[str, str]]:
    """(concept set name, the rule reading it, for messages: e.g. ``TRD definition somatic``)
    for every concept-set field of ``cfg.phenotypes``, in config order (a set named by several
    fields comes once per field). The one list of those fields: ``study_concept_set_names`` and
    ``_concept_set_users`` read it (each kept its own list, so a field added to one could be
    missing from the other: a set expanded but never named in a message, or the reverse)."""
    ph = cfg.phenotypes
    exclusions = "the control exclusions"
    uses = [(ph.mdd.concept_set, "the MDD diagnoses"), (ph.mdd.control_exclusion_concept_set, exclusions),
            *[(n, exclusions) for n in ph.mdd.exclude_concept_sets], (ph.trials.concept_set, "the antidepressant trials"),
            *[(n, exclusions) for n in ph.mdd.control_exclusion_drug_concept_sets],
            *[(n, exclusions) for n in ph.mdd.control_exclusion_procedure_concept_sets]]
    for d in ph.trd_definitions:
        named = [d.augmentation_concept_set] if d.augmentation_concept_set else []
        uses += [(n, f"TRD definition {d.name}") for n in [*named, *d.somatic_concept_sets]]
    return uses


def study_concept_set_names(cfg: Config) -> list[str]:
    """Every concept set the phenotype definitions use (``concept_set_uses``; config order, distinct)."""
    return list(dict.fromkeys(name for name, _ in concept_set_uses(cfg)))


def study_vocabulary(omop: dict[str, DataFrame], cfg: Config) -> Vocabulary:
    """The vocabulary slice of every study concept set (small; collected once per run)."""
    sets = [_concept_set(cfg, n) for n in study_concept_set_names(cfg)]
    return load_vocabulary(sets, omop["concept"], omop["concept_ancestor"], where=str(cfg.phenotypes.concept_sets))


def study_concept_ids(cfg: Config, vocab: Vocabulary) -> dict[str, frozenset[int]]:
    """Per domain: every concept ID of any study concept set of that domain (excludes and
    ``exclude_dose_forms`` ignored).

    A superset is fine here (each definition applies its own set); it lets one filter per
    event table drop the rows no rule reads before anything else happens. (The drug records'
    quirk counts are over it: a topical form's records are counted there as before, the DuckDB
    twin's too.)
    """
    out: dict[str, frozenset[int]] = {domain: frozenset() for domain in EVENT_TABLES}
    for name in study_concept_set_names(cfg):
        cs = _concept_set(cfg, name)
        ids = expand_concept_set(cs.model_copy(update={"exclude": [], "exclude_dose_forms": []}), vocab)
        for domain in cs.domains:  # a set read in several tables (also_domains) filters each
            out[domain] |= ids
    return out


def unread_columns(cfg: Config) -> dict[str, frozenset[str]]:
    """Per OMOP event table: the declared columns no rule of ``cfg`` reads, which
    ``derive_study_events`` does not read from the files (typed nulls instead).

    drug_exposure ``refills`` is read only by ``trials.use_refills`` (``trials.exposure_end_expr``);
    ``quantity`` always: a negative one is a claim reversal (``trials.is_reversal_expr``, session 54;
    before, it was read only by the minimum-dose rule, and a reversal written as the units returned was a
    60-day exposure); ``drug_source_concept_id`` always (session 57: a claim reversal whose drug_concept_id is
    in no study set is matched by its source code, ``trials.reversal_matches``' ``foreign``); the other
    ``*_source_concept_id`` columns never (records are recognised by their standard concept;
    ``event_table_counts`` reads them from the OMOP frames). Every other declared column is read by a rule or a stage count
    (``verbatim_end_date`` also by the implausible-value count, whatever
    ``use_verbatim_end_date`` says).
    """
    t = cfg.phenotypes.trials
    drug = {"refills"} if not t.use_refills else set()
    # No rule reads a source concept but the drug reversals' (counted from the OMOP frames, event_table_counts).
    out = {table: {source} for table, (_, source) in SOURCE_CONCEPT_OF.items() if table != "drug_exposure"}
    out["drug_exposure"] = drug
    return {table: frozenset(cols) for table, cols in out.items()}


def derive_study_events(
    omop: dict[str, DataFrame], cfg: Config, vocab: Vocabulary | None = None, *, foreign_reversals: bool = False
) -> dict[str, DataFrame]:
    """Condition / drug / procedure / device / observation rows whose concept is in any study
    concept set read in that table (``ConceptSet.domains``; observation: an empty frame unless a
    set reads it, ``omop.omop_tables_read``), with the table's declared columns (``OMOP_COLUMNS``,
    in the table's order: pruned at the scan). The columns of ``unread_columns(cfg)`` are typed nulls, not read: at 91M
    drug_exposure rows, decoding ``quantity`` and ``refills`` for every row before the filter was
    ~40% of the scan (benchmarks/RESULTS.md, session 10); no output depends on them then.

    The filter is a left-semi join with the domain's expanded IDs as a BROADCAST build side
    (``concepts.id_frame``, one literal in the plan): each scan task probes a hash table of
    longs, the big table is never shuffled, and hundreds of millions of drug_exposure rows
    shrink to the few percent the study uses before any shuffle. (An ``isin`` of thousands of
    literals does the same per row but puts every ID into the plan, which Spark analyses
    again at each transformation; Parquet gets only its min/max, which the study IDs span.)
    A table of ``NARROW_TABLES`` (observation: a few HCPCS IDs among hundreds of millions of
    survey answers) is filtered by that ``isin`` first as well: a handful of literals, pushed to
    the Parquet scan (PushedFilters), so row groups without them are skipped.

    ``foreign_reversals`` (``run`` and ``derive_phenotype_tables``): "drug" also holds, from the same scan, the
    claim reversals (``trials.is_reversal_expr``) whose drug_concept_id is in no study set but that name a product
    (``trials.source_code_expr``), with ``drug_concept_id`` null and ``drug_source_concept_id`` their code
    (split by ``study_drug_records`` / ``foreign_reversal_records``): the filter is then a
    broadcast LEFT join with the IDs (no shuffle either) and the rows kept where it found one or the row is such a
    reversal. A study row never has a null drug_concept_id (it matched an ID).
    """
    vocab = vocab or study_vocabulary(omop, cfg)
    ids = study_concept_ids(cfg, vocab)
    spark = omop["person"].sparkSession
    unread = unread_columns(cfg)
    out = {}
    for domain, (table, concept_col, _) in EVENT_TABLES.items():
        wanted = F.broadcast(id_frame(spark, ids[domain], concept_col))
        src, skip = omop[table], unread.get(table, frozenset())
        if table in NARROW_TABLES:  # few IDs: a Parquet pushed filter skips the row groups without them
            src = src.where(F.col(concept_col).isin(_ids(ids[domain])))
        columns = [F.lit(None).cast(f.dataType).alias(f.name) if f.name in skip else F.col(f.name)
                   for f in src.schema.fields]
        if domain == "drug" and foreign_reversals:
            study = F.col("_study").isNotNull()
            code = source_code_expr()
            kept = src.join(wanted.withColumn("_study", F.lit(True)), concept_col, "left").where(
                study | (is_reversal_expr(F.col("days_supply"), F.col("quantity")) & code.isNotNull()))
            swap = {"drug_concept_id": F.when(study, F.col("drug_concept_id")),
                    "drug_source_concept_id": F.when(study, F.col("drug_source_concept_id")).otherwise(code)}
            out[domain] = kept.select(*[swap[f.name].cast(f.dataType).alias(f.name) if f.name in swap else c
                                        for f, c in zip(src.schema.fields, columns, strict=True)])
            continue
        # a join on a column name puts that column first: keep the table's column order
        out[domain] = src.join(wanted, concept_col, "left_semi").select(*columns)
    return out


def study_drug_records(drug: DataFrame) -> DataFrame:
    """The study drug records of ``derive_study_events(..., foreign_reversals=True)["drug"]`` (same columns)."""
    return drug.where(F.col("drug_concept_id").isNotNull())


def foreign_reversal_records(drug: DataFrame) -> DataFrame:
    """The claim reversals outside the study sets of ``derive_study_events(..., foreign_reversals=True)["drug"]``
    (same columns; ``drug_source_concept_id`` their code): ``trials.reversal_matches``' ``foreign``."""
    return drug.where(F.col("drug_concept_id").isNull())


def strength_per_unit_exprs(quantified_liquid_quantity: str = "items_or_ml") -> tuple[Column, Column]:
    """(low, high): mg of the ingredient per unit of drug_exposure ``quantity``, from a drug_strength
    row's columns (``omop.OMOP_COLUMNS``), where the units make it well defined; else null (an unknown
    dose: it counts, counted; ``trials`` module docstring). low < high only for a quantified liquid
    whose quantity may count items or mL (below); else the two are equal. The patterns and formulas
    of OHDSI's DrugUtilisation (DARWIN EU, "Daily dose calculation"; Burkard et al., Pharmacoepidemiol
    Drug Saf 2024, doi:10.1002/pds.5809), restricted to milligram, the minimum's unit:

    - a fixed amount (a tablet's 50 mg): ``amount_value`` when its unit is mg or not given (a
      release without the unit column: read as before); an amount in another unit (g, ug) is null;
    - a concentration (a liquid's 20 mg per mL): unit mg over mL (``vocabulary.MILLIGRAM_UNIT_ID``,
      ``MILLILITER_UNIT_ID``). A non-quantified liquid (denominator_value null: ``numerator_value``
      mg per 1 mL; its quantity is its volume, the CDM's and DrugExposureDiagnostics' reading):
      ``numerator_value``. A quantified one (denominator_value 60 mL: numerator 1,200 mg per
      bottle): ``trials.quantified_liquid_quantity`` says what its quantity counts; "items": the
      numerator (mg per bottle; DrugUtilisation's quantity x numerator, field case round 43); "ml":
      numerator / denominator (mg per mL: US pharmacy data give a liquid's quantity in mL even for
      a stock bottle's NDC; read as bottles, 120 mL of a 60 mL bottle of 20 mg/mL over 60 days were
      2,400 mg a day, 60 times the dose, session 51); "items_or_ml" (default): low the mg per mL, high
      the mg per bottle (the lesser and the greater of the two when a denominator is below 1 mL), so a
      record is below a minimum only when its dose from high is (both readings are), of unknown dose
      when only the dose from low is (``trials._with_dose_flags``). A denominator_value <= 0 is null;
    - a product in a box (``box_size`` set, RxNorm Extension's "Box of 30"): null, as quantity may
      count its boxes or its tablets (quantity 2 boxes read as 2 tablets of 50 mg over 60 days was
      1.7 mg a day, a silent drop); a time-based strength (a patch's mg per 24 h) or any other
      unit: null.
    """
    box = F.col("box_size").isNotNull()
    amount = F.when(F.coalesce(F.col("amount_unit_concept_id") == MILLIGRAM_UNIT_ID, F.lit(True)), F.col("amount_value"))
    num, den = F.col("numerator_value"), F.col("denominator_value")
    per_ml = num / den
    if quantified_liquid_quantity == "items":
        low = high = num
    elif quantified_liquid_quantity == "ml":
        low = high = per_ml
    elif quantified_liquid_quantity == "items_or_ml":
        low, high = F.least(num, per_ml), F.greatest(num, per_ml)
    else:
        raise ValueError(f"unknown trials.quantified_liquid_quantity {quantified_liquid_quantity!r}")
    mg_per_ml = (F.col("numerator_unit_concept_id") == MILLIGRAM_UNIT_ID) & (F.col("denominator_unit_concept_id")
                                                                           == MILLILITER_UNIT_ID)

    def per_unit(quantified: Column) -> Column:
        concentration = (F.when(~mg_per_ml, F.lit(None).cast("double"))
                         .when(den.isNull(), num)
                         .when(den > 0, quantified))
        return (F.when(box, F.lit(None).cast("double"))
                .when(F.col("amount_value").isNotNull(), amount)
                .otherwise(concentration))

    return per_unit(low), per_unit(high)


def drug_strength_amount_bounds(
    drug_strength: DataFrame, ingredient_rows: list[tuple[int, int, str]], min_daily_dose: dict[int, float],
    quantified_liquid_quantity: str = "items_or_ml",
) -> tuple[dict[tuple[int, int], float], dict[tuple[int, int], float]]:
    """(high, low): (drug_concept_id, ingredient_concept_id) -> the ingredient's mg per unit of
    drug_exposure quantity (``strength_per_unit_exprs``; ``high`` is ``concepts.ingredient_frame``'s
    ``amounts``, ``low`` its ``amounts_low``, holding only the pairs whose low is below their high: a
    quantified liquid under ``items_or_ml``) for the products of the ingredients that have a minimum
    daily dose (collected: the size of the concept set, not of the data); a pair whose strength gives
    none is left out (its dose is unknown: it counts, counted). Several rows for one pair (not allowed
    by the CDM) keep the largest high and the smallest low.
    """
    drugs = sorted({r[0] for r in ingredient_rows if r[1] in min_daily_dose})
    if not drugs:
        return {}, {}
    low, high = strength_per_unit_exprs(quantified_liquid_quantity)
    if "denominator_value" not in drug_strength.columns:  # a frame built before the column was read
        drug_strength = drug_strength.withColumn("denominator_value", F.lit(None).cast("double"))
    rows = (
        drug_strength.where(
            F.col("drug_concept_id").isin(drugs) & F.col("ingredient_concept_id").isin(sorted(min_daily_dose))
        )
        .groupBy("drug_concept_id", "ingredient_concept_id")
        .agg(F.max(high).alias("amount_value"), F.min(low).alias("amount_low"))
        .where(F.col("amount_value").isNotNull())
        .collect()
    )
    highs = {(int(r.drug_concept_id), int(r.ingredient_concept_id)): float(r.amount_value) for r in rows}
    lows = {(int(r.drug_concept_id), int(r.ingredient_concept_id)): float(r.amount_low) for r in rows
            if r.amount_low is not None and r.amount_low < r.amount_value}
    return highs, lows


def drug_strength_amounts(
    drug_strength: DataFrame, ingredient_rows: list[tuple[int, int, str]], min_daily_dose: dict[int, float],
    quantified_liquid_quantity: str = "items_or_ml",
) -> dict[tuple[int, int], float]:
    """The high part of ``drug_strength_amount_bounds``: (drug_concept_id, ingredient_concept_id) ->
    the ingredient's mg per unit of drug_exposure quantity (a quantified liquid's mg per item under
    ``items_or_ml``)."""
    return drug_strength_amount_bounds(drug_strength, ingredient_rows, min_daily_dose, quantified_liquid_quantity)[0]


def dosed_ingredient_frame(spark: SparkSession, drug_strength: DataFrame, rows: list[tuple[int, int, str]],
                           cfg: Config) -> DataFrame:
    """``concepts.ingredient_frame`` of ``rows`` with the minimum daily doses of
    ``trials.ingredient_min_daily_dose`` and the drug_strength amounts they need
    (``drug_strength_amount_bounds`` under ``trials.quantified_liquid_quantity``)."""
    trials = cfg.phenotypes.trials
    min_dose = dict(trials.ingredient_min_daily_dose)
    high, low = (drug_strength_amount_bounds(drug_strength, rows, min_dose, trials.quantified_liquid_quantity)
                 if min_dose else ({}, {}))
    return ingredient_frame(spark, rows, amounts=high or None, amounts_low=low or None, min_daily_dose=min_dose)


def followup_events(events: dict[str, DataFrame], persons: DataFrame,
                    matches: DataFrame | None = None) -> dict[str, DataFrame]:
    """Per domain (``EVENT_TABLES``): the study events within each person's follow-up
    (``persons.restrict_to_followup``; same columns as ``events``); the drug records without the claims
    a claim reversal cancels (``followup_drugs``; ``matches``: ``trials.reversal_matches`` of
    ``events["drug"]``, as ``run`` writes it once; None: matched in each query that reads the records)."""
    out = {domain: restrict_to_followup(events[domain], persons, EVENT_TABLES[domain][2]) for domain in EVENT_TABLES}
    out["drug"] = followup_drugs(events["drug"], persons, matches)
    return out


def followup_drugs(drugs: DataFrame, persons: DataFrame, matches: DataFrame | None = None) -> DataFrame:
    """The study drug records ``drugs`` (every date) within each person's follow-up, without the claims a
    claim reversal cancels (``trials.drop_reversed_claims``, one per reversal, matched over the records of every date: a
    reversal after death still cancels its claim; the reversals themselves stay, no exposure by
    ``trials.is_exposure_expr``, and keep their person out of the controls). Same columns. ``matches``:
    ``trials.reversal_matches(drugs)`` already written (None: matched here)."""
    return restrict_to_followup(drop_reversed_claims(drugs, matches), persons, EVENT_TABLES["drug"][2])


# The clinical tables whose rows are evidence of EHR data (omop.ehr_evidence any_record): not
# observation (All of Us puts the survey answers there), not measurement (the program's own
# physical measurements), not observation_period (derived from every dated row by a CDR).
EHR_RECORD_TABLES = ("condition_occurrence", "drug_exposure", "procedure_occurrence", "device_exposure")


def ehr_record_rows(omop: dict[str, DataFrame]) -> DataFrame:
    """person_id (long), record_date (date; null where the row has none) of every row of the
    ``EHR_RECORD_TABLES`` tables (any concept; the date column ``EVENT_TABLES`` reads). Lazy."""
    date_of = {table: date_col for table, _, date_col in EVENT_TABLES.values()}
    frames = [omop[t].select(F.col("person_id").cast("long").alias("person_id"),
                             F.col(date_of[t]).cast("date").alias("record_date")) for t in EHR_RECORD_TABLES]
    return reduce(lambda a, b: a.unionByName(b), frames)


def ehr_row_in_release_expr(cutoff: dt.date) -> Column:
    """True for an ``ehr_record_rows`` row the release observed: dated on or before ``cutoff``
    (``omop.data_cutoff_date``, the last date the release's EHR covers) or undated. A row dated
    after it is outside the analysed release (as a record, a death or a period there:
    ``persons.period_after_cutoff_expr``), so no evidence of EHR data: a person whose only rows
    were dated after the cutoff (a later extract read with an earlier release's cutoff, future-dated
    rows) was a ``non_MDD`` control the release observed nothing of. An undated row counts as
    before (the CDM requires the date; evidence of a shared EHR whatever its date)."""
    return F.coalesce(F.col("record_date") <= F.lit(cutoff).cast("date"), F.lit(True))


def ehr_after_cutoff_only_count() -> Column:
    """The aggregate ``n_persons_ehr_rows_after_cutoff_only`` (long) over ``mdd.derive_mdd``'s rows
    (one per person of the person table): the persons with ``ehr_record_rows`` rows, every one dated
    after the cutoff (``ehr_row_in_release_expr`` false): no evidence of EHR data under
    ``omop.ehr_evidence: any_record`` because of the cutoff alone. ``run`` observes it while the MDD
    groups are written (before session 48: a job of its own scanning the four clinical tables again)."""
    return F.coalesce(F.sum(F.col("ehr_rows_after_cutoff_only").cast("long")), F.lit(0)) \
        .alias("n_persons_ehr_rows_after_cutoff_only")


def ehr_evidence_notes(cfg: Config, n_without: int, n_after: int | None) -> tuple[dict[str, object], list[str]]:
    """The manifest's ``notes.ehr_evidence`` and the WARNING lines (without "phenotypes: ") of the EHR
    evidence rule: {rule: ``omop.ehr_evidence``, n_persons_without_ehr_data: ``n_without`` (the cohort
    flow's excluded_no_ehr_data)}, under any_record also n_persons_ehr_rows_after_cutoff_only
    (``n_after``: ``ehr_after_cutoff_only_count`` over the MDD groups) with one WARNING when > 0. The line
    gives no count: beside the INFO line's persons without EHR data a difference could be small."""
    notes: dict[str, object] = {"rule": cfg.omop.ehr_evidence, "n_persons_without_ehr_data": n_without}
    if cfg.omop.ehr_evidence != "any_record":  # the only rule that reads the rows' dates
        return notes, []
    assert n_after is not None, "any_record: the count of persons whose EHR rows all lie after the cutoff"
    notes["n_persons_ehr_rows_after_cutoff_only"] = n_after
    warnings = [f"EHR data by any_record: person(s) whose every row in {' / '.join(EHR_RECORD_TABLES)} is dated "
                "after the data cutoff (omop.data_cutoff_date): rows outside the release are no evidence of EHR "
                "data, so none of them is a control; counted in notes.ehr_evidence.n_persons_ehr_rows_after_cutoff_only"
                ] if n_after else []
    return notes, warnings


def ehr_evidence_persons(spark: SparkSession, omop: dict[str, DataFrame], persons: DataFrame,
                         cfg: Config) -> DataFrame | None:
    """person_id (long; duplicates possible) of the persons with evidence of EHR data under
    ``omop.ehr_evidence`` (config.OmopInput): any_record, every row of any ``EHR_RECORD_TABLES`` table
    (any concept) with in_release (boolean): dated on or before ``omop.data_cutoff_date`` or undated
    (``ehr_row_in_release_expr``; only such rows are evidence: ``mdd.derive_mdd``);
    observation_period, ``persons.has_observation_period``; person_list,
    ``read_ehr_person_list``. None for ``none`` (no rule: ``mdd.derive_mdd``'s ``ehr_persons``).
    Lazy except the person list's checks."""
    mode = cfg.omop.ehr_evidence
    if mode == "none":
        return None
    if mode == "observation_period":
        return persons.where(F.col("has_observation_period")).select("person_id")
    if mode == "person_list":
        assert cfg.omop.ehr_person_list is not None  # config validation
        return read_ehr_person_list(spark, cfg.omop.ehr_person_list, cfg.omop.ehr_person_list_column)
    return ehr_record_rows(omop).select("person_id",
                                        ehr_row_in_release_expr(cfg.omop.data_cutoff_date).alias("in_release"))


def read_ehr_person_list(spark: SparkSession, path: str, column: str) -> DataFrame:
    """person_id (long) from ``column`` of the file at ``path`` (omop.ehr_person_list): Parquet when
    the path ends in .parquet or is a directory, else CSV with a header. Raises InputDataError naming
    the file and the column when the file cannot be read, lacks the column, or a value of it is no
    plain integer (never the value: a person_id). Null cells are not persons (skipped)."""
    where = f"omop.ehr_person_list {path} column {column}"
    local = local_path(path)
    parquet = path.rstrip("/").endswith(".parquet") or (local is not None and Path(local).is_dir())
    try:
        df = (spark.read.parquet(path) if parquet
              else spark.read.options(header="true", inferSchema="false").csv(path))
    except Exception as e:  # noqa: BLE001 - Spark raises AnalysisException for a missing path
        raise InputDataError(f"cannot read the list of persons with EHR data: {str(e).splitlines()[0]}",
                             where=where) from None
    if column not in df.columns:
        raise InputDataError(f"no such column (columns: {', '.join(df.columns[:10])})", where=where)
    text = F.trim(F.col(f"`{column}`").cast("string"))
    n_bad = df.where(text.isNotNull() & ~text.rlike(r"^[0-9]+$")).limit(1).count()
    if n_bad:
        raise InputDataError("a value is no person_id (a plain non-negative integer)", where=where)
    return df.where(text.isNotNull()).select(text.cast("long").alias("person_id"))


def derive_mdd_groups(
    cfg: Config, vocab: Vocabulary, persons: DataFrame, events: dict[str, DataFrame], followup: dict[str, DataFrame],
    sets: dict[str, frozenset[int]], ehr_persons: DataFrame | None = None,
) -> DataFrame:
    """``mdd.derive_mdd`` with the configured concept sets: one row per person of ``persons``.

    ``events``: study events of any date (controls are clean over the whole record);
    ``followup``: the same within follow-up (``followup_events``); ``sets``: ``concept_set_ids``;
    ``ehr_persons``: ``ehr_evidence_persons`` (None: every person may be a control).
    """
    ph = cfg.phenotypes
    ingredient_rows = ingredient_map(_concept_set(cfg, ph.trials.concept_set), vocab)
    # Drugs besides the trials' antidepressants that keep a person out of the controls as any
    # antidepressant does (phenotypes.mdd.control_exclusion_drug_concept_sets: esketamine, licensed
    # for treatment-resistant depression only, forms no trial). From the MDD settings alone: before,
    # the somatic TRD definitions' drug sets, so whether one was configured changed the controls.
    control_drugs = [sets[name] for name in ph.mdd.control_exclusion_drug_concept_sets]
    # The control rule's procedure sets (esketamine given in clinic), each from the table of each
    # of its domains (procedure_occurrence, observation), as procedure_concept_id records.
    control_sets = [(_concept_set(cfg, name), sets[name]) for name in ph.mdd.control_exclusion_procedure_concept_sets]

    def control_records(frames: dict[str, DataFrame]) -> DataFrame | None:
        found = [r.select("person_id", F.col("concept_id").alias("procedure_concept_id"))
                 for cs, ids in control_sets for r in _set_records(cs, ids, frames)]
        return reduce(lambda a, b: a.unionByName(b), found) if found else None

    return derive_mdd(
        persons,
        followup["condition"],
        followup["drug"],
        mdd_ids=sets[ph.mdd.concept_set],
        depression_ids=sets[ph.mdd.control_exclusion_concept_set],
        exclusion_ids={name: sets[name] for name in ph.mdd.exclude_concept_sets},
        antidepressant_ids=frozenset(r[0] for r in ingredient_rows).union(*control_drugs),
        settings=ph.mdd,
        # controls are clean over the whole record (any date), not only within follow-up
        record_conditions=events["condition"],
        record_drugs=events["drug"],
        # esketamine given in clinic (HCPCS G2082/G2083) is a procedure record: the same exposure
        # (phenotypes.mdd.control_exclusion_procedure_concept_sets)
        # (and in observation, where the release gives HCPCS G2082/G2083 that domain)
        procedures=control_records(followup),
        record_procedures=control_records(events),
        antidepressant_procedure_ids=frozenset().union(*[ids for _, ids in control_sets]),
        ehr_persons=ehr_persons,
    )


def trial_ingredients(spark: SparkSession, omop: dict[str, DataFrame], cfg: Config, vocab: Vocabulary) -> DataFrame:
    """``concepts.ingredient_frame`` of the antidepressant set without the ignored ingredients
    (they make a person a non-control but form no trial), with drug_strength amounts when a
    minimum daily dose is configured (collected: the size of the concept set)."""
    ph = cfg.phenotypes
    ignored = set(ph.trials.ignored_ingredient_ids)
    trial_rows = [r for r in ingredient_map(_concept_set(cfg, ph.trials.concept_set), vocab) if r[1] not in ignored]
    return dosed_ingredient_frame(spark, omop["drug_strength"], trial_rows, cfg)


def augmentation_ingredients(
    spark: SparkSession, omop: dict[str, DataFrame], cfg: Config, vocab: Vocabulary
) -> DataFrame | None:
    """``concepts.ingredient_frame`` of the TRD definitions' augmentation sets (their products ->
    ingredient, drug_strength amounts and ``trials.ingredient_min_daily_dose``) when a minimum names
    one of their ingredients, else None (no record is dropped for its dose: no frame, no join).
    Collected: the size of the concept sets."""
    min_dose = dict(cfg.phenotypes.trials.ingredient_min_daily_dose)
    names = dict.fromkeys(d.augmentation_concept_set for d in cfg.phenotypes.trd_definitions
                          if d.rule == "augmentation" and d.augmentation_concept_set)
    rows = sorted({r for name in names for r in ingredient_map(_concept_set(cfg, name), vocab)})
    if not any(r[1] in min_dose for r in rows):
        return None
    return dosed_ingredient_frame(spark, omop["drug_strength"], rows, cfg)


def derive_trials(cfg: Config, followup_drugs: DataFrame, ingredients: DataFrame, mdd: DataFrame) -> DataFrame:
    """ANTIDEPRESSANT_TRIALS from study drug records within follow-up (``trials`` module rules)."""
    t = cfg.phenotypes.trials
    exposures = derive_ingredient_exposures(
        followup_drugs, ingredients, t.default_days_supply,
        use_verbatim_end_date=t.use_verbatim_end_date, use_refills=t.use_refills, max_days_supply=t.max_days_supply,
        mail_order_days_supply=t.mail_order_days_supply,
    )
    return derive_antidepressant_trials(exposures, mdd, t)


def derive_definition_phenotypes(
    cfg: Config, followup: dict[str, DataFrame], mdd: DataFrame, trials: DataFrame, sets: dict[str, frozenset[int]],
    augmentation_doses: DataFrame | None = None, periods: DataFrame | None = None,
) -> DataFrame:
    """PHENOTYPES for every configured TRD definition (``trd.derive_phenotypes``): the onsets
    are column expressions over ONE per-person frame (``trd.person_treatment``); ``sets``:
    ``concept_set_ids``; ``augmentation_doses``: ``augmentation_ingredients`` (None: any dose of an
    agent is an augmentation exposure); ``periods``: ``mdd_index_periods`` (None: the Cox time at
    risk runs to the end of follow-up, ``phenotypes.cox_time_at_risk: followup``)."""
    ph = cfg.phenotypes
    drugs = followup["drug"]
    augmentation, somatic, onsets = {}, {}, {}
    for d in ph.trd_definitions:
        if d.rule == "antidepressant_sequence":
            onsets[d.name] = sequence_onset_expr(d.n_trials, last_trial_adequate=d.last_trial_adequate)
        elif d.rule == "augmentation":
            # Any exposure to an agent of the set, products reaching it through concept_ancestor.
            assert d.augmentation_concept_set  # required by the augmentation rule (config validation)
            augmentation[d.name] = _drug_events(drugs, sets[d.augmentation_concept_set], augmentation_doses,
                                                ph.trials.max_days_supply)
            onsets[d.name] = augmentation_onset_expr(d.name, d.n_trials)
        else:
            somatic[d.name] = _somatic_events(d, cfg, sets, followup)
            onsets[d.name] = somatic_onset_expr(d.name)
    ranks = [d.n_trials for d in ph.trd_definitions if d.rule != "somatic"]
    treatment = person_treatment(trials, ranks, augmentation, somatic)
    return derive_phenotypes(mdd, treatment, onsets, trmdd_min_followup_days=ph.trmdd_min_followup_days,
                             periods=periods)


def mdd_index_periods(cfg: Config, observation_period: DataFrame, persons: DataFrame, mdd: DataFrame
                      ) -> DataFrame | None:
    """``persons.index_periods`` of the MDD persons (``mdd``: ``derive_mdd`` rows), over the
    observation spans of ``observation_period`` (``persons.observation_spans``; ``persons``: PERSONS)
    merged across gaps of at most ``phenotypes.observation_period_gap_days`` unobserved days
    (``persons.bridge_observation_gaps``; above 0 the rows also carry the index's span end without the
    window and the gaps bridged, for ``observation_gap_count_columns`` and ``trd.gap_window_columns``);
    None under ``phenotypes.cox_time_at_risk: followup`` (no span is read)."""
    ph = cfg.phenotypes
    if ph.cox_time_at_risk != "index_period":
        return None
    spans = observation_spans(observation_period, persons, cfg.omop.data_cutoff_date)
    index = mdd.where(F.col("mdd_status") == Status.MDD)
    if ph.observation_period_gap_days == 0:
        return index_periods(spans, index)
    return index_periods(bridge_observation_gaps(spans, ph.observation_period_gap_days), index, spans)


def derive_phenotype_tables(
    omop: dict[str, DataFrame], cfg: Config, vocab: Vocabulary | None = None
) -> PhenotypeTables:
    """All phenotype-stage tables from OMOP tables (keys of ``OMOP_COLUMNS``, declared columns).

    ``vocab`` (``study_vocabulary``) is collected here when not given; everything else is lazy.
    ``run`` chains the same steps but writes the study events, persons, MDD groups and trials
    once and builds the next step on the written files.
    """
    vocab = vocab or study_vocabulary(omop, cfg)
    persons = derive_persons(
        omop["person"], omop["observation_period"], omop["death"], cfg.omop.data_cutoff_date, cfg.omop.sex_at_birth
    )
    events = derive_study_events(omop, cfg, vocab, foreign_reversals=True)
    both = events["drug"]
    events["drug"] = study_drug_records(both)
    # matched in each query that reads the records (run writes them once)
    matches = reversal_matches(events["drug"], foreign_reversal_records(both))
    followup = followup_events(events, persons, matches)
    sets = concept_set_ids(cfg, vocab)
    mdd = derive_mdd_groups(cfg, vocab, persons, events, followup, sets,
                            ehr_evidence_persons(persons.sparkSession, omop, persons, cfg))
    ingredients = trial_ingredients(persons.sparkSession, omop, cfg, vocab)
    trials = derive_trials(cfg, followup["drug"], ingredients, mdd)
    doses = augmentation_ingredients(persons.sparkSession, omop, cfg, vocab)
    periods = mdd_index_periods(cfg, omop["observation_period"], persons, mdd)
    phenotypes = derive_definition_phenotypes(cfg, followup, mdd, trials, sets, doses, periods)
    return PhenotypeTables(
        study_events=events, persons=persons, mdd=mdd, trials=trials, phenotypes=phenotypes, ingredients=ingredients,
        augmentation_ingredients=doses, reversal_matches=matches,
    )


# Tables an OMOP release may lack: read as empty (logged and noted in the manifest).
# observation: read only when a set of that domain is configured (omop.omop_tables_read); absent,
# it is an error once such a set has a member in this release (check_observation_table).
OPTIONAL_TABLES = ("death", "device_exposure", "drug_strength", "observation")


def read_omop(spark: SparkSession, cfg: Config, absent: list[str] | None = None) -> dict[str, DataFrame]:
    """Every table of ``OMOP_COLUMNS``; an absent optional table (death, device_exposure,
    drug_strength, observation) is an empty frame and its name is appended to ``absent``; but an
    absent death table whose release has dates in ``person.death_datetime`` (CDM v6.0, which has no
    death table) is not listed: its deaths are known (``person_death_rows``), and the report would
    say none is (``report.stage.absent_tables_text``, the flow's and the Cox text's follow-up end).

    drug_strength is read only when a minimum daily dose is configured, observation only when a
    study set reads it (``omop.omop_tables_read``; else empty, unread); an absent observation
    that such a set needs is ``check_observation_table``'s error.
    An optional table that exists but lacks a column is still an error, and so is an absent
    ``omop.death_table`` other than the CDM's ``death`` (``aou_death``: configured because the
    release has it; read as empty, every death would be lost).
    """
    out = {}
    read = omop_tables_read(cfg)  # the tables its rerun fingerprint covers (omop.stage_input_files)
    for t in OMOP_TABLES:
        if t not in read:
            out[t] = empty_frame(spark, omop_schema(t))
            continue
        try:
            out[t] = read_omop_table(spark, cfg.omop, t, records_below=cfg.report.small_count_threshold)
        except InputDataError as e:
            named = t == "death" and cfg.omop.death_table != "death"  # a table the config names is no option
            if t not in OPTIONAL_TABLES or named or cfg.omop.format == "bigquery" or "not found" not in str(e):
                raise
            out[t] = empty_frame(spark, omop_schema(t))
            # "treated as empty" (and "death" absent: the report's "no death is known") told of no
            # deaths where the person table has some; a column with none (or none exported: the
            # conformed person table holds it null) is no deaths (person is read first; one row read)
            if t == "death" and out["person"].where(F.col("death_datetime").isNotNull()).take(1):
                log.warning("phenotypes: OMOP table %s not found; deaths are read from person.death_datetime",
                            release_table(cfg.omop, t))
                continue
            log.warning("phenotypes: OMOP table %s not found; treated as empty", release_table(cfg.omop, t))
            if absent is not None:
                absent.append(t)
    # CDM v6.0's person.death_datetime: death rows too, whatever the death table holds
    out["death"] = out["death"].unionByName(person_death_rows(out["person"]))
    return out


# Quirk parts (``stage_counts``) whose every count is one of persons in the logs: the persons
# table's, and the observation periods' (one row per participant in the AoU CDR).
PERSON_QUIRKS = frozenset({"persons", "observation_periods"})


def quirk_log_text(what: str, counts: dict[str, int], persons_below: int) -> str:
    """The run log's line of one quirk part (``stage_counts``), e.g. ``observation_periods:
    n_periods 20+, n_overlapping_periods 0, ...``. Counts of persons read as labels
    (``logs.person_count_text``): the ``PERSON_QUIRKS`` parts and every ``n_persons_*`` count;
    the observation periods are persons in disguise (the AoU CDR has one per participant: an
    exact n_periods 2,993 with the export's 3,000 persons gave its 7 persons without a period,
    tests/test_privacy_logs.py). Records (study records, exposures) as ``logs.record_counts_text``
    shows them, T = ``persons_below``: 1 to T-1 as ``<T`` (k records are 1 to k persons: one record
    is one person), a total of a part so shown as ``T+`` (``QUIRK_SUMS``). One line alone: ``run``
    reads the lines of a run together (``stage_count_texts``)."""
    return stage_count_texts({}, {what: counts}, persons_below)[1][what]


# Sums among a quirk part's record counts (total -> parts; ``logs.record_counts_text``, which
# reads total - sum(parts) as a hidden part): trials.exposure_record_counts' n_records is its
# parts and the negative days_supply rows within follow-up, a count its line does not show.
QUIRK_SUMS = {"antidepressant_exposures": {"n_records": ("n_below_min_dose", "n_exposures", "n_duplicates_removed")}}
# Sums among a domain's study_event_dates counts (``persons.followup_date_counts``) for its log
# line (``followup_log_text``).
FOLLOWUP_SUMS = {
    "n_after_followup_end": ("n_after_death", "n_after_cutoff", "n_after_observation_end"),
    "n_records": ("n_unknown_person", "n_missing_date", "n_before_birth_year", "n_after_followup_end", "n_kept"),
}
# Counts two lines of one run show, each the other's (names as ``stage_count_texts`` qualifies
# them): the drug domain's study records (followup_date_counts over events["drug"]) and
# drug_values' n_records (implausible_drug_value_columns over the same frame). The followup line
# labelled its total 20+ while drug_values printed it exactly, giving back the records after
# death (session 36 reader, item 1).
SAME_RECORD_COUNTS = (("study_event_dates.drug.n_records", "quirks.drug_values.n_records"),)


def records_within(quirks: dict[str, dict[str, int]]) -> list[tuple[str, tuple[str, ...]]]:
    """The (total, parts) pairs of ``logs.record_counts_text``'s ``within`` across the lines of
    ``stage_count_texts`` (names qualified as there): counts of two lines whose difference is a
    count of records no line shows (privacy round 6, session 37: exact on both lines, 80 procedure
    records with 77 study ones gave the 3 others). Per event table: its records hold its study
    records and its records of concept 0 with a source concept (disjoint: no set holds concept 0),
    and those and the records of a non-standard concept (``event_table_counts``: disjoint by
    definition); the study drug records (every date) hold each drug-record quirk's records and each
    implausible value's (a record may have several quirks: one part each), the study condition
    records their preliminary and 'history of' records (one status per record); the drug records
    kept within follow-up hold the antidepressant records ``antidepressant_exposures`` counts (rows
    x ingredient reached: a combination product counts twice there, which only makes the relation
    more cautious); drug_exposure's records hold the unreached products' (``UNREACHED``), apart from its
    study, concept-0 and non-standard records; each table's records hold those of a concept ``concept``
    lacks (``UNKNOWN_PART``), apart from all of those. A pair whose counts a run lacks is skipped (``record_counts_text``)."""
    out: list[tuple[str, tuple[str, ...]]] = []
    for domain, (table, _, _) in EVENT_TABLES.items():
        total = f"quirks.event_table_records.n_{table}{RECORDS_SUFFIX}"
        zero, other = f"quirks.unmapped_records.n_{table}", f"quirks.unmapped_records.n_{table}{NONSTANDARD_SUFFIX}"
        study = f"study_event_dates.{domain}.n_records"
        out += [(total, (study,)), (total, (study, zero)), (total, (zero, other))]
    drugs, conditions = "study_event_dates.drug.n_records", "study_event_dates.condition.n_records"
    out += [(drugs, (f"quirks.drug_records.{k}",)) for k in quirks.get("drug_records", {})]
    out += [("quirks.drug_values.n_records", (f"quirks.drug_values.{k}",)) for k in quirks.get("drug_values", {})
            if k != "n_records"]
    status = tuple(f"quirks.condition_status.{k}" for k in quirks.get("condition_status", {}))
    out += [(conditions, (k,)) for k in status] + ([(conditions, status)] if status else [])
    out += [("study_event_dates.drug.n_kept", ("quirks.antidepressant_exposures.n_records",))]
    # the exposures' records hold those below their minimum dose and those of unknown dose (disjoint:
    # a dose is known or not): the rest is the records of a known dose at or above it or of an
    # ingredient without one, which no line shows (privacy round 7 of session 50: n_records 1,000,
    # n_below_min_dose 300 and n_dose_unknown 695 gave 5)
    exposures = "quirks.antidepressant_exposures."
    out += [(exposures + "n_records", tuple(exposures + k for k in parts))
            for parts in (("n_dose_unknown",), ("n_below_min_dose", "n_dose_unknown"))
            if all(k in quirks.get("antidepressant_exposures", {}) for k in parts)]
    # the augmentation records (within follow-up) below / of unknown dose: disjoint per agent
    augmentation = tuple(f"quirks.augmentation_exposures.{k}" for k in quirks.get("augmentation_exposures", {}))
    out += [("study_event_dates.drug.n_kept", augmentation)] if augmentation else []
    # the study drug records (every date) hold each set's records left out for their dose form
    out += [(drugs, (f"quirks.{DOSE_FORM_PART}.{k}",)) for k in quirks.get(DOSE_FORM_PART, {}) if "persons" not in k]
    # observation's records hold those of a condition concept (disjoint from its study and concept-0 records)
    if CONDITION_IN_OBSERVATION_PART in quirks:
        total = f"quirks.event_table_records.n_{OBSERVATION_TABLE}{RECORDS_SUFFIX}"
        misplaced = f"quirks.{CONDITION_IN_OBSERVATION_PART}.{CONDITION_IN_OBSERVATION}"
        out += [(total, (misplaced,)), (total, ("study_event_dates.observation.n_records", misplaced)),
                (total, (f"quirks.unmapped_records.n_{OBSERVATION_TABLE}", misplaced))]
    # drug_exposure's records hold the unreached products' (UNREACHED): standard, valid concepts, so disjoint
    # from its concept-0 and its non-standard records; by name (no study drug set reaches them) from its study
    # records too. By drug_strength a combination product reached through one ingredient only is both a study
    # record and unreached: the second relation then overstates the rest (a reader's arithmetic on it gives
    # no count of records), and labels at worst more than it must
    if UNREACHED_PART in quirks:
        total = f"quirks.event_table_records.n_drug_exposure{RECORDS_SUFFIX}"
        orphan = f"quirks.{UNREACHED_PART}.{UNREACHED}"
        zero, other = "quirks.unmapped_records.n_drug_exposure", f"quirks.unmapped_records.n_drug_exposure{NONSTANDARD_SUFFIX}"
        out += [(total, (orphan,)), (total, (drugs, zero, orphan)), (total, (zero, other, orphan))]
        # the records a name decided are some of them (drug_strength only)
        if UNREACHED_NAMED in quirks[UNREACHED_PART]:
            out += [(orphan, (f"quirks.{UNREACHED_PART}.{UNREACHED_NAMED}",))]
    # each table's records hold those of a concept absent from concept (UNKNOWN_SUFFIX): no concept row,
    # so disjoint from its study records (members are concept rows), concept 0, the non-standard and
    # the unreached records (both read a concept row)
    for domain, (table, _, _) in EVENT_TABLES.items():
        unknown = f"n_{table}{UNKNOWN_SUFFIX}"
        if unknown not in quirks.get(UNKNOWN_PART, {}):
            continue
        total, lost = f"quirks.event_table_records.n_{table}{RECORDS_SUFFIX}", f"quirks.{UNKNOWN_PART}.{unknown}"
        zero, other = f"quirks.unmapped_records.n_{table}", f"quirks.unmapped_records.n_{table}{NONSTANDARD_SUFFIX}"
        study = f"study_event_dates.{domain}.n_records"
        out += [(total, (lost,)), (total, (study, zero, lost)), (total, (zero, other, lost))]
        if table == "drug_exposure" and UNREACHED_PART in quirks:
            orphan = f"quirks.{UNREACHED_PART}.{UNREACHED}"
            out += [(total, (study, zero, orphan, lost)), (total, (zero, other, orphan, lost))]
    # the claim reversals (REVERSALS: cancelled claims + unmatched reversals, every date) are the study drug
    # records of a negative days_supply or quantity, so they hold each drug-record quirk of those: the rests
    # are the reversals negative in the quantity only / the days_supply only, and either less its quirk the
    # records negative in both (privacy round 12, session 56: 300 negative days_supply records beside 280
    # cancelled claims and 25 unmatched reversals gave 5 of a negative quantity only)
    # (session 57: the reversals read by their source code are among them too, apart from the study records'
    # negative ones, which are study records: disjoint from each quirk's)
    by_source = (SOURCE_REVERSALS,) if SOURCE_REVERSAL_PART in quirks and REVERSAL_PART in quirks else ()
    for k in ("n_negative_days_supply", "n_negative_quantity"):
        if REVERSAL_PART in quirks and k in quirks.get("drug_records", {}):
            out += [(REVERSALS, (f"quirks.drug_records.{k}",))]
            out += [(REVERSALS, (f"quirks.drug_records.{k}", *by_source))] if by_source else []
    out += [(REVERSALS, by_source)] if by_source else []
    return out


# The claim reversals of the study drug records (trials.reversed_claim_counts): each cancels one claim or is
# counted unmatched, so their number is a count the reader of the reversed_claims line gets, though no line
# shows it; read as shown (``_stage_relations``) so that what it gives back is labelled (``records_within``).
REVERSAL_PART = "reversed_claims"
REVERSALS = f"quirks.{REVERSAL_PART}.n_reversals"
REVERSAL_PARTS = (f"quirks.{REVERSAL_PART}.n_reversed_claims", f"quirks.{REVERSAL_PART}.n_unmatched_reversals")
# ... of which the reversals outside the study sets read by their source code (trials.source_reversal_counts)
SOURCE_REVERSAL_PART = "reversals_by_source"
SOURCE_REVERSALS = f"quirks.{SOURCE_REVERSAL_PART}.n_reversals_by_source"


def _stage_relations(event_dates: dict[str, dict[str, int]], quirks: dict[str, dict[str, int]]
                     ) -> tuple[dict[str, int], list[tuple[str, tuple[str, ...]]]]:
    """(every record count of the stage's lines, names qualified as ``stage_record_texts`` says;
    the sums among them: ``FOLLOWUP_SUMS``, ``QUIRK_SUMS``, ``SAME_RECORD_COUNTS``)."""
    flat: dict[str, int] = {}
    sums: list[tuple[str, tuple[str, ...]]] = []  # pairs: a total may have two sums (n_records)
    for domain, counts in event_dates.items():
        at = f"study_event_dates.{domain}."
        flat.update({at + k: v for k, v in counts.items() if k != "n_dated_after_cutoff"})
        sums += [(at + t, tuple(at + p for p in parts)) for t, parts in FOLLOWUP_SUMS.items()]
    for what, counts in quirks.items():
        at = f"quirks.{what}."
        flat.update({at + k: v for k, v in counts.items() if not (what in PERSON_QUIRKS or "persons" in k)})
        sums += [(at + t, tuple(at + p for p in parts)) for t, parts in QUIRK_SUMS.get(what, {}).items()]
    for one, other in SAME_RECORD_COUNTS:
        sums += [(one, (other,)), (other, (one,))]
    if all(p in flat for p in REVERSAL_PARTS):  # the reversals: a count no line shows, read as shown
        flat[REVERSALS] = sum(flat[p] for p in REVERSAL_PARTS)
        sums += [(REVERSALS, REVERSAL_PARTS)]
    return flat, sums


def stage_record_counts_read(event_dates: dict[str, dict[str, int]], quirks: dict[str, dict[str, int]],
                             shown: Mapping[str, str]) -> dict[str, int]:
    """name -> count of every record count the reader of the stage's lines gets (``shown``:
    ``stage_record_texts``; ``logs.record_counts_read``): what the manifest keeps of the lines
    (``RECORD_COUNTS_LOGGED``) for the later runs' ``prior``."""
    flat, sums = _stage_relations(event_dates, quirks)
    return record_counts_read(flat, shown, sums, within=records_within(quirks))


def stage_record_texts(event_dates: dict[str, dict[str, int]], quirks: dict[str, dict[str, int]],
                       records_below: int, prior: Mapping[str, Collection[int]] | None = None) -> dict[str, str]:
    """Every record count of the phenotypes stage's lines as they show it (names qualified
    ``study_event_dates.<domain>.<key>``, ``quirks.<part>.<key>``; persons left out), read together
    as ``stage_count_texts`` describes, with ``logs.record_counts_text``'s ``apart``: no two counts
    shown exactly, or given back by the sums above where a sum holds exactly, differ by 1 to T-1
    (privacy round 7, session 38; a derived one since its reader, helper "fixesA"). The WARNING lines of these
    counts (``unread_record_warnings``, ``concept_record_warnings``, ``conditional_record_warnings``,
    the drug-record and condition-status lines) show them from here too: a count the INFO lines
    label and a WARNING showed exactly gave the pair back. ``prior`` (``logged_record_counts``): the
    counts other runs' lines gave (other releases, earlier runs of this one), by name; a count 1..T-1
    from the same count there is read as a close pair (``logs.record_counts_text``)."""
    flat, sums = _stage_relations(event_dates, quirks)
    return record_counts_text(flat, records_below, sums, within=records_within(quirks), apart=True, prior=prior)


def record_text(shown: Mapping[str, str] | None, name: str, n: int, records_below: int | None) -> str:
    """How a WARNING line shows record count ``n``: as the INFO lines do (``shown``, from
    ``stage_record_texts``; ``name`` qualified as there) when given, else ``logs.record_count_text``."""
    return shown[name] if shown is not None and name in shown else record_count_text(n, records_below)


def stage_count_texts(event_dates: dict[str, dict[str, int]], quirks: dict[str, dict[str, int]],
                      records_below: int, prior: Mapping[str, Collection[int]] | None = None
                      ) -> tuple[dict[str, str], dict[str, str]]:
    """The run log's INFO lines of ``stage_counts``' counts, read together as their reader can:
    (domain -> its follow-up line's counts, ``followup_log_text``; quirk part -> its line,
    ``quirk_log_text``). Record counts through one ``logs.record_counts_text`` over every line
    (names qualified ``study_event_dates.<domain>.<key>``, ``quirks.<part>.<key>``, as the
    manifest's notes), with ``FOLLOWUP_SUMS`` per domain, ``QUIRK_SUMS`` per part and
    ``SAME_RECORD_COUNTS`` across lines, so a total shown in two lines is shown the same way in
    both, and ``records_within`` (a total that holds counts of other lines and records no line
    shows); T = ``records_below`` (``report.small_count_threshold``). Persons (``PERSON_QUIRKS``,
    ``n_persons_*``) as ``logs.person_count_text``. n_dated_after_cutoff is not logged (the
    manifest has it): less n_after_cutoff it is the records after death dated after the cutoff.
    No two counts shown exactly differ by 1 to T-1 (``stage_record_texts``), nor one from the same
    count of ``prior`` (other runs' lines)."""
    shown = stage_record_texts(event_dates, quirks, records_below, prior)
    followup = {domain: ", ".join(f"{k} {shown[f'study_event_dates.{domain}.{k}']}" for k in counts
                                  if k != "n_dated_after_cutoff") for domain, counts in event_dates.items()}
    lines = {what: f"{what}: " + ", ".join(
        f"{k} {shown.get(f'quirks.{what}.{k}') or count_text(v, persons_below=records_below)}"
        for k, v in counts.items()) for what, counts in quirks.items()}
    return followup, lines


def followup_log_text(counts: dict[str, int], records_below: int) -> str:
    """The run log's counts of one domain's study records (``stage_counts``' study_event_dates),
    ``n_records 1,200, n_unknown_person 0, n_after_death <20, ...``, as ``logs.record_counts_text``
    shows them (T = ``records_below``): 1 to T-1 as ``<T``, a total of ``FOLLOWUP_SUMS`` with a
    part so shown as ``T+``. n_dated_after_cutoff is not logged (the manifest has it): less
    n_after_cutoff it is the records after death dated after the cutoff, a count of its own. One
    line alone: ``run`` reads the lines of a run together (``stage_count_texts``)."""
    return stage_count_texts({"domain": counts}, {}, records_below)[0]["domain"]


def unread_record_warnings(event_dates: dict[str, dict[str, int]], records_below: int | None,
                           shown: Mapping[str, str] | None = None) -> list[str]:
    """The run log's WARNING lines (after "phenotypes: ") for the study records no rule can place,
    per domain of ``stage_counts``' study_event_dates (``persons.followup_date_counts``), each
    naming table and column: n_unknown_person (an empty ``person_id`` or one no person row has:
    read by no rule) and n_missing_date (an empty date column and datetime partner: no diagnosis
    date, trial or onset, though such a record still counts where the rules read the whole record,
    ``mdd.derive_mdd``: an exclusion diagnosis excludes, any study record keeps its person out of
    the controls). Records, not persons: ``logs.record_count_text`` (``records_below``: 1 to T-1 as
    ``<T``; no default, None for the exact counts only when asked), as the other record warnings;
    ``shown``: the texts of ``stage_record_texts``, as the INFO lines show the counts). Empty when
    there are none (they were counted, at INFO only, before)."""
    out = []
    for domain, counts in event_dates.items():
        table, _, date_col = EVENT_TABLES[domain]
        text = {k: record_text(shown, f"study_event_dates.{domain}.{k}", v, records_below) for k, v in counts.items()}
        if counts.get("n_unknown_person"):
            out.append(f"{table}: {text['n_unknown_person']} study record(s) with an empty person_id or one the "
                       "person table lacks are not read (counted in notes.study_event_dates as n_unknown_person)")
        if counts.get("n_missing_date"):
            out.append(f"{table}: {text['n_missing_date']} study record(s) with an empty {date_col} (and no datetime "
                       "to take it from) are no diagnosis date, trial or onset; they count only where the rules read the "
                       "whole record, exclusions and controls (counted in notes.study_event_dates as n_missing_date)")
    return out


def concept_record_warnings(unmapped: dict[str, int], records_below: int | None,
                            shown: Mapping[str, str] | None = None) -> list[str]:
    """The run log's WARNING lines (after "phenotypes: ") for the event records no concept set can
    match, from ``stage_counts``' quirks.unmapped_records (``event_table_counts``' n_<table> and
    n_<table>_nonstandard), each naming its table: records with concept 0
    and a source concept, and records whose standard concept column holds a concept that is not
    a standard, valid one (its column named). Records, not persons: ``logs.record_count_text``
    (``records_below``: 1 to T-1 as ``<T``; no default, None for the exact counts only when
    asked). Empty when there are none. A table of
    ``NARROW_TABLES`` (observation) is counted among the concepts a study set could name
    (``observation_count_ids``, as ``run`` passes them), and its lines say so.
    """
    out = []
    for what, n in unmapped.items():
        text = record_text(shown, f"quirks.unmapped_records.{what}", n, records_below)  # shown: stage_record_texts
        table = what.removeprefix("n_").removesuffix(NONSTANDARD_SUFFIX)
        if n and table in NARROW_TABLES and what.endswith(NONSTANDARD_SUFFIX):
            out.append(f"{table}: {text} record(s) whose {SOURCE_CONCEPT_OF[table][0]} is a study concept set's "
                       "concept held not standard / not valid in this release (OHDSI DQD isStandardValidConcept) "
                       "match no concept set and are not read (standard concepts only; the table's other records, "
                       "e.g. survey answers, are not counted: no set reads them)")
        elif n and table in NARROW_TABLES:
            out.append(f"{table}: {text} record(s) with concept_id 0 (no standard concept) whose "
                       f"{SOURCE_CONCEPT_OF[table][1]} is a concept of a study concept set read there are not read "
                       "(standard concepts only, as OHDSI cohort definitions; the table's other concept-0 records, "
                       "e.g. survey answers, are not counted: no set reads them)")
        elif n and what.endswith(NONSTANDARD_SUFFIX):
            out.append(f"{table}: {text} record(s) whose {SOURCE_CONCEPT_OF[table][0]} is not a standard, valid concept "
                       "(a source code such as ICD10CM or NDC, a classification or a deprecated concept: OHDSI DQD "
                       "isStandardValidConcept) match no concept set (unless one names that concept itself) and are "
                       "not read (standard concepts only; "
                       "mapping needs concept_relationship 'Maps to', which the study does not read)")
        elif n:
            out.append(f"{what.removeprefix('n_')}: {text} record(s) with concept_id 0 (no standard concept) and a source "
                       "concept are not read (standard concepts only, as OHDSI cohort definitions)")
    return out


def implausible_birth_warnings(persons: dict[str, int]) -> list[str]:
    """The run log's WARNING line (after "phenotypes: ") for the persons excluded for a year of birth
    that gives no usable age (``person_count_columns``' n_persons_birth_year_implausible, the
    cohort flow's excluded_implausible_year_of_birth: one rule), naming table and column. Persons:
    no count in the line. Empty when there are none."""
    if not persons["n_persons_birth_year_implausible"]:
        return []
    return [f"person: year_of_birth gives no usable age (before {PLAUSIBLE_BIRTH_YEAR_LOW}, OHDSI Data Quality "
            f"Dashboard's plausibleValueLow, or an age below 0 or above {MAX_PLAUSIBLE_AGE_YEARS} at the end of "
            "observation, e.g. a 1800 or 2099 placeholder): these persons are excluded (exclusion_reason "
            "implausible_year_of_birth), counted in notes.quirks.persons.n_persons_birth_year_implausible and in the "
            "cohort flow's excluded_implausible_year_of_birth (the same persons)"]


def birth_and_death_warnings(counts: dict[str, int], death_table: str = "death") -> list[str]:
    """The run log's WARNING lines (after "phenotypes: ") for ``persons.birth_death_quirk_counts``'
    rows the rules do not use or use as written, each naming its table and column: the deaths' table
    as ``death_table`` (``omop.death_table``: ``aou_death`` on All of Us CDR v8+, read as ``death``,
    so a line saying "death:" sent the reader to a table the run did not read). Persons: no count
    in a line (notes.quirks.birth_and_death has them). Empty when there are none."""
    out = []
    if counts["n_persons_death_undated"]:
        out.append(f"{death_table}: row(s) with neither death_date nor death_datetime are not used (no date to end "
                   "follow-up with; a person without another death row is followed as alive); counted in "
                   "notes.quirks.birth_and_death.n_persons_death_undated")
    if counts["n_persons_period_undated"]:
        out.append("observation_period: row(s) with neither observation_period_start_date nor "
                   "observation_period_end_date are no period and are not used (the CDM requires both; read as open "
                   "they gave follow-up to the data cutoff); counted in "
                   "notes.quirks.birth_and_death.n_persons_period_undated")
    if counts.get("n_persons_period_after_cutoff"):  # counted only with the cutoff (the stage passes it)
        out.append("observation_period: row(s) whose first day lies after the data cutoff (omop.data_cutoff_date, "
                   "the last date the release covers) are no period and are not used (they observed nothing the "
                   "release holds; read, they gave follow-up to the cutoff); counted in "
                   "notes.quirks.birth_and_death.n_persons_period_after_cutoff")
    for table, key in ((death_table, "n_persons_death_not_in_person_table"),
                       ("observation_period", "n_persons_period_not_in_person_table")):
        if counts[key]:
            out.append(f"{table}: row(s) of persons missing from the person table are not used (the CDM requires a "
                       f"person row; a {table} table of another release or extract?); counted in "
                       f"notes.quirks.birth_and_death.{key}")
    return out


def drug_record_quirk_columns(max_days_supply: int, *, use_verbatim_end_date: bool = True,
                              where: Column | None = None) -> list[Column]:
    """Aggregates over study drug records (long), each counted and warned about, not an error
    (``DRUG_RECORD_QUIRK_TEXT`` says what the rules make of it; trials module docstring):
    n_end_before_start (drug_exposure_end_date before the start), n_negative_days_supply (no
    exposure: OHDSI Themis drops such records), n_zero_days_supply (unknown: the default),
    n_refill_course_over_max (days_supply x (1 + refills) over ``max_days_supply``: refills not
    used) and n_negative_refills (refills below 0, which the CDM does not allow: read as none,
    ``trials.exposure_end_expr`` uses refills > 0 only), n_negative_quantity (no exposure either: a
    claim reversal written as the units returned, ``trials.is_reversal_expr``); the two refill counts 0 unless
    ``trials.use_refills``, as ``refills`` is not read otherwise; n_administration_one_day (an
    administration record, ``vocabulary.ADMINISTRATION_DRUG_TYPE_IDS``, with no usable end or
    days_supply: its own day, not the default length, ``trials.administration_one_day_expr``;
    ``use_verbatim_end_date``: ``trials.use_verbatim_end_date``), n_mail_order_default (a mail-order
    prescription, ``vocabulary.MAIL_ORDER_DRUG_TYPE_IDS``, with no usable end or days_supply:
    ``trials.mail_order_days_supply`` days, ``trials.mail_order_default_expr``) and n_verbatim_end_not_after_start
    (a verbatim_end_date on or before the start: the rule takes one only after it, so the end comes
    from the end date, days_supply or the default; 0 unless ``use_verbatim_end_date``, which alone
    reads it; uncounted before session 36). Over the study drug records of
    every date (the antidepressants' and the augmentation and esketamine sets'), as the control
    rule reads them, not only those within follow-up that form trials and onsets (the run's
    WARNING says so): observed on the one scan that writes them. ``where`` (None: every row): the rows counted
    (``run``: the study records, not the reversals outside the study sets written beside them)."""
    start, ds = F.col("drug_exposure_start_date"), F.col("days_supply")

    def n(flag: Column, name: str) -> Column:
        return F.coalesce(F.sum((flag if where is None else flag & where).cast("long")), F.lit(0)).alias(name)

    return [
        n(F.col("drug_exposure_end_date") < start, "n_end_before_start"),
        n(ds < 0, "n_negative_days_supply"),
        n(F.col("quantity") < 0, "n_negative_quantity"),
        n(ds == 0, "n_zero_days_supply"),
        n(refill_course_over_max_expr(max_days_supply), "n_refill_course_over_max"),
        n(F.col("refills") < 0, "n_negative_refills"),
        n(administration_one_day_expr(use_verbatim_end_date, max_days_supply), "n_administration_one_day"),
        n(mail_order_default_expr(use_verbatim_end_date, max_days_supply), "n_mail_order_default"),
        # read only when used (trials.exposure_end_expr takes a verbatim end AFTER the start)
        n(F.col("verbatim_end_date") <= start if use_verbatim_end_date else F.lit(False),
          "n_verbatim_end_not_after_start"),
    ]


# What the rules make of each ``drug_record_quirk_columns`` count (its WARNING line).
DRUG_RECORD_QUIRK_TEXT = {
    "n_end_before_start": "exposure end taken from days_supply or the default",
    "n_negative_days_supply": "not used as exposures: a negative days_supply is not allowed by the CDM (OHDSI "
                              "Themis: such a record is dropped, e.g. a claim reversal); still no control",
    "n_negative_quantity": "not used as exposures: a negative quantity (units returned, a claim reversal; OHDSI DQD "
                           "plausibleValueLow 0.0000001); still no control",
    "n_zero_days_supply": "days_supply 0 read as unknown: exposure end from the end date or the default length",
    "n_refill_course_over_max": "refill course (days_supply x (1 + refills)) over trials.max_days_supply: "
                                "refills not used, the record's own days_supply is",
    "n_negative_refills": "refills negative (not allowed by the CDM, e.g. a reversal): read as no refills",
    "n_mail_order_default": "a mail-order prescription (drug_type_concept_id 38000176) without an end or days_supply: "
                            "trials.mail_order_days_supply days (OHDSI Themis: start + 89), not "
                            "trials.default_days_supply",
    "n_administration_one_day": "an administration record (a dose given, drug_type_concept_id) without an end or "
                                "days_supply: its own day, not trials.default_days_supply",
    "n_verbatim_end_not_after_start": "verbatim_end_date on or before the start (no exposure length): not used, the "
                                      "end from drug_exposure_end_date, days_supply or the default",
}


def drug_record_quirks(drugs: DataFrame, max_days_supply: int, *, use_verbatim_end_date: bool = True) -> DataFrame:
    """One row over study drug records: ``drug_record_quirk_columns``."""
    return drugs.agg(*drug_record_quirk_columns(max_days_supply, use_verbatim_end_date=use_verbatim_end_date))


# event_table_counts' key suffix of the records whose concept is not a standard, valid one.
NONSTANDARD_SUFFIX = "_nonstandard"
# event_table_counts' concept for a NARROW_TABLES record no study set could name (one group for
# them all; -1 is no concept_id: OMOP's are 0 or positive, so it joins no concept row).
OTHER_CONCEPT = -1
# event_table_counts' key suffix of a table's records (every row, whatever its concept).
RECORDS_SUFFIX = "_records"
# event_table_counts' key suffix (after n_<set>) of the records a set's conditional source codes
# carry whose standard concept is not in the set (``conditional_record_checks``).
OUTSIDE_SET_SUFFIX = "_source_outside_set"
# event_table_counts' key (with ``condition_ids``) of the observation records whose
# observation_concept_id is a concept of a study condition set (MDD, depression, exclusions), and
# the quirk part holding it (``stage_counts``; ``observation_condition_warnings``).
CONDITION_IN_OBSERVATION = "n_condition_concept_in_observation"
# ... and their persons (distinct person_id; a person count: logged as a label, exact in the manifest)
CONDITION_IN_OBSERVATION_PERSONS = "n_persons_condition_concept_in_observation"
CONDITION_IN_OBSERVATION_PART = "observation_condition_records"
# event_table_counts' key (with ``unreached``) of the drug_exposure records of a standard, valid Drug
# concept named after a study drug set's ingredient that concept_ancestor takes to none of the study
# drug sets' concepts, and the quirk part holding it (``stage_counts``; ``unreached_drug_warnings``;
# the gate ``unreached_drug_records``): products a partial concept_ancestor cut off their ingredient.
UNREACHED = "n_drug_exposure_unreached"
UNREACHED_PART = "unreached_drug_records"
# ... and (with drug_strength only) those of them a name decided, not a drug_strength row naming the ingredient:
# products without a drug_strength row, and products whose rows lack the study ingredient's own (session 57)
UNREACHED_NAMED = "n_drug_exposure_unreached_by_name"
# event_table_counts' key suffix (with ``unknown_concepts``; after n_<table>) of the records whose standard
# concept column holds a concept_id (not 0) that ``concept`` has no row for, and the quirk part holding
# them (``stage_counts``; ``unknown_concept_warnings``; the gate ``unknown_concept_records``): records of a
# vocabulary release older than the records (OHDSI DQD isForeignKey / fkDomain on *_concept_id).
UNKNOWN_SUFFIX = "_unknown_concept"
UNKNOWN_PART = "unknown_concept_records"
# event_table_counts' key (with ``cut_conditions``) of the condition_occurrence records whose concept's membership
# in a study condition set a concept_ancestor cut in part changed (``condition_block_cuts``: the block closed over
# the table's own rows differs), and the quirk part holding it (``stage_counts``; ``cut_block_warnings``; the gate
# ``cut_condition_records``): session 57.
CUT_BLOCK = "n_condition_occurrence_cut_block"
CUT_BLOCK_PART = "condition_block_records"


def conditional_record_checks(cfg: Config, vocab: Vocabulary, sets: dict[str, frozenset[int]]
                              ) -> dict[str, tuple[tuple[str, ...], frozenset[int], frozenset[int]]]:
    """{study concept set: (its event tables (one per ``ConceptSet.domains``: esketamine_clinic's
    procedure_occurrence and observation), the concept_ids of its ``only_if_standard`` codes
    this release's ``concept`` holds (``concepts.conditional_source_ids``: as non-standard, no
    member; ``concepts.conditional_member_ids``: as standard, members), the set's concept IDs
    (``sets``: ``concept_set_ids``))}, for the sets that have such codes. Where ICD9Proc 94.27 is
    not standard, the ECT set counts its records only through the standard concept they map to,
    which the set must name (SNOMED 4030840 or below); a release mapping them elsewhere would
    drop them silently, so ``event_table_counts`` counts them. Where the release holds the code
    as standard but a record carries it as its source concept beside another standard concept,
    the record's ETL ran with a vocabulary version that did not (field case round 27: HCPCS
    G2082 esketamine in clinic mapped elsewhere): not read, counted likewise."""
    out = {}
    for name in study_concept_set_names(cfg):
        concept_set = _concept_set(cfg, name)
        ids = conditional_source_ids(concept_set, vocab) | conditional_member_ids(concept_set, vocab)
        if ids:
            out[name] = (tuple(EVENT_TABLES[d][0] for d in concept_set.domains), ids, sets[name])
    return out


# The rules ``notes.unreached_drug_rule`` names (``UnreachedCheck.rule``): the products drug_strength names a
# study ingredient for (those without a drug_strength row by their name), or by their name alone.
UNREACHED_BY_STRENGTH = "drug_strength"
UNREACHED_BY_NAME = "concept_name"
# drug_strength's (ingredient, product) pairs as one long key (ingredient * 2^32 + product): concept_id is
# the CDM's INTEGER (0 .. 2^31 - 1), so no two pairs share a key and the key fits a long.
_PAIR_SHIFT = 1 << 32


@dataclass(frozen=True)
class UnreachedCheck:
    """What ``event_table_counts`` needs to count ``UNREACHED`` (``unreached_drug_check`` builds it).

    ``pattern``: the study drug sets' ingredient names (``concepts.name_pattern``); ``reached``: every
    concept ``concept_ancestor`` takes their include and exclude references to (``concepts.drug_reach``);
    ``strength``: the release's ``drug_strength`` (drug_concept_id, ingredient_concept_id), or None when
    the stage does not read it (no ``phenotypes.trials.ingredient_min_daily_dose``) or the release lacks
    it; ``pairs``: the (ingredient, product) keys (``_PAIR_SHIFT``) of each study ingredient and every
    concept its reference reaches (``concepts.ingredient_reach``), ``ingredients`` those ingredients,
    ``excluded`` the exclude references' members (left out on purpose: reached); ``names``: (ingredient,
    its name in lower case) for those ingredients (``concepts.ingredient_names``), the per-ingredient name
    rule's (``strength_name_keys``) for a product whose drug_strength rows lack the ingredient's own row."""

    pattern: str
    reached: frozenset[int]
    strength: DataFrame | None = None
    pairs: frozenset[int] = frozenset()
    ingredients: frozenset[int] = frozenset()
    excluded: frozenset[int] = frozenset()
    names: tuple[tuple[int, str], ...] = ()

    @property
    def rule(self) -> str:
        """``notes.unreached_drug_rule``: ``UNREACHED_BY_STRENGTH`` with a drug_strength, else ``UNREACHED_BY_NAME``."""
        return UNREACHED_BY_NAME if self.strength is None else UNREACHED_BY_STRENGTH


def unreached_drug_check(cfg: Config, vocab: Vocabulary, drug_strength: DataFrame | None = None
                         ) -> UnreachedCheck | None:
    """The check of a partial ``concept_ancestor`` (``event_table_counts``' ``UNREACHED``) over the study
    concept sets read in drug_exposure (``study_concept_set_names`` with domain drug: antidepressants,
    augmentation, esketamine); None when they name no ingredient with descendants. ``drug_strength``
    (``run`` passes the release's when the stage reads it, ``omop.MIN_DOSE_TABLE``, and the release has
    it): a product with a drug_strength row is unreached when, for a study ingredient whose reference does
    not reach it, a row names that ingredient (exact: aripiprazole lauroxil's products, of an ingredient of
    their own, are not counted, and a combination product that lost one ingredient's rows is) or, where no
    row names it (a partial drug_strength: a combination product with the other ingredient's row only, a row
    of a null or non-standard ingredient), its concept_name holds that ingredient's name and no row names a
    standard, valid Ingredient of another name holding it (lauroxil again: ``strength_name_keys``); a product
    without a row, and every product without a drug_strength, by the name rule (its concept_name holds a
    study ingredient's name, and no study drug set reaches it). Neither needs
    ``concept_ancestor``'s level-0 self rows (a trimmed table, as tests/test_phenotypes_support.py's, is
    complete for what it links): docs/phenotypes.md "A partial ancestor table"."""
    sets = [cs for n in study_concept_set_names(cfg) if "drug" in (cs := _concept_set(cfg, n)).domains]
    names, reached = drug_reach(sets, vocab)
    pattern = name_pattern(names)
    if pattern is None:
        return None
    if drug_strength is None:
        return UnreachedCheck(pattern, reached)
    reach, excluded = ingredient_reach(sets, vocab)
    pairs = frozenset(i * _PAIR_SHIFT + c for i, members in reach.items() for c in members
                      if 0 <= i < _PAIR_SHIFT // 2 and 0 <= c < _PAIR_SHIFT)
    ingredients = frozenset(i for i in reach if 0 <= i < _PAIR_SHIFT // 2)
    named = tuple(sorted((i, n) for i, n in ingredient_names(sets, vocab).items() if i in ingredients))
    return UnreachedCheck(pattern, reached, drug_strength.select("drug_concept_id", "ingredient_concept_id"),
                          pairs, ingredients, excluded, named)


def unreached_strength(cfg: Config, omop: dict[str, DataFrame], absent: Collection[str]) -> DataFrame | None:
    """The release's ``drug_strength`` for ``unreached_drug_check`` where the stage reads it (``omop.
    omop_tables_read``: with ``phenotypes.trials.ingredient_min_daily_dose``) and the release has it (not
    in ``absent``, ``read_omop``'s list); else None (the name rule). Read for nothing else: without a
    minimum dose the table is no input of the stage (its rerun fingerprint, docs/reruns.md), so the check
    adds no input and no scan of a few million rows to a run that does not read it."""
    read = MIN_DOSE_TABLE in omop_tables_read(cfg) and MIN_DOSE_TABLE not in absent
    return omop[MIN_DOSE_TABLE] if read else None


def strength_flags(check: UnreachedCheck) -> DataFrame:
    """One row per drug_concept_id of ``check.strength`` (drug_strength): ``_strength_cut`` true when a row
    names one of ``check.ingredients`` but the pair is none of ``check.pairs`` (concept_ancestor does not
    take the product to that ingredient) and the product is none of ``check.excluded``. The pairs and the
    excluded products join as broadcast ID frames (``id_frame``: one literal, no ID list in the plan); one
    aggregate by product (drug_strength: a few million rows on an Athena release)."""
    assert check.strength is not None
    spark = check.strength.sparkSession
    ds = check.strength.where(F.col("drug_concept_id").isNotNull())
    ing, drug = F.col("ingredient_concept_id").cast("long"), F.col("drug_concept_id").cast("long")
    pairs = id_frame(spark, check.pairs, "_pair").withColumn("_paired", F.lit(True))
    out = id_frame(spark, check.excluded, "_excluded_id").withColumn("_excluded", F.lit(True))
    study = ing.isin(sorted(check.ingredients)) if check.ingredients else F.lit(False)
    rows = (ds.select(drug.alias("_strength_id"), ing.alias("_ing"), study.alias("_study"))
            .join(F.broadcast(pairs), F.col("_ing") * F.lit(_PAIR_SHIFT) + F.col("_strength_id") == F.col("_pair"),
                  "left")
            .join(F.broadcast(out), F.col("_strength_id") == F.col("_excluded_id"), "left"))
    cut = F.col("_study") & F.col("_paired").isNull() & F.col("_excluded").isNull()
    return rows.groupBy("_strength_id").agg(F.max(cut).alias("_strength_cut"))


def _ingredient_names_frame(spark: SparkSession, names: Sequence[tuple[int, str]]) -> DataFrame:
    """(``_name_ing`` long, ``_ing_name`` string): one row per (study ingredient, its lower-case name) of
    ``UnreachedCheck.names``, built in the JVM from literals (tens of rows). Empty for none."""
    if not names:
        return spark.range(0).select(F.lit(None).cast("long").alias("_name_ing"),
                                     F.lit(None).cast("string").alias("_ing_name"))
    rows = F.array(*[F.struct(F.lit(i).cast("long").alias("_name_ing"), F.lit(n).alias("_ing_name"))
                     for i, n in names])
    return spark.range(1).select(F.inline(rows))


def _held_names(name: Column, pattern: str) -> Column:
    """The study ingredient names (lower case) ``name`` holds as whole names (``name_extract_pattern``'s
    group 1), one row each (``explode``; a name holding none, or null, gives no row)."""
    return F.explode(F.array_distinct(F.transform(F.regexp_extract_all(name, F.lit(pattern), 1), F.lower)))


def strength_name_keys(check: UnreachedCheck, concept: DataFrame) -> DataFrame:
    """(``_key`` long, ``_ds_named``, ``_ds_explained`` booleans), one row per (study ingredient I,
    product P) key (``_PAIR_SHIFT``) for the per-ingredient name rule of ``event_table_counts``' drug_strength
    form: ``_ds_named`` when a drug_strength row of P names I (the drug_strength rule decides that pair),
    ``_ds_explained`` when a row of P names a standard, valid concept of class 'Ingredient' whose name is
    not I's but holds it as a whole name (aripiprazole lauroxil for aripiprazole: the product is of that
    ingredient, its name no sign of I). ``concept``'s Ingredient rows are read with one regular expression
    each (``_held_names``); drug_strength's rows of the study ingredients and of those Ingredients only."""
    assert check.strength is not None
    spark = check.strength.sparkSession
    ds = check.strength.where(F.col("drug_concept_id").isNotNull() & F.col("ingredient_concept_id").isNotNull())
    drug, ing = F.col("drug_concept_id").cast("long"), F.col("ingredient_concept_id").cast("long")
    study = ing.isin(sorted(check.ingredients)) if check.ingredients else F.lit(False)
    named = ds.where(study).select((ing * F.lit(_PAIR_SHIFT) + drug).alias("_key"), F.lit(True).alias("_ds_named"),
                                   F.lit(None).cast("boolean").alias("_ds_explained"))
    extract = name_extract_pattern(n for _, n in check.names)
    if extract is None:
        return named
    reason = F.trim(F.col("invalid_reason")) if "invalid_reason" in concept.columns else F.lit(None).cast("string")
    other = (concept.where((F.trim(F.col("concept_class_id")) == "Ingredient") & ~nonstandard_concept_expr(
        F.col("standard_concept"), reason) & F.col("concept_name").isNotNull())
        .select(F.col("concept_id").cast("long").alias("_other_ing"),
                F.lower(F.trim(F.col("concept_name"))).alias("_other_name"),
                _held_names(F.col("concept_name"), extract).alias("_ing_name"))
        .join(F.broadcast(_ingredient_names_frame(spark, check.names)), "_ing_name")
        .where(F.col("_other_name") != F.col("_ing_name"))
        .select("_other_ing", "_name_ing"))
    explained = (ds.select(drug.alias("_drug"), ing.alias("_other_ing"))
                 .join(F.broadcast(other), "_other_ing")
                 .select((F.col("_name_ing") * F.lit(_PAIR_SHIFT) + F.col("_drug")).alias("_key"),
                         F.lit(None).cast("boolean").alias("_ds_named"), F.lit(True).alias("_ds_explained")))
    return named.unionByName(explained).groupBy("_key").agg(F.max("_ds_named").alias("_ds_named"),
                                                            F.max("_ds_explained").alias("_ds_explained"))


def unreached_drug_warnings(counts: dict[str, int], records_below: int | None,
                            shown: Mapping[str, str] | None = None, rule: str = UNREACHED_BY_NAME) -> list[str]:
    """The run log's WARNING line (after "phenotypes: ") for ``stage_counts``' quirks.unreached_drug_records
    (``UNREACHED``: records, shown as ``concept_record_warnings``' are, ``records_below``, ``shown``):
    drug_exposure records of a standard drug product of a study ingredient (``rule``,
    ``UnreachedCheck.rule``: by drug_strength, else its concept_name) that ``concept_ancestor`` does not
    take there, so no exposure (of that ingredient), no trial and no reason to keep a person out of the
    controls. Empty when none (session 54 newuser: a concept_ancestor cut to half its rows moved 8 of 34
    ad2_augmentation TRD persons to trMDD with no WARNING). The gate ``unreached_drug_records`` stops the
    run at its error level."""
    n = counts.get(UNREACHED, 0)
    if not n:
        return []
    text = record_text(shown, f"quirks.{UNREACHED_PART}.{UNREACHED}", n, records_below)
    named = (f", {record_text(shown, f'quirks.{UNREACHED_PART}.{UNREACHED_NAMED}', counts[UNREACHED_NAMED], records_below)}"
             " of them by name" if UNREACHED_NAMED in counts else "")
    what = ("whose drug_strength rows name a study ingredient that concept_ancestor does not take it to (where no "
            "row names it, a partial drug_strength, by name: its concept_name holds the ingredient's name and no row "
            "names another ingredient whose name holds it; products without a drug_strength row: whose "
            "concept_name holds a study ingredient's name but which concept_ancestor takes to no concept of a study "
            f"drug set{named})" if rule == UNREACHED_BY_STRENGTH else
            "whose concept_name holds a study ingredient's name but which concept_ancestor takes to no concept of "
            "a study drug set (by name: drug_strength not read; a product of another ingredient whose name holds "
            "a study one's, such as aripiprazole lauroxil, is counted too)")
    return [f"drug_exposure: {text} record(s) of a standard drug product {what} are not read as that ingredient "
            "(no exposure, no trial, no control exclusion); likely cause: concept_ancestor is partial (exported "
            "with a row limit, a subset of the vocabulary, or a release older than the drug records: Athena's "
            "table links every RxNorm product to its ingredients); export the full table. Counted in "
            f"notes.quirks.{UNREACHED_PART} (rule: notes.unreached_drug_rule {rule}); the run stops at "
            "phenotypes.gates.unreached_drug_records.error"]


def unknown_concept_warnings(quirks: dict[str, dict[str, int]], records_below: int | None,
                             shown: Mapping[str, str] | None = None) -> list[str]:
    """The run log's WARNING lines (after "phenotypes: "), one per event table, for ``stage_counts``'
    quirks.unknown_concept_records (n_<table>_unknown_concept: records whose standard concept column holds
    a concept_id, not 0, that ``concept`` has no row for; shown as ``concept_record_warnings``' are,
    ``records_below``, ``shown``), with their share of the table's records (quirks.event_table_records)
    only when both counts are shown exactly (a share beside a label gave the labelled count back). Such a
    record matches no concept set: a new antidepressant product reads as no exposure, a new MDD code as
    no diagnosis (its person may become a control). Empty when none (silent before session 55). The gate
    ``unknown_concept_records`` stops the run at its error level."""
    out = []
    for key, n in quirks.get(UNKNOWN_PART, {}).items():
        if not n:
            continue
        table = key.removeprefix("n_").removesuffix(UNKNOWN_SUFFIX)
        total_key = f"n_{table}{RECORDS_SUFFIX}"
        total = quirks.get("event_table_records", {}).get(total_key, 0)
        text = record_text(shown, f"quirks.{UNKNOWN_PART}.{key}", n, records_below)
        total_text = record_text(shown, f"quirks.event_table_records.{total_key}", total, records_below)
        share = (f" ({n / total:.2%} of its {total_text} records)"
                 if total and text == count_text(n) and total_text == count_text(total) else "")
        out.append(f"{table}: {text} record(s){share} whose {SOURCE_CONCEPT_OF[table][0]} (not 0) has no row in "
                   "concept (OHDSI DQD isForeignKey) match no concept set and are not read (a study drug product "
                   "or diagnosis among them reads as no exposure or no diagnosis); likely cause: the vocabulary "
                   "is older than the records (an Athena download or vocabulary snapshot of another date than the "
                   "CDM): use the vocabulary the records were mapped with. Counted in "
                   f"notes.quirks.{UNKNOWN_PART}; the run stops at phenotypes.gates.unknown_concept_records.error")
    return out


def observation_condition_warnings(counts: dict[str, int], records_below: int | None,
                                   shown: Mapping[str, str] | None = None) -> list[str]:
    """The run log's WARNING line (after "phenotypes: ") for ``stage_counts``'
    quirks.observation_condition_records (``CONDITION_IN_OBSERVATION``: observation records whose
    observation_concept_id is a concept of a study condition set; records, shown as
    ``concept_record_warnings``' are, ``records_below``, ``shown``). The study reads diagnoses in
    condition_occurrence only (study.md: diagnosis codes; an OHDSI condition criterion reads that
    table): such a record makes no MDD diagnosis, no exclusion and keeps no person out of the
    controls (docs/phenotypes.md "Concepts"). Empty when none (field case round 33: silent before). Their
    persons (``CONDITION_IN_OBSERVATION_PERSONS``) are in the manifest and the INFO line only (a
    person count, labelled there): no person count in a WARNING."""
    n = counts.get(CONDITION_IN_OBSERVATION, 0)
    if not n:
        return []
    text = record_text(shown, f"quirks.{CONDITION_IN_OBSERVATION_PART}.{CONDITION_IN_OBSERVATION}", n, records_below)
    return [f"{OBSERVATION_TABLE}: {text} record(s) whose {SOURCE_CONCEPT_OF[OBSERVATION_TABLE][0]} is a concept of a "
            "study condition set (MDD, depression or an exclusion: the Condition domain, which the CDM records in "
            "condition_occurrence; OHDSI DQD fkDomain) are not read: the study reads diagnoses in condition_occurrence "
            "only, so a person whose diagnosis the ETL wrote there alone is not MDD, not excluded and may be a control "
            f"(records and their persons counted in notes.quirks.{CONDITION_IN_OBSERVATION_PART})"]


def conditional_record_warnings(counts: dict[str, int],
                                checks: dict[str, tuple[tuple[str, ...], frozenset[int], frozenset[int]]],
                                records_below: int | None, shown: Mapping[str, str] | None = None) -> list[str]:
    """The run log's WARNING lines (after "phenotypes: ") for ``stage_counts``'
    quirks.conditional_records (n_<set>{OUTSIDE_SET_SUFFIX}: records, shown as
    ``concept_record_warnings``' are, ``records_below``, ``shown``), each naming the table(s), their columns and the set (a
    set read in two tables: one count over both, its tables and columns joined by ' / '). Empty
    when none."""
    out = []
    for name, (tables, ids, members) in checks.items():
        n = counts.get(f"n_{name}{OUTSIDE_SET_SUFFIX}", 0)
        text = record_text(shown, f"quirks.conditional_records.n_{name}{OUTSIDE_SET_SUFFIX}", n, records_below)
        if n:
            table = " / ".join(tables)
            concept, source = (" / ".join(SOURCE_CONCEPT_OF[t][i] for t in tables) for i in (0, 1))
            # A code of ids that is a member is one the release holds as standard
            # (conditional_member_ids); the others it holds as non-standard.
            held = sorted(ids - members), sorted(ids & members)
            states = [f"concept_id {', '.join(map(str, c))}: {s}" for c, s in zip(held, (
                "not standard in this release", "standard in this release, so the records' ETL mapped it with "
                "another vocabulary version"), strict=True) if c]
            out.append(f"{table}: {text} record(s) whose {source} is one of concept set {name}'s codes used only where "
                       f"standard ({'; '.join(states)}) but whose {concept} is not in the set: not read as {name} "
                       "(this release maps them to a concept the set does not name)")
    return out


def event_table_counts(omop: dict[str, DataFrame],
                       conditional: dict[str, tuple[tuple[str, ...], frozenset[int], frozenset[int]]] | None = None,
                       *, observation_ids: frozenset[int] | None = None,
                       condition_ids: frozenset[int] | None = None,
                       unreached: UnreachedCheck | None = None,
                       unknown_concepts: bool = False,
                       cut_conditions: frozenset[int] | None = None) -> DataFrame:
    """One row over the OMOP event tables (long, records): n_<table> for each table of
    ``omop.SOURCE_CONCEPT_OF``, its records whose standard concept is 0 (or null) but whose
    source concept is set (not 0): not read (docs/phenotypes.md "Concepts": standard concepts only, as
    OHDSI cohort definitions; mapping them would need concept_relationship 'Maps to', which
    the study does not read), counted so that a release whose ETL left many codes unmapped is
    seen; and n_<table>_nonstandard, its records whose standard concept column
    (condition_concept_id, drug_concept_id, ...) holds a concept that is not a standard, valid
    one (``nonstandard_concept_expr``: OHDSI Data Quality Dashboard check isStandardValidConcept),
    e.g. an ICD10CM or NDC source concept an ETL wrote there unmapped. Concept sets are expanded
    through concept_ancestor, which links standard concepts only, so such a record matches no
    set (an F33.1 code is no MDD diagnosis, an NDC antidepressant no exposure: its person may
    become a control) and is not read either; uncounted, it was silent.
    One grouped aggregate over the union of the tables' two concept columns (a second scan of
    the event tables' two concept columns; partial aggregation leaves one row per table and
    concept), joined to ``concept``'s flags. (Observing it on the study events' scan instead
    costs as much: an ``Observation`` over every one of 91M drug rows took as long as this
    scan, benchmarks/RESULTS.md session 15.)
    Then n_<table>_records (``RECORDS_SUFFIX``): each table's records, every row whatever its
    concept, from the same grouped rows (``warn_empty_event_tables`` reads it: no job of its own).
    Then for each set of ``conditional`` (``conditional_record_checks``: set -> (table, source
    concept_ids, the set's IDs)) n_<set>_source_outside_set (``OUTSIDE_SET_SUFFIX``): the table's
    records whose source concept is one of those IDs and whose standard concept is not in the set
    (0 and null included), summed in the same aggregate.
    ``observation_ids`` (``observation_count_ids``; ``run`` passes them): in the tables of
    ``NARROW_TABLES`` (observation) a record whose concept and source concept are both outside
    these IDs is read as concept ``OTHER_CONCEPT`` with no source concept, so n_observation counts
    the concept-0 records whose source concept a study set could name and n_observation_nonstandard
    the records holding such a concept non-standard: the records that may be missed, not All of Us'
    hundreds of millions of survey answers (concept 0 with a PPI source concept), which no set reads.
    Still one scan of the table's two concept columns, every row in n_observation_records, and the
    unrelated rows fall into one group (a filter pushed to Parquet plus a column-less scan for the
    records cost more CPU at 20M rows: benchmarks/RESULTS.md, session 36 obsmend). None: every
    record counted, as the other tables.
    ``condition_ids`` (``study_concept_ids``' condition IDs; ``run`` passes them): adds
    ``CONDITION_IN_OBSERVATION``, the ``observation`` records whose observation_concept_id is one of
    them: a diagnosis the ETL wrote outside condition_occurrence (the CDM puts a record in the table
    of its concept's domain; OHDSI DQD fkDomain), which no rule reads (docs/phenotypes.md "Concepts"), counted
    on the same scan (field case round 33: such an MDD diagnosis was silent). Their persons are
    not counted here (``condition_in_observation_persons``, a second job that ``stage_counts`` runs
    only when there are such records): a person key here would add person_id to the Parquet scan
    of every observation row (All of Us' hundreds of millions of survey answers) on every run,
    to count persons on a few rows (session 42 fixesB).
    ``unreached`` (``unreached_drug_check``; ``run`` passes it): adds ``UNREACHED``, the drug_exposure
    records whose drug_concept_id is a standard, valid concept of domain 'Drug' that a partial
    concept_ancestor left without a study ingredient (session 54 newuser: silent): with a
    ``drug_strength`` (``UnreachedCheck.strength``), one whose drug_strength rows name a study ingredient
    whose reference does not reach it (``strength_flags``; a combination product reached through its other
    ingredient included) or, per study ingredient no row of it names, whose concept_name holds that
    ingredient's name while no row names an Ingredient of another name holding it and its reference does not
    reach it (``_name_cut_rows``: drug_strength rows lacking the ingredient's own row, session 57), those a
    name decided also as ``UNREACHED_NAMED``; without one, or for a product with no drug_strength row, one whose concept_name
    the pattern matches (it holds a study ingredient's name) and that no study drug set reaches. Disjoint
    from concept 0 and from the non-standard records; by name also from the study drug records (their
    concepts are reached), by drug_strength not (a combination product reached through one ingredient is
    a study record of the other's set). Same scan and aggregate: ``concept``'s name joins only for the
    Drug domain's standard concepts, the pattern runs after the join on the concepts with records, the
    reached concepts join those rows as a broadcast ID frame (``id_frame``), and drug_strength's flags
    (one row per product) as a left join.
    ``unknown_concepts`` (``run`` passes True): adds n_<table>_unknown_concept (``UNKNOWN_SUFFIX``) per
    table, its records whose standard concept column holds a concept_id (not 0, not null) that ``concept``
    has no row for: OHDSI DQD's isForeignKey check of *_concept_id against concept. Such a record matches
    no concept set (sets are concept IDs the vocabulary holds) and is neither concept 0 nor non-standard
    (its flags come from a concept row): uncounted, a vocabulary release older than the records (a new
    RxNorm product, a new SNOMED code) dropped it silently. Disjoint from a table's study, concept-0,
    non-standard and unreached records. Same aggregate: a concept row found is a flag of the join the
    non-standard count already makes. Not for a table of ``NARROW_TABLES`` with ``observation_ids``: its
    concepts no study set could name fall into ``OTHER_CONCEPT``'s group (and a study set's IDs are all
    in ``concept``), so no key for it: unseen, not 0. What it cannot see: whether such a record was a
    study record (its concept's name and ancestors are what the vocabulary lacks; its source concept's
    'Maps to' needs ``concept_relationship``, which the stage does not read).
    ``cut_conditions`` (``condition_block_cuts``' concepts; ``run`` passes them): adds ``CUT_BLOCK``, the
    condition_occurrence records of those concepts (a broadcast ID frame joined to the per-concept rows; 0
    without a join for none): concepts whose membership of a study condition set a concept_ancestor cut in
    part changed."""

    def scan(table: str, concept: str, source: str) -> DataFrame:
        src, c, s = omop[table], F.col(concept), F.col(source)
        misplaced = F.lit(False)
        if condition_ids and table in NARROW_TABLES:
            # A broadcast left join on the ID frame flags them: per row a probe of a hash table of
            # longs, whatever the number of IDs, and no ID literal in the plan. (An ``isin`` of them
            # cost more the more IDs: 1.74x this aggregate at 2,400 IDs against the join's 1.19x,
            # UNDER LOAD; benchmarks/RESULTS.md session 41 fixesB.) The IDs are distinct: no row repeats.
            hits = id_frame(src.sparkSession, condition_ids, "_condition_id").withColumn("_hit", F.lit(True))
            src = src.join(F.broadcast(hits), c == F.col("_condition_id"), "left")
            misplaced = F.col("_hit").isNotNull()
        if observation_ids is not None and table in NARROW_TABLES:
            named = c.isin(_ids(observation_ids)) | s.isin(_ids(observation_ids))
            c, s = F.when(named, c).otherwise(F.lit(OTHER_CONCEPT)), F.when(named, s)
        return src.select(F.lit(table).alias("_table"), c.alias("_concept"), s.alias("_source"),
                          misplaced.alias("_misplaced"))

    tagged = reduce(lambda a, b: a.unionByName(b), [
        scan(table, concept, source) for table, (concept, source) in SOURCE_CONCEPT_OF.items()])
    unmapped = (F.coalesce(F.col("_concept"), F.lit(0)) == 0) & (F.coalesce(F.col("_source"), F.lit(0)) != 0)
    checks = list((conditional or {}).items())
    outside = [F.sum((F.col("_table").isin(list(tables)) & F.col("_source").isin(_ids(ids))
                      & ~F.coalesce(F.col("_concept"), F.lit(0)).isin(_ids(members))).cast("long")).alias(f"_c{i}")
               for i, (_, (tables, ids, members)) in enumerate(checks)]
    # condition concepts in observation (condition_ids): summed per group, as the conditional checks
    outside += [F.sum(F.col("_misplaced").cast("long")).alias("_m")] if condition_ids is not None else []
    per_concept = tagged.groupBy("_table", "_concept").agg(F.count(F.lit(1)).alias("_n"),
                                                          F.sum(unmapped.cast("long")).alias("_unmapped"), *outside)
    concept = omop["concept"]
    reason = F.col("invalid_reason") if "invalid_reason" in concept.columns else F.lit(None).cast("string")
    nonstandard_flag = nonstandard_concept_expr(F.col("standard_concept"), reason)
    # a standard, valid Drug concept's name, for the unreached products (null for any other concept)
    drug_name = ([F.when((F.trim(F.col("domain_id")) == "Drug") & ~nonstandard_flag, F.col("concept_name"))
                  .alias("_drug_name")] if unreached is not None else [])
    # a concept row found for the records' concept (null: the vocabulary lacks it; unknown_concepts)
    known = [F.lit(True).alias("_known")] if unknown_concepts else []
    flags = concept.select(F.col("concept_id").alias("_concept"), nonstandard_flag.alias("_flag"), *drug_name,
                           *known)
    # Again per table and concept after the join (the few concepts the records use, not the whole
    # vocabulary): a concept_id on two concept rows (the CDM's primary key) counts its records once.
    rows = per_concept.join(flags, "_concept", "left").groupBy("_table", "_concept").agg(
        F.max("_n").alias("_n"), F.max("_unmapped").alias("_unmapped"), F.max("_flag").alias("_nonstandard"),
        *[F.max(f"_c{i}").alias(f"_c{i}") for i in range(len(checks))],
        *([F.max("_m").alias("_m")] if condition_ids is not None else []),
        *([F.max("_drug_name").alias("_drug_name")] if unreached is not None else []),
        *([F.max("_known").alias("_known")] if unknown_concepts else []))
    nonstandard = F.coalesce(F.col("_nonstandard"), F.lit(False)) & (F.col("_concept") != 0)
    orphan: list[Column] = []
    orphan_named: list[Column] = []
    if unreached is not None:
        # the reached concepts, joined as a broadcast ID frame (distinct IDs: no row repeats)
        hits = id_frame(rows.sparkSession, unreached.reached, "_reached_id").withColumn("_reached", F.lit(True))
        rows = rows.join(F.broadcast(hits), F.col("_concept") == F.col("_reached_id"), "left")
        named = F.coalesce(F.col("_drug_name").rlike(unreached.pattern), F.lit(False)) & F.col("_reached").isNull()
        product_named = named
        if unreached.strength is not None:
            # drug_strength's products (one row each): theirs decide; the others by name, as without it
            rows = rows.join(strength_flags(unreached), F.col("_concept") == F.col("_strength_id"), "left")
            rows = _name_cut_rows(rows, unreached, concept)
            named = F.when(F.col("_strength_id").isNull(), named).otherwise(
                F.col("_drug_name").isNotNull() & (F.coalesce(F.col("_strength_cut"), F.lit(False))
                                                   | F.coalesce(F.col("_name_cut"), F.lit(False))))
        orphan = [F.when(named, F.col("_n"))]
        if unreached.strength is not None:
            # the records a name decided: no drug_strength row, or rows lacking the ingredient's own
            by_name = F.when(F.col("_strength_id").isNull(), product_named).otherwise(
                F.col("_drug_name").isNotNull() & ~F.coalesce(F.col("_strength_cut"), F.lit(False))
                & F.coalesce(F.col("_name_cut"), F.lit(False)))
            orphan_named = [F.when(by_name, F.col("_n"))]

    cut_block: list[Column] = []
    if cut_conditions:
        cuts = id_frame(rows.sparkSession, cut_conditions, "_cut_id").withColumn("_cut", F.lit(True))
        rows = rows.join(F.broadcast(cuts), F.col("_concept") == F.col("_cut_id"), "left")
        cut_block = [F.when(F.col("_cut").isNotNull(), F.col("_n"))]
    elif cut_conditions is not None:
        cut_block = [F.lit(0)]

    def total(table: str | tuple[str, ...], value: Column) -> Column:
        named = F.col("_table").isin([table] if isinstance(table, str) else list(table))
        return F.coalesce(F.sum(F.when(named, value)), F.lit(0)).cast("long")

    return rows.agg(*[total(table, F.col("_unmapped")).alias(f"n_{table}") for table in SOURCE_CONCEPT_OF],
                    *[total(table, F.when(nonstandard, F.col("_n"))).alias(f"n_{table}{NONSTANDARD_SUFFIX}")
                      for table in SOURCE_CONCEPT_OF],
                    *[total(table, F.col("_n")).alias(f"n_{table}{RECORDS_SUFFIX}") for table in SOURCE_CONCEPT_OF],
                    *[total(tables, F.col(f"_c{i}")).alias(f"n_{name}{OUTSIDE_SET_SUFFIX}")
                      for i, (name, (tables, _, _)) in enumerate(checks)],
                    *([total(OBSERVATION_TABLE, F.col("_m")).alias(CONDITION_IN_OBSERVATION)]
                      if condition_ids is not None else []),
                    *[total("drug_exposure", value).alias(UNREACHED) for value in orphan],
                    *[total("drug_exposure", value).alias(UNREACHED_NAMED) for value in orphan_named],
                    *[total("condition_occurrence", value).alias(CUT_BLOCK) for value in cut_block],
                    *[total(table, F.when(F.col("_known").isNull() & (F.col("_concept") != 0), F.col("_n")))
                      .alias(f"n_{table}{UNKNOWN_SUFFIX}") for table in unknown_concept_tables(observation_ids)
                      if unknown_concepts])


def _name_cut_rows(rows: DataFrame, check: UnreachedCheck, concept: DataFrame) -> DataFrame:
    """``rows`` (event_table_counts' per (table, concept) rows after ``strength_flags``' join) with
    ``_name_cut``: true for a standard, valid Drug concept (``_drug_name``) with drug_strength rows whose
    name holds a study ingredient I's name (``_held_names``) while no drug_strength row names I or explains
    the name (``strength_name_keys``), I's reference does not reach it and no exclude holds it. Each row is
    joined to the study ingredients its name holds (none: one row, I null) and grouped back by (table,
    concept), every other column by max (the copies are equal), so the records' aggregate is not run twice."""
    extract = name_extract_pattern(n for _, n in check.names)
    if extract is None:
        return rows.withColumn("_name_cut", F.lit(False))
    spark = rows.sparkSession
    keep = [c for c in rows.columns if c not in ("_table", "_concept")]
    held = F.when(F.col("_strength_id").isNotNull(), F.col("_drug_name"))
    pairs = id_frame(spark, check.pairs, "_name_pair").withColumn("_name_paired", F.lit(True))
    out = id_frame(spark, check.excluded, "_name_excluded_id").withColumn("_name_excluded", F.lit(True))
    each = (rows.select("*", F.explode_outer(F.array_distinct(F.transform(
        F.regexp_extract_all(held, F.lit(extract), 1), F.lower))).alias("_ing_name"))
        .join(F.broadcast(_ingredient_names_frame(spark, check.names)), "_ing_name", "left")
        .withColumn("_name_key", F.col("_name_ing") * F.lit(_PAIR_SHIFT) + F.col("_concept"))
        .join(strength_name_keys(check, concept), F.col("_name_key") == F.col("_key"), "left")
        .join(F.broadcast(pairs), F.col("_name_key") == F.col("_name_pair"), "left")
        .join(F.broadcast(out), F.col("_concept") == F.col("_name_excluded_id"), "left"))
    cut = (F.col("_name_ing").isNotNull() & F.col("_ds_named").isNull() & F.col("_ds_explained").isNull()
           & F.col("_name_paired").isNull() & F.col("_name_excluded").isNull())
    return each.groupBy("_table", "_concept").agg(*[F.max(c).alias(c) for c in keep], F.max(cut).alias("_name_cut"))


def unknown_concept_tables(observation_ids: frozenset[int] | None) -> list[str]:
    """The event tables whose records of a concept absent from ``concept`` ``event_table_counts`` can
    count (``UNKNOWN_SUFFIX``): every table of ``SOURCE_CONCEPT_OF`` but those of ``NARROW_TABLES``
    when ``observation_ids`` narrows them (their other concepts are one group there)."""
    return [t for t in SOURCE_CONCEPT_OF if observation_ids is None or t not in NARROW_TABLES]


def condition_in_observation_persons(omop: dict[str, DataFrame], condition_ids: frozenset[int]) -> int:
    """``CONDITION_IN_OBSERVATION_PERSONS``: the distinct person_id of the ``observation`` records
    whose observation_concept_id is one of ``condition_ids`` (the records ``event_table_counts``
    counts as ``CONDITION_IN_OBSERVATION``), by a broadcast semi-join on the ID frame (no ID literal
    in the plan, as there). One Spark job of its own, reading person_id and observation_concept_id:
    ``stage_counts`` runs it only when that record count is above 0, so a release without such
    records scans no person_id of observation (session 42 fixesB; da94ab1 put the person key into
    the one scan of every row). 0 for no IDs."""
    if not condition_ids:
        return 0
    concept = SOURCE_CONCEPT_OF[OBSERVATION_TABLE][0]
    src = omop[OBSERVATION_TABLE]
    hits = F.broadcast(id_frame(src.sparkSession, condition_ids, "_condition_id"))
    [[n]] = src.join(hits, F.col(concept) == F.col("_condition_id"), "left_semi").agg(
        F.countDistinct("person_id")).collect()
    return int(n)


def nonstandard_concept_expr(standard_concept: Column, invalid_reason: Column) -> Column:
    """True for a ``concept`` row that is not a standard, valid concept: standard_concept not 'S'
    (NULL: a source concept such as ICD10CM or NDC; 'C': a classification concept), or an
    invalid_reason set ('D' deprecated, 'U' upgraded). The rule of OHDSI Data Quality Dashboard's
    isStandardValidConcept check for an event table's *_concept_id (blanks read as empty)."""
    standard = F.coalesce(F.trim(standard_concept) == "S", F.lit(False))
    valid = F.coalesce(F.trim(invalid_reason), F.lit("")) == ""
    return ~(standard & valid)


def condition_status_counts(conditions: DataFrame) -> DataFrame:
    """One row over study condition records (long): n_preliminary_records, those whose
    ``condition_status_concept_id`` is a preliminary status (``vocabulary.
    PRELIMINARY_DIAGNOSIS_STATUS_IDS``, rule-out / possible diagnoses), and n_history_records,
    those with a "history of" status (``vocabulary.HISTORY_OF_STATUS_IDS``): no MDD diagnosis
    (``mdd.derive_mdd``), still a reason to exclude and to keep a person out of the controls."""
    return conditions.agg(*condition_status_columns())


def condition_status_columns() -> list[Column]:
    """Aggregates over study condition records: ``condition_status_counts``' columns."""
    preliminary = F.col("condition_status_concept_id").isin(sorted(PRELIMINARY_DIAGNOSIS_STATUS_IDS))
    history = F.col("condition_status_concept_id").isin(sorted(HISTORY_OF_STATUS_IDS))
    return [F.coalesce(F.sum(preliminary.cast("long")), F.lit(0)).alias("n_preliminary_records"),
            F.coalesce(F.sum(history.cast("long")), F.lit(0)).alias("n_history_records")]


def implausible_drug_value_columns(drugs: DataFrame, max_days_supply: int, where: Column | None = None) -> list[Column]:
    """Aggregates over study drug records (long): n_records and the implausible values the rules
    do not use (``trials.implausible_record_counts``: n_end_over_max_days, n_days_supply_over_max).
    ``where`` (None: every row): the rows counted (as ``drug_record_quirk_columns``)."""
    if where is None:
        return [F.count(F.lit(1)).cast("long").alias("n_records"), *implausible_record_counts(drugs, max_days_supply)]
    return [F.coalesce(F.sum(where.cast("long")), F.lit(0)).alias("n_records"),
            *implausible_record_counts(drugs, max_days_supply, where)]


def implausible_drug_values(drugs: DataFrame, max_days_supply: int) -> DataFrame:
    """One row over study drug records: ``implausible_drug_value_columns``."""
    return drugs.agg(*implausible_drug_value_columns(drugs, max_days_supply))


def person_count_columns() -> list[Column]:
    """Aggregates over PERSONS (long): n_persons, n_sex_other, n_no_observation_period and
    n_persons_birth_year_implausible: the persons ``persons.birth_implausible_expr`` excludes as
    implausible_year_of_birth (a year_of_birth before 1850, or an age below 0 or above 120 at the
    end of observation), the rule and rows the cohort flow's excluded_implausible_year_of_birth
    counts (``mdd.derive_mdd`` reads the same expression on the same PERSONS), so the two agree.
    On 48016ac the count was DQD's year range over the person table (``birth_death_quirk_counts``),
    which left out every person excluded for the age alone (a 1890 birth aged 125, a death before
    the birthday). Persons: labelled in the logs as the part's other counts (``quirk_log_text``)."""
    implausible = birth_implausible_expr(F.col("year_of_birth"), F.col("age_at_observation_end"))
    return [
        F.count(F.lit(1)).cast("long").alias("n_persons"),
        F.coalesce(F.sum((F.col("sex_at_birth") == "other").cast("long")), F.lit(0)).alias("n_sex_other"),
        F.coalesce(F.sum((~F.col("has_observation_period")).cast("long")), F.lit(0)).alias("n_no_observation_period"),
        F.coalesce(F.sum(implausible.cast("long")), F.lit(0)).alias("n_persons_birth_year_implausible"),
    ]


def person_counts(persons: DataFrame) -> DataFrame:
    """One row over PERSONS: ``person_count_columns``."""
    return persons.agg(*person_count_columns())


# Tables without which no phenotype can be derived (an empty one is an error, not all-controls).
REQUIRED_NONEMPTY = ("person", "condition_occurrence", "drug_exposure", "concept", "concept_ancestor")


def check_required_tables(omop: dict[str, DataFrame], cfg: Config, vocab: Vocabulary) -> None:
    """Hard gates before any derivation (``InputDataError``, exit 3):

    - an empty person / condition_occurrence / drug_exposure / concept / concept_ancestor
      (an empty drug_exposure would make every MDD person 'no adequate trial' and every
      depression-free person a control);
    - a concept_ancestor that takes no study ingredient to any product (drug_exposure holds
      clinical / branded drugs; without their ingredient links every antidepressant record is
      missed and users become controls): empty, a partial vocabulary export, or the wrong table.

    A vocabulary table ``vocab`` collected rows from is not empty: no Spark job checks it again.
    """
    seen = {"concept": bool(vocab.found), "concept_ancestor": bool(vocab.descendants)}
    empty = [t for t in REQUIRED_NONEMPTY if not seen.get(t) and omop[t].isEmpty()]
    # The error names the file(s) read (a header-only person.csv said only 'phenotypes: ... person').
    files = [omop_table_location(omop[t].sparkSession, cfg.omop, t) for t in empty]
    require_rows(empty, cause="a failed or partial OMOP export (or the wrong omop.path)", where=", ".join(files))
    rows = ingredient_map(_concept_set(cfg, cfg.phenotypes.trials.concept_set), vocab)
    if not any(drug != ingredient for drug, ingredient, _ in rows):
        raise InputDataError(
            f"gate concept_ancestor: none of the {len({r[1] for r in rows})} antidepressant ingredient(s) found reaches "
            "any drug product through concept_ancestor; likely cause: concept_ancestor is empty, partial (only a "
            "vocabulary subset was exported) or not the OMOP table", where="phenotypes")


def check_observation_table(spark: SparkSession, cfg: Config, vocab: Vocabulary, absent: Sequence[str]) -> None:
    """InputDataError naming the file where the release has no ``observation`` table (``read_omop``
    read it as empty, listing it in ``absent``) but a study set read there (``observation_sets``)
    has a member in this release's vocabulary: its records (HCPCS G2082/G2083 esketamine in
    clinic, written to observation where the release gives them the Observation domain) would be
    missed, an MDD person's esketamine course no somatic onset, its person a control. When no such
    set has a member (e.g. a release without the codes: only_if_standard), the absent table stays
    the counted WARNING of ``read_omop`` (notes.optional_tables_absent)."""
    if "observation" not in absent:
        return
    needing = [n for n in observation_sets(cfg) if expand_concept_set(_concept_set(cfg, n), vocab)]
    if needing:
        users = list(dict.fromkeys(u for n in needing for u in _concept_set_users(cfg, n)))
        raise InputDataError(
            f"OMOP table observation not found, but concept set(s) {', '.join(needing)} (read by {', '.join(users)}) "
            "have members in this release whose records an ETL writes there (the CDM's table of the Observation "
            "domain): export the observation table (its person_id, observation_concept_id, observation_date)",
            where=omop_table_location(spark, cfg.omop, "observation"))


def _concept_set_users(cfg: Config, name: str) -> list[str]:
    """The rules of ``cfg`` that read concept set ``name`` (``concept_set_uses``; distinct, for
    messages), e.g. ``TRD definition somatic``."""
    return list(dict.fromkeys(rule for n, rule in concept_set_uses(cfg) if n == name))


def warn_empty_event_tables(
    spark: SparkSession, cfg: Config, sets: dict[str, frozenset[int]], table_records: dict[str, int],
    absent: Sequence[str] = (),
) -> dict[str, list[str]]:
    """One WARNING per OMOP event table (``EVENT_TABLES``) with no rows that a study concept set
    (one that expands to some concept) reads, naming the table's file and what cannot be seen
    (e.g. procedure_occurrence: the ECT / TMS sets, somatic TRD). Returns table -> those
    concept set names (for the manifest). A header-only procedure_occurrence made every
    procedure-based somatic onset vanish with no warning; such a table is not an error (a
    release may hold no such record) but the loss must be seen. condition_occurrence and
    drug_exposure are ``REQUIRED_NONEMPTY`` (an error before this); an optional table absent
    (``absent``, warned about by ``read_omop``) is not named again.

    ``sets``: ``concept_set_ids`` (each set expanded once per run); ``table_records``: every
    table's records, ``n_<table>_records`` (``stage_counts``' quirks.event_table_records,
    counted on the scan that counts unmapped records). No Spark job: it was one emptiness job
    per table checked, on every run."""
    out: dict[str, list[str]] = {}
    for domain, (table, _, _) in EVENT_TABLES.items():
        names = [n for n in study_concept_set_names(cfg) if domain in _concept_set(cfg, n).domains and sets[n]]
        if not names or table in REQUIRED_NONEMPTY or table in absent or table_records[f"n_{table}{RECORDS_SUFFIX}"]:
            continue
        users = list(dict.fromkeys(u for n in names for u in _concept_set_users(cfg, n)))
        log.warning("phenotypes: OMOP table %s has no rows (%s): no record of concept set(s) %s (read by %s) can be "
                    "seen; likely cause: a failed or partial OMOP export, or the wrong omop.path", table,
                    omop_table_location(spark, cfg.omop, table), ", ".join(names), ", ".join(users))
        out[table] = names
    return out


def data_gates(cfg: Config, event_dates: dict[str, dict[str, int]], quirks: dict[str, dict[str, int]],
               prior: Mapping[str, Collection[int]] | None = None) -> dict:
    """Apply the configured gates (``phenotypes.gates``) to the stage counts; returns
    gate name -> ``gates.check_gate`` record (raises ``InputDataError`` at an error threshold).
    ``prior``: the other runs' counts the lines were read with (``stage_record_texts``), so that a
    gate decides on the texts the lines show: decided on an exact count the lines label for its
    change since another release's log (r1's 30 records before the birth year, r2's 25 shown 20+),
    a gate's silence put it back at 20..29."""
    g, where = cfg.phenotypes.gates, "phenotypes"
    # Record gates as person gates: labels only (gates.check_gate's records_below).
    threshold = cfg.report.small_count_threshold
    people, drugs = quirks["persons"], quirks["drug_values"]
    n_records = sum(c["n_records"] - c["n_unknown_person"] for c in event_dates.values())
    # The two gates whose count is a sum of counts the lines show decide on what those texts leave
    # (gates.check_gate's shown_range; privacy round 8, session 39).
    shown = stage_record_texts(event_dates, quirks, threshold, prior)
    before_birth = logs_range([(c["n_before_birth_year"], shown[f"study_event_dates.{d}.n_before_birth_year"])
                               for d, c in event_dates.items()], threshold, n_records)
    # records_after_cutoff's count, the records dated after the cutoff, is on no line: it is the
    # records after the cutoff (not after death) and those after death dated after it, so at least the
    # lines' n_after_cutoff and at most that plus their n_after_death (follow-up ends at the cutoff at
    # the latest, persons.derive_persons). Decided on that range, whether it warned tells no more than
    # the lines: on the exact share, a 10% gate that did not warn beside 95 after the cutoff of 1,000
    # records put the records after death dated after the cutoff at 0..4 (privacy round 9, session 40).
    after_cutoff = [(c[k], shown[f"study_event_dates.{d}.{k}"]) for d, c in event_dates.items()
                    for k in ("n_after_cutoff", "n_after_death")]
    dated_after_cutoff = (logs_range(after_cutoff[::2], threshold, n_records)[0],
                          logs_range(after_cutoff, threshold, n_records)[1])
    # Its cause text names the records after death when the lines show any (their n_after_death not
    # all 0): such a WARNING may come from them alone (1 record after the cutoff beside 60 after death
    # reaches a 5.5% level), not from the cutoff. Chosen on the lines' texts only, the wording tells
    # nothing the lines do not (reader finding 5, session 40).
    cutoff_cause = f"omop.data_cutoff_date ({cfg.omop.data_cutoff_date}) is before most of this release's records"
    if logs_range(after_cutoff[1::2], threshold, n_records)[1]:
        cutoff_cause += (", or records dated after death: this count may include the records after death dated "
                         "after the cutoff (the follow-up lines' n_after_death), which no line shows apart")
    implausible = logs_range([(drugs[k], shown[f"quirks.drug_values.{k}"])
                              for k in ("n_end_over_max_days", "n_days_supply_over_max")], threshold, drugs["n_records"])
    unreached = quirks[UNREACHED_PART][UNREACHED] if UNREACHED_PART in quirks else None
    cut_block = quirks[CUT_BLOCK_PART][CUT_BLOCK] if CUT_BLOCK_PART in quirks else None
    # the event table with the largest share of records of a concept absent from concept (UNKNOWN_PART)
    tables = quirks.get("event_table_records", {})
    unknown = max(((n, tables.get(k.removesuffix(UNKNOWN_SUFFIX) + RECORDS_SUFFIX, 0), k)
                   for k, n in quirks.get(UNKNOWN_PART, {}).items()),
                  key=lambda c: (c[0] / c[1] if c[1] else 0.0, c[0]), default=None)
    return {
        "sex_other": check_gate(
            "sex_other", people["n_sex_other"], people["n_persons"], g.sex_other, what="persons with sex 'other'",
            cause="sex at birth is not in the configured column / concepts (omop.sex_at_birth; on All of Us "
                  "gender_concept_id holds gender identity)", where=where,
            persons_below=cfg.report.small_count_threshold),
        "records_after_cutoff": check_gate(
            "records_after_cutoff", sum(c["n_dated_after_cutoff"] for c in event_dates.values()), n_records,
            g.records_after_cutoff, what="study records dated after the data cutoff",
            cause=cutoff_cause, where=where, records_below=threshold, shown_range=dated_after_cutoff),
        "records_before_birth": check_gate(
            "records_before_birth", sum(c["n_before_birth_year"] for c in event_dates.values()), n_records,
            g.records_before_birth, what="study records dated before the birth year",
            cause="year_of_birth or the event dates are shifted or wrong (birth after events)", where=where,
            records_below=threshold, shown_range=before_birth),
        "implausible_drug_records": check_gate(
            "implausible_drug_records", drugs["n_end_over_max_days"] + drugs["n_days_supply_over_max"],
            drugs["n_records"], g.implausible_drug_records,
            what=f"implausible study drug values (end dates or days_supply beyond "
                 f"{cfg.phenotypes.trials.max_days_supply} days: "
                 f"{record_count_label(drugs['n_end_over_max_days'], threshold)} end, "
                 f"{record_count_label(drugs['n_days_supply_over_max'], threshold)} days_supply; not used)",
            cause="placeholder end dates (e.g. 2099-12-31) or days_supply typos in the export", where=where,
            records_below=threshold, shown_range=implausible),
        "no_observation_period": check_gate(
            "no_observation_period", people["n_no_observation_period"], people["n_persons"], g.no_observation_period,
            what="persons without an observation period (followed to death or the data cutoff)",
            cause="observation_period not exported for all persons", where=where,
            persons_below=cfg.report.small_count_threshold),
        # the unreached products' records (UNREACHED) of those and the study drug records (every date):
        # the records of the study's drug products, reached or not
        **({"unreached_drug_records": check_gate(
            "unreached_drug_records", unreached, unreached + event_dates["drug"]["n_records"],
            g.unreached_drug_records,
            what="drug_exposure records of a standard drug product named after a study ingredient that concept_ancestor "
                 "takes to no study drug set's concept (of those and the study drug records; not read)",
            cause="concept_ancestor is partial (exported with a row limit, a vocabulary subset, or a release older "
                  "than the drug records; Athena's table links every RxNorm product to its ingredients): export the "
                  "full table", where=where, records_below=threshold)} if unreached is not None else {}),
        # the records of a concept absent from concept, of the table's records, in the table of the largest share
        **({"unknown_concept_records": check_gate(
            "unknown_concept_records", unknown[0], unknown[1], g.unknown_concept_records,
            what=f"{unknown[2].removeprefix('n_').removesuffix(UNKNOWN_SUFFIX)} records whose standard concept_id "
                 "(not 0) has no row in concept (of the table's records; not read)",
            cause="the vocabulary is older than the records (an Athena download or a vocabulary snapshot of another "
                  "date than the CDM): use the vocabulary the records were mapped with", where=where,
            records_below=threshold)} if unknown is not None else {}),
        # the records of a concept a cut block misplaced (CUT_BLOCK), of those and the study condition records
        # (every date): both may hold a record an exclude's cut let in, which only lowers the share
        **({"cut_condition_records": check_gate(
            "cut_condition_records", cut_block, cut_block + event_dates["condition"]["n_records"],
            g.cut_condition_records,
            what="condition_occurrence records of concepts whose membership of a study condition set a concept_ancestor "
                 "cut in part gets wrong (of those and the study condition records)",
            cause="concept_ancestor is partial (a row limit, a lost part file: Athena's table is transitively closed, "
                  "and it takes a member of the set's block to them but not its root): export the full table",
            where=where, records_below=threshold)} if cut_block is not None else {}),
    }


def check_stage_counts(spark: SparkSession, cfg: Config, sets: dict[str, frozenset[int]],
                       event_dates: dict[str, dict[str, int]], quirks: dict[str, dict[str, int]],
                       absent: Sequence[str] = (), prior: Mapping[str, Collection[int]] | None = None
                       ) -> dict[str, dict]:
    """The checks of ``stage_counts``' counts, in this order: the empty-event-table WARNINGs
    (``warn_empty_event_tables``; ``sets``, ``absent`` as it takes them), then the data gates
    (``data_gates``, ``prior`` as it takes it: InputDataError at an error level). Returns the manifest's notes
    ``empty_event_tables`` and ``gates``. No Spark job. Why the order: an empty event table is
    often a partial export, which a gate may then stop the stage for (no_observation_period:
    "observation_period not exported for all persons"); warned after the gates (c4a6d4b), a
    failed run's log lacked that clue."""
    empty = warn_empty_event_tables(spark, cfg, sets, quirks["event_table_records"], absent)
    return {"empty_event_tables": empty, "gates": data_gates(cfg, event_dates, quirks, prior)}


def stage_counts(
    omop: dict[str, DataFrame],
    persons: DataFrame,
    events: dict[str, DataFrame],
    ingredients: DataFrame,
    data_cutoff_date: dt.date,
    max_days_supply: int,
    *,
    observed: dict[str, dict[str, int]] | None = None,
    use_verbatim_end_date: bool = True,
    conditional: dict[str, tuple[tuple[str, ...], frozenset[int], frozenset[int]]] | None = None,
    observation_ids: frozenset[int] | None = None,
    condition_ids: frozenset[int] | None = None,
    augmentation: DataFrame | None = None,
    dose_forms: dict[str, frozenset[int]] | None = None,
    unreached: UnreachedCheck | None = None,
    unknown_concepts: bool = False,
    matches: DataFrame | None = None,
    cut_conditions: frozenset[int] | None = None,
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """Follow-up date counts per event domain and the real-data quirk counts, in ONE collect.

    Returns (study_event_dates: domain -> persons.followup_date_counts columns, quirks:
    antidepressant_exposures (over the drug records within follow-up: what the trials read) /
    observation_periods / drug_records / drug_values / persons /
    birth_and_death / condition_status / unmapped_records / event_table_records -> counts,
    each in its aggregate's column order; the last two are ``event_table_counts``' columns).
    ``observed``: quirk parts already counted by the caller (part -> counts with the part's
    columns, e.g. observed while ``run`` writes the persons and the study drug records); they
    are taken as given, not computed again (KeyError naming the counts a given part lacks,
    before any Spark job). ``use_verbatim_end_date``: ``trials.use_verbatim_end_date`` (drug_records).
    ``conditional``: ``conditional_record_checks``; when not empty, quirks gains
    conditional_records (``event_table_counts``' n_<set>_source_outside_set, in its aggregate).
    ``observation_ids``: ``observation_count_ids`` (``event_table_counts``: observation's unmapped /
    non-standard records counted among those only). ``condition_ids``: the study condition sets' IDs
    (``study_concept_ids``); when given, quirks gains ``CONDITION_IN_OBSERVATION_PART``
    (``event_table_counts``' ``CONDITION_IN_OBSERVATION``, in its aggregate, and
    ``CONDITION_IN_OBSERVATION_PERSONS``: ``condition_in_observation_persons``, a second job run
    only when that record count is above 0, else 0). ``augmentation``: ``augmentation_ingredients``;
    when given, quirks gains ``augmentation_exposures`` (``trials.min_dose_record_counts`` over the
    drug records within follow-up: n_below_min_dose, n_dose_unknown). ``dose_forms``
    (``dose_form_ids``): when not empty, quirks gains ``DOSE_FORM_PART`` (``dose_form_records``
    over the study drug records of every date: per set n_records_<set>, n_persons_<set>).
    ``unreached`` (``unreached_drug_check``): when given, quirks gains ``UNREACHED_PART``
    (``event_table_counts``' ``UNREACHED``, in its aggregate). ``unknown_concepts``: quirks gains
    ``UNKNOWN_PART`` (``event_table_counts``' n_<table>_unknown_concept, in its aggregate). ``matches``:
    ``trials.reversal_matches(events["drug"])`` as ``run`` writes it (the reversal counts and the follow-up
    records read it; None: matched here). ``cut_conditions`` (``condition_block_cuts``' concepts): when given
    (empty too), quirks gains ``CUT_BLOCK_PART`` (``event_table_counts``' ``CUT_BLOCK``, in its aggregate).

    The domains' events are tagged and aggregated together; every aggregate's result is turned
    into long rows (part, domain, key, value) and the parts are UNIONED into one collect. (A
    cross join of the one-row parts cost a broadcast, i.e. one more Spark job under adaptive
    execution, per part.) Aggregates only: no person-level row reaches the driver.
    """
    observed = observed or {}
    # the records the trials and onsets read (followup_events): no claim a reversal cancels; matches:
    # trials.reversal_matches of events["drug"] as run writes it once (None: matched here)
    followup_drug_records = followup_drugs(events["drug"], persons, matches)
    tagged = reduce(lambda a, b: a.unionByName(b), [
        events[dom].select("person_id", F.col(date_col).alias("event_date"), F.lit(dom).alias("domain"))
        for dom, (_, _, date_col) in EVENT_TABLES.items()
    ])
    dates = followup_date_counts(tagged, persons, "event_date", omop["death"], data_cutoff_date, group_by=("domain",))
    date_cols = [c for c in dates.columns if c != "domain"]
    tables = event_table_counts(omop, conditional, observation_ids=observation_ids, condition_ids=condition_ids,
                                unreached=unreached, unknown_concepts=unknown_concepts, cut_conditions=cut_conditions)
    outside = [c for c in tables.columns if c.endswith(OUTSIDE_SET_SUFFIX)]
    misplaced = [c for c in tables.columns if c == CONDITION_IN_OBSERVATION]
    orphans = [c for c in tables.columns if c in (UNREACHED, UNREACHED_NAMED)]
    unknown = [c for c in tables.columns if c.endswith(UNKNOWN_SUFFIX)]
    cut_block = [c for c in tables.columns if c == CUT_BLOCK]
    quirk_parts = {
        # Over the records within follow-up, the ones the trials are built from (derive_trials):
        # over every date, n_exposures counted exposures no trial could read (after death, after
        # the cutoff); those records are counted in study_event_dates.drug instead.
        "antidepressant_exposures": exposure_record_counts(followup_drug_records, ingredients, max_days_supply),
        # the claims claim reversals cancel (one each) and the reversals that cancel none (trials.reversed_claim_counts),
        # over the records of every date
        "reversed_claims": reversed_claim_counts(events["drug"], matches),
        # of those, the reversals outside the study sets read by their source code (trials.source_reversal_counts)
        SOURCE_REVERSAL_PART: source_reversal_counts(reversal_matches(events["drug"]) if matches is None else matches),
        "observation_periods": observation_period_overlaps(omop["observation_period"]),
        "drug_records": drug_record_quirks(events["drug"], max_days_supply, use_verbatim_end_date=use_verbatim_end_date),
        "drug_values": implausible_drug_values(events["drug"], max_days_supply),
        "persons": person_counts(persons),
        "birth_and_death": birth_death_quirk_counts(omop["person"], omop["death"], omop["observation_period"],
                                                    data_cutoff_date),
        "condition_status": condition_status_counts(events["condition"]),
        "unmapped_records": tables.select(*[c for c in tables.columns
                                            if not c.endswith(RECORDS_SUFFIX)
                                            and c not in outside + misplaced + orphans + unknown + cut_block]),
        "event_table_records": tables.select(*[c for c in tables.columns if c.endswith(RECORDS_SUFFIX)]),
        **({"conditional_records": tables.select(*outside)} if outside else {}),
        **({CONDITION_IN_OBSERVATION_PART: tables.select(*misplaced)} if misplaced else {}),
        **({UNREACHED_PART: tables.select(*orphans)} if orphans else {}),
        **({UNKNOWN_PART: tables.select(*unknown)} if unknown else {}),
        **({CUT_BLOCK_PART: tables.select(*cut_block)} if cut_block else {}),
        # the augmentation agents' records dropped for their dose, where an agent has a minimum
        **({"augmentation_exposures": min_dose_record_counts(followup_drug_records, augmentation, max_days_supply)}
           if augmentation is not None else {}),
        # the records a drug set's exclude_dose_forms leaves out (skin products), and their persons
        **({DOSE_FORM_PART: dose_form_records(events["drug"], dose_forms)} if dose_forms else {}),
    }
    # Those two parts are columns of ONE aggregate, collected once as "event_tables": collected
    # apart, each part's pruned plan scanned the event tables again (no exchange is reused then).
    joint = {"unmapped_records": "event_tables", "event_table_records": "event_tables",
             "conditional_records": "event_tables", CONDITION_IN_OBSERVATION_PART: "event_tables",
             UNREACHED_PART: "event_tables", UNKNOWN_PART: "event_tables", CUT_BLOCK_PART: "event_tables"}
    # A given part lacking one of its counts is the caller's error: raised before the collect,
    # not after a query over every event table.
    for name, counts in observed.items():
        missing = [c for c in quirk_parts[name].columns if c not in counts]
        if missing:
            raise KeyError(f"stage_counts: observed part {name!r} lacks {', '.join(missing)}")
    long = [_long_counts(dates, "study_event_dates", F.col("domain"))]
    long += [_long_counts(df, name, F.lit("")) for name, df in quirk_parts.items()
             if name not in observed and name not in joint]
    long += [_long_counts(tables, "event_tables", F.lit(""))] if set(joint) - set(observed) else []
    got = {(r.part, r.domain, r.key): r.value for r in reduce(lambda a, b: a.unionByName(b), long).collect()}
    event_dates = {d: {c: int(got.get(("study_event_dates", d, c)) or 0) for c in date_cols} for d in EVENT_TABLES}
    quirks = {
        name: {c: int((observed[name][c] if name in observed else got.get((joint.get(name, name), "", c))) or 0)
               for c in df.columns}
        for name, df in quirk_parts.items()
    }
    if CONDITION_IN_OBSERVATION_PART in quirks:
        part = quirks[CONDITION_IN_OBSERVATION_PART]
        # after the one collect, and only when there are such records (condition_in_observation_persons)
        part[CONDITION_IN_OBSERVATION_PERSONS] = (
            condition_in_observation_persons(omop, condition_ids or frozenset()) if part[CONDITION_IN_OBSERVATION] else 0)
    return event_dates, quirks


def _long_counts(df: DataFrame, part: str, domain: Column) -> DataFrame:
    """``df``'s count columns (all but ``domain``) as rows part, domain, key, value (long)."""
    cells = [F.struct(F.lit(c).alias("key"), F.col(c).cast("long").alias("value")) for c in df.columns if c != "domain"]
    return df.select(F.lit(part).alias("part"), domain.alias("domain"), F.inline(F.array(*cells)))


def warn_absent_concepts(cfg: Config, vocab: Vocabulary) -> dict[str, list[str]]:
    """Log one warning per study concept set with references absent from ``concept`` (returned,
    set -> references), and one per set with references whose ``concept`` row has another
    domain or name than the YAML says (``concepts.mismatched_refs``: a typo'd ID that lands
    on a real concept; logged only), and one per set with references to a standard concept
    marked invalid (``concepts.invalid_refs``; kept, as ATLAS keeps them; logged only). An
    ``only_if_standard`` reference this release does not hold as a standard concept is one INFO
    line per set (``concepts.conditional_refs``: expected in some vocabulary releases), and so is
    the number of a set's members left out for their dose form (``concepts.dose_form_excluded``:
    concepts, not persons)."""
    out = {}
    for name in study_concept_set_names(cfg):
        cs = _concept_set(cfg, name)
        if cs.exclude_dose_forms:
            formed = dose_form_ids(cfg, vocab)[name]
            log.info("phenotypes: concept set %s: %d member concept(s) left out for their dose form (%s; their "
                     "records: notes.quirks.%s)", name, len(formed), ", ".join(cs.exclude_dose_forms),
                     DOSE_FORM_PART)
        conditional = conditional_refs(_concept_set(cfg, name), vocab)
        if conditional:
            log.info("phenotypes: concept set %s: %d reference(s) used only where this release holds them as a "
                     "standard concept, not a member here: %s", name, len(conditional), "; ".join(conditional))
        absent = absent_refs(_concept_set(cfg, name), vocab)
        if absent:
            log.warning("phenotypes: concept set %s: %d reference(s) not in this release's concept table "
                        "(they match nothing): %s", name, len(absent), ", ".join(absent))
            out[name] = absent
        mismatched = mismatched_refs(_concept_set(cfg, name), vocab)
        if mismatched:
            log.warning("phenotypes: %s, concept set %s: %d reference(s) whose concept row differs from the "
                        "YAML (a typo'd ID, or a concept of another domain, whose records are in a table this set does not "
                        "read): %s", cfg.phenotypes.concept_sets, name, len(mismatched),
                        "; ".join(mismatched))
        invalid = invalid_refs(_concept_set(cfg, name), vocab)
        if invalid:
            log.warning("phenotypes: %s, concept set %s: %d reference(s) to a standard concept this release's "
                        "vocabulary marks invalid (D deprecated, U upgraded); kept in the set, as ATLAS keeps a set's "
                        "own concepts (invalid descendants are left out): %s", cfg.phenotypes.concept_sets, name,
                        len(invalid), "; ".join(invalid))
    return out


def warn_unlinked_concepts(cfg: Config, vocab: Vocabulary) -> dict[str, list[str]]:
    """Log one WARNING per study condition set with references ``concept_ancestor`` holds no row for
    (``concepts.unlinked_refs``: not even the level-0 self row Athena writes for every standard concept),
    and return them (set -> references; ``notes.concepts_unlinked``). Such a set reads the concept itself
    and none of its sub-diagnoses: on the toy export cut to the last 140 of its 280 concept_ancestor rows,
    2,903 of 8,156 condition records lost their study root and no line said so (docs/phenotypes.md "A
    partial ancestor table"). A WARNING, not an error: a trimmed table whose leaf concepts have no self
    row (the tests' vocabulary) is complete for what it links."""
    out = {}
    for name in study_concept_set_names(cfg):
        unlinked = unlinked_refs(_concept_set(cfg, name), vocab)
        if unlinked:
            log.warning("phenotypes: concept set %s: %d condition reference(s) that concept_ancestor holds no row for, "
                        "not even the level-0 self row Athena writes for every standard concept: their sub-diagnoses "
                        "are not read, only the concept itself; likely cause: concept_ancestor is partial (exported "
                        "with a row limit or a subset of the vocabulary); export the full table: %s", name,
                        len(unlinked), "; ".join(unlinked))
            out[name] = unlinked
    return out



def condition_block_cuts(cfg: Config, vocab: Vocabulary, closed: Vocabulary) -> dict[str, frozenset[int]]:
    """Per study condition set (``study_concept_set_names`` of the condition domain) whose members differ between
    ``vocab`` and ``closed`` (``concepts.closed_vocabulary``: the blocks closed over concept_ancestor's own rows):
    the concepts in one and not the other (a sub-diagnosis the cut table lost from an include's block: not read
    as the set; from an exclude's: read as it). Empty for a table closed where the sets look (every complete
    one). Pure: ``run`` counts their records (``event_table_counts``' ``CUT_BLOCK``)."""
    out = {}
    for name in study_concept_set_names(cfg):
        cs = _concept_set(cfg, name)
        if "condition" not in cs.domains:
            continue
        changed = expand_concept_set(cs, vocab) ^ expand_concept_set(cs, closed)
        if changed:
            out[name] = frozenset(changed)
    return out


def cut_block_warnings(counts: dict[str, int], cuts: Mapping[str, frozenset[int]], records_below: int | None,
                       shown: Mapping[str, str] | None = None) -> list[str]:
    """The run log's WARNING line (after "phenotypes: ") for ``stage_counts``' quirks.condition_block_records
    (``CUT_BLOCK``: records, shown as ``concept_record_warnings``' are, ``records_below``, ``shown``), naming the
    sets of ``cuts`` (``condition_block_cuts``) and their concepts' number (concepts, not persons). Empty when
    no set changed. A line for sets whose concepts have no record says so (0): the cut is still there."""
    if not cuts:
        return []
    n = counts.get(CUT_BLOCK, 0)
    text = record_text(shown, f"quirks.{CUT_BLOCK_PART}.{CUT_BLOCK}", n, records_below)
    sets = ", ".join(f"{name} ({len(ids)} concept(s))" for name, ids in sorted(cuts.items()))
    return [f"condition_occurrence: {text} record(s) of concepts whose membership of study condition set(s) {sets} "
            "concept_ancestor gets wrong: it takes a member of the set's block to them but not the block's root "
            "(Athena's table is transitively closed, so a row is missing: a row limit, a lost part file), so a "
            "sub-diagnosis is not read as the set (or, under an exclude, is read as it); export the full table. "
            f"Counted in notes.quirks.{CUT_BLOCK_PART}, the sets in notes.condition_blocks_cut; the run stops at "
            "phenotypes.gates.cut_condition_records.error"]

def check_standard_concepts(cfg: Config, vocab: Vocabulary) -> None:
    """Stop with one ConfigError naming the concept-set YAML, the first set and its references
    to a non-standard concept (``concepts.nonstandard_refs``): a source code (ICD10CM) or a
    concept a vocabulary release deprecated matches no record, so the set would be silently
    narrower (an exclude: broader). Fixed by naming the standard concept it 'Maps to'."""
    for name in study_concept_set_names(cfg):
        bad = nonstandard_refs(_concept_set(cfg, name), vocab)
        if bad:
            raise ConfigError(
                f"{len(bad)} reference(s) to a non-standard concept in this release's concept table "
                f"(records carry standard concepts, so they match nothing; name the standard concept "
                f"each 'Maps to'): {'; '.join(bad)}",
                where=f"{cfg.phenotypes.concept_sets}: concept_sets.{name}")


def check_concept_sets(spark: SparkSession, cfg: Config) -> None:
    """``check_standard_concepts`` on its own, from the release's ``concept`` and
    ``concept_ancestor`` tables only (the two small collects of ``study_vocabulary``):
    ``pipeline.run_stages`` calls it when a run starts whose phenotype stage runs after another
    stage, so a concept set naming a non-standard concept stops the run before the pgs stage
    (hours at All of Us scale), not after it. Raises as ``check_standard_concepts``."""
    check_standard_concepts(cfg, study_vocabulary(
        {t: read_omop_table(spark, cfg.omop, t, records_below=cfg.report.small_count_threshold)
         for t in ("concept", "concept_ancestor")}, cfg))


def empty_frame(spark: SparkSession, struct: T.StructType) -> DataFrame:
    """A DataFrame with no rows and the columns of ``struct`` (types kept, all nullable),
    planned in the JVM: ``spark.createDataFrame([], struct)`` is a parallelised Python list,
    whose (empty) partitions a Python worker computes when a query reads it."""
    return spark.range(0).select(*[F.lit(None).cast(f.dataType).alias(f.name) for f in struct.fields])


def literal_frame(spark: SparkSession, rows: list[tuple], struct: T.StructType) -> DataFrame:
    """A one-partition DataFrame of ``rows`` (tuples in ``struct`` field order, enum members
    as their values) held as literals in the plan.

    ``spark.createDataFrame(rows)`` re-serialises the rows through a Python worker process
    when the frame is computed (starting one took 10-16 s in the profile's 35-row cohort_flow
    write on a busy machine); literals are evaluated in the JVM. Meant for tables of up to a
    few thousand rows: the plan holds every value.
    """
    if not rows:
        return empty_frame(spark, struct)
    structs = [
        F.struct(*[F.lit(v.value if isinstance(v, Enum) else v).cast(f.dataType).alias(f.name)
                   for v, f in zip(row, struct.fields, strict=True)])
        for row in rows
    ]
    return spark.range(1).select(F.inline(F.array(*structs)))


def by_person(df: DataFrame) -> DataFrame:
    """``df`` hash-partitioned by person_id into ``spark.sql.shuffle.partitions`` partitions,
    which adaptive execution coalesces to its advisory size (no fixed count here).

    Written that way, a table is one file per partition, each holding whole persons: read
    back, it is as many scan tasks as files (small files are not packed into one task below
    ``spark.sql.files.openCostInBytes``), so the joins and per-person windows built on it run
    on every core instead of in the single task a one-file table gives.
    """
    return df.repartition("person_id")


def _materialize(df: DataFrame, path: str, observations: Sequence[tuple[Observation, list[Column]]] = (), *,
                 partition_by_person: bool = True) -> DataFrame:
    """Write ``df`` as Parquet at ``path``, partitioned by person (``by_person``) unless
    ``partition_by_person`` is false (then as ``df``'s own partitions: no shuffle, one file per
    partition with rows), and return the file read back (same columns and types): its rows are
    computed once, and queries built on it start at the file.

    ``observations``: (Observation, aggregate columns) pairs observed on the rows as they are
    written, on top of the plan (the write's result stage: exact, ``io.observed``).
    """
    out = by_person(df) if partition_by_person else df
    for obs, columns in observations:
        out = out.observe(obs, *columns)
    out.write.mode("overwrite").parquet(path)
    return read_back(df.sparkSession, path, df.schema)


def read_back(spark: SparkSession, path: str, struct: T.StructType) -> DataFrame:
    """A Parquet table this stage wrote with the columns of ``struct``, read with that schema:
    Spark then skips the schema-inference job it runs for every ``read.parquet`` (its
    footers are read in a Spark job)."""
    return spark.read.schema(struct).parquet(path)


def check_release_shrink(ctx: StageContext, quirks: dict[str, dict[str, int]], absent: Sequence[str]) -> list[str]:
    """The OMOP tables (``shrink.table_rows`` of ``quirks``, this run's counts) with fewer rows than
    in the newest earlier published release of the output root (``shrink.earlier_release``) by more
    than ``releases.max_table_shrink`` (None: no check, []), each with one WARNING (``shrink_warnings``);
    ``absent``: optional tables this release lacks (warned about by ``read_omop``) and tables not read
    are not compared. No Spark job: the counts are this run's and the earlier manifest's."""
    max_shrink = ctx.cfg.releases.max_table_shrink
    earlier = None if max_shrink is None else earlier_release(ctx.layout, ctx.fs, ctx.name)
    if max_shrink is None or earlier is None:
        return []
    release, notes = earlier
    now, before = table_rows({"quirks": quirks}), table_rows(notes)
    # A table this config does not read (observation without an observation-domain set) counts 0 rows.
    unread = tuple(t for t in now if t not in omop_tables_read(ctx.cfg))
    shrunk = shrunk_tables(now, before, max_shrink, skip=(*absent, *unread))
    for line in shrink_warnings(shrunk, now, before, release, max_shrink, ctx.cfg.report.small_count_threshold):
        log.warning("phenotypes: %s", line)
    return list(shrunk)


# The stage manifest's record of the counts its lines gave their reader, over this and every
# earlier run of the release (``stage_record_counts_read``): name -> the counts, for the later runs'
# ``prior`` (``logged_record_counts``).
RECORD_COUNTS_LOGGED = "record_counts_logged"


def _counts_logged(notes: object, records_below: int) -> dict[str, set[int]]:
    """name -> counts a phenotypes manifest's ``notes`` says its runs' lines gave their reader:
    ``RECORD_COUNTS_LOGGED``, or, in a manifest of an older version, every record count of its
    ``study_event_dates`` and ``quirks`` (how that version's lines showed each is not recorded: read
    as shown, the outsider's best case) and those the reader derives from them as this version shows
    them. {} for notes without them; malformed entries are passed over (a check of this run's lines,
    not an input)."""
    if not isinstance(notes, Mapping):
        return {}
    logged = notes.get(RECORD_COUNTS_LOGGED)
    if isinstance(logged, Mapping):
        return {str(k): {int(v) for v in vs if type(v) is int} for k, vs in logged.items() if isinstance(vs, list)}
    dates, quirks = notes.get("study_event_dates"), notes.get("quirks")
    if not (isinstance(dates, Mapping) and isinstance(quirks, Mapping)):
        return {}
    try:
        dates = {d: {k: int(v) for k, v in c.items()} for d, c in dates.items()}
        quirks = {q: {k: int(v) for k, v in c.items()} for q, c in quirks.items() if isinstance(c, Mapping)}
        read = stage_record_counts_read(dates, quirks, stage_record_texts(dates, quirks, records_below))
        return {k: {v} for k, v in {**_stage_relations(dates, quirks)[0], **read}.items()}
    except (AttributeError, KeyError, TypeError, ValueError):
        return {}


def logged_record_counts(layout: Layout, fs: FsLike, records_below: int) -> tuple[dict[str, set[int]],
                                                                                  dict[str, set[int]]]:
    """(name -> the record counts the phenotypes lines of other runs gave their reader: every other
    release's under ``layout.output_root`` and this release's earlier runs, as their published
    manifests record them (``RECORD_COUNTS_LOGGED``, ``_counts_logged``); the same of this release's
    earlier runs only, which this run's manifest carries on). Why: the same count in two runs' logs
    gave its change, 500 then 507 records with a skin product's concept the 7 (1..7 persons) given
    one since (privacy round 7 of session 50); ``stage_count_texts``' ``prior``. Not read: a run
    stopped before it published (its log is written, its counts are not recorded), the roots of
    ``report.audit_output_roots`` (no key of this stage: a change of it would rerun it). A manifest
    that cannot be read is passed over, as ``shrink.earlier_release``."""
    every: dict[str, set[int]] = {}
    own: dict[str, set[int]] = {}
    listdirs = getattr(fs, "listdirs", None)
    names = listdirs(layout.output_root) if listdirs is not None else []
    for name in sorted({*names, layout.release}):
        other = dataclasses.replace(layout, release=name)
        try:
            manifest = other.manifest(fs, "phenotypes") if other.is_complete(fs, "phenotypes") else None
        except InputDataError as e:
            log.info("phenotypes: %s's manifest cannot be read (%s): its logged counts not compared",
                     other.release_dir, e)
            continue
        for k, vs in _counts_logged((manifest or {}).get("notes"), records_below).items():
            every.setdefault(k, set()).update(vs)
            if name == layout.release:
                own.setdefault(k, set()).update(vs)
    return every, own


def period_count_columns(windowed: bool) -> list[Column]:
    """The aggregates of ``mdd_index_periods``' rows the manifest keeps: ``persons.
    index_period_count_columns`` and, with a persistence window (``windowed``: rows with
    index_period_end_without_window), ``persons.observation_gap_count_columns``."""
    return [*index_period_count_columns(), *(observation_gap_count_columns() if windowed else [])]


def time_at_risk_notes(cfg: Config, per_definition: Mapping[str, object], periods: Mapping[str, object] | None
                       ) -> dict[str, object]:
    """The manifest's ``notes.cox_time_at_risk``: the rule (``phenotypes.cox_time_at_risk``), under
    ``index_period`` the persistence window (``observation_period_gap_days``), the MDD indexes outside
    every observation span (``persons.index_period_count_columns``) and, with a window above 0, the gaps it
    bridged (``persons.observation_gap_count_columns``; ``periods``: those aggregates, None under
    ``followup``); per definition ``trd.time_at_risk_columns``' counts and, with a window, ``trd.
    gap_window_columns``' (``per_definition``: ``<definition>:<count>`` -> value). Exact counts: the manifest,
    not a log line."""
    ph = cfg.phenotypes
    notes: dict[str, object] = {"rule": ph.cox_time_at_risk}
    keys: tuple[str, ...] = TIME_AT_RISK_COUNTS
    if periods is not None:
        notes["observation_period_gap_days"] = ph.observation_period_gap_days
        notes.update({k: int(v or 0) for k, v in periods.items()})  # type: ignore[call-overload]
        if ph.observation_period_gap_days > 0:
            keys = (*TIME_AT_RISK_COUNTS, *GAP_WINDOW_COUNTS)
    notes["definitions"] = {d.name: {k: int(per_definition.get(f"{d.name}:{k}") or 0)  # type: ignore[call-overload]
                                     for k in keys} for d in ph.trd_definitions}
    return notes


def time_at_risk_log_lines(notes: Mapping[str, object], persons_below: int) -> list[tuple[int, str]]:
    """(level, text) lines of ``time_at_risk_notes``: per definition the persons whose Cox time at
    risk ends before their follow-up and the TRD onsets censored (persons: ``count_text``; the
    person-days are in the manifest only: a total over fewer than T persons would tell of them), a
    WARNING when an onset is censored (events the Cox model and the Kaplan-Meier curves lose: on
    All of Us, whose observation periods are often short and many; docs/phenotypes.md
    "Time at risk"), else INFO; and a WARNING for MDD indexes before the first observation span or
    between two."""
    lines: list[tuple[int, str]] = []
    definitions = notes["definitions"]
    assert isinstance(definitions, dict)
    for name, c in definitions.items():
        if notes["rule"] == "index_period":
            censored = int(c["n_events_censored"] or 0)
            lines.append((logging.WARNING if censored else logging.INFO,
                          f"{name}: Cox time at risk ends with the index's observation period for "
                          f"{count_text(c['n_at_risk_shortened'], persons_below=persons_below)} MDD person(s) (an "
                          f"observation gap follows); {count_text(censored, persons_below=persons_below)}"
                          " TRD onset(s) after it are censored there (notes.cox_time_at_risk"
                          + ("; phenotypes.cox_time_at_risk: followup keeps them, docs/phenotypes.md \"Time at risk\")"
                             if censored else ")")))
    if int(notes.get("observation_period_gap_days") or 0) > 0:  # type: ignore[call-overload]
        kept = "; ".join(f"{name}: {count_text(int(c.get('n_events_kept_by_gap_window') or 0), persons_below=persons_below)}"
                         for name, c in definitions.items())
        lines.append((logging.INFO, "observation periods separated by at most "
                      f"{notes['observation_period_gap_days']} unobserved day(s) are one span "
                      "(phenotypes.observation_period_gap_days, OHDSI EHR WG persistence window): gaps bridged for "
                      f"{count_text(int(notes.get('n_mdd_persons_gaps_bridged') or 0), persons_below=persons_below)}"  # type: ignore[call-overload]
                      " MDD person(s), the index's span extended for "
                      f"{count_text(int(notes.get('n_mdd_index_span_extended') or 0), persons_below=persons_below)}"  # type: ignore[call-overload]
                      f"; TRD onsets an event only through it (censored without it): {kept}"))
    before, between = (int(notes.get(k) or 0)  # type: ignore[call-overload]
                       for k in ("n_mdd_index_before_first_period", "n_mdd_index_between_periods"))
    if before or between:
        lines.append((logging.WARNING, "MDD index outside every observation period: "
                      f"{count_text(before, persons_below=persons_below)} person(s) before their first period, "
                      f"{count_text(between, persons_below=persons_below)} between two (records outside observation "
                      "periods count; their Cox time at risk runs to the end of the next period)"))
    return lines


def check_exposure_ids(n_repeated: int, cfg: Config) -> None:
    """``InputDataError`` (exit 3) when ``n_repeated`` (``trials.repeated_exposure_id_count`` over the written
    ``reversal_matches``) is above 0: a drug_exposure_id on more than one record of a person and product with a
    claim reversal. The CDM's primary key is unique (OHDSI DQD isPrimaryKey, threshold 0%), as person_id
    (``omop.check_person_table``'s error): a repeated one is an export that repeats records (a part file written
    twice, a table appended to itself), so how many claims a reversal leaves is unknown (n claim rows and m
    reversals leave n - m: a claim repeated and its reversal once left a fill never dispensed as an exposure). An
    error, not a silent de-duplication: such an export repeats the other tables' rows too, which no key here
    checks. Only those records are checked (the matching's own rows: no job or shuffle over every study record);
    elsewhere a repeated record changes no trial (identical rows merge into one episode). Neither an ID nor a
    count in the message."""
    if n_repeated:
        raise InputDataError(
            "OMOP table drug_exposure column drug_exposure_id: a drug_exposure_id occurs on more than one record of "
            "a person and drug with a claim reversal (the CDM's primary key, unique): the export repeats records "
            "(e.g. a part file written twice), so which claims the reversals cancel is unknown; export the table "
            "again", where=str(cfg.omop.path))


def run(ctx: StageContext) -> None:
    """Read OMOP (cfg.omop), derive and publish persons, antidepressant_trials, phenotypes, cohort_flow."""
    spark, cfg = ctx.spark, ctx.cfg
    log.info("phenotypes: reading OMOP (%s) from %s", cfg.omop.format, cfg.omop.path)
    absent: list[str] = []
    omop = read_omop(spark, cfg, absent)
    vocab = study_vocabulary(omop, cfg)
    check_required_tables(omop, cfg, vocab)
    check_observation_table(spark, cfg, vocab, absent)
    absent_concepts = warn_absent_concepts(cfg, vocab)
    unlinked_concepts = warn_unlinked_concepts(cfg, vocab)
    # the study condition blocks closed over concept_ancestor's own rows (a table cut in part: session 57)
    block_cuts = condition_block_cuts(cfg, vocab, closed_vocabulary(
        [_concept_set(cfg, n) for n in study_concept_set_names(cfg)], vocab, omop["concept"], omop["concept_ancestor"]))
    check_standard_concepts(cfg, vocab)
    # Read before this run's folder replaces the release's earlier one.
    prior, own_prior = logged_record_counts(ctx.layout, ctx.fs, cfg.report.small_count_threshold)
    with ctx.publish() as out:
        work = f"{out.dir}/{WORK_DIR}"
        # The event tables are scanned once, filtered to the study concept sets with their
        # columns pruned, and written; persons, MDD groups and trials are written once too.
        # Every later query starts at those small files: the OMOP read, the date conversions
        # and the joins before them are not planned, optimised or run again for each output
        # and each TRD definition (the stage's fixed cost was that planning: benchmarks/RESULTS.md).
        # The one-row quirk counts over the study drug records and over the persons are
        # observed while those rows are written: no query of their own (stage_counts).
        # The condition-status count is observed on the condition rows as they are written.
        # The study events are written as the scan's own partitions, so the scan is the write's
        # result stage (observed metrics exact, io.observed) and no shuffle precedes the write:
        # nothing reads these files as partitioned by person (every query shuffles them anyway).
        max_days, verbatim = cfg.phenotypes.trials.max_days_supply, cfg.phenotypes.trials.use_verbatim_end_date
        drug_obs, value_obs, person_obs, status_obs = Observation(), Observation(), Observation(), Observation()
        foreign_obs = Observation()
        # The drug scan also keeps the claim reversals outside the study sets that name a product (their code in
        # drug_source_concept_id, drug_concept_id null): the matching reads them by their source code
        # (trials.reversal_matches' foreign); the quirk counts are over the study records alone.
        study = derive_study_events(omop, cfg, vocab, foreign_reversals=True)
        is_study = F.col("drug_concept_id").isNotNull()
        observe = {"drug": [(drug_obs, drug_record_quirk_columns(max_days, use_verbatim_end_date=verbatim, where=is_study)),
                            (value_obs, implausible_drug_value_columns(study["drug"], max_days, where=is_study)),
                            (foreign_obs, [F.count(F.when(~is_study, 1)).alias("n_foreign")])],
                   "condition": [(status_obs, condition_status_columns())]}
        events = {domain: _materialize(df, f"{work}/study_events_{domain}.parquet", observe.get(domain, ()),
                                       partition_by_person=False)
                  for domain, df in study.items()}
        written_drugs = events["drug"]
        events["drug"] = study_drug_records(written_drugs)
        persons_df = by_person(derive_persons(omop["person"], omop["observation_period"], omop["death"],
                                              cfg.omop.data_cutoff_date, cfg.omop.sex_at_birth))
        out.write_table("persons", persons_df.observe(person_obs, *person_count_columns()), PERSONS)
        persons = read_back(spark, out.table_path("persons"), PERSONS.struct)
        # Fallbacks (the metrics not delivered, io.observed): the same aggregates over the written files.
        observed_quirks = {
            "drug_records": observed(drug_obs, spark,
                                     lambda: drug_record_quirks(events["drug"], max_days,
                                                                use_verbatim_end_date=verbatim).collect()[0].asDict()),
            "drug_values": observed(value_obs, spark,
                                    lambda: implausible_drug_values(events["drug"], max_days).collect()[0].asDict()),
            "persons": observed(person_obs, spark, lambda: person_counts(persons).collect()[0].asDict()),
            "condition_status": observed(status_obs, spark,
                                         lambda: condition_status_counts(events["condition"]).collect()[0].asDict()),
        }
        # The claims reversals cancel are matched once (trials.reversal_matches: the records of the persons and
        # products with a reversal, grouped) and written: the MDD groups, the trials, the onsets and the counts
        # read the written matches, not a matching each (before session 56 it ran in each of those queries).
        # The reversals outside the study sets join the matching only when the scan kept any (a join of the claims'
        # codes otherwise planned for none).
        n_foreign = observed(foreign_obs, spark, lambda: {"n_foreign": foreign_reversal_records(written_drugs).count()})
        # written once (tiny): the matching reads them twice (the pairs, their records); lazily, their join ran twice
        by_source = (_materialize(reversals_by_source(events["drug"], foreign_reversal_records(written_drugs)),
                                  f"{work}/reversals_by_source.parquet", partition_by_person=False)
                     if n_foreign["n_foreign"] else None)
        ids_obs = Observation()
        matches = _materialize(reversal_matches(events["drug"], by_source=by_source), f"{work}/reversal_matches.parquet",
                               [(ids_obs, [repeated_exposure_id_count()])], partition_by_person=False)
        check_exposure_ids(observed(ids_obs, spark, lambda: matches.agg(repeated_exposure_id_count()).collect()[0]
                                    .asDict())["n_repeated_drug_exposure_ids"], cfg)
        followup = followup_events(events, persons, matches)
        ingredients = trial_ingredients(spark, omop, cfg, vocab)
        doses = augmentation_ingredients(spark, omop, cfg, vocab)
        # The cohort-flow counts are observed while the MDD groups and the phenotypes are written.
        exclusion_sets = list(cfg.phenotypes.mdd.exclude_concept_sets)
        shared_columns = shared_flow_columns(exclusion_sets=exclusion_sets, min_diagnoses=cfg.phenotypes.mdd.min_diagnoses)
        shared_obs, definitions_obs = Observation(), Observation()
        sets = concept_set_ids(cfg, vocab)
        ehr_persons = ehr_evidence_persons(spark, omop, persons, cfg)
        ehr_obs = Observation()
        mdd = _materialize(derive_mdd_groups(cfg, vocab, persons, events, followup, sets, ehr_persons),
                           f"{work}/mdd.parquet", [(shared_obs, shared_columns),
                                                   (ehr_obs, [ehr_after_cutoff_only_count()])])
        # Study-concept records outside [birth year, end of follow-up] are dropped: count
        # them (after death / after the cutoff / after observation separately), with the quirks.
        conditional = conditional_record_checks(cfg, vocab, sets)
        unreached = unreached_drug_check(cfg, vocab, unreached_strength(cfg, omop, absent))
        event_dates, quirks = stage_counts(omop, persons, events, ingredients, cfg.omop.data_cutoff_date,
                                           max_days, observed=observed_quirks, use_verbatim_end_date=verbatim,
                                           conditional=conditional, observation_ids=observation_count_ids(cfg, vocab),
                                           condition_ids=study_concept_ids(cfg, vocab)["condition"],
                                           augmentation=doses, dose_forms=dose_form_ids(cfg, vocab),
                                           unreached=unreached, unknown_concepts=True, matches=matches,
                                           cut_conditions=frozenset().union(*block_cuts.values()))
        # Record counts of 1 to T-1 read <T in the logs (logs.record_count_text); the manifest keeps them.
        threshold = cfg.report.small_count_threshold
        # The lines read together: a total shown in two lines is shown the same way in both, and
        # with the other runs' lines (other releases, earlier runs of this one).
        followup_lines, quirk_lines = stage_count_texts(event_dates, quirks, threshold, prior)
        # The WARNING lines show each count as these lines do (no two exact counts 1..T-1 apart).
        shown = stage_record_texts(event_dates, quirks, threshold, prior)
        out.notes[RECORD_COUNTS_LOGGED] = {k: sorted({*own_prior.get(k, ()), v}) for k, v in
                                           stage_record_counts_read(event_dates, quirks, shown).items()}
        for domain, line in followup_lines.items():
            log.info("phenotypes: %s records in study concept sets: %s", domain, line)
        out.notes["study_event_dates"] = event_dates
        for line in unread_record_warnings(event_dates, threshold, shown):
            log.warning("phenotypes: %s", line)
        for line in quirk_lines.values():
            log.info("phenotypes: %s", line)
        out.notes.update(check_stage_counts(spark, cfg, sets, event_dates, quirks, absent, prior))
        for what, n in quirks["drug_records"].items():
            if n:
                # Over the study drug records of every date (observed on their one scan), as the
                # control rule reads them; the trials and onsets read those within follow-up only.
                log.warning("phenotypes: drug_exposure: %s antidepressant/study record(s) with %s (%s; counted over "
                            "the records of every date, in or outside follow-up: only those within it form trials)",
                            record_text(shown, f"quirks.drug_records.{what}", n, threshold), what.removeprefix("n_"),
                            DRUG_RECORD_QUIRK_TEXT[what])
        if quirks["reversed_claims"]["n_reversed_claims"]:
            log.warning("phenotypes: drug_exposure: %s study claim record(s) cancelled by a claim reversal (a record of the "
                        "same person, product and supply with a negative days_supply or quantity, on the claim's day or "
                        "within its days_supply or 21 days; OHDSI Themis #124): not used as exposures; still no control",
                        record_text(shown, "quirks.reversed_claims.n_reversed_claims",
                                    quirks["reversed_claims"]["n_reversed_claims"], threshold))
        if quirks[SOURCE_REVERSAL_PART]["n_reversals_by_source"]:
            log.warning("phenotypes: drug_exposure: %s claim reversal(s) whose drug_concept_id is in no study concept "
                        "set (0, a non-standard concept or another product's) read by their drug_source_concept_id as "
                        "reversals of a study claim of the same person and source code (each cancels a claim or none: "
                        "counted with the reversals above); the ETL left those reversals unmapped",
                        record_text(shown, SOURCE_REVERSALS, quirks[SOURCE_REVERSAL_PART]["n_reversals_by_source"],
                                    threshold))
        if quirks["reversed_claims"]["n_unmatched_reversals"]:
            log.warning("phenotypes: drug_exposure: %s claim reversal(s) (a study record with a negative days_supply or "
                        "quantity) cancel no claim: none of the same person, product, supply and quantity on the "
                        "reversal's day or earlier within its days_supply or 21 days (e.g. dated before its claim, of "
                        "another product or after the claim's supply ran out); each is no exposure and cancels nothing",
                        record_text(shown, "quirks.reversed_claims.n_unmatched_reversals",
                                    quirks["reversed_claims"]["n_unmatched_reversals"], threshold))
        if quirks["condition_status"]["n_preliminary_records"]:
            log.warning("phenotypes: condition_occurrence: %s study record(s) with a preliminary status (rule-out / "
                        "possible diagnosis): no MDD diagnosis",
                        record_text(shown, "quirks.condition_status.n_preliminary_records",
                                    quirks["condition_status"]["n_preliminary_records"], threshold))
        if quirks["condition_status"]["n_history_records"]:
            log.warning("phenotypes: condition_occurrence: %s study record(s) with a 'history of' status (a past "
                        "disorder noted): no MDD diagnosis",
                        record_text(shown, "quirks.condition_status.n_history_records",
                                    quirks["condition_status"]["n_history_records"], threshold))
        # Records and rows the rules cannot read, by table and column (persons: no count in a line)
        for line in [*concept_record_warnings(quirks["unmapped_records"], threshold, shown),
                     *conditional_record_warnings(quirks.get("conditional_records", {}), conditional, threshold, shown),
                     *observation_condition_warnings(quirks.get(CONDITION_IN_OBSERVATION_PART, {}), threshold, shown),
                     *unreached_drug_warnings(quirks.get(UNREACHED_PART, {}), threshold, shown,
                                              unreached.rule if unreached is not None else UNREACHED_BY_NAME),
                     *unknown_concept_warnings(quirks, threshold, shown),
                     *cut_block_warnings(quirks.get(CUT_BLOCK_PART, {}), block_cuts, threshold, shown),
                     *birth_and_death_warnings(quirks["birth_and_death"], cfg.omop.death_table),
                     *implausible_birth_warnings(quirks["persons"])]:
            log.warning("phenotypes: %s", line)
        out.notes["quirks"] = quirks
        # which rule counted quirks.unreached_drug_records (docs/phenotypes.md "A partial ancestor table")
        out.notes["unreached_drug_rule"] = unreached.rule if unreached is not None else None
        out.notes["tables_shrunk"] = check_release_shrink(ctx, quirks, absent)
        out.notes["concepts_absent"] = absent_concepts
        out.notes["concepts_unlinked"] = unlinked_concepts
        # the study condition sets whose members a concept_ancestor cut in part changed: set -> concepts (a number)
        out.notes["condition_blocks_cut"] = {name: len(ids) for name, ids in sorted(block_cuts.items())}
        out.notes["optional_tables_absent"] = absent
        out.write_table("antidepressant_trials", by_person(derive_trials(cfg, followup["drug"], ingredients, mdd)),
                        ANTIDEPRESSANT_TRIALS)
        trials = read_back(spark, out.table_path("antidepressant_trials"), ANTIDEPRESSANT_TRIALS.struct)
        definitions = [d.name for d in cfg.phenotypes.trd_definitions]
        # The MDD indexes' observation spans (the Cox time at risk), written once; counted as written.
        periods, period_obs = mdd_index_periods(cfg, omop["observation_period"], persons, mdd), Observation()
        windowed = periods is not None and "index_period_end_without_window" in periods.columns
        if periods is not None:
            periods = _materialize(periods, f"{work}/index_periods.parquet", [(period_obs, period_count_columns(
                windowed))])
        risk_obs = Observation()
        n = out.write_table("phenotypes", derive_definition_phenotypes(cfg, followup, mdd, trials, sets, doses, periods)
                            .observe(definitions_obs, *definition_flow_columns(definitions))
                            .observe(risk_obs, *time_at_risk_columns(definitions)), PHENOTYPES)
        phenotypes = read_back(spark, out.table_path("phenotypes"), PHENOTYPES.struct)
        risk_counts = dict(observed(
            risk_obs, spark, lambda: phenotypes.agg(*time_at_risk_columns(definitions)).collect()[0].asDict()))
        if windowed:
            assert periods is not None
            # what the persistence window changed: one small job over the two written tables
            risk_counts.update(phenotypes.join(periods.select("person_id", "index_period_end_without_window"),
                                               "person_id", "left")
                               .agg(*gap_window_columns(definitions)).collect()[0].asDict())
        at_risk = time_at_risk_notes(cfg, risk_counts, None if periods is None else observed(
            period_obs, spark, lambda: periods.agg(*period_count_columns(windowed)).collect()[0].asDict()))
        out.notes["cox_time_at_risk"] = at_risk
        for level, line in time_at_risk_log_lines(at_risk, threshold):
            log.log(level, "phenotypes: %s", line)
        # Fallbacks (io.observed): the same aggregates over the written files.
        shared = observed(shared_obs, spark, lambda: mdd.agg(*shared_columns).collect()[0].asDict())
        per_definition = observed(definitions_obs, spark, lambda: phenotypes.agg(
            *definition_flow_columns(definitions)).collect()[0].asDict())
        flow = flow_rows(shared, definition_counts(per_definition, definitions),
                         exclusion_sets=exclusion_sets)
        out.write_table("cohort_flow", literal_frame(spark, flow, COHORT_FLOW.struct), COHORT_FLOW)
        # Persons without evidence of EHR data kept out of the controls (omop.ehr_evidence), from the flow.
        no_ehr = next(n for d, _, step, n in flow
                      if d == ALL_DEFINITIONS and step == excluded_step(ExclusionReason.NO_EHR_DATA))
        n_after = observed(ehr_obs, spark, lambda: mdd.agg(ehr_after_cutoff_only_count()).collect()[0].asDict())
        ehr_notes, ehr_warnings = ehr_evidence_notes(cfg, no_ehr, int(n_after["n_persons_ehr_rows_after_cutoff_only"]))
        out.notes["ehr_evidence"] = ehr_notes
        log.info("phenotypes: EHR data by %s: %s person(s) without it, none of them a control",
                 cfg.omop.ehr_evidence, count_text(no_ehr, persons_below=threshold))
        for line in ehr_warnings:
            log.warning("phenotypes: %s", line)
        # From the flow counts: no second pass over the phenotypes for the log.
        for d in cfg.phenotypes.trd_definitions:
            log.info("phenotypes: %s", status_log_text(d.name, threshold))
        out.notes["phenotype_rows"] = n
        out.notes["primary_definition"] = cfg.phenotypes.primary_definition
        out.fs.delete(work)
