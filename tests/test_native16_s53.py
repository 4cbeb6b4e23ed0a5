"""The native pass's blocks (issue 16, session 53 helper native16): a few hundred rows per block,
each block's product added into the task's sums in place (``native_task._add_product``), the
missing calls' sparse products made over batches of blocks (``native_task._MissingCalls``).

Why (benchmarks/RESULTS.md, session 53 native16): blocks of thousands of rows (4,096 at 2,500
samples, the 256 MB budget's 1,677 at 20,000) went from the reader to the dgemm through main
memory, and the two tasks of local[2] shared its bandwidth; a few hundred rows stay in the
cache and cost less per entry. Small blocks need the two changes beside them: a k x n product
written and added per block, and a sparse product per block whose n x k result is added, would
cost a pass over the k x n sums per block."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from trd_spark.pgs.native_task import PlinkFiles

DATA = Path(__file__).parent / "data" / "pgs"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """tiny.vcf (4 samples, missing calls) as a .bed fileset written by plink2, one row per alt
    (as test_pgs_native_engine's fixture, whose split it uses)."""
    from test_pgs_native_engine import split_vcf

    exe = shutil.which("plink2")
    assert exe, "plink2 must be on PATH (apt-get install plink2)"
    d = tmp_path_factory.mktemp("native16")
    split_vcf(DATA / "tiny.vcf", d / "split.vcf")
    subprocess.run([exe, "--threads", "1", "--vcf", str(d / "split.vcf"), "--set-all-var-ids", "@:#:$r:$a",
                    "--new-id-max-allele-len", "20", "--make-bed", "--out", str(d / "t")], check=True, capture_output=True)
    return {"prefix": d / "t"}


def _oracle(fileset: PlinkFiles, n: int, variant_idx: np.ndarray, slope: np.ndarray, offset: np.ndarray | None,
            n_vars: np.ndarray, impute: bool) -> tuple[np.ndarray, np.ndarray]:
    """The task's sums computed densely from pgenlib's whole rows, not through blocks: score (k x n)
    = slope.T @ dosages (a missing call the row's called mean, or 0 and minus its offset for
    zero), missing vars (k x n) = n_vars summed over each sample's missing calls."""
    import pgenlib

    dose = np.empty((len(variant_idx), n))
    with pgenlib.PgenReader(fileset.matrix.encode(), raw_sample_ct=n) as reader:
        reader.read_dosages_list(variant_idx.astype(np.uint32), dose)
    missing = dose == -9
    called = np.where(missing, 0.0, dose)
    n_called = (~missing).sum(axis=1)
    mean = np.divide(called.sum(axis=1), n_called, out=np.ones(len(dose)), where=n_called > 0)
    filled = np.where(missing, mean[:, None], dose) if impute else called
    score = slope.T @ filled
    if not impute:
        score -= offset.T @ missing.astype(np.float64)
    return score, n_vars.T.astype(np.float64) @ missing.astype(np.float64)


@pytest.mark.parametrize("impute", [True, False], ids=["mean_impute", "zero"])
@pytest.mark.parametrize("batch_rows, batch_calls", [(3, 2**20), (4096, 2), (1, 1)],
                         ids=["batches_of_blocks", "batches_by_calls", "every_block"])
def test_missing_calls_batched_over_blocks_give_the_dense_sums(files, monkeypatch, impute, batch_rows, batch_calls):
    """Bed rows 0..9 of the toy fileset (4 samples, missing calls in them) in blocks of 2 rows,
    the missing calls' products made over batches of blocks (by rows, by calls, or per block):
    every batch's rows counted once from its own first row. Equal to the dense oracle to 1e-12,
    the missing vars exactly. New code (nothing batched before session 53): a mutant that takes a
    batch's missing-call rows from the block's first row instead of the batch's (``mis_r`` added
    without ``lo - self.lo``) fails the batches-by-calls cases, one without the task's last
    ``flush`` (the last batch's calls dropped) the batches-of-blocks cases."""
    from trd_spark.pgs import native_task
    from trd_spark.pgs.native_task import Task, _score_task

    monkeypatch.setattr(native_task, "MISSING_BATCH_ROWS", batch_rows)
    monkeypatch.setattr(native_task, "MISSING_BATCH_CALLS", batch_calls)
    rng = np.random.default_rng(53)
    rows = np.arange(10)
    slope, offset = rng.normal(size=(10, 3)), rng.normal(size=(10, 3))
    n_vars = rng.integers(0, 4, (10, 3)).astype(np.uint8)
    fileset = PlinkFiles("plink", str(files["prefix"]))
    task = Task(rows, np.ones(10, dtype=np.int32), slope, None if impute else offset, n_vars)
    [(i, (score, missing_vars))] = list(_score_task(fileset, 4, None, 2, impute, 4, task))
    want_score, want_missing = _oracle(fileset, 4, rows, slope, offset, n_vars, impute)
    assert i == 0 and want_missing.sum() > 0  # (the rows hold missing calls)
    np.testing.assert_allclose(score, want_score, rtol=0, atol=1e-12)
    assert missing_vars.tolist() == want_missing.tolist()


def test_a_blocks_product_is_added_into_the_sums_whatever_their_layout():
    """``_add_product`` adds slope.T @ dose into score in place (dgemm with beta 1 on the Fortran-order
    views: no k x n product per block); where score's layout is not one BLAS writes in place (a
    strided view: scipy's wrapper computes into a copy), the copy's values are put back. A
    mutant without that copy-back leaves such sums unadded, silently: this test fails on it."""
    from scipy.linalg.blas import dgemm

    from trd_spark.pgs.native_task import _add_product

    rng = np.random.default_rng(7)
    dose, slope = rng.normal(size=(5, 11)), rng.normal(size=(5, 3))
    start = rng.normal(size=(3, 11))
    score = start.copy()
    _add_product(dgemm, score, dose, slope)
    np.testing.assert_allclose(score, start + slope.T @ dose, rtol=0, atol=1e-12)
    wide = np.zeros((3, 22))
    strided = wide[:, ::2]  # neither C- nor Fortran-contiguous
    strided[...] = start
    _add_product(dgemm, strided, dose, slope)
    np.testing.assert_allclose(wide[:, ::2], start + slope.T @ dose, rtol=0, atol=1e-12)
    assert not wide[:, 1::2].any()
