"""The one typed config model that drives every job, loaded from YAML.

Rules:
- Unknown keys are rejected (``extra="forbid"``) and every error names the key's dotted path
  and the file, e.g. ``conf/x.yaml: datasets.discovery.genotypes.format: Input should be 'vcf', ...``
  (an item of a named list by its name, ``named_key``).
- Relative local paths are resolved against the directory of the config file, so a config
  means the same thing wherever it is run from. URIs (``gs://``, ``hdfs://``, ``file://``) are
  kept as given.
- Concept sets and the trait panel are separate YAML files referenced by path; they are
  loaded and validated with the config so that a TRD definition naming an unknown concept set
  fails at load time, before any Spark work.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import logging
import os
import re
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from trd_spark.errors import ConfigError
from trd_spark.vocabulary import Contrast

# The package's own directory (symlinks resolved), written once: the embedded configs ship
# inside it (package data: in a source checkout trd_spark/conf links to the repository's conf/,
# in an installed wheel it is a directory), and pgs.stage tells our own code's frames by it.
PACKAGE_DIR = Path(__file__).resolve().parent
REPO_CONF_DIR = (PACKAGE_DIR / "conf").resolve()
DEFAULT_CONFIG = REPO_CONF_DIR / "toy.yaml"
# The embedded toy config keeps its data and outputs in ``../out`` (``<checkout>/out``).
# Installed from a wheel that would be inside site-packages, so there they go to ``./out``
# under the current directory instead.
EMBEDDED_OUT = REPO_CONF_DIR.parent / "out"
INSTALLED = REPO_CONF_DIR.parent == PACKAGE_DIR

_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def is_uri(path: str) -> bool:
    """True for ``gs://...``, ``hdfs://...``, ``file://...`` (not resolved locally)."""
    return bool(_URI.match(path))


def local_path(path: str) -> str | None:
    """The local file path ``path`` names: itself when it is no URI, without the scheme for a
    ``file://`` URI; None for an object store or HDFS (``gs://``, ``hdfs://``: read through
    Hadoop's file system). The one rule of preflight's input checks, the rerun fingerprint
    (``stages.input_fingerprint``, which reads a local path with ``os``) and whether planning
    needs Spark (``releases.needs_spark_to_plan``)."""
    if path.startswith("file://"):
        return path.removeprefix("file://")
    return None if is_uri(path) else path


def bigquery_project(path: str) -> str | None:
    """The project of a BigQuery dataset reference ``project.dataset`` (blanks around it
    ignored), None when ``path`` is not of that form: the config's check of ``omop.path`` and the
    reader's options (``phenotypes.omop.bigquery_read_options``) take the one rule."""
    parts = path.strip().split(".")
    return parts[0] if len(parts) == 2 and all(parts) else None


# The largest offset from UTC of any time zone (UTC+14, the Line Islands): a date later than
# today's there is in the future for everyone.
LATEST_UTC_OFFSET = dt.timedelta(hours=14)


def latest_today(now: dt.datetime | None = None) -> dt.date:
    """Today's date in the time zone furthest ahead (``LATEST_UTC_OFFSET``), at ``now`` (an
    aware datetime; default: the clock): ``omop.data_cutoff_date`` may be this date and no later.
    Today in UTC refused a cutoff of the user's own today east of Greenwich until UTC midnight
    (Sydney, 9 a.m. on the 3rd, is the 2nd in UTC); a day of follow-up is not worth that error."""
    return ((now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC) + LATEST_UTC_OFFSET).date()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------------------------
# Spark / session
# --------------------------------------------------------------------------------------------
def _size(v: str, what: str) -> str:
    """``v`` when it is a Spark size (``512m``, ``4g``: digits and k/m/g/t, any case), else a
    ValueError saying what ``what`` must look like."""
    if not re.match(r"^\d+[kmgt]$", v, re.IGNORECASE):
        raise ValueError(f"{what} must look like 512m or 4g")
    return v


class AdaptiveSettings(_Strict):
    """How adaptive query execution cuts each shuffle into tasks (Spark 3.5
    ``spark.sql.adaptive.*``; set for every master by ``session.spark_conf``).

    After a shuffle of ``shuffle_partitions`` hash partitions, Spark merges neighbouring small
    ones into one task. ``parallelism_first`` true (Spark's default): as many tasks as
    ``spark.default.parallelism`` (= ``shuffle_partitions`` here), merging only partitions
    below ``min_partition_size``: every core busy on a dedicated machine or cluster (the All
    of Us Workbench cluster is one user's). False: tasks of about ``advisory_partition_size``
    each, fewer and larger: Spark's advice for a cluster shared with other jobs, where idle
    cores are not free. Defaults are Spark's; benchmarks/RESULTS.md (session 11) has the
    local[2] measurements of the phenotype stage.
    """

    parallelism_first: bool = True
    advisory_partition_size: str = "64m"
    min_partition_size: str = "1m"

    @field_validator("advisory_partition_size", "min_partition_size")
    @classmethod
    def _partition_size(cls, v: str) -> str:
        return _size(v, "a partition size")


# ``spark.jit_directives``' default: HotSpot compiler directives (JSON) for the driver JVM that keep
# C2 off the bytecode readers of Spark's ClosureCleaner (xbean's ASM) and the JDK's ASM, and off the
# JDK's class-loading code (its class loaders, ``java.lang.ClassLoader``, jar reading: session 42)
# (the comment at its import in ``session.py`` says why and what it measured).
JIT_DIRECTIVES = ('[{match: ["org/apache/xbean/asm9/*.*", "jdk/internal/org/objectweb/asm/*.*", '
                  '"jdk/internal/loader/*.*", "java/lang/ClassLoader.*", "java/util/jar/*.*"], c2: {Exclude: true}}]')


class SparkSettings(_Strict):
    """How the Spark + Hail session is created (see ``trd_spark.session``). ``jit_directives``:
    HotSpot compiler directives added to the driver JVM at the session's start
    (``session.add_jit_directives``); null adds none (the JVM's JIT as it ships)."""

    master: str = "local[2]"
    app_name: str = "trd-spark"
    driver_memory: str = "4g"
    executor_memory: str = "2g"
    executor_cores: int = Field(1, ge=1)
    shuffle_partitions: int = Field(8, ge=1)
    tmp_dir: str = "/tmp/trd-spark"
    log_level: Literal["ERROR", "WARN", "INFO", "DEBUG"] = "WARN"
    bind_loopback: bool = True
    adaptive: AdaptiveSettings = Field(default_factory=AdaptiveSettings)
    extra_conf: dict[str, str] = Field(default_factory=dict)
    jit_directives: str | None = JIT_DIRECTIVES

    @field_validator("master")
    @classmethod
    def _known_master(cls, v: str) -> str:
        # Every count >= 1: Spark refuses local[0] only once the JVM starts, with a Java exception.
        n = r"[1-9]\d*"
        if not re.match(rf"^(local(\[(\*|{n})(,{n})?\])?|local-cluster\[{n},{n},{n}\]|spark://.+|yarn)$", v):
            raise ValueError(
                "master must be local[N], local-cluster[W,C,M] (counts of at least 1), spark://host:port or yarn"
            )
        return v

    @field_validator("driver_memory", "executor_memory")
    @classmethod
    def _memory(cls, v: str) -> str:
        return _size(v, "memory")


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------
class SexFile(_Strict):
    """A per-sample sex file read as plink2 ``--update-sex`` reads one: a header line (a
    leading ``#`` dropped, ``#IID``), tab-separated when the header holds a tab, else
    whitespace; ``id_column`` holds the genotype file's sample IDs (before ``sample_map``: VCF
    / MatrixTable / VDS column keys, .fam/.psam IIDs, BGEN sample IDs), ``sex_column`` the
    sex, a value in ``male`` or ``female`` (exact text) or anything else for unknown (plink2:
    0 / NA; All of Us' DRAGEN ploidies other than XX and XY)."""

    path: str
    id_column: str = "IID"
    sex_column: str = "SEX"
    # plink2's codes (.psam SEX; --update-sex): 1/M/m male, 2/F/f female.
    male: list[str] = Field(default_factory=lambda: ["1", "M", "m"], min_length=1)
    female: list[str] = Field(default_factory=lambda: ["2", "F", "f"], min_length=1)

    @model_validator(mode="after")
    def _codes_apart(self) -> SexFile:
        both = sorted(set(self.male) & set(self.female))
        if both:
            raise ValueError(f"code(s) {both} are listed as male and as female")
        return self


class GenotypeSource(_Strict):
    """Where one dataset's genotypes are and how to read them."""

    format: Literal["vcf", "mt", "vds", "plink", "pgen", "bgen"] = "vcf"
    path: str
    reference_genome: Literal["GRCh38", "GRCh37"] = "GRCh38"
    # VCF/MT only: the FORMAT field carrying dosages when present (else GT is used); an entry
    # without it (or ``.``) falls back to its GT, as plink2 does.
    dosage_field: str | None = None
    # Sample ID -> person_id map (TSV ``sample_id<TAB>person_id``) for files whose sample IDs are
    # not the person_id as a plain integer (``HG00096``, ``FID_IID``); looked up exactly as written.
    sample_map: str | None = None
    # Who is male on X (a male's call is one allele of the frequency that imputes a missing X
    # call, as plink2 counts it with the samples' sex): ``genotypes`` (the default) takes the
    # sex the genotype files carry (.fam/.psam SEX, a BGEN .sample's ``sex`` column) or else
    # the ploidy of the calls on X; a ``SexFile`` declares it per sample, as plink2
    # --update-sex (e.g. All of Us' genomic metrics, ``dragen_sex_ploidy``).
    sex_source: Literal["genotypes"] | SexFile = "genotypes"


class Dataset(_Strict):
    """One genotyped dataset analysed on its own (discovery or replication)."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    role: Literal["discovery", "replication"]
    genotypes: GenotypeSource

    @model_validator(mode="after")
    def _dosage_field_read(self) -> Dataset:
        """``genotypes.dosage_field`` names a VCF FORMAT / MatrixTable entry field: on another
        format nothing reads it, and a local .bed, .pgen or BGEN was scored natively with it
        silently ignored (on a URI, or a VDS, the read stopped after Spark started). Refused
        here, so check-config says so; each format's reason is plink2's (cog-genomics.org/plink/2.0/input)."""
        why = {"plink": "a PLINK 1 .bed holds hard calls only (plink2 --bfile reads no dosages; a dosage VCF "
                        "becomes a dosage .pgen with plink2 --vcf f dosage=DS --make-pgen, then format: pgen)",
               "pgen": "a .pgen's dosages are read whenever it stores them, as plink2 --score reads them",
               "bgen": "a BGEN's genotype probabilities are always read, as expected dosages",
               "vds": "a VDS is read from its calls (LGT / GT)"}.get(self.genotypes.format)
        if self.genotypes.dosage_field is not None and why is not None:
            # The key path names the dataset (datasets.<name>: ..., config.named_key).
            raise ValueError(f"genotypes.dosage_field {self.genotypes.dosage_field!r} applies to format vcf and "
                             f"mt only: {why}; remove dosage_field")
        return self


class AncestryInput(_Strict):
    """AoU-shaped ancestry predictions (``research_id``, ``ancestry_pred``, ``pca_features``)."""

    path: str
    # Persons flagged for removal to get a maximal unrelated set (one ``sample_id`` column).
    related_samples_to_remove: str | None = None
    # Related pairs (AoU ``relatedness.tsv``: columns ``i.s``, ``j.s``); one of each pair is
    # dropped by Hail's maximal_independent_set among the samples left after the flagged list.
    related_pairs: str | None = None
    # With related_pairs: one independent set over all datasets' samples, so that a pair across two
    # datasets (discovery and a replication set) loses a member too: the datasets are replicated
    # and meta-analysed as independent samples (study.md; ``cohort.stage.check_disjoint_datasets``).
    # False: one set per dataset, a pair across datasets kept whole (before session 50).
    related_pairs_across_datasets: bool = True


class LiftoverSettings(_Strict):
    """Lift scoring-file positions from their ``#genome_build`` to the dataset's build (Hail
    ``hl.liftover``). pip Hail bundles no chain file: on AoU use
    ``gs://hail-common/references/grch37_to_grch38.over.chain.gz`` (UCSC chain, gzip or plain)."""

    chain_file: str
    # Minimum fraction of a variant's bases that must lift over (hl.liftover min_match).
    min_match: float = Field(0.95, gt=0.0, le=1.0)


class PgsDownloadSettings(_Strict):
    """``trd-spark download-scores``: where the trait panel's harmonised files go and how the
    PGS Catalog is reached (through its client, pgscatalog-core)."""

    # Local directory for the files; default: the first pgs.scoring_files entry (a directory).
    directory: str | None = None
    catalog_api: str = "https://www.pgscatalog.org/rest"
    attempts: int = Field(3, ge=1)
    retry_wait_seconds: float = Field(3.0, ge=0.0)


class NativeEngineSettings(_Strict):
    """The native PLINK scoring engine (``trd_spark.pgs.pgen_engine``): pgenlib + numpy in
    Spark tasks for ``plink`` (bed) and ``pgen`` genotypes. Results equal Hail's; these only
    trade memory for speed."""

    # ``native``: bed/pgen on local (or mounted) paths are scored natively; ``hail``: force
    # Hail's pass for bed (for comparison; pgen has no Hail reader).
    engine: Literal["native", "hail"] = "native"
    # Memory for one block of genotype rows x all samples in a task (sets the block's rows:
    # at 250k samples 256 MB is 134 rows of float64 dosages).
    block_memory_mb: float = Field(256, gt=0)
    # Genotype entries (matched rows x samples) per Spark task, at most: the rows go to the
    # fewest tasks of at most this size, their count rounded up to a multiple of the cores Spark
    # runs tasks on (pgen_engine.task_slots; not spark.default.parallelism, which the session sets
    # to the shuffle partitions): every core gets as many equal tasks, at least one each. A task
    # costs ~0.2 CPU-s of Spark and its Python worker whatever its size, ~6 ns per entry of
    # genotype work: 10^9 entries, ~6 CPU-s, keep that below 5% (benchmarks/RESULTS.md, session 26).
    task_entries: int = Field(1_000_000_000, ge=1)
    # Matched genotype rows per Spark task, at most (None: no cap, tasks sized by task_entries).
    variants_per_task: int | None = Field(None, ge=1)
    # Samples per reduction key: partial sums are added per slice, so no task or reducer
    # holds more than (scores x slice) sums beyond its own partial.
    sample_slice: int = Field(16_384, ge=1)
    # Up to this driver memory (every task's partial sums at once, 16 B x tasks x scores x
    # samples, plus the score rows, 64 B x scores x samples) the partials are collected and
    # added on the driver: no shuffle stage, no second kind of Python worker. Beyond it they
    # are added per sample slice in Spark (at 250k samples x 61 scores always). 0: always in Spark.
    driver_sum_mb: float = Field(512, ge=0)
    # Hard-call genotypes Hail reads (VCF, MatrixTable, VDS without ``dosage_field``; a bed on a
    # URI) are scored here too: Hail writes the matched rows once as a temporary PLINK 1 fileset
    # (same numbers as Hail's pass, several times faster). It goes to this directory, which every
    # executor must read at the same local or mounted path (e.g. gcsfuse). None: Hail's temp dir
    # when Spark runs in local mode; on a cluster without it, Hail's pass scores them.
    export_dir: str | None = None
    # Under a local master, the directory of a memory file system (tmpfs) the native pass keeps
    # its local files in (the weighted rows' arrays its tasks map and their partial sums; removed
    # when the pass ends) when it has room for them (half its free space and of the host's
    # available memory), else they go to spark.local.dir on disk. On tmpfs no page of them is
    # ever written to a disk: on ext4 the driver's faults into the mapped files cost 0.2-0.45
    # kernel CPU-s at 200k rows x 61 scores (benchmarks/RESULTS.md, session 34 flatbed). None:
    # always the disk. Not used on a cluster (its tasks get their rows in their pickles).
    # Where systemd-logind has RemoveIPC=yes (its default), a user's /dev/shm entries are removed
    # when the user's last login session ends: a run left going after logout (nohup) then fails
    # with an error naming this key; set it to a directory on disk (or null) for such runs.
    memory_dir: str | None = "/dev/shm"
    # The share of memory_dir's room (its free space, at most the host's available memory and the
    # memory cgroup's room) a pass's files may take there: their pages are RAM the driver, the JVM
    # and the tasks need too, so at most half of it by default; beyond it the files go to disk.
    memory_dir_share: float = Field(0.5, gt=0.0, le=1.0)


class PgsSettings(_Strict):
    """``pgs``: scoring files, trait panel, matching rules, engines and standardisation."""
    # Scoring files: local paths/globs, or URIs (gs://, hdfs://, file://; globs and
    # directories expanded through Hadoop FS).
    scoring_files: list[str] = Field(min_length=1)
    trait_panel: str
    min_overlap: float = Field(0.75, ge=0.0, le=1.0)
    keep_ambiguous: bool = False
    missing_genotypes: Literal["mean_impute", "zero"] = "mean_impute"
    duplicate_variants: Literal["error", "first"] = "error"
    # A VCF GT half-call (0/., ./1: one allele called, the other missing), read as plink2's
    # --vcf-half-call of the same name: "missing" (the call is missing, mean-imputed like any
    # missing genotype), "haploid" (homozygous for the called allele: 0/. -> 0/0, ./1 -> 1/1),
    # "reference" (the missing allele is REF: ./1 -> 0/1) or "error" (stop naming the files and
    # how many matched records hold one; needs a local VCF's tabix/CSI index to look: a VCF
    # on gs:// / hdfs:// is never looked at, so "error" stops on it). Default
    # "missing", not plink2's "error": a half-call says one allele and nothing about the other,
    # so reading it as missing invents no allele (haploid makes every such heterozygote a
    # homozygote, reference biases towards REF), it is what Hail itself reads, and the score's
    # mean imputation then gives the entry the dataset's expected dosage; the matched records
    # holding one are counted in a WARNING and the manifest, so the choice is never silent.
    vcf_half_call: Literal["missing", "haploid", "reference", "error"] = "missing"
    # A call whose genotype filter FT failed (a GVS / All of Us VDS's bool FT False; a VCF or
    # MatrixTable FT other than PASS or '.') is a missing genotype, mean-imputed and counted in
    # n_missing, as GVS recommends (genotypes.without_failed_genotypes). false reads such calls as
    # called, as plink2 (which reads no FT) does: for a comparison with plink2 on the same VCF.
    apply_genotype_filter: bool = True
    # A dataset whose scored calls (person x matched variant) are missing in more than this share
    # gets a WARNING (the share is always in the manifest's notes.missing_call_share): most calls
    # missing (e.g. a VDS whose FT is False on most calls) scores everyone near the mean, silently.
    missing_call_warn: float = Field(0.5, ge=0.0, le=1.0)
    # A dataset whose genotype filter FT made at least this share of its scored calls missing
    # (pgs.apply_genotype_filter) gets a WARNING; the share is always in the manifest's
    # notes.ft_failed_call_share, apart from the calls missing in the data. GVS's VETS filter
    # fails a few % of an srWGS callset's calls; far more is an FT that means something else.
    ft_failed_warn: float = Field(0.05, ge=0.0, le=1.0)
    # Above this share of a dataset's samples of unknown sex on X (not in a sex file included),
    # or of samples whose declared sex disagrees with their X calls (pgs/sample_sex.py), a
    # WARNING (the counts are in the manifest's notes.sample_sex as labels).
    sex_warn_share: float = Field(0.05, ge=0.0, le=1.0)
    # A scoring-file weight (after OR/HR -> log) larger than this in absolute value is an
    # error naming file:line: per-allele log-odds/betas of common variants are far below it.
    max_abs_weight: float = Field(10.0, gt=0.0)
    # A harmonised scoring file whose hm_chr/hm_pos disagree with chr_name/chr_position (or are
    # missing) on more than this share of its rows gets a WARNING (always counted in the
    # manifest's notes.scoring_file_notes): a few are the Catalog's corrections, many a wrong file.
    harmonised_disagreement_warn: float = Field(0.01, ge=0.0, le=1.0)
    # A .bim/.pvar/BGEN dataset (native engine) is refused as on the other build when the score
    # sites placed differently on GRCh37 and GRCh38 (harmonised vs author positions, or unlifted
    # ones) are found at their other-build place at least this many times as often as at their
    # declared-build place, plus one (n_other >= margin x (n_declared + 1); pgs/build_positions.py).
    # On the right build the other build's places match by chance only (under one percent).
    build_check_margin: float = Field(5.0, ge=1.0)
    # Scoring files on another build than a dataset's (and without harmonised hm_chr/hm_pos for
    # it) are lifted over with this chain file; without it such a file is an error.
    liftover: LiftoverSettings | None = None
    # rsID-only scoring files (no positions) are matched on the genotype rows' rsID (VCF ID,
    # MT/PLINK/BGEN ``rsid``); off by default: it keeps an rsID per genotype row and joins on it.
    match_rsid: bool = False
    # A reference FASTA of the genotypes' build (local path; indexed by pysam, which writes its
    # .fai beside it when absent). When set, the scoring files' indels written not left-aligned
    # (shifted right in a repeat, or anchored on their right) and the genotype records near the
    # score's indels that write one so are left-aligned against it before the match (as bcftools
    # norm -f), so such score variants are matched and scored instead of counted
    # not_found_unnormalised; a record's REF that disagrees with it is an error. docs/pgs.md
    # "Indel representations". A VDS is then densified at those records' loci too.
    reference_fasta: str | None = None
    # PGS per SD, fitted per dataset on its unrelated samples: ``overall`` z-score,
    # ``ancestry`` z-score within each genetic ancestry group, or ``pc_adjusted`` (mean
    # regressed on PCs, variance modelled on PCs with a Gamma log-link GLM, as pgsc_calc).
    standardisation: Literal["overall", "ancestry", "pc_adjusted"] = "pc_adjusted"
    # PCs used by ``pc_adjusted`` (pc1..pcN of the ancestry file; <= covariates.n_pcs).
    standardisation_n_pcs: int = Field(4, ge=1)
    # Scoring files vs trait panel, compared from the local files' #pgs_id headers by
    # ``check-config`` and at run start (``preflight.panel_mismatch``): a file whose score has no
    # panel entry (domain 'unassigned') or a panel score without a file (its fits 'pgs_absent')
    # is one WARNING line; ``true`` makes it an error (exit 2) before any Spark work.
    strict_panel: bool = False
    download: PgsDownloadSettings = Field(default_factory=PgsDownloadSettings)
    native: NativeEngineSettings = Field(default_factory=NativeEngineSettings)


class SexAtBirthMapping(_Strict):
    """Where ``person`` holds sex at birth, and which concept IDs mean female / male.

    Read from ``column`` when the export has it and the value is not null; every other
    value (e.g. "prefer not to answer", intersex, a generalised answer) is 'other'. When the
    column is absent (only the default name may be: another name the table lacks is an input
    error) or null, OMOP's standard gender concepts in ``gender_concept_id``
    (8532 female, 8507 male) are used; any other gender_concept_id (a gender-identity answer,
    as on the All of Us CDR) is never read as sex. Defaults: the All of Us survey answers
    (45878463 female, 45880669 male) and the OMOP standard concepts.
    """

    column: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = "sex_at_birth_concept_id"
    female: list[int] = Field(default_factory=lambda: [45878463, 8532])
    male: list[int] = Field(default_factory=lambda: [45880669, 8507])

    @model_validator(mode="after")
    def _disjoint(self) -> SexAtBirthMapping:
        both = set(self.female) & set(self.male)
        if both:
            raise ValueError(f"concept IDs listed as both female and male: {sorted(both)}")
        return self


class OmopInput(_Strict):
    """``omop``: where the OMOP CDM tables are, the data cutoff, and how to read dates and sex."""
    format: Literal["parquet", "csv", "bigquery"] = "parquet"
    # Parquet/CSV: a directory with one sub-directory (or file) per table.
    # BigQuery: ``project.dataset``.
    path: str
    # The last date the release's EHR covers; in the YAML also a mapping release -> date, of
    # which the loader keeps the run's release's (``_per_release_values``).
    data_cutoff_date: dt.date
    sex_at_birth: SexAtBirthMapping = SexAtBirthMapping()
    # IANA zone whose calendar dates a time-zone-aware timestamp column means (e.g.
    # Europe/Amsterdam, or UTC for BigQuery TIMESTAMP columns). Unset: such a column is an
    # error naming table and column (a silent UTC cast shifts local midnights by a day).
    # DATE, naive timestamp and ISO text columns need no zone.
    time_zone: str | None = None
    # BigQuery only: the project BigQuery bills for the reads (the connector's parentProject;
    # the caller needs bigquery.readsessions.create there). Unset: the project of ``path``
    # (you own the dataset). On the All of Us Workbench the CDR's project bills no user:
    # reads are billed to the workspace project, ${GOOGLE_PROJECT} (conf/aou.yaml sets it).
    billing_project: str | None = None
    # The table whose rows are the persons' deaths (read as ``death``, ``phenotypes.omop``):
    # ``death``, the CDM's; ``aou_death`` on All of Us CDR v8 and later, which holds every death
    # record (EHR sites and staff-reported through HealthPro, ``src_id``; several rows per person
    # possible; death_date nullable) while its ``death`` table keeps one row per person, the
    # curation's primary record (EHR preferred over HealthPro, then the earliest date: all-of-us/
    # curation cdr_cleaner/cleaning_rules/calculate_primary_death_record.py), so reading ``death``
    # missed an earlier HealthPro date. Undated reports are counted (notes.quirks.birth_and_death
    # n_persons_death_undated, a WARNING naming this table), not used: no date to end follow-up.
    # CDR v7 has no ``aou_death``. In the YAML also a mapping release -> table, of which the
    # loader keeps the run's release's (``_per_release_values``).
    death_table: Literal["death", "aou_death"] = "death"
    # How a person is known to have shared EHR data (docs/phenotypes.md "Study population"); a person without
    # it is no control (exclusion reason no_ehr_data), since no record can show a diagnosis or a
    # drug they never had recorded. On All of Us every participant has a person row (The Basics
    # survey) but about a third of those with genomes have no EHR; read as controls, they were
    # outcome misclassification. ``any_record``: a row in condition_occurrence, drug_exposure,
    # procedure_occurrence or device_exposure (any concept, any date; not observation, which on
    # All of Us holds the survey answers, nor observation_period, which a CDR may derive from
    # program dates too: conf/aou.yaml). ``observation_period``: a usable observation
    # period (the OHDSI convention of a CDM whose periods are spans of EHR observation).
    # ``person_list``: the person_ids of ``ehr_person_list`` (a Parquet or CSV file, column
    # ``ehr_person_list_column``; e.g. All of Us' cb_search_person rows with has_ehr_data = 1).
    # ``none``: every person of the person table may be a control (before session 37).
    ehr_evidence: Literal["any_record", "observation_period", "person_list", "none"] = "any_record"
    ehr_person_list: str | None = None
    ehr_person_list_column: str = "person_id"

    @model_validator(mode="after")
    def _person_list_given(self) -> OmopInput:
        # Checked at check-config, not first when the phenotype stage reads.
        if (self.ehr_evidence == "person_list") != (self.ehr_person_list is not None):
            raise ValueError("ehr_person_list (a Parquet or CSV file of person_ids) is required with "
                             "ehr_evidence: person_list and applies to it only "
                             f"(ehr_evidence is {self.ehr_evidence!r})")
        return self

    @field_validator("path")
    @classmethod
    def _bigquery_dataset(cls, v: str, info: ValidationInfo) -> str:
        # The BigQuery reader (``phenotypes.omop.bigquery_read_options``) needs project.dataset:
        # checked here (check-config, before Spark), not first when the phenotype stage reads,
        # i.e. after the pgs stage has run (hours at All of Us scale).
        if info.data.get("format") == "bigquery" and bigquery_project(v) is None:
            raise ValueError(f"format bigquery needs 'project.dataset' (on the All of Us Workbench: "
                             f"${{WORKSPACE_CDR}}), got {v!r}")
        return v

    @field_validator("billing_project")
    @classmethod
    def _billing_project(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return v
        if info.data.get("format") != "bigquery":
            raise ValueError(f"applies to format bigquery only (format is {info.data.get('format')!r})")
        if not v.strip() or any(c in v for c in ". /:"):
            raise ValueError(f"a Google Cloud project ID (no '.', '/', ':' or blanks), got {v!r}")
        return v.strip()

    @field_validator("data_cutoff_date")
    @classmethod
    def _cutoff_not_in_future(cls, v: dt.date) -> dt.date:
        # Follow-up ends at min(observation end, death, cutoff), and an open observation period
        # runs to the cutoff: a cutoff after today would count follow-up that has not happened
        # (trMDD's minimum follow-up met, Cox censoring times lengthened), silently.
        today = latest_today()
        if v > today:
            raise ValueError(f"{v.isoformat()} is after today ({today.isoformat()}, the latest date anywhere: "
                             f"UTC+14): the cutoff is the last date the release's EHR covers (its extraction "
                             f"date or earlier)")
        return v

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        if v is not None:
            import zoneinfo

            try:
                zoneinfo.ZoneInfo(v)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown IANA time zone {v!r}") from None
        return v


# --------------------------------------------------------------------------------------------
# Phenotypes
# --------------------------------------------------------------------------------------------
class MddSettings(_Strict):
    """``phenotypes.mdd``: the MDD case rule (diagnoses, age at index, exclusions, control rule)."""
    concept_set: str = "mdd"
    min_diagnoses: int = Field(2, ge=1)
    min_age_at_index: int = Field(18, ge=0)
    exclude_concept_sets: list[str] = Field(default_factory=lambda: ["bipolar", "schizophrenia_spectrum"])
    # Controls have no diagnosis in this set and no antidepressant exposure ever.
    control_exclusion_concept_set: str = "depression_spectrum"
    # Drug sets that count as antidepressant exposure for the control rule besides
    # trials.concept_set (a record at any date -> antidepressant_no_mdd, not a control), whatever
    # TRD definitions are configured: esketamine is licensed for treatment-resistant depression
    # only and forms no trial. Before, the drug sets of the somatic TRD definitions did this, so
    # without one an esketamine-only person was a control, and adding one changed the controls.
    control_exclusion_drug_concept_sets: list[str] = Field(default_factory=lambda: ["esketamine"])
    # Procedure sets that do the same (a record at any date -> antidepressant_no_mdd): the
    # study's controls have no antidepressant exposure, and esketamine given in clinic is billed
    # as a HCPCS G2082/G2083 visit (procedure_occurrence), not a drug record. Before (session 35
    # read-through), only drug sets were accepted, so a person whose esketamine came only as such a
    # visit stayed a control while the same treatment as a drug record excluded them.
    # A set of domain observation (or with observation in also_domains) is read there too:
    # OHDSI's HCPCS build gives G2082/G2083 the Observation domain, so an ETL writes them there.
    control_exclusion_procedure_concept_sets: list[str] = Field(default_factory=lambda: ["esketamine_clinic"])


class TrialSettings(_Strict):
    """``phenotypes.trials``: how antidepressant exposures become adequate trials."""
    concept_set: str = "antidepressants"
    default_days_supply: int = Field(30, ge=1)
    # The length of a mail-order prescription (drug_type_concept_id 38000176) with no usable end date and no
    # days_supply: OHDSI Themis' drug_exposure_end_date convention (start + 89 days; a written prescription's
    # start + 29 is default_days_supply). phenotypes.trials.exposure_end_expr.
    mail_order_days_supply: int = Field(90, ge=1)
    persistence_gap_days: int = Field(30, ge=0)
    min_trial_days: int = Field(42, ge=1)
    # Trials may start this many days before the MDD index and still count.
    pre_index_window_days: int = Field(0, ge=0)
    # Per-ingredient rules, by RxNorm ingredient concept_id. Ignored ingredients never form a
    # trial (e.g. 703547 trazodone where it is mostly a sleep aid); their users are still not
    # controls. Per-ingredient minimum trial lengths replace min_trial_days (e.g. a longer
    # minimum for an ingredient often prescribed at sub-therapeutic doses).
    ignored_ingredient_ids: list[int] = Field(default_factory=list)
    ingredient_min_trial_days: dict[int, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)
    # Use drug_exposure.verbatim_end_date (the stop date as recorded) when it is after the start.
    use_verbatim_end_date: bool = True
    # Off by default: OMOP refills are refills AUTHORISED by the prescriber, not dispensings
    # (a filled refill is its own drug_exposure row and merges into the episode). On: when no
    # usable end date is recorded (end <= start), an exposure with refills > 0 lasts
    # days_supply x (1 + refills) days (sources with orders only and no dispensing rows),
    # unless that course is longer than max_days_supply (then days_supply alone).
    use_refills: bool = False
    # A days_supply above this is implausible for one antidepressant order (a typo such as
    # 3000, or units in the field): it is not used (the exposure end falls back to the
    # default) and is counted (phenotypes gate implausible_drug_records).
    max_days_supply: int = Field(365, ge=1)
    # Minimum daily dose per RxNorm ingredient concept_id, in mg. An exposure whose daily dose
    # quantity x mg per unit / days_supply is known and below it forms no trial (mg per unit: a
    # drug_strength amount in mg, or a liquid's mg per mL numerator, phenotypes.stage.
    # strength_per_unit_exprs); unknown dose (no such strength, a box, another unit, no quantity
    # or days_supply, a days_supply above max_days_supply) counts. A key of an augmentation agent
    # (an ingredient of an augmentation_concept_set) makes a record below it no augmentation exposure
    # (e.g. quetiapine 766814: 150, against a sleep dose); a key of any other ingredient is an error
    # (_check_references). Default: none.
    ingredient_min_daily_dose: dict[int, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)
    # What drug_exposure.quantity counts for a QUANTIFIED liquid (a drug_strength row with a
    # denominator_value: numerator mg per denominator mL, "60 ML sertraline 20 MG/ML" is 1,200 mg per
    # 60 mL) in the minimum-dose rule: "items" (bottles, syringes: the OMOP reading of OHDSI
    # DrugUtilisation and DrugExposureDiagnostics, dose quantity x numerator), "ml" (its volume, as US
    # pharmacy data bill a liquid in mL even for a stock bottle's NDC: quantity x numerator /
    # denominator), or "items_or_ml" (default: the release does not say; a record is below the
    # minimum only when both readings are, of known dose only when both are at or above it, else of
    # unknown dose: it counts, counted). phenotypes.stage.strength_per_unit_exprs.
    quantified_liquid_quantity: Literal["items_or_ml", "items", "ml"] = "items_or_ml"


class TrdDefinition(_Strict):
    """A named TRD definition; ``rule`` picks the logic, the other fields parameterise it."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    rule: Literal["antidepressant_sequence", "augmentation", "somatic"]
    # antidepressant_sequence: TRD at the start of the n-th distinct adequate trial (docs/phenotypes.md's rule).
    # augmentation: this many adequate trials, then an augmentation agent.
    n_trials: int = Field(3, ge=1)
    # antidepressant_sequence: false = n-1 distinct adequate trials, then TRD at the first start
    # of any trial of another ingredient (study.md's "a third distinct treatment started", read
    # literally; phenotypes.trd.sequence_onset_expr). The default keeps docs/phenotypes.md's documented rule,
    # the one the hand-worked field cases follow.
    last_trial_adequate: bool = True
    augmentation_concept_set: str | None = None
    somatic_concept_sets: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rule_fields(self) -> TrdDefinition:
        if self.rule == "augmentation" and not self.augmentation_concept_set:
            raise ValueError("rule 'augmentation' needs augmentation_concept_set")
        if self.rule == "somatic" and not self.somatic_concept_sets:
            raise ValueError("rule 'somatic' needs somatic_concept_sets")
        if not self.last_trial_adequate and self.rule != "antidepressant_sequence":
            # Read by sequence_onset_expr only: on another rule it would be ignored, silently.
            raise ValueError(f"last_trial_adequate: false applies to rule 'antidepressant_sequence' only, "
                             f"not {self.rule!r}")
        return self


class GateThreshold(_Strict):
    """Share (0-1) of a gate's persons / records at or above which a WARNING is logged, and an
    ``InputDataError`` is raised (None: never)."""

    warn: float | None = Field(None, ge=0, le=1)
    error: float | None = Field(None, ge=0, le=1)


class DataGates(_Strict):
    """Data-shape gates of the phenotype stage (trd_spark.gates; docs/phenotypes.md).

    Each gate measures a share: persons with sex 'other'; study records dated after the data
    cutoff (a cutoff before most records); study records before the birth year (birth after
    events); implausible drug records (an end date implying more than trials.max_days_supply
    days, e.g. 2099-12-31, or a days_supply above it); persons without any observation period;
    drug records a partial concept_ancestor leaves unreached (of the study drug products' records);
    records of a concept the vocabulary lacks (of their event table's records); condition records whose
    membership of a study condition set a concept_ancestor cut in part gets wrong (of those and the study
    condition records); genotyped persons absent from ``person`` (checked by the cohort stage).
    """

    sex_other: GateThreshold = GateThreshold(warn=0.1, error=0.5)
    records_after_cutoff: GateThreshold = GateThreshold(warn=0.1, error=0.5)
    records_before_birth: GateThreshold = GateThreshold(warn=0.01, error=0.5)
    implausible_drug_records: GateThreshold = GateThreshold(warn=0.01, error=None)
    no_observation_period: GateThreshold = GateThreshold(warn=0.1, error=None)
    # drug_exposure records of a standard product named after a study ingredient that concept_ancestor
    # takes to no study drug set's concept, of those and the study drug records: a partial
    # concept_ancestor (docs/phenotypes.md "A partial ancestor table"). Athena's table links every
    # RxNorm product to its ingredients, so a full vocabulary leaves none: any is WARNED of (its own
    # line, with the count; no gate warn level needed) and the run stops from 1%: the toy table cut to
    # half its rows left 2.4% (213 of 8,781 records) and moved 49 of 224 ad2_augmentation TRD persons.
    unreached_drug_records: GateThreshold = GateThreshold(warn=None, error=0.01)
    # records of a concept_id (not 0) that ``concept`` has no row for, of their event table's records, in the
    # table of the largest share: a vocabulary older than the records (docs/phenotypes.md "A vocabulary
    # older than the records"; OHDSI DQD isForeignKey, whose threshold for *_concept_id is 0%). A vocabulary
    # the records were mapped with leaves none, so any is WARNED of (its own line per table; no gate warn
    # level needed); the run stops from 1%: a table's records of concepts created after its vocabulary are
    # those of new products and codes only, a small share for a release a few months behind; at 1% of
    # every drug or condition record, study records are likely among them (new antidepressant products,
    # new depression codes) and the cohort would move silently.
    unknown_concept_records: GateThreshold = GateThreshold(warn=None, error=0.01)
    # condition_occurrence records of concepts whose membership of a study condition set changes when the set's
    # blocks are closed over concept_ancestor's own rows (a member's row reaches them, the root's does not), of
    # those and the study condition records: a table cut in part (docs/phenotypes.md "A partial ancestor
    # table"). Athena's table is transitively closed, so a complete one leaves none and each is a real loss
    # (no false flag on any cut of the toy and field-case tables, session 57): any is WARNED of (its own line)
    # and the run stops from 1%, as for the drug products.
    cut_condition_records: GateThreshold = GateThreshold(warn=None, error=0.01)
    # Checked by the cohort stage: unrelated genotyped persons (with PCs) that have no row in
    # OMOP ``person`` cannot enter the analysis (genotypes and EHR of different releases?).
    genotyped_without_person: GateThreshold = GateThreshold(warn=0.01, error=0.5)


class PhenotypeSettings(_Strict):
    """``phenotypes``: concept sets, MDD and trial rules, TRD definitions and gates."""
    concept_sets: str
    mdd: MddSettings = MddSettings()
    trials: TrialSettings = TrialSettings()
    trd_definitions: list[TrdDefinition] = Field(min_length=1)
    primary_definition: str
    trmdd_min_followup_days: int = Field(180, ge=0)
    # The Cox model's time at risk (docs/phenotypes.md "Time at risk"): ``index_period`` ends it
    # at the end of the observation span holding the MDD index (OHDSI's continuous observation),
    # ``followup`` at the end of follow-up (gaps between observation periods counted at risk).
    cox_time_at_risk: Literal["index_period", "followup"] = "index_period"
    # The persistence window of the observation spans ``index_period`` reads (OHDSI era logic, as
    # ``trials.persistence_gap_days``): two observation periods of a person separated by at most this many
    # unobserved days (``datediff(next start, latest earlier end) - 1``) are one span; 0: only overlapping or
    # touching periods are. 547: the OHDSI CDM EHR Working Group's recommendation ("Observation Period
    # Considerations for EHR Data": a gap of 548 days or more ends a period; wellness visits come every
    # 12-18 months) and the R package allofus' ``aou_observation_period(persistence_window = 548)``, which
    # splits at DATE_DIFF(start, previous end) > 548: the same merges. On periods an ETL built by that
    # rule it merges nothing; on All of Us' fragmented table (overly short periods, hundreds per person)
    # it rebuilds the EHR WG's periods. Not read under ``followup`` (docs/phenotypes.md "Time at risk").
    observation_period_gap_days: int = Field(547, ge=0)
    gates: DataGates = DataGates()

    @model_validator(mode="after")
    def _definitions(self) -> PhenotypeSettings:
        names = [d.name for d in self.trd_definitions]
        if len(set(names)) != len(names):
            raise ValueError(f"trd_definitions names must be unique, got {names}")
        if self.primary_definition not in names:
            raise ValueError(f"primary_definition {self.primary_definition!r} is not one of {names}")
        return self


# --------------------------------------------------------------------------------------------
# Cohort, models, report
# --------------------------------------------------------------------------------------------
class CovariateSettings(_Strict):
    """``covariates``: age, sex and the number of genetic PCs in every model."""
    n_pcs: int = Field(10, ge=0, le=16)
    age: bool = True
    sex: bool = True


class ModelSettings(_Strict):
    """``models``: contrasts, significance levels, minimum cases and Kaplan-Meier grid."""
    # Contrasts are checked against the vocabulary but kept as plain str: they go into Spark
    # rows and result frames, where an enum object cannot travel.
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=True)
    contrasts: list[Contrast] = Field(
        default_factory=lambda: list(Contrast), validate_default=True
    )
    cox: bool = True
    alpha: float = Field(0.05, gt=0, lt=1)
    min_cases: int = Field(5, ge=1)
    # A discovery result is "significant" (and checked in each replication dataset) when this
    # corrected p-value (within its family) is below ``alpha``.
    discovery_significance: Literal["q_fdr", "p_bonferroni"] = "q_fdr"
    # Replicated = same direction as discovery and uncorrected p below this in the replication set.
    replication_alpha: float = Field(0.05, gt=0, lt=1)
    # Meta-analysis across datasets: fixed-effect inverse-variance always; DerSimonian-Laird
    # random-effects rows too when true.
    meta_random_effects: bool = False
    # Schoenfeld-residual PH test (lifelines proportional_hazard_test): transform of time.
    ph_time_transform: Literal["rank", "km", "identity", "log"] = "rank"
    # Kaplan-Meier curves by PGS tertile are stored on a grid of this step (days from index).
    km_step_days: int = Field(30, ge=1)


# The lowest ``report.small_count_threshold``: counts 1-19 are never published (README Privacy).
MIN_SMALL_COUNT_THRESHOLD = 20
# The default and largest ``report.max_pgs_excess_kurtosis`` (its comment says why).
MAX_PGS_EXCESS_KURTOSIS = 1.0


class ReportSettings(_Strict):
    """``report``: small-count threshold and report options."""
    # Counts from 1 to (small_count_threshold - 1) are shown as "<threshold" in exports. At least
    # 20: no count 1-19 is ever published (the project's rule; the All of Us Data and Statistics
    # Dissemination Policy); a higher one (21 for AoU's own wording, "1 to 20") is stricter.
    small_count_threshold: int = 20
    # Other output roots whose exports this release's export must give no small difference with,
    # read as output_root is (each release's current export/ and export_history/;
    # docs/privacy.md, "Two releases' exports"): earlier releases exported from another bucket or
    # workspace (an All of Us workspace is tied to one CDR version). One that does not exist is
    # a config error: audited against nothing, the export would say nothing of it.
    audit_output_roots: list[str] = Field(default_factory=list)
    # A score whose standardised values have an excess kurtosis above this in a dataset, or in one
    # of its ancestry groups (or above 6 standard errors of a normal sample's, 6 x sqrt(24 / n),
    # where that is larger), shows no group statistic and no model estimate in that dataset
    # (report.tables.heavy_tailed_scores; docs/privacy.md "Heavy-tailed scores"): a rare variant carrying a
    # share s of the variance, carried by a fraction p of the persons, gives about s^2 / p, and
    # with s = 0.7 (p = 0.93%: 40 carriers of 4,300, all within 10 SD) a group's SD, quartiles
    # and the weights gave its 5 carriers exactly in 5 of 6 simulations; 1.0 flags s = 0.1 there
    # (0.07 exact, chance); a polygenic score's is about 0 (the toy scores: -0.7..0.7). At most
    # 1.0: a larger limit publishes the statistics measured to count carriers.
    max_pgs_excess_kurtosis: float = Field(MAX_PGS_EXCESS_KURTOSIS, gt=0, le=MAX_PGS_EXCESS_KURTOSIS)

    @field_validator("small_count_threshold")
    @classmethod
    def _publishes_no_count_below_20(cls, v: int) -> int:
        # A threshold of 10 showed counts 10-19 in export/, with no message (session 48).
        if v < MIN_SMALL_COUNT_THRESHOLD:
            raise ValueError(
                f"{v} is below {MIN_SMALL_COUNT_THRESHOLD}: no count 1-{MIN_SMALL_COUNT_THRESHOLD - 1} may be "
                "published (the All of Us Data and Statistics Dissemination Policy); use 20, or 21 for AoU's own wording")
        return v


class LoggingSettings(_Strict):
    """``logging``: progress while a stage runs (see ``trd_spark.logs``)."""
    # While a stage runs, a heartbeat line (running Spark job/stage, tasks done/total) at
    # least this often, so a long stage is never silent (seconds).
    heartbeat_seconds: float = Field(30.0, gt=0)


class ToyRelease(_Strict):
    """Per-release toy sizes/seed (to simulate a new data release with other persons)."""

    persons: int | None = Field(None, ge=50)
    seed: int | None = Field(None, ge=0)  # numpy's generators take non-negative seeds only


class ToyDataSettings(_Strict):
    """When set, ``trd-spark run`` generates toy data here if it is absent."""

    dir: str
    persons: int = Field(3000, ge=50)
    variants: int = Field(2000, ge=200)
    seed: int = Field(42, ge=0)
    # Overrides of persons/seed for a given release name (others use the values above).
    releases: dict[str, ToyRelease] = Field(default_factory=dict)


class ReleaseSettings(_Strict):
    """Data releases for scheduled reruns (``trd-spark releases``, ``run --release latest``).

    Each sub-directory of ``input_root`` whose name is a valid release name is a release;
    input paths name it with the ``{release}`` placeholder. Newest = last in natural sort
    order of the names (C2022Q4R9 < C2024Q3R5; r2 < r10).
    """

    input_root: str | None = None
    # A lock older than this (hours) is considered left by a killed run and is taken over.
    lock_stale_hours: float = Field(24.0, gt=0)
    # How often (minutes) a run rewrites its lock's ``refreshed`` time while it holds it (at most
    # a quarter of lock_stale_hours): another host's lock is stale once not refreshed for
    # lock_stale_hours (``releases.ReleaseLock``). One small write per interval.
    lock_refresh_minutes: float = Field(10.0, gt=0)
    # The largest share of an OMOP table's rows a release may lose against the newest earlier
    # release of the output root before the phenotype stage WARNs (phenotypes.shrink; None: no
    # check). Releases grow: a table a quarter short is a copy or export still under way. A
    # release setting, in no stage's config slice: it changes a log line and the manifest's
    # notes, never an output, so a new value reruns nothing.
    max_table_shrink: float | None = Field(0.1, gt=0, lt=1)
    # A file (path relative to a release folder, e.g. ``_READY``) whose presence says the release is
    # copied in whole: with it set, a folder under ``input_root`` without it is no release for
    # ``trd-spark releases`` and ``run --release latest`` (one WARNING naming it), so a scheduled run
    # never reads a release still being copied (session 47's release trial: a table a quarter short
    # published wrong statuses). None (default): every folder is a release, as before: no convention
    # names such a file across stores (Hadoop's ``_SUCCESS`` is per output folder), and a marker no
    # copy writes would leave every release out. A runtime key: changing it reruns nothing.
    ready_marker: str | None = None

    @field_validator("ready_marker")
    @classmethod
    def _relative_marker(cls, v: str | None) -> str | None:
        if v is not None and (not v.strip() or v.startswith("/") or "://" in v or ".." in v.split("/")):
            raise ValueError(f"{v!r}: give a file name relative to a release folder, e.g. _READY")
        return v


# --------------------------------------------------------------------------------------------
# Concept sets and trait panel (separate files)
# --------------------------------------------------------------------------------------------
class ConceptRef(_Strict):
    """A concept by ID, or by vocabulary + code (resolved in the data's ``concept`` table)."""

    concept_id: int | None = None
    vocabulary_id: str | None = None
    concept_code: str | None = None
    name: str
    descendants: bool = True
    # A code some vocabulary releases hold as a standard concept and others de-standardise (mapping
    # its records to another standard concept, which the set names too): e.g. ICD9Proc 94.27 ECT,
    # which records carry where it is standard. Where this release's ``concept`` holds it as a
    # standard concept it is a member; absent or not standard it matches nothing, with an INFO line,
    # not the non-standard-reference error (concepts.conditional_refs).
    only_if_standard: bool = False

    @model_validator(mode="after")
    def _one_way(self) -> ConceptRef:
        by_id = self.concept_id is not None
        by_code = self.vocabulary_id is not None and self.concept_code is not None
        if by_id == by_code:
            raise ValueError("give either concept_id or vocabulary_id + concept_code")
        return self


class ConceptSet(_Strict):
    """One named concept set: its OMOP domain and concept IDs (with or without descendants).

    Its records are read from the table of ``domain`` (condition_occurrence, drug_exposure,
    procedure_occurrence, device_exposure, observation: the CDM puts a record in the table of its
    concept's domain) and from the tables of ``also_domains``: as an ATLAS cohort names one concept
    set in several domain criteria, for codes whose domain differs between vocabulary releases
    (HCPCS G2082/G2083: Observation by OHDSI's HCPCS range rule, a procedure-like clinic visit
    otherwise)."""
    description: str = ""
    domain: Literal["condition", "drug", "procedure", "device", "observation"]
    also_domains: list[Literal["procedure", "device", "observation"]] = Field(default_factory=list)
    # Empty only for a somatic set awaiting verified IDs (matches nothing; checked on load).
    include: list[ConceptRef] = Field(default_factory=list)
    exclude: list[ConceptRef] = Field(default_factory=list)
    # RxNorm dose-form words (e.g. "Topical"): a member drug concept whose concept_name holds one as
    # a whole word (case-insensitive) is no member, whatever its code: RxNorm's normalized names end
    # with the dose form ("doxepin hydrochloride 50 MG/ML Topical Cream", the dose-form-level
    # "doxepin Topical Cream", "... [Zonalon]"), and the chain reads ``concept`` but not
    # concept_relationship's 'RxNorm has dose form'. For a skin product of an antidepressant
    # ingredient coded under any clinical drug, at any level (field case round 41: one excluded code
    # missed the rest). Drug sets only (checked below).
    exclude_dose_forms: list[Annotated[str, Field(pattern=r"^[A-Za-z]+( [A-Za-z]+)*$")]] = Field(default_factory=list)

    @field_validator("exclude_dose_forms")
    @classmethod
    def _dose_forms_of_drugs(cls, v: list[str], info: ValidationInfo) -> list[str]:
        # A dose form names drug products only; on another set the words would match concept
        # names of another meaning ("Topical" in a procedure name), silently.
        if v and info.data.get("domain") != "drug":
            raise ValueError("exclude_dose_forms names RxNorm dose forms: a drug set's only")
        return v

    @field_validator("also_domains")
    @classmethod
    def _also_domains_read(cls, v: list[str], info: ValidationInfo) -> list[str]:
        # Only the rules of procedure / device / observation sets (somatic onsets, control-exclusion
        # procedures: stage._set_records) read a set in other tables; the diagnosis rules read
        # condition_occurrence and the drug rules drug_exposure only (study.md: diagnosis codes,
        # exposures), so also_domains on a condition or drug set did nothing, silently (session 42).
        domain = info.data.get("domain")
        if v and domain in ("condition", "drug"):
            raise ValueError(f"a {domain} set is read in {'condition_occurrence' if domain == 'condition' else 'drug_exposure'} "
                             "only (the diagnosis and drug rules read no other table; docs/phenotypes.md, \"Concepts\"): "
                             f"also_domains {v} would be read by no rule; remove it")
        return v

    @property
    def domains(self) -> tuple[str, ...]:
        """``domain`` then ``also_domains`` (distinct): every domain whose table holds the set's records."""
        return tuple(dict.fromkeys((self.domain, *self.also_domains)))


class ConceptSets(_Strict):
    """The concept-set file: name -> ConceptSet."""
    concept_sets: dict[str, ConceptSet]


class TraitPanelEntry(_Strict):
    """One trait of the panel: PGS Catalog ID (None while to curate), trait and domain."""
    # Empty/absent: a trait still to curate (listed and skipped with a warning).
    pgs_id: str | None = None
    trait: str
    domain: str


class ScoredTrait(TraitPanelEntry):
    """A panel trait with its score: ``TraitPanel.scores`` entries, whose ``pgs_id`` is set."""
    pgs_id: str


class TraitPanel(_Strict):
    """Scores to analyse. Entries without a ``pgs_id`` are moved to ``to_curate`` on load
    (logged with a warning and skipped), so ``scores`` only holds entries with an ID."""

    domains: list[str] = Field(min_length=1)
    scores: list[ScoredTrait] = Field(min_length=1)
    to_curate: list[TraitPanelEntry] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _split_uncurated(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("scores"), list):
            def has_id(e: Any) -> bool:
                return not isinstance(e, dict) or bool(e.get("pgs_id"))
            data = dict(data)
            data["to_curate"] = [*data.get("to_curate", []), *(e for e in data["scores"] if not has_id(e))]
            data["scores"] = [e for e in data["scores"] if has_id(e)]
        return data

    @model_validator(mode="after")
    def _domains_known(self) -> TraitPanel:
        for s in [*self.scores, *self.to_curate]:
            if s.domain not in self.domains:
                raise ValueError(f"score {s.pgs_id or s.trait}: domain {s.domain!r} is not in domains {self.domains}")
        if not self.scores:
            raise ValueError("no score in the trait panel has a pgs_id")
        ids = [s.pgs_id for s in self.scores]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"pgs_id listed more than once in the trait panel: {', '.join(map(str, dupes))}")
        return self

    def summary(self) -> str:
        """Per domain: traits with a score ID, and traits still to curate (lines for
        ``check-config``). IDs outside the PGS Catalog's form (``PGS`` + 6 digits) are custom
        scoring files: named, since ``download-scores`` cannot fetch them."""
        lines = [f"trait panel: {len(self.scores)} scored traits, {len(self.to_curate)} to curate, "
                 f"{len(self.domains)} domains"]
        for domain in self.domains:
            scored = [s for s in self.scores if s.domain == domain]
            todo = [s for s in self.to_curate if s.domain == domain]
            lines.append(f"  {domain:<12} {len(scored):>3} scored  {len(todo):>3} to curate"
                         + (f"  ({', '.join(f'{s.pgs_id} {s.trait}' for s in scored)})" if scored else ""))
        custom = [s.pgs_id for s in self.scores if not re.match(r"^PGS\d{6}$", s.pgs_id or "")]
        if custom:
            lines.append(f"  custom (not PGS Catalog) IDs: {', '.join(custom)}")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Top level
# --------------------------------------------------------------------------------------------
# Top-level keys that change where or how stages run, never what they compute: in no stage's
# fingerprint, so `--master` or a new output_root reruns nothing.
RUNTIME_KEYS = ("release", "output_root", "spark", "toy_data", "releases", "logging")


class Config(_Strict):
    """The whole typed config: one model drives every stage and command."""
    release: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    output_root: str
    spark: SparkSettings = SparkSettings()
    toy_data: ToyDataSettings | None = None
    datasets: list[Dataset] = Field(min_length=1)
    ancestry: AncestryInput
    pgs: PgsSettings
    omop: OmopInput
    phenotypes: PhenotypeSettings
    covariates: CovariateSettings = CovariateSettings()
    models: ModelSettings = ModelSettings()
    report: ReportSettings = ReportSettings()
    releases: ReleaseSettings = ReleaseSettings()
    logging: LoggingSettings = LoggingSettings()

    # Filled by load_config, not from YAML.
    source_path: str | None = Field(None, exclude=True)
    # The release whose data the inputs are whatever --release says: the file's release: when no
    # input path names {release} (_inputs_name_release; --release X then reads them under the
    # name X), None when one does (each release reads its own inputs).
    inputs_release: str | None = Field(None, exclude=True)
    concept_sets: ConceptSets | None = Field(None, exclude=True)
    trait_panel: TraitPanel | None = Field(None, exclude=True)

    @field_validator("release")
    @classmethod
    def _not_latest(cls, release: str) -> str:
        # `--release latest` picks a release (releases.latest_incomplete): one named so could never be run
        # alone, and a scheduled `--release latest` would never mean it.
        if release == "latest":
            raise ValueError("'latest' is no release name: `--release latest` picks the newest incomplete or "
                             "out-of-date release; name the release by its own name")
        return release

    @field_validator("datasets")
    @classmethod
    def _dataset_names_and_roles(cls, datasets: list[Dataset]) -> list[Dataset]:
        # A field validator, so that the error names the key (datasets: ...), not '(top level)'.
        names = [d.name for d in datasets]
        if len(set(names)) != len(names):
            raise ValueError(f"dataset names must be unique, got {names}")
        if sum(d.role == "discovery" for d in datasets) != 1:
            raise ValueError("exactly one dataset must have role 'discovery'")
        return datasets

    @model_validator(mode="after")
    def _datasets(self) -> Config:
        if self.pgs.standardisation == "pc_adjusted" and self.pgs.standardisation_n_pcs > self.covariates.n_pcs:
            raise ValueError(
                f"pgs.standardisation_n_pcs ({self.pgs.standardisation_n_pcs}) must be <= covariates.n_pcs "
                f"({self.covariates.n_pcs})"
            )
        return self

    def dataset(self, name: str) -> Dataset:
        for d in self.datasets:
            if d.name == name:
                return d
        raise ConfigError(f"no dataset named {name!r}", where="datasets")

    def definition(self, name: str) -> TrdDefinition:
        for d in self.phenotypes.trd_definitions:
            if d.name == name:
                return d
        raise ConfigError(f"no TRD definition named {name!r}", where="phenotypes.trd_definitions")

    def fingerprint(self) -> str:
        """SHA-256 of the resolved config, concept sets and trait panel, without the
        ``RUNTIME_KEYS`` (for manifests and the report; reruns use per-stage fingerprints,
        see trd_spark.stages)."""
        payload = {
            "config": self.model_dump(mode="json", exclude=set(RUNTIME_KEYS)),
            "concept_sets": self.concept_sets.model_dump(mode="json") if self.concept_sets else None,
            "trait_panel": self.trait_panel.model_dump(mode="json") if self.trait_panel else None,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------
# Lists whose items carry a ``name``: a key into one is written with that name
# (``datasets.replication_wgs.genotypes.path``), as the stages' own errors name a dataset, not
# by its position in the list (``datasets.1...``), which a reader has to count out in the YAML.
NAMED_LISTS = (("datasets",), ("phenotypes", "trd_definitions"))
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")  # Dataset.name / TrdDefinition.name: never a number


def named_key(key: str, config: Any) -> str:
    """``key`` (a dotted config key) with the index into a list of ``NAMED_LISTS`` replaced by
    that item's name: ``datasets.1.genotypes.path`` -> ``datasets.replication_wgs.genotypes.path``.
    ``config`` is a ``Config`` or the parsed YAML mapping; an index out of range or an item
    without a valid name (the error may be about the name) keeps the index."""
    parts = key.split(".")
    for path in NAMED_LISTS:
        n = len(path)
        if tuple(parts[:n]) != path or len(parts) <= n or not parts[n].isdigit():
            continue
        node: Any = config
        for step in path:
            node = node.get(step) if isinstance(node, dict) else getattr(node, step, None)
        i = int(parts[n])
        item = node[i] if isinstance(node, list) and i < len(node) else None
        name = item.get("name") if isinstance(item, dict) else getattr(item, "name", None)
        if isinstance(name, str) and _NAME.match(name):
            parts[n] = name
    return ".".join(parts)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The one config model a field's type holds (``X``, ``X | None``, ``list[X]``,
    ``dict[str, X]``), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    models = {m for a in typing.get_args(annotation) if (m := _model_in(a)) is not None}
    return models.pop() if len(models) == 1 else None


def _close_key(model: type[BaseModel] | None, loc: tuple) -> str | None:
    """The key of ``model`` at the mapping ``loc[:-1]`` (a validation error's location; list
    indices skipped) closest to the unknown key ``loc[-1]`` (``difflib``, as Python's own "did
    you mean"), None when none is close or the mapping is no config model (a concept set name)."""
    node: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue  # a list item: the list's model is already taken
        fields = node.model_fields if isinstance(node, type) and issubclass(node, BaseModel) else {}
        if part not in fields:
            return None
        node = _model_in(fields[part].annotation)
    if not (isinstance(node, type) and issubclass(node, BaseModel)) or not loc:
        return None
    close = difflib.get_close_matches(str(loc[-1]), list(node.model_fields), n=1)
    return close[0] if close else None


def _format_validation_error(err: ValidationError, raw: Any = None, model: type[BaseModel] | None = None) -> str:
    """One line for all of ``err``'s errors, each ``key: message`` (list items by name,
    ``named_key``); an unknown key of ``model`` (the validated class) with the closest known
    key, when one is close (a typo: ``pgs.min_overlp: unknown key (did you mean min_overlap?)``)."""
    lines = []
    for e in err.errors():
        loc = named_key(".".join(str(p) for p in e["loc"]), raw) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            close = _close_key(model, tuple(e["loc"]))
            msg = "unknown key" + (f" (did you mean {close}?)" if close else "")
        lines.append(f"{loc}: {msg}")
    return "; ".join(lines)


def _construct_timestamp(loader: _ConfigLoader, node: yaml.ScalarNode) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError as e:
        raise yaml.constructor.ConstructorError(
            None, None, f"invalid date {node.value!r} ({e})", node.start_mark
        ) from None


# libyaml's parser (PyYAML's C binding) where PyYAML has it: a config parses ~7x faster (25 -> 3.6 ms,
# loaded dozens of times per run and in most tests); the constructors below are the same Python code.
class _ConfigLoader(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):  # type: ignore[misc]
    """yaml.SafeLoader whose dates that look like dates but are not (``2023-13-01``) raise a
    YAML error with the line, instead of a bare ``ValueError`` from ``datetime.date`` (exit 1
    with a traceback instead of exit 2 naming the file and line), and whose mappings refuse a
    key written twice (YAML 1.2 section 3.2.1.1: keys are unique; PyYAML keeps the last one, so a
    second ``spark:`` block appended to a config silently dropped the first's keys)."""

    # The constructors by tag, ours for dates, set in the class body (what PyYAML's
    # ``add_constructor`` does: a copy of the base's table) rather than by a top-level
    # ``_ConfigLoader.add_constructor(...)`` call, which made this module unreadable by name
    # (``provenance._definitions``): every stage then took all of it, and an edit of anything here
    # (a JIT directive, the YAML loader) reran every stage of every release (session 43).
    yaml_constructors = {**yaml.SafeLoader.yaml_constructors, "tag:yaml.org,2002:timestamp": _construct_timestamp}

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # ``<<: *anchor``: explicit keys override
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                seen = first_line.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:  # an unhashable key: SafeLoader's own error follows
                continue
            if seen != key_node.start_mark.line + 1:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {seen})", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError("file not found", where=str(path)) from None
    except OSError as e:
        raise ConfigError(f"cannot read: {e.strerror}", where=str(path)) from None
    try:
        return yaml.load(text, Loader=_ConfigLoader)  # a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"invalid YAML: {problem}", where=where) from None


def _read_named_yaml(path: Path, key: str, config_path: Path) -> Any:
    """``_read_yaml`` of a YAML file the config names under ``key`` (the concept sets, the
    trait panel). A missing one is ConfigError ``<config>: <key>: no such file or directory:
    <path>``, as a missing input is (``preflight.check_inputs``): ``<path>: file not found``
    named neither the config nor the key, and a typo'd relative path resolves against the
    config's directory, a path the user never wrote (new-user trial, session 30)."""
    if not path.exists():
        # A config copied out of conf/ (the toy config to a working folder: session 52's new user)
        # names the shipped file by a relative path that no longer reaches it: name that file.
        shipped = REPO_CONF_DIR / path.name
        hint = (f" (the shipped {path.name} is {shipped}: copy it beside the config or give that path)"
                if shipped.is_file() and shipped.resolve() != path.resolve() else "")
        raise ConfigError(f"{key}: no such file or directory: {path}{hint}", where=str(config_path))
    return _read_yaml(path)


# A URI's trailing slashes after a path (``gs://b/omop/``, as ``gsutil ls`` prints a folder):
# Hadoop's Path drops them, so they name the same files; kept, they made a config slice and an
# input's fingerprint differ from the same config without them, and everything after reran.
_URI_TRAILING_SLASHES = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/]*/.*[^/])/+$")


def _resolve(path: str, base: Path) -> str:
    if is_uri(path):
        return _URI_TRAILING_SLASHES.sub(r"\1", path)
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


# Dotted locations of every path field (``*`` = each list element).
_PATH_FIELDS = [
    ("output_root",),
    ("spark", "tmp_dir"),
    ("toy_data", "dir"),
    ("datasets", "*", "genotypes", "path"),
    ("datasets", "*", "genotypes", "sample_map"),
    ("datasets", "*", "genotypes", "sex_source", "path"),
    ("ancestry", "path"),
    ("ancestry", "related_samples_to_remove"),
    ("ancestry", "related_pairs"),
    ("pgs", "scoring_files", "*"),
    ("pgs", "trait_panel"),
    ("pgs", "liftover", "chain_file"),
    ("pgs", "reference_fasta"),
    ("pgs", "native", "export_dir"),
    ("pgs", "native", "memory_dir"),
    ("omop", "path"),
    ("omop", "ehr_person_list"),
    ("phenotypes", "concept_sets"),
    ("releases", "input_root"),
    ("report", "audit_output_roots", "*"),
]
# Path fields of commands that are not stages (``stages.NOT_STAGE_SETTINGS``), resolved as the
# ones above but kept out of ``_PATH_FIELDS``, which every stage's code digest holds (an entry
# there reruns every stage of every release). ``pgs.download.directory``: where
# ``download-scores`` writes, resolved as ``pgs.scoring_files`` is, so one relative folder names
# the same files from any working directory; before session 47 it was taken against the current
# directory, and from another one the files went where the pgs stage never read them: the run
# scored the earlier files of the config's folder beside "N downloaded".
_COMMAND_PATH_FIELDS = [("pgs", "download", "directory")]


def _resolve_paths(raw: Any, base: Path, relocate: tuple[Path, Path] | None = None) -> Any:
    """Every path field made absolute against ``base``; with ``relocate = (old, new)`` a
    path under ``old`` is moved under ``new`` (the embedded config's outputs, see
    ``EMBEDDED_OUT``)."""
    def place(path: str) -> str:
        out = _resolve(path, base)
        if relocate and not is_uri(out) and Path(out).is_relative_to(relocate[0]):
            return str(relocate[1] / Path(out).relative_to(relocate[0]))
        return out

    def walk(node: Any, keys: tuple[str, ...]) -> Any:
        if not keys:
            return place(node) if isinstance(node, str) else node
        head, rest = keys[0], keys[1:]
        if head == "*" and isinstance(node, list):
            return [walk(x, rest) for x in node]
        if isinstance(node, dict) and head in node and node[head] is not None:
            node = dict(node)
            node[head] = walk(node[head], rest)
        return node

    if not isinstance(raw, dict):
        return raw
    for keys in [*_PATH_FIELDS, *_COMMAND_PATH_FIELDS]:
        # BigQuery OMOP "paths" are table references, not files.
        if keys == ("omop", "path") and isinstance(raw.get("omop"), dict) and raw["omop"].get("format") == "bigquery":
            continue
        raw = walk(raw, keys)
    return raw


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _map_strings(node: Any, fn: Callable[[str, str], str], key: str = "") -> Any:
    """``node`` (parsed YAML: dicts, lists, scalars) with every string ``s`` replaced by
    ``fn(s, key)``, ``key`` its dotted path (``omop.path``, ``pgs.datasets.0.path``)."""
    if isinstance(node, dict):
        return {k: _map_strings(v, fn, f"{key}.{k}" if key else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_map_strings(v, fn, f"{key}.{i}") for i, v in enumerate(node)]
    return fn(node, key) if isinstance(node, str) else node


def _strings(node: Any) -> Iterator[str]:
    """Every string value of ``node`` (parsed YAML), depth first."""
    if isinstance(node, dict):
        for v in node.values():
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)
    elif isinstance(node, str):
        yield node


def _expand_env(node: Any, where: str) -> Any:
    """Replace ``${NAME}`` in string values with the environment variable (AoU Workbench sets
    e.g. WORKSPACE_BUCKET and WORKSPACE_CDR); an unset variable is an error naming the key."""
    def expand(text: str, key: str) -> str:
        def sub(m: re.Match) -> str:
            name = m.group(1)
            if name not in os.environ:
                raise ConfigError(f"{key}: environment variable {name} is not set", where=where)
            return os.environ[name]
        return _ENV.sub(sub, text)

    return _map_strings(node, expand)


def _substitute_release(raw: Any) -> Any:
    """Replace ``{release}`` in every string value with the config's release name."""
    if not isinstance(raw, dict) or not isinstance(raw.get("release"), str):
        return raw
    release = raw["release"]
    return _map_strings(raw, lambda text, _key: text.replace("{release}", release))


def _mentions_release(node: Any) -> bool:
    return any("{release}" in text for text in _strings(node))


def _inputs_name_release(raw: dict) -> bool:
    """Whether an input path of the parsed config ``raw`` contains ``{release}`` (keys outside
    ``RUNTIME_KEYS``, and ``toy_data.dir``): each release then reads its own inputs."""
    inputs = {k: v for k, v in raw.items() if k not in RUNTIME_KEYS}
    toy_dir = raw["toy_data"].get("dir") if isinstance(raw.get("toy_data"), dict) else None
    return _mentions_release(inputs) or _mentions_release(toy_dir)


def _warn_release_names_no_input(raw: Any, file_release: Any, cfg_path: Path) -> None:
    """Warn when the release (``--release``) is another than the file's ``file_release`` but no
    input path of the config contains ``{release}`` (keys outside ``RUNTIME_KEYS``, and
    ``toy_data.dir``): the run would then read the same inputs as the file's release and publish
    them under the new name, silently (e.g. a typo, ``--release C2024Q3R6``)."""
    if not isinstance(raw, dict) or raw.get("release") in (None, file_release):
        return
    if not _inputs_name_release(raw):
        logging.getLogger(__name__).warning(
            "release %s: no input path of %s contains {release}, so it reads the same inputs as "
            "release %s; only its outputs are named %s", raw["release"], cfg_path, file_release,
            raw["release"])


def _validate(model: type[BaseModel], raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError("expected a mapping at the top level", where=where)
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_format_validation_error(e, raw, model), where=where) from None


def _check_references(cfg: Config, where: str) -> None:
    sets = cfg.concept_sets.concept_sets if cfg.concept_sets else {}

    def need(name: str, key: str) -> None:
        if name not in sets:
            raise ConfigError(
                f"{key}: unknown concept set {name!r} (known: {sorted(sets)})", where=where
            )

    ph = cfg.phenotypes
    def need_members(name: str, key: str) -> None:
        need(name, key)
        if not sets[name].include:
            raise ConfigError(f"{key}: concept set {name!r} includes no concept", where=where)

    need_members(ph.mdd.concept_set, "phenotypes.mdd.concept_set")
    need_members(ph.mdd.control_exclusion_concept_set, "phenotypes.mdd.control_exclusion_concept_set")
    for i, name in enumerate(ph.mdd.exclude_concept_sets):
        need_members(name, f"phenotypes.mdd.exclude_concept_sets.{i}")
    for i, name in enumerate(ph.mdd.control_exclusion_drug_concept_sets):
        need(name, key := f"phenotypes.mdd.control_exclusion_drug_concept_sets.{i}")
        if sets[name].domain != "drug":
            raise ConfigError(f"{key}: concept set {name!r} has domain {sets[name].domain!r}; expected drug", where=where)
    for i, name in enumerate(ph.mdd.control_exclusion_procedure_concept_sets):
        need(name, key := f"phenotypes.mdd.control_exclusion_procedure_concept_sets.{i}")
        if sets[name].domain not in ("procedure", "observation"):
            raise ConfigError(f"{key}: concept set {name!r} has domain {sets[name].domain!r}; expected procedure "
                              "or observation", where=where)
    need_members(ph.trials.concept_set, "phenotypes.trials.concept_set")
    for d in ph.trd_definitions:
        if d.augmentation_concept_set:
            need_members(d.augmentation_concept_set, f"phenotypes.trd_definitions.{d.name}.augmentation_concept_set")
        for j, name in enumerate(d.somatic_concept_sets):
            need(name, f"phenotypes.trd_definitions.{d.name}.somatic_concept_sets.{j}")
    # A minimum daily dose reaches the ingredients (includes, by ID) of the trials set and of the
    # augmentation sets; any other key applied to nothing, silently (field case round 42).
    dosed = {ph.trials.concept_set} | {d.augmentation_concept_set for d in ph.trd_definitions
                                       if d.rule == "augmentation" and d.augmentation_concept_set}
    ingredients = {r.concept_id for name in dosed for r in sets[name].include if r.concept_id is not None}
    unknown = sorted(set(ph.trials.ingredient_min_daily_dose) - ingredients)
    if unknown:
        raise ConfigError(
            f"phenotypes.trials.ingredient_min_daily_dose.{unknown[0]}: {unknown[0]} is no ingredient the trials set "
            f"{ph.trials.concept_set!r} or an augmentation set ({', '.join(sorted(dosed - {ph.trials.concept_set}))}) "
            "includes by concept_id; such a minimum would apply to nothing", where=where)


def _check_toy_release(cfg: Config, where: str) -> None:
    """A toy config that lists its releases (``toy_data.releases``) knows no other: a release
    outside the map (a typo, ``--release toy-r9`` for toy-r2) would generate a whole toy release
    under that name, which ``releases`` would then list and ``--release latest`` pick. Raises
    ConfigError naming the key and the known releases, before anything is generated."""
    toy = cfg.toy_data
    if toy is None or not toy.releases or cfg.release in toy.releases:
        return
    known = ", ".join(toy.releases)  # in the file's order
    raise ConfigError(f"release: {cfg.release!r} is not a key of toy_data.releases (known: {known}); "
                      "add it there to generate a new toy release", where=where)


def _per_release_values(raw: Any, where: str) -> Any:
    """``raw`` with ``omop.data_cutoff_date`` and ``omop.death_table`` written per release (a
    mapping, ``{C2022Q4R9: 2022-07-01, C2024Q3R5: 2023-10-01}``, ``{C2022Q4R9: death, C2024Q3R5:
    aou_death}``) replaced by the value of ``release``. Each release's EHR
    ends on its own date, and one date for every release of a config with ``{release}`` either
    extended an older release's follow-up past its data (open observation periods and persons
    without one run to the cutoff) or cut a newer one's records off. A release without a value is
    a ConfigError naming the key and the releases it has (``run --release latest`` on a new
    release stops there until its date is added)."""
    omop = raw.get("omop") if isinstance(raw, dict) else None
    if not isinstance(omop, dict):
        return raw
    # omop.death_table likewise (``aou_death`` from CDR v8 on, ``death`` before): a release
    # without one is the same ConfigError, never another release's table.
    for key, what, missing in (("data_cutoff_date", "date", "the last date that release's EHR covers"),
                               ("death_table", "table", "the table that release's deaths are in")):
        if not isinstance(omop.get(key), dict):
            continue
        by_release = {str(k): v for k, v in omop[key].items()}
        release = str(raw.get("release"))
        if release not in by_release:
            raise ConfigError(f"omop.{key}: no {what} for release {release!r} (it has: "
                              f"{', '.join(by_release) or 'none'}); add {missing}", where=where)
        omop = {**omop, key: by_release[release]}
    return {**raw, "omop": omop}


def load_config(path: str | Path | None = None, *, overrides: dict[str, Any] | None = None) -> Config:
    """Load, resolve and validate a config file (default: the embedded ``conf/toy.yaml``;
    installed from a wheel, a packaged config's data and outputs go under ``./out``, see ``EMBEDDED_OUT``).

    ``overrides`` are top-level keys replacing the file's (e.g. ``{"release": "r2"}``).
    Raises ``ConfigError`` naming the file and the key path of the first problem.
    """
    cfg_path = Path(path).resolve() if path else DEFAULT_CONFIG
    raw = _read_yaml(cfg_path)
    file_release = raw.get("release") if isinstance(raw, dict) else None
    if isinstance(raw, dict) and overrides:
        raw = {**raw, **overrides}
    raw = _expand_env(raw, str(cfg_path))
    _warn_release_names_no_input(raw, file_release, cfg_path)
    data_of = file_release if isinstance(raw, dict) and not _inputs_name_release(raw) else None
    raw = _substitute_release(raw)
    raw = _per_release_values(raw, str(cfg_path))
    # Installed from a wheel, every packaged config (the default, and conf/toy_releases.yaml that
    # `trd-spark releases` names by its packaged path) writes under ./out, not site-packages.
    relocate = (EMBEDDED_OUT, Path.cwd() / "out") if INSTALLED and cfg_path.parent == REPO_CONF_DIR else None
    raw = _resolve_paths(raw, cfg_path.parent, relocate)
    cfg: Config = _validate(Config, raw, str(cfg_path))
    _check_toy_release(cfg, str(cfg_path))

    concept_path = Path(cfg.phenotypes.concept_sets)
    concept_sets = _validate(ConceptSets, _read_named_yaml(concept_path, "phenotypes.concept_sets", cfg_path),
                             str(concept_path))
    panel_path = Path(cfg.pgs.trait_panel)
    panel = _validate(TraitPanel, _read_named_yaml(panel_path, "pgs.trait_panel", cfg_path), str(panel_path))
    if panel.to_curate:
        logging.getLogger(__name__).warning(
            "trait panel %s: %d trait(s) without a pgs_id are skipped (to curate): %s", panel_path,
            len(panel.to_curate), ", ".join(f"{e.trait} ({e.domain})" for e in panel.to_curate))
    cfg = cfg.model_copy(
        update={"source_path": str(cfg_path), "concept_sets": concept_sets, "trait_panel": panel,
                "inputs_release": data_of if isinstance(data_of, str) else None}
    )
    _check_references(cfg, str(cfg_path))
    return cfg
