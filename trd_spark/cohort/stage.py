"""Cohort stage: read PGS, phenotypes and ancestry; write the analysis frame per dataset."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import reduce
from typing import TYPE_CHECKING

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from trd_spark.cohort.flow import dataset_flow_log_lines, dataset_flow_rows
from trd_spark.cohort.frame import (
    count_by_status,
    derive_analysis_frame,
    derive_ancestry,
    derive_pgs_wide,
    derive_unrelated,
)
from trd_spark.cohort.sample_qc import parse_related_pairs, prune_related_pairs
from trd_spark.cohort.standardise import BEYOND_SD, persons_beyond_sd, standardise_datasets
from trd_spark.compressed import check_spark_text, spark_read_hint
from trd_spark.config import Config, GateThreshold, local_path
from trd_spark.errors import InputDataError, header_fields_text
from trd_spark.gates import check_gate
from trd_spark.io import csv_columns_named_twice
from trd_spark.logs import count_text, person_count_text
from trd_spark.schemas import ANALYSIS_FRAME_FIXED, COHORT_COUNTS, DATASET_FLOW, PERSON_ID_TEXT
from trd_spark.vocabulary import MAX_PLAUSIBLE_AGE_YEARS, MDD_STATUSES, DatasetFlowStep

if TYPE_CHECKING:
    from trd_spark.stages import StageContext

log = logging.getLogger(__name__)


def read_tsv(spark: SparkSession, path: str, required: list[str], what: str) -> DataFrame:
    """A tab-separated file with a header, all columns as strings; required columns checked.
    A local file compressed in a way Spark would read as text is refused first
    (``compressed.check_spark_text``)."""
    if (local := local_path(path)) is not None:
        check_spark_text(local, what)
    try:
        df = spark.read.csv(path, sep="\t", header=True, inferSchema=False)
    except Exception as e:  # noqa: BLE001 - Spark raises AnalysisException for a missing path
        hint = spark_read_hint(local, str(e)) if local is not None else ""
        # The first line: Py4J's text goes on with the Java stack (one error line, not a trace).
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputDataError(f"cannot read{hint}: {first}", where=path) from None
    missing = [c for c in required if c not in df.columns]
    # Spark renames a column named twice ("research_id0", "research_id3"): name the repeat.
    twice = csv_columns_named_twice(spark, path, {"sep": "\t"}, missing) if missing else []
    if twice:
        raise InputDataError(f"column {twice[0]} named twice in the header", where=f"{what} {path}:1")
    if missing:
        raise InputDataError(f"missing column(s) {missing}: {header_fields_text(df.columns, required)}",
                             where=f"{what} {path}")
    return df


def check_person_ids(df: DataFrame, columns: list[str], where: str) -> None:
    """Every non-null value of ``columns`` (text) is a person_id written as a plain integer.

    A cast to long would silently re-format ``01001``, ``1001.0`` or `` 1001`` into person
    1001 (two rows of one person, or another person's PCs) and turn a sample name into null
    (a flagged relative kept). Raises InputDataError naming ``where`` and the column, never an
    ID nor a count (the values are persons: ``logs.person_count_text``), and whether some of
    them collide with another value once read as integers. One aggregation (small files).
    """
    aggs = []
    for c in columns:
        v = F.col(f"`{c}`")
        bad = v.isNotNull() & ~v.rlike(f"^({PERSON_ID_TEXT})$")
        number = F.trim(v).cast("decimal(38,10)")  # what a lenient reader would make of it
        aggs += [F.sum(bad.cast("long")).alias(f"bad_{c}"),
                 F.countDistinct(number).alias(f"distinct_{c}"),
                 F.countDistinct(F.when(number.isNotNull(), v)).alias(f"raw_{c}")]
    row = df.agg(*aggs).collect()[0]
    for c in columns:
        if row[f"bad_{c}"]:
            merged = row[f"raw_{c}"] - row[f"distinct_{c}"]
            collide = "; some of them would merge with another ID once read as integers" if merged > 0 else ""
            raise InputDataError(
                f"column {c}: value(s) are not a person_id written as a plain integer (e.g. leading "
                f"zeros, decimals such as .0, spaces or sample names){collide}; IDs are never re-formatted (0042 and "
                "42 would become one person)", where=where)


def check_ancestry(ancestry_preds: DataFrame, n_pcs: int, path: str, persons_below: int | None = None) -> None:
    """The ancestry file gives every person once and at least ``n_pcs`` PCs (one pass).

    Raises InputDataError naming ``path`` when a ``research_id`` is not a person_id written
    as a plain integer (``check_person_ids``), occurs more than once (the person would be
    duplicated in the analysis frame) or a ``pca_features`` list has fewer than
    ``covariates.n_pcs`` values (its PC columns would be null). Counts only, no identifiers; the
    rows are persons, so with ``persons_below`` (report.small_count_threshold) counted as every
    log line counts persons (``logs.person_count_text``: 0, <T, T+).
    """
    check_person_ids(ancestry_preds, ["research_id"], f"ancestry.path {path}")
    n_values = F.size(F.split(F.regexp_replace(F.col("pca_features"), r"[\[\]\s]", ""), ","))
    row = ancestry_preds.agg(
        F.count(F.lit(1)).alias("n"),
        F.countDistinct("research_id").alias("n_ids"),
        F.sum((F.coalesce(n_values, F.lit(0)) < n_pcs).cast("long")).alias("few_pcs"),
        F.min(n_values).alias("min_pcs"),
    ).collect()[0]
    if row["n"] != row["n_ids"]:
        raise InputDataError(f"{count_text(row['n'] - row['n_ids'], persons_below=persons_below)} duplicated "
                             "research_id row(s): each person must appear once", where=f"ancestry.path {path}")
    if row["few_pcs"]:
        raise InputDataError(f"{count_text(row['few_pcs'], persons_below=persons_below)} row(s) have fewer than "
                             f"covariates.n_pcs = {n_pcs} PCs in pca_features (fewest: {row['min_pcs']}); lower "
                             "covariates.n_pcs or use the full ancestry file", where=f"ancestry.path {path}")


def left_out_of_standardisation(ancestry: DataFrame, method: str, pcs: list[str]) -> tuple[DataFrame | None, str]:
    """``person_id`` of the ancestry file's persons that standardisation ``method``
    (``pgs.standardisation``) cannot z-score, and the WARNING's words for them (opening a
    parenthesis the caller closes), or (None, "") when it takes everyone. ``ancestry``:
    ``derive_ancestry``'s rows; ``pcs``: the standardisation PCs (pc_adjusted).

    ancestry: an empty ancestry_pred has no group to be z-scored in (the unassigned are admixed or
    outliers: a heterogeneous, often tiny group, where a pair reads +-0.71 SD whatever its scores;
    reader s45 finding 4; d42f9c9 kept them as a group of their own, silently). pc_adjusted: a
    standardisation PC without a value (an empty or NaN element of ``pca_features``) cannot be
    adjusted for; ``standardise_datasets`` drops such persons (Spark's dropna: null or NaN), and
    the flow counted them "with genetic ancestry and PCs" and lost them at the analysis frame's
    step, whose words name EHR, sex and status (session 47). Either way they are left out and
    ``dataset_counts`` counts them out of the flow's WITH_ANCESTRY step."""
    if method == "ancestry":
        return (ancestry.where(F.col("ancestry").isNull()).select("person_id"),
                "with an empty ancestry_pred left out under pgs.standardisation ancestry (no group to be z-scored in")
    if method == "pc_adjusted" and pcs:
        lacking: Column = reduce(lambda a, b: a | b, [F.col(c).isNull() | F.isnan(c) for c in pcs])
        return (ancestry.where(lacking).select("person_id"),
                f"without a value of every standardisation PC ({', '.join(pcs)}) left out under pgs.standardisation "
                "pc_adjusted (no PC adjustment possible")
    return None, ""


def pgs_ids_in_order(cfg: Config, available: list[str]) -> list[str]:
    """Scores in trait-panel order, then any others found in the PGS output."""
    panel = [s.pgs_id for s in cfg.trait_panel.scores] if cfg.trait_panel else []
    return [p for p in panel if p in available] + sorted(p for p in available if p not in panel)


def dataset_counts(wide: DataFrame, unrelated: DataFrame, ancestry_ids: DataFrame, persons: DataFrame,
                   ungrouped_ids: DataFrame | None = None, pcs: Sequence[str] = ()) -> dict[str, int]:
    """The person counts of one dataset's way into the cohort, in ONE Spark job.

    ``wide``: the genotyped persons (``person_id``, one row each); ``unrelated``: those kept
    after the relatedness filters; ``ancestry_ids`` / ``persons``: ``person_id`` of the
    ancestry file / OMOP person (each person once: ``check_ancestry``, OMOP's key), the ancestry
    rows with the columns ``pcs`` when given;
    ``ungrouped_ids``: ``person_id`` of the ancestry file's rows the standardisation cannot
    z-score and leaves out (``left_out_of_standardisation``: no ancestry group under
    ``pgs.standardisation: ancestry``, a standardisation PC without a value under
    ``pc_adjusted``); ``pcs``: the models' covariate PCs (``pc1..pcK``, ``covariates.n_pcs``).
    Returns {n_genotyped, n_missing_ancestry
    (genotyped, not in the ancestry file), n_unrelated, n_with_ancestry (unrelated with ancestry,
    a group if ``ungrouped_ids``, and a value of every covariate PC that any of them has: the
    standardisation set), n_without_group (unrelated in the file but of ``ungrouped_ids``, 0
    without it), n_without_pcs (unrelated in the file, not of ``ungrouped_ids``, without a value
    (null or NaN) of a covariate PC that another such person has: the models fit complete cases
    and would drop them from every fit without a count), n_without_person (of the standardisation
    set, absent from OMOP person), and per PC of ``pcs`` n_with_<pc> (persons of the unrelated in
    the file not of ``ungrouped_ids`` with a value of it: 0 is a PC without a value for the whole
    dataset, which the models drop as a covariate and note, ``models.covariates.prefit_check``,
    rather than every person left out here)}. One aggregation (a group-by of the persons' flags
    and missing PCs: a few rows to the driver) over flags joined to the genotyped persons instead
    of a count per step (each a Spark job: seconds each on a cluster).
    """
    def flag(df: DataFrame, name: str) -> DataFrame:
        return df.select("person_id").distinct().withColumn(name, F.lit(True))

    j = (wide.select("person_id")
         .join(flag(unrelated, "is_unrelated"), "person_id", "left")
         .join(flag(ancestry_ids, "has_ancestry"), "person_id", "left")
         .join(flag(persons, "in_person"), "person_id", "left"))
    if ungrouped_ids is not None:
        j = j.join(flag(ungrouped_ids, "no_group"), "person_id", "left")
    else:
        j = j.withColumn("no_group", F.lit(False))
    if pcs:
        j = j.join(ancestry_ids.select("person_id", *pcs), "person_id", "left")
    flags = [F.coalesce(F.col(c), F.lit(False)).alias(c)
             for c in ("is_unrelated", "has_ancestry", "in_person", "no_group")]
    missing = [(F.col(c).isNull() | F.isnan(c)).alias(f"no_{c}") for c in pcs]
    groups = [r.asDict() for r in j.groupBy(*flags, *missing).count().collect()]

    def n(rows: list[dict]) -> int:
        return sum(int(r["count"]) for r in rows)

    unrel = [r for r in groups if r["is_unrelated"]]
    in_file = [r for r in unrel if r["has_ancestry"]]
    grouped = [r for r in in_file if not r["no_group"]]
    with_pc = {c: n([r for r in grouped if not r[f"no_{c}"]]) for c in pcs}
    # A PC no person of the set has is the models' to drop (a covariate without values), not a
    # reason to leave out the whole dataset here.
    lacking = [r for r in grouped if any(r[f"no_{c}"] and with_pc[c] for c in pcs)]
    kept = [r for r in grouped if r not in lacking]
    return {"n_genotyped": n(groups), "n_missing_ancestry": n([r for r in groups if not r["has_ancestry"]]),
            "n_unrelated": n(unrel), "n_with_ancestry": n(kept),
            "n_without_group": n([r for r in in_file if r["no_group"]]), "n_without_pcs": n(lacking),
            "n_without_person": n([r for r in kept if not r["in_person"]]),
            **{f"n_with_{c}": with_pc[c] for c in pcs}}


def check_frame_ages(frame: DataFrame, persons_below: int | None = None) -> None:
    """Raise InputDataError when a person of the analysis frame (``derive_analysis_frame``'s rows) has
    no usable age: ``age`` (the logistic models' covariate, OMOP persons' age at the end of
    observation) or, for an MDD status (TRD, trMDD, MDD_other), ``age_at_index`` (the Cox models'
    covariate) null, NaN, below 0 or above ``vocabulary.MAX_PLAUSIBLE_AGE_YEARS``. One aggregation.

    The phenotype stage excludes a person a year of birth gives no such age
    (``implausible_year_of_birth``, the cohort flow's first exclusion) and gives every MDD person an
    index age, so such a row comes from a persons and a phenotypes table not of one run (an older
    release's, one written by hand). Before session 51 it reached the frame and every fit with an
    age covariate dropped it as an incomplete case, noted without a count (statsmodels' and
    lifelines' missing='drop'; a person in no fit and in every count of the frame). The message
    names the column and counts persons as ``logs.person_count_text`` (0, <T, T+), never an ID.
    """
    def unusable(c: str) -> Column:
        v = F.nanvl(F.col(c).cast("double"), F.lit(None).cast("double"))
        return v.isNull() | (v < 0) | (v > MAX_PLAUSIBLE_AGE_YEARS)

    checks = {"phenotypes/persons.age_at_observation_end (the analysis frame's age)": unusable("age"),
              "phenotypes/phenotypes.age_at_index": F.col("status").isin(*MDD_STATUSES) & unusable("age_at_index")}
    row = frame.agg(*[F.countDistinct(F.when(cond, F.struct("dataset", "person_id"))).alias(f"n{i}")
                      for i, cond in enumerate(checks.values())]).collect()[0]
    for i, where in enumerate(checks):
        if row[f"n{i}"]:
            raise InputDataError(
                f"{count_text(row[f'n{i}'], persons_below=persons_below)} analysed person(s) without a usable age "
                f"(no value, below 0 or above {MAX_PLAUSIBLE_AGE_YEARS} years): the age covariate would leave them "
                "out of every fit without a count; the phenotype stage excludes such persons "
                "(implausible_year_of_birth), so its persons and phenotypes tables are not of one run: run the "
                "phenotype stage and the cohort stage again", where=where)


def lacking_pcs(pcs: Sequence[str]) -> Column:
    """True for a row without a value (null or NaN) of one of ``pcs`` (False for none)."""
    return reduce(lambda a, b: a | b, [F.col(c).isNull() | F.isnan(c) for c in pcs], F.lit(False))


def genotyped_without_person_gate(
    n_without_person: int, n_genotyped: int, dataset: str, threshold: GateThreshold,
    persons_below: int | None = None,
) -> dict:
    """Gate record for genotyped persons absent from OMOP ``person`` (``n_without_person`` of
    ``n_genotyped``, from ``dataset_counts``).

    They would leave the analysis silently at the frame's inner join with the EHR covariates;
    counted here, a WARNING or ``InputDataError`` per ``threshold``
    (trd_spark.gates.check_gate; config ``phenotypes.gates.genotyped_without_person``;
    ``persons_below``: the small-count threshold of the message's person counts).
    """
    return check_gate(
        "genotyped_without_person", n_without_person, n_genotyped, threshold,
        what=f"unrelated genotyped persons of dataset {dataset} absent from OMOP person",
        cause="genotypes and EHR from different releases, or sample IDs that are not the person_id",
        where="cohort", persons_below=persons_below)


def dataset_overlaps(persons_by_dataset: dict[str, DataFrame]) -> dict[tuple[str, str], int]:
    """Persons in two datasets: (dataset_a, dataset_b) -> persons in both, in ONE Spark job.

    ``persons_by_dataset``: dataset name -> its persons (``person_id``), in config order; pairs
    are named in that order and pairs without a shared person are left out. Every person is
    counted once per pair (a person in three datasets counts in each of the three pairs).
    """
    names = list(persons_by_dataset)
    if len(names) < 2:
        return {}
    tagged = reduce(DataFrame.unionByName, [
        df.select("person_id").distinct().withColumn("dataset", F.lit(name)) for name, df in persons_by_dataset.items()])
    shared = (tagged.groupBy("person_id").agg(F.collect_set("dataset").alias("datasets"))
              .where(F.size("datasets") > 1)
              .groupBy(F.array_sort("datasets").alias("datasets")).count().collect())
    out: dict[tuple[str, str], int] = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            n = sum(int(r["count"]) for r in shared if a in r["datasets"] and b in r["datasets"])
            if n:
                out[(a, b)] = n
    return out


def check_ancestry_coverage(n_missing: int, dataset: str, path: str, persons_below: int | None = None) -> None:
    """Raise InputDataError when ``n_missing`` unrelated genotyped samples of ``dataset`` have no
    row in the ancestry file (AoU's covers its srWGS callset): a sample without ancestry/PCs
    would silently leave the analysis. The count of persons reads "<T" from 1 to
    ``persons_below``-1, as in the exports and every other log line (new-user trial, session 16:
    "1 sample(s)")."""
    if n_missing:
        raise InputDataError(
            f"{count_text(n_missing, persons_below=persons_below)} sample(s) of dataset {dataset} are missing from "
            "the ancestry file (column research_id); use the ancestry predictions of this release",
            where=f"ancestry.path {path}")


def check_disjoint_datasets(overlaps: dict[tuple[str, str], int], persons_below: int | None = None) -> None:
    """Raise InputDataError when a person is in two datasets (``dataset_overlaps``).

    The datasets are analysed separately and then meta-analysed (and one replicates the
    other) as independent samples, as in Xu et al. 2025 (discovery, replication 1 and 2 add up
    to the 292,663 persons): a person in two of them would count twice in the meta-analysis
    and in the replication, with no error. All of Us' srWGS and microarray callsets overlap,
    so one of them must be subset first. The message names the datasets and counts persons
    (1..``persons_below``-1 read "<T", as in the exports), never an identifier.
    """
    if not overlaps:
        return
    pairs = "; ".join(f"{count_text(n, persons_below=persons_below)} in both {a} and {b}"
                      for (a, b), n in overlaps.items())
    raise InputDataError(
        f"unrelated genotyped persons in more than one dataset ({pairs}); the datasets are meta-analysed as "
        "independent samples, so give each person to one dataset: remove them from the genotypes of the other "
        "(e.g. All of Us' microarray callset also holds the srWGS persons: Hail mt.filter_cols, or "
        "bcftools view -S ^ids.txt)", where="datasets")


def warn_beyond_sd(beyond: dict[str, dict[str, int]], persons_below: int) -> dict[str, dict[str, str]]:
    """One WARNING per dataset of ``persons_beyond_sd`` (dataset -> {pgs_id: standardised persons
    with a PGS per SD beyond +-``standardise.BEYOND_SD``}), the persons as ``logs.person_count_text``
    labels (0, <T, T+). Such a score's SD and every per-SD estimate lean on those persons; nothing
    said it (a sample at 200 SD among 100,000 moved a simulated OR per SD from 1.12 to 1.08).
    Returns the labels, dataset -> {pgs_id: label}: the cohort manifest's ``notes.pgs_beyond_sd``,
    which report.html shows (``report.stage.beyond_sd_note``)."""
    labels = {dataset: {p: person_count_text(n, persons_below) for p, n in counts.items()}
              for dataset, counts in beyond.items()}
    for dataset, counts in beyond.items():
        scores = ", ".join(f"{p} ({person_count_text(n, persons_below)} standardised person(s) beyond it)"
                           for p, n in counts.items())
        log.warning("dataset %s: a PGS per SD beyond +-%g in %s; no polygenic score "
                    "reaches that far (a sample with broken genotypes, or a score driven by a rare variant of large "
                    "weight): the SD and every per-SD estimate (OR, HR) of the score lean on those persons; check "
                    "those samples' genotypes and the score's weights", dataset, BEYOND_SD, scores)
    return labels


def run(ctx: StageContext) -> None:
    """Cohort stage: join scores, phenotypes and covariates into the per-dataset analysis frame.

    Reads pgs/scores, phenotypes/phenotypes and phenotypes/persons (``ctx.read``) and the
    ancestry files of ``cfg.ancestry``; publishes analysis_frame, cohort_counts, dataset_flow."""
    spark, cfg = ctx.spark, ctx.cfg
    n_pcs = cfg.covariates.n_pcs
    scores = ctx.read("pgs", "scores")
    phenotypes = ctx.read("phenotypes", "phenotypes")
    persons = ctx.read("phenotypes", "persons")
    available = [r.pgs_id for r in scores.select("pgs_id").distinct().collect()]
    pgs_ids = pgs_ids_in_order(cfg, available)
    # Named before the driver's first quiet stretch, so the heartbeat can say what it waits for.
    log.info("cohort: %d score(s) x %d dataset(s); reading the ancestry files and counting each dataset's steps",
             len(pgs_ids), len(cfg.datasets))

    ancestry_raw = read_tsv(spark, cfg.ancestry.path, ["research_id", "ancestry_pred", "pca_features"], "ancestry")
    check_ancestry(ancestry_raw, n_pcs, cfg.ancestry.path, persons_below=cfg.report.small_count_threshold)
    ancestry = derive_ancestry(ancestry_raw, n_pcs)
    flagged = None
    if cfg.ancestry.related_samples_to_remove:
        flagged = read_tsv(spark, cfg.ancestry.related_samples_to_remove, ["sample_id"], "related samples")
        check_person_ids(flagged, ["sample_id"], f"ancestry.related_samples_to_remove {cfg.ancestry.related_samples_to_remove}")
    pairs = None
    if cfg.ancestry.related_pairs:
        raw_pairs = read_tsv(spark, cfg.ancestry.related_pairs, ["i.s", "j.s"], "related pairs")
        check_person_ids(raw_pairs, ["i.s", "j.s"], f"ancestry.related_pairs {cfg.ancestry.related_pairs}")
        pairs = parse_related_pairs(raw_pairs)

    pre_counts: dict[str, list[int]] = {}
    gates: dict[str, dict] = {}
    std_pcs = [f"pc{i + 1}" for i in range(cfg.pgs.standardisation_n_pcs)] if cfg.pgs.standardisation == "pc_adjusted" else []
    cov_pcs = [f"pc{i + 1}" for i in range(n_pcs)]
    ancestry_ids = ancestry.select("person_id", *cov_pcs)
    ungrouped_ids, left_out_why = left_out_of_standardisation(ancestry, cfg.pgs.standardisation, std_pcs)
    to_standardise = []
    persons_by_dataset: dict[str, DataFrame] = {}
    wides = {ds.name: derive_pgs_wide(scores, ds.name, pgs_ids) for ds in cfg.datasets}
    unrelated_by = {name: derive_unrelated(wide, flagged) for name, wide in wides.items()}
    if pairs is not None:
        import hail as hl

        unrelated_by = prune_related_pairs(hl, pairs, unrelated_by, cfg.ancestry.related_pairs_across_datasets)
    for ds in cfg.datasets:
        wide, unrelated = wides[ds.name], unrelated_by[ds.name]
        steps = dataset_counts(wide, unrelated, ancestry_ids, persons, ungrouped_ids, cov_pcs)
        if steps["n_without_group"]:
            log.warning("dataset %s: %s unrelated person(s) %s; counted in the cohort flow's step %r)", ds.name,
                        person_count_text(steps["n_without_group"], cfg.report.small_count_threshold),
                        left_out_why, str(DatasetFlowStep.WITH_ANCESTRY))
        # A covariate PC some persons of the dataset have and others not (an empty or NaN element of
        # their pca_features): the models fit complete cases, so those persons would be in the frame
        # and in no fit, uncounted; left out here and counted in the flow (session 50). A PC nobody
        # of the dataset has is not a reason: the models drop it as a covariate, noted.
        present = [c for c in cov_pcs if steps[f"n_with_{c}"]]
        if steps["n_without_pcs"]:
            log.warning("dataset %s: %s unrelated person(s) without a value of every covariate PC (%s) that others "
                        "of the dataset have, left out (the models fit complete cases); counted in the cohort "
                        "flow's step %r; check the ancestry file's pca_features of the dataset's persons", ds.name,
                        person_count_text(steps["n_without_pcs"], cfg.report.small_count_threshold),
                        ", ".join(present), str(DatasetFlowStep.WITH_ANCESTRY))
        check_ancestry_coverage(steps["n_missing_ancestry"], ds.name, cfg.ancestry.path,
                                persons_below=cfg.report.small_count_threshold)
        # Standardise over the unrelated genotyped persons of the dataset that have ancestry/PCs.
        to_standardise.append(unrelated.join(ancestry.select("person_id", "ancestry", *cov_pcs), "person_id")
                              .where(~lacking_pcs(present)).drop(*[c for c in cov_pcs if c not in std_pcs])
                              .withColumn("dataset", F.lit(ds.name)))
        persons_by_dataset[ds.name] = unrelated
        pre_counts[ds.name] = [steps["n_genotyped"], steps["n_unrelated"], steps["n_with_ancestry"]]
        gates[ds.name] = genotyped_without_person_gate(steps["n_without_person"], steps["n_with_ancestry"], ds.name,
                                                       cfg.phenotypes.gates.genotyped_without_person,
                                                       persons_below=cfg.report.small_count_threshold)
    check_disjoint_datasets(dataset_overlaps(persons_by_dataset), persons_below=cfg.report.small_count_threshold)
    names = [ds.name for ds in cfg.datasets]
    # Persisted: the standardisation input is read by up to three Spark jobs (pc_adjusted's fit, the
    # beyond +-BEYOND_SD count, the analysis frame's write), and without it each recomputed its
    # upstream (scores read and pivoted, the unrelated filter, the ancestry join). The first job
    # materialises it, the other two scan it; released when the stage ends (finally, below).
    std_input = reduce(DataFrame.unionByName, to_standardise).persist()
    try:
        # Every dataset's standardisation fit in one Spark action (each dataset on its own).
        per_sd, standardisation = standardise_datasets(std_input, pgs_ids,
                                                       cfg.pgs.standardisation, "dataset", names, pcs=std_pcs,
                                                       min_samples=cfg.report.small_count_threshold)
        # Over the persons the mean and SD were fitted on (one row each), not the analysis frame: an
        # excluded person (bipolar, sex other, no phenotype row) far out inflates every analysed
        # person's SD as much, and the frame leaves them out (session 48: a person at raw 200 with
        # status excluded left the analysed persons' SD of the score 0.15, no WARNING).
        beyond_sd = warn_beyond_sd(persons_beyond_sd(per_sd, pgs_ids), cfg.report.small_count_threshold)
        frames = []
        for name in names:
            frames.append(derive_analysis_frame(per_sd.where(F.col("dataset") == name).drop("dataset", "ancestry", *std_pcs),
                                                ancestry, persons, phenotypes, name, n_pcs, pgs_ids))
            log.info("  cohort: dataset %s assembled", name)

        frame = reduce(DataFrame.unionByName, frames)
        with ctx.publish() as out:
            out.write_table("analysis_frame", frame, ANALYSIS_FRAME_FIXED, extra_ok=True)
            written = spark.read.parquet(out.table_path("analysis_frame"))
            check_frame_ages(written, persons_below=cfg.report.small_count_threshold)
            counts = count_by_status(written).orderBy("dataset", "definition", "status")
            out.write_table("cohort_counts", counts, COHORT_COUNTS)
            flow = dataset_flow_rows(pre_counts, [tuple(r) for r in counts.collect()])
            for line in dataset_flow_log_lines(flow, persons_below=cfg.report.small_count_threshold):
                log.info("cohort: %s", line)
            out.write_pandas("dataset_flow", pd.DataFrame(flow, columns=DATASET_FLOW.names), DATASET_FLOW)
            out.notes["pgs_ids"] = pgs_ids
            out.notes["gates"] = gates
            out.notes["n_pcs"] = n_pcs
            out.notes["pgs_standardisation"] = standardisation
            # Scores that fell back to the overall z (a PC fit that failed), per dataset: {pgs_id: reason}.
            out.notes["pgs_standardisation_fallback"] = {d: info["fallback"] for d, info in standardisation.items()
                                                         if info.get("fallback")}
            # Scores with a standardised person beyond +-BEYOND_SD, per dataset: {pgs_id: count label}.
            out.notes["pgs_beyond_sd"] = beyond_sd
    finally:
        # A cached plan is matched by its plan, not its files: a rerun in this session reading
        # rewritten inputs at the same paths must not be served this run's rows.
        std_input.unpersist()
