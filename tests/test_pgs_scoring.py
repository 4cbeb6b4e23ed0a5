"""One-pass scoring (Hail's pass) on the tiny VCF with sums computed by hand, and plink2's.

Samples 101..104. Matched variants of PGS000901 and the effect-allele dosage per sample
(alt count n from tests/data/pgs/tiny.vcf; "m" = missing GT):

    rs100 G/A  w  0.5  ref_alt          n = 0 1 2 1         d = n        = 0 1 2 1
    rs200 C/T  w -1.0  alt_ref          n = 1 m 2 0         d = 2 - n    = 1 (2-1) 0 2
                                        (mean n over called = 3/3 = 1, so imputed d = 1)
    rs300 A/G  w  2.0  ref_alt (G>A of G>A,C; 1/2 -> one A) n = 1 0 1 0  d = 1 0 1 0
    rs500 G/A  w 0.25  ref_alt_flipped  n = 2 1 0 1         d = 2 1 0 1
    rs600 C/A  w  3.0  alt_ref_flipped  n = 0 0 1 2         d = 2 2 1 0
    rs900 G/-  w  1.5  ref_alt          n = 1 2 0 m         d = 1 2 0 (mean 3/3 = 1)

    SUM: 101 = 0 - 1 + 2 + 0.5 + 6 + 1.5 = 9.0
         102 = 0.5 - 1 + 0 + 0.25 + 6 + 3 = 8.75
         103 = 1 + 0 + 2 + 0 + 3 + 0 = 6.0
         104 = 0.5 - 2 + 0 + 0.25 + 0 + 1.5 = 0.25
    ALLELE_CT = 2 x called matched variants = 12, 10, 12, 10; AVG = SUM / 12.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pysam
import pytest
from pgs_hail_oracle import match_variants, score_weights_table, summarise_matches

from trd_spark.config import GenotypeSource
from trd_spark.pgs.genotypes import read_genotypes
from trd_spark.pgs.matching import ScoreLabel, score_variants_table
from trd_spark.pgs.scoring import compute_scores, scores_frame
from trd_spark.pgs.scoring_files import parse_scoring_file, read_scoring_file
from trd_spark.schemas import PGS_SCORES, check_spark

DATA = Path(__file__).parent / "data" / "pgs"


@pytest.fixture(scope="module")
def tiny_mt(hl, tmp_path_factory):
    path = tmp_path_factory.mktemp("pgs_vcf") / "tiny.vcf.bgz"
    pysam.tabix_compress(str(DATA / "tiny.vcf"), str(path), force=True)
    return read_genotypes(hl, GenotypeSource(format="vcf", path=str(path)))


def run_scores(hl, spark, mt, scoring_files, *, keep_ambiguous=False, missing_genotypes="mean_impute"):
    """One Hail pass (the oracle matcher's weights, ``compute_scores``, ``scores_frame``): the
    rows by (person_id, pgs_id)."""
    sv = score_variants_table(hl, spark, scoring_files, "GRCh38")
    m = match_variants(hl, mt, sv, keep_ambiguous=keep_ambiguous)
    ids = [sf.pgs_id for sf in scoring_files]
    summary = summarise_matches(hl, m, "discovery", ids, {i: ScoreLabel("t", "d") for i in ids})
    w = score_weights_table(hl, m, len(ids))
    scores = compute_scores(hl, mt, w, ids, summary["n_matched"].tolist(), missing_genotypes=missing_genotypes,
                            chr_y=False, chr_m=False)  # tiny.vcf: chr1 only
    df = check_spark(scores_frame(hl, scores, "discovery"), PGS_SCORES)
    # 4 persons x few scores: a tiny aggregated result, fine to bring to the driver in a test.
    return {(r.person_id, r.pgs_id): r for r in df.collect()}


# Two scores on the same genotype rows as PGS000901, one with the opposite orientation at 100
# and an extra variant at 700 (C>A, all samples 0/1).
SHARING_A_SITE = [
    "#pgs_id=PGS000910\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
    "1\t100\tG\tA\t1.0\n",
    "#pgs_id=PGS000911\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
    "1\t100\tA\tG\t2.0\n1\t700\tA\tC\t-0.5\n"]


@pytest.fixture(scope="module")
def scored(hl, spark, tiny_mt):
    """The module's Hail passes, each run once and read by several tests (each pass costs Hail
    jobs on new IR): ``mean_impute`` with PGS000901 and the two scores sharing its site at 100 in
    one pass (several scores, one pass), ``zero`` (PGS000901), ``keep_ambiguous`` (PGS000901),
    and a score matching nothing alone (an empty weights table). The first two are also
    plink2's subject (``test_scores_equal_plink2``)."""
    pgs901 = read_scoring_file(str(DATA / "PGS000901.txt"))
    sharing = [parse_scoring_file(text, source=f"{i}.txt") for i, text in enumerate(SHARING_A_SITE)]
    nothing = parse_scoring_file("#pgs_id=PGS000920\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\t"
                                 "other_allele\teffect_weight\n1\t5000\tG\tA\t1.0\n", source="a.txt")
    return {"mean_impute": run_scores(hl, spark, tiny_mt, [pgs901, *sharing]),
            "zero": run_scores(hl, spark, tiny_mt, [pgs901], missing_genotypes="zero"),
            "keep_ambiguous": run_scores(hl, spark, tiny_mt, [pgs901], keep_ambiguous=True),
            "nothing_matched": run_scores(hl, spark, tiny_mt, [nothing])}


def test_sum_allele_count_avg_match_hand_computation(scored):
    got = {k: r for k, r in scored["mean_impute"].items() if k[1] == "PGS000901"}
    expected = {101: (9.0, 12, 0), 102: (8.75, 10, 1), 103: (6.0, 12, 0), 104: (0.25, 10, 1)}
    assert set(got) == {(p, "PGS000901") for p in expected}
    for person, (score_sum, allele_count, n_missing) in expected.items():
        r = got[(person, "PGS000901")]
        assert r.dataset == "discovery"
        assert r.score_sum == pytest.approx(score_sum, abs=1e-12)
        assert r.allele_count == allele_count
        assert r.n_missing == n_missing
        assert r.score_avg == pytest.approx(score_sum / 12, abs=1e-12)


def test_zero_imputation_drops_missing_contributions(scored):
    got = scored["zero"]
    # 102 loses rs200's imputed -1.0; 104 loses rs900's imputed 1.5.
    assert got[(102, "PGS000901")].score_sum == pytest.approx(9.75, abs=1e-12)
    assert got[(104, "PGS000901")].score_sum == pytest.approx(-1.25, abs=1e-12)
    assert got[(101, "PGS000901")].score_sum == pytest.approx(9.0, abs=1e-12)


def test_keep_ambiguous_adds_the_palindrome(scored):
    got = scored["keep_ambiguous"]
    # rs400 A/T w 10, effect = REF: n = 1 0 2 1 -> d = 1 2 0 1; 7 matched variants, AVG = SUM / 14.
    for person, base, extra in [(101, 9.0, 10), (102, 8.75, 20), (103, 6.0, 0), (104, 0.25, 10)]:
        r = got[(person, "PGS000901")]
        assert r.score_sum == pytest.approx(base + extra, abs=1e-12)
        assert r.score_avg == pytest.approx((base + extra) / 14, abs=1e-12)


def test_several_scores_in_one_pass_share_a_site(scored):
    got = scored["mean_impute"]
    # n at 100 = 0 1 2 1. PGS000910 = n; PGS000911 = 2 x (2 - n) - 0.5 x 1.
    for person, n in zip([101, 102, 103, 104], [0, 1, 2, 1]):
        assert got[(person, "PGS000910")].score_sum == pytest.approx(n, abs=1e-12)
        assert got[(person, "PGS000910")].allele_count == 2
        assert got[(person, "PGS000911")].score_sum == pytest.approx(2 * (2 - n) - 0.5, abs=1e-12)
        assert got[(person, "PGS000911")].allele_count == 4
        assert got[(person, "PGS000911")].score_avg == pytest.approx((2 * (2 - n) - 0.5) / 4, abs=1e-12)


def test_score_without_any_match_is_zero_with_missing_avg(scored):
    got = scored["nothing_matched"]
    assert set(got) == {(p, "PGS000920") for p in (101, 102, 103, 104)}
    r = got[(101, "PGS000920")]
    assert (r.score_sum, r.allele_count, r.score_avg, r.n_missing) == (0.0, 0, None, 0)


# PGS000901's used variants, effect allele on the VCF strand (rs500 G->C, rs600 C->G flipped).
PLINK_SCORE = "ID\tA1\tW\n1:100\tG\t0.5\n1:200\tC\t-1.0\n1:300\tA\t2.0\n1:500\tC\t0.25\n1:600\tG\t3.0\n1:900\tG\t1.5\n"


def plink2_scores(tmp: Path, *, mean_impute: bool) -> pd.DataFrame:
    """plink2 --score on tiny.vcf with PLINK_SCORE (the module doc's commands): its .sscore by IID."""
    plink2 = shutil.which("plink2")
    assert plink2, "plink2 must be on PATH for the oracle test (apt-get install plink2)"
    vcf = str(DATA / "tiny.vcf")
    (tmp / "score.tsv").write_text(PLINK_SCORE)
    common = [plink2, "--vcf", vcf, "--set-all-var-ids", "@:#", "--threads", "1"]
    subprocess.run([*common, "--freq", "--out", str(tmp / "f")], check=True, capture_output=True)
    modifiers = ["header", "cols=+scoresums,+denom"] + ([] if mean_impute else ["no-mean-imputation"])
    subprocess.run(
        [*common, "--read-freq", str(tmp / "f.afreq"), "--score", str(tmp / "score.tsv"), "1", "2", "3",
         *modifiers, "--out", str(tmp / "o")],
        check=True, capture_output=True,
    )
    out = pd.read_csv(tmp / "o.sscore", sep="\t")
    return out.rename(columns={"#IID": "IID"}).set_index("IID")


@pytest.mark.parametrize("missing_genotypes", ["mean_impute", "zero"])
def test_scores_equal_plink2(scored, tmp_path, missing_genotypes):
    """Hail's pass (PGS000901's rows of the module's passes) equals plink2 --score on the tiny VCF
    (needs ``plink2`` on PATH; CI installs it): SUM, ALLELE_CT and, with mean imputation, AVG
    (plink2 refuses to impute from < 50 samples, so frequencies from the same data are written
    with --freq and read back, which is what it would do itself). The score file holds
    PGS000901's matched variants with the effect allele written on the VCF's strand (flips
    resolved by hand), so plink2 only checks the dosage and sum arithmetic:

        plink2 --vcf tiny.vcf --set-all-var-ids @:# --freq --out f
        plink2 --vcf tiny.vcf --set-all-var-ids @:# --read-freq f.afreq \\
               --score score.tsv 1 2 3 header cols=+scoresums,+denom [no-mean-imputation] --out o
    """
    ours = {p: r for (p, g), r in scored[missing_genotypes].items() if g == "PGS000901"}  # 4 rows
    ref = plink2_scores(tmp_path, mean_impute=missing_genotypes == "mean_impute")
    assert sorted(ours) == sorted(ref.index)
    for person in ref.index:
        assert ours[person].score_sum == pytest.approx(ref.loc[person, "SCORE1_SUM"], abs=1e-9)
        assert ours[person].allele_count == ref.loc[person, "ALLELE_CT"]
        if missing_genotypes == "mean_impute":
            # plink2 SCORE_AVG = SUM / DENOM with DENOM = 2 x scored variants (AVG is printed to
            # 6 significant digits, so compare with the full-precision SUM / DENOM).
            assert ref.loc[person, "DENOM"] == 2 * ours[person].n_matched
            assert ours[person].score_avg == pytest.approx(
                ref.loc[person, "SCORE1_SUM"] / ref.loc[person, "DENOM"], abs=1e-9)


def test_group_within_partitions_adapter_pins_hails_private_api(hl):
    """scoring.group_within_partitions wraps Hail's private Table._group_within_partitions:
    if a Hail upgrade renames it, changes its parameters or its grouping, this fails."""
    import inspect

    from trd_spark.pgs.scoring import group_within_partitions

    assert list(inspect.signature(hl.Table._group_within_partitions).parameters) == ["self", "name", "n"]
    t = hl.utils.range_table(10, n_partitions=2)  # keyed by idx; partitions 0..4 and 5..9
    t = t.annotate(x=t.idx * 10)
    blocks = group_within_partitions(t, "_block", 3)
    assert list(blocks.row) == ["idx", "_block"] and list(blocks.key) == ["idx"]
    got = blocks.collect()
    # Partitions 0..4 and 5..9, each cut into blocks of at most 3 rows, in order, none spanning two.
    assert [[r.idx for r in b._block] for b in got] == [[0, 1, 2], [3, 4], [5, 6, 7], [8, 9]]
    assert [b.idx for b in got] == [0, 3, 5, 8]  # the key of each block's first row
    assert [r.x for r in got[0]._block] == [0, 10, 20]


def test_export_plink_adapter_writes_what_hail_export_plink_writes(hl, tiny_mt, tmp_path):
    """scoring.export_plink is ``hl.export_plink`` with its defaults minus the .fam whitespace
    check (four column collects) through Hail's private API: the .bed/.bim/.fam must equal
    Hail's own byte for byte (tiny.vcf's split rows: a missing call, the G>A,C site as two
    rows), so a Hail upgrade that changes either fails here; a multi-allelic row is refused."""
    from trd_spark.pgs.scoring import export_plink

    mt = tiny_mt.select_entries(GT=hl.unphased_diploid_gt_index_call(hl.int32(tiny_mt.DOSAGE)))
    hl.export_plink(mt, str(tmp_path / "hail"))
    export_plink(hl, mt, str(tmp_path / "ours"))
    for ext in ("bed", "bim", "fam"):
        assert (tmp_path / f"ours.{ext}").read_bytes() == (tmp_path / f"hail.{ext}").read_bytes(), ext
    assert (tmp_path / "ours.bim").read_text().splitlines()[2] == "chr1\tchr1:300:G:A\t0.0\t300\tA\tG"
    assert (tmp_path / "ours.fam").read_text().splitlines()[0] == "0\t101\t0\t0\t0\tNA"
    multi = hl.import_vcf(str(DATA / "tiny.vcf"), reference_genome="GRCh38", contig_recoding={"1": "chr1"})
    with pytest.raises(Exception, match="expects biallelic variants"):
        export_plink(hl, multi.select_entries("GT"), str(tmp_path / "multi"))


def test_listed_rows_are_exactly_the_rows_named(hl):
    """``scoring.listed_rows`` (the export's row filter: SNVs of A/C/G/T as one int64 each, other
    rows as tuples) keeps exactly the biallelic rows whose (contig, position, ref, alt) is listed,
    as one set of those tuples did: not a row at a listed position with other alleles (nor ref
    and alt swapped), not a listed SNV on another contig at the same position, a lower-case SNV
    or an indel only as written; a listed contig off the reference keeps nothing."""
    import pandas as pd

    from trd_spark.pgs.scoring import listed_rows

    file_rows = [("chr1", 100, "A", "C"), ("chr1", 100, "C", "A"), ("chr1", 100, "A", "G"), ("chr2", 100, "A", "C"),
                 ("chr1", 101, "a", "c"), ("chr1", 101, "A", "C"), ("chr1", 200, "AT", "A"), ("chr1", 200, "A", "AT"),
                 ("chrX", 300, "G", "T"), ("chrX", 301, "N", "T"), ("chr1", 248956422, "T", "G"),
                 ("chrY", 57227415, "C", "*")]
    listed = pd.DataFrame([("chr1", 100, "A", "C"), ("chr1", 101, "a", "c"), ("chr1", 200, "AT", "A"),
                           ("chrX", 300, "G", "T"), ("chrX", 301, "N", "T"), ("chr1", 248956422, "T", "G"),
                           ("chrY", 57227415, "C", "*"), ("chrUn_x", 5, "A", "C"), ("chr3", 100, "A", "C")],
                          columns=["contig", "position", "ref", "alt"])
    t = hl.Table.parallelize([{"c": c, "p": p, "ref": r, "alt": a} for c, p, r, a in file_rows],
                             hl.tstruct(c=hl.tstr, p=hl.tint32, ref=hl.tstr, alt=hl.tstr))
    t = t.annotate(locus=hl.locus(t.c, t.p, "GRCh38"), alleles=[t.ref, t.alt])
    kept = t.filter(listed_rows(hl, listed, t.locus, t.alleles))
    got = {(r.c, r.p, r.ref, r.alt) for r in kept.collect()}
    assert got == set(file_rows) & set(listed.itertuples(index=False, name=None))
    assert got == {("chr1", 100, "A", "C"), ("chr1", 101, "a", "c"), ("chr1", 200, "AT", "A"),
                   ("chrX", 300, "G", "T"), ("chrX", 301, "N", "T"), ("chr1", 248956422, "T", "G"),
                   ("chrY", 57227415, "C", "*")}


@pytest.mark.parametrize(("rows", "problems"), [
    ([("1", "P", 1.0, 2, 0, 1), ("2", "P", 2.0, 2, 0, 1)], None),
    ([("1", "P", 1.0, 2, 0, 1), ("1", "P", 1.0, 2, 0, 1), ("1", "P", 1.0, 2, 0, 1), ("2", "P", float("nan"), 6, -1, 1),
      ("2", "Q", float("inf"), 2, -1, 1)],
     "repeated (sample, pgs_id) rows; rows with n_missing < 0; rows with allele_count > 2 x n_matched; "
     "rows with a non-finite score_sum"),
], ids=["clean", "every-violation"])
def test_score_table_invariants_are_counted_in_one_check(hl, rows, problems):
    """``scoring.check_score_table``: a clean table passes; each invariant with offending rows is
    named in one InputDataError, without counts (a score's rows are persons: session 20)."""
    from trd_spark.errors import InputDataError
    from trd_spark.pgs.scoring import check_score_table

    t = hl.Table.parallelize(
        [dict(zip(["s", "pgs_id", "score_sum", "allele_count", "n_missing", "n_matched"], r)) for r in rows],
        hl.tstruct(s=hl.tstr, pgs_id=hl.tstr, score_sum=hl.tfloat64, allele_count=hl.tint64, n_missing=hl.tint64,
                   n_matched=hl.tint64))
    if problems is None:
        check_score_table(hl, t, "d")
        return
    with pytest.raises(InputDataError, match="^d: score table invariants violated") as e:
        check_score_table(hl, t, "d")
    assert str(e.value).endswith(problems)


@pytest.fixture(scope="module")
def tiny_calls_mt(hl, tmp_path_factory):
    """tiny.vcf's calls (entry GT alone) written as a MatrixTable of 2 partitions by the installed
    Hail, and its rows at positions 200, 500 and 900 as the match's rows job gives them with their
    file row numbers (``genotype_rows_at(row_numbers=True)``: rows 1, 4 and 8, two partitions)."""
    import pandas as pd

    from trd_spark.pgs.matching import ScoreLoci, genotype_rows_at

    path = tmp_path_factory.mktemp("pgs_mt") / "tiny.mt"
    raw = hl.import_vcf(str(DATA / "tiny.vcf"), reference_genome="GRCh38", contig_recoding={"1": "chr1"})
    raw.select_rows().select_entries("GT").repartition(2).write(str(path))
    calls = hl.read_matrix_table(str(path))
    loci = ScoreLoci.of(hl, pd.DataFrame({"contig": ["chr1"] * 3, "position": [200, 500, 900]}), "GRCh38")
    rows = genotype_rows_at(hl, calls.rows().select(), loci, row_numbers=True)
    return path, calls, rows


def test_matrix_table_bed_read_from_its_files_equals_hails_export(hl, tiny_calls_mt, tmp_path):
    """``scoring.export_hard_calls`` with ``calls_path`` reads the listed rows' calls from the
    MatrixTable's own files (``mt_entries``, Hail's private on-disk format, located by the rows
    job's file row numbers): the fileset equals Hail's writer's byte for byte (a missing call at
    200, the multi-allelic G>A,C row parsed past with its 1/2 call, rows in both part files). A
    MatrixTable written by the installed Hail must be in the layout the reader knows: if a Hail
    upgrade changes it, ``entries_layout`` refuses it and this fails (``calls``, not
    ``calls_decoded``)."""
    from trd_spark.pgs.genotypes import FILE_ROW
    from trd_spark.pgs.mt_entries import entries_layout
    from trd_spark.pgs.scoring import export_hard_calls

    path, calls, rows = tiny_calls_mt
    assert rows[FILE_ROW].tolist() == [1, 4, 8] and not rows["normalised"].any()
    assert calls.n_partitions() == 2 and entries_layout(str(path)).counts == (5, 4)
    samples = ["101", "102", "103", "104"]
    got = export_hard_calls(hl, calls, rows, f"file://{tmp_path}/ours", calls=calls, calls_path=str(path),
                            samples=samples)
    assert got == "calls_decoded"
    assert export_hard_calls(hl, calls, rows, f"file://{tmp_path}/hail", calls=calls) == "calls"
    for ext in ("bed", "bim", "fam"):
        assert (tmp_path / f"ours.{ext}").read_bytes() == (tmp_path / f"hail.{ext}").read_bytes(), ext
    assert len((tmp_path / "ours.bim").read_text().splitlines()) == 3


def test_a_matrix_table_the_direct_reader_does_not_know_is_exported_by_hail(hl, tiny_calls_mt, tmp_path, caplog):
    """Another entry layout (here the codec's entry type of a copy's metadata changed, as a Hail
    upgrade or an entry field besides GT would) is one WARNING naming the metadata file, and Hail's
    writer exports the calls; a call the reader does not write (a phased 0|1 in a listed row) is
    found in the Spark task and Hail's writer exports the calls too. No .bed piece is left behind."""
    import gzip
    import json
    import logging
    import shutil

    from trd_spark.pgs.mt_entries import UnknownLayout, entries_layout
    from trd_spark.pgs.scoring import export_hard_calls

    path, calls, rows = tiny_calls_mt
    samples = ["101", "102", "103", "104"]
    other = tmp_path / "other.mt"
    shutil.copytree(path, other)
    spec = other / "entries" / "rows" / "metadata.json.gz"
    with gzip.open(spec, "rt") as f:
        meta = json.load(f)
    meta["_codecSpec"]["_eType"] = meta["_codecSpec"]["_eType"].replace("GT:EVarint", "GT:EInt32")
    with gzip.open(spec, "wt") as f:
        json.dump(meta, f)
    with pytest.raises(UnknownLayout, match=f"^{spec}: entries not in the layout .*entry type"):
        entries_layout(str(other))
    with caplog.at_level(logging.INFO, logger="trd_spark.pgs.scoring"):
        assert export_hard_calls(hl, calls, rows, f"file://{tmp_path}/a", calls=calls, calls_path=str(other),
                                 samples=samples) == "calls"
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and warned[0].startswith(f"{spec}: entries not in the layout"), warned

    phased = tmp_path / "phased.mt"  # rs500's call of 102 written 0|1
    calls.annotate_entries(GT=hl.if_else((calls.locus.position == 500) & (calls.s == "102"),
                                         hl.call(0, 1, phased=True), calls.GT)).write(str(phased))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="trd_spark.pgs.scoring"):
        assert export_hard_calls(hl, calls, rows, f"file://{tmp_path}/b", calls=calls, calls_path=str(phased),
                                 samples=samples) == "calls"
    assert "a call other than unphased diploid" in caplog.text
    assert sorted(p.name for p in tmp_path.glob("b.*")) == ["b.bed", "b.bim", "b.fam"]


INDEL_ROWS_VCF = """##fileformat=VCFv4.2
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##contig=<ID=chr1,length=248956422>
##contig=<ID=chr2,length=242193529>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t101\t102
chr1\t100\t.\tACT\tA,ACGT\t.\t.\t.\tGT\t0/1\t1/2
chr1\t200\t.\tC\tT\t.\t.\t.\tGT\t0/1\t./.
chr1\t300\t.\tGA\tG,*\t.\t.\t.\tGT\t0/1\t0/2
chr1\t400\t.\tTT\tTA\t.\t.\t.\tGT\t0/0\t0/1
chr1\t500\t.\tA\t.\t.\t.\t.\tGT\t0/0\t0/0
chr1\t600\t.\tG\tC\t.\t.\t.\tGT\t0/0\t0/1
chr2\t100\t.\tC\tG\t.\t.\t.\tGT\t0/1\t1/1
"""


def test_matrix_table_rows_read_from_its_files_equal_hails_rows_job(hl, tmp_path):
    """The match's rows of a local MatrixTable whose rows hold the key alone, read from its own
    rows files (``mt_entries.file_rows`` + ``matching.file_rows_at``, as ``stage.match_hail``
    does), equal Hail's rows job's frame (``genotype_rows_at(row_numbers=True)``), column for
    column: rows at a score locus, an alt whose ``min_rep`` moves onto one (ACT>ACGT at 100 is
    C>CG at 101; TT>TA at 400 is T>A at 401), a ``*`` alt and a row with no alt, split and
    numbered alike, two partitions, two contigs. A MatrixTable with another row field is left
    to the job (``UnknownLayout``)."""
    import pandas as pd

    from trd_spark.pgs import mt_entries
    from trd_spark.pgs.matching import ScoreLoci, file_rows_at, genotype_rows_at

    vcf = tmp_path / "indels.vcf"
    vcf.write_text(INDEL_ROWS_VCF)
    raw = hl.import_vcf(str(vcf), reference_genome="GRCh38")
    path = str(tmp_path / "rows.mt")
    raw.select_rows().select_entries("GT").repartition(2).write(path)
    calls = hl.read_matrix_table(path)
    frame = mt_entries.file_rows(path)
    assert frame is not None and frame["file_row"].tolist() == list(range(7))
    rg = hl.get_reference("GRCh38")
    for positions in ([("chr1", 101), ("chr1", 300), ("chr1", 401), ("chr1", 500), ("chr2", 100)],
                      [("chr1", 200), ("chr1", 900)]):
        loci = ScoreLoci.of(hl, pd.DataFrame(positions, columns=["contig", "position"]), "GRCh38")
        hails = genotype_rows_at(hl, calls.rows().select(), loci, row_numbers=True)
        ours = file_rows_at(frame, loci, rg.global_positions_dict, rg.contigs)
        assert ours is not None and len(ours) == len(hails) > 0
        pd.testing.assert_frame_equal(ours[list(hails.columns)], hails, check_dtype=False)
    assert mt_entries.file_rows(path, max_rows=6) is None
    other = str(tmp_path / "qual.mt")
    raw.select_rows("qual").select_entries("GT").write(other)
    with pytest.raises(mt_entries.UnknownLayout, match="rows not in the layout"):
        mt_entries.file_rows(other)
