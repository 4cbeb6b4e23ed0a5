"""Where every output lives, and how a stage publishes it atomically with a manifest.

``{output_root}/{release}/{stage}/`` holds one stage's outputs: Parquet tables
(``<name>.parquet/``), small text files, ``_manifest.json`` and ``_SUCCESS``. A stage is
written into ``{output_root}/{release}/.{stage}.inprogress-<id>/``, renamed into place, and
only then given its manifest and success marker (``swap_in``: a rename is a copy on an object
store), so a crashed or killed run never leaves a directory that looks complete. The manifest
records what the folder held when it was published (``output_record``): an output deleted or
edited afterwards is seen (``Layout.changed_outputs``) and reruns its stage instead of being
read as current.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pandas as pd

from trd_spark.config import PACKAGE_DIR, Config, named_key
from trd_spark.errors import InputDataError, Interrupted
from trd_spark.io import Fs, write_arrow, write_pandas, write_table
from trd_spark.logs import Steps, WarningCounter
from trd_spark.schemas import TableSchema, check_arrow, check_pandas, check_spark

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from trd_spark.stages import FsLike, StageSpec

log = logging.getLogger(__name__)
_T = TypeVar("_T")

STAGES = ("pgs", "phenotypes", "cohort", "models", "report")
# Published by the report stage next to report/: the only folder meant to leave the cluster.
EXPORT = "export"
# A stage manifest's notes key: the folders the stage publishes after its own, carrying its run
# id (the report's export/); ``stages.rerun_reasons`` reruns a stage whose run was stopped before.
PUBLISHED_WITH_RUN_ID = "published_with_run_id"
SUCCESS = "_SUCCESS"
MANIFEST = "_manifest.json"
# Internal sibling of export/ (never exported, not a stage): each earlier export of the release
# that a new one replaced, as ``export_history/<run id>/`` (``report.stage.archive_export``).
EXPORT_HISTORY = "export_history"


class ListingFs(Protocol):
    """What ``audit_root_problem`` reads of a file system (``io.Fs``, ``io.LocalFs``)."""

    def exists(self, path: str) -> bool: ...
    def listdirs(self, path: str) -> list[str]: ...
    def read_text(self, path: str) -> str: ...
    def read_bytes(self, path: str) -> bytes: ...
    def list_files(self, path: str) -> dict[str, int]: ...


def audit_root_problem(fs: ListingFs, root: str) -> str | None:
    """Why the output root ``root`` (an entry of ``report.audit_output_roots``) cannot be audited
    against: "does not exist (...)", or "holds no export (...)" when no release folder under it
    has a complete ``export/`` or a complete ``export_history/<run id>/`` (a typo'd root that
    exists, a release folder given instead of its output root: audited against nothing,
    silently); None when it holds one. The one rule of the run's start
    (``preflight.check_audit_roots``: local roots before Spark, URIs once it is up) and of the
    report stage (``report.stage.released_exports``)."""
    if not fs.exists(root):
        return "does not exist (an output root whose exports this export is audited against)"
    for release in fs.listdirs(root):
        layout = Layout(root, release)
        history = f"{layout.release_dir}/{EXPORT_HISTORY}"
        if layout.is_complete(fs, EXPORT) or any(fs.exists(f"{history}/{run}/{SUCCESS}") for run in fs.listdirs(history)):
            return None
    return (f"holds no export (no release folder there has a complete {EXPORT}/ or {EXPORT_HISTORY}/): name the "
            "output root that holds the releases, not a release folder")


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``git describe --tags --always --dirty`` of the checkout when available, else the
    package version. Computed once per process so one run records one version."""
    import trd_spark

    repo = PACKAGE_DIR.parent
    try:
        out = subprocess.run(
            ["git", "describe", "--tags", "--always", "--dirty"], cwd=repo,
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        if out and (repo / ".git").exists():
            return f"{trd_spark.__version__}+git.{out}"
    except (OSError, subprocess.SubprocessError):
        pass
    return trd_spark.__version__


@dataclass(frozen=True)
class Layout:
    """Maps (release, stage, name) to a path; the only place paths are built."""

    output_root: str
    release: str

    @classmethod
    def of(cls, cfg: Config) -> Layout:
        return cls(cfg.output_root.rstrip("/"), cfg.release)

    @property
    def release_dir(self) -> str:
        return f"{self.output_root}/{self.release}"

    def stage_dir(self, stage: str) -> str:
        return f"{self.release_dir}/{stage}"

    def table(self, stage: str, name: str) -> str:
        return f"{self.stage_dir(stage)}/{name}.parquet"

    def file(self, stage: str, name: str) -> str:
        return f"{self.stage_dir(stage)}/{name}"

    def is_complete(self, fs: FsLike, stage: str) -> bool:
        return fs.exists(f"{self.stage_dir(stage)}/{SUCCESS}")

    def manifest(self, fs: FsLike, stage: str) -> dict | None:
        """``read_manifest`` of ``stage``'s ``_manifest.json``; None when there is none, and when
        the folder is not complete (no ``_SUCCESS``) and its manifest cannot be read. A damaged
        manifest of a complete folder raises InputDataError as ``read_manifest`` does."""
        path = f"{self.stage_dir(stage)}/{MANIFEST}"
        if not fs.exists(path):
            return None
        if self.is_complete(fs, stage):
            return read_manifest(fs, path)
        # A folder no run finished publishing: the manifest is written after the folder is in
        # place and before _SUCCESS (``swap_in``), so a run killed, or stopped by a full disk,
        # while writing it left it cut short (or, on Hadoop's local file system, with a .crc
        # that no longer matches: a ChecksumException through Fs). The next run reads it only
        # as a hint (``stages._published_stat_records``, the report's earlier-run checks) and
        # reruns the stage; raising here made that rerun fail with "restore it or rerun the
        # stage that wrote it", so resuming was impossible without deleting the file by hand.
        try:
            return read_manifest(fs, path)
        except Exception:  # noqa: BLE001 - any unreadable manifest of an unfinished folder is no record
            log.info("%s: the manifest of the unfinished folder %s cannot be read; taken as none", stage, path)
            return None

    def changed_outputs(self, fs: FsLike, stage: str) -> list[str]:
        """``changed_outputs`` of the folder of ``stage``."""
        return changed_outputs(fs, self.stage_dir(stage))


def read_manifest(fs: FsLike, path: str) -> dict:
    """The JSON object in the manifest at ``path`` (a stage's, an export's or an archived
    export's ``_manifest.json``). A manifest cut short (a copy stopped midway, a full disk) or
    holding something else than an object raises InputDataError, one line naming ``path`` (with
    line:column for bad JSON) and what to do, instead of a JSONDecodeError traceback; the
    fields a reader needs are checked by that reader (``manifest_field``)."""
    try:
        record = json.loads(fs.read_text(path))
    except json.JSONDecodeError as e:
        raise InputDataError(f"not valid JSON ({e.msg}): the manifest is damaged (cut short?); restore it "
                             "or rerun the stage that wrote it", where=f"{path}:{e.lineno}:{e.colno}") from None
    if not isinstance(record, dict):
        raise InputDataError(f"holds a JSON {type(record).__name__}, not the object a manifest is: restore it "
                             "or rerun the stage that wrote it", where=path)
    return record


def manifest_field(record: dict, key: str, kind: type[_T], path: str) -> _T | None:
    """``record[key]`` (None when absent: a field an older version did not write, which the
    caller reads as "not recorded"); InputDataError naming ``path`` and ``key`` when present
    with another type than ``kind`` (a hand-edited or damaged manifest), so a wrong value is
    never read as a number or as absent. A JSON true/false is no int here."""
    value = record.get(key)
    if value is not None and (not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)):
        raise InputDataError(f"field {key!r} holds a JSON {type(value).__name__}, not the {kind.__name__} it "
                             "must be: restore the manifest or rerun the stage that wrote it", where=path)
    return value


def held_columns(held: list[str], needed: list[str], path: str, stage: str) -> list[str]:
    """``needed`` when the table at ``path`` (written by ``stage``; ``held``: its columns) holds
    them all, else InputDataError naming ``path`` and the missing ones. A table published by an
    older trd-spark (a scheduled ``trd-spark report`` on an earlier release whose pgs stage ran
    before ``n_matched_multiallelic`` existed) lacks columns added since: the report selects only
    the columns it uses, so such a table is read with what it holds, and a column it uses but
    the table lacks stops here with one line instead of a KeyError traceback (never read as 0)."""
    missing = [c for c in needed if c not in held]
    if missing:
        raise InputDataError(f"has no column {', '.join(missing)} (written by an older trd-spark?): rerun the "
                             f"{stage} stage of this release (trd-spark run --release ...)", where=path)
    return needed


def made_by_same_run(output: dict | None, stage: dict | None) -> bool:
    """Whether a folder a stage publishes after its own (``output``: its manifest, e.g.
    ``export/``'s) was made by the run that published the stage's manifest (``stage``, e.g.
    ``report/``'s): both carry the same run id. The one test of "this export was made by another
    report run": a run stopped (kill -9) between the two leaves an earlier run's folder complete
    beside the new manifest, which then neither says what that folder holds (its hidden counts:
    ``report.stage._current_export``) nor makes it up to date (``stages.rerun_reasons``,
    ``releases.stale_outputs``). A missing manifest or run id is no same run."""
    run_id = (output or {}).get("run_id")
    return run_id is not None and run_id == (stage or {}).get("run_id")


def changed_outputs(fs: FsLike, folder: str) -> list[str]:
    """Entries of a published stage folder (files, table directories) that differ from what
    its manifest recorded when it was published (``output_record``): deleted, added, edited by
    hand, a part file gone. [] when they all match, and for a folder without a manifest or
    published before manifests recorded outputs (nothing to compare). ``export/`` is compared
    with its own manifest's ``files`` (SHA-256 and bytes per file)."""
    path = f"{folder}/{MANIFEST}"
    m = read_manifest(fs, path) if fs.exists(path) else {}
    recorded = m.get("outputs")
    if recorded is None and isinstance(m.get("files"), dict):  # export/_manifest.json
        recorded = {name: {"bytes": f.get("bytes"), "sha256": f.get("sha256")} for name, f in m["files"].items()}
    if not isinstance(recorded, dict):
        return []
    now = output_record(fs, folder)
    return sorted(k for k in recorded.keys() | now.keys() if recorded.get(k) != now.get(k))


def output_record(fs: FsLike, folder: str) -> dict[str, dict[str, object]]:
    """What a stage folder holds, as its manifest's ``outputs``: {entry: record} for every
    top-level entry but ``_manifest.json`` and ``_SUCCESS``. A file (TSV, HTML): {bytes,
    sha256}. A directory (a Parquet or Hail table): {files, bytes, digest}, the digest being the
    SHA-256 of every file's (path in the directory, bytes): part files are not read (a table can
    hold gigabytes), so an edit that keeps every part's size is not seen. Hidden files
    (Hadoop's ``.crc``) are left out: they are not outputs and object stores write none."""
    out: dict[str, dict[str, object]] = {}
    tables: dict[str, list[tuple[str, int]]] = {}
    for rel, size in fs.list_files(folder).items():
        top, sep, rest = rel.partition("/")
        if sep:
            tables.setdefault(top, []).append((rest, size))
        elif top not in (MANIFEST, SUCCESS):
            out[top] = {"bytes": size, "sha256": hashlib.sha256(fs.read_bytes(f"{folder}/{top}")).hexdigest()}
    for top, files in tables.items():
        out[top] = {"files": len(files), "bytes": sum(size for _, size in files),
                    "digest": hashlib.sha256(json.dumps(files).encode()).hexdigest()}
    return dict(sorted(out.items()))


@dataclass
class StageWriter:
    """Collects one stage's outputs in its in-progress directory."""

    spark: SparkSession
    fs: Fs
    stage: str
    dir: str
    tables: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    notes: dict[str, object] = field(default_factory=dict)
    # The manifest's run_id, set when the stage is published (downstream fingerprints refer to it).
    run_id: str | None = None
    # Progress lines "<stage>: wrote <table>, <rows> rows (<s> s)"; row counts of tables whose
    # rows are persons (TableSchema.rows_are_persons, or no declared schema) below the
    # small-count threshold are shown as "<threshold", others plainly (as the run summary).
    progress: Steps | None = None

    def table_path(self, name: str) -> str:
        return f"{self.dir}/{name}.parquet"

    def write_table(self, name: str, df: DataFrame, schema: TableSchema | None = None, *, extra_ok: bool = False) -> int:
        if schema is not None:
            df = check_spark(df, schema, extra_ok=extra_ok)
        n = write_table(df, self.table_path(name))
        self.tables[name] = n
        self._wrote(name, n, schema)
        return n

    def write_pandas(self, name: str, pdf: pd.DataFrame, schema: TableSchema) -> int:
        """A small pandas table written with its declared types (io.write_pandas)."""
        n = write_pandas(self.spark, check_pandas(pdf, schema.names, name), self.table_path(name), schema.struct)
        self.tables[name] = n
        self._wrote(name, n, schema)
        return n

    def write_arrow(self, name: str, table: Any, schema: TableSchema) -> int:
        """A pyarrow Table in its declared types written without a Spark job (io.write_arrow;
        columns checked by schemas.check_arrow): person-level rows already on the driver."""
        n = write_arrow(self.spark, check_arrow(table, schema), self.table_path(name))
        self.tables[name] = n
        self._wrote(name, n, schema)
        return n

    def _wrote(self, name: str, n: int, schema: TableSchema | None) -> None:
        if self.progress is None:
            return
        if schema is not None and schema.rows_not_logged:
            self.progress.done(f"wrote {name}, row count not logged ({schema.rows_not_logged})")
        else:
            self.progress.done(f"wrote {name}", n, "rows", persons=schema is None or schema.rows_are_persons)

    def write_text(self, name: str, text: str) -> str:
        path = f"{self.dir}/{name}"
        self.fs.write_text(path, text)
        self.files.append(name)
        return path


def _check_inputs_unchanged(cfg: Config, spec: StageSpec, fs: Fs, before: dict[str, Any]) -> None:
    """InputDataError naming the first of ``spec``'s external inputs whose fingerprint now differs
    from ``before`` (the stage's ``fingerprint_parts(...)["inputs"]`` when it started): the
    stage's outputs may hold the old bytes, the new ones or both (``publish_stage``). A file
    whose stat is the one ``before`` recorded is not read again."""
    from trd_spark.stages import changed_inputs, fingerprint_parts

    changed = changed_inputs(before, fingerprint_parts(cfg, spec, fs, recorded=before)["inputs"])
    if changed:
        key = changed[0]
        path = str((before.get(key) or {}).get("path", key))
        more = f" (and {len(changed) - 1} more input(s))" if len(changed) > 1 else ""
        raise InputDataError(f"input {named_key(key, cfg)} changed while the {spec.name} stage ran{more}: nothing "
                             f"published (its outputs may mix the old and the new bytes); rerun once the input is "
                             f"final", where=path)


# A published folder's markers, written into it in this order once everything else is in place:
# a folder is complete only when ``_SUCCESS`` is there (``Layout.is_complete``, ``releases``, the
# report's export check), and then its manifest is whole too.
MARKERS = (MANIFEST, SUCCESS)


def swap_in(fs: Fs, tmp: str, final: str, release_dir: str, markers: Mapping[str, str] | None = None, *,
            stands: Callable[[str], object] | None = None) -> None:
    """Publish the directory ``tmp`` as ``final`` by renames, then write ``markers`` ({name:
    text}, in order; ``_SUCCESS`` last) into it. A folder rename is atomic on a local disk and
    HDFS, but on an object store (``gs://``) it is a copy of each object, then a delete: with the
    markers inside ``tmp`` (``_SUCCESS`` and ``_manifest.json`` sort before lower-case names, so
    they are copied first), a run killed during the copy, or a reader during it, saw a folder
    marked complete that lacked files. So a previous ``final`` loses its markers first
    (``_SUCCESS``, then the manifest: from then on it reads as incomplete), is moved to a hidden
    ``.<name>.replaced-*`` directory, ``tmp`` is moved in, and only then are the markers written;
    the old copy is deleted last. A run stopped anywhere in between leaves the stage incomplete
    (it reruns), never a complete-looking folder with missing files. ``stands``: told where
    ``final`` stands, ``errors.Interrupted.SWAPPING`` before its first change, ``PUBLISHED``
    once its markers are written (before the old copy's deletion), for the interrupt line."""
    if stands is not None:
        stands(Interrupted.SWAPPING)
    if fs.exists(final):
        for name in reversed(MARKERS):
            fs.delete(f"{final}/{name}")
        trash = f"{release_dir}/.{final.rstrip('/').rsplit('/', 1)[-1]}.replaced-{uuid.uuid4().hex[:8]}"
        fs.rename(final, trash)
    else:
        trash = None
    fs.rename(tmp, final)
    for name, text in (markers or {}).items():
        fs.write_text(f"{final}/{name}", text)
    if stands is not None:
        stands(Interrupted.PUBLISHED)
    if trash is not None:
        fs.delete(trash)


def publish_folder(fs: Fs, final: str, files: Mapping[str, str], *,
                   before_swap: Callable[[str], object] | None = None, markers: tuple[str, ...] = MARKERS) -> None:
    """Publish ``files`` ({name: text}, written in that order) as the folder ``final``, whole
    or not at all: written into a hidden sibling ``.<name>.inprogress-<id>``, ``before_swap``
    called on that folder, then renamed into place (``swap_in``); the files named in ``markers``
    (by default ``_manifest.json`` and ``_SUCCESS``; compare-releases: ``_disclosure.json``) are
    written last, into ``final`` once the others are in place, and ``before_swap`` is called on
    ``final`` again (Hadoop's local ``.crc`` files of the markers). A write that fails or is
    interrupted leaves no complete-looking folder: the previous complete folder as it was when
    it fails before the swap, else a folder without its markers (the hidden one is removed, or
    by the next call). Hidden siblings an interrupted call left are removed first: the caller
    is the folder's one writer (a run holding the release lock, ``compare-releases``)."""
    parent, name = final.rstrip("/").rsplit("/", 1)
    fs.mkdirs(parent)
    for entry in fs.listdir(parent):
        if entry.startswith((f".{name}.inprogress-", f".{name}.replaced-")):
            fs.delete(f"{parent}/{entry}")
    tmp = f"{parent}/.{name}.inprogress-{uuid.uuid4().hex[:8]}"
    try:
        for file, text in files.items():
            if file not in markers:
                fs.write_text(f"{tmp}/{file}", text)
        if before_swap is not None:
            before_swap(tmp)
        swap_in(fs, tmp, final, parent, {m: files[m] for m in markers if m in files})
        if before_swap is not None:
            before_swap(final)
    except BaseException:
        fs.delete(tmp)
        raise


@contextmanager
def publish_stage(spark: SparkSession, cfg: Config, stage: str, *, warnings: WarningCounter | None = None,
                  notes: dict[str, object] | None = None, started: float | None = None,
                  parts: dict[str, Any] | None = None) -> Iterator[StageWriter]:
    """Write a stage into a temporary directory and publish it atomically on success.

    ``warnings``: the run's counter; the manifest's ``notes.warnings`` is its count for
    ``stage`` when the block ends (None without a counter: published outside a pipeline
    run). ``notes``: the dict the writer's notes start as (``stages.StageContext.notes``).
    The manifest records the stage's fingerprint (``stages.fingerprint_parts``: config slice,
    the code it runs, upstream run ids, external input files) and a fresh ``run_id`` that
    downstream fingerprints refer to. ``parts``: those parts as taken when the stage started,
    before it read its inputs (``stages.StageContext.parts_at_start``); without them they are
    taken on entering this block. The inputs are fingerprinted again before the manifest is
    written, and an input that changed meanwhile (a new release copied over the old
    one while the stage ran: outputs made from the old bytes, or from both) raises
    InputDataError naming it, and nothing is published. Recording the fingerprint at publication
    instead recorded the new input beside outputs made from the old one, so the next run found
    the stage up to date. ``started``: when the stage began
    (``time.time()`` seconds; ``stages.StageContext.started``, taken before the stage computes);
    the manifest's ``started_at`` / ``seconds`` are the stage's whole time from then to
    publication, ``publish_seconds`` the part spent inside this block (writing tables); without
    it (published outside a stage run) both count from entering this block.
    The previous output of the stage
    (if any) is replaced only after the new one is written in full, and the manifest and
    ``_SUCCESS`` are written after the new folder is in place (``swap_in``); on any exception the
    temporary directory is removed (best effort: a rerun removes what an interrupted run left)
    and nothing is published.
    """
    from trd_spark.session import versions
    from trd_spark.stages import config_slice, fingerprint, fingerprint_parts, recorded_inputs, spec_for_output

    fs = Fs(spark)
    layout = Layout.of(cfg)
    fs.mkdirs(layout.release_dir)
    # A killed run leaves its hidden directories behind; this run holds the release lock, so
    # any of them is stale (never complete: only a rename makes a stage visible).
    for name in fs.listdir(layout.release_dir):
        if name.startswith((f".{stage}.inprogress-", f".{stage}.replaced-")):
            log.info("%s: removing %s left by an interrupted run", stage, name)
            fs.delete(f"{layout.release_dir}/{name}")
    tmp = f"{layout.release_dir}/.{stage}.inprogress-{uuid.uuid4().hex[:8]}"
    writer = StageWriter(spark, fs, stage, tmp, notes={} if notes is None else notes,
                         progress=Steps(stage, cfg.report.small_count_threshold))
    entered = time.time()
    started = entered if started is None else started
    started_at = dt.datetime.fromtimestamp(started, dt.UTC).isoformat(timespec="seconds")
    spec = spec_for_output(stage)
    parts = parts if parts is not None else fingerprint_parts(cfg, spec, fs)
    try:
        yield writer
        _check_inputs_unchanged(cfg, spec, fs, parts["inputs"])
        from trd_spark.releases import check_still_held  # releases imports this module

        check_still_held(layout.release_dir)  # another run took the release's lock over: publish nothing
        # WARNING records logged while this stage ran (None when run outside a pipeline run).
        writer.notes["warnings"] = warnings.count(stage) if warnings is not None else None
        writer.run_id = uuid.uuid4().hex
        finished = time.time()
        manifest = {
            "stage": stage,
            "release": cfg.release,
            "config_hash": cfg.fingerprint(),
            "fingerprint": fingerprint(parts),
            "fingerprint_parts": parts,
            "config": config_slice(cfg, spec),
            "run_id": writer.run_id,
            "config_path": cfg.source_path,
            "code_version": code_version(),
            "versions": versions(),
            "started_at": started_at,
            "finished_at": dt.datetime.fromtimestamp(finished, dt.UTC).isoformat(timespec="seconds"),
            "seconds": round(finished - started, 2),
            "publish_seconds": round(finished - entered, 2),
            "tables": writer.tables,
            "files": writer.files,
            "inputs": recorded_inputs(parts["inputs"]),  # the stat records once, in fingerprint_parts
            "outputs": output_record(fs, tmp),
            "notes": writer.notes,
        }
        # An interrupt says where the folder stands (cli._on_signal): mid-swap, or published.
        stands = None if warnings is None else functools.partial(warnings.on_disk.__setitem__, stage)
        swap_in(fs, tmp, layout.stage_dir(stage), layout.release_dir,
                {MANIFEST: json.dumps(manifest, indent=2, sort_keys=True, default=str), SUCCESS: ""}, stands=stands)
    except BaseException as e:
        # After SIGTERM / SIGINT the JVM is gone or its connection still busy with the
        # interrupted call: leave the hidden directory, the next run removes it.
        if not isinstance(e, Interrupted):
            try:
                fs.delete(tmp)
            except Exception:  # noqa: BLE001 - the next run removes it
                log.debug("%s: in-progress directory %s left for the next run to remove", stage, tmp)
        raise
