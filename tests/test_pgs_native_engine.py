"""The native PLINK engine (pgenlib + numpy in Spark tasks) against Hail's pass and plink2.

Data: tests/data/pgs/tiny.vcf (4 samples, a missing call at 200 and 900, a multi-allelic site
at 300: G>A,C) converted by plink2 to the formats the native engine reads:

    plink2 --vcf tiny.vcf --make-pgen --out t                  (pgen keeps G>A,C as one row)
    plink2 --vcf tiny_split.vcf --make-bed --out t             (.bed cannot hold multi-allelic
                                                               rows: G>A and G>C, split first)

Scores: PGS000901 (flips, an effect-allele-only variant, a palindrome dropped) and a second
score with a REF effect allele at the multi-allelic site (dosage 2 - all alt copies) and a
variant on the other alt, so both score arrays, a shared row and the sparse missing-call
correction are exercised. Cross-engine: Hail's ``compute_scores`` on the same genotypes
(.bed through ``import_plink``; the pgen's source VCF, as Hail has no pgen reader) agrees to
1e-9, and plink2 ``--score`` on the same .bed/.pgen is the oracle (frequencies for its mean
imputation written with --freq and read back, as in test_pgs_plink2_oracle.py).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest
from pgs_hail_oracle import match_variants, pgen_matrix_table, score_weights_table, summarise_matches, weights_frame

from trd_spark.config import GenotypeSource, NativeEngineSettings
from trd_spark.errors import InputDataError
from trd_spark.pgs.genotypes import haploid_contigs, read_genotypes
from trd_spark.pgs.matching import (
    ScoreLabel,
    WeightMatrices,
    frame_matches,
    match_sites_frame,
    score_sites,
    score_variants_table,
    summarise_frame_matches,
    weight_matrices,
)
from trd_spark.pgs.memory import small_pages
from trd_spark.pgs.pgen_engine import (
    PlinkFiles,
    SummedScores,
    block_rows,
    check_bed_size,
    check_variant_loci,
    driver_sum_bytes,
    psam_samples,
    score,
    variant_index,
)
from trd_spark.pgs.scoring import compute_scores
from trd_spark.pgs.scoring_files import parse_scoring_file, read_scoring_file

DATA = Path(__file__).parent / "data" / "pgs"

SECOND_SCORE = ("#pgs_id=PGS000912\n#genome_build=GRCh38\n"
                "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
                "1\t300\tG\tA\t0.75\n1\t200\tT\tC\t-2.0\n1\t700\tA\tC\t0.125\n")


def split_vcf(src: Path, dst: Path) -> None:
    """One row per alt allele (a call's copies of that alt; other alts count as REF)."""
    out = []
    for line in src.read_text().splitlines():
        f = line.split("\t")
        if line.startswith("#") or "," not in f[4]:
            out.append(line)
            continue
        for a, alt in enumerate(f[4].split(","), 1):
            calls = ["/".join("." if x == "." else ("1" if x == str(a) else "0") for x in gt.split("/"))
                     for gt in f[9:]]
            out.append("\t".join([*f[:4], alt, *f[5:9], *calls]))
    dst.write_text("\n".join(out) + "\n")


def plink2(*args: str) -> None:
    exe = shutil.which("plink2")
    assert exe, "plink2 must be on PATH (apt-get install plink2)"
    subprocess.run([exe, "--threads", "1", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """tiny.vcf as bgzipped VCF, .pgen and (split) .bed filesets, variant IDs @:#:$r:$a."""
    d = tmp_path_factory.mktemp("native")
    bgz = d / "tiny.vcf.bgz"
    pysam.tabix_compress(str(DATA / "tiny.vcf"), str(bgz), force=True)
    split_vcf(DATA / "tiny.vcf", d / "split.vcf")
    ids = ["--set-all-var-ids", "@:#:$r:$a", "--new-id-max-allele-len", "20"]
    plink2("--vcf", str(DATA / "tiny.vcf"), *ids, "--make-pgen", "--out", str(d / "t"))
    plink2("--vcf", str(d / "split.vcf"), *ids, "--make-bed", "--out", str(d / "t"))
    return {"vcf": bgz, "split_vcf": d / "split.vcf", "prefix": d / "t"}


@pytest.fixture(scope="module")
def scoring_files():
    return [read_scoring_file(str(DATA / "PGS000901.txt")), parse_scoring_file(SECOND_SCORE, source="b.txt")]


@pytest.fixture(scope="module")
def matched(hl, spark, files, scoring_files):
    """Per format, matched once (cached): Hail's genotypes and weights (the .bed through
    ``import_plink``; for pgen, which Hail cannot read, the VCF it was made from) and the native
    side's weights frame and samples, matched by the frame matcher on the fileset's own variant
    and sample lists, as the stage does; Hail's matcher on the same fileset gives the same
    weights frame and match summary."""
    ids = [sf.pgs_id for sf in scoring_files]
    labels = {i: ScoreLabel("t", "d") for i in ids}
    cache = {}

    def weights(mt):
        m = match_variants(hl, mt, score_variants_table(hl, spark, scoring_files, "GRCh38"), keep_ambiguous=False)
        summary = summarise_matches(hl, m, "d", ids, labels)
        w = score_weights_table(hl, m, len(ids)).checkpoint(hl.utils.new_temp_file("native_w", "ht"))
        return w, summary

    def sorted_weights(w: pd.DataFrame) -> pd.DataFrame:
        w = w.sort_values(["contig", "position", "ref", "alt"]).reset_index(drop=True)
        return w.assign(**{c: w[c].map(list) for c in ("slope", "offset", "n_vars")})

    def get(fmt):
        if fmt not in cache:
            fileset = PlinkFiles(fmt, str(files["prefix"]))
            if fmt == "plink":
                hail_mt = native_mt = read_genotypes(hl, GenotypeSource(format="plink", path=fileset.prefix))
            else:
                hail_mt = read_genotypes(hl, GenotypeSource(format="vcf", path=str(files["vcf"])))
                native_mt = pgen_matrix_table(hl, fileset, "GRCh38")
            hail_w, hail_summary = weights(hail_mt)
            index = variant_index(fileset, "GRCh38").frame
            fm = frame_matches(match_sites_frame(score_sites(hl, spark, scoring_files, "GRCh38"), index,
                                                 keep_ambiguous=False), index)
            native_w = weight_matrices(fm, haploid_contigs(hl.get_reference("GRCh38")))
            summary = summarise_frame_matches(fm, "d", labels)
            by_hail_w, by_hail_summary = (hail_w, hail_summary) if native_mt is hail_mt else weights(native_mt)
            # The Hail oracle does not count matches at multi-allelic sites (test_pgs_matching): 300
            # carries G>A and G>C, and each score matches one variant there.
            assert summary["n_matched_multiallelic"].tolist() == [1, 1]
            oracle = summary.drop(columns="n_matched_multiallelic")
            pd.testing.assert_frame_equal(oracle, by_hail_summary.drop(columns="n_matched_multiallelic"))
            pd.testing.assert_frame_equal(oracle, hail_summary.drop(columns="n_matched_multiallelic"))
            got = sorted_weights(native_w.frame())[["contig", "position", "ref", "alt", "slope", "offset", "n_vars"]]
            pd.testing.assert_frame_equal(got, sorted_weights(weights_frame(hl, by_hail_w)), check_dtype=False)
            assert len(got) == 8  # 100 200 300:G>A 500 600 700 900, and 300:G>C (PGS000912's REF effect at 300)
            cache[fmt] = (fileset, hail_mt, hail_w, native_w, psam_samples(fileset), summary["n_matched"].tolist())
        return cache[fmt]

    return get


def plink2_sums(fileset: PlinkFiles, tmp: Path, missing_genotypes: str) -> pd.Series:
    """plink2 --{bfile|pfile} t --read-freq f.afreq --score s.tsv 1 2 3 header cols=+scoresums
    [no-mean-imputation]: PGS000901's SUM per IID on the very files the native engine reads."""
    (tmp / "s.tsv").write_text(PLINK2_SCORE)
    source = ["--bfile" if fileset.format == "plink" else "--pfile", fileset.prefix]
    plink2(*source, "--freq", "--out", str(tmp / "f"))
    modifiers = ["header", "cols=+scoresums"] + ([] if missing_genotypes == "mean_impute" else ["no-mean-imputation"])
    plink2(*source, "--read-freq", str(tmp / "f.afreq"), "--score", str(tmp / "s.tsv"), "1", "2", "3",
           *modifiers, "--out", str(tmp / "o"))
    ref = pd.read_csv(tmp / "o.sscore", sep="\t").rename(columns={"#IID": "IID"})
    return ref.set_index(ref["IID"].astype(str))["SCORE1_SUM"]


# PGS000901's used variants for plink2, effect allele on the genotypes' strand (flips resolved by
# hand, as in test_pgs_plink2_oracle.py); variant IDs @:#:$r:$a ($a = the first alt: the pgen's
# G>A,C row and the .bed's split G>A row are both 1:300:G:A).
PLINK2_SCORE = ("ID\tA1\tW\n1:100:A:G\tG\t0.5\n1:200:C:T\tC\t-1.0\n1:300:G:A\tA\t2.0\n"
                "1:500:T:C\tC\t0.25\n1:600:G:T\tG\t3.0\n1:900:T:G\tG\t1.5\n")

DEFAULTS = NativeEngineSettings()
# One row per block (a budget below one row), three rows per task and one sample per reduction
# key: blocks within a task, partial sums of several tasks and of every slice are added, in
# Spark (reduceByKey: no driver budget); DEFAULTS adds them on the driver.
TINY = NativeEngineSettings(block_memory_mb=1e-6, variants_per_task=3, sample_slice=1, driver_sum_mb=0)


@pytest.mark.parametrize(("fmt", "missing_genotypes", "settings"), [
    ("plink", "mean_impute", TINY), ("plink", "zero", DEFAULTS),
    ("pgen", "mean_impute", DEFAULTS), ("pgen", "zero", TINY),
], ids=["bed-mean_impute-tiny", "bed-zero", "pgen-mean_impute", "pgen-zero-tiny"])
def test_native_equals_hail_and_plink2(hl, spark, matched, scoring_files, tmp_path, fmt, missing_genotypes,
                                       settings, caplog):
    import logging

    fileset, hail_mt, hail_w, native_w, samples, n_matched = matched(fmt)
    ids = [sf.pgs_id for sf in scoring_files]
    hail = compute_scores(hl, hail_mt, hail_w, ids, n_matched, missing_genotypes=missing_genotypes, chr_y=False, chr_m=False)
    with caplog.at_level(logging.INFO, logger="trd_spark.pgs.pgen_engine"):
        native = score(spark, hl, fileset, "GRCh38", native_w, samples, ids, n_matched,
                       missing_genotypes=missing_genotypes, settings=settings)
    # The pass logs where its time went once (benchmarks/pgs_vs_plink2.py prints it): the job
    # timed when the partials are added on the driver (DEFAULTS), not when Spark adds them at
    # the caller's write (TINY: driver_sum_mb 0).
    split = [r.native_pass for r in caplog.records if hasattr(r, "native_pass")]
    assert len(split) == 1 and split[0]["scores"] == len(ids)
    # Tasks sized by entries, as many per core (task_bounds over task_slots, 37cd72a): the few
    # entries here make one task per core of local[2]; TINY's 3-row cap makes more, still a
    # multiple of the cores (a pass that rounded to 1 slot, or to the shuffle partitions, passed).
    rows = split[0]["rows"]
    assert rows >= 2 and split[0]["tasks"] == (2 if settings.variants_per_task is None
                                               else 2 * math.ceil(math.ceil(rows / 3) / 2)), split[0]
    on_driver = settings.driver_sum_mb > 0
    assert (split[0]["job_s"] is not None) == on_driver
    # Added on the driver under a local master, the partials come back as local files (not
    # ~200 MB of Spark task results through the JVM at 20k x 61), removed once read.
    assert split[0]["partials"] == ("local files" if on_driver else None)
    # So do the weighted rows: .npy files each task maps its rows of, not ~55 MB per task's
    # pickle at 200k rows x 61 scores; reduced in Spark (after ``score`` returns) in the pickles.
    assert split[0]["weights"] == ("local files" if on_driver else "task pickles")
    # The tasks' own CPU comes back with their files (benchmarks/scaling.py's engine-only figure).
    assert (split[0]["task_cpu_s"] is not None and split[0]["task_cpu_s"] > 0) == on_driver
    local_dir = spark.sparkContext.getConf().get("spark.local.dir").split(",")[0]
    assert not list(Path(local_dir).glob("pgs_native_partials_*"))
    # Those files were on the memory file system (pgs.native.memory_dir, /dev/shm) when it had room
    # for them, else on the disk (session 34); none of this process's is left in either.
    assert split[0]["files_in"] in (("memory_dir", "local dir") if on_driver else (None,))
    if settings.memory_dir is not None and os.path.isdir(settings.memory_dir):
        from trd_spark.pgs.scratch import OWNER

        left = [p for p in Path(settings.memory_dir).glob("pgs_native_partials_*")
                if (p / OWNER).is_file() and json.loads((p / OWNER).read_text()).get("pid") == os.getpid()]
        assert not left
    # Added on the driver, the sums come back as numpy (what the stage writes, no Hail job);
    # added in Spark, as a Hail Table (SummedInSpark.table): either way Hail's pass's columns and types.
    assert isinstance(native, SummedScores) == on_driver
    if on_driver:
        columns = native.columns()
        numpy_type = {hl.tstr: "object", hl.tfloat64: "float64", hl.tint64: "int64"}
        assert {c: str(a.dtype) for c, a in columns.items()} == {c: numpy_type[t] for c, t in hail.row.dtype.items()}
        native = pd.DataFrame(columns)
    else:
        assert native.table.row.dtype == hail.row.dtype  # same columns, same types
        native = native.table.to_pandas()
    # Hail's to_pandas gives the key strings as pandas' StringDtype, numpy as objects: same values.
    hail = hail.to_pandas().astype({"s": object, "pgs_id": object}).set_index(["s", "pgs_id"]).sort_index()
    native = native.astype({"s": object, "pgs_id": object}).set_index(["s", "pgs_id"]).sort_index()
    assert list(native.index) == list(hail.index) and len(native) == 8
    pd.testing.assert_frame_equal(native[["allele_count", "n_missing", "n_matched"]],
                                  hail[["allele_count", "n_missing", "n_matched"]], check_dtype=False)
    assert not hail[["allele_count", "n_missing", "n_matched"]].isna().any().any()
    for col in ("score_sum", "score_avg"):
        assert (native[col] - hail[col]).abs().max() <= 1e-9, col
    # Not a vacuous comparison: the hand-computed PGS000901 sums (test_pgs_scoring.py) ...
    ours = native.xs("PGS000901", level="pgs_id")["score_sum"]
    expected = {"mean_impute": [9.0, 8.75, 6.0, 0.25], "zero": [9.0, 9.75, 6.0, -1.25]}[missing_genotypes]
    assert ours.tolist() == pytest.approx(expected, abs=1e-12)
    # ... and plink2 on the same files.
    ref = plink2_sums(fileset, tmp_path, missing_genotypes)
    assert sorted(ref.index) == sorted(ours.index)
    for s in ref.index:
        assert ours[s] == pytest.approx(ref[s], abs=1e-9)



def test_weights_built_in_the_pass_files_out_of_file_order_reach_the_tasks_in_file_order(hl, spark, matched,
                                                                                          scoring_files):
    """``score`` with weights built in its pass's files (``WeightMatrices.directory``, as the
    stage's ``weight_matrices`` builds them, ``native_task.mapped_rows``) whose rows are not in
    file order (here reversed; the stage's own bed/pgen/BGEN rows come in file order, an export's
    rows as its write placed them): ``_placed_weights`` reorders slope and n_vars, and the
    reordered copies, not the built files, must be what the tasks map (``shared_task_rows``
    writes them under new inodes; the built files stay only when no reorder happened). The same
    sums as the rows in file order in memory, and PGS000901's hand-computed ones (zero, so the
    offsets are reordered too). Session 35's owed case: a mutant taking every built matrix as in
    place (``in_place`` without ``arrays[name] is built``) passed every test; here it reads the
    reversed slope rows against file-ordered genotypes."""
    from trd_spark.pgs.native_task import mapped_rows
    from trd_spark.pgs.pgen_engine import pass_directory

    fileset, _, _, native_w, samples, n_matched = matched("plink")
    ids = [sf.pgs_id for sf in scoring_files]
    want = pd.DataFrame(score(spark, hl, fileset, "GRCh38", native_w, samples, ids, n_matched,
                              missing_genotypes="zero", settings=DEFAULTS).columns())
    back = np.arange(len(native_w.rows))[::-1]
    with pass_directory(spark) as directory:
        built = {name: mapped_rows(str(directory), name, a.shape, a.dtype)
                 for name, a in (("slope", native_w.slope), ("n_vars", native_w.n_vars))}
        built["slope"][:] = native_w.slope[back]
        built["n_vars"][:] = native_w.n_vars[back]
        reversed_w = WeightMatrices(native_w.rows.iloc[back].reset_index(drop=True), built["slope"],
                                    native_w.offset[back], built["n_vars"], directory=str(directory))
        got = pd.DataFrame(score(spark, hl, fileset, "GRCh38", reversed_w, samples, ids, n_matched,
                                 missing_genotypes="zero", settings=DEFAULTS).columns())
    pd.testing.assert_frame_equal(got.drop(columns=["score_sum", "score_avg"]),
                                  want.drop(columns=["score_sum", "score_avg"]))
    for col in ("score_sum", "score_avg"):
        assert (got[col] - want[col]).abs().max() <= 1e-12, col
    ours = got[got["pgs_id"] == "PGS000901"]["score_sum"]
    assert ours.tolist() == pytest.approx([9.0, 9.75, 6.0, -1.25], abs=1e-12)

def _first_score_pass(hl, spark, scoring_files, files, directory):
    """PGS000901 alone on the .bed (one site per genotype row: ``weight_matrices``' common case,
    which the stage defers for a native pass), matched on the fileset's own variant list: the
    fileset, samples, the score's pgs_id and matched count, its weights built in memory, and its
    weights as the stage builds them (``weight_matrices`` with the pass ``directory`` and ``defer``)."""
    fileset = PlinkFiles("plink", str(files["prefix"]))
    index = variant_index(fileset, "GRCh38").frame
    fm = frame_matches(match_sites_frame(score_sites(hl, spark, scoring_files[:1], "GRCh38"), index,
                                         keep_ambiguous=False), index)
    haploid = haploid_contigs(hl.get_reference("GRCh38"))
    n_matched = summarise_frame_matches(fm, "d", {scoring_files[0].pgs_id: ScoreLabel("t", "d")})["n_matched"]
    return (fileset, psam_samples(fileset), [scoring_files[0].pgs_id], n_matched.tolist(), weight_matrices(fm, haploid),
            weight_matrices(fm, haploid, str(directory), defer=True))


# Blocks of one row, tasks of three rows, partials summed on the driver: the pass's tasks are gated.
GATED = NativeEngineSettings(block_memory_mb=1e-6, variants_per_task=3)


@pytest.mark.parametrize("missing_genotypes", ["mean_impute", "zero"])
def test_deferred_weights_are_built_while_the_pass_tasks_wait_and_score_the_same(hl, spark, scoring_files, files,
                                                                                 missing_genotypes):
    """The stage's weights for a native pass (``matching.DeferredWeights``, issue 16 session 36):
    ``score`` submits the job on the rows alone and builds the matrices meanwhile; the build
    runs while the pass's tasks are running (held by the gate: no ready mark yet) and the rows
    equal those of the weights built first in memory, exactly (mean_impute and zero: the offsets
    written after the build too; the in-memory weights' sums are plink2's,
    test_native_equals_hail_and_plink2)."""
    from trd_spark.pgs.matching import DeferredWeights
    from trd_spark.pgs.native_task import WEIGHTS_READY
    from trd_spark.pgs.pgen_engine import pass_directory

    tracker = spark.sparkContext.statusTracker()
    seen = {}
    with pass_directory(spark) as directory:
        fileset, samples, ids, n_matched, in_memory, deferred = _first_score_pass(hl, spark, scoring_files, files,
                                                                                  directory)
        assert isinstance(deferred, DeferredWeights) and not deferred.is_built
        want = pd.DataFrame(score(spark, hl, fileset, "GRCh38", in_memory, samples, ids, n_matched,
                                  missing_genotypes=missing_genotypes, settings=GATED).columns())
        build = deferred._build
        assert build is not None

        def watched():
            # Until a task runs (they wait at the gate for this build), at most 60 s.
            for _ in range(3000):
                running = sum(info.numActiveTasks for info in map(tracker.getStageInfo, tracker.getActiveStageIds())
                              if info is not None)
                if running:
                    break
                time.sleep(0.02)
            seen["running"] = running
            seen["ready"] = os.path.exists(os.path.join(directory, "weights", WEIGHTS_READY))
            return build()

        object.__setattr__(deferred, "_build", watched)
        got = pd.DataFrame(score(spark, hl, fileset, "GRCh38", deferred, samples, ids, n_matched,
                                 missing_genotypes=missing_genotypes, settings=GATED).columns())
        assert deferred.is_built
    assert seen["running"] >= 1 and seen["ready"] is False, seen
    pd.testing.assert_frame_equal(got, want)


def test_a_failed_deferred_build_stops_the_pass_with_its_own_error(hl, spark, scoring_files, files):
    """A deferred build that raises (or is interrupted) while the pass's tasks wait: ``score``
    raises the build's own error (not a Spark job error), cancels the job (no job left running),
    and the session scores the next pass as before."""
    from trd_spark.pgs.pgen_engine import pass_directory

    tracker = spark.sparkContext.statusTracker()

    def failing():
        raise ValueError("the build failed")

    with pass_directory(spark) as directory:
        fileset, samples, ids, n_matched, in_memory, deferred = _first_score_pass(hl, spark, scoring_files, files,
                                                                                  directory)
        want = pd.DataFrame(score(spark, hl, fileset, "GRCh38", in_memory, samples, ids, n_matched,
                                  missing_genotypes="mean_impute", settings=GATED).columns())
        object.__setattr__(deferred, "_build", failing)
        with pytest.raises(ValueError, match="the build failed"):
            score(spark, hl, fileset, "GRCh38", deferred, samples, ids, n_matched, missing_genotypes="mean_impute",
                  settings=GATED)
    for _ in range(500):  # the cancelled job's end reaches the tracker asynchronously
        if not tracker.getActiveJobsIds():
            break
        time.sleep(0.02)
    assert tracker.getActiveJobsIds() == []
    again = pd.DataFrame(score(spark, hl, fileset, "GRCh38", in_memory, samples, ids, n_matched,
                               missing_genotypes="mean_impute", settings=GATED).columns())
    pd.testing.assert_frame_equal(again, want)


def test_block_rows_fit_the_memory_budget():
    # At 250k samples the budget of 256 MB holds 134 rows of float64 dosages (bed and pgen are
    # both read as dosages, 8 bytes per entry).
    rows = block_rows(250_000, 256)
    assert rows * 250_000 * 8 <= 256 * 2**20 < (rows + 1) * 250_000 * 8
    assert rows == 134
    assert block_rows(10**9, 1) == 1  # never 0 rows


def test_the_pass_folder_is_under_the_sessions_first_local_dir(spark):
    """``_spill_dir`` reads ``spark.local.dir`` from the session's runtime conf (one py4j call,
    not ``sc.getConf()``'s copy of every entry: session 31): in a real session it is the
    SparkConf's value, so the pass's weighted rows and partials go under its first directory."""
    from trd_spark.pgs.pgen_engine import _spill_dir

    local = spark.sparkContext.getConf().get("spark.local.dir").split(",")[0]
    with _spill_dir(spark) as spill:
        assert spill is not None and Path(spill).parent == Path(local)


def test_block_rows_stop_at_a_few_thousand_at_small_cohorts():
    """A Python worker's first task faults in its whole block buffer (``native_task._block_buffer``):
    at 2,500 samples the 256 MB budget held 13,421 rows, ~0.1 CPU-s of page faults per worker
    (0.6-0.8 with the host's memory under pressure) for no cheaper product (session 31). A block
    has at most ``BLOCK_ROWS_MAX`` rows; where the budget holds fewer (20k samples) it decides."""
    from trd_spark.pgs.pgen_engine import BLOCK_ROWS_MAX

    assert 256 * 2**20 // (2_500 * 8) == 13_421 > BLOCK_ROWS_MAX
    assert block_rows(2_500, 256) == block_rows(5_000, 256) == BLOCK_ROWS_MAX
    assert block_rows(20_000, 256) == 256 * 2**20 // (20_000 * 8) == 1_677 < BLOCK_ROWS_MAX


def test_tasks_are_sized_by_genotype_entries_as_many_per_core():
    """task_bounds: a pass's rows cut by entries (rows x samples), not a fixed row count: 200k
    rows made 10 tasks at 2,500 samples and at 20,000 alike, each task's ~0.2 CPU-s of Spark and
    Python-worker overhead paid 10 times where 2 tasks do (session 26). The task count is a
    multiple of the cores (no core idles through a last round of one task), the rows are
    shared evenly, every row in exactly one task, and ``variants_per_task`` still caps a task."""
    from trd_spark.pgs.pgen_engine import task_bounds

    def sizes(*args, **kwargs):
        bounds = task_bounds(*args, **kwargs)
        assert bounds[0] == 0 and bounds[-1] == args[0] and all(np.diff(bounds) > 0)  # every row once
        return np.diff(bounds).tolist()

    assert sizes(200_000, 2_500, 2, 10**9) == [100_000] * 2  # 5e8 entries: one task per core
    assert sizes(200_000, 10_000, 1, 10**9) == [100_000] * 2  # 2e9 entries on one core: 2 tasks
    assert sizes(200_000, 20_000, 2, 10**9) == [50_000] * 4  # 4e9: 4 tasks of 1e9, 2 per core
    assert sizes(200_000, 15_000, 2, 10**9) == [50_000] * 4  # 3 tasks wanted: 4 (2 rounds of 2)
    assert sizes(10, 4, 2, 10**9, max_rows=3) == [2, 3, 2, 3]  # the cap: 4 tasks of <= 3 rows
    assert sizes(7, 4, 3, 10**9) == [2, 2, 3]  # uneven rows shared within one row
    assert sizes(1, 100, 8, 10**9) == [1]  # never more tasks than rows
    assert task_bounds(0, 100, 2, 10**9) == [0]  # nothing matched: no task
    # All of Us' size, 250k samples x 1M rows: 250 tasks of 1e9 entries (a multiple of 2 cores).
    aou = sizes(1_000_000, 250_000, 2, 10**9)
    assert len(aou) == 250 and max(aou) * 250_000 <= 10**9


def test_task_slots_count_cores_not_shuffle_partitions(spark):
    """task_slots: the tasks Spark runs at once. The session sets defaultParallelism to the
    shuffle partitions (4 in the tests' local[2] session, 8 in the benchmarks' on 2 cores), so
    rounding the task count to it would cut 8 tasks for 2 cores."""
    from trd_spark.pgs.pgen_engine import task_slots

    sc = spark.sparkContext
    assert sc.master == "local[2]" and sc.defaultParallelism == 4
    assert task_slots(sc) == 2

    class Context:  # what task_slots reads of a SparkContext, for masters no test session runs
        def __init__(self, master, conf=None, parallelism=8):
            self.master, self._conf, self.defaultParallelism = master, conf or {}, parallelism

        def getConf(self):
            return self._conf

    assert task_slots(Context("local")) == 1
    assert task_slots(Context("local[*]")) == os.cpu_count()
    assert task_slots(Context("local[3,2]")) == 3  # local[N,F]: F retries per task
    assert task_slots(Context("local-cluster[2,3,1024]")) == 6
    assert task_slots(Context("yarn", {"spark.executor.instances": "4", "spark.executor.cores": "4"})) == 16
    assert task_slots(Context("yarn", {}, parallelism=40)) == 40  # dynamic allocation: the configured default


def test_partials_are_added_on_the_driver_only_within_its_budget():
    """driver_sum_bytes: every task's partials (16 B per sample x score) plus the score rows
    (64 B): 20k samples x 61 scores x 10 tasks fit the default 512 MB (the benchmark's size), a
    single task at 250k samples does not (the reduction then stays in Spark, per slice)."""
    budget = NativeEngineSettings().driver_sum_mb * 2**20
    assert driver_sum_bytes(10, 61, 20_000) == (10 * 16 + 64) * 61 * 20_000 <= budget
    assert driver_sum_bytes(1, 61, 250_000) > budget
    assert driver_sum_bytes(0, 61, 20_000) == 64 * 61 * 20_000


def test_pgen_variant_index_splits_multiallelic_rows(files):
    variants = variant_index(PlinkFiles("pgen", str(files["prefix"])), "GRCh38")
    index = variants.frame
    at300 = index[index["position"] == 300]
    assert at300[["contig", "ref", "alt", "variant_idx", "allele_idx"]].values.tolist() == [
        ["chr1", "G", "A", 2, 1], ["chr1", "G", "C", 2, 2]]
    assert variants.allele_idx_offsets is not None
    assert variants.allele_idx_offsets.tolist() == [0, 2, 4, 7, 9, 11, 13, 15, 17, 19]
    bed = variant_index(PlinkFiles("plink", str(files["prefix"])), "GRCh38")
    assert bed.allele_idx_offsets is None and len(bed.frame) == 10  # 300 split in two rows


def test_sample_count_mismatch_is_one_error(hl, spark, files, scoring_files):
    fileset = PlinkFiles("plink", str(files["prefix"]))
    with pytest.raises(InputDataError, match=r"t\.fam: more samples in the file than genotype columns \(no count"):
        no_weights = WeightMatrices(pd.DataFrame(), np.zeros((0, 1)), np.zeros((0, 1)), np.zeros((0, 1), np.int32))
        score(spark, hl, fileset, "GRCh38", no_weights, ["101", "102", "103"], ["PGS000901"], [6],
              missing_genotypes="mean_impute", settings=NativeEngineSettings())


def test_variant_list_off_the_reference_and_bed_of_another_size_are_one_error(files, tmp_path):
    """A .bim contig or position that is not on the reference names its file:line (Hail's
    import_plink refused such files; the frame matcher must not skip their rows), and a .bed
    whose size does not fit the .bim x .fam is refused before pgenlib reads wrong rows."""
    fileset = PlinkFiles("plink", str(files["prefix"]))
    index = variant_index(fileset, "GRCh38")
    lengths = {"chr1": 248956422}
    check_variant_loci(index, lengths, "GRCh38", fileset.variants)
    with pytest.raises(InputDataError, match=r"t\.bim:1: chr1:100 is not a GRCh38 locus \(10 such variant rows"):
        check_variant_loci(index, {"chr1": 50}, "GRCh38", fileset.variants)
    (tmp_path / "g.pvar").write_text("##x\n#CHROM\tPOS\tID\tREF\tALT\n1\t5\trs1\tA\tG\nchr99\t5\trs2\tA\tG,C\n")
    pvar = variant_index(PlinkFiles("pgen", str(tmp_path / "g")), "GRCh38")
    assert pvar.frame["rsid"].tolist() == ["rs1", "rs2", "rs2"]
    with pytest.raises(InputDataError, match=r"g\.pvar:4: chr99:5 is not a GRCh38 locus \(2 such"):
        check_variant_loci(pvar, lengths, "GRCh38", str(tmp_path / "g.pvar"))
    check_bed_size(fileset, 10, 4)  # 3 + 10 x 1 bytes
    with pytest.raises(InputDataError, match=r"t\.bed: shorter than the 3-byte header and one record per \.bim variant for the \.fam's samples"):
        check_bed_size(fileset, 10, 5)


def test_offset_totals_come_without_the_offset_matrix():
    """``weight_matrices`` no longer builds the rows x k offset matrix when each row holds one
    site's members (~0.1 CPU-s and 98 MB of fresh pages at 200k x 61, session 28): the native
    pass's mean imputation takes its column sums alone (``offset_total``), the same bits as the
    matrix the base built (-2 x slope on REF-effect rows, +0.0 elsewhere, -0.0 made +0.0) summed
    in row order or in a reordering's order, and ``offset`` builds that matrix on first use."""
    rng = np.random.default_rng(3)
    slope = rng.normal(size=(500, 7)) * 10.0 ** rng.integers(-6, 6, size=(500, 7))
    slope[:3] = -0.0  # zero weights of REF effect alleles: -2 x -0.0 sums must stay +0.0
    slope[10:20, 2] = 0.0
    ref = rng.random(500) < 0.5
    ref[:3] = True
    # A score whose REF-effect rows all weigh -0.0: its total is a sum of zeros, +0.0 in the
    # matrix's column sum, where -2 x the slopes' sum alone gives -0.0.
    slope[ref, 6] = -0.0
    lazy = WeightMatrices(pd.DataFrame(index=range(500)), slope, None, np.ones((500, 7), np.int32), ref_effect_row=ref)
    built = np.zeros(slope.shape)
    np.multiply(slope, -2.0, out=built, where=ref[:, None])
    built += 0.0
    order = rng.permutation(500)
    assert lazy.offset_total().tobytes() == built.sum(axis=0).tobytes()
    assert lazy.offset_total(order).tobytes() == built[order].sum(axis=0).tobytes()
    assert "offset" not in vars(lazy)  # the totals did not build the matrix
    assert lazy.offset.tobytes() == built.tobytes()
    given = WeightMatrices(pd.DataFrame(index=range(500)), slope, built, np.ones((500, 7), np.int32))
    assert given.offset is built and given.offset_total(order).tobytes() == built[order].sum(axis=0).tobytes()


def test_task_partials_are_sample_sliced(files):
    """The reduction's memory bound: a task emits its sums as (slice, k x slice) pairs, never
    one k x n array, and the slices cover every sample once (bed rows 0..2, 2 scores)."""
    import numpy as np

    from trd_spark.pgs.native_task import Task, _score_task

    slope = np.array([[1.0, 0.0], [0.0, -1.0], [0.5, 0.5]])
    task = Task(np.array([0, 1, 2]), np.array([1, 1, 1], dtype=np.int32), slope, np.zeros((3, 2)), np.ones((3, 2)))
    parts = list(_score_task(PlinkFiles("plink", str(files["prefix"])), 4, None, 2, False, 3, task))
    assert [(i, p.shape, m.shape) for i, (p, m) in parts] == [(0, (2, 3), (2, 3)), (1, (2, 1), (2, 1))]
    sums = np.concatenate([p for _, (p, _) in parts], axis=1)
    missing = np.concatenate([m for _, (_, m) in parts], axis=1)
    # Alt counts (tiny.vcf): 100: 0 1 2 1; 200: 1 . 2 0; 300 G>A: 1 0 1 0 (zero mode: . -> 0).
    assert sums.tolist() == [[0.5, 1.0, 2.5, 1.0], [-0.5, 0.0, -1.5, 0.0]]
    assert missing.tolist() == [[0, 1, 0, 0], [0, 1, 0, 0]]


@pytest.mark.parametrize("impute", [True, False], ids=["mean_impute", "zero"])
def test_task_rows_mapped_from_files_score_as_pickled_tasks(files, tmp_path, impute):
    """Under a local master a pass's row arrays go to its tasks as .npy files, each task mapping
    its rows (``TaskRows``: a pickle of a few bytes, not the rows' weights): the same arrays and
    the same partials as the ``Task`` pickled with its rows (bed rows 0..9 in tasks 0..2 and
    3..9, 2 scores; ``offset`` only for zero, as ``score`` ships it)."""
    import pickle

    from trd_spark.pgs.native_task import TaskRows, _score_task, shared_task_rows, tasks_of

    rng = np.random.default_rng(5)
    arrays = {"variant_idx": np.arange(10), "allele_idx": np.ones(10, dtype=np.int32),
              "slope": rng.normal(size=(10, 2)), "offset": None if impute else rng.normal(size=(10, 2)),
              "n_vars": rng.integers(0, 3, (10, 2)).astype(np.uint8), "extent": None}
    bounds = [0, 3, 10]
    shared = shared_task_rows(str(tmp_path), arrays, bounds)
    assert [type(t) for t in shared] == [TaskRows, TaskRows]
    assert max(len(pickle.dumps(t)) for t in shared) < 300
    fileset = PlinkFiles("plink", str(files["prefix"]))
    for mapped, pickled in zip((t.load() for t in pickle.loads(pickle.dumps(shared))), tasks_of(arrays, bounds)):
        for name, a in vars(pickled).items():
            b = getattr(mapped, name)
            assert (a is None and b is None) or (b.dtype == a.dtype and np.array_equal(a, b)), name
        got = list(_score_task(fileset, 4, None, 2, impute, 4, mapped))
        want = list(_score_task(fileset, 4, None, 2, impute, 4, pickled))
        assert [i for i, _ in got] == [i for i, _ in want] == [0]
        assert all(np.array_equal(g, w) for (_, gs), (_, ws) in zip(got, want) for g, w in zip(gs, ws))


@pytest.mark.parametrize("impute", [True, False], ids=["mean_impute", "zero"])
def test_a_gated_task_reads_its_first_block_before_its_weights(files, tmp_path, impute):
    """A task whose weights are still being built (``TaskRows.gated``, issue 16 session 36) reads
    its first block (the rows alone, ``TaskRows.load(weights=False)``), then asks for its weights
    (``later``): when asked, the block buffer already holds the first block's dosages; the
    partials are the ungated task's bit for bit. Bed rows 0..9, blocks of 2 rows, 2 scores."""
    from trd_spark.pgs import native_task
    from trd_spark.pgs.native_task import _score_task, shared_task_rows

    rng = np.random.default_rng(36)
    arrays = {"variant_idx": np.arange(10), "allele_idx": np.ones(10, dtype=np.int32),
              "slope": rng.normal(size=(10, 2)), "offset": None if impute else rng.normal(size=(10, 2)),
              "n_vars": rng.integers(0, 3, (10, 2)).astype(np.uint8), "extent": None}
    [task] = shared_task_rows(str(tmp_path), arrays, [0, 10], gated=True)
    fileset = PlinkFiles("plink", str(files["prefix"]))
    want = list(_score_task(fileset, 4, None, 2, impute, 4, task.load()))
    rows_only = task.load(weights=False)
    assert rows_only.slope.shape == (10, 0) and rows_only.n_vars.shape == (10, 0) and rows_only.offset is None
    assert np.array_equal(rows_only.variant_idx, arrays["variant_idx"])
    asked = []

    def later():
        asked.append(np.asarray(native_task._BLOCK_BUFFER[0][:2 * 4]).reshape(2, 4).copy())
        return task.load()

    native_task._BLOCK_BUFFER[0][:] = np.nan  # (the ungated run's blocks)
    got = list(_score_task(fileset, 4, None, 2, impute, 4, rows_only, later))
    import pgenlib

    with pgenlib.PgenReader(fileset.matrix.encode(), raw_sample_ct=4) as reader:
        dose = np.empty((2, 4))
        reader.read_dosages_list(np.arange(2, dtype=np.uint32), dose)
    called = dose != -9
    assert len(asked) == 1 and not np.isnan(asked[0]).any()  # rows 0, 1 read (a missing call filled)
    assert np.array_equal(asked[0][called], dose[called]) and not called.all()
    assert [i for i, _ in got] == [i for i, _ in want] == [0]
    assert all(np.array_equal(g, w) for (_, gs), (_, ws) in zip(got, want) for g, w in zip(gs, ws))


def test_a_gated_task_waits_for_the_gate_and_never_reads_unbuilt_weights(tmp_path):
    """``native_task.WeightsGate``: a gated task's ``weights_ready`` blocks while the driver holds
    the gate, returns the whole task once it is opened (the weights written before), and raises
    when the gate was closed without being opened (the driver's build failed): never the
    weights' files as they were (here zeros)."""
    import threading

    from trd_spark.pgs.native_task import WeightsGate, mapped_rows, shared_task_rows

    def gated_pass(name):
        directory = str(tmp_path / name)
        slope = np.asarray(mapped_rows(directory, "slope", (4, 2), np.dtype(np.float64)))  # zeros until built
        [task] = shared_task_rows(directory, {"variant_idx": np.arange(4), "slope": slope,
                                              "n_vars": np.ones((4, 2), np.uint8)}, [0, 4], frozenset({"slope"}),
                                  gated=True)
        return slope, task, WeightsGate(task.directory)

    slope, task, gate = gated_pass("opened")
    got = {}
    waiting = threading.Thread(target=lambda: got.setdefault("task", task.weights_ready()))
    waiting.start()
    waiting.join(0.5)
    assert waiting.is_alive() and "task" not in got  # held by the gate
    slope[:] = 2.5  # the driver's build, through its mapping
    gate.open()
    waiting.join(30)
    assert not waiting.is_alive() and (got["task"].slope == 2.5).all()

    _, task, gate = gated_pass("closed")
    failed = {}

    def wait():
        try:
            task.weights_ready()
        except RuntimeError as e:
            failed["error"] = str(e)

    waiting = threading.Thread(target=wait)
    waiting.start()
    gate.close()
    waiting.join(30)
    assert "weights were not built" in failed["error"]
    with pytest.raises(RuntimeError, match="weights were not built"):
        task.weights_ready()  # also a task that comes after the failure


def test_tasks_of_one_worker_share_one_block_buffer(files):
    """A fresh ~256 MB block buffer per task cost 0.05-0.9 CPU-s of page faults per task whatever
    the sample count (session 21): a worker's tasks read into one buffer, grown only when a task
    needs more rows, and a task's sums do not depend on what an earlier task left in it."""
    from trd_spark.pgs.native_task import Task, _block_buffer, _score_task

    fileset = PlinkFiles("plink", str(files["prefix"]))
    first = _block_buffer(3, 4)
    assert np.shares_memory(_block_buffer(2, 4), first)  # fewer rows: the same memory
    # Another task fills every row of the buffer with its rows (3..9 of the .bed) first.
    other = Task(np.arange(3, 10), np.ones(7, dtype=np.int32), np.ones((7, 2)), np.zeros((7, 2)), np.ones((7, 2)))
    list(_score_task(fileset, 4, None, 7, False, 4, other))
    assert np.shares_memory(_block_buffer(7, 4), _block_buffer(2, 4))
    slope = np.array([[1.0, 0.0], [0.0, -1.0], [0.5, 0.5]])
    task = Task(np.array([0, 1, 2]), np.array([1, 1, 1], dtype=np.int32), slope, np.zeros((3, 2)), np.ones((3, 2)))
    # Blocks of 2 rows then 1 row in the 7-row buffer: as in test_task_partials_are_sample_sliced.
    [(i, (sums, missing))] = list(_score_task(fileset, 4, None, 2, False, 4, task))
    assert i == 0
    assert sums.tolist() == [[0.5, 1.0, 2.5, 1.0], [-0.5, 0.0, -1.5, 0.0]]
    assert missing.tolist() == [[0, 1, 0, 0], [0, 1, 0, 0]]


# A Python worker as pyspark's daemon forks it (pyspark.worker imported), given what a native
# pass ships (argv[1]: the job's function, its tasks, the spill function, pickled by Spark's
# serializer): runs every task, prints the partials and the modules unpickling and running added.
_WORKER_LIKE = """
import json, pickle, sys
import pyspark.worker  # noqa: F401  (the daemon's import, before it forks a worker)
before = set(sys.modules)
with open(sys.argv[1], "rb") as f:
    run, tasks, spill = pickle.load(f)
partials = [(i, p.tolist(), m.tolist()) for t in tasks for i, (p, m) in run(t)]
spilled = [name for _, (name, _) in spill(run(tasks[0]))]
print(json.dumps({"partials": partials, "spilled": spilled, "new": sorted(set(sys.modules) - before)}))
"""


def test_worker_runs_the_pass_without_the_driver_modules(files, tmp_path):
    """A fresh Python worker unpickling and running a native pass's tasks imports the lean task
    module (native_task: numpy, pgenlib, scipy.sparse, mt_entries, the standard library) and no
    pandas, pydantic or driver-side trd_spark module: with the task code in pgen_engine each fresh
    worker spent ~0.85 CPU-s importing them (RESULTS.md, session 27 hail17 helper), twice per job
    at local[2]. What is pickled is what ``pgen_engine.score`` ships under a local master
    (``pass_function``, ``TaskRows``, ``spill_function``, by Spark's CloudPickleSerializer), and
    the partials the worker returns equal ``_score_task``'s in this process (bed rows 0..9 in
    tasks 0..2 and 3..9, 2 scores; ``zero``: the offsets shipped too, both sparse products run)."""
    import json
    import sys

    from pyspark.serializers import CloudPickleSerializer

    import trd_spark
    from trd_spark.pgs.native_task import _score_task, pass_function, shared_task_rows, spill_function, tasks_of

    impute = False
    rng = np.random.default_rng(7)
    arrays = {"variant_idx": np.arange(10), "allele_idx": np.ones(10, dtype=np.int32),
              "slope": rng.normal(size=(10, 2)), "offset": None if impute else rng.normal(size=(10, 2)),
              "n_vars": rng.integers(0, 3, (10, 2)).astype(np.uint8), "extent": None}
    fileset = PlinkFiles("plink", str(files["prefix"]))
    (tmp_path / "spill").mkdir()
    shipped = (pass_function(fileset, 4, None, 2, impute, 4), shared_task_rows(str(tmp_path), arrays, [0, 3, 10]),
               spill_function(str(tmp_path / "spill")))
    (tmp_path / "command.pkl").write_bytes(CloudPickleSerializer().dumps(shipped))
    package_root = str(Path(trd_spark.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", _WORKER_LIKE, str(tmp_path / "command.pkl")], env=env,
                         capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    new = set(got["new"])
    assert not {m for m in new if m.split(".")[0] in ("pandas", "pydantic", "yaml")}
    assert {m for m in new if m.startswith("trd_spark")} <= {
        "trd_spark", "trd_spark.pgs", "trd_spark.pgs.native_task", "trd_spark.pgs.mt_entries", "trd_spark.pgs.memory"}
    assert {"trd_spark.pgs.native_task", "pgenlib"} <= new  # the pass did run in the child
    want = [(i, p.tolist(), m.tolist()) for task in tasks_of(arrays, [0, 3, 10])
            for i, (p, m) in _score_task(fileset, 4, None, 2, impute, 4, task)]
    assert len(got["partials"]) == len(want) == 2
    for (gi, gp, gm), (wi, wp, wm) in zip(got["partials"], want):
        assert gi == wi and np.array_equal(gp, wp) and np.array_equal(gm, wm)
    assert len(got["spilled"]) == 1 and os.path.exists(got["spilled"][0])


def _vm_flags_of(address: int) -> list[str]:
    """The kernel's VmFlags of the mapping of this process holding ``address`` (/proc/self/smaps)."""
    inside = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()[0]
        if "-" in head and all(c in "0123456789abcdef-" for c in head):
            lo, hi = (int(x, 16) for x in head.split("-"))
            inside = lo <= address < hi
        elif inside and head == "VmFlags:":
            return line.split()[1:]
    raise AssertionError("no mapping holds the address")


def test_driver_arrays_of_the_weights_get_no_huge_page_advice():
    """numpy advises huge pages (madvise MADV_HUGEPAGE) for every array of 4 MiB or more; where
    THP defrag is 'madvise' each fault then may compact memory, and weight_matrices' fresh
    12.2M-element arrays cost 1.3-4.7 sys CPU-s instead of ~0.4 (session 22). Inside
    ``small_pages`` a new array's mapping carries no such advice (no ``hg`` flag; 64 MiB: its
    own mapping whatever malloc's threshold), and numpy's setting is restored after, also after
    an error."""
    from numpy._core.multiarray import _set_madvise_hugepage

    before = _set_madvise_hugepage(True)
    try:
        advised = np.ones(2**23)  # 64 MiB
        assert "hg" in _vm_flags_of(advised.ctypes.data + advised.nbytes // 2)  # numpy's own advice, the default
        with small_pages():
            plain = np.ones(2**23)
            assert "hg" not in _vm_flags_of(plain.ctypes.data + plain.nbytes // 2)
        assert _set_madvise_hugepage(True) is True  # restored
        with pytest.raises(ValueError), small_pages():
            raise ValueError
        assert _set_madvise_hugepage(True) is True
    finally:
        _set_madvise_hugepage(before)


def test_block_buffer_gets_no_huge_page_advice():
    """A worker's first task faulted its 256 MB block buffer in with numpy's huge-page advice at
    0.76-2.35 sys CPU-s, 0.14 without (session 22): the buffer is made inside small_pages."""
    from numpy._core.multiarray import _set_madvise_hugepage

    from trd_spark.pgs.native_task import _BLOCK_BUFFER, _block_buffer

    before = _set_madvise_hugepage(True)
    kept = list(_BLOCK_BUFFER)
    try:
        _BLOCK_BUFFER.clear()
        buffer = _block_buffer(1024, 8192)  # 64 MiB
        assert "hg" not in _vm_flags_of(buffer.ctypes.data + buffer.nbytes // 2)
        assert _set_madvise_hugepage(True) is True  # numpy's setting as it was
    finally:
        _BLOCK_BUFFER[:] = kept
        _set_madvise_hugepage(before)


@pytest.mark.parametrize(("fmt", "path", "engine", "chosen"), [
    ("plink", "/data/g", "native", "native"),
    ("pgen", "/data/g", "native", "native"),
    ("plink", "/data/g", "hail", "hail"),           # forced, for comparison
    ("plink", "gs://bucket/g", "native", "hail"),   # pgenlib reads no URIs: Hail's reader does
    ("vcf", "/data/g.vcf.bgz", "native", "hail"),
    ("mt", "/data/g.mt", "native", "hail"),
    ("bgen", "/data/g.bgen", "native", "native"),
    ("bgen", "gs://bucket/g.bgen", "native", "hail"),
])
def test_engine_is_chosen_by_format(fmt, path, engine, chosen):
    from trd_spark.pgs.engine import engine_for

    assert engine_for(GenotypeSource(format=fmt, path=path), NativeEngineSettings(engine=engine)) == chosen


@pytest.mark.parametrize(("fmt", "path", "extra", "engine", "scratch", "n_rows", "route"), [
    ("plink", "/data/g", {}, "native", None, 5, "native"),         # native reader: no scratch needed
    ("plink", "/data/g", {}, "native", "/scratch", 5, "native"),
    ("pgen", "/data/g", {}, "native", "/scratch", 0, "native"),
    ("plink", "/data/g", {}, "hail", "/scratch", 5, "hail"),       # forced to Hail's pass
    ("plink", "gs://bucket/g", {}, "native", "/scratch", 5, "export"),
    ("plink", "gs://bucket/g", {}, "native", None, 5, "hail"),     # no scratch every task reads
    ("vcf", "/data/g.vcf.bgz", {}, "native", "/scratch", 5, "export"),
    ("mt", "/data/g.mt", {}, "native", "/scratch", 5, "export"),
    ("vds", "/data/g.vds", {}, "native", "/scratch", 5, "export"),
    ("mt", "/data/g.mt", {}, "native", None, 5, "hail"),
    ("vcf", "/data/g.vcf.bgz", {}, "hail", "/scratch", 5, "hail"),
    ("vcf", "/data/g.vcf.bgz", {}, "native", "/scratch", 0, "hail"),  # nothing matched: no export
    ("vcf", "/data/g.vcf.bgz", {"dosage_field": "DS"}, "native", "/scratch", 5, "hail"),  # dosages
    ("bgen", "/data/g.bgen", {}, "native", None, 5, "native"),    # bgen_reader: no scratch needed
    ("bgen", "/data/g.bgen", {}, "hail", "/scratch", 5, "hail"),    # forced to Hail's import_bgen
    ("bgen", "gs://bucket/g.bgen", {}, "native", "/scratch", 5, "hail"),  # dosages: no hard-call export
])
def test_route_is_chosen_once_by_format_settings_and_scratch(fmt, path, extra, engine, scratch, n_rows, route):
    """``engine.route_for``: the one place the scoring route is decided (engine.py's doc)."""
    from trd_spark.pgs.engine import route_for

    source = GenotypeSource(format=fmt, path=path, **extra)
    assert route_for(source, NativeEngineSettings(engine=engine), scratch, n_rows) == route


def test_pgen_needs_the_native_engine_and_a_local_path():
    from trd_spark.errors import ConfigError
    from trd_spark.pgs.engine import engine_for

    with pytest.raises(ConfigError, match="pgs.native.engine: pgen genotypes are scored by the native engine only"):
        engine_for(GenotypeSource(format="pgen", path="/data/g"), NativeEngineSettings(engine="hail"))
    with pytest.raises(InputDataError, match="gs://b/g: pgen genotypes must be a local or mounted path"):
        engine_for(GenotypeSource(format="pgen", path="gs://b/g"), NativeEngineSettings())


def test_stage_scores_bed_and_pgen_with_the_native_engine(hl, spark, files, tmp_path, caplog):
    """The pgs stage's own steps (``match_dataset`` then ``score_dataset``) on a ``plink`` and a
    ``pgen`` dataset: the native engine is chosen, pgen rows come from its .pvar, and the sums
    are the hand-computed ones (test_pgs_scoring.py)."""
    import logging
    import re

    from trd_spark.config import load_config
    from trd_spark.pgs import stage

    (tmp_path / "panel.yaml").write_text(
        "domains: [physical]\nscores:\n  - {pgs_id: PGS000901, trait: Tiny trait, domain: physical}\n")
    prefix = files["prefix"]
    (tmp_path / "c.yaml").write_text(f"""
release: t1
output_root: {tmp_path}/out
datasets:
  - {{name: bed, role: discovery, genotypes: {{format: plink, path: {prefix}.bed}}}}
  - {{name: pgen, role: replication, genotypes: {{format: pgen, path: {prefix}}}}}
ancestry: {{path: {tmp_path}/ancestry.tsv}}
pgs:
  scoring_files: ["{DATA / 'PGS000901.txt'}"]
  trait_panel: {tmp_path}/panel.yaml
omop: {{path: {tmp_path}/omop, data_cutoff_date: 2023-07-01}}
phenotypes:
  concept_sets: {Path(__file__).resolve().parent.parent / 'conf' / 'concept_sets.yaml'}
  primary_definition: ad3
  trd_definitions:
    - {{name: ad3, rule: antidepressant_sequence, n_trials: 3}}
""")
    cfg = load_config(tmp_path / "c.yaml")
    with caplog.at_level(logging.INFO, logger="trd_spark.pgs.stage"):
        with stage.native_warm_up(hl, spark, cfg):  # as stage.run: every dataset native
            scoring_files = stage.load_scoring_files(spark, cfg, "GRCh38")
    # Done here or by an earlier stage run in this process; a failure would be logged instead.
    assert re.search(r"native pass warm-up (done|already warm) \(waited", caplog.text), caplog.text
    # The wait is on the record too (the benchmark reads it there, not from the text).
    assert [r.warm_up_wait_s >= 0 for r in caplog.records if hasattr(r, "warm_up_wait_s")] == [True]
    for name in ("bed", "pgen"):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="trd_spark.pgs.engine"):
            r = stage.match_dataset(hl, spark, cfg, name, scoring_files)
            scored = stage.score_dataset(hl, cfg, r)
        assert "pgs: native engine for" in caplog.text, name
        assert isinstance(scored, SummedScores), name  # summed on the driver: numpy, no Hail job
        scores = pd.DataFrame(scored.columns()).set_index("s")
        assert scores["score_sum"].loc[["101", "102", "103", "104"]].tolist() == pytest.approx(
            [9.0, 8.75, 6.0, 0.25], abs=1e-12), name
        assert scores["n_missing"].loc[["101", "102", "103", "104"]].tolist() == [0, 1, 0, 1], name


@pytest.mark.parametrize("impute", [True, False], ids=["mean_impute", "zero"])
def test_missing_calls_are_filled_the_same_read_in_chunks(files, impute):
    """_fill_missing_calls reads a block a few rows at a time (while they are in cache): one row
    per read gives the same dosages and missing calls (row in the block, sample; row-major) as the
    whole block in one read, and the missing call of 200 (sample 2) becomes the row's mean or 0."""
    from trd_spark.pgs.native_task import Task, _block_reader, _fill_missing_calls

    fileset = PlinkFiles("plink", str(files["prefix"]))
    task = Task(np.arange(10), np.ones(10, dtype=np.int32), np.zeros((10, 1)), None, np.ones((10, 1), np.uint8))
    got = {}
    for chunk in (1, 3, 10):
        dose = np.empty((9, 4))
        with _block_reader(fileset, 4, None) as read:
            r, j = _fill_missing_calls(read, task, 1, 10, chunk, dose, impute)
        got[chunk] = (dose, r, j)
    for chunk in (1, 3):
        assert np.array_equal(got[chunk][0], got[10][0])
        assert got[chunk][1].tolist() == got[10][1].tolist() and got[chunk][2].tolist() == got[10][2].tolist()
    dose, r, j = got[1]
    # Rows 1.. of the .bed: 200 (C>T: 1 . 2 0) is block row 0; 900 (one more missing call) later.
    assert (r[0], j[0]) == (0, 1) and len(r) == 2
    assert dose[0].tolist() == ([1.0, 1.0, 2.0, 0.0] if impute else [1.0, 0.0, 2.0, 0.0])
