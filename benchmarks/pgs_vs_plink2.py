"""PGS scoring: our Hail engine vs plink2 --score on the same data, in one run (issue #3).

Generates (or reuses, in --work-dir) random genotypes (samples x variants, GRCh38 chr1, ~1%
missing calls) as a bgzipped VCF, plus the same data in each tool's native format (PLINK 1
bed for plink2, a Hail MatrixTable for us; conversion not timed) and one scoring file per
score (every score weights every variant). Then times:

  plink2 --score     from the VCF and from the bed (whole process, 2 threads)
  ours               read_genotypes + match + one-pass scoring + collect, from the VCF and from
                     the MatrixTable (in-process; JVM/Hail start reported separately)

checks the SUMs agree (relative error <= 1e-6; plink2 prints 6 significant digits, so the
comparison uses its SUM column at that precision) and prints both times and the ratios.

    python benchmarks/pgs_vs_plink2.py --samples 2000 --variants 10000 --scores 61
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pysam


def generate(work: Path, n_samples: int, n_variants: int, n_scores: int, seed: int) -> None:
    """VCF (bgzip), scoring files (PGS Catalog format, one per score) and plink2's score table."""
    rng = np.random.default_rng(seed)
    # Strand-unambiguous pairs only (A/T and C/G would be dropped by default), ref != alt.
    pairs = np.array([("A", "C"), ("A", "G"), ("C", "A"), ("C", "T"), ("G", "A"), ("G", "T"), ("T", "C"), ("T", "G")])
    pick = pairs[rng.integers(0, len(pairs), n_variants)]
    ref_b, alt_b = pick[:, 0], pick[:, 1]
    pos = np.arange(1, n_variants + 1) * 100 + 10_000
    af = rng.uniform(0.05, 0.5, n_variants)
    calls = np.array([b"0/0", b"0/1", b"1/1", b"./."])
    vcf = work / "geno.vcf"
    with open(vcf, "wb") as f:
        f.write(b"##fileformat=VCFv4.2\n##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n")
        f.write(b"##contig=<ID=chr1,length=248956422>\n")
        f.write(("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
                 + "\t".join(str(1_000_000 + i) for i in range(n_samples)) + "\n").encode())
        for v in range(n_variants):
            g = rng.binomial(2, af[v], n_samples)
            g[rng.random(n_samples) < 0.01] = 3
            f.write(f"chr1\t{pos[v]}\tchr1:{pos[v]}\t{ref_b[v]}\t{alt_b[v]}\t.\tPASS\t.\tGT\t".encode())
            f.write(b"\t".join(calls[g]) + b"\n")
    pysam.tabix_compress(str(vcf), str(work / "geno.vcf.bgz"), force=True)
    vcf.unlink()
    # Effect allele: alt for even variants, ref for odd ones (both dosage directions tested).
    effect = np.where(np.arange(n_variants) % 2 == 0, alt_b, ref_b)
    other = np.where(np.arange(n_variants) % 2 == 0, ref_b, alt_b)
    weights = rng.normal(0, 0.05, (n_variants, n_scores))
    (work / "scores").mkdir(exist_ok=True)
    for k in range(n_scores):
        pgs_id = f"PGS9{k:05d}"
        with gzip.open(work / "scores" / f"{pgs_id}.txt.gz", "wt") as f:
            f.write(f"###PGS CATALOG SCORING FILE\n#format_version=2.0\n#pgs_id={pgs_id}\n#pgs_name=bench{k}\n"
                    f"#trait_reported=benchmark\n#genome_build=GRCh38\n#variants_number={n_variants}\n"
                    "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n")
            pd.DataFrame({"c": "1", "p": pos, "e": effect, "o": other, "w": weights[:, k]}).to_csv(
                f, sep="\t", header=False, index=False, float_format="%.10g")
    table = pd.DataFrame({"ID": [f"chr1:{p}" for p in pos], "A1": effect})
    for k in range(n_scores):
        table[f"PGS9{k:05d}"] = [float(f"{w:.10g}") for w in weights[:, k]]
    table.to_csv(work / "plink2_score.tsv", sep="\t", index=False, float_format="%.10g")
    subprocess.run(["plink2", "--vcf", str(work / "geno.vcf.bgz"), "--make-bed", "--threads", "2",
                    "--out", str(work / "geno")], check=True, capture_output=True)
    (work / "done").write_text(f"{n_samples} {n_variants} {n_scores} {seed}\n")


def run_plink2(work: Path, source: str, n_scores: int) -> tuple[float, pd.DataFrame]:
    inp = ["--vcf", str(work / "geno.vcf.bgz")] if source == "vcf" else ["--bfile", str(work / "geno")]
    cmd = ["plink2", *inp, "--threads", "2", "--score", str(work / "plink2_score.tsv"), "1", "2", "header",
           "cols=+scoresums", "--score-col-nums", f"3-{2 + n_scores}", "--out", str(work / f"plink2_{source}")]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    took = time.perf_counter() - t0
    out = pd.read_csv(work / f"plink2_{source}.sscore", sep="\t").rename(columns={"#IID": "IID"})
    return took, out.set_index("IID")


def run_ours(hl, spark, work: Path, source: str) -> tuple[float, pd.DataFrame]:
    from trd_spark.config import GenotypeSource
    from trd_spark.pgs.genotypes import read_genotypes
    from trd_spark.pgs.matching import ScoreLabel, match_variants, score_variants_table, summarise_matches
    from trd_spark.pgs.scoring import compute_scores, score_weights_table
    from trd_spark.pgs.scoring_files import read_scoring_file

    t0 = time.perf_counter()
    files = [read_scoring_file(str(p)) for p in sorted((work / "scores").glob("*.txt.gz"))]
    ids = [f.pgs_id for f in files]
    src = (GenotypeSource(format="vcf", path=str(work / "geno.vcf.bgz")) if source == "vcf"
           else GenotypeSource(format="mt", path=str(work / "geno.mt")))
    mt = read_genotypes(hl, src)
    sv = score_variants_table(hl, spark, files, "GRCh38")
    matches = match_variants(hl, mt, sv, keep_ambiguous=False).checkpoint(hl.utils.new_temp_file("bm", "ht"))
    summary = summarise_matches(hl, matches, "bench", ids, {i: ScoreLabel("b", "b") for i in ids})
    scores = compute_scores(hl, mt, score_weights_table(hl, matches, len(ids)), ids, summary["n_matched"].tolist())
    df = scores.to_pandas()
    took = time.perf_counter() - t0
    return took, df.pivot(index="s", columns="pgs_id", values="score_sum")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--variants", type=int, default=10000)
    ap.add_argument("--scores", type=int, default=61)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--work-dir", default="/tmp/trd_spark_bench_pgs")
    args = ap.parse_args()
    if not shutil.which("plink2"):
        sys.exit("plink2 is not on PATH (apt-get install plink2)")
    work = Path(args.work_dir) / f"s{args.samples}_v{args.variants}_k{args.scores}_seed{args.seed}"
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "done").exists():
        t0 = time.perf_counter()
        generate(work, args.samples, args.variants, args.scores, args.seed)
        print(f"generated data in {time.perf_counter() - t0:.1f} s: {work}")

    from trd_spark.config import SparkSettings
    from trd_spark.session import start_session

    t0 = time.perf_counter()
    spark = start_session(SparkSettings(master="local[2]", driver_memory="6g", shuffle_partitions=8,
                                        tmp_dir=str(work / "tmp")))
    import hail as hl
    jvm = time.perf_counter() - t0
    if not (work / "geno.mt" / "_SUCCESS").exists():
        from trd_spark.pgs.genotypes import contig_recoding
        raw = hl.import_vcf(str(work / "geno.vcf.bgz"), reference_genome="GRCh38",
                            contig_recoding=contig_recoding("GRCh38"), force_bgz=True)
        raw.select_entries("GT").write(str(work / "geno.mt"), overwrite=True)

    rows = []
    for source, native in (("vcf", "vcf"), ("native", "mt")):
        p_time, p_out = run_plink2(work, "vcf" if source == "vcf" else "bed", args.scores)
        o_time, o_out = run_ours(hl, spark, work, native)
        # plink2 names the sums SCORE1_SUM.. in score-column order (= PGS9xxxxx order).
        ids = sorted(o_out.columns)
        p_sum = p_out[[f"SCORE{k + 1}_SUM" for k in range(len(ids))]].to_numpy()
        o_sum = o_out.loc[[str(s) for s in p_out.index], ids].to_numpy()
        rel = np.max(np.abs(o_sum - p_sum) / np.maximum(np.abs(p_sum), 1e-3))
        rows.append((source, p_time, o_time, o_time / p_time, rel))
    print(f"\n{args.samples} samples x {args.variants} variants x {args.scores} scores; "
          f"{os.cpu_count()} cores; JVM+Hail start {jvm:.1f} s (not included)")
    print("input     plink2_s  ours_s  ratio  max_rel_diff_vs_plink2_SUM(6 sig. digits)")
    for source, p_time, o_time, ratio, rel in rows:
        label = "vcf" if source == "vcf" else "native (plink2 bed, ours MatrixTable)"
        print(f"{label:<9} {p_time:8.1f} {o_time:7.1f} {ratio:6.1f}x  {rel:.2e}")
        if rel > 1e-5:
            sys.exit(f"results disagree with plink2 ({source}): max relative difference {rel:.2e}")


if __name__ == "__main__":
    main()
