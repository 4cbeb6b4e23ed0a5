"""Variant matching against a tiny hand-made VCF (tests/data/pgs/tiny.vcf, 4 samples).

Genotyped sites on chr1 (REF>ALT): 100 A>G, 200 C>T, 300 G>A,C (multi-allelic), 400 A>T,
500 T>C, 600 G>T, 700 C>A, 800 A>C, 900 T>G. The score PGS000901 has one variant per case.

Every rule is checked through both matchers: Hail's (``match_sites``) and the frame matcher
(``match_sites_frame``) on the same genotype rows collected to pandas; a randomised test
checks that both give the same sites, column by column, on a few hundred generated cases.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pysam
import pytest
from pgs_hail_oracle import match_sites, match_variants, summarise_matches, variant_matches_frame

from trd_spark.config import GenotypeSource
from trd_spark.pgs.genotypes import read_genotypes
from trd_spark.pgs.matching import (
    ScoreLabel,
    frame_matches,
    match_rate_failures,
    match_sites_frame,
    pandas_to_spark,
    score_sites,
    score_variants_table,
    summarise_frame_matches,
    variant_matches_pandas,
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


def genotype_rows(mt) -> pd.DataFrame:
    """The MatrixTable's rows as the frame matcher takes them (contig, position, ref, alt)."""
    rows = mt.rows()
    rows = rows.select(contig=rows.locus.contig, position=rows.locus.position, ref=rows.alleles[0],
                       alt=rows.alleles[1]).key_by().drop("locus", "alleles")
    return rows.to_pandas().astype({"position": "int64"})


MATCHERS = ["hail", "frame"]


def matched_rows(hl, spark, mt, scoring_files, keep_ambiguous=False, matcher="hail") -> pd.DataFrame:
    """One row per score variant: pgs_id, line, match_type, matched_alleles, effect_is_ref."""
    if matcher == "hail":
        sv = score_variants_table(hl, spark, scoring_files, "GRCh38")
        m = match_variants(hl, mt, sv, keep_ambiguous=keep_ambiguous)
        return m.key_by().select("pgs_id", "line", "match_type", "matched_alleles", "effect_is_ref").to_pandas()
    rows = genotype_rows(mt)
    fm = frame_matches(match_sites_frame(score_sites(hl, spark, scoring_files, "GRCh38"), rows,
                                         keep_ambiguous=keep_ambiguous), rows)
    site = fm.sites.iloc[fm.members["site"].to_numpy()].reset_index(drop=True)
    pair = [None if r < 0 else [rows["ref"].iloc[r], rows["alt"].iloc[r]] for r in site["matched_row"]]
    return pd.DataFrame({"pgs_id": [fm.pgs_ids[i] for i in fm.members["score_index"]],
                         "line": fm.members["line"].to_numpy(), "match_type": site["match_type"],
                         "matched_alleles": pair, "effect_is_ref": site["effect_is_ref"]})


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


@pytest.mark.parametrize("matcher", MATCHERS)
def test_each_match_type(hl, spark, tiny_mt, matcher):
    sf = read_scoring_file(str(DATA / "PGS000901.txt"))
    got = matched_rows(hl, spark, tiny_mt, [sf], matcher=matcher).sort_values("line")
    assert got["match_type"].tolist() == [EXPECTED[r][0] for r in RSIDS]
    alleles = [None if a is None else list(a) for a in got["matched_alleles"]]
    assert alleles == [EXPECTED[r][1] for r in RSIDS]
    assert got["effect_is_ref"].tolist() == [t.startswith("alt_ref") for t in got["match_type"]]


@pytest.mark.parametrize("matcher", MATCHERS)
def test_keep_ambiguous_matches_palindrome_directly(hl, spark, tiny_mt, matcher):
    sf = read_scoring_file(str(DATA / "PGS000901.txt"))
    got = matched_rows(hl, spark, tiny_mt, [sf], keep_ambiguous=True, matcher=matcher).set_index("line")
    # rs400: effect A other T at A>T -> effect = REF, matched directly (never flipped)
    assert got.loc[19, "match_type"] == "alt_ref"
    assert list(got.loc[19, "matched_alleles"]) == ["A", "T"]


@pytest.mark.parametrize("matcher", MATCHERS)
def test_effect_only_not_matched_at_multiallelic_site(hl, spark, tiny_mt, matcher):
    text = "#pgs_id=PGS000902\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\teffect_weight\n1\t300\tA\t1\n1\t700\tA\t1\n1\t400\tT\t1\n"
    sf = parse_scoring_file(text, source="t.txt")
    got = matched_rows(hl, spark, tiny_mt, [sf], matcher=matcher).sort_values("line")
    # 300 has two ALTs after splitting (cannot tell which allele pair); 700 C>A matches;
    # 400 A>T: with no other allele the genotyped pair A/T decides it is ambiguous.
    assert got["match_type"].tolist() == ["not_found", "ref_alt", "ambiguous_dropped"]


@pytest.mark.parametrize("matcher", MATCHERS)
def test_summary_counts_and_log_schema(hl, spark, tiny_mt, matcher):
    sf = read_scoring_file(str(DATA / "PGS000901.txt"))
    labels = {"PGS000901": ScoreLabel("Tiny trait", "physical")}
    if matcher == "hail":
        sv = score_variants_table(hl, spark, [sf], "GRCh38")
        m = match_variants(hl, tiny_mt, sv, keep_ambiguous=False)
        summary = summarise_matches(hl, m, "discovery", ["PGS000901"], labels)
        log = variant_matches_frame(hl, m, "discovery")
    else:
        from trd_spark.pgs.matching import pandas_to_spark

        rows = genotype_rows(tiny_mt)
        fm = frame_matches(match_sites_frame(score_sites(hl, spark, [sf], "GRCh38"), rows, keep_ambiguous=False), rows)
        summary = summarise_frame_matches(fm, "discovery", labels)
        log = pandas_to_spark(spark, variant_matches_pandas(fm, "discovery"), PGS_VARIANT_MATCHES.struct)
    assert summary.columns.tolist() == PGS_MATCH_SUMMARY.names
    row = summary.iloc[0].to_dict()
    assert row == {
        "dataset": "discovery", "pgs_id": "PGS000901", "trait": "Tiny trait", "domain": "physical",
        "n_variants": 9, "n_matched": 6, "n_matched_ref_alt": 3, "n_matched_alt_ref": 1,
        "n_matched_flipped": 2, "n_ambiguous_dropped": 1, "n_not_found": 2, "n_unreadable": 0,
        "matched_fraction": pytest.approx(6 / 9),
        # rs300 at the G>A,C site; the Hail oracle counts match types only (its summary gives 0).
        "n_matched_multiallelic": 1 if matcher == "frame" else 0,
    }
    log = check_spark(log, PGS_VARIANT_MATCHES)
    rows = {(r.chrom, r.pos, r.effect_allele): r.match_type for r in log.collect()}  # 9 score rows, no persons
    assert rows[("chr1", 500, "G")] == "ref_alt_flipped"
    assert rows[("chr1", 1000, "A")] == "not_found"
    assert len(rows) == 9


def test_a_row_without_a_position_is_logged_not_found_with_no_locus(hl, spark):
    """A scoring-file row with no position on the dataset's build (no hm_chr/hm_pos in a
    harmonised file) is one not_found row of the match log with chrom and pos null, as the
    schema says. Its file line is not in the table: two such rows with the same effect allele
    differ only by weight (session 19 note: the key columns do not tell them apart)."""
    text = ("#pgs_id=PGS000777\n#genome_build=GRCh37\n#HmPOS_build=GRCh38\n"
            "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\thm_chr\thm_pos\n"
            "1\t100\tA\tG\t0.5\t1\t1100\n1\t200\tA\tC\t0.25\t\t\n2\t300\tA\tC\t0.125\t\t\n")
    sf = parse_scoring_file(text, source="s.txt")
    assert sf.notes == ["2 variants have no position on GRCh38 (counted as not found)",
                        "2 variant rows have chr_name/chr_position but no hm_chr/hm_pos (the harmonisation could not "
                        "place them: counted as not found)"]
    rows = pd.DataFrame({"contig": ["chr1"], "position": [1100], "ref": ["G"], "alt": ["A"]})
    fm = frame_matches(match_sites_frame(score_sites(hl, spark, [sf], "GRCh38"), rows, keep_ambiguous=False), rows)
    log = variant_matches_pandas(fm, "d").sort_values("effect_weight", ascending=False)
    assert log["match_type"].tolist() == ["ref_alt", "not_found", "not_found"]
    assert log["chrom"].tolist() == ["chr1", None, None] and log["pos"].isna().tolist() == [False, True, True]
    assert log["effect_weight"].tolist() == [0.5, 0.25, 0.125]
    check_spark(pandas_to_spark(spark, log, PGS_VARIANT_MATCHES.struct), PGS_VARIANT_MATCHES)


def test_min_overlap_failure_names_score_and_dataset(hl, spark, tiny_mt):
    sf = read_scoring_file(str(DATA / "PGS000901.txt"))
    sv = score_variants_table(hl, spark, [sf], "GRCh38")
    m = match_variants(hl, tiny_mt, sv, keep_ambiguous=False)
    summary = summarise_matches(hl, m, "replication_array", ["PGS000901"], {"PGS000901": ScoreLabel("t", "d")})
    assert match_rate_failures(summary, 0.6) == []  # 6/9 = 0.667 passes
    (msg,) = match_rate_failures(summary, 0.75)  # the stage raises MatchRateError with it (test_pgs_stage)
    assert "score PGS000901 in dataset replication_array" in msg
    assert "matched 6/9 variants (66.7%)" in msg


@pytest.mark.parametrize("matcher", MATCHERS)
def test_positions_off_the_reference_are_not_found(hl, spark, tiny_mt, matcher):
    # chr1 is 248,956,422 bp on GRCh38, and there is no contig chr99.
    text = ("#pgs_id=PGS000903\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
            "1\t300000000\tA\tG\t1\n99\t5\tA\tG\t1\n1\t100\tG\tA\t1\n")
    sf = parse_scoring_file(text, source="t.txt")
    got = matched_rows(hl, spark, tiny_mt, [sf], matcher=matcher).sort_values("line")
    assert got["match_type"].tolist() == ["not_found", "not_found", "ref_alt"]


def test_frame_matcher_equals_hail_matcher_on_random_sites(hl, spark, tiny_mt):
    """Both matchers on 400 generated score variants in two scores (every allele pair over
    A/C/G/T and a few indels, with and without the other allele, at genotyped loci, at the
    multi-allelic 300, off the genotypes and off the reference, repeated sites) and genotype
    rows that add a split site with a * allele and an indel: the same match type, matched
    row, effect_is_ref, other_alt_rows and duplicate count at every site, with and without
    keep_ambiguous."""
    import random

    rng = random.Random(16)
    alleles = ["A", "C", "G", "T", "AT", "GC", "CAG"]
    positions = [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 300000000]
    texts = []
    for k in range(2):
        body = []
        for _ in range(200):
            ea = rng.choice(alleles)
            oa = rng.choice([a for a in alleles if a != ea] + [""])
            body.append(f"1\t{rng.choice(positions)}\t{ea}\t{oa}\t{rng.uniform(-1, 1):.4f}\n")
        texts.append(f"#pgs_id=PGS99{k}\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\tother_allele\t"
                     "effect_weight\n" + "".join(body))
    files = [parse_scoring_file(t, source=f"r{k}.txt", duplicate_variants="first") for k, t in enumerate(texts)]
    # tiny.vcf's rows plus, at 700 (C>A), a spanning deletion and two indels, and 800 A>C twice.
    extra = pd.DataFrame({"contig": "chr1", "position": [700, 700, 700, 800], "ref": ["C", "C", "CA", "A"],
                          "alt": ["*", "CAG", "C", "C"]})
    rows = pd.concat([genotype_rows(tiny_mt), extra], ignore_index=True)
    ht = hl.Table.from_pandas(rows.assign(position=rows["position"].astype("int32"))).add_index("_i").key_by("_i")
    mt = hl.utils.range_matrix_table(len(rows), 1)
    mt = mt.annotate_rows(_r=ht[hl.int64(mt.row_idx)])
    mt = mt.key_rows_by(locus=hl.locus(mt._r.contig, mt._r.position, "GRCh38"), alleles=[mt._r.ref, mt._r.alt])
    mt = mt.key_cols_by(s=hl.str(mt.col_idx)).select_rows().select_cols()
    key = ["chrom", "pos", "effect_allele", "other_allele"]
    for keep in (False, True):
        hs = match_sites(hl, mt, score_variants_table(hl, spark, files, "GRCh38"), keep_ambiguous=keep)
        hs = hs.key_by().drop("locus").to_pandas()
        hs = hs.assign(pos=hs["pos"].astype("Int32")).sort_values(key, na_position="first").reset_index(drop=True)
        # duplicate_variants first, as the files were parsed: the generated sites include one
        # variant in two forms (e.g. A/G and T/C at one position; matching.matched_duplicates).
        fr = match_sites_frame(score_sites(hl, spark, files, "GRCh38"), rows, keep_ambiguous=keep,
                               duplicate_variants="first")
        fr = fr.sort_values(key, na_position="first").reset_index(drop=True)
        assert len(hs) == len(fr) > 100
        assert hs["match_type"].tolist() == fr["match_type"].tolist()
        assert set(fr["match_type"]) >= {"ref_alt", "alt_ref", "ref_alt_flipped", "alt_ref_flipped", "not_found",
                                         "ambiguous_dropped" if not keep else "ref_alt"}
        pair = [None if r < 0 else [rows["ref"].iloc[r], rows["alt"].iloc[r]] for r in fr["matched_row"]]
        assert [None if a is None else list(a) for a in hs["matched_alleles"]] == pair
        assert hs["effect_is_ref"].tolist() == fr["effect_is_ref"].tolist()
        other = [sorted([rows["ref"].iloc[r], rows["alt"].iloc[r]] for r in rs) for rs in fr["other_alt_rows"]]
        assert [sorted(list(a) for a in x) for x in hs["other_alt_rows"]] == other
        assert any(other)  # a REF effect allele at the multi-allelic sites
        assert hs["duplicate_genotype_rows"].tolist() == fr["duplicate_genotype_rows"].tolist()
        assert fr["duplicate_genotype_rows"].max() == 1  # 800 A>C


def test_score_sites_from_parse_codes_equal_sites_from_text(hl, spark):
    """matching.score_sites groups the score rows on the codes kept from parsing
    (``ScoringFile.text_codes``); without them it hashes the text: the same sites, column by
    column (mixed case, chr prefixes, X/MT, a kept duplicate, an unplaced row, rsID-only rows)."""
    import dataclasses

    header = "#pgs_id={}\n#genome_build=GRCh38\n"
    cols = "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
    files = [
        parse_scoring_file(header.format("PGS1") + cols + "rs1\tchr1\t100\ta\tG\t0.5\nrs2\t1\t200\tC\t\t1\n"
                           "rs3\t23\t300\tC\tT\t2\nrs4\tchrM\t400\tA\tC\t1\nrs6\t1\t100\tG\tA\t4\n",
                           source="a.txt", duplicate_variants="first"),
        parse_scoring_file(header.format("PGS2") + cols + "rs1\t1\t100\tA\tG\t-1\nrs7\tX\t300\tT\tC\t2\n",
                           source="b.txt"),
        parse_scoring_file(header.format("PGS3") + "rsID\teffect_allele\tother_allele\teffect_weight\n"
                           "rs100\tG\tA\t1\nrs200\tt\tC\t2\n", source="c.txt", match_rsid=True),
    ]
    coded = score_sites(hl, spark, files, "GRCh38")
    text = score_sites(hl, spark, [dataclasses.replace(f, text_codes=None) for f in files], "GRCh38")
    # 1:100 A/G (2 rows), 1:200 C, X:300 C/T, MT:400 A/C, X:300 T/C, rs100, rs200
    assert len(coded) == 7 and files[0].n_duplicates_dropped == 1
    pd.testing.assert_frame_equal(coded.drop(columns=[c for c in coded if c.startswith("member_")]),
                                  text.drop(columns=[c for c in text if c.startswith("member_")]))
    for col in ("member_score_index", "member_weight", "member_line"):
        assert [a.tolist() for a in coded[col]] == [a.tolist() for a in text[col]], col


def test_hail_oracle_follows_the_allele_rule_on_non_minimal_indels(hl, spark):
    """The oracle (``pgs_hail_oracle.match_sites``, docs/pgs.md's allele rule in Hail expressions)
    and the frame matcher on field case multiallelic-nonminimal-indel (AT>ATT,A; ATT>AT;
    ACT>A,ACGT), the rows as the stage collects them (``biallelic_rows``: split, with the file
    row each came from): the hand-worked match types of its expected.tsv comments, the same
    matched rows and the same other alts lost by a REF effect allele. Before session 13 the
    oracle compared the split rows' minimal alleles only and took other alts by minimal REF:
    ATT/AT, AT/ATT and ACGT/ACT as written were not_found there."""
    from trd_spark.pgs.genotypes import biallelic_rows, read_calls

    case = Path(__file__).parent / "data" / "field_cases" / "pgs" / "multiallelic-nonminimal-indel"
    source = GenotypeSource(format="vcf", path=str(case / "genotypes" / "data.vcf"))
    table = biallelic_rows(hl, source, read_calls(hl, source))
    files = [read_scoring_file(str(p)) for p in sorted((case / "scores").iterdir())]
    hs = match_sites(hl, read_genotypes(hl, source), score_variants_table(hl, spark, files, "GRCh38"),
                     keep_ambiguous=False, rows=table)
    hs = hs.key_by().drop("locus").to_pandas()
    flat = table.key_by()
    rows = flat.select(contig=flat.locus.contig, position=flat.locus.position, ref=flat.alleles[0],
                       alt=flat.alleles[1], site_position=flat.site_position, site_ref=flat.site_ref,
                       site_alt=flat.site_alt).to_pandas()
    rows = rows.astype({"position": "int64", "site_position": "int64"})
    fr = match_sites_frame(score_sites(hl, spark, files, "GRCh38"), rows, keep_ambiguous=False)
    key = ["pos", "effect_allele", "other_allele"]
    hs = hs.assign(pos=hs["pos"].astype("int64")).sort_values(key).reset_index(drop=True)
    fr = fr.assign(pos=fr["pos"].astype("int64")).sort_values(key).reset_index(drop=True)
    want = {(2000000, "ATT", "AT"): "ref_alt", (2100000, "AT", "ATT"): "ref_alt", (2200000, "ACGT", "ACT"): "ref_alt",
            (2000000, "AT", "ATT"): "alt_ref", (2100000, "ATT", "AT"): "alt_ref", (2200000, "ACT", "A"): "alt_ref",
            (2000000, "AT", "A"): "alt_ref", (2100000, "A", "AT"): "ref_alt", (2200001, "C", "CG"): "alt_ref",
            (2000000, "ATT", "A"): "not_found", (2100001, "T", "TT"): "not_found_unnormalised", (2000000, "A", "AT"): "ref_alt"}
    assert dict(zip(zip(fr["pos"], fr["effect_allele"], fr["other_allele"]), fr["match_type"])) == want
    assert hs["match_type"].tolist() == fr["match_type"].tolist()
    pair = [None if r < 0 else [rows["ref"].iloc[r], rows["alt"].iloc[r]] for r in fr["matched_row"]]
    assert [None if a is None else list(a) for a in hs["matched_alleles"]] == pair
    other = [sorted([rows["ref"].iloc[r], rows["alt"].iloc[r]] for r in rs) for rs in fr["other_alt_rows"]]
    assert [sorted(list(a) for a in x) for x in hs["other_alt_rows"]] == other
    assert sum(map(len, other)) >= 3  # REF effect alleles at AT>ATT,A and ACT>A,ACGT lose the other alt


def test_frame_matches_takes_the_flat_members_only_while_the_sites_hold_them(hl, spark):
    """``frame_matches`` takes ``score_sites``' flat member arrays (``SortedMembers``, no
    concatenation of 12M members: issue 16, session 18) while every site holds the slices made
    there; once a site's members change (as a duplicate policy changes them), the members are
    the concatenation of the sites' arrays, as before. Each case equals the concatenation."""
    import numpy as np

    from trd_spark.pgs.matching import SORTED_MEMBERS

    header = "#pgs_id={}\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
    files = [parse_scoring_file(header.format("PGS1") + "1\t100\tA\tG\t0.5\n1\t200\tC\tT\t1\n1\t300\tG\tA\t2\n",
                                source="a.txt"),
             parse_scoring_file(header.format("PGS2") + "1\t200\tC\tT\t-1\n1\t100\tA\tG\t3\n", source="b.txt")]
    rows = pd.DataFrame({"contig": ["chr1"] * 3, "position": [100, 200, 300], "ref": ["G", "C", "G"],
                         "alt": ["A", "T", "A"]})
    sites = match_sites_frame(score_sites(hl, spark, files, "GRCh38"), rows, keep_ambiguous=False)

    def concatenated(s: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"site": np.repeat(np.arange(len(s)), s["member_line"].map(len).to_numpy()),
                             "score_index": np.concatenate(list(s["member_score_index"])).astype(np.int32),
                             "effect_weight": np.concatenate(list(s["member_weight"])),
                             "line": np.concatenate(list(s["member_line"]))})

    flat_line = sites.attrs[SORTED_MEMBERS].flat["member_line"][0]
    same = frame_matches(sites, rows)
    pd.testing.assert_frame_equal(same.members, concatenated(sites))
    assert np.shares_memory(same.members["line"].to_numpy(), flat_line)  # the flat arrays were taken
    changed = sites.copy()  # the first score row of site 0 dropped, as drop_members drops one
    for col in ("member_score_index", "member_weight", "member_line"):
        changed[col] = pd.Series([a[1:] if i == 0 else a for i, a in enumerate(sites[col])], dtype=object)
    assert changed.attrs[SORTED_MEMBERS] is sites.attrs[SORTED_MEMBERS]
    other = frame_matches(changed, rows)
    pd.testing.assert_frame_equal(other.members, concatenated(changed))
    assert len(other.members) == len(same.members) - 1
    labels = {p: ScoreLabel("t", "d") for p in ("PGS1", "PGS2")}
    per_score = np.bincount(np.concatenate(list(changed["member_score_index"])), minlength=2)
    assert summarise_frame_matches(other, "d", labels)["n_variants"].tolist() == per_score.tolist() \
        and per_score.sum() == 4


def test_site_grouping_leaves_out_columns_of_one_value(monkeypatch):
    """``_group_ids`` (the site grouping) equals pandas' ``groupby(...).ngroup()`` (first
    appearance order, missing values grouped) with columns of one value left out of its key,
    and gives one group when every column has one value; also when its keys are numbered a few
    at a time (``_KEYS_AT_A_TIME``, a million in use)."""
    import numpy as np

    from trd_spark.pgs import matching
    from trd_spark.pgs.matching import _group_ids
    from trd_spark.pgs.scoring_files import TextCodes

    rng = np.random.default_rng(2)
    pos = pd.Series(rng.integers(1, 6, 500), dtype="Int32").mask(rng.random(500) < 0.1)
    allele = TextCodes(rng.integers(-1, 3, 500).astype(np.int32), np.array(["A", "C", "G"], dtype=object))
    flag = pd.Series(np.zeros(500, dtype=bool))
    build = pd.Series(pd.Categorical.from_codes(np.zeros(500, dtype=np.int8), categories=["GRCh38"]))
    rsid = TextCodes.missing(500)
    frame = pd.DataFrame({"pos": pos, "allele": allele.decoded(), "flag": flag, "build": build,
                          "rsid": rsid.decoded()})
    want = frame.groupby(list(frame), dropna=False, sort=False, observed=True).ngroup().to_numpy()
    assert _group_ids([pos, allele, flag, build, rsid]).tolist() == want.tolist()
    assert _group_ids([flag, build, rsid]).tolist() == [0] * 500
    monkeypatch.setattr(matching, "_KEYS_AT_A_TIME", 7)
    assert _group_ids([pos, allele, flag, build, rsid]).tolist() == want.tolist()


def _no_rows(f):
    """``f`` without its variant rows (its text codes kept, none left): a scoring file with no
    row, which ``parse_scoring_file`` refuses (an empty scoring file is an error) but the site
    grouping must still take."""
    import dataclasses

    import numpy as np

    none = np.zeros(0, dtype=np.int64)
    codes = None if f.text_codes is None else {k: v.take(none) for k, v in f.text_codes.items()}
    return dataclasses.replace(f, variants=f.variants.iloc[:0], text_codes=codes, other_positions=None)


def test_sites_grouped_file_by_file_equal_the_grouping_of_all_rows():
    """``_sites_by_file`` (score_sites' usual case: sites keyed file by file, members placed
    straight into the flat arrays; issue 16, session 21) gives the frame of ``_sites_of`` on
    ``score_variant_columns``' 12M-row columns: same sites in the same order, same columns and
    dtypes, same members in the same order (files sharing sites in other orders, mixed case, chr
    prefixes, X/MT, no other allele, an unplaced row, an empty file). It declines (None: the
    general path) for a file listing one site twice (two unplaced rows), rsID-only files and
    files on two builds."""
    import dataclasses

    import numpy as np

    from trd_spark.pgs.matching import SORTED_MEMBERS, _sites_by_file, _sites_of, score_variant_columns

    header = "#pgs_id={}\n#genome_build=GRCh38\n"
    cols = "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
    harmonised = ("#pgs_id={}\n#genome_build=GRCh37\n#HmPOS_build=GRCh38\n"
                  "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\thm_chr\thm_pos\n")
    files = [
        parse_scoring_file(header.format("PGS1") + cols + "chr1\t100\ta\tG\t0.5\n1\t200\tC\t\t1\n"
                           "23\t300\tC\tT\t2\nchrM\t400\tA\tC\t1\n", source="a.txt"),
        parse_scoring_file(header.format("PGS2") + cols + "X\t300\tC\tT\t-1\n1\t100\tA\tG\t3\n1\t100\tG\tT\t7\n",
                           source="b.txt"),
        _no_rows(parse_scoring_file(header.format("PGS3") + cols + "1\t100\tA\tG\t1\n", source="e.txt")),
        parse_scoring_file(header.format("PGS4") + cols + "1\t200\tC\t\t5\nMT\t400\tA\tC\t6\n1\t100\tA\tG\t8\n",
                           source="c.txt"),
        parse_scoring_file(harmonised.format("PGS7") + "1\t100\tA\tG\t0.5\t1\t100\n1\t200\tA\tC\t0.25\t\t\n",
                           source="g.txt"),  # one row without a position on GRCh38
    ]

    def general(fs):
        return _sites_of(score_variant_columns(fs, "GRCh38")[0])

    new, old = _sites_by_file(files, "GRCh38"), general(files)
    assert new is not None and len(new) == 6 and new["pos"].isna().sum() == 1
    pd.testing.assert_frame_equal(new, old)  # the member columns compared by value below
    for col in ("member_score_index", "member_weight", "member_line"):
        assert [(a.dtype, a.tolist()) for a in new[col]] == [(a.dtype, a.tolist()) for a in old[col]], col
        flat = new.attrs[SORTED_MEMBERS].flat[col]
        assert np.array_equal(flat[0], old.attrs[SORTED_MEMBERS].flat[col][0])
        assert all(p is q for p, q in zip(flat[1], new[col]))  # frame_matches takes the flat arrays
    assert new["member_score_index"].iat[0].tolist() == [0, 1, 3, 4]  # 1:100 A/G in file order
    twice = parse_scoring_file(harmonised.format("PGS5") + "1\t200\tA\tC\t1\t\t\n2\t300\tA\tC\t2\t\t\n",
                               source="d.txt")  # two unplaced A/C rows: one site twice in one file
    assert len(twice.variants) == 2 and _sites_by_file([*files, twice], "GRCh38") is None
    rsid_only = parse_scoring_file(header.format("PGS6") + "rsID\teffect_allele\tother_allele\teffect_weight\n"
                                   "rs1\tG\tA\t1\n", source="f.txt", match_rsid=True)
    assert _sites_by_file([files[0], rsid_only], "GRCh38") is None
    lifted = dataclasses.replace(files[1], positions_build="GRCh37")
    assert _sites_by_file([files[0], lifted], "GRCh38") is None
    assert _sites_by_file([dataclasses.replace(files[0], text_codes=None)], "GRCh38") is None


def test_site_ids_numbered_file_by_file_equal_one_factorisation_of_all_keys():
    """``_site_ids_by_file`` (``_sites_by_file``'s numbering, issue 16, session 22: each file's keys
    looked up in an index of the distinct keys seen so far) numbers every key as ``pd.factorize`` of
    all files' keys concatenated (first appearance): files sharing keys in other orders, adding new
    keys, a key twice in one file, an empty file, keys handed over in one reused buffer; and files
    of disjoint keys, past its rebuild budget, where it numbers all keys at once."""
    import numpy as np

    from trd_spark.pgs.matching import _site_ids_by_file

    rng = np.random.default_rng(7)
    shared = rng.permutation(1000).astype(np.int64) * 7
    files = [shared.copy(), rng.permutation(shared), np.r_[shared[:500], [5, 5, 3]].astype(np.int64),
             np.empty(0, np.int64), np.r_[shared[::-1], [11, 3]].astype(np.int64)]
    disjoint = [np.arange(i * 100, (i + 1) * 100, dtype=np.int64)[::-1] for i in range(20)]
    for case in (files, disjoint):
        buffer = np.empty(max(map(len, case)), dtype=np.int64)
        calls = []

        def keys_of(i: int, case=case, buffer=buffer, calls=calls) -> np.ndarray:
            calls.append(i)
            part = buffer[:len(case[i])]
            part[:] = case[i]
            return part

        ids, distinct = _site_ids_by_file(keys_of, [len(k) for k in case])
        want, uniques = pd.factorize(np.concatenate(case))
        assert [len(a) for a in ids] == [len(k) for k in case] and all(a.dtype == np.int32 for a in ids)
        assert np.concatenate(ids).tolist() == want.tolist() and distinct.tolist() == uniques.tolist()
        assert (len(calls) > len(case)) == (case is disjoint)  # disjoint: numbered again all at once


def test_bincount_in_chunks_equals_one_bincount():
    """``_bincount_in_chunks`` (the summary's per-score count without a 12.2M-row intp copy) equals
    ``np.bincount`` whatever the chunk, with scores absent or only in the last chunk."""
    import numpy as np

    from trd_spark.pgs.matching import _bincount_in_chunks

    values = np.random.default_rng(3).integers(0, 5, 1001).astype(np.int32)
    values[-1] = 6
    for chunk in (1, 7, 1000, 1 << 20):
        assert _bincount_in_chunks(values, 8, chunk).tolist() == np.bincount(values, minlength=8).tolist()
    assert _bincount_in_chunks(values[:0], 3).tolist() == [0, 0, 0]


def test_summary_counts_each_score_by_the_match_type_of_its_sites():
    """``summarise_frame_matches`` counts members by site runs (the commonest type as the rest;
    issue 16, session 21): per score and type the count of a direct groupby over the members,
    on random sites of every type (some without members) and random member scores."""
    import numpy as np

    from trd_spark.pgs.matching import MATCH_TYPES, FrameMatches, summarise_frame_matches

    rng = np.random.default_rng(5)
    n_sites, k = 300, 4
    types = rng.choice(MATCH_TYPES, n_sites, p=[0.5, *([0.5 / (len(MATCH_TYPES) - 1)] * (len(MATCH_TYPES) - 1))])
    lengths = rng.integers(0, 4, n_sites)
    members = pd.DataFrame({"site": np.repeat(np.arange(n_sites), lengths),
                            "score_index": rng.integers(0, k, lengths.sum()).astype(np.int32)})
    members["effect_weight"], members["line"] = 1.0, 1
    ids = [f"PGS{i}" for i in range(k + 1)]  # the last score has no members
    m = FrameMatches(pd.DataFrame({"match_type": types}), pd.DataFrame(), members, ids)
    got = summarise_frame_matches(m, "d", {p: ScoreLabel("t", "d") for p in ids}).set_index("pgs_id")
    want = (members.assign(t=types[members["site"]]).groupby(["score_index", "t"]).size()
            .unstack(fill_value=0).reindex(index=range(k + 1), columns=list(MATCH_TYPES), fill_value=0))
    assert got["n_variants"].tolist() == want.sum(axis=1).tolist()
    assert got["n_matched_ref_alt"].tolist() == want["ref_alt"].tolist()
    assert got["n_matched_flipped"].tolist() == (want["ref_alt_flipped"] + want["alt_ref_flipped"]).tolist()
    assert got["n_not_found"].tolist() == (want["not_found"] + want["liftover_failed"]
                                           + want["not_found_unnormalised"]).tolist()
    assert got["n_unreadable"].tolist() == want["multiallelic_unreadable"].tolist()
    assert got["n_ambiguous_dropped"].tolist() == want["ambiguous_dropped"].tolist()
    assert got["n_matched"].tolist() == want[["ref_alt", "alt_ref", "ref_alt_flipped", "alt_ref_flipped"]].sum(axis=1).tolist()


def test_the_match_steps_run_without_huge_page_advice():
    """The match steps' fresh arrays (12.2M score rows at 61 x 200k) were faulted in with numpy's
    huge-page advice: 4-7.6 sys CPU-s of the match phase on a THP defrag=madvise host, 0.6-0.8
    without (issue 16, session 23). Each step (and weight_matrices) is decorated with
    ``memory.small_pages()``, which runs it with numpy's switch off and restores it after, also
    after an error."""
    from numpy._core.multiarray import _set_madvise_hugepage

    from trd_spark.pgs import matching, memory

    def advice() -> bool:
        now = _set_madvise_hugepage(False)
        _set_madvise_hugepage(now)
        return now

    def managers(step) -> list:  # contextlib's decorator keeps its context manager in the closure
        return [c.cell_contents for c in step.__closure__ or () if hasattr(c.cell_contents, "gen")]

    for step in (matching.score_sites, matching.match_sites_frame, matching.frame_matches,
                 matching.summarise_frame_matches, matching.variant_matches_pandas, matching.weight_matrices):
        assert [cm.func for cm in managers(step)] == [memory.small_pages.__wrapped__], step.__name__

    def fails() -> None:
        raise ValueError

    before = _set_madvise_hugepage(True)
    try:
        assert memory.small_pages()(advice)() is False and advice() is True
        with pytest.raises(ValueError):
            memory.small_pages()(fails)()
        assert advice() is True
    finally:
        _set_madvise_hugepage(before)
