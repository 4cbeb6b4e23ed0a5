"""The native pass's Spark task code (``pgen_engine.score``): what a Python worker runs and
imports, and nothing else.

Kept apart from ``pgen_engine`` (the driver's side: variant lists, weights, the job, the rows)
so that a worker imports numpy, pgenlib, scipy.sparse / scipy.linalg, threadpoolctl, ``mt_entries`` and the
standard library only: no pandas, pydantic, ``trd_spark.config``/``io`` or pyspark.sql, which
``pgen_engine`` pulls in. Spark pickles a task's function and its ``Task``/``TaskRows`` by
reference to this module, so unpickling them imports it; with the task code in ``pgen_engine``
every fresh worker spent ~0.85 CPU-s importing pandas (0.43 s) and ``bgen_reader`` ->
``trd_spark.io`` -> ``config``/pydantic (0.21 s) before its first row (benchmarks/RESULTS.md,
session 27 hail17 helper), twice per job at local[2] and on every job of a route whose workers
are not warmed (a MatrixTable's entry files, ``engine._score_entries``).
tests/test_pgs_native_worker.py unpickles what ``score`` ships in a fresh process and checks
that none of those modules is loaded. A BGEN's task imports ``bgen_reader`` (its
``BgenFiles`` and ``BlockReader``), which still imports pandas.

What a task computes: ``pgen_engine``'s module doc, steps 2-4.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np

from trd_spark.pgs.mt_entries import EntriesFiles, EntriesReader

if TYPE_CHECKING:
    from trd_spark.config import GenotypeSource
    from trd_spark.pgs.bgen_reader import BgenFiles


# pgenlib's code for a missing hard call and a missing dosage.
PGENLIB_MISSING = -9
# A PLINK 1 code's alt dosage (A1 = alt: 00 two alt copies, 01 missing, 10 one, 11 none), as
# pgenlib reads a .bed: what ``mt_entries.EntriesReader`` gives for a MatrixTable's calls.
_DOSAGE_OF_PLINK_CODE = np.array([2.0, PGENLIB_MISSING, 1.0, 0.0])
# Bytes per genotype entry held in a block: the float64 dosages, read in place and multiplied.
BLOCK_BYTES_PER_ENTRY = 8


@dataclass(frozen=True)
class PlinkFiles:
    """A PLINK fileset: ``format`` (``plink`` = bed/bim/fam, ``pgen`` = pgen/pvar/psam), the
    path of the genotype matrix file, and the variant/sample files next to it."""

    format: Literal["plink", "pgen"]
    prefix: str

    @classmethod
    def of(cls, source: GenotypeSource) -> PlinkFiles:
        """From a dataset's genotypes (``path`` = the common prefix or the .bed/.pgen file)."""
        fmt = source.format
        if fmt != "plink" and fmt != "pgen":
            raise ValueError(f"not a PLINK fileset: genotypes format {fmt}")
        ext = ".bed" if fmt == "plink" else ".pgen"
        path = source.path
        return cls(fmt, path[: -len(ext)] if path.endswith(ext) else path)

    @property
    def matrix(self) -> str:
        return f"{self.prefix}.{'bed' if self.format == 'plink' else 'pgen'}"

    @property
    def variants(self) -> str:
        """The .bim, or the .pvar; a .pvar.zst when only it is there (``io.pgen_variant_file``:
        the rerun fingerprint's rule too)."""
        if self.format == "plink":
            return f"{self.prefix}.bim"
        from trd_spark.io import pgen_variant_file  # (the driver's: a task reads no variant list)

        return pgen_variant_file(self.prefix)

    @property
    def samples(self) -> str:
        return f"{self.prefix}.{'fam' if self.format == 'plink' else 'psam'}"


@dataclass(frozen=True)
class Task:
    """One Spark task's share: rows sorted by file position and their weights."""

    variant_idx: np.ndarray  # int64 (m,)
    allele_idx: np.ndarray  # int32 (m,)
    slope: np.ndarray  # float64 (m, k)
    offset: np.ndarray | None  # float64 (m, k); None for mean_impute (not used)
    n_vars: np.ndarray  # unsigned integers (m, k)
    # BGEN only (``bgen_reader``): each row's variant block as (byte offset, size), int64 (m, 2).
    extent: np.ndarray | None = None
    # Rows on X outside its PARs (bool (m,), ``genotypes.x_haploid_rows``) and the males (bool
    # (n,), ``male_samples``), when the task has such a row and the file males: there a male's
    # call is one allele observation in the imputing frequency (``_fill_missing_calls``).
    x_haploid: np.ndarray | None = None
    male: np.ndarray | None = None
    # Rows on chrY (bool (m,)), when the task has one: there only males' calls count, as plink2
    # --score counts them (``_drop_non_males_on_y``; ``male`` all False: no sample is male).
    y_rows: np.ndarray | None = None
    # plink2 --score's dominant / recessive models (``matching.WeightMatrices``' matrices, float64
    # (m, k)), when a score has such a variant: slopes on min(alt dosage, 1) and max(alt dosage - 1, 0).
    dominant: np.ndarray | None = None
    recessive: np.ndarray | None = None
    # Dominant / recessive score variants whose dosage sums several rows (``matching.SiteModels``,
    # placed by its ``placed``: a group's rows in one task): per row its group (int32, -1 none) and
    # coefficient (float64); per group, whole, the constant and the slopes (groups x k).
    site_group: np.ndarray | None = None
    site_coef: np.ndarray | None = None
    site_constant: np.ndarray | None = None
    site_dominant: np.ndarray | None = None
    site_recessive: np.ndarray | None = None
    # Rows of one site given split (one row per alt, ``pgen_engine.split_site_sums``), when the task
    # has such rows: per row its site (int32, -1 none); per site, whole, the most alt copies its
    # rows may give together (float64: 2 + slack per row) and its name (str, 'chr4:1000000 A>G,C').
    sum_group: np.ndarray | None = None
    sum_limit: np.ndarray | None = None
    sum_site: np.ndarray | None = None
    # Per row (bool), when some row holds its site's REF as its alt (a BGEN written REF-last): that
    # row's alt copies of the site are 2 - its dosage (``split_site_sums``' ``sum_flip``).
    sum_flip: np.ndarray | None = None
    # Per row (float64), when some row's site has more than 2 alleles: the alt dosage that imputes
    # a missing call of a row no sample is called at, 2/k for the k alleles of its site (a .pgen /
    # VCF record, or a site given split: ``pgen_engine.no_call_dosages``): plink2 --score's
    # frequency 1/k of each allele of a variant with no observation. None: 1 on every row (k = 2).
    no_call_dosage: np.ndarray | None = None


# ``Task``'s row arrays, by field name (``TaskRows`` maps them from files of these names).
_TASK_FIELDS = ("variant_idx", "allele_idx", "slope", "offset", "n_vars", "extent", "x_haploid", "male", "y_rows",
                "dominant", "recessive", "site_group", "site_coef", "site_constant", "site_dominant", "site_recessive",
                "sum_group", "sum_limit", "sum_site", "sum_flip", "no_call_dosage")
# ``Task``'s arrays given whole to every task (per sample or per group, not per row).
_WHOLE_FIELDS = ("male", "site_constant", "site_dominant", "site_recessive", "sum_limit", "sum_site")


def tasks_of(arrays: dict[str, np.ndarray | None], bounds: list[int]) -> list[Task]:
    """One ``Task`` per row range ``bounds[i]..bounds[i + 1]`` of ``arrays`` (by ``Task``
    field; a None array stays None), its rows as views (pickled into the task by Spark)."""
    return [Task(**cast(dict[str, Any], {name: a if a is None or name in _WHOLE_FIELDS else a[lo:hi]
                                          for name, a in arrays.items()}))
            for lo, hi in zip(bounds[:-1], bounds[1:])]


# What a pass whose local files vanished mid-run is told (``pass_files_gone``).
PASS_FILES_GONE = (
    "the native pass's local files are gone while it runs (on a memory file system such as /dev/shm, "
    "systemd-logind's RemoveIPC=yes removes a user's entries when that user's last login session ends, "
    "e.g. under a nohup run): set pgs.native.memory_dir to a directory on disk (or to null: "
    "spark.local.dir) and run again")


def pass_files_gone(path: str) -> FileNotFoundError:
    """The error for a pass file or directory (``pgen_engine.pass_directory``'s) that is not there
    while the pass runs: names ``path``, ``pgs.native.memory_dir`` and what to do
    (``PASS_FILES_GONE``); a tmpfs under ``/dev/shm`` is emptied at logout where systemd-logind
    has ``RemoveIPC=yes`` (logind.conf(5)), whatever the run's own state."""
    return FileNotFoundError(errno.ENOENT, PASS_FILES_GONE, path)


@dataclass(frozen=True)
class TaskRows:
    """One Spark task's share as rows ``lo..hi`` of the pass's row arrays in ``directory``
    (``shared_task_rows``: one ``<field>.npy`` per ``Task`` field, absent for a None field):
    a few bytes in the task's pickle, where a ``Task`` carries its ~55 MB of weights (200k rows
    x 61 scores over 2 tasks)."""

    directory: str
    lo: int
    hi: int
    # True: the weights' files (``WEIGHT_FIELDS``) are still being built by the driver when the
    # task starts (``pgen_engine.score``, ``WeightsGate``); the task reads its first block, then
    # waits for them (``weights_ready``).
    gated: bool = False

    def load(self, weights: bool = True) -> Task:
        """The ``Task`` of these rows, each array a view of its file mapped read-only
        (``np.load(mmap_mode="r")``: only the task's rows are read, from the page cache the
        driver's write left them in). ``weights`` False: the rows alone, the ``WEIGHT_FIELDS``
        not read (slope and n_vars as rows x 0 placeholders: a product with them fails, no silent
        zero score; the others None), for a task whose weights are not ready yet. Raises
        FileNotFoundError (``pass_files_gone``) when the directory is not there: a field's file is
        absent only for a None field, so a removed directory must not read as one."""
        if not os.path.isdir(self.directory):
            raise pass_files_gone(self.directory)

        def rows(name: str) -> np.ndarray | None:
            if not weights and name in WEIGHT_FIELDS:
                return np.zeros((self.hi - self.lo, 0)) if name in ("slope", "n_vars") else None
            path = os.path.join(self.directory, f"{name}.npy")
            # A plain ndarray view of the mapped rows (the map lives as long as the view).
            if not os.path.exists(path):
                return None
            mapped = np.load(path, mmap_mode="r")
            return np.asarray(mapped if name in _WHOLE_FIELDS else mapped[self.lo:self.hi])

        return Task(**cast(dict[str, Any], {name: rows(name) for name in _TASK_FIELDS}))

    def weights_ready(self) -> Task:
        """The whole ``Task``, once the driver has built the weights' files (``WeightsGate``):
        blocks on the gate's lock (held by the driver until then; no polling) and raises
        RuntimeError when the driver let go of it without marking the weights ready (its build
        failed or was interrupted: the job is being cancelled)."""
        import fcntl

        lock = os.path.join(self.directory, WEIGHTS_LOCK)
        try:
            fd = os.open(lock, os.O_RDONLY)
        except FileNotFoundError:
            raise pass_files_gone(lock) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)  # waits while the driver holds it exclusively
        finally:
            os.close(fd)
        if not os.path.exists(os.path.join(self.directory, WEIGHTS_READY)):
            raise RuntimeError("the native pass's weights were not built (the driver's build failed)")
        return self.load()


# The weights' fields of a task (``TaskRows.load``), which a gated task reads after the driver built them.
WEIGHT_FIELDS = frozenset({"slope", "offset", "n_vars", "dominant", "recessive", "site_group", "site_coef",
                           "site_constant", "site_dominant", "site_recessive"})
# In the pass's ``weights`` directory: the lock the driver holds while it builds the weights
# (``WeightsGate``) and the file it makes once they are written, before it lets go of the lock.
WEIGHTS_LOCK = "weights.lock"
WEIGHTS_READY = "weights.ready"


class WeightsGate:
    """The driver's side of gated tasks (``TaskRows.gated``): ``WeightsGate(directory)`` (the
    pass's ``weights`` directory, ``shared_task_rows``) takes an exclusive lock on its
    ``WEIGHTS_LOCK`` before the job is submitted; ``open()`` marks the weights ready
    (``WEIGHTS_READY``) and lets go of it: the waiting tasks go on; ``close()`` (also after a
    failure) lets go of it without the mark: the tasks then raise, never read unbuilt weights.
    The lock is released by the kernel if the driver dies. A lock rather than a polled file: the
    tasks wake when it is let go, with no CPU spent waiting."""

    def __init__(self, directory: str) -> None:
        import fcntl

        for name in (WEIGHTS_READY,):
            path = os.path.join(directory, name)
            if os.path.exists(path):
                os.remove(path)
        self.directory = directory
        self._fd: int | None = os.open(os.path.join(directory, WEIGHTS_LOCK), os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def open(self) -> None:
        """Mark the weights ready (their files written) and let the tasks go on."""
        with open(os.path.join(self.directory, WEIGHTS_READY), "w"):
            pass
        self.close()

    def close(self) -> None:
        """Let go of the lock (once; the tasks not yet past it raise unless ``open`` marked the weights ready)."""
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor releases the flock
            self._fd = None


def _loaded(task: Task | TaskRows) -> Task:
    """The task's rows and weights: as pickled (``Task``) or mapped from the pass's files."""
    return task.load() if isinstance(task, TaskRows) else task


def shared_task_rows(directory: str, arrays: dict[str, np.ndarray | None], bounds: list[int],
                     in_place: frozenset[str] = frozenset(), gated: bool = False) -> list[TaskRows]:
    """Write each array of ``arrays`` (by ``Task`` field, None ones not) to ``<directory>/
    weights/<field>.npy`` and return one ``TaskRows`` per row range of ``bounds``. The
    directory must be readable by every task at the same path (a local master's: the caller's
    ``pgen_engine.pass_directory``) and outlive the job. ``in_place``: the fields whose arrays
    are already those files, mapped (``mapped_rows``; their first rows are the array's, a spare
    row after them is not read): not written. Another array replaces its field's file under a
    new inode (the old one removed first), so that a mapping of the old file never sees it
    change or shrink. ``gated``: the tasks wait for their weights (``TaskRows.gated``); the
    caller writes them later (``shared_task_rows`` again, no bounds needed) and opens its
    ``WeightsGate``."""
    shared = os.path.join(directory, "weights")
    os.makedirs(shared, exist_ok=True)
    for name, a in arrays.items():
        if a is not None and name not in in_place:
            path = os.path.join(shared, f"{name}.npy")
            if os.path.exists(path):
                os.remove(path)
            np.save(path, a, allow_pickle=False)
    return [TaskRows(shared, lo, hi, gated) for lo, hi in zip(bounds[:-1], bounds[1:])]


def mapped_rows(directory: str, name: str, shape: tuple[int, int], dtype: np.dtype) -> np.ndarray:
    """A new ``shape`` array of ``dtype``, zeros, mapped read-write from ``<directory>/weights/
    <name>.npy`` (a new .npy file: ``np.lib.format.open_memmap``), the file ``shared_task_rows``
    writes for the ``Task`` field ``name``: an array built in it is passed to ``shared_task_rows``
    as ``in_place`` and each task maps its rows of the file as they are (``TaskRows.load``). Writes
    through the mapping are in the page cache at once, where a local master's tasks read them
    (no flush needed on one machine; a cluster's tasks get pickled rows, never these files).
    Raises OSError naming the file when it cannot be made or its blocks cannot be reserved.

    ``open_memmap`` leaves a sparse file: a write through the mapping that finds the local
    directory full would raise SIGBUS and kill the driver with no error line (``np.save``
    raised OSError). So the whole file's blocks are reserved (``os.posix_fallocate``) before
    the array is handed out: a full directory is then one OSError here."""
    shared = os.path.join(directory, "weights")
    os.makedirs(shared, exist_ok=True)
    path = os.path.join(shared, f"{name}.npy")
    array = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    fallocate = getattr(os, "posix_fallocate", None)  # absent on macOS: no reservation there
    if fallocate is not None:
        try:
            with open(path, "r+b") as f:
                fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)
        except OSError as exc:
            del array
            os.remove(path)
            raise OSError(exc.errno, f"cannot reserve {exc.strerror or exc} for the pass's file", path) from exc
    return array


def _read_block(reader, variant_idx: np.ndarray, allele_idx: np.ndarray, n: int, dose: np.ndarray) -> np.ndarray:
    """The block's alt dosages (b x n float64, ``PGENLIB_MISSING`` where missing): the first b
    rows of ``dose`` (reused between blocks). Read as dosages for .bed and .pgen alike (a
    .bed's hard calls become 0/1/2 directly; no int8 copy, conversion and second pass). Rows
    of the first alt are read in one call; others (multi-allelic .pvar rows) one by one."""
    b = len(variant_idx)
    first = allele_idx == 1
    out = dose[:b]
    idx = np.flatnonzero(first)
    if idx.size == b:
        reader.read_dosages_list(variant_idx.astype(np.uint32), out)
        return out
    if idx.size:
        part = np.empty((idx.size, n), dtype=np.float64)
        reader.read_dosages_list(variant_idx[idx].astype(np.uint32), part)
        out[idx] = part
    for r in np.flatnonzero(~first):
        reader.read_dosages(int(variant_idx[r]), out[r], int(allele_idx[r]))
    return out


@contextmanager
def _block_reader(files: PlinkFiles | BgenFiles | EntriesFiles, n_samples: int, allele_idx_offsets,
                  rows: np.ndarray | None = None) -> Iterator[Callable[[Task, int, int, np.ndarray], np.ndarray]]:
    """``read(task, lo, hi, buffer)``: the alt dosages of the task's rows lo..hi (``_read_block``'s
    layout), from pgenlib for .bed/.pgen, from ``bgen_reader.BlockReader`` for BGEN and from
    ``mt_entries.EntriesReader`` for a MatrixTable's entry files (``rows``: the task's
    ``variant_idx``, the rows it will read, which that reader needs up front)."""
    if isinstance(files, EntriesFiles):
        assert rows is not None  # the task's rows
        entries = EntriesReader(files, rows, _DOSAGE_OF_PLINK_CODE)
        yield lambda task, lo, hi, dose: entries.read(lo, hi, dose)
        return
    if not isinstance(files, PlinkFiles):  # a BGEN (``bgen_reader`` imported by its files' class already)
        from trd_spark.pgs.bgen_reader import BlockReader

        with BlockReader(files) as bgen:
            yield lambda task, lo, hi, dose: bgen.read(task.extent[lo:hi], dose)  # type: ignore[index]
        return
    import pgenlib

    kwargs = {"raw_sample_ct": n_samples, "variant_ct": None}
    if allele_idx_offsets is not None:
        kwargs["allele_idx_offsets"] = allele_idx_offsets
    with pgenlib.PgenReader(files.matrix.encode(), **kwargs) as reader:
        yield lambda task, lo, hi, dose: _read_block(reader, task.variant_idx[lo:hi], task.allele_idx[lo:hi],
                                                     n_samples, dose)


def _score_task(files: PlinkFiles | BgenFiles | EntriesFiles, n_samples: int, allele_idx_offsets, rows_per_block: int,
                impute: bool, sample_slice: int, task: Task, later: Callable[[], Task] | None = None
                ) -> Iterator[tuple[int, tuple[np.ndarray, np.ndarray]]]:
    """Partial sums of one task, per sample slice: (slice index, (score k x s, missing vars k x s)).

    ``score`` = sum over the task's rows of slope x dosage (missing calls corrected as in the
    module doc, offsets excluded); ``missing vars`` = n_vars summed over the sample's missing calls.
    ``later``: ``task`` holds the rows alone (``TaskRows.load`` without weights) and ``later()``
    gives the whole task once its weights are built (``TaskRows.weights_ready``): called after
    the first block is read, so that opening the genotypes, the block buffer and the first
    block's read overlap the driver's build. A task has at least one row.
    """
    from scipy.linalg.blas import dgemm
    from threadpoolctl import threadpool_limits

    keep_freed_heap()
    rows = min(rows_per_block, len(task.variant_idx))
    # The missing calls' sparse products are made over batches of blocks (``_MissingCalls``), so
    # at most this many rows per product (whether float32 is exact for their n_vars sums).
    batch_rows = MISSING_BATCH_ROWS + rows

    def sums_of(weighed: Task) -> tuple[np.ndarray, np.ndarray, bool]:
        k = weighed.slope.shape[1]
        # The k x n sums (each block's product added in place by dgemm: no k x n product per block);
        # sample-major missing vars (the layout the sparse product of the missing calls returns);
        # whether the missing calls' n_vars are summed in float32, when that is exact (integers
        # below 2**24: a batch's rows x the largest n_vars): half the memory traffic of float64.
        return (np.zeros((k, n_samples), dtype=np.float64), np.zeros((n_samples, k), dtype=np.float64),
                batch_rows * int(weighed.n_vars.max(initial=0)) < 2**24)

    if later is None or not rows:
        task = task if later is None else later()
        score, missing_vars, exact32 = sums_of(task)
    dose_buffer = _block_buffer(rows, n_samples)
    chunk = cache_rows(n_samples)
    uncalled = _UncalledRows(task, n_samples)  # rows no sample has a call on
    sites: _SiteSums | None = None  # sums over a site's rows (``Task.site_group``), made at the first block
    split = None if task.sum_group is None else _SplitSiteCheck(task, files)  # a split site's alt copies
    missing: _MissingCalls | None = None  # made once the weights are there (a gated task's after its first block)
    with threadpool_limits(limits=1, user_api="blas"), \
            _block_reader(files, n_samples, allele_idx_offsets, task.variant_idx) as read:
        for lo in range(0, len(task.variant_idx), rows_per_block):
            hi = min(lo + rows_per_block, len(task.variant_idx))
            dose = dose_buffer[:hi - lo]
            # Read and fix the missing calls a few rows at a time (``cache_rows``: while they are in
            # the core's cache), then one product.
            mis_r, mis_j = _fill_missing_calls(read, task, lo, hi, chunk, dose, impute)
            uncalled.add(lo, hi, mis_r)
            if split is not None:
                split.add(lo, dose, mis_r, mis_j)
            if later is not None and lo == 0:  # a gated task's first block read: now its weights
                task = later()
                score, missing_vars, exact32 = sums_of(task)
            if missing is None:
                missing = _MissingCalls(task, score, missing_vars, impute, np.float32 if exact32 else np.float64)
            missing.add(lo, hi, mis_r, mis_j)
            # score (k x n) += slope[lo:hi].T @ dose, as (n x k, its Fortran-order view) += dose.T @ slope
            # (dgemm with beta 1: OpenBLAS adds the product into the sums as it makes it).
            _add_product(dgemm, score, dose, task.slope[lo:hi])
            if task.dominant is not None or task.recessive is not None:
                _add_dosage_models(score, task, lo, dose, mis_r, mis_j)
            if task.site_group is not None:
                sites = sites or _SiteSums(task)
                sites.add(score, lo, dose, mis_r, mis_j, impute)
    if missing is not None:
        missing.flush()
    for i, start in enumerate(range(0, n_samples, sample_slice)):
        stop = min(start + sample_slice, n_samples)
        yield i, (score[:, start:stop].copy(), missing_vars[start:stop].T.copy())
    counted = uncalled.counted(task)
    if counted is not None:
        yield UNCALLED_SLICE, counted


# Rows, at least, whose missing calls ``_MissingCalls`` gathers before it makes their sparse product
# (fewer: at most ``MISSING_BATCH_CALLS`` calls). Its product is an n x k dense array added to the
# task's missing vars: made per block, a block of a few hundred rows paid that pass over n x k
# (10 MB at 20k samples x 61 scores) for every block.
MISSING_BATCH_ROWS = 4096
MISSING_BATCH_CALLS = 2**20


class _MissingCalls:
    """A task's missing calls (``_fill_missing_calls``' rows and samples, block after block) turned
    into their sums: per sample the n_vars of its missing calls added to ``missing_vars`` (n x k)
    and, for ``zero`` (``impute`` False), their offsets taken from ``score`` (k x n: a zeroed call
    drops its offset too), by one sparse product over a batch of consecutive blocks (``add``;
    ``flush`` at the task's end): at least ``MISSING_BATCH_ROWS`` rows unless the batch holds
    ``MISSING_BATCH_CALLS`` calls (the missing calls are few: ~1% in array data, none in imputed
    dosages). ``dtype``: the products' (float32 where a batch's n_vars sums are exact in it)."""

    def __init__(self, task: Task, score: np.ndarray, missing_vars: np.ndarray, impute: bool,
                 dtype: type[np.floating]) -> None:
        self.task, self.score, self.missing_vars, self.impute, self.dtype = task, score, missing_vars, impute, dtype
        self.lo = self.hi = 0  # the batch's rows
        self.rows: list[np.ndarray] = []  # its missing calls' rows (from ``lo``) and samples, block by block
        self.samples: list[np.ndarray] = []
        self.calls = 0

    def add(self, lo: int, hi: int, mis_r: np.ndarray, mis_j: np.ndarray) -> None:
        """The block of rows ``lo..hi`` (the next after the batch's) and its missing calls (rows
        from ``lo``, samples; row-major order); the batch's product made once it is large enough."""
        if self.hi != lo:
            raise ValueError(f"block {lo}..{hi} does not follow the missing calls' rows {self.lo}..{self.hi}")
        if mis_r.size:
            self.rows.append(mis_r + (lo - self.lo))
            self.samples.append(mis_j)
            self.calls += mis_r.size
        self.hi = hi
        if self.hi - self.lo >= MISSING_BATCH_ROWS or self.calls >= MISSING_BATCH_CALLS:
            self.flush()

    def flush(self) -> None:
        """The batch's sparse product added to the sums; the next batch starts after it."""
        if self.calls:
            from scipy import sparse

            task, lo, hi, n = self.task, self.lo, self.hi, self.score.shape[1]
            rows = np.concatenate(self.rows)
            indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=hi - lo))]
            indicator = sparse.csr_matrix((np.ones(rows.size, dtype=self.dtype), np.concatenate(self.samples), indptr),
                                          shape=(hi - lo, n))
            self.missing_vars += indicator.T @ task.n_vars[lo:hi].astype(self.dtype)
            if not self.impute:
                assert task.offset is not None  # shipped for zero
                self.score -= (indicator.T.astype(np.float64) @ task.offset[lo:hi]).T
        self.lo, self.rows, self.samples, self.calls = self.hi, [], [], 0


def _add_product(dgemm: Callable[..., np.ndarray], score: np.ndarray, dose: np.ndarray, slope: np.ndarray) -> None:
    """``score`` (k x n float64, C order) += ``slope``.T (k x b) @ ``dose`` (b x n), in place: BLAS
    dgemm (``dgemm``: scipy's) with beta 1 on their Fortran-order views (n x k += (n x b) @ (b x k)),
    so that no k x n product is written and then added (per block of a few hundred rows, that
    pass cost as much as a quarter of the product). Where the views are not as BLAS takes them
    in place (a copy made by the wrapper), the result is copied back: never a sum left unadded."""
    out = dgemm(1.0, dose.T, slope.T, beta=1.0, c=score.T, trans_b=1, overwrite_c=1)
    if not np.shares_memory(out, score):
        np.copyto(score.T, out)


# The key of a task's item of uncalled rows among its per-slice partials (``_UncalledRows.counted``):
# (per score the n_vars of its rows no sample has a call on, then their count and the count of
# those on chrY with no male at all: float64 (k + 2,); the first ``UNCALLED_ROWS_KEPT`` of them as
# (variant_idx, allele_idx, shown): int64 (f, 3), the shown ones (shown 1: not a no-male chrY row,
# which the no-male WARNING names) first). Only from a task with such a row; ``pgen_engine`` sums
# the items apart from the slices.
UNCALLED_SLICE = -1
UNCALLED_ROWS_KEPT = 5


class _UncalledRows:
    """A task's rows on which no sample has a call (``scoring.UncalledVariants``), found from each
    block's missing calls (one ``np.bincount`` of their rows): every sample's call missing, or
    on chrY (``Task.y_rows``) every male's (``_drop_non_males_on_y`` reads a non-male's call there
    as called 0; no male at all: every chrY row, counted apart). Rows with no score variant
    (n_vars 0: a site's other alts) are not counted."""

    def __init__(self, task: Task, n_samples: int) -> None:
        self.n = n_samples
        self.y_rows = task.y_rows
        self.n_male = 0 if task.male is None else int(task.male.sum())
        self.rows: list[np.ndarray] = []

    def add(self, lo: int, hi: int, mis_r: np.ndarray) -> None:
        """Keep the rows lo..hi (task rows) whose missing calls (``mis_r``: row in the block) are all
        their scored calls."""
        can_call = np.full(hi - lo, self.n, dtype=np.int64)
        if self.y_rows is not None:
            can_call[self.y_rows[lo:hi]] = self.n_male
        if not mis_r.size and not (can_call == 0).any():
            return
        none_called = np.bincount(mis_r, minlength=hi - lo) >= can_call
        if none_called.any():
            self.rows.append(np.flatnonzero(none_called) + lo)

    def counted(self, task: Task) -> tuple[np.ndarray, np.ndarray] | None:
        """The task's item (``UNCALLED_SLICE``), with ``task``'s weights; None without such a row."""
        if not self.rows:
            return None
        rows = np.concatenate(self.rows)
        rows = rows[np.asarray(task.n_vars[rows]).any(axis=1)]
        if not rows.size:
            return None
        # No male at all (``pgen_engine._sex_rows_of`` warned): every chrY row is such a row.
        no_male = np.zeros(rows.size, dtype=bool) if self.y_rows is None or self.n_male else self.y_rows[rows]
        counts = np.r_[np.asarray(task.n_vars[rows], dtype=np.float64).sum(axis=0), float(rows.size),
                       float(no_male.sum())]
        # The shown rows first (stable: each part in file order), so a task's kept rows hold its
        # first shown ones; its first row stays a key no other task has (``scored_slice``).
        kept = rows[np.argsort(no_male, kind="stable")][:UNCALLED_ROWS_KEPT]
        return counts, np.stack([np.asarray(task.variant_idx[kept], dtype=np.int64),
                                 np.asarray(task.allele_idx[kept], dtype=np.int64),
                                 (~np.sort(no_male)[:UNCALLED_ROWS_KEPT]).astype(np.int64)], axis=1)


def scored_slice(found: Any, item: tuple[int, Any]) -> bool:
    """Whether a pass's item is a slice's partial sums, the items Spark's reduce adds; a task's
    uncalled rows (``UNCALLED_SLICE``) are added to the accumulator ``found`` instead
    (``UncalledItems``), keyed by the task's first such row. A filter of a pass summed in Spark
    (``pgen_engine.score``), whose items never reach the driver."""
    if item[0] != UNCALLED_SLICE:
        return True
    counts, rows = item[1]
    found.add({(int(rows[0, 0]), int(rows[0, 1])): (counts, rows)})
    return False


class UncalledItems:
    """The ``AccumulatorParam`` (duck-typed: pyspark calls ``zero`` and ``addInPlace``) of
    ``scored_slice``: a dict of the tasks' uncalled-row items keyed by the task's first such row,
    merged by key. Why keyed: Spark adds a task's accumulator updates once per successful attempt,
    and a partition computed again (a lost executor, a second action) would add its items twice;
    the same key keeps them once. Rows of different tasks differ, so do their keys."""

    def zero(self, value: dict) -> dict:
        return {}

    def addInPlace(self, a: dict, b: dict) -> dict:  # noqa: N802 (pyspark's name)
        a.update(b)
        return a


def pass_function(files: PlinkFiles | BgenFiles | EntriesFiles, n_samples: int, allele_idx_offsets,
                  rows_per_block: int, impute: bool, sample_slice: int
                  ) -> Callable[[Task | TaskRows], Iterator[tuple[int, tuple[np.ndarray, np.ndarray]]]]:
    """What ``pgen_engine.score``'s job maps over its tasks (``flatMap``): a task's share (a
    ``Task``, or ``TaskRows`` mapped from the pass's files) to its partial sums per sample slice
    (``_score_task``). A ``functools.partial`` of this module's function, not a closure of the
    driver's module: Spark pickles it by reference to this module and the arguments by value, so
    a worker imports this module and what the arguments' classes need, nothing of ``pgen_engine``."""
    return partial(_score_loaded, files, n_samples, allele_idx_offsets, rows_per_block, impute, sample_slice)


def spill_function(directory: str) -> Callable[[Iterable[tuple[int, tuple[np.ndarray, np.ndarray]]]],
                                               Iterator[tuple[int, tuple[str, float]]]]:
    """``spilled`` into ``directory``, for ``mapPartitions`` (a partial: pickled by reference, as
    ``pass_function``)."""
    return partial(spilled, directory)


def _score_loaded(files: PlinkFiles | BgenFiles | EntriesFiles, n_samples: int, allele_idx_offsets,
                  rows_per_block: int, impute: bool, sample_slice: int, task: Task | TaskRows
                  ) -> Iterator[tuple[int, tuple[np.ndarray, np.ndarray]]]:
    """``_score_task`` of the task's rows, as pickled or mapped (``_loaded``); a gated task's
    weights once they are built (``TaskRows.weights_ready``)."""
    if isinstance(task, TaskRows) and task.gated:
        return _score_task(files, n_samples, allele_idx_offsets, rows_per_block, impute, sample_slice,
                           task.load(weights=False), task.weights_ready)
    return _score_task(files, n_samples, allele_idx_offsets, rows_per_block, impute, sample_slice, _loaded(task))


# glibc's mallopt(3) parameters (<malloc.h>) and the values ``keep_freed_heap`` gives them: glibc's
# own ceilings for its dynamic thresholds on a 64-bit host (DEFAULT_MMAP_THRESHOLD_MAX, 32 MiB; the
# trim threshold twice the mmap threshold), which it reaches by itself only once a block that large
# has been mapped and freed.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
HEAP_MMAP_THRESHOLD = 32 * 2**20
HEAP_TRIM_THRESHOLD = 2 * HEAP_MMAP_THRESHOLD
# Whether this process's heap keeps freed memory (``keep_freed_heap``'s answer, once made).
_HEAP_KEPT: list[bool] = []


def keep_freed_heap() -> bool:
    """Make this process's C heap keep the memory its arrays free, for the next ones, instead of
    giving it back to the kernel and faulting it in again: glibc's ``mallopt`` (by ctypes) sets
    the mmap threshold to ``HEAP_MMAP_THRESHOLD`` (blocks below it come from the heap, not a
    fresh ``mmap`` each) and the trim threshold to ``HEAP_TRIM_THRESHOLD`` (free memory at the
    heap's top is returned to the kernel only beyond it). Why: a task's temporaries (each row
    chunk's missing-call mask and indices, ``_MissingCalls``' n_vars cast and sparse product, the
    slices' copies; 0.5-5 MB each, several alive at once) were handed back and faulted in again
    chunk after chunk under glibc's default dynamic thresholds: ~20k minor faults (~0.06 kernel
    CPU-s) per task of 100k rows x 2,500 samples, ~35k per 50k rows x 20,000, in every task, not
    only a worker's first; with these settings ~0 after a worker's first task (issue 16,
    benchmarks/RESULTS.md session 54 native16). The values are the ceilings glibc's dynamic
    thresholds reach on their own (mallopt(3)), so a worker holds no more free heap than glibc
    may keep anyway: at most ``HEAP_TRIM_THRESHOLD`` at the heap's top. Once per process (a
    Python worker runs many tasks; setting the values turns glibc's dynamic adjustment off);
    True when glibc took both values, False where there is no ``mallopt`` (macOS) or it refused
    one (musl's is a stub): nothing else changes then."""
    if not _HEAP_KEPT:
        kept = False
        try:
            import ctypes

            mallopt = ctypes.CDLL(None).mallopt
        except (OSError, AttributeError):  # no C library by that name, or no mallopt in it
            mallopt = None
        if mallopt is not None:
            mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
            kept = mallopt(_M_MMAP_THRESHOLD, HEAP_MMAP_THRESHOLD) == 1 and \
                mallopt(_M_TRIM_THRESHOLD, HEAP_TRIM_THRESHOLD) == 1
        _HEAP_KEPT.append(kept)
    return _HEAP_KEPT[0]


# The block buffer of this process (``_block_buffer``), kept between tasks.
_BLOCK_BUFFER: list[np.ndarray] = []


def _block_buffer(rows: int, n_samples: int) -> np.ndarray:
    """A rows x n_samples float64 array for a task's blocks: a view of one buffer per process,
    kept for the next task and grown (the old one freed first) when too small. A Python worker
    runs one task at a time and Spark reuses it for the job's next tasks, so the buffer's pages
    (~``block_memory_mb``; less below ~8k samples, where a block stops at
    ``pgen_engine.BLOCK_ROWS_MAX`` rows: 80 MB at 2.5k) are faulted in once per worker
    instead of once per task: 0.05-0.9 CPU-s of page faults (kernel time; transparent huge pages
    compacted on demand) per task on the benchmark host, most of a task's CPU at 2.5k samples
    (session 21). ``_score_task`` is done with it before its first partial is yielded, so
    generators of one process never use it at the same time. The worker holds it until it exits
    (pyspark ends an idle worker after a minute). Made without huge pages
    (``populated_buffer``; before, ``memory.small_pages``): the first task of a worker at 2.5k samples paid 0.76-2.35 sys
    CPU-s faulting it in with numpy's huge-page advice, 0.14 without, and later tasks cost the
    same either way (4.2-4.6 ns per entry at 2.5k and 20k; session 22). Its pages are faulted in
    at once (``populated_buffer``), not one write fault at a time in the first block's read."""
    need = rows * n_samples
    if not _BLOCK_BUFFER or _BLOCK_BUFFER[0].size < need:
        _BLOCK_BUFFER.clear()
        _BLOCK_BUFFER.append(populated_buffer(need))
    return _BLOCK_BUFFER[0][:need].reshape(rows, n_samples)


def populated_buffer(size: int) -> np.ndarray:
    """A new float64 array of ``size`` items (contents undefined) in a private anonymous mapping
    of its own, without transparent huge pages (``MADV_NOHUGEPAGE``: as ``memory.small_pages``
    makes numpy's arrays, for the same reason) and its pages faulted in writable by one
    ``MADV_POPULATE_WRITE`` call (``memory.populate_write``). Why: the block buffer's first task wrote every 4 KiB page
    once, one fault each (~20k at 2.5k samples, 65k at 10k-20k); one call that faults them all in
    costs ~0.03 CPU-s where those faults cost ~0.05-0.06 for the 80 MB buffer at 2.5k samples
    (issue 16, benchmarks/RESULTS.md session 39 flatbed). Hints only: where the kernel (or
    Python's mmap) has no such advice the pages fault on first write, as before. Freed
    (unmapped) when the last view of it goes."""
    import mmap

    from trd_spark.pgs.memory import populate_write

    nbytes = max(1, size) * 8
    mapped = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    no_huge = getattr(mmap, "MADV_NOHUGEPAGE", None)
    if no_huge is not None and hasattr(mapped, "madvise"):
        try:
            mapped.madvise(no_huge)
        except (OSError, ValueError):  # a kernel without transparent huge pages (EINVAL)
            pass
    populate_write(mapped)
    return np.frombuffer(mapped, dtype=np.float64, count=size)


# Bytes of dosages read and fixed at a time (``cache_rows``): within a core's L2/L3 share.
_CACHE_BYTES = 4 * 2**20


def cache_rows(n_samples: int) -> int:
    """Rows of float64 dosages of all samples that fit ``_CACHE_BYTES`` (at least 1)."""
    return max(1, _CACHE_BYTES // (max(1, n_samples) * BLOCK_BYTES_PER_ENTRY))


def _fill_missing_calls(read: Callable[[Task, int, int, np.ndarray], np.ndarray], task: Task, lo: int, hi: int,
                        chunk: int, dose: np.ndarray, impute: bool) -> tuple[np.ndarray, np.ndarray]:
    """Read the task's rows lo..hi into ``dose`` (``chunk`` rows at a time) and set each missing
    call to the row's mean alt dosage over its called samples (``impute``; a row with no called
    sample gets 2/k for the k alleles of its site, ``Task.no_call_dosage``, 1 when biallelic:
    plink2 --score's frequency 1/k of each allele for zero observations) or to 0, so that
    the block's one product includes it. Returns the missing calls as (row in the block, sample),
    in row-major (CSR) order."""
    n = dose.shape[1]
    found_r, found_j = [], []
    for c in range(lo, hi, chunk):
        part = read(task, c, min(c + chunk, hi), dose[c - lo:])
        # A row's value when no sample is called there (plink2's frequency 1/k of no observation).
        no_call = np.ones(len(part)) if task.no_call_dosage is None else \
            np.array(task.no_call_dosage[c:c + len(part)], dtype=np.float64)
        y_means = None if task.y_rows is None else \
            _drop_non_males_on_y(part, task.y_rows[c:c + len(part)], task.male, no_call)
        # Flat positions from one pass over a 1-D mask (np.nonzero on the 2-D mask cost 3 ns per
        # entry, more than the rest of the block but the product).
        flat = np.flatnonzero(part == PGENLIB_MISSING)
        if not flat.size:
            continue
        r, j = np.divmod(flat, n)
        if impute:
            n_missing = np.bincount(r, minlength=len(part))
            n_called = n - n_missing
            called_sum = part.sum(axis=1) - PGENLIB_MISSING * n_missing
            mean = np.divide(called_sum, n_called, out=no_call.copy(), where=n_called > 0)
            if task.x_haploid is not None and task.male is not None:
                _x_frequency_means(part, task.x_haploid[c:c + len(part)], task.male, n_missing, mean, no_call)
            if y_means is not None:
                mean[y_means[0]] = y_means[1]
            part.reshape(-1)[flat] = mean[r]
        else:
            part.reshape(-1)[flat] = 0.0
        found_r.append(r + (c - lo))
        found_j.append(j)
    if not found_r:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(found_r), np.concatenate(found_j)


def _add_dosage_models(score: np.ndarray, task: Task, lo: int, dose: np.ndarray, mis_r: np.ndarray,
                       mis_j: np.ndarray) -> None:
    """Add to ``score`` (k x n) the block's dominant / recessive terms (``Task.dominant`` /
    ``recessive`` of rows ``lo..lo + len(dose)``): their rows' alt dosages (``dose``, missing calls
    already imputed or zeroed, at (``mis_r``, ``mis_j``)) as min(a, 1) / max(a - 1, 0), a missing
    call's value half its filled dosage (plink2 --score 'dominant' / 'recessive': a missing call
    adds w x the effect allele's frequency, or 0 with no-mean-imputation). Only the rows with
    such a weight are copied (few: the additive rows' product is the block's one product)."""
    for weights, model in ((task.dominant, "dominant"), (task.recessive, "recessive")):
        if weights is None:
            continue
        block = weights[lo:lo + len(dose)]
        at = np.flatnonzero(block.any(axis=1))
        if not at.size:
            continue
        rows = dose[at]
        modelled = np.minimum(rows, 1.0) if model == "dominant" else np.maximum(rows - 1.0, 0.0)
        place = np.full(len(dose), -1, dtype=np.int64)
        place[at] = np.arange(at.size)
        missing = place[mis_r] >= 0
        modelled[place[mis_r[missing]], mis_j[missing]] = rows[place[mis_r[missing]], mis_j[missing]] / 2.0
        score += block[at].T @ modelled


class _SiteSums:
    """A task's dominant / recessive terms whose dosage sums several rows (``Task.site_group``,
    ``matching.SiteModels``): each group's D = sum of coef x alt dosage over its rows, read
    block by block (a group's rows lie in one task, maybe across blocks), then at its last row
    constant added and w x min(D, 1) / w x max(D - 1, 0) added to the scores. A sample missing at
    any of the group's rows is a missing call of the site: the value of either model is then half
    the group's D over its rows' mean alt dosages (the effect allele's frequency, plink2 --score's
    value for these models), or 0 with ``zero`` (``impute`` False)."""

    def __init__(self, task: Task) -> None:
        assert task.site_group is not None and task.site_coef is not None
        self.task = task
        at = np.flatnonzero(task.site_group >= 0)
        self.last = {int(g): int(r) for r, g in zip(at, task.site_group[at])}  # each group's last row
        self.open: dict[int, tuple[np.ndarray, np.ndarray, list[float]]] = {}

    def add(self, score: np.ndarray, lo: int, dose: np.ndarray, mis_r: np.ndarray, mis_j: np.ndarray,
            impute: bool) -> None:
        """Add the block's rows lo..lo + len(dose) (alt dosages, missing calls filled, at (``mis_r``,
        ``mis_j``)) to their groups and a closed group's terms to ``score`` (k x n)."""
        task = self.task
        assert task.site_group is not None and task.site_coef is not None and task.site_constant is not None
        assert task.site_dominant is not None and task.site_recessive is not None
        groups = task.site_group[lo:lo + len(dose)]
        for r in np.flatnonzero(groups >= 0):
            g, c = int(groups[r]), float(task.site_coef[lo + r])
            total, missing, mean = self.open.setdefault(g, (np.zeros(dose.shape[1]), np.zeros(dose.shape[1], bool),
                                                            [0.0]))
            total += c * dose[r]
            missing[mis_j[mis_r == r]] = True
            mean[0] += c * float(dose[r].mean())  # (filled with its called mean: that mean)
            if lo + r != self.last[g]:
                continue
            del self.open[g]
            total += task.site_constant[g]
            fill = (mean[0] + float(task.site_constant[g])) / 2.0 if impute else 0.0
            for weights, modelled in ((task.site_dominant[g], np.minimum(total, 1.0)),
                                      (task.site_recessive[g], np.maximum(total - 1.0, 0.0))):
                if weights.any():
                    modelled[missing] = fill
                    score += np.outer(weights, modelled)


class _SplitSiteCheck:
    """The rows of one site given split (``Task.sum_group``: a .bim/.pvar/BGEN with one row per alt
    at one position and REF, ``pgen_engine.split_site_sums``) give at most 2 alt copies together
    per sample (``Task.sum_limit``: 2 + ``genotypes.DOSAGE_SUM_SLACK`` per row, the rounding of
    written dosages): each row's dosage lies in [0, 2], but DS 1.5 on A>G and 1.5 on A>C is 3 alt
    copies, and a REF effect allele's dosage 2 - 3 = -1 was summed as given (its additive row and
    its dominant / recessive term alike). The rule of Hail's pass for a multi-allelic record
    (``genotypes.to_biallelic_dosage``). Called samples only (a missing call adds nothing: its
    filled mean is no copy of the sample's). A site's rows lie in one task, maybe across blocks:
    rows of a site still open at a block's end are kept (copies; few) until its last row. Raises
    InputDataError naming the file, what it holds, the site, the sum and the rows' dosages of
    the sample with the largest sum (no sample ID)."""

    def __init__(self, task: Task, files: PlinkFiles | BgenFiles | EntriesFiles) -> None:
        assert task.sum_group is not None and task.sum_limit is not None and task.sum_site is not None
        self.group, self.limit, self.site, self.files = task.sum_group, task.sum_limit, task.sum_site, files
        self.flip = task.sum_flip  # rows giving 2 - dosage alt copies of their site (REF-last BGEN)
        # chrY: a non-male's calls are not scored (read as 0 copies), so not checked (a row giving
        # 2 - dosage would make her 0 two copies)
        self.y_rows, self.non_male = task.y_rows, None if task.male is None else ~task.male
        at = np.flatnonzero(self.group >= 0)
        self.last = np.full(len(self.limit), -1, dtype=np.int64)  # each site's last row in the task
        np.maximum.at(self.last, self.group[at], at)
        self.open: dict[int, list[np.ndarray]] = {}  # a site's called dosages of rows in earlier blocks

    def add(self, lo: int, dose: np.ndarray, mis_r: np.ndarray, mis_j: np.ndarray) -> None:
        """Check the sites whose last row is in the block of rows lo..lo + len(dose) (alt dosages,
        missing calls filled, at (``mis_r``, ``mis_j``)); keep the rows of those still open."""
        groups = self.group[lo:lo + len(dose)]
        at = np.flatnonzero(groups >= 0)
        if not at.size:
            return
        called = dose[at]  # (a copy) the missing calls back to 0 copies
        if self.flip is not None:  # a row whose alt is its site's REF: the site's alt copies are 2 - dosage
            flip = self.flip[lo:lo + len(dose)][at]
            called[flip] = 2.0 - called[flip]
            if self.y_rows is not None and (y := self.y_rows[lo:lo + len(dose)][at] & flip).any():
                called[np.ix_(np.flatnonzero(y), np.arange(called.shape[1]) if self.non_male is None
                              else np.flatnonzero(self.non_male))] = 0.0
        place = np.full(len(dose), -1, dtype=np.int64)
        place[at] = np.arange(at.size)
        missing = place[mis_r] >= 0
        called[place[mis_r[missing]], mis_j[missing]] = 0.0
        g = groups[at]
        by_site = np.argsort(g, kind="stable")
        starts = np.flatnonzero(np.r_[True, g[by_site][1:] != g[by_site][:-1]])
        sites = g[by_site][starts]
        ends = np.r_[starts[1:], len(g)]
        sums = np.add.reduceat(called[by_site], starts, axis=0)  # sites x n, this block's rows
        closes = self.last[sites] < lo + len(dose)
        for i in np.flatnonzero(~closes | np.isin(sites, list(self.open))):  # sites across blocks (rare)
            rows = self.open.pop(int(sites[i]), []) + list(called[by_site][starts[i]:ends[i]])
            if closes[i]:
                sums[i] = np.sum(rows, axis=0)
                self._check(int(sites[i]), sums[i], np.array(rows))
            else:
                self.open[int(sites[i])] = rows
        over = closes & (sums > self.limit[sites][:, None]).any(axis=1)
        if over.any():
            bad = int(np.flatnonzero(over)[0])
            self._check(int(sites[bad]), sums[bad], called[by_site][starts[bad]:ends[bad]])

    def _check(self, site: int, total: np.ndarray, rows: np.ndarray) -> None:
        """Raise the module's error when a sample's ``total`` (its site's alt copies, per sample)
        is above the site's limit; ``rows``: the site's rows' called dosages (rows x samples)."""
        worst = int(np.argmax(total))
        if total[worst] <= self.limit[site]:
            return
        from trd_spark.errors import InputDataError

        files = self.files
        held = ("BGEN probabilities (expected alt dosages)" if not isinstance(files, (PlinkFiles, EntriesFiles))
                else "MatrixTable calls" if isinstance(files, EntriesFiles)
                else ".bed hard calls" if files.format == "plink" else ".pgen dosages (hard calls where none)")
        where = files.path if isinstance(files, EntriesFiles) else files.matrix
        raise InputDataError(
            f"the {held} of a site given split (one row per alt) give {total[worst]:.4f} alt copies in all at "
            f"{self.site[site]} ({','.join(f'{d:.3f}' for d in rows[:, worst])}), more than 2: the REF's dosage "
            "would be negative; fix the file's dosages (each sample's rows of one site hold at most 2 copies)",
            where=where)


def _x_frequency_means(part: np.ndarray, x_haploid: np.ndarray, male: np.ndarray, n_missing: np.ndarray,
                       mean: np.ndarray, no_call: np.ndarray | None = None) -> None:
    """Set ``mean`` (the imputed alt dosage per row of ``part``, rows x samples, missing =
    ``PGENLIB_MISSING``) of the rows flagged ``x_haploid`` that have a missing call to 2 x the
    alt frequency with a male's call one allele observation (his dosage 0 or 2 is 0 or 1 alt
    allele of 1): sum(w d) / sum(w) over the called samples, w = 1/2 for a male. plink2
    --score with the samples' sex (its --freq on X): 2 x 5/7 for males 1, 0, 1 and women 0/1,
    1/1 where the plain mean over samples gave 7/5; a row with no called sample: ``no_call``'s
    value (2/k, ``Task.no_call_dosage``; None: 1). Few rows (X, with a missing call)."""
    weight = np.where(male, 0.5, 1.0)
    for i in np.flatnonzero(x_haploid & (n_missing > 0)):
        called = part[i] != PGENLIB_MISSING
        total = weight[called].sum()
        mean[i] = weight[called] @ part[i][called] / total if total > 0 else \
            1.0 if no_call is None else float(no_call[i])




def _drop_non_males_on_y(part: np.ndarray, y_rows: np.ndarray, male: np.ndarray | None,
                         no_call: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """On the rows of ``part`` (rows x samples, missing = ``PGENLIB_MISSING``) flagged ``y_rows``
    (chrY), set every non-male's call (``male`` False; None: no sample is male) to 0 alt copies,
    called or missing, so that it adds nothing (``pgen_engine._ScoreRows`` takes her chrY
    offsets off) and is not a missing call; returns those rows and the mean alt dosage of their
    called males (when none, ``no_call``'s value, 2/k for a k-allele site, None: 1: plink2's
    frequency 1/k for zero observations), which imputes a
    male's missing call there; None when no row is flagged. plink2 --score skips a female's and
    an unknown-sex sample's chrY calls (ALLELE_CT 0 there) and its --freq counts males only on
    chrY (OBS_CT): checked in tests/test_field_cases_round20_sex.py. Few rows (chrY)."""
    at = np.flatnonzero(y_rows)
    if not at.size:
        return None
    means = np.ones(at.size) if no_call is None else np.array(no_call[at], dtype=np.float64)
    for i, r in enumerate(at):
        row = part[r]
        if male is None:
            row[:] = 0.0
            continue
        called = male & (row != PGENLIB_MISSING)
        n_called = int(called.sum())
        if n_called:
            means[i] = row[called].sum() / n_called
        row[~male] = 0.0
    return at, means


def spilled(directory: str, pairs: Iterable[tuple[int, tuple[np.ndarray, np.ndarray]]]
             ) -> Iterator[tuple[int, tuple[str, float]]]:
    """In a task: each (slice, (score, missing vars)) partial written to a new .npy file of
    ``directory`` (both arrays, exact: ``np.save``), yielded as (slice, (file name, CPU seconds
    the task's Python code spent since its previous item: reading its input and rows, the block
    products, writing the file)); ``pgen_engine._rows_summed_on_driver`` reads and removes the file
    and adds the seconds up (``_PassTimes.task_cpu_s``). A new name per file (``mkstemp``): a retried task
    never meets an earlier attempt's file."""
    import tempfile

    if not os.path.isdir(directory):
        raise pass_files_gone(directory)
    cpu = time.process_time()
    for i, (part, missing_vars) in pairs:
        fd, path = tempfile.mkstemp(suffix=".npy", dir=directory)
        with os.fdopen(fd, "wb") as f:
            np.save(f, part, allow_pickle=False)
            np.save(f, missing_vars, allow_pickle=False)
        now = time.process_time()
        yield i, (path, now - cpu)
        cpu = time.process_time()


def add_partials(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Sum two slices' partials in place (``a`` is the reducer's own deserialised copy)."""
    np.add(a[0], b[0], out=a[0])
    np.add(a[1], b[1], out=a[1])
    return a



def worker_ready(_: int) -> int:
    """A warm-up task: import what ``_score_task`` imports (the worker keeps the modules for
    the tasks after it: Spark reuses its Python workers)."""
    import pgenlib  # noqa: F401
    import scipy.linalg.blas  # noqa: F401 - _score_task's dgemm (scipy.linalg: ~0.05 CPU-s to import)
    import scipy.sparse  # noqa: F401
    import threadpoolctl  # noqa: F401

    return os.getpid()

