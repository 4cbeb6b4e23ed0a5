"""Variant matching against a tiny hand-made VCF (tests/data/pgs/tiny.vcf, 4 samples).

Genotyped sites on chr1 (REF>ALT): 100 A>G, 200 C>T, 300 G>A,C (multi-allelic), 400 A>T,
500 T>C, 600 G>T, 700 C>A, 800 A>C, 900 T>G. The score PGS000901 has one variant per case.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pysam
import pytest

from trd_spark.config import GenotypeSource
from trd_spark.errors import MatchRateError
from trd_spark.pgs.genotypes import read_genotypes
from trd_spark.pgs.matching import (
    ScoreLabel,
    check_match_rates,
    match_variants,
    score_variants_table,
    summarise_matches,
    variant_matches_frame,
)
from trd_spark.pgs.scoring_files import parse_scoring_file, read_scoring_file
from trd_spark.schemas import PGS_MATCH_SUMMARY, PGS_VARIANT_MATCHES, check_spark

DATA = Path(__file__).parent / "data" / "pgs"

# rsID in PGS000901.txt -> (expected match type, matched [ref, alt])
EXPECTED = {
    "rs100": ("ref_alt", ["A", "G"]),          # effect = ALT
    "rs200": ("alt_ref", ["C", "T"]),          # effect = REF
    "rs300": ("ref_alt", ["G", "A"]),          # first ALT of the multi-allelic site
    "rs400": ("ambiguous_dropped", None),      # A/T palindrome
    "rs500": ("ref_alt_flipped", ["T", "C"]),  # G/A on the other strand = C/T
    "rs600": ("alt_ref_flipped", ["G", "T"]),  # C/A on the other strand = G/T, effect = REF
    "rs900": ("ref_alt", ["T", "G"]),          # no other allele, single ALT at the locus
    "rs1000": ("not_found", None),             # locus not genotyped
    "rs301": ("not_found", None),              # T/G at the G>A,C site: no allele pair fits
}
RSIDS = ["rs100", "rs200", "rs300", "rs400", "rs500", "rs600", "rs900", "rs1000", "rs301"]


@pytest.fixture(scope="module")
def tiny_mt(hl, tmp_path_factory):
    path = tmp_path_factory.mktemp("pgs_vcf") / "tiny.vcf.bgz"
    pysam.tabix_compress(str(DATA / "tiny.vcf"), str(path), force=True)
    return read_genotypes(hl, GenotypeSource(format="vcf", path=str(path)))


def matched_rows(hl, spark, mt, scoring_files, keep_ambiguous=False) -> pd.DataFrame:
    sv = score_variants_table(hl, spark, scoring_files, "GRCh38")
    m = match_variants(hl, mt, sv, keep_ambiguous=keep_ambiguous)
    return m.key_by().select("pgs_id", "line", "match_type", "matched_alleles", "effect_is_ref").to_pandas()


def test_vcf_with_plain_contigs_is_recoded_and_split(hl, tiny_mt):
    rows = tiny_mt.rows().select().to_pandas()
    assert {str(x.contig) for x in rows["locus"]} == {"chr1"}
    assert len(rows) == 10  # 9 sites, the multi-allelic one split in two
    assert [list(a) for a in rows.loc[rows["locus"].map(lambda x: x.position) == 300, "alleles"]] == [["G", "A"], ["G", "C"]]
    assert tiny_mt.count_cols() == 4


def test_chr_prefixed_vcf_reads_the_same(hl, tmp_path):
    text = (DATA / "tiny.vcf").read_text().replace("##contig=<ID=1,", "##contig=<ID=chr1,")
    text = "\n".join(("chr" + ln) if ln and not ln.startswith("#") else ln for ln in text.split("\n"))
    plain = tmp_path / "chr.vcf"
    plain.write_text(text)
    mt = read_genotypes(hl, GenotypeSource(format="vcf", path=str(plain)))
    assert mt.count_rows() == 10
    assert mt.aggregate_rows(hl.agg.collect_as_set(mt.locus.contig)) == {"chr1"}


def test_each_match_type(hl, spark, tiny_mt):
    sf = read_scoring_file(str(DATA / "PGS000901.txt"))
    got = matched_rows(hl, spark, tiny_mt, [sf]).sort_values("line")
    assert got["match_type"].tolist() == [EXPECTED[r][0] for r in RSIDS]
    alleles = [None if a is None else list(a) for a in got["matched_alleles"]]
    assert alleles == [EXPECTED[r][1] for r in RSIDS]
    assert got["effect_is_ref"].tolist() == [t.startswith("alt_ref") for t in got["match_type"]]


def test_keep_ambiguous_matches_palindrome_directly(hl, spark, tiny_mt):
    sf = read_scoring_file(str(DATA / "PGS000901.txt"))
    got = matched_rows(hl, spark, tiny_mt, [sf], keep_ambiguous=True).set_index("line")
    # rs400: effect A other T at A>T -> effect = REF, matched directly (never flipped)
    assert got.loc[19, "match_type"] == "alt_ref"
    assert list(got.loc[19, "matched_alleles"]) == ["A", "T"]


def test_effect_only_not_matched_at_multiallelic_site(hl, spark, tiny_mt):
    text = "#pgs_id=PGS000902\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\teffect_weight\n1\t300\tA\t1\n1\t700\tA\t1\n1\t400\tT\t1\n"
    sf = parse_scoring_file(text, source="t.txt")
    got = matched_rows(hl, spark, tiny_mt, [sf]).sort_values("line")
    # 300 has two ALTs after splitting (cannot tell which allele pair); 700 C>A matches;
    # 400 A>T: with no other allele the genotyped pair A/T decides it is ambiguous.
    assert got["match_type"].tolist() == ["not_found", "ref_alt", "ambiguous_dropped"]


def test_summary_counts_and_log_schema(hl, spark, tiny_mt):
    sf = read_scoring_file(str(DATA / "PGS000901.txt"))
    sv = score_variants_table(hl, spark, [sf], "GRCh38")
    m = match_variants(hl, tiny_mt, sv, keep_ambiguous=False)
    summary = summarise_matches(hl, m, "discovery", ["PGS000901"], {"PGS000901": ScoreLabel("Tiny trait", "physical")})
    assert summary.columns.tolist() == PGS_MATCH_SUMMARY.names
    row = summary.iloc[0].to_dict()
    assert row == {
        "dataset": "discovery", "pgs_id": "PGS000901", "trait": "Tiny trait", "domain": "physical",
        "n_variants": 9, "n_matched": 6, "n_matched_ref_alt": 3, "n_matched_alt_ref": 1,
        "n_matched_flipped": 2, "n_ambiguous_dropped": 1, "n_not_found": 2, "n_unreadable": 0,
        "matched_fraction": pytest.approx(6 / 9),
    }
    log = check_spark(variant_matches_frame(hl, m, "discovery"), PGS_VARIANT_MATCHES)
    rows = {(r.chrom, r.pos, r.effect_allele): r.match_type for r in log.collect()}  # 9 score rows, no persons
    assert rows[("chr1", 500, "G")] == "ref_alt_flipped"
    assert rows[("chr1", 1000, "A")] == "not_found"
    assert len(rows) == 9


def test_min_overlap_failure_names_score_and_dataset(hl, spark, tiny_mt):
    sf = read_scoring_file(str(DATA / "PGS000901.txt"))
    sv = score_variants_table(hl, spark, [sf], "GRCh38")
    m = match_variants(hl, tiny_mt, sv, keep_ambiguous=False)
    summary = summarise_matches(hl, m, "replication_array", ["PGS000901"], {"PGS000901": ScoreLabel("t", "d")})
    check_match_rates(summary, 0.6)  # 6/9 = 0.667 passes
    with pytest.raises(MatchRateError) as e:
        check_match_rates(summary, 0.75)
    msg = str(e.value)
    assert "score PGS000901 in dataset replication_array" in msg
    assert "matched 6/9 variants (66.7%)" in msg
    assert e.value.exit_code == 4


def test_positions_off_the_reference_are_not_found(hl, spark, tiny_mt):
    # chr1 is 248,956,422 bp on GRCh38, and there is no contig chr99.
    text = ("#pgs_id=PGS000903\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
            "1\t300000000\tA\tG\t1\n99\t5\tA\tG\t1\n1\t100\tG\tA\t1\n")
    sf = parse_scoring_file(text, source="t.txt")
    got = matched_rows(hl, spark, tiny_mt, [sf]).sort_values("line")
    assert got["match_type"].tolist() == ["not_found", "not_found", "ref_alt"]
