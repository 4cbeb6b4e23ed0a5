"""Each stage declared once: its config slice, what it reads and what it writes.

The runner (``pipeline.run_stages``), the preflight input checks, the manifest written by
``layout.publish_stage``, the upstream tables a stage may read (``StageContext.read``) and
``trd-spark explain`` all derive from ``STAGE_SPECS``; nothing else lists what a stage reads
(after gnomad_methods' step resource collections and gentropy's step configs).

A stage's entry point is ``run(ctx: StageContext)``: the runner builds the context from the
stage's spec (Spark session, config, layout, logger, notes, the run's warning counter); the
stage reads its declared upstream tables through ``ctx.read`` and publishes through
``ctx.publish`` (``layout.publish_stage``), so its body stays DataFrame / Table transforms.

A stage's *fingerprint* is the SHA-256 of:

- its config slice (the values of the dotted config keys it declares; ``concept_sets`` and
  ``trait_panel`` are the loaded file contents, not their paths),
- the code it runs (``provenance.code_digests`` of its module: the source of every module of
  this package it imports, and the versions of the libraries they import; so a change to one
  stage's code reruns that stage and what reads its outputs, and a checkout outside git still
  reruns what changed),
- the ``run_id`` of every upstream stage's published output (a republished upstream, even
  with the same config, makes every downstream stage rerun),
- the fingerprint of every external input file (sizes and content digests of local files,
  each named under its input, not by its path: the same files moved rerun nothing, and an
  input's path is in no slice, ``INPUT_PATH``; size and version of object-store URIs:
  ``input_fingerprint``).

A published output is current only while its folder holds what its manifest recorded
(``layout.Layout.changed_outputs``): an output deleted or edited by hand reruns its stage.

Keys in ``RUNTIME_KEYS`` (Spark settings, output_root, toy-data generation, release
scheduling) change where or how a stage runs, never what it computes, so they are in no
slice: ``--master`` or a new ``output_root`` reruns nothing. The exception is a
``spark.extra_conf`` entry that can change results (``result_spark_conf``: a session time
zone, ANSI mode): it is in every slice. The ``TUNING_KEYS`` (how the native engine cuts up its
sums, who pays for BigQuery reads) are in no slice either, and a dataset's role in none of the stages that do not read it.

The fingerprint is taken when a stage starts (``StageContext.parts_at_start``) and its inputs
are fingerprinted again before it publishes: an input written while the stage read it publishes
nothing (``layout.publish_stage``).
"""

from __future__ import annotations

import fnmatch
import functools
import glob
import hashlib
import importlib
import inspect
import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Set
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol, cast, get_args

from pydantic import BaseModel

from trd_spark.config import _PATH_FIELDS, RUNTIME_KEYS, Config, local_path, named_key
from trd_spark.errors import ConfigError, InputDataError
from trd_spark.io import BY_CONTENT, STAT_RECORD, Fs, bgen_sample_file_candidates, pgen_variant_file, read_table
from trd_spark.layout import (
    EXPORT,
    MANIFEST,
    PUBLISHED_WITH_RUN_ID,
    STAGES,
    SUCCESS,
    Layout,
    StageWriter,
    made_by_same_run,
    publish_stage,
)
from trd_spark.logs import WarningCounter
from trd_spark.provenance import code_digests, java_digests, recorded_code
from trd_spark.schemas import TABLES_BY_STAGE

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


# Settings of commands that are not stages (``download-scores``) or of the checks before them
# (``pgs.strict_panel``): no stage output depends on them.
NOT_STAGE_SETTINGS = ("pgs.download", "pgs.strict_panel")
# Settings that decide how, or at whose cost, a stage computes, never what: the native engine's
# sizes (rows per block and per task, samples per reduction key, where the partial sums are added
# and where its local files are kept:
# config.NativeEngineSettings; the results equal Hail's pass, tests/test_pgs_native_engine.py)
# and the Google Cloud project billed for BigQuery reads (the same CDR read from a cloned
# workspace). Like spark.* tuning they are in no slice, so changing them reruns nothing; the stage
# still reads them (its StageSpec declares ``pgs`` / ``omop``). The engine and its scratch
# directory are not here: they choose which engine scores.
TUNING_KEYS = ("pgs.native.block_memory_mb", "pgs.native.task_entries", "pgs.native.variants_per_task",
               "pgs.native.sample_slice", "pgs.native.driver_sum_mb", "pgs.native.memory_dir",
               "pgs.native.memory_dir_share", "omop.billing_project")
# Settings whose value counts in a slice only as set or not: ``pgs.native.export_dir``, where the
# native engine writes its temporary PLINK files, decides on a cluster whether that engine scores
# hard calls at all (unset: Hail's pass), but which directory it is changes no number: moving the
# scratch to another disk reran hours of scoring.
PRESENCE_KEYS = ("pgs.native.export_dir",)
# Dataset keys a stage that reads ``datasets`` may not need: the pgs and cohort stages score and
# assemble every dataset alike, so a dataset's role (discovery / replication) is in their
# ``config_exclude`` (swapping roles reruns models and report only, not hours of scoring).
DATASET_ROLE = "datasets.role"
# The trait panel's list of domains: the order of the report's domain sections. Each score's own
# domain (``trait_panel.scores``: its label in the pgs scores table and the models' rows) is
# content of the stages that read the panel, but the list is read by the report alone, so it is
# in the pgs, cohort and models stages' ``config_exclude``: reordering the domains (or adding
# one for a trait still to curate) reran hours of scoring.
PANEL_DOMAINS = "trait_panel.domains"
# The genotype files' paths (and their sample map and sex file): the pgs stage's inputs, keyed in
# its fingerprint by content; the later stages read the datasets' names, roles, formats and
# builds, never these, so they are in their ``config_exclude``: a callset moved with the same
# bytes reran cohort, models and report (a new export) though pgs kept its run.
GENOTYPE_PATHS = ("datasets.genotypes.path", "datasets.genotypes.sample_map", "datasets.genotypes.sex_source.path")


class FsLike(Protocol):
    """The file operations the declarations need (``io.Fs`` or ``io.LocalFs``)."""

    def exists(self, path: str) -> bool: ...
    def read_text(self, path: str) -> str: ...
    def read_bytes(self, path: str) -> bytes: ...
    def list_files(self, path: str) -> dict[str, int]: ...


@dataclass(frozen=True)
class StageSpec:
    """One stage's declaration.

    ``config``: dotted config keys the stage's outputs depend on (``trait_panel`` and
    ``concept_sets`` name the loaded files' contents), minus ``config_exclude`` (keys under
    them that another stage owns: a new key under ``pgs`` then reruns pgs by default, never
    silently nothing). ``upstream``: stages whose published tables it reads. ``inputs``:
    prefixes of the config's path fields (``config._PATH_FIELDS``) naming the files it reads
    from outside the release. ``files``: text / Hail outputs besides the Parquet tables of
    ``schemas.TABLES_BY_STAGE``. ``publishes``: output folders (the report stage also
    publishes ``export``). ``input_files``: ``"module:function"`` naming which files of some of
    its inputs the stage reads (``function(cfg, fs) -> {dotted key: [file] or None}``, ``fs``
    the session's ``io.Fs`` or None without Spark; the pgs stage's scoring files:
    ``pgs.scoring_files.stage_input_files``; the phenotype stage's OMOP tables:
    ``phenotypes.omop.stage_input_files``), so that the fingerprint of those inputs covers
    exactly those files and a file the stage skips (a README beside the scoring files, an OMOP
    table it does not read) reruns nothing; imported only when fingerprinting, as ``runner``.
    """

    name: str
    module: str
    config: tuple[str, ...]
    config_exclude: tuple[str, ...] = ()
    upstream: tuple[str, ...] = ()
    inputs: tuple[tuple[str, ...], ...] = ()
    files: tuple[str, ...] = ()
    publishes: tuple[str, ...] = ()
    input_files: str | None = None

    @property
    def outputs(self) -> tuple[str, ...]:
        """Folders under the release this stage publishes (its own first)."""
        return (self.name, *self.publishes)

    @property
    def tables(self) -> tuple[str, ...]:
        """Parquet tables it writes, with declared schemas (``schemas.TABLES_BY_STAGE``)."""
        return tuple(t.name for t in TABLES_BY_STAGE.get(self.name, []))

    def external(self, cfg: Config) -> list[tuple[str, str]]:
        """[(dotted config key, path or glob)] of the external files this stage reads."""
        if cfg.omop.format == "bigquery":  # a BigQuery dataset has no files; its name is in the slice
            fields = [f for f in _PATH_FIELDS if f[:2] != ("omop", "path")]
        else:
            fields = list(_PATH_FIELDS)
        out: list[tuple[str, str]] = []
        raw = cfg.model_dump(mode="json")
        for f in fields:
            if any(f[:len(prefix)] == prefix for prefix in self.inputs):
                out += _walk_paths(raw, f, "")
        return [hit for key, path in out for hit in plink_fileset_inputs(cfg, key, path)]

    def runner(self) -> Callable[[StageContext], Any]:
        """The stage's ``run(ctx)``, imported lazily (a stage's heavy imports are paid only
        when it runs)."""
        return declared_import(self, self.module).run


# A PLINK dataset's ``path`` is the fileset's common prefix or its matrix file (README); the
# matrix, variant and sample files are read, so each is an input of its own.
PLINK_FILESETS = {"plink": (".bed", ".bim", ".fam"), "pgen": (".pgen", ".pvar", ".psam")}
# A VCF's index files, one beside each file (pysam takes either).
VCF_INDEXES = (".tbi", ".csi")


def plink_fileset_inputs(cfg: Config, key: str, path: str) -> list[tuple[str, str]]:
    """``[(key, path)]`` of one external input, where a ``datasets.N.genotypes.path`` of a
    ``plink`` / ``pgen`` dataset becomes its three files: ``(key, prefix.bed)``, ``(key[.bim],
    prefix.bim)``, ``(key[.fam], prefix.fam)`` (pgen: .pgen, .pvar, .psam; the ``.pvar.zst``
    when the reader reads it, ``(key[.pvar.zst], prefix.pvar.zst)``, ``io.pgen_variant_file``). The prefix alone
    matches no file, so its fingerprint was ``exists: false`` and a replaced .bed (or an edited
    .bim, also behind a ``.bed`` path) never reran the pgs stage; preflight now names the first
    missing file of the set.

    A ``bgen`` dataset's ``path`` comes with the Oxford .sample beside it (``(key[.sample],
    x.sample)``, ``io.bgen_sample_file_candidates``), whose ID_2 names the samples of a
    BGEN without embedded IDs (``bgen_reader.sample_ids``): a corrected .sample must rerun pgs.
    A local (or ``file://``) one is listed when it exists (a BGEN with embedded IDs needs none,
    so preflight does not ask for it); on gs:// / hdfs:// both candidates (fingerprinted without Spark's file system as
    unknown, with it as absent or present). Its bgenix ``.bgi`` (``(key[.bgi], x.bgen.bgi)``: the
    variant list and block offsets the native reader takes) and a local ``vcf`` path's ``.tbi`` /
    ``.csi`` (``(key[.tbi], path.tbi)``: the half-call count reads through it), and a pgen's
    ``.pgen.pgi`` (``(key[.pgen.pgi], prefix.pgen.pgi)``: the index pgenlib reads for a .pgen
    written with its index apart) are listed when there, never asked for (a file without one is
    read without it)."""
    parts = key.split(".")
    if len(parts) != 4 or parts[0] != "datasets" or parts[2:] != ["genotypes", "path"]:
        return [(key, path)]
    fmt = cfg.datasets[int(parts[1])].genotypes.format
    if fmt == "bgen":
        samples = dict.fromkeys(p for p in bgen_sample_file_candidates(path)
                                if (local := local_path(p)) is None or os.path.isfile(local))
        # The bgenix index gives the native reader the variant list and each block's byte range
        # (bgen_reader.variant_index): a replaced or rebuilt .bgi changes what is read. Read only
        # beside a local file, so listed when one is there.
        index = [f"{path}.bgi"] if (local := local_path(path)) is not None and os.path.isfile(f"{local}.bgi") else []
        return [(key, path), *((f"{key}[{p.removeprefix(path.removesuffix('.bgen'))}]", p) for p in samples),
                *((f"{key}[.bgi]", p) for p in index)]
    if fmt == "vcf":
        # The tabix / CSI index of local VCF files: the half-call count reads the matched records
        # through it (genotypes.vcf_half_call_rows), so a new or replaced index changes that count.
        local = local_path(path)
        return [(key, path), *((f"{key}[{ext}]", path + ext) for ext in VCF_INDEXES
                               if local is not None and glob.glob(local + ext))]
    exts = PLINK_FILESETS.get(fmt)
    if exts is None:
        return [(key, path)]
    prefix = path.removesuffix(exts[0])
    files = [prefix + ext for ext in exts]
    if fmt == "pgen":  # its .pvar, or its .pvar.zst: the file the reader reads (io.pgen_variant_file)
        files[1] = pgen_variant_file(prefix)
        # A .pgen written with its index apart (plink2 --make-pgen pgi: header mode 0x20/0x21) is read
        # through x.pgen.pgi (pgenlib PgfiInitPhase1): its variant records' offsets and types.
        local = local_path(prefix)
        if local is not None and os.path.isfile(f"{local}.pgen.pgi"):
            files.append(f"{prefix}.pgen.pgi")
    return [(key, files[0]), *((f"{key}[{f.removeprefix(prefix)}]", f) for f in files[1:])]


def _walk_paths(node: Any, keys: tuple[str, ...], at: str) -> list[tuple[str, str]]:
    """(dotted key, value) of every non-null path at ``keys`` (``*`` = each list element)."""
    if not keys:
        return [(at, node)] if isinstance(node, str) else []
    head, rest = keys[0], keys[1:]
    if head == "*":
        return [hit for i, x in enumerate(node or []) for hit in _walk_paths(x, rest, f"{at}.{i}")]
    if not isinstance(node, dict) or node.get(head) is None:
        return []
    return _walk_paths(node[head], rest, f"{at}.{head}" if at else head)


STAGE_SPECS: dict[str, StageSpec] = {s.name: s for s in (
    StageSpec(
        "pgs", "trd_spark.pgs.stage",
        config=("datasets", "pgs", "trait_panel"),
        # The trait panel's content is in the slice (its path is not an output-relevant setting).
        config_exclude=("pgs.standardisation", "pgs.standardisation_n_pcs", "pgs.trait_panel", DATASET_ROLE,
                        PANEL_DOMAINS, *NOT_STAGE_SETTINGS),
        inputs=(("datasets",), ("pgs", "scoring_files"), ("pgs", "liftover"), ("pgs", "reference_fasta")),
        files=("match_summary.tsv",),
        input_files="trd_spark.pgs.scoring_files:stage_input_files",
    ),
    StageSpec(
        "phenotypes", "trd_spark.phenotypes.stage",
        config=("omop", "phenotypes", "concept_sets"),
        config_exclude=("phenotypes.concept_sets",),
        inputs=(("omop",),),
        input_files="trd_spark.phenotypes.omop:stage_input_files",
    ),
    StageSpec(
        "cohort", "trd_spark.cohort.stage",
        # report.small_count_threshold: the fewest persons a dataset's PC standardisation is
        # fitted on (cohort.standardise.fit_floor), so a new threshold reruns cohort too.
        config=("datasets", "ancestry", "covariates.n_pcs", "pgs.standardisation", "pgs.standardisation_n_pcs",
                "phenotypes.gates.genotyped_without_person", "trait_panel", "report.small_count_threshold"),
        config_exclude=(DATASET_ROLE, PANEL_DOMAINS, *GENOTYPE_PATHS),
        upstream=("pgs", "phenotypes"),
        inputs=(("ancestry",),),
    ),
    StageSpec(
        "models", "trd_spark.models.stage",
        config=("datasets", "covariates", "models", "trait_panel"),
        config_exclude=(PANEL_DOMAINS, *GENOTYPE_PATHS),
        upstream=("cohort",),
        files=("logistic.tsv", "cox.tsv"),
    ),
    StageSpec(
        "report", "trd_spark.report.stage",
        # The report's methods text describes these settings; it names the release (title,
        # methods table, export manifest), so outputs moved to another release's folder rerun it.
        config=("release", "datasets", "omop.data_cutoff_date", "pgs", "phenotypes", "covariates", "models", "report",
                "trait_panel"),
        # The paths of the trait panel and the concept-set file: the panel's content is in the
        # slice (``trait_panel``), the concept sets reach the report through the phenotype stage's
        # outputs; the report names neither file. A moved panel or concept-set file reran the
        # report, and each report run is a new export that later exports are audited against.
        # The scoring files', the chain file's and the reference FASTA's paths, and the genotype
        # files' (GENOTYPE_PATHS): the pgs stage's inputs, which the report reads through its outputs only.
        config_exclude=(*NOT_STAGE_SETTINGS, "pgs.trait_panel", "phenotypes.concept_sets", "pgs.scoring_files",
                        "pgs.liftover.chain_file", "pgs.reference_fasta", *GENOTYPE_PATHS),
        upstream=("models", "cohort", "phenotypes", "pgs"),
        files=("report.html", "<table>.tsv"),
        publishes=(EXPORT,),
    ),
)}
assert tuple(STAGE_SPECS) == STAGES, "declare every stage of layout.STAGES, in run order"


# Keys every stage may read because they shape only log and error messages, never an output.
# phenotypes.concept_sets is the concept-set file's path, named by the phenotype stage's
# warnings and errors about a set's references; its content is the stage's input (concept_sets).
MESSAGE_KEYS = ("phenotypes.concept_sets",)
# Keys every stage may read and every stage's config slice holds (``config_slice``), so a new
# value reruns every stage. The small-count threshold T labels the person and record counts of
# every stage's log lines, its gate decisions (``gates.share_range``) and the label notes of its
# manifest (pgs: ``sample_sex``, ``ft_failed_call_share``; phenotypes: ``record_counts_logged``):
# with it a message key (read by pgs and phenotypes, in neither's slice), a raised T reran cohort
# onwards only, and the pgs and phenotypes lines of the release stayed those of the old T (a record
# count of 22 shown exactly under T = 20 is a count 1..24 once T = 25; two counts 21 apart, a
# difference 1..24). In the slice, not in ``StageSpec.config``: the ``report`` section's model stays
# out of the code of the stages that read no other key of it (``unread_settings``). The cohort
# stage and the report declare it as well (the floor of the cohort stage's PC fits; the report's
# suppression).
LABEL_KEYS = ("report.small_count_threshold",)
# Whole-config values a stage may record without depending on every key (the export
# manifest's config hash is provenance, not an input of any number).
PROVENANCE = ("fingerprint",)
# Free text of the loaded files that documents and computes nothing: a concept set's
# ``description`` (its concepts, their names included, are its content). In no slice, so a
# reworded description reruns nothing (it reran phenotypes, cohort, models and report); no
# stage may read it (``ConfigView``), so none can come to depend on it unseen. So are the trait
# panel's ``to_curate`` entries (traits without a ``pgs_id`` yet: ``check-config`` and
# ``download-scores`` list them, no stage reads them): noting a trait still to curate reran
# every stage, hours of PGS scoring included; giving it its ``pgs_id`` moves it to ``scores``,
# which reruns pgs onwards.
DOCUMENTATION_KEYS = ("concept_sets.concept_sets.description", "trait_panel.to_curate")


def _under(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


class ConfigView:
    """A stage's read-only view of the config: only the keys of its ``StageSpec.config``
    (minus ``config_exclude``), the ``RUNTIME_KEYS``, the ``MESSAGE_KEYS`` and the ``LABEL_KEYS``.

    Reading any other key raises LookupError naming it: a stage whose output depended on an
    undeclared key would be skipped as up to date after that key changed (a stale rerun), so
    the declaration is enforced where the key is read. Attributes read like the model's
    (``cfg.pgs.native.engine``, ``cfg.dataset(name)``, ``for d in cfg.datasets``); lists and
    dicts of models come back as lists / dicts of views; pydantic's own methods
    (``model_dump``, ``model_copy``) and ``PROVENANCE`` act on the underlying model.
    """

    __slots__ = ("_node", "_key", "_spec")

    def __init__(self, node: Any, spec: StageSpec, key: str = "") -> None:
        object.__setattr__(self, "_node", node)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_spec", spec)

    def _check(self, key: str) -> None:
        spec: StageSpec = self._spec
        if _under(key, DOCUMENTATION_KEYS):
            raise LookupError(f"stage {spec.name} reads config key {key}, documentation that no stage fingerprints "
                              f"(stages.DOCUMENTATION_KEYS)")
        if _under(key, (*MESSAGE_KEYS, *LABEL_KEYS)):
            return
        if _under(key, spec.config_exclude):
            raise LookupError(f"stage {spec.name} reads config key {key}, which its StageSpec excludes "
                              f"(another stage owns it): fix the stage or stages.STAGE_SPECS")
        readable = (*spec.config, *MESSAGE_KEYS, *LABEL_KEYS)
        if _under(key, readable) or any(c.startswith(key + ".") for c in readable):
            return
        raise LookupError(f"stage {spec.name} reads config key {key}, which its StageSpec does not declare: "
                          f"add it to its config in stages.STAGE_SPECS (else a change to it would not rerun "
                          f"the stage)")

    def _wrap(self, value: Any, key: str) -> Any:
        if isinstance(value, BaseModel):
            return ConfigView(value, self._spec, key)
        if isinstance(value, (list, tuple)):
            return type(value)(self._wrap(v, key) for v in value)
        if isinstance(value, dict):
            return {k: self._wrap(v, key) for k, v in value.items()}
        return value

    def __reduce__(self) -> tuple[Any, ...]:
        # Views travel to Python workers inside UDF closures (the models grid): rebuild them there.
        return (ConfigView, (self._node, self._spec, self._key))

    def __getattr__(self, name: str) -> Any:
        if name in ConfigView.__slots__:  # unset slot (a half-built copy): no recursion
            raise AttributeError(name)
        node = self._node
        key = f"{self._key}.{name}" if self._key else name
        cls = type(node)
        if name in cls.model_fields:
            if not self._key and (name in RUNTIME_KEYS or name == "source_path"):
                return getattr(node, name)  # where / how it runs: the model itself
            self._check(key)
            return self._wrap(getattr(node, name), key)
        attr = inspect.getattr_static(node, name, None)
        if name in PROVENANCE or hasattr(BaseModel, name) or attr is None:
            return getattr(node, name)
        if isinstance(attr, property):
            return attr.fget(self) if attr.fget else getattr(node, name)
        if inspect.isfunction(attr):
            return functools.partial(attr, self)  # the method reads fields through this view
        return getattr(node, name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("the config is read-only")

    def __eq__(self, other: object) -> bool:
        return self._node == (other._node if isinstance(other, ConfigView) else other)

    def __hash__(self) -> int:
        return hash(self._node)

    def __repr__(self) -> str:
        return f"ConfigView({self._spec.name}: {self._key or 'config'})"


def config_view(cfg: Config, spec: StageSpec) -> Config:
    """``cfg`` as stage ``spec`` may read it (``ConfigView``; typed as the Config it reads like)."""
    return cast(Config, ConfigView(cfg, spec))


@dataclass
class StageContext:
    """What the runner gives a stage's ``run(ctx)``, built from its ``StageSpec``.

    ``spark``: the session; ``config``: the run's whole config (the runner's); ``cfg``: the
    stage's view of it (``ConfigView``: only ``spec.config`` and the runtime keys, which is
    what the stage's fingerprint covers); ``warnings``: the run's counter (``logs.WarningCounter``; None outside
    a pipeline run, e.g. a stage called directly: its manifest's ``notes.warnings`` is then
    None); ``notes``: the stage's manifest notes (``ctx.publish()``'s writer starts with this
    dict); ``started``: when the stage began (``time.time()`` seconds, taken when the context is
    built, i.e. before the stage reads or computes anything: its manifest's ``started_at`` and
    ``seconds``). Upstream inputs come through ``read`` / ``manifest``, which refuse a stage not in
    ``spec.upstream`` (LookupError: a bug in the stage, exit 1); outputs through ``publish``.
    ``handed``: what the runner prepared for the stage before it started, by name (the pgs
    stage: ``scoring_files.SCORING_FILES_AHEAD``, the scoring files parsed while Spark started);
    the stage checks the type of what it takes and still decides whether it fits (a hint, never
    an input: the fingerprint does not cover it). ``parts_at_start``: the stage's
    ``fingerprint_parts`` when it started (``pipeline.run_stage`` takes them before the stage
    reads anything), which ``publish`` records and checks its inputs against.
    """

    spark: SparkSession
    config: Config
    spec: StageSpec
    warnings: WarningCounter | None = None
    notes: dict[str, object] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    handed: Mapping[str, object] = field(default_factory=dict)

    @cached_property
    def cfg(self) -> Config:
        """The config as this stage may read it (``config_view``)."""
        return config_view(self.config, self.spec)

    @cached_property
    def parts_at_start(self) -> dict[str, Any]:
        """The stage's ``fingerprint_parts`` taken on first use: ``pipeline.run_stage`` uses it
        before the stage reads any input, so the manifest records the inputs the outputs were
        computed from, never ones written while the stage ran (``layout.publish_stage``)."""
        return fingerprint_parts(self.config, self.spec, self.fs)

    @property
    def name(self) -> str:
        """The stage's name (``pgs`` ...)."""
        return self.spec.name

    @cached_property
    def layout(self) -> Layout:
        """Where the release's outputs live (``layout.Layout.of(cfg)``)."""
        return Layout.of(self.config)

    @cached_property
    def fs(self) -> Fs:
        """The Hadoop file system of the session (local paths and object stores)."""
        return Fs(self.spark)

    @property
    def log(self) -> logging.Logger:
        """The stage module's logger (the one its helpers log to: ``trd_spark.<stage>.stage``)."""
        return logging.getLogger(self.spec.module)

    @property
    def warning_count(self) -> int | None:
        """WARNING records logged so far in this stage (None outside a pipeline run)."""
        return None if self.warnings is None else self.warnings.count(self.name)

    def _check_declared(self, stage: str, table: str | None = None) -> None:
        if stage not in self.spec.upstream:
            raise LookupError(f"stage {self.name} reads stage {stage}, which its StageSpec does not declare "
                              f"upstream ({', '.join(self.spec.upstream) or 'none'}): declare it in stages.STAGE_SPECS")
        if table is not None and table not in STAGE_SPECS[stage].tables:
            raise LookupError(f"stage {self.name} reads table {table} of stage {stage}, which declares only "
                              f"{', '.join(STAGE_SPECS[stage].tables)} (schemas.TABLES_BY_STAGE)")

    def table_path(self, stage: str, table: str) -> str:
        """Path of the published Parquet table ``table`` of the declared upstream ``stage``."""
        self._check_declared(stage, table)
        return self.layout.table(stage, table)

    def read(self, stage: str, table: str) -> DataFrame:
        """The published table ``table`` of the declared upstream ``stage`` (Spark DataFrame,
        read lazily). Raises InputDataError naming the path when it is absent, LookupError for
        a stage not in ``spec.upstream`` or a table that stage does not declare."""
        df = self.read_optional(stage, table)
        if df is None:
            raise InputDataError(f"table {table} not found (run `trd-spark {stage}` first)",
                                 where=self.layout.table(stage, table))
        return df

    def read_optional(self, stage: str, table: str) -> DataFrame | None:
        """As ``read``, but None when the table is absent (tables a stage writes only for some
        settings, e.g. models/cox with ``models.cox: false``)."""
        path = self.table_path(stage, table)
        return read_table(self.spark, path) if self.fs.exists(path) else None

    def manifest(self, stage: str) -> dict[str, Any]:
        """The published manifest of the declared upstream ``stage`` ({} when it is not
        complete). Raises LookupError for a stage not in ``spec.upstream``."""
        self._check_declared(stage)
        return (self.layout.manifest(self.fs, stage) or {}) if self.layout.is_complete(self.fs, stage) else {}

    def publish(self) -> AbstractContextManager[StageWriter]:
        """``layout.publish_stage`` of this stage's folder, with the run's warning count,
        ``notes`` (written atomically with its manifest when the block ends without error) and
        ``parts_at_start`` (the fingerprint the manifest records)."""
        return publish_stage(self.spark, self.config, self.name, warnings=self.warnings, notes=self.notes,
                             started=self.started, parts=self.parts_at_start)


def spec_for_output(output: str) -> StageSpec:
    """The spec of the stage publishing folder ``output`` (``export`` -> report)."""
    return next(s for s in STAGE_SPECS.values() if output in s.outputs)


def _resolved_config(cfg: Config) -> dict[str, Any]:
    raw = cfg.model_dump(mode="json")
    # A dict of sets: its items are named by the view as the dict itself (ConfigView._wrap).
    raw["concept_sets"] = cfg.concept_sets.model_dump(mode="json", exclude={"concept_sets": {"__all__": {"description"}}}
                                                      ) if cfg.concept_sets else None
    raw["trait_panel"] = cfg.trait_panel.model_dump(mode="json", exclude={"to_curate"}) if cfg.trait_panel else None
    return raw


# Spark settings that change how fast or where a job runs, never a value it computes (Spark's
# resource, scheduling, shuffle, I/O-tuning and connector settings). Any other key set in
# ``spark.extra_conf`` can change results (``spark.sql.session.timeZone`` turns timestamps into
# other dates; ``spark.sql.ansi.enabled``, ``spark.sql.legacy.*``, the Parquet rebase modes
# change casts and reads), so it is in every stage's slice: setting it reruns everything.
PERFORMANCE_SPARK_CONF = (
    "spark.app.", "spark.broadcast.", "spark.cleaner.", "spark.default.parallelism", "spark.driver.",
    "spark.dynamicAllocation.", "spark.eventLog.", "spark.executor.", "spark.executorEnv.", "spark.hadoop.",
    "spark.jars", "spark.kryo", "spark.local.dir", "spark.locality.", "spark.memory.", "spark.network.",
    "spark.python.daemon.module", "spark.python.worker.memory", "spark.python.worker.reuse",
    "spark.rdd.", "spark.serializer", "spark.shuffle.", "spark.speculation", "spark.sql.adaptive.",
    "spark.sql.autoBroadcastJoinThreshold", "spark.sql.broadcastTimeout", "spark.sql.execution.arrow.",
    "spark.sql.files.maxPartitionBytes", "spark.sql.files.maxPartitionNum", "spark.sql.files.minPartitionNum",
    "spark.sql.files.openCostInBytes", "spark.sql.inMemoryColumnarStorage.", "spark.sql.parquet.compression.codec",
    "spark.sql.shuffle.partitions", "spark.storage.", "spark.submit.", "spark.task.", "spark.ui.", "spark.yarn.",
)
# Under ``spark.sql.files.`` only the split sizes above are tuning: the prefix also holds keys
# that change what a read returns (``ignoreCorruptFiles`` / ``ignoreMissingFiles``: Spark's file
# sources skip an unreadable or vanished part file and return the rest, "the contents that have
# been read will still be returned": Spark 3.5 SQLConf; ``ignoreInvalidPartitionPaths``), and a
# key Spark adds later is a result setting until listed here. Such a key set explicitly to its
# default reruns every stage once (its slice changed), which costs time, never a wrong answer.

# Keys the run refuses when true (``preflight.check_inputs``: one ConfigError naming the key at
# run start): the OMOP and other Spark file reads would drop a part's records with no count.
SKIPPING_SPARK_CONF = ("spark.sql.files.ignoreCorruptFiles", "spark.sql.files.ignoreMissingFiles")


def _is_true(value: object) -> bool:
    # Spark parses a boolean setting trimmed and in any case (SQLConf's toBoolean).
    return str(value).strip().lower() == "true"


def spark_setting_source(key: str, cfg: Config) -> str:
    """Where the Spark setting ``key`` of the running session most likely came from, for its
    error: ``spark.extra_conf.<key>`` (the config), ``PYSPARK_SUBMIT_ARGS`` (``--conf`` in the
    environment of a ``pyspark`` start), the ``spark-defaults.conf`` naming it (under
    ``SPARK_CONF_DIR``, else ``SPARK_HOME/conf``, else PySpark's own ``conf``: where
    spark-submit reads it), else the words for a source not visible from here (``spark-submit
    --conf``, a cluster's defaults)."""
    if key in cfg.spark.extra_conf:
        return f"spark.extra_conf.{key}"
    if key in os.environ.get("PYSPARK_SUBMIT_ARGS", ""):
        return "the environment's PYSPARK_SUBMIT_ARGS"
    conf_dir = os.environ.get("SPARK_CONF_DIR")
    if not conf_dir:
        import importlib.util

        pyspark = importlib.util.find_spec("pyspark")
        home = os.environ.get("SPARK_HOME") or (os.path.dirname(pyspark.origin) if pyspark and pyspark.origin else "")
        conf_dir = os.path.join(home, "conf") if home else ""
    defaults = os.path.join(conf_dir, "spark-defaults.conf") if conf_dir else ""
    try:
        with open(defaults) as f:
            if any(line.split(maxsplit=1)[:1] == [key] for line in f):
                return defaults
    except OSError:
        pass
    return "the session's Spark configuration (spark-submit --conf, a cluster's spark-defaults.conf)"


def check_spark_reads(spark: SparkSession, cfg: Config) -> None:
    """ConfigError when the running session has a key of ``stages.SKIPPING_SPARK_CONF`` true,
    naming the key and where it came from (``spark_setting_source``). ``check_inputs`` refuses
    it in ``spark.extra_conf`` before Spark starts, but Spark also takes settings from
    ``spark-defaults.conf``, ``spark-submit --conf`` and ``PYSPARK_SUBMIT_ARGS``, which the
    config never sees: with one of them the OMOP tables and the stage outputs were read skipping
    any part file Spark could not read, its records dropped with no count. Called by the runner
    (``pipeline.run_stages``) once the session is up, before any stage reads."""
    for key in SKIPPING_SPARK_CONF:
        if _is_true(spark.conf.get(key, "false")):
            source = spark_setting_source(key, cfg)
            raise ConfigError(f"{key}: true in the Spark session, set in {source}, is refused: Spark's file reads (the "
                              "OMOP tables, the stage outputs) would skip a part file they cannot read and drop its "
                              "records with no count; remove the setting and fix or re-copy the unreadable file",
                              where=source if os.path.isfile(source) else cfg.source_path)


def result_spark_conf(cfg: Config) -> dict[str, str]:
    """The ``spark.extra_conf`` entries that may change what a stage computes: every key not
    under ``PERFORMANCE_SPARK_CONF``."""
    return {k: v for k, v in sorted(cfg.spark.extra_conf.items()) if not k.startswith(PERFORMANCE_SPARK_CONF)}


# What a stage's config slice holds for the path of an input it reads (``config_slice``): set
# (a missing optional input is None), its place taken by the input's fingerprint.
INPUT_PATH = "<input: see its fingerprint>"


def slice_keys(spec: StageSpec) -> tuple[str, ...]:
    """The dotted keys of ``spec``'s config slice: its declared ``config`` and each ``LABEL_KEYS`` key
    it does not declare under one of them (the pgs, phenotypes and models stages:
    ``report.small_count_threshold``)."""
    return (*spec.config, *(k for k in LABEL_KEYS if not _under(k, spec.config)))


def config_slice(cfg: Config, spec: StageSpec) -> dict[str, Any]:
    """{dotted key: value} of the config keys ``spec`` declares (``slice_keys``: with the ``LABEL_KEYS``; JSON-ready) minus its
    ``config_exclude`` and the ``TUNING_KEYS`` (the ``PRESENCE_KEYS`` as true / false: set or
    not), and ``spark.extra_conf``: its entries that may change results (``result_spark_conf``).
    The path of each external input the stage reads (``StageSpec.external``) is ``INPUT_PATH``:
    the input's fingerprint keys it (a local one by content), so the same file moved reruns nothing."""
    raw = _resolved_config(cfg)
    for key, _ in spec.external(cfg):
        if "[" not in key:  # a fileset's other files (``key[.bim]``) have no config value of their own
            *parents, leaf = key.split(".")
            at: Any = raw
            for part in parents:
                at = at[int(part)] if isinstance(at, list) else at[part]
            at[int(leaf) if isinstance(at, list) else leaf] = INPUT_PATH
    out = {}
    for key in slice_keys(spec):
        node: Any = raw
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        out[key] = _without(node, key, (*spec.config_exclude, *TUNING_KEYS))
    for dotted in PRESENCE_KEYS:
        for key in out:
            if dotted.startswith(key + "."):
                *parents, leaf = dotted.removeprefix(key + ".").split(".")
                node = out[key]
                for part in parents:
                    node = node.get(part) if isinstance(node, dict) else None
                if isinstance(node, dict) and leaf in node:
                    node[leaf] = node[leaf] is not None
    out["spark.extra_conf"] = result_spark_conf(cfg)
    return out


def _config_models(annotation: Any) -> list[str]:
    """Names of the models of ``trd_spark.config`` in a field's type (``list[Dataset]``,
    ``TraitPanel | None``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation.__name__] if annotation.__module__ == Config.__module__ else []
    return [name for arg in get_args(annotation) for name in _config_models(arg)]


def unread_settings(spec: StageSpec) -> tuple[str, ...]:
    """``config:<Model>`` of each settings model of a top-level config section (``report``:
    ``ReportSettings``) that ``spec`` neither declares in its config (a key under it) nor may read
    (``ConfigView``: a ``MESSAGE_KEYS`` key shapes messages only, its value in no slice), the
    ``RUNTIME_KEYS`` aside (``provenance.RUNTIME_SETTINGS``). ``provenance.code_digests``' ``unread``:
    ``Config`` names each such model as a field's type, and followed from it, a key added to
    ``report`` (``max_pgs_excess_kurtosis``, session 52) or to ``phenotypes.trials``
    (``quantified_liquid_quantity``, session 51) reran the pgs stage, hours of scoring at All of
    Us scale, which cannot read either. A model a stage's code imports by name still counts."""
    read = {key.partition(".")[0] for key in spec.config}
    return tuple(f"{Config.__module__}:{name}" for field_name, info in Config.model_fields.items()
                 if field_name not in read and field_name not in RUNTIME_KEYS
                 for name in _config_models(info.annotation))


def stage_code(spec: StageSpec) -> dict[str, str]:
    """``provenance.code_digests`` of the stage's module, the settings models it cannot read left
    out (``unread_settings``): the ``code`` of its fingerprint."""
    return code_digests(spec.module, unread=unread_settings(spec))


def _without(node: Any, key: str, exclude: tuple[str, ...]) -> Any:
    """``node`` (the value at dotted ``key``) without the excluded dotted keys below it. A
    list's items are under the list's key (``datasets.role``: every dataset's role), as
    ``ConfigView`` names them."""
    if isinstance(node, list):
        return [_without(v, key, exclude) for v in node]
    if not isinstance(node, dict):
        return node
    return {k: _without(v, f"{key}.{k}", exclude) for k, v in node.items() if f"{key}.{k}" not in exclude}


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _local_files(path: str) -> list[str]:
    """Files matching a local path or glob; a directory gives every file below it, through
    symbolic links to directories too (an OMOP folder of links to the tables: os.walk's default
    left them out, so their files changed without a rerun), each real directory walked once."""
    hits = sorted(glob.glob(path)) if glob.has_magic(path) else ([path] if os.path.exists(path) else [])
    out = []
    for hit in hits:
        if not os.path.isdir(hit):
            out.append(hit)
            continue
        seen: set[str] = set()
        for d, dirs, names in os.walk(hit, followlinks=True):
            real = os.path.realpath(d)
            if real in seen:  # a link cycle, or a folder linked twice
                dirs[:] = []
                continue
            seen.add(real)
            out += sorted(os.path.join(d, f) for f in names)
    return sorted(out)


# A local input file is read (hashed) only when its stat (size, mtime, ctime, inode) differs from
# the one its stage's manifest recorded with its digest (``STAT_RECORD``), whatever its size: a
# rerun over thousands of unchanged OMOP part files or VCF shards reads none of them. A file
# over this size is named in the log when it is read (it takes seconds to minutes).
CONTENT_DIGEST_MAX_BYTES = 256 * 2**20
# An input fingerprint's keys not compared: ``STAT_RECORD`` (a cache of digests and checksums) and
# an object-store folder's latest mtime (a metadata-only update moves it; every file's version is
# in the digest: ``io.listing_version``).
NOT_COMPARED = (STAT_RECORD, "mtime_ms", "entries")
# A local input folder's digest per entry directly below it (an OMOP table's file or folder),
# kept in the stage's manifest (``fingerprint_parts``) so that a rerun reason names the entries
# that changed ("input omop.path changed (<path>: drug_exposure changed)"); not compared: the
# input's digest covers them. At most this many are named.
NAMED_ENTRIES = 10
# A stat is recorded only for a file whose ctime is at least this much older than the moment the
# stat was taken ("racily clean", as git's index): a write within the same file-system clock
# tick as the one before the stat (a tick can be milliseconds, a network file system's clock a
# little off ours) can leave size, mtime, ctime and inode as they were, so such a file is hashed
# again by the next run rather than trusted.
RACY_NS = 2 * 10**9


# File systems whose kernel sets a file's ctime on every change (bytes, mtime, owner) and keeps
# inodes, so an unchanged [size, mtime, ctime, inode] means unchanged bytes. On others (FUSE
# mounts such as gcsfuse, which report ctime = mtime; CIFS; NFS, whose client caches attributes)
# a file up to ``CONTENT_DIGEST_MAX_BYTES`` is hashed by every plan, as before, and a larger one
# trusts its record as before.
CTIME_FILE_SYSTEMS = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "overlay", "zfs", "f2fs", "lustre",
                                "gpfs"})


@functools.lru_cache(maxsize=1)
def _file_system_types() -> dict[int, str]:
    """{st_dev: file-system type} of this process's mounts (``/proc/self/mountinfo``: field 3
    is major:minor, the type follows the `` - `` separator); {} where there is none."""
    out = {}
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                major, minor = fields[2].split(":")
                out[os.makedev(int(major), int(minor))] = fields[fields.index("-") + 1]
    except (OSError, ValueError, IndexError):
        return {}
    return out


# Room for every file of a sharded input (a VCF in thousands of parts): a run fingerprints a
# stage's inputs up to three times (the plan, the stage's start, the check before it publishes).
@functools.lru_cache(maxsize=1 << 16)
def _content_digest(path: str, size: int, mtime_ns: int, ctime_ns: int, inode: int) -> str:
    """SHA-256 of a file's bytes. Cached by its stat (``ctime`` and inode included: any write
    changes ``ctime``, even one that restores size and ``mtime``), so a run that fingerprints an
    input twice (plan, then the manifest) reads it once."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_sha256(path: str) -> str:
    """SHA-256 of a local file's bytes (hex), read once per file state: the digest the input
    fingerprint of the same file took in this process is reused (``_content_digest``'s cache)."""
    st = os.stat(path)
    return _content_digest(path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _local_file_state(path: str, recorded: dict[str, list] | None = None,
                      stats: dict[str, list] | None = None) -> tuple[str, int, str]:
    """(name, bytes, "sha256:<content digest>") of a local file. A file whose [size, mtime_ns,
    ctime_ns, inode] equals the one in ``recorded`` (its stage manifest's ``stat`` record) takes
    the digest recorded with it instead of being read; its [stat..., digest] is added to
    ``stats`` unless its ctime is within ``RACY_NS`` of now (then the next run reads it again).
    A file up to ``CONTENT_DIGEST_MAX_BYTES`` on a file system not in ``CTIME_FILE_SYSTEMS`` is
    read every time (a FUSE mount's ctime is its mtime: a same-size copy keeping the mtime
    would keep the whole stat).
    Any write changes ctime, even one that restores size and mtime (``cp -p`` over the file,
    ``touch -r``), so a same-size, same-mtime replacement is read and seen; a chmod or the same
    bytes copied back cost one read and rerun nothing."""
    now = time.time_ns()
    st = os.stat(path)
    key = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
    before = (recorded or {}).get(path)
    trusted = st.st_size > CONTENT_DIGEST_MAX_BYTES or _file_system_types().get(st.st_dev) in CTIME_FILE_SYSTEMS
    if trusted and isinstance(before, list) and len(before) == 5 and before[:4] == key:
        digest = str(before[4])
    else:
        if st.st_size > CONTENT_DIGEST_MAX_BYTES:
            logging.getLogger(__name__).info("hashing %s (%.1f GiB) to see whether its content changed",
                                             path, st.st_size / 2**30)
        digest = _content_digest(path, *key)
    if stats is not None and st.st_ctime_ns < now - RACY_NS:
        stats[path] = [*key, digest]
    return path, st.st_size, "sha256:" + digest


def input_fingerprint(path: str, fs: Any = None, recorded: dict[str, list] | None = None) -> dict[str, object]:
    """Fingerprint of an input file, directory or glob: file count, total bytes and a digest
    of every file's (name, size, content). Local paths are read with ``os`` (so ``explain``
    needs no Spark); a local file's content is its SHA-256 (a file replaced with the same size
    and mtime reruns; a touched file with the same bytes does not), each file read only when
    its stat differs from ``recorded`` (the ``STAT_RECORD`` entry of the same input in the
    stage's manifest: ``_local_file_state``; this fingerprint carries the new one, which
    ``rerun_reasons`` does not compare). URIs are read with ``fs``
    (``io.Fs``: Hadoop's size + mtime; an object store gives an overwritten object a new
    mtime). ``exists`` is False when nothing matches."""
    local = local_path(path)
    if local is None:
        if fs is None or not hasattr(fs, "fingerprint"):
            return {"path": path, "exists": None}  # an object store, not reachable without Spark
        if glob.has_magic(path):
            return files_fingerprint(path, fs.glob_files(path), fs, recorded)
        return fs.fingerprint(path, recorded)
    return files_fingerprint(path, _local_files(local), fs, recorded)


def files_fingerprint(path: str, files: list[str] | None, fs: Any = None,
                      recorded: dict[str, list] | None = None) -> dict[str, object]:
    """``input_fingerprint`` of the input ``path`` (a config value) taken over the given
    ``files`` only (the files the stage reads from it: ``StageSpec.input_files``): local files
    by content (``_local_file_state``), URIs by ``fs.fingerprint`` of each; ``exists`` None when
    ``files`` is None (URIs not listed without Spark), False when it is empty."""
    if files is None:
        return {"path": path, "exists": None}
    stats: dict[str, list] = {}
    if local_path(path) is None:
        if not glob.has_magic(path) and files:  # a folder's files: one listing, not one per file
            whole = fs.fingerprint(path, recorded, only=set(files))
            if whole.get("files") == len(set(files)):  # every file found in the listing, else per file
                return whole
        parts = []
        under = _content_root(path).rstrip("/") + "/"
        for fp in (fs.fingerprint(p, recorded) for p in files):
            stats.update(fp.get(STAT_RECORD) or {})
            parts.append({k: v for k, v in fp.items() if k not in NOT_COMPARED})
        # Every file versioned by its bytes (the store's checksum): each named under the input, as a
        # local input's files, so the same objects elsewhere give the same digest (BY_CONTENT).
        by_content = bool(parts) and all(fp.get(BY_CONTENT) and str(fp["path"]).startswith(under) for fp in parts)
        if by_content:
            parts = [{**fp, "path": str(fp["path"])[len(under):]} for fp in parts]
        return {"path": path, "exists": bool(parts), "files": len(parts), "digest": _digest(parts),
                BY_CONTENT: by_content, **({STAT_RECORD: stats} if stats else {})}
    states = [_local_file_state(f, recorded, stats) for f in files]
    # Keyed by content: each file by its name under the input (``_content_root``), not its path,
    # so the same files moved or copied elsewhere give the same digest (pgsc_calc / Nextflow's
    # content-addressed cache); ``path`` is provenance, not compared (``compared_inputs``).
    named = [(os.path.relpath(name, _content_root(path)), size, digest) for name, size, digest in states]
    out: dict[str, object] = {"path": path, "exists": bool(files), "files": len(files),
                              "bytes": sum(s[1] for s in states), "digest": _digest(named)}
    root = local_path(path)
    if root is not None and not glob.has_magic(root) and os.path.isdir(root):
        by_entry: dict[str, list] = {}
        for state in states:
            by_entry.setdefault(os.path.relpath(state[0], root).split(os.sep)[0], []).append(state)
        out["entries"] = {entry: _digest(group)[:16] for entry, group in sorted(by_entry.items())}
    if stats:
        out[STAT_RECORD] = stats
    return out


def _content_root(path: str) -> str:
    """What a local input's files are named under in its content digest (``files_fingerprint``):
    a file itself (its name plays no part: ``.``), a folder (its files' paths in it), a glob's
    folder before its first wildcard (``/x/scores/*.txt`` -> ``/x/scores``: the matched names)."""
    local = local_path(path) or path
    if not glob.has_magic(local):
        return local
    fixed = []
    for part in local.split(os.sep):
        if glob.has_magic(part):
            break
        fixed.append(part)
    return os.sep.join(fixed) or os.sep


def _entry_changes(before: Mapping[str, Any] | None, now: Mapping[str, Any]) -> str | None:
    """"<entry> added / removed / changed, ..." between two fingerprints of a local input folder
    (their ``entries``: ``files_fingerprint``); None when either has none (a file, a URI, a
    manifest of an older version) or no entry differs."""
    old, new = (before or {}).get("entries"), now.get("entries")
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return None
    changed = sorted(e for e in {*old, *new} if old.get(e) != new.get(e))
    words = [f"{e} {'added' if e not in old else 'removed' if e not in new else 'changed'}"
             for e in changed[:NAMED_ENTRIES]]
    more = [f"{len(changed) - NAMED_ENTRIES} more"] if len(changed) > NAMED_ENTRIES else []
    return ", ".join(words + more) or None


def input_files(cfg: Config, spec: StageSpec, fs: Any = None) -> dict[str, list[str] | None]:
    """{dotted key: files} of the inputs whose read files ``spec.input_files`` names (others
    are fingerprinted whole); URIs listed through ``fs`` when it is ``io.Fs``."""
    if spec.input_files is None:
        return {}
    module, _, name = spec.input_files.partition(":")
    hadoop = fs if fs is not None and hasattr(fs, "fingerprint") else None
    return cast(dict[str, "list[str] | None"], getattr(declared_import(spec, module), name)(cfg, hadoop))


def declared_import(spec: StageSpec, module: str) -> Any:
    """``importlib.import_module(module)`` for stage ``spec`` (its ``module``, its ``input_files``
    function's), refused with LookupError when ``module`` is not a module of the package that
    the stage's code digest covers (``provenance.code_digests(spec.module)``): provenance reads
    a name imported by string as one of the modules this file spells in its strings, so a
    module named otherwise (computed, or declared outside this file) would run code no
    fingerprint holds, and an edit to it would rerun nothing."""
    if module not in stage_code(spec):
        raise LookupError(f"stage {spec.name} imports {module} by name, which its code digest does not cover "
                          f"(provenance.code_digests): name the module as a string in stages.STAGE_SPECS")
    return importlib.import_module(module)


def fingerprint_parts(cfg: Config, spec: StageSpec, fs: FsLike, recorded: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a stage's fingerprint is made of: config slice digest, the code it runs
    (``provenance.code_digests``: {module or ``lib:<name>``: digest or version}), upstream run
    ids (None when an upstream is not complete) and external input fingerprints. ``recorded``:
    input fingerprints taken before (``["inputs"]`` of earlier parts) whose ``STAT_RECORD``
    entries spare reading unchanged files again; default: those of the stage's manifest."""
    layout = Layout.of(cfg)
    upstream = {}
    for u in spec.upstream:
        m = layout.manifest(fs, u) if layout.is_complete(fs, u) else None
        upstream[u] = (m or {}).get("run_id")
    stats = _stat_records(recorded) if recorded is not None else _published_stat_records(layout, fs, spec.name)
    selected = input_files(cfg, spec, fs)

    def one(key: str, path: str) -> dict[str, object]:
        return files_fingerprint(path, selected[key], fs, stats) if key in selected else (
            input_fingerprint(path, fs, stats))

    return {
        "config": _digest(config_slice(cfg, spec)),
        "code": {**stage_code(spec), **java_digests(spec.module, _java_home, running=_running_java)},
        "upstream": upstream,
        "inputs": {key: one(key, path) for key, path in spec.external(cfg)},
    }


def _java_home() -> str:
    """``session.java_home_in_use`` (imported here: the session module is not needed otherwise)."""
    from trd_spark.session import java_home_in_use

    return java_home_in_use()


def _running_java(names: tuple[str, ...]) -> dict[str, str] | None:
    """``session.running_java_properties`` (imported here, as ``_java_home``)."""
    from trd_spark.session import running_java_properties

    return running_java_properties(names)


def _stat_records(inputs: Mapping[str, Any]) -> dict[str, list]:
    """The ``STAT_RECORD`` entries of every input of ``fingerprint_parts(...)["inputs"]``, merged
    ({file path or URI: record}: a record names its file and holds its whole stat, so which
    input it came from does not matter)."""
    out: dict[str, list] = {}
    for fp in inputs.values() if isinstance(inputs, Mapping) else ():
        records = fp.get(STAT_RECORD) if isinstance(fp, Mapping) else None
        out.update(records if isinstance(records, Mapping) else {})
    return out


def _published_stat_records(layout: Layout, fs: FsLike, stage: str) -> dict[str, list]:
    """``_stat_records`` of ``stage``'s manifest in this release; when it has none (a new
    release), those of the same stage in the other releases under the output root: a record is
    as sound from another release (same path, same size, mtime, ctime and inode), so the
    genotypes or OMOP parts a new release shares with the last one are not read again. A
    manifest of another release that cannot be read is passed over (a hint, not an input)."""
    own = _stat_records(((layout.manifest(fs, stage) or {}).get("fingerprint_parts") or {}).get("inputs") or {})
    listdirs = getattr(fs, "listdirs", None)
    if own or listdirs is None:
        return own
    for release in listdirs(layout.output_root):
        if release == layout.release:
            continue
        try:
            parts = (Layout(layout.output_root, release).manifest(fs, stage) or {}).get("fingerprint_parts")
        except InputDataError:
            continue
        own.update(_stat_records(parts.get("inputs") or {}) if isinstance(parts, Mapping) else {})
    return own


def compared_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """``fingerprint_parts(...)["inputs"]`` without the ``NOT_COMPARED`` entries (stat records,
    an object-store folder's latest mtime) and, for a local input or an object-store one whose
    every file the store versions by a checksum of its bytes (``io.BY_CONTENT``: gs://'s CRC32C),
    without its ``path`` (its digest names its files by content under the input:
    ``files_fingerprint``, ``io.listing_fingerprint``): what says whether an input changed. An
    input versioned otherwise keeps its path (HDFS's mtime, a store giving no checksum: no
    content digest, so the same versions elsewhere are not the same bytes). On gs:// the content
    key is each file's name under the input, size and 32-bit CRC32C, no bucket: a CRC collision
    of every changed file (about 2^-32 each) reruns nothing, accepted (``io.listing_version``)."""
    def kept(k: str, fp: Mapping[str, Any]) -> bool:
        content = local_path(str(fp[k])) is not None or fp.get(BY_CONTENT) is True
        return k not in NOT_COMPARED and not (k == "path" and "digest" in fp and content)
    return {key: {k: v for k, v in (fp or {}).items() if kept(k, fp)} for key, fp in inputs.items()}


def recorded_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """``compared_inputs`` with each input's ``path`` kept: the manifest's ``inputs``, which say
    which files the outputs were read from (provenance; a local input's path is no key)."""
    return {key: {"path": (inputs.get(key) or {}).get("path"), **fp} if inputs.get(key) else fp
            for key, fp in compared_inputs(inputs).items()}


def fingerprint(parts: dict[str, Any]) -> str:
    """SHA-256 of ``fingerprint_parts`` (inputs as ``compared_inputs``: the same code, config,
    upstream outputs and input bytes give the same fingerprint, whatever the files' stat)."""
    return _digest({**parts, "inputs": compared_inputs(parts.get("inputs") or {})})


def _changed_keys(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ, descending into mappings (report.small_count_threshold)."""
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out += _changed_keys(a, b, f"{prefix}{k}.")
        else:
            out.append(f"{prefix}{k}")
    return out


def _scoring_file_changes(manifest: dict[str, Any], now: dict[str, Any], files: list[str] | None) -> str | None:
    """Which local files of a ``pgs.scoring_files`` entry (``now``: its new input fingerprint;
    ``files``: the files the stage reads from it now, ``input_files``) differ from those the
    published scores were read from (the pgs manifest's ``notes.scoring_files``: each file's
    path and SHA-256): "<path> edited", "<path> removed" (or no longer read), and the files
    read now that the scores were not read from (new ones). The fingerprint takes a glob or directory as one digest, so without
    this the reason names only the entry. None for an entry on an object store or a manifest
    without the notes (an older pgs stage, a test's stand-in)."""
    pattern = local_path(str(now.get("path", "")))
    made = (manifest.get("notes") or {}).get("scoring_files")
    if not pattern or not isinstance(made, dict):
        return None
    read = {local_path(e["path"]) or e["path"]: e["sha256"] for by_build in made.values()
            for e in by_build.values() if isinstance(e, dict) and "sha256" in e and "path" in e}
    files = files if files is not None else _local_files(pattern)
    large = now.get(STAT_RECORD) or {}  # a file's digest, taken without reading it again

    def digest(p: str) -> str:
        return str(large[p][4]) if p in large else file_sha256(p)

    def in_entry(p: str) -> bool:  # a file gone since: was it this entry's?
        return fnmatch.fnmatchcase(p, pattern) if glob.has_magic(pattern) else (
            p == pattern or p.startswith(pattern.rstrip("/") + "/"))

    parts = [f"{p} edited" for p in sorted(read) if p in files and digest(p) != read[p]]
    parts += [f"{p} removed" for p in sorted(read) if p not in files and in_entry(p)]
    others = [p for p in files if p not in read]
    if others:
        parts.append(f"not among the files the published scores were read from: {', '.join(others)}")
    return "; ".join(parts) or None


def changed_inputs(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """Sorted keys of the external inputs whose fingerprints differ between two
    ``fingerprint_parts(...)["inputs"]`` (an input added or gone counts); the ``NOT_COMPARED``
    entries (a cache of digests, an object-store folder's latest mtime) are not compared."""
    old, new = compared_inputs(before), compared_inputs(now)
    return sorted(k for k in {*old, *new} if old.get(k) != new.get(k))


def rerun_reasons(cfg: Config, spec: StageSpec, fs: FsLike, *, upstream_reruns: Set[str] = frozenset()) -> list[str]:
    """Why ``spec`` must run (empty: its published outputs are up to date).

    ``upstream_reruns``: stages that will run before it in this run (explain's dry run; a real
    run sees their new run ids in their manifests instead)."""
    layout = Layout.of(cfg)
    reasons = [f"upstream {u} reruns" for u in spec.upstream if u in upstream_reruns]
    missing = [o for o in spec.outputs if not layout.is_complete(fs, o)]
    if missing:
        return reasons + [f"no complete output ({', '.join(missing)})"]
    for out in spec.outputs:
        changed = layout.changed_outputs(fs, out)
        if changed:
            reasons.append(f"output {out} changed since it was published ({', '.join(changed)})")
    m = layout.manifest(fs, spec.name) or {}
    # A run stopped (kill -9) between publishing the stage's folder and another one it publishes
    # under the same run id (report/, then export/: ``notes.published_with_run_id``) left that
    # one of an earlier run: complete, but not what the stage's last run made.
    for out in (m.get("notes") or {}).get(PUBLISHED_WITH_RUN_ID) or []:
        if not made_by_same_run(layout.manifest(fs, out), m):
            reasons.append(f"output {out} is not the one the last {spec.name} run made (stopped before publishing it)")
    old = m.get("fingerprint_parts")
    if not old:
        return reasons + ["published without a stage fingerprint (older version)"]
    if not isinstance(old, dict) or not {"config", "upstream", "inputs"} <= old.keys():
        # A manifest cut down by hand or by another tool: a KeyError traceback in `run`, `explain`
        # and `releases` before; nothing to compare, so the stage reruns.
        return reasons + ["published with an incomplete stage fingerprint (manifest edited?)"]
    new = fingerprint_parts(cfg, spec, fs)
    selected = input_files(cfg, spec, fs)
    if old["config"] != new["config"]:
        keys = _changed_keys(m.get("config") or {}, config_slice(cfg, spec))
        reasons.append(f"config changed: {', '.join(keys) or 'slice'}")
    if "code" not in old:
        reasons.append("published by an older trd-spark (no per-module code digest)")
    elif (code := recorded_code(old["code"], new["code"])) != new["code"]:
        reasons.append(f"code changed: {', '.join(_changed_keys(code, new['code']))}")
    for u, run_id in new["upstream"].items():
        if u not in upstream_reruns and old["upstream"].get(u) != run_id:
            reasons.append(f"upstream {u} was republished" if run_id else f"upstream {u} is not complete")
    for key in changed_inputs(old["inputs"], new["inputs"]):
        now = new["inputs"].get(key) or {}
        state = "not found" if now.get("exists") is False else "changed"
        files = (_scoring_file_changes(m, now, selected.get(key)) if key.startswith("pgs.scoring_files.")
                 else _entry_changes(old["inputs"].get(key), now))
        reasons.append(f"input {named_key(key, cfg)} {state} ({now.get('path', 'removed')}{': ' + files if files else ''})")
    return reasons


def plan(cfg: Config, fs: FsLike) -> dict[str, list[str]]:
    """{stage: reasons} for a full ``trd-spark run`` now, in run order (empty list: skipped).
    A stage that would run makes its downstream stages run (``upstream X reruns``)."""
    out: dict[str, list[str]] = {}
    for spec in STAGE_SPECS.values():
        out[spec.name] = rerun_reasons(cfg, spec, fs, upstream_reruns={s for s, r in out.items() if r})
    return out


# The work folders a run writes in its release folder before renaming one into place
# (``layout.publish_stage``, ``layout.write_folder``: ``.<stage or export>.inprogress-<id>``, and
# ``.<name>.replaced-<id>``, the folder being replaced): a run killed or stopped meanwhile leaves them.
WORK_FOLDER_KINDS = ("inprogress", "replaced")


def leftover_work(layout: Layout, fs: Any) -> list[str]:
    """Names of the work folders (``WORK_FOLDER_KINDS``) of the stages and ``export/`` in
    ``layout.release_dir``, sorted: what an interrupted run left. Never an output (only a rename
    makes a folder visible, and no rerun decision reads them), but a stage's publication removed
    only its own, so one left beside a stage that is then up to date stayed for good (a killed
    ``--force`` rerun of pgs: its scores' size again on disk, unnamed); ``explain`` names them and
    every run of the release removes them (``pipeline.remove_leftover_work``). [] for an ``fs``
    that cannot list folders."""
    listdirs = getattr(fs, "listdirs", None)
    if listdirs is None:
        return []
    prefixes = tuple(f".{out}.{kind}-" for out in (*STAGES, EXPORT) for kind in WORK_FOLDER_KINDS)
    return sorted(n for n in listdirs(layout.release_dir) if n.startswith(prefixes))


def explain(cfg: Config, fs: FsLike, stages: list[str] | None = None) -> str:
    """Text: per stage, whether (and why) ``trd-spark run`` would rerun it, the config keys,
    upstream tables and external files it reads, and what it writes; then the work folders an
    interrupted run left in the release folder (``leftover_work``). Paths only, no data."""
    layout = Layout.of(cfg)
    lines: list[str] = []
    for stage, reasons in plan(cfg, fs).items():
        spec = STAGE_SPECS[stage]
        if stages and stage not in stages:
            continue
        lines.append(f"{spec.name}: {'would rerun: ' + '; '.join(reasons) if reasons else 'up to date'}")
        lines.append(f"  config: {', '.join(slice_keys(spec))}"
                     + (f" (except {', '.join(spec.config_exclude)})" if spec.config_exclude else ""))
        for u in spec.upstream:
            lines.append(f"  reads {u}: {', '.join(STAGE_SPECS[u].tables) or ', '.join(STAGE_SPECS[u].files)}")
        for key, path in spec.external(cfg):
            lines.append(f"  reads {named_key(key, cfg)}: {path}")
        for out in spec.outputs:
            names = [f"{t}.parquet" for t in spec.tables] + list(spec.files) if out == spec.name else list(spec.files)
            lines.append(f"  writes {layout.stage_dir(out)}/: {', '.join([*names, MANIFEST, SUCCESS])}")
    left = leftover_work(layout, fs)
    if left:
        lines.append(f"left by an interrupted run in {layout.release_dir}/ (removed by the next `run` of this "
                     f"release; no output): {', '.join(left)}")
    return "\n".join(lines)


def external_inputs(cfg: Config, stages: list[str]) -> list[tuple[str, str]]:
    """(config key, path) of every external input of ``stages`` (``StageSpec.external``: a
    PLINK / pgen ``path`` comes as its three files, ``stages.plink_fileset_inputs``), distinct,
    in declaration order: what ``missing_inputs`` checks and ``uri_inputs`` leaves to the readers."""
    return list(dict.fromkeys((key, path) for stage in stages for key, path in STAGE_SPECS[stage].external(cfg)))


def missing_inputs(cfg: Config, stages: list[str]) -> list[tuple[str, str]]:
    """(config key, path) of every local external input (``external_inputs``) of ``stages``
    whose path or glob matches nothing; a ``file://`` path is local too (read by
    ``stages.input_fingerprint`` with ``os``). Object stores and HDFS are checked by the reader,
    with the same key in its error (``uri_inputs``)."""
    return [(key, path) for key, path in external_inputs(cfg, stages)
            if (local := local_path(path)) is not None and not glob.glob(local)]
