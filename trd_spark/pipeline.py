"""Runs stages in order, skipping those whose published fingerprint is current (trd_spark.stages)."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import SparkSession

from trd_spark.config import Config, local_path, named_key
from trd_spark.errors import ConfigError, InputDataError, Interrupted, TrdSparkError
from trd_spark.io import Fs, LocalFs
from trd_spark.layout import EXPORT, STAGES, Layout
from trd_spark.logs import Heartbeat, WarningCounter, count_text
from trd_spark.preflight import check_audit_roots
from trd_spark.releases import ExportLock, needs_spark_to_plan
from trd_spark.schemas import TABLES_BY_STAGE, check_struct
from trd_spark.stages import (
    STAGE_SPECS,
    FsLike,
    StageContext,
    changed_inputs,
    check_spark_reads,
    config_view,
    fingerprint_parts,
    leftover_work,
    rerun_reasons,
)

log = logging.getLogger(__name__)


def run_stage(spark: SparkSession, cfg: Config, stage: str, *, warnings: WarningCounter | None = None,
              handed: Mapping[str, object] | None = None) -> object:
    """Run ``stage`` now, whatever its published state (no fingerprint, upstream or schema
    check: ``run_stages`` does those), and return what its ``run(ctx)`` returns. The stage
    gets a ``StageContext`` built from its ``StageSpec`` (with ``handed``: what the runner
    prepared for it, ``scoring_files_parsed_ahead``'s); its WARNING records are counted
    under its name in ``warnings`` (a fresh counter, attached for this call, when None), so
    its manifest's ``notes.warnings`` is always a count. The stage's fingerprint is taken
    before it starts (``StageContext.parts_at_start``): its manifest records the inputs as they
    were before it read them, and an input changed while it ran publishes nothing."""
    counter = warnings if warnings is not None else WarningCounter()
    # The stage publishing the export holds the output root's export lock throughout: its audit
    # reads every export published there, and two releases' reports at once each missed the
    # other's new export (``releases.ExportLock``; here, not in the report's code, so taking it
    # reruns no report).
    exporting = ExportLock(cfg, Fs(spark)) if EXPORT in STAGE_SPECS[stage].outputs else contextlib.nullcontext()
    with counter.attached(), counter.stage_scope(stage), exporting:
        ctx = StageContext(spark, cfg, STAGE_SPECS[stage], counter, handed=dict(handed or {}))
        ctx.parts_at_start  # noqa: B018 - the inputs' fingerprint before the stage reads them (publish checks it)
        result = STAGE_SPECS[stage].runner()(ctx)
        # Still under the export lock (the report's): compare-releases publishes under it.
        mark_comparisons(spark, cfg, stage)
        return result


def mark_comparisons(spark: SparkSession | None, cfg: Config, stage: str) -> None:
    """After ``stage`` published: when a comparison reads its outputs (``compare.COMPARED_STAGES``),
    mark each comparison of ``cfg.release`` it put out of date not for export in its
    ``_disclosure.json`` (``compare.mark_out_of_date_comparisons``), one INFO line each; the run's
    closing WARNING names them (``cli._warn_out_of_date_comparisons``). Here, not at the run's end:
    a run stopped after this stage would leave the folder saying ``for_export: true``. A folder
    that cannot be written is one WARNING, not a failed run: the stage is published."""
    from trd_spark.config import local_path
    from trd_spark.report.compare import COMPARED_STAGES, mark_out_of_date_comparisons

    if stage not in COMPARED_STAGES:
        return
    # Local outputs through os: Hadoop's local file system would add a .crc beside the file.
    fs = LocalFs() if local_path(cfg.output_root) is not None or spark is None else Fs(spark)
    try:
        for line in mark_out_of_date_comparisons(fs, cfg.output_root, cfg.release):
            log.info("%s", line)
    except Exception as e:  # noqa: BLE001 - any storage error: said, and `trd-spark releases` lists the folders
        log.warning("the comparisons of release %s under %s could not be marked out of date after its %s stage "
                    "(%s): `trd-spark releases` lists those out of date", cfg.release, cfg.output_root, stage, e)


@dataclass
class StageResult:
    """What one stage did in a run: ``ran`` or ``skipped``, wall time, rows per table, warnings."""
    stage: str
    status: str  # "ran" | "skipped"
    seconds: float
    tables: dict[str, int]
    warnings: int = 0  # WARNING records logged by the stage (skipped: those of the run that published it)


def summary_table_counts(stage: str, tables: dict[str, int], persons_below: int) -> str:
    """The run summary's ``name=rows`` list of one stage's tables (``StageResult.tables``).

    Row counts of tables whose rows are not persons (flows, counts, model rows, variants) are
    printed plainly (``consistency=3``): they count steps, models or time points, not persons.
    A table whose rows are persons or person-level records (its declared schema has
    ``person_id``: scores, persons, trials, phenotypes, analysis_frame) or a table with no
    declared schema keeps the small-count rule (``<20`` for 1 to ``persons_below`` - 1;
    ``logs.count_text``). A table whose number of rows tells what the export hides
    (``TableSchema.rows_not_logged``: replication, km_curves) reads ``not logged``. A stage that
    writes no table (the report) has its files instead (``stage_files_text``)."""
    schemas = {t.name: t for t in TABLES_BY_STAGE.get(stage, [])}

    def shown(name: str, n: int) -> str:
        schema = schemas.get(name)
        if schema is not None and schema.rows_not_logged:
            return "not logged"
        return count_text(n, persons_below=persons_below if schema is None or schema.rows_are_persons else None)

    if not tables and stage in STAGE_SPECS and not STAGE_SPECS[stage].tables:
        return stage_files_text(stage)
    return ", ".join(f"{k}={shown(k, v)}" for k, v in tables.items())


def stage_files_text(stage: str) -> str:
    """What a stage that writes no Parquet table (the report) publishes, for its run-summary row,
    relative to the summary's ``outputs under <release>/`` line: ``report/report.html, report/
    <table>.tsv; export/`` (``StageSpec.files`` and ``publishes``). Before session 52 the report's
    row ended blank after its warnings count, as if the stage had written nothing."""
    spec = STAGE_SPECS[stage]
    files = ", ".join(f"{stage}/{name}" for name in spec.files)
    return "; ".join(part for part in (files, ", ".join(f"{folder}/" for folder in spec.publishes)) if part)


def remove_leftover_work(fs: FsLike, layout: Layout) -> list[str]:
    """Remove the work folders an interrupted run left in the release folder
    (``stages.leftover_work``: ``.pgs.inprogress-<id>`` ...), one INFO line each; their names.
    Called by every run with the release lock held (``cli``: taken before ``skip_all_without_spark``
    and ``run_stages``), so no other run of the release is writing one. Before session 50 only
    the stage that published again removed its own: beside a stage then up to date (a killed
    ``--force`` rerun, an input put back) they stayed, unnamed. ``fs``: ``io.Fs`` (a recursive
    delete), else a local output root (``shutil.rmtree``)."""
    names = leftover_work(layout, fs)
    for name in names:
        path = f"{layout.release_dir}/{name}"
        log.info("removing %s, left by an interrupted run (no output: only a rename publishes one)", path)
        if isinstance(fs, Fs):
            fs.delete(path)
        else:
            shutil.rmtree(local_path(path) or path, ignore_errors=True)
    return names


def _check_upstream_complete(fs: FsLike, layout: Layout, cfg: Config, todo: list[str]) -> None:
    """A stage run without its upstream stages reads their published outputs: they must exist
    and hold what their manifests recorded (``Layout.changed_outputs``: not deleted or edited
    since they were published)."""
    for stage in todo:
        for u in STAGE_SPECS[stage].upstream:
            if u in todo:
                continue
            if not layout.is_complete(fs, u):
                raise ConfigError(f"stage {stage} reads the {u} outputs, which are not complete in "
                                  f"{layout.release_dir}: run `trd-spark {u}` (or `run`) first", where=cfg.source_path)
            changed = layout.changed_outputs(fs, u)
            if changed:
                raise ConfigError(f"stage {stage} reads the {u} outputs, which changed since they were published "
                                  f"({', '.join(changed)}): run `trd-spark {u}` (or `run`) first", where=cfg.source_path)
    _check_left_out_current(fs, layout, cfg, todo)


def upstream_closure(stages: list[str]) -> list[str]:
    """The stages ``stages`` read from, directly or not, that are not among them (run order)."""
    todo, seen = set(stages), set()
    frontier = [u for s in stages for u in STAGE_SPECS[s].upstream]
    while frontier:
        u = frontier.pop()
        if u not in seen and u not in todo:
            seen.add(u)
            frontier += STAGE_SPECS[u].upstream
    return [s for s in STAGES if s in seen]


def _check_left_out_current(fs: FsLike, layout: Layout, cfg: Config, todo: list[str]) -> None:
    """Before the run's first stage: each stage ``todo`` reads from, directly or not, that is
    left out of the run (``upstream_closure``) and complete must be one ``run`` would not rerun
    (``rerun_reasons``, the judgement of ``explain`` and ``releases``: its code, config slice and
    inputs as when it published). Its run id is unchanged while it is out of date, so ``trd-spark
    cohort`` or ``run --stages cohort models report`` after an OMOP part changed said "up to date,
    skipped" of stages computed from the phenotypes of the old part (session 45 rerun38). One not
    complete, not read directly (a direct one is refused by ``_check_upstream_complete``), has
    nothing to judge. ConfigError naming the stale stage, the first reason and what to run."""
    for u in upstream_closure(todo):  # run order: the first to rerun
        if not layout.is_complete(fs, u):
            continue
        reasons = rerun_reasons(cfg, STAGE_SPECS[u], fs)
        if reasons:
            first = [s for s in todo if u in upstream_closure([s])][0]
            raise ConfigError(f"stage {first} reads outputs computed by the {u} stage, which is out of date "
                              f"({reasons[0]}): run `trd-spark run` (or add {u} and the stages after it to "
                              f"--stages) first; `trd-spark explain` says why", where=cfg.source_path)


def _check_upstream_inputs(fs: FsLike, layout: Layout, cfg: Config, todo: list[str], stage: str) -> None:
    """Just before ``stage`` runs (``run_stages``): every complete stage it reads from, directly
    or not, also one published or judged current earlier in this run (``todo``: the run's
    stages), must see its external inputs as its manifest recorded them
    (``_check_inputs_as_published``: ``stages.changed_inputs``, as ``rerun_reasons`` compares
    them). An input re-pointed or replaced since (an OMOP folder or genotype file moved while a
    later stage ran) left its outputs of the old input, and the stages after it combined them
    with the new inputs into a complete export, exit 0 (``layout._check_inputs_unchanged``
    checks only the publishing stage's own inputs; session 46 privrerun3). InputDataError (exit
    3) at the input's path naming it and the stage; nothing of ``stage`` runs. Inputs only: the
    code a stage ran with is its manifest's, and a source file edited while a run goes on (a
    work tree) makes no mixed inputs. An unchanged local input costs a stat per file
    (``stages._local_file_state``)."""
    for u in upstream_closure([stage]):
        if layout.is_complete(fs, u):
            _check_inputs_as_published(fs, layout, cfg, u, stage, "earlier in this run" if u in todo else
                                       "before this run")


def _check_inputs_as_published(fs: FsLike, layout: Layout, cfg: Config, upstream: str, stage: str, when: str) -> None:
    """InputDataError at the path of the first external input of the published stage
    ``upstream`` whose fingerprint now differs from its manifest's (``fingerprint_parts(...,
    recorded=...)``: a local file whose stat is the recorded one is not read again), for
    ``_check_upstream_inputs``. A manifest without input fingerprints (an older version) is
    left to ``rerun_reasons``. Ours, not ``layout._check_inputs_unchanged`` (the same comparison
    of a stage's own inputs while it ran): that module is in every stage's code digest."""
    old = ((layout.manifest(fs, upstream) or {}).get("fingerprint_parts") or {}).get("inputs")
    if not isinstance(old, dict):
        return
    changed = changed_inputs(old, fingerprint_parts(cfg, STAGE_SPECS[upstream], fs, recorded=old)["inputs"])
    if changed:
        key = changed[0]
        more = f" (and {len(changed) - 1} more input(s))" if len(changed) > 1 else ""
        raise InputDataError(f"input {named_key(key, cfg)} of the {upstream} stage, published {when}, changed since"
                             f"{more}: nothing of the {stage} stage run, so that no output combines {upstream}'s "
                             f"outputs of the old input with the new inputs; rerun once the inputs are final "
                             f"(`trd-spark run` reruns {upstream} and every stage after it)",
                             where=str((old.get(key) or {}).get("path", key)))


def check_upstream_schemas(spark: SparkSession, fs: Fs, layout: Layout, stage: str) -> None:
    """Every published table of ``stage``'s upstream stages has its declared columns and types
    (``schemas.TABLES_BY_STAGE``; extra columns allowed), checked from Parquet metadata before
    the stage reads them. Absent tables (optional ones, e.g. cox with ``models.cox: false``)
    are left to the stage. Raises InputDataError naming the table's path."""
    for u in STAGE_SPECS[stage].upstream:
        for schema in TABLES_BY_STAGE.get(u, []):
            path = layout.table(u, schema.name)
            if not fs.exists(path):
                continue
            try:
                check_struct(spark.read.parquet(path).schema, schema, extra_ok=True)
            except TrdSparkError as e:
                raise InputDataError(f"{e} (published by another version? rerun `trd-spark {u} --force`)",
                                     where=path) from None


def run_stages(spark: SparkSession, cfg: Config, stages: list[str] | None = None, *, force: bool = False,
               warnings: WarningCounter | None = None, handed: Mapping[str, object] | None = None
               ) -> list[StageResult]:
    """Run ``stages`` (default: all, in order). A stage is skipped unless ``force`` when its
    published fingerprint (config slice, the code it runs, upstream run ids, input files; see
    trd_spark.stages) equals the current one. A stage that runs republishes with a new run id,
    so every downstream stage's fingerprint changes and it reruns too, in this run or the next.

    ``warnings``: the run's counter (the CLI's, which also counts warnings outside stages);
    None: a counter of this call only, attached while it runs. ``handed``: given to each stage
    that runs (``StageContext.handed``; the CLI's ``scoring_files_parsed_ahead``).

    Raises ConfigError when a requested stage's upstream stage is neither requested nor complete.
    """
    counter = warnings if warnings is not None else WarningCounter()
    with counter.attached():
        return _run_stages(spark, cfg, stages, force, counter, handed)


def _run_stages(spark: SparkSession, cfg: Config, stages: list[str] | None, force: bool,
                warnings: WarningCounter, handed: Mapping[str, object] | None = None) -> list[StageResult]:
    fs = Fs(spark)
    layout = Layout.of(cfg)
    todo = [s for s in STAGES if stages is None or s in stages]
    _check_upstream_complete(fs, layout, cfg, todo)
    remove_leftover_work(fs, layout)
    check_spark_reads(spark, cfg)  # settings from spark-defaults.conf / --conf the config never saw
    check_audit_roots(cfg, todo, fs, uris=True)  # the local ones: before Spark (preflight.check_inputs)
    check_omop_connector(spark, cfg, todo)
    beat = cfg.logging.heartbeat_seconds
    # Reads the release's concept and concept_ancestor tables: minutes at All of Us scale.
    with Heartbeat(spark.sparkContext, "checking the phenotypes' concept sets before the first stage", beat):
        check_concept_sets_first(spark, cfg, todo, fs, force)
    results = []
    for i, stage in enumerate(todo, 1):
        prefix = f"[{i}/{len(todo)}] {stage}"
        # From here an interrupt names this stage (WarningCounter.running: its checks before
        # it starts took >20 s under load, and the line named no stage; new-user trial, session 30).
        with warnings.running_stage(stage):
            # An interrupt from here on says a complete folder of an earlier run is kept (it read
            # "nothing of stage X published" alone, as if the stage had no output).
            if all(layout.is_complete(fs, out) for out in STAGE_SPECS[stage].outputs):
                warnings.on_disk[stage] = Interrupted.COMPLETE
            with Heartbeat(spark.sparkContext, f"{prefix}: deciding whether it reruns", beat):
                reasons = ["--force"] if force else rerun_reasons(cfg, STAGE_SPECS[stage], fs)
            if not reasons:
                results.append(_skipped(fs, layout, stage, prefix))
                continue
            log.info("%s: running (%s)", prefix, "; ".join(reasons))
            # A step before the stage's own start is never silent either (the schema check read
            # every upstream table's Parquet footers: >20 s under load without a line).
            # Every upstream stage, also one this run published: its inputs may have changed since
            # (a changed genotype file is hashed again here: minutes at All of Us scale).
            with Heartbeat(spark.sparkContext, f"{prefix}: checking its upstream stages' inputs", beat):
                _check_upstream_inputs(fs, layout, cfg, todo, stage)
            with Heartbeat(spark.sparkContext, f"{prefix}: checking its upstream tables' schemas", beat):
                check_upstream_schemas(spark, fs, layout, stage)
            t0 = time.time()
            with Heartbeat(spark.sparkContext, prefix, beat):
                run_stage(spark, cfg, stage, warnings=warnings, handed=handed)
            seconds = time.time() - t0
            manifest = layout.manifest(fs, stage) or {}
        log.info("%s: done in %.1fs -> %s", prefix, seconds, layout.stage_dir(stage))
        results.append(StageResult(stage, "ran", seconds, manifest.get("tables", {}), warnings.count(stage)))
    return results


def check_omop_connector(spark: SparkSession, cfg: Config, stages: list[str]) -> None:
    """ConfigError (exit 2) when ``stages`` include phenotypes, ``omop.format`` is bigquery and
    the session has no Spark BigQuery connector. Found when the run starts, not first when the
    phenotype stage reads OMOP, after the pgs stage (hours at All of Us scale; new-user trial,
    session 16). A class lookup on the driver (Spark's ``DataSource.lookupDataSource``, which
    ``spark.read.format`` calls), no Spark job."""
    if cfg.omop.format != "bigquery" or "phenotypes" not in stages:
        return
    jvm = spark.sparkContext._jvm  # noqa: SLF001
    assert jvm is not None
    try:
        jvm.org.apache.spark.sql.execution.datasources.DataSource.lookupDataSource(
            "bigquery", spark._jsparkSession.sessionState().conf())  # noqa: SLF001
    except Exception as e:  # py4j: SparkClassNotFoundException [DATA_SOURCE_NOT_FOUND]
        if "DATA_SOURCE_NOT_FOUND" not in str(e) and "Failed to find data source" not in str(e):
            raise
        raise ConfigError("omop.format bigquery: the Spark BigQuery connector is not on the classpath; submit "
                          "with scripts/submit.sh --bigquery (adds spark-bigquery-with-dependencies) or add the "
                          "jar through spark.extra_conf spark.jars", where=cfg.source_path) from None


def check_concept_sets_first(spark: SparkSession, cfg: Config, stages: list[str], fs: FsLike, force: bool) -> None:
    """The phenotype stage's concept-set check (``phenotypes.stage.check_concept_sets``: a
    reference to a non-standard concept is a ConfigError, exit 2) when the run starts, if
    ``stages`` run another stage before phenotypes and phenotypes will run (``force``, or its
    ``rerun_reasons``; it has no upstream stage, so they are known now). Before, the error came
    when the phenotype stage read OMOP, after the pgs stage (hours at All of Us scale; the
    session-17 leftover). Through the stage's config view, as the stage reads its keys."""
    if "phenotypes" not in stages or stages.index("phenotypes") == 0:
        return
    spec = STAGE_SPECS["phenotypes"]
    if not force and not rerun_reasons(cfg, spec, fs):
        return
    from trd_spark.phenotypes.stage import check_concept_sets

    check_concept_sets(spark, config_view(cfg, spec))


def _skipped(fs: FsLike, layout: Layout, stage: str, prefix: str) -> StageResult:
    """Log that ``stage`` is up to date and return its result from its published manifest."""
    log.info("%s: up to date, skipped (use --force to rerun)", prefix)
    manifest = layout.manifest(fs, stage) or {}
    return StageResult(stage, "skipped", 0.0, manifest.get("tables", {}),
                       (manifest.get("notes") or {}).get("warnings") or 0)


def skip_all_without_spark(cfg: Config, stages: list[str] | None = None, *, force: bool = False) -> list[StageResult] | None:
    """A no-op rerun without a Spark session: when every stage of ``stages`` (default: all) is
    up to date, decided from the published manifests and the input fingerprints read with
    ``os`` (the same ``rerun_reasons`` as ``run_stages``), log each one's skip line as
    ``run_stages`` does, then "all N stages up to date", and return their results. None (and
    nothing logged) when a stage must run, with ``force``, or when deciding needs Spark
    (``needs_spark_to_plan``): the caller then starts a session and calls ``run_stages``.

    Raises ConfigError as ``run_stages`` when a requested stage's upstream stage is neither
    requested nor complete (or changed since it was published)."""
    todo = [s for s in STAGES if stages is None or s in stages]
    # The upstream stages left out are judged too (``_check_left_out_current``): their inputs count.
    if force or needs_spark_to_plan(cfg, todo + upstream_closure(todo)):
        return None
    fs, layout = LocalFs(), Layout.of(cfg)
    _check_upstream_complete(fs, layout, cfg, todo)
    if any(rerun_reasons(cfg, STAGE_SPECS[s], fs) for s in todo):
        return None
    remove_leftover_work(fs, layout)
    results = [_skipped(fs, layout, s, f"[{i}/{len(todo)}] {s}") for i, s in enumerate(todo, 1)]
    log.info("all %d stages up to date: no Spark session started", len(todo))
    return results


@contextlib.contextmanager
def scoring_files_parsed_ahead(cfg: Config, stages: list[str] | None = None, *, force: bool = False
                               ) -> Iterator[dict[str, object]]:
    """While the block runs (the caller starts Spark and Hail in it, then ``run_stages``), the pgs
    stage's scoring files are parsed in a background thread (``scoring_files.ParseAhead``) and the
    stage takes the result instead of parsing after the session started (issue 16: 6-8 s at 61
    files of 200k variants, after a Spark and Hail start of 3-5 s idle). Only when the pgs stage
    will run: among ``stages`` (default: all) and ``force`` or its ``rerun_reasons`` decided with
    local fingerprints, as ``skip_all_without_spark`` decides (not when that needs Spark's file
    system; scoring files on a URI are read through Spark, after it starts, as before).

    The stage's reads stay as declared: the thread reads ``pgs`` through the stage's config view
    (``StageSpec.config``), the stage asks for the result with the options and files it reads
    itself (``read_scoring_files``: same paths, each unchanged since, same options; else it
    parses them), and a parse error is raised there, where its own parse raises it, so a failed
    JVM start is reported as before and the errors are unchanged. Yields what to hand the stages
    (``run_stages(..., handed=)``): ``{scoring_files.SCORING_FILES_AHEAD: the ParseAhead}``, or
    nothing when no parse started. On exit an untaken parse is cancelled and its thread joined."""
    spec = STAGE_SPECS["pgs"]
    will_run = "pgs" in (stages or STAGES) and (force or (
        not needs_spark_to_plan(cfg, ["pgs"]) and bool(rerun_reasons(cfg, spec, LocalFs()))))
    if not will_run:
        yield {}
        return
    from trd_spark.pgs.scoring_files import SCORING_FILES_AHEAD, parsed_ahead

    view = config_view(cfg, spec)
    with parsed_ahead(view.pgs, [ds.genotypes.reference_genome for ds in view.datasets]) as ahead:
        yield {SCORING_FILES_AHEAD: ahead}


def ensure_toy_data(cfg: Config) -> None:
    """Generate the toy data the config points at when it is absent (toy configs only).

    Raises ConfigError (``toy_data``) when the directory holds toy data generated with other
    persons / variants / seed than the config asks for (its ``truth.json``): using them would
    silently ignore the edit, and the directory is not deleted for the user."""
    if cfg.toy_data is None:
        return
    toy = cfg.toy_data
    per_release = toy.releases.get(cfg.release)
    persons = per_release.persons if per_release and per_release.persons else toy.persons
    seed = per_release.seed if per_release and per_release.seed is not None else toy.seed
    truth = Path(toy.dir) / "truth.json"
    if truth.exists():
        asked = {"persons": persons, "variants": toy.variants, "seed": seed}
        made = {k: json.loads(truth.read_text()).get(k) for k in asked}
        if made != asked:
            differ = ", ".join(f"{k} {made[k]} (config: {asked[k]})" for k in asked if made[k] != asked[k])
            raise ConfigError(f"the toy data in {toy.dir} were generated with {differ}: delete that directory "
                              "to generate them again, or set toy_data back", where="toy_data")
        return
    from trd_spark.toydata import generate_toy_data

    log.info("toy data not found: generating %d persons x %d variants (seed %d) in %s",
             persons, toy.variants, seed, toy.dir)
    try:
        generate_toy_data(toy.dir, persons=persons, variants=toy.variants, seed=seed)
    except BaseException:
        # An interrupt (or an error) mid-way: the generator writes truth.json last, so the folder
        # is marked incomplete and the next run generates it again; said, so that a user looking
        # at the partial files knows they are not read.
        log.info("toy data generation stopped: %s has no truth.json (complete toy data have one): its files are "
                 "partial and the next run generates them again", toy.dir)
        raise


def load_truth(cfg: Config) -> dict | None:
    """The toy data's planted effects (``truth.json``), or None for real data."""
    if cfg.toy_data is None:
        return None
    path = Path(cfg.toy_data.dir) / "truth.json"
    return json.loads(path.read_text()) if path.exists() else None
