"""Genotype reading: every format gives the same dosages and scores as the VCF it came from.

PLINK 1 and BGEN 1.2 files are written from the tiny VCF by plink2 itself (after Hail splits
the one multi-allelic row, since neither format holds one); the VDS is built from the tiny VCF
with hom-ref calls as reference blocks, so densifying it must give back the VCF's calls.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from pgs_hail_oracle import match_variants, score_weights_table, summarise_matches

from trd_spark.config import GenotypeSource
from trd_spark.errors import InputDataError
from trd_spark.pgs.genotypes import (
    contig_recoding,
    file_rows,
    hard_calls,
    read_calls,
    read_genotypes,
    samples_to_persons,
    vcf_sample_ids,
)
from trd_spark.pgs.matching import ScoreLabel, ScoreLoci, genotype_rows_at, loci_table, score_variants_table
from trd_spark.pgs.scoring import compute_scores
from trd_spark.pgs.scoring_files import read_scoring_file

# Minutes in all (Hail compiles each format's read and pass): scheduled first with the
# end-to-end modules (conftest), so it does not start last on one xdist worker.
pytestmark = pytest.mark.slow

DATA = Path(__file__).parent / "data" / "pgs"

DS_VCF = """##fileformat=VCFv4.2
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=DS,Number=A,Type=Float,Description="Alt dosage">
##contig=<ID=chr1,length=248956422>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t101\t102
chr1\t100\t.\tA\tG\t.\tPASS\t.\tGT:DS\t0/1:0.9\t0/0:.
chr1\t300\t.\tG\tA,C\t.\tPASS\t.\tGT:DS\t1/2:0.8,1.1\t0/0:0.05,0
"""


def test_contig_recoding_maps_other_style_onto_reference():
    grch38 = contig_recoding("GRCh38")
    assert (grch38["1"], grch38["X"], grch38["MT"]) == ("chr1", "chrX", "chrM")
    assert "chr1" not in grch38  # already right: left alone by import_vcf
    grch37 = contig_recoding("GRCh37")
    assert (grch37["chr22"], grch37["chrM"]) == ("22", "MT")


def test_haploid_capable_contigs_come_from_the_reference(hl):
    """The contigs where a call may be haploid are the reference's X, Y and mitochondrial
    contigs, one list for the dosage scale, sample_ploidies and export_hard_calls (the dosage
    rule had its own hard-coded set, {chrX, chrY, chrM, X, Y, MT}: the same for both builds)."""
    from trd_spark.pgs.genotypes import haploid_capable_contigs, haploid_contigs

    assert haploid_capable_contigs(hl.get_reference("GRCh38")) == ["chrX", "chrY", "chrM"]
    assert haploid_capable_contigs(hl.get_reference("GRCh37")) == ["X", "Y", "MT"]
    # Where plink2 --score counts one copy (matching.weight_matrices halves w there): no X.
    assert haploid_contigs(hl.get_reference("GRCh38")) == ["chrY", "chrM"]
    assert haploid_contigs(hl.get_reference("GRCh37")) == ["Y", "MT"]


def test_contig_intervals_are_the_parsed_whole_contigs(hl):
    """genotypes.contig_intervals (Python intervals: hl.filter_intervals evaluates them as a
    literal, not a compiled parse) is hl.parse_locus_interval(contig) of each contig, both
    builds: the first and the last position of the contig included, nothing outside it."""
    from trd_spark.pgs.genotypes import contig_intervals, haploid_capable_contigs

    for build in ("GRCh38", "GRCh37"):
        rg = hl.get_reference(build)
        contigs = [*haploid_capable_contigs(rg), rg.contigs[0]]
        assert contig_intervals(hl, rg, contigs) == hl.eval(
            hl.array([hl.parse_locus_interval(c, reference_genome=rg) for c in contigs]))


def test_missing_inputs_are_input_errors(hl, tmp_path):
    with pytest.raises(InputDataError, match="cannot import VCF"):
        read_genotypes(hl, GenotypeSource(format="vcf", path=str(tmp_path / "absent.vcf")))
    with pytest.raises(InputDataError, match=r"absent\.bim: cannot read the variant list"):
        read_genotypes(hl, GenotypeSource(format="plink", path=str(tmp_path / "absent")))
    with pytest.raises(InputDataError, match="needs the score loci"):
        read_genotypes(hl, GenotypeSource(format="vds", path=str(tmp_path / "absent.vds")))
    with pytest.raises(InputDataError, match="dosage_field applies to vcf and mt only"):
        read_genotypes(hl, GenotypeSource(format="bgen", path=str(tmp_path / "x.bgen"), dosage_field="DS"))


def test_dosage_field_reads_number_a_dosages(hl, tmp_path):
    (tmp_path / "ds.vcf").write_text(DS_VCF)
    mt = read_genotypes(hl, GenotypeSource(format="vcf", path=str(tmp_path / "ds.vcf"), dosage_field="DS"))
    got = {(r.locus.position, r.alleles[1], r.s): r.DOSAGE for r in mt.entries().collect()}
    # 102 at 100 is 0/0:. -> no dosage, so its GT counts (plink2's fallback): 0 copies.
    assert got == {(100, "G", "101"): 0.9, (100, "G", "102"): 0.0,
                   (300, "A", "101"): 0.8, (300, "A", "102"): 0.05,
                   (300, "C", "101"): 1.1, (300, "C", "102"): 0.0}
    # caught by the VCF pre-check (genotypes.check_vcf_files) at the first record, naming file:line
    with pytest.raises(InputDataError, match=r"ds\.vcf:\d+: FORMAT column has no XX \(has GT:DS\)"):
        read_genotypes(hl, GenotypeSource(format="vcf", path=str(tmp_path / "ds.vcf"), dosage_field="XX"))


def test_the_ploidy_pass_reads_only_the_scored_sex_contigs(hl, spark, tmp_path, monkeypatch):
    """A dosage_field's ploidy pass (genotypes.sample_ploidies: the scale of a DS beside a missing
    GT) reads only the sex contigs of the rows at the score loci: none for a chr1-only score of
    the round-11 case's VCF (no pass at all; for a VCF the pass was a scan of the whole file), chrX
    for the case's own score (chr1 + chrX, whose sums test_field_cases_round11 checks). Before: a
    pass over chrX, chrY and chrM in every dosage_field run, whatever was scored.
    The pass is built with the match's MatrixTable (``stage.match_hail``: ``biallelic_dosages``),
    so a match shows which contigs it reads; the sums of a DS score without the pass are
    test_field_cases_pgs' partial-dosage-field run (chr13 only: expected.tsv, hand + plink2)."""
    from test_field_cases_pgs import CASES, case_config

    from trd_spark.pgs import genotypes, stage

    real, read = genotypes.sample_ploidies, []
    monkeypatch.setattr(genotypes, "sample_ploidies",
                        lambda hl, mt, contigs=None: read.append(contigs) or real(hl, mt, contigs))
    case = CASES / "partial-dosage-field-missing-gt-chrx"
    (tmp_path / "chr1.txt").write_text("#pgs_id=PGS991105\n#genome_build=GRCh38\n"
                                       "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
                                       "1\t1000\tG\tA\t0.2\n")
    vcf, ds = str(case / "genotypes" / "data.vcf"), ", dosage_field: DS"
    cfg = case_config(tmp_path, vcf, str(tmp_path / "chr1.txt"), extra_genotypes=ds)
    r = stage.match_dataset(hl, spark, cfg, "d", stage.load_scoring_files(spark, cfg, "GRCh38"))
    assert read == [] and r.summary["n_matched"].tolist() == [1]
    cfg = case_config(tmp_path, vcf, f"{case}/scores/*", extra_genotypes=ds)
    stage.match_dataset(hl, spark, cfg, "d", stage.load_scoring_files(spark, cfg, "GRCh38"))
    assert read == [["chrX"]]


FIELD_CASES = Path(__file__).parent / "data" / "field_cases" / "pgs"


@pytest.mark.parametrize("vcf", [DATA / "tiny.vcf", FIELD_CASES / "plain-gzip-vcf" / "genotypes" / "data.vcf.gz",
                                 FIELD_CASES / "multiallelic-effect-is-ref" / "genotypes" / "data.vcf.bgz"],
                         ids=["plain", "gzip", "bgzf"])
def test_vcf_sample_ids_from_the_header_are_hails_columns(hl, vcf):
    """The stage takes a local VCF's sample IDs from its header (no Hail job): they must be
    import_vcf's column keys, in column order, as samples_to_persons collects them otherwise."""
    source = GenotypeSource(format="vcf", path=str(vcf), reference_genome="GRCh38")
    mt = read_calls(hl, source)
    cols = mt.add_col_index("_i").cols().collect()
    assert vcf_sample_ids(source) == [c.s for c in sorted(cols, key=lambda c: c._i)]


def test_vcf_sample_ids_leave_a_header_they_cannot_read_to_hail(tmp_path):
    """An ID with a space or a carriage return (CRLF file), or no #CHROM line before the
    records: None, so samples_to_persons collects Hail's own columns."""
    head = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
    for name, text in {"space": head + "101\t10 2\n", "crlf": head + "101\t102\r\n",
                       "no_header": "chr1\t1\t.\tA\tC\t.\t.\t.\tGT\t0/1\n"}.items():
        (tmp_path / f"{name}.vcf").write_text(text, newline="")
        assert vcf_sample_ids(GenotypeSource(format="vcf", path=str(tmp_path / f"{name}.vcf"),
                                             reference_genome="GRCh38")) is None, name
    (tmp_path / "ok.vcf").write_text(head + "101\t102\n")
    assert vcf_sample_ids(GenotypeSource(format="vcf", path=str(tmp_path / "ok.vcf"),
                                         reference_genome="GRCh38")) == ["101", "102"]


def test_matrix_table_sample_ids_are_collected_in_column_order(hl, tmp_path):
    """A MatrixTable's sample IDs are collected by Hail (no header to read): in column order,
    not the cols table's key order, so a sample map's error names the column a user finds
    (#3 here: '101' is the 2nd ID in key order) and the re-keyed columns keep their order."""
    mt = _tiny(hl)
    order = ["9", "10", "101", "2"]  # as text, key order is 10, 101, 2, 9
    mt = mt.key_cols_by(s=hl.literal(dict(zip(["101", "102", "103", "104"], order)))[mt.s])
    mt.write(str(tmp_path / "cols.mt"))
    mt = hl.read_matrix_table(str(tmp_path / "cols.mt"))
    with pytest.raises(InputDataError, match=r"^[^:]*: sample\(s\) are not in the sample map \(the first: sample #3\)"):
        samples_to_persons(hl, mt, where="g.mt", sample_map={"9": 1, "10": 2, "2": 4})
    persons = samples_to_persons(hl, mt, where="g.mt", sample_map={"9": 1, "10": 2, "101": 3, "2": 4})
    assert persons.key_cols_by().cols().s.collect() == ["1", "2", "3", "4"]


def test_matrix_table_on_other_build_is_refused(hl, tmp_path):
    raw = hl.import_vcf(str(DATA / "tiny.vcf"), reference_genome="GRCh37")
    raw.write(str(tmp_path / "b37.mt"))
    with pytest.raises(InputDataError, match="loci are on GRCh37, config says GRCh38"):
        read_genotypes(hl, GenotypeSource(format="mt", path=str(tmp_path / "b37.mt")))


def _tiny(hl):
    mt = hl.import_vcf(str(DATA / "tiny.vcf"), reference_genome="GRCh38", contig_recoding=contig_recoding("GRCh38"))
    return mt.select_rows().select_entries("GT")


def write_tiny_vds(hl, path: str) -> None:
    """The tiny VCF as a VDS (also the pgs stage test's VDS dataset), by ``write_vds``."""
    write_vds(hl, _tiny(hl), path)


def write_vds(hl, mt, path: str) -> None:
    """A MatrixTable with ``GT`` (rows as the file writes them: multi-allelic, non-minimal) as a
    VDS: hom-ref calls become one-base reference blocks; other calls go to the variant data
    (``LGT``, ``LA`` = every allele), its rows as they are."""
    mt = mt.select_rows().select_entries("GT")
    ref = mt.filter_entries(hl.is_defined(mt.GT) & mt.GT.is_hom_ref())
    ref = ref.annotate_rows(ref_allele=ref.alleles[0])
    ref = ref.key_rows_by("locus")
    ref = ref.select_rows("ref_allele")
    ref = ref.select_entries(END=ref.locus.position)
    var = mt.filter_entries(hl.is_defined(mt.GT) & ~mt.GT.is_hom_ref())
    var = var.select_entries(LGT=var.GT, LA=hl.range(hl.len(var.alleles)))
    hl.vds.VariantDataset(ref, var).write(path)


@pytest.fixture(scope="module")
def sources(hl, tmp_path_factory):
    """The tiny genotypes in every format: {format: GenotypeSource}."""
    tmp = tmp_path_factory.mktemp("formats")
    plink2 = shutil.which("plink2")
    assert plink2, "plink2 must be on PATH (apt-get install plink2)"
    split = hl.split_multi_hts(_tiny(hl))
    hl.export_vcf(split, str(tmp / "split.vcf"))
    common = [plink2, "--vcf", str(tmp / "split.vcf"), "--threads", "1", "--out", str(tmp / "t")]
    subprocess.run([*common, "--make-bed"], check=True, capture_output=True)
    subprocess.run([*common, "--export", "bgen-1.2", "bits=8"], check=True, capture_output=True)
    _tiny(hl).write(str(tmp / "t.mt"))
    write_tiny_vds(hl, str(tmp / "t.vds"))
    return {
        "vcf": GenotypeSource(format="vcf", path=str(DATA / "tiny.vcf")),
        "mt": GenotypeSource(format="mt", path=str(tmp / "t.mt")),
        "plink": GenotypeSource(format="plink", path=str(tmp / "t")),
        "bgen": GenotypeSource(format="bgen", path=str(tmp / "t.bgen")),
        "vds": GenotypeSource(format="vds", path=str(tmp / "t.vds")),
    }


@pytest.fixture(scope="module")
def score_sites(hl, spark):
    """PGS000901's ``score_variants_table`` and its loci, each written once for every format
    (a Table built from Spark is converted again at each use otherwise)."""
    sf = read_scoring_file(str(DATA / "PGS000901.txt"))
    sv = score_variants_table(hl, spark, [sf], "GRCh38").checkpoint(hl.utils.new_temp_file("sv901", "ht"))
    loci = sv.filter(hl.is_defined(sv.locus)).key_by("locus").select().distinct()
    return sv, loci.checkpoint(hl.utils.new_temp_file("loci901", "ht"))


def _scores(hl, score_sites, source: GenotypeSource) -> tuple[dict, int]:
    """PGS000901's scores of ``source`` by Hail's pass (the oracle's matcher) and the row count
    ``read_genotypes`` gives. The genotypes read and the matches are written once (the
    duplicate check, match summary, scores and row count each read them again otherwise; a
    VDS is densified at each read)."""
    sv, loci = score_sites
    mt = read_genotypes(hl, source, loci=loci).checkpoint(hl.utils.new_temp_file("fmt", "mt"))
    m = match_variants(hl, mt, sv, keep_ambiguous=False).checkpoint(hl.utils.new_temp_file("m901", "ht"))
    summary = summarise_matches(hl, m, "d", ["PGS000901"], {"PGS000901": ScoreLabel("t", "d")})
    scores = compute_scores(hl, mt, score_weights_table(hl, m, 1), ["PGS000901"], summary["n_matched"].tolist(),
                            chr_y=False, chr_m=False)
    return {r.s: (r.score_sum, r.n_missing, r.n_matched) for r in scores.collect()}, mt.count_rows()


@pytest.fixture(scope="module")
def vcf_scores(hl, score_sites, sources) -> tuple[dict, int]:
    """The reference: the VCF's scores and row count, computed once for every format."""
    return _scores(hl, score_sites, sources["vcf"])


def test_vds_rows_at_score_loci_collect_like_the_vcf(hl, spark, sources):
    """What the stage's ``match_hail`` collects of a VDS (the loci from the sites frame:
    ``loci_table``, where the VDS is densified, and ``ScoreLoci``, where ``genotype_rows_at``
    collects the file rows of ``file_rows`` and splits them): the VCF's rows
    at those loci, both alts of the multi-allelic site included. Regression: collecting the
    rows of a densified VDS failed in Hail's ``to_spark`` ("requirement failed")."""
    sites = pd.DataFrame({"contig": ["chr1"] * 3, "position": [100, 300, 500]})
    loci = loci_table(hl, spark, sites, "GRCh38")

    def rows(fmt: str) -> pd.DataFrame:
        calls = read_calls(hl, sources[fmt], loci=loci)
        table, split = file_rows(hl, sources[fmt], calls)
        got = genotype_rows_at(hl, table, ScoreLoci.of(hl, sites, "GRCh38"), split=split)
        return got.sort_values(["position", "alt"]).reset_index(drop=True)

    want = rows("vcf")
    assert list(zip(want.position, want.alt)) == [(100, "G"), (300, "A"), (300, "C"), (500, "C")]
    pd.testing.assert_frame_equal(rows("vds"), want)


# Rows the match collects: a multi-allelic row with a spanning deletion, non-minimal rows the
# split moves (CA>TA at 900 is C>T at 900; GCA>GTA at 1000 is C>T at 1001; ACT>A,ACGT at 1400
# has C>CG at 1401, so its whole row is collected for the score locus 1401), a spanning
# deletion after a long REF (ACT>* is A>* in Hail's min_rep), a record without ALT (given the
# alt "."), rsIDs given and missing, an "NA" REF (text, not a missing value), a second contig
# (the loci are global positions) and rows off the score loci (not collected).
ROWS_VCF = """##fileformat=VCFv4.2
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##contig=<ID=chr1,length=248956422>
##contig=<ID=chr2,length=242193529>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t101\t102
chr1\t100\trs100\tA\tG\t.\tPASS\t.\tGT\t0/1\t./.
chr1\t300\t.\tG\tA,C,*\t.\tPASS\t.\tGT\t1/2\t0/3
chr1\t450\trs450\tT\tC\t.\tPASS\t.\tGT\t0/0\t0/1
chr1\t700\t.\tNA\tA\t.\tPASS\t.\tGT\t0/1\t0/0
chr1\t900\trs900\tCA\tTA\t.\tPASS\t.\tGT\t0/1\t1/1
chr1\t1000\t.\tGCA\tGTA\t.\tPASS\t.\tGT\t0/1\t1/1
chr1\t1200\t.\tACT\tA,*\t.\tPASS\t.\tGT\t0/1\t1/2
chr1\t1300\t.\tG\t.\t.\tPASS\t.\tGT\t0/0\t0/0
chr1\t1400\t.\tACT\tA,ACGT\t.\tPASS\t.\tGT\t0/2\t1/1
chr2\t50\trs2\tC\tT\t.\tPASS\t.\tGT\t0/1\t0/0
chr2\t60\t.\tC\tT\t.\tPASS\t.\tGT\t0/1\t0/0
"""


def test_rows_at_score_loci_are_the_split_rows_without_entries(hl, tmp_path):
    """What ``stage.match_hail`` collects (``genotype_rows_at`` on ``file_rows``: the file's
    rows at the score loci, no entry read, written as TSV, read and split by pandas,
    ``split_file_rows``) is exactly the rows of ``read_genotypes``' split MatrixTable (Hail's
    ``split_multi``) there, as Hail's own ``collect`` gives them: alleles and loci after
    ``split_multi``/``min_rep`` (the row at 1000 moves to 1001), ``normalised``, rsIDs with a
    missing one as None, ``NA`` kept as text; dtypes object/int64/bool; in key order; with
    ``split=False`` the split MatrixTable's own rows at the loci."""
    path = tmp_path / "rows.vcf"
    path.write_text(ROWS_VCF)
    source = GenotypeSource(format="vcf", path=str(path))
    at = [("chr1", p) for p in (100, 300, 700, 900, 1001, 1200, 1300, 1401)] + [("chr2", 50)]
    loci = ScoreLoci.of(hl, pd.DataFrame(at, columns=["contig", "position"]), "GRCh38")
    table, split = file_rows(hl, source, read_calls(hl, source, keep_rsid=True), keep_rsid=True)
    got = genotype_rows_at(hl, table, loci, split=split)

    mt = read_genotypes(hl, source, keep_rsid=True)
    want = pd.DataFrame([
        {"contig": r.locus.contig, "position": r.locus.position, "ref": r.alleles[0], "alt": r.alleles[1],
         "rsid": r.rsid, "normalised": r.normalised}
        for r in mt.rows().collect() if (r.locus.contig, r.locus.position) in {*at, ("chr1", 1400)}])
    want = want.astype({"contig": object, "position": "int64", "ref": object, "alt": object, "rsid": object,
                        "normalised": bool})
    assert list(zip(got.contig, got.position, got.ref, got.alt)) == [
        ("chr1", 100, "A", "G"), ("chr1", 300, "G", "*"), ("chr1", 300, "G", "A"), ("chr1", 300, "G", "C"),
        ("chr1", 700, "NA", "A"), ("chr1", 900, "C", "T"), ("chr1", 1001, "C", "T"), ("chr1", 1200, "A", "*"),
        ("chr1", 1200, "ACT", "A"), ("chr1", 1300, "G", "."), ("chr1", 1400, "ACT", "A"), ("chr1", 1401, "C", "CG"),
        ("chr2", 50, "C", "T")]
    assert got["rsid"].tolist() == ["rs100", *[None] * 4, "rs900", *[None] * 6, "rs2"]
    assert got["normalised"].tolist() == [False, *[True] * 3, False, *[True] * 7, False]
    # The file's own row each came from (the matcher compares score alleles with it first).
    assert list(zip(got.site_position, got.site_ref, got.site_alt)) == [
        (100, "A", "G"), (300, "G", "*"), (300, "G", "A"), (300, "G", "C"), (700, "NA", "A"), (900, "CA", "TA"),
        (1000, "GCA", "GTA"), (1200, "ACT", "*"), (1200, "ACT", "A"), (1300, "G", "."), (1400, "ACT", "A"),
        (1400, "ACT", "ACGT"), (50, "C", "T")]
    # The record each came from (shared by one record's alts only: genotypes.SITE_RECORD).
    assert got["site_record"].tolist() == [0, 1, 1, 1, 2, 3, 4, 5, 5, 6, 7, 7, 8]
    pd.testing.assert_frame_equal(got.drop(columns=["site_position", "site_ref", "site_alt", "site_record"]), want)
    # Taken as they are (split=False, as for BGEN): the split rows at the loci only.
    pd.testing.assert_frame_equal(genotype_rows_at(hl, mt.rows(), loci, split=False),
                                  want[want["position"] != 1400].reset_index(drop=True))


@pytest.mark.parametrize("fmt", ["mt", "plink", "bgen", "vds"])
def test_every_format_scores_like_the_vcf(hl, score_sites, sources, vcf_scores, fmt):
    want, n_rows = vcf_scores
    got, n_rows_fmt = _scores(hl, score_sites, sources[fmt])
    assert set(got) == {"101", "102", "103", "104"}
    for s, (score_sum, n_missing, n_matched) in want.items():
        assert got[s][0] == pytest.approx(score_sum, rel=1e-6, abs=1e-9), (fmt, s)
        assert got[s][1:] == (n_missing, n_matched)
    if fmt == "vds":
        # Only the score loci were densified (v400 and v800 are not in PGS000901).
        assert n_rows_fmt < n_rows
    else:
        assert n_rows_fmt == n_rows == 10


# Hard calls the export route must carry exactly as Hail's pass reads them: a haploid chrX call
# (counts 2 copies), a multi-allelic row whose REF effect allele puts -w on the other alt, a
# spanning-deletion alt, missing calls, and a row no score uses (not exported).
EXPORT_VCF = """##fileformat=VCFv4.2
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##contig=<ID=chr1,length=248956422>
##contig=<ID=chrX,length=156040895>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t101\t102\t103
chr1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\t./.\t1/1
chr1\t300\t.\tG\tA,C,*\t.\tPASS\t.\tGT\t1/2\t0/3\t2/2
chr1\t450\t.\tT\tC\t.\tPASS\t.\tGT\t0/0\t0/1\t1/1
chrX\t2800000\t.\tC\tT\t.\tPASS\t.\tGT\t1\t0/1\t.
"""
EXPORT_SCORE = """#pgs_id=PGS000960
#trait_reported=Export check
#genome_build=GRCh38
chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight
1\t100\tG\tA\t0.5
1\t300\tG\tA\t2.0
1\t300\tC\tG\t-0.75
X\t2800000\tT\tC\t1.25
"""


# Only biallelic, minimal rows: the export writes the file's calls as they are (no split). A
# haploid chrX 1 (2 copies) and 0, missing calls (./. and a haploid .), a phased call, a REF
# effect allele, and a multi-allelic row at a score locus whose alleles no score variant matches
# (collected by the match, not weighted, so it does not force the split).
CALLS_VCF = """##fileformat=VCFv4.2
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##contig=<ID=chr1,length=248956422>
##contig=<ID=chrX,length=156040895>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t101\t102\t103
chr1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\t./.\t1/1
chr1\t450\t.\tT\tC\t.\tPASS\t.\tGT\t0|1\t0/0\t1|1
chr1\t700\t.\tG\tA,C\t.\tPASS\t.\tGT\t1/2\t0/0\t2/2
chrX\t2800000\t.\tC\tT\t.\tPASS\t.\tGT\t1\t0/1\t.
chrX\t2900000\t.\tG\tA\t.\tPASS\t.\tGT\t0\t1/1\t1
"""
CALLS_SCORE = """#pgs_id=PGS000960
#trait_reported=Export check
#genome_build=GRCh38
chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight
1\t100\tG\tA\t0.5
1\t450\tT\tC\t-0.75
1\t700\tT\tG\t9.0
X\t2800000\tT\tC\t1.25
X\t2900000\tG\tA\t0.5
"""
# The same plus one biallelic row that is not minimal (CA>TA, which the split writes C>T):
# matched, so the export must take the split rows.
NON_MINIMAL_VCF = CALLS_VCF + "chr1\t900\t.\tCA\tTA\t.\tPASS\t.\tGT\t0/1\t1/1\t./.\n"
NON_MINIMAL_SCORE = CALLS_SCORE + "1\t900\tT\tC\t3.0\n"
# Without the chrX rows: GT written as stored (phased, missing); then with a haploid call on
# chr1, which Hail's PLINK writer refuses, so the export is written again with the calls rebuilt.
AUTOSOMAL_VCF = "".join(line for line in CALLS_VCF.splitlines(keepends=True) if not line.startswith("chrX"))
AUTOSOMAL_SCORE = "".join(line for line in CALLS_SCORE.splitlines(keepends=True) if not line.startswith("X\t"))
HAPLOID_AUTOSOME_VCF = AUTOSOMAL_VCF.replace("\t0/1\t./.\t1/1\n", "\t0/1\t./.\t1\n")
# The autosomal calls unphased, written as a MatrixTable (entry GT alone): its .bed is read from
# the MatrixTable's own files (mt_entries), not by Hail.
UNPHASED_MT_VCF = AUTOSOMAL_VCF.replace("|", "/")


def _export_config(tmp: Path, vcf: str = EXPORT_VCF, score: str = EXPORT_SCORE, hl=None) -> Path:
    """One dataset: the export VCF (the export takes ``read_genotypes``' rows, so every reader
    feeds it alike; test_every_format_scores_like_the_vcf checks the readers); with ``hl``, that
    VCF written as a MatrixTable (entry GT) and read as ``format: mt``."""
    (tmp / "scores").mkdir()
    (tmp / "scores" / "PGS000901.txt").write_text((DATA / "PGS000901.txt").read_text())
    (tmp / "scores" / "PGS000960.txt").write_text(score)
    (tmp / "export.vcf").write_text(vcf)
    (tmp / "panel.yaml").write_text("domains: [d]\nscores:\n  - {pgs_id: PGS000901, trait: t, domain: d}\n"
                                    "  - {pgs_id: PGS000960, trait: t, domain: d}\n")
    source = f"format: vcf, path: {tmp / 'export.vcf'}"
    if hl is not None:
        hl.import_vcf(str(tmp / "export.vcf"), reference_genome="GRCh38").select_entries("GT").write(
            str(tmp / "export.mt"))
        source = f"format: mt, path: {tmp / 'export.mt'}"
    datasets = f"  - {{name: export_vcf, role: discovery, genotypes: {{{source}}}}}\n"
    path = tmp / "export.yaml"
    path.write_text(f"""release: t1
output_root: {tmp}/out
datasets:
{datasets}ancestry: {{path: {tmp}/ancestry.tsv}}
pgs: {{scoring_files: ["{tmp}/scores/*.txt"], trait_panel: {tmp}/panel.yaml, min_overlap: 0}}
omop: {{path: {tmp}/omop, data_cutoff_date: 2023-07-01}}
phenotypes:
  concept_sets: {Path(__file__).resolve().parent.parent / 'conf' / 'concept_sets.yaml'}
  primary_definition: ad3
  trd_definitions: [{{name: ad3, rule: antidepressant_sequence, n_trials: 3}}]
""")
    return path


AS_STORED = "the file's calls as they are: no row needed splitting)"
REBUILT = "the file's calls as they are: no row needed splitting; each call rebuilt"
DECODED = ("read from the MatrixTable's own entry files (mt_entries: the file's calls as they are, no row needed "
           "splitting; no export)")


@pytest.mark.parametrize(("vcf", "score", "n_rows", "read"), [
    (EXPORT_VCF, EXPORT_SCORE, 5, "rows split and normalised"),   # + the 300 C and * rows (REF effect G)
    (CALLS_VCF, CALLS_SCORE, 4, REBUILT),
    (NON_MINIMAL_VCF, NON_MINIMAL_SCORE, 5, "rows split and normalised"),
    (AUTOSOMAL_VCF, AUTOSOMAL_SCORE, 2, AS_STORED),
    (HAPLOID_AUTOSOME_VCF, AUTOSOMAL_SCORE, 2, REBUILT),
    (UNPHASED_MT_VCF, AUTOSOMAL_SCORE, 2, DECODED),
], ids=["multiallelic", "biallelic_haploid_missing", "non_minimal", "autosomal_as_stored", "haploid_autosome",
        "mt_read_without_hail"])
def test_hard_calls_exported_to_plink_score_like_hails_pass(hl, spark, tmp_path, caplog, vcf, score, n_rows, read):
    """The export route (``stage.score_dataset`` with a scratch dir: the matched rows as a PLINK
    1 fileset, scored by the native engine) gives Hail's pass's numbers (to 1e-9; counts equal)
    on hard calls, whether it writes the file's calls as they are (no matched row needs the
    split: haploid 1 counts 2, missing stays missing; each GT as stored when no row is on chrX
    and Hail's writer takes every call, else rebuilt from its alt copies, ``scoring._NOT_DIPLOID``)
    or the split rows (a multi-allelic or non-minimal matched row); dosages keep Hail's pass. A
    local MatrixTable's calls as stored are read from its own entry files by the native pass's
    tasks (``mt_entries.EntriesReader``, the rows' numbers from the match's rows job, the
    persons from its column keys): nothing is exported.
    The scratch dir is removed, also when scoring fails. The match starts no warm-up of the
    native pass (b0ca867's, reverted: it cost more CPU than it moved out of the pass)."""
    import logging

    from trd_spark.config import load_config
    from trd_spark.pgs import pgen_engine, stage
    from trd_spark.pgs.matching import weight_matrices
    from trd_spark.pgs.scratch import OWNER

    cfg = load_config(_export_config(tmp_path, vcf, score, hl=hl if vcf is UNPHASED_MT_VCF else None))
    with caplog.at_level(logging.INFO, logger="trd_spark.pgs.stage"):
        r = stage.match_dataset(hl, spark, cfg, "export_vcf", stage.load_scoring_files(spark, cfg, "GRCh38"))
    # Headed for the export route, yet no warm-up beside the match: under load, or whenever the
    # export outlasts Spark's one-minute idle-worker timeout, its Python workers are gone before
    # the pass, which starts its own (session 20: +3.4 CPU-s at 2.5k, +10 at 10k samples).
    assert "warm-up" not in caplog.text
    with stage.scoring_scratch(hl, spark, cfg) as scratch, \
            caplog.at_level(logging.INFO, logger="trd_spark.pgs.engine"):
        route = stage.score_dataset(hl, cfg, r, scratch)
        n_weighted = len(weight_matrices(r.frame, ["chrY", "chrM"]).rows)
        if read == DECODED:  # scored straight from the MatrixTable's entry files: nothing exported
            # (the folder's owner record only: made in Hail's temp dir, it is swept by its owner)
            assert [p.name for p in Path(scratch).iterdir()] == [OWNER]
        else:  # exactly the weighted rows exported
            assert len((Path(scratch) / "hard_calls.bim").read_text().splitlines()) == n_weighted
        assert n_weighted == n_rows
        # The native pass's sums, added on the driver: numpy, read before the scratch dir goes.
        assert isinstance(route, pgen_engine.SummedScores)
        got = {(x.s, x.pgs_id): x for x in pd.DataFrame(route.columns()).itertuples()}
    assert (read if read == DECODED else f"exported by Hail as a PLINK 1 fileset ({read}") in caplog.text
    assert not Path(scratch).exists()  # removed with its exports
    want = {(x.s, x.pgs_id): x for x in stage.score_dataset(hl, cfg, r).collect()}
    assert set(got) == set(want) and len(want) == 2 * 3
    for key, w in want.items():
        assert got[key].score_sum == pytest.approx(w.score_sum, rel=0, abs=1e-9), key
        assert (got[key].allele_count, got[key].n_missing, got[key].n_matched) == \
            (w.allele_count, w.n_missing, w.n_matched), key
    if vcf is CALLS_VCF:
        # By hand (mean imputation of the missing calls; 102 at 100: mean 1.5 copies of G):
        # 101: 0.5*1 - 0.75*(2-1) + 1.25*2 (haploid 1) + 0.5*(2-0) (haploid 0, REF effect G) = 3.25
        assert got[("101", "PGS000960")].score_sum == pytest.approx(3.25, abs=1e-12)
        # 103: 0.5*2 - 0.75*0 + 1.25*2*(2/3) + 0.5*(2-2) = 2.6667; 1 missing of 4 matched. The
        # chrX mean counts a male call as one allele (plink2 with sex, 1d8180b): 101's haploid 1
        # is 1 of 1 alleles, 102's 0/1 1 of 2, so the frequency is 2/3 and the imputed dosage 4/3.
        assert got[("103", "PGS000960")].score_sum == pytest.approx(1 + 1.25 * 4 / 3, abs=1e-12)
        assert got[("103", "PGS000960")].n_missing == 1
    assert not hard_calls(GenotypeSource(format="vcf", path="x.vcf", dosage_field="DS"))
    assert not hard_calls(GenotypeSource(format="bgen", path="x.bgen"))
    with pytest.raises(RuntimeError), stage.scoring_scratch(hl, spark, cfg) as scratch:
        (Path(scratch) / "x.bed").write_bytes(b"")
        raise RuntimeError("scoring failed")
    assert not Path(scratch).exists()
