"""Issue 16 (session 45, flat4): the warm-up of a run whose every dataset is scored natively
(bed / pgen / BGEN, ``stage.native_warm_up`` -> ``pgen_engine.warm_up``) has each Python worker
pay the pass's first-task costs (``native_task.pass_ready``: BLAS's first call, the block buffer
faulted in) beside the match, as the entry files' route did since session 32: ``stage.native_block``
gives the block. On base the warm-up only imported the task modules, and the first score phase's
tasks made their block buffers (benchmarks/RESULTS.md, session 45 flat4)."""

from __future__ import annotations

import logging
import shutil
import subprocess

import pytest
from test_pgs_mt_entries import _warm_up_config

from trd_spark.pgs import pgen_engine, stage


def _vcf(n: int) -> str:
    samples = [f"S{i}" for i in range(n)]
    return ("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=248956422>\n"
            '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples) + "\n"
            "chr1\t100\tv1\tA\tC\t.\tPASS\t.\tGT\t" + "\t".join(["0/1"] * n) + "\n")


def _plink2(tmp_path, n: int, out: str, *make: str) -> None:
    (tmp_path / f"{out}.vcf").write_text(_vcf(n))
    subprocess.run(["plink2", "--vcf", str(tmp_path / f"{out}.vcf"), *make, "--out", str(tmp_path / out)],
                   check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("plink2") is None, reason="needs plink2 (the BGEN writer)")
def test_native_block_is_the_block_of_the_native_dataset_with_the_most_samples(tmp_path):
    """``stage.native_block``: ``pgen_engine.block_rows`` of the largest sample count among the
    datasets scored natively (a .fam's lines, a .psam's without its header, a BGEN's header); a
    dataset Hail reads (VCF) or whose sample file is missing is left out; None when none is left."""
    _plink2(tmp_path, 3, "a", "--make-bed")
    _plink2(tmp_path, 5, "b", "--make-pgen")
    _plink2(tmp_path, 7, "c", "--export", "bgen-1.2", "bits=8")
    _plink2(tmp_path, 9, "d", "--make-bed")  # read by Hail: not the pass's
    vcf = f"format: vcf, path: {tmp_path}/d.vcf"
    cfg = _warm_up_config(tmp_path, f"format: plink, path: {tmp_path}/a.bed", f"format: pgen, path: {tmp_path}/b",
                          f"format: bgen, path: {tmp_path}/c.bgen", vcf)
    mb = cfg.pgs.native.block_memory_mb
    assert stage.native_block(cfg) == (pgen_engine.block_rows(7, mb), 7)
    two = _warm_up_config(tmp_path, f"format: pgen, path: {tmp_path}/b", f"format: plink, path: {tmp_path}/a.bed",
                          f"format: plink, path: {tmp_path}/missing.bed", vcf)
    assert stage.native_block(two) == (pgen_engine.block_rows(5, mb), 5)
    assert stage.native_block(_warm_up_config(tmp_path, f"format: plink, path: {tmp_path}/missing.bed")) is None
    assert stage.native_block(_warm_up_config(tmp_path, vcf)) is None
    # (a block of rows x samples entries at most the budget: 4,096 rows at these few samples)
    assert pgen_engine.block_rows(7, mb) == pgen_engine.BLOCK_ROWS_MAX


def test_the_native_warm_up_gives_the_workers_the_passs_block(hl, spark, tmp_path, caplog, monkeypatch):
    """An all-native run's warm-up (``stage.native_warm_up``) runs ``pgen_engine.warm_up`` with
    ``native_block``'s block and says so; its Python workers then hold a block buffer of at
    least that size (``native_task._BLOCK_BUFFER``, kept for the pass's tasks), where a job had
    emptied them first. Spark hands a task the idle worker that waited longest (a queue), so
    each job's tasks (one per default-parallelism slot, more than local[2] keeps workers) go
    round every idle worker. The warm-up runs once per Spark application: the session's record
    of it is emptied here for this one."""
    from trd_spark.pgs import native_task

    (tmp_path / "a.fam").write_text("".join(f"F{i} S{i} 0 0 1 -9\n" for i in range(300)))
    cfg = _warm_up_config(tmp_path, f"format: plink, path: {tmp_path}/a.bed")
    rows, n = stage.native_block(cfg)
    sc = spark.sparkContext
    slots = sc.defaultParallelism
    assert slots > 2
    sc.parallelize(range(slots), slots).map(lambda _: native_task._BLOCK_BUFFER.clear()).collect()
    monkeypatch.setattr(pgen_engine, "_WARMED", set())
    with caplog.at_level(logging.INFO, logger="trd_spark.pgs.stage"):
        with stage.native_warm_up(hl, spark, cfg):
            pass  # (the parse and match: not needed here)
    assert "native pass warm-up done (with the pass's first-task costs) (waited" in caplog.text, caplog.text
    held = sc.parallelize(range(slots), slots).map(
        lambda _: native_task._BLOCK_BUFFER[0].size if native_task._BLOCK_BUFFER else 0).collect()
    assert min(held) >= rows * n, (held, rows, n)
