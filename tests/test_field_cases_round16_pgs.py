"""Field cases, round 16 (session 26, helper "hunt_pgs"): new variants of the PGS kinds that were
still answered wrong, silently.

- weight-type-odds-ratio, header variant: the ``#key=value`` header was read with the keys as
  written, so a hand-edited file's ``#Weight_Type=OR`` (or ``#WEIGHT_TYPE``, ``#weight_type:
  OR``) was not read: its odds ratios were summed as betas (ln(OR) is what the score means).
  Keys are now read case-insensitively, as the column names already were (a note says so), and
  a header line naming a key the parser reads without ``=`` is one error at its line.
- multiallelic-effect-is-ref / duplicate-genotype-rows, a site given split with non-minimal lines
  (``CG>CGG`` beside ``CG>C``, bcftools norm -m- without -f) on Hail's pass (a dosage_field; a bed
  read by Hail; hard calls on a cluster without pgs.native.export_dir): ``hl.split_multi``
  min_reps ``CG>CGG`` to ``C>CG`` and keys it before ``CG>C`` without sorting, so the weights'
  join on (locus, alleles) missed the row: its variant counted missing for every sample.
- multiallelic-nonminimal-indel / -effect-is-ref, a row whose minimal form moves onto the score
  locus (``ACT>ACGT`` at 100 for a score's ``C/CG`` at 101): Hail's route for a BGEN collected
  the rows at the score loci as written only (not found; the native route found it), and for a
  site given split the REF effect allele's other alts (``ACT>A``, at no score locus) were not
  collected at all, so their carriers counted as REF.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import pytest
from test_field_cases_pgs import case_config, plink2_fileset, run_scores

from trd_spark.errors import InputDataError
from trd_spark.pgs.scoring_files import parse_scoring_file, read_scoring_file_header

ROWS = "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n1\t100\tA\tG\t2.0\n1\t200\tC\tT\t0.5\n"


# ---- weight-type-odds-ratio: header keys in another spelling ------------------------------------

@pytest.mark.parametrize("key", ["Weight_Type", "WEIGHT_TYPE", "weight_Type", "Weight Type", "weight-type"])
def test_a_weight_type_header_key_in_another_case_is_read(key):
    """By hand: ln(2.0) = 0.693147, ln(0.5) = -0.693147 (PGS Catalog convention for OR). Before:
    2.0 and 0.5 summed as betas, no note. 'Weight Type' / 'weight-type' (format 1.0's worded
    keys, '# PGS ID = ...', as a hand edit writes them) were still summed as betas on 12a1719."""
    sf = parse_scoring_file(f"#pgs_id=PGS1\n#Genome_Build=GRCh38\n#{key}=OR\n" + ROWS, source="s.txt")
    assert sf.header.weight_type == "OR" and sf.header.genome_build == "GRCh38"
    assert sf.variants["effect_weight"].tolist() == pytest.approx([math.log(2.0), math.log(0.5)])
    assert any(f"header keys read case-insensitively: Genome_Build as genome_build, {key} as weight_type" in n
               for n in sf.notes), sf.notes
    assert any("converted to ln(OR)" in n for n in sf.notes)
    # Beside it with the same meaning, the key as the format spells it wins (either order), as for
    # column names, and the other spelling is not noted as read. With another meaning it is an
    # error (session 32 fixes: '#weight_type=beta' beside it was read as beta, silently).
    for head in (f"#weight_type=OR\n#{key}= or\n", f"#{key}= or\n#weight_type=OR\n"):
        sf = parse_scoring_file("#pgs_id=PGS1\n#genome_build=GRCh38\n" + head + ROWS, source="s.txt")
        assert sf.header.weight_type == "OR"
        assert sf.variants["effect_weight"].tolist() == pytest.approx([math.log(2.0), math.log(0.5)])
        assert not any("header keys" in n for n in sf.notes)
    for head in (f"#weight_type=beta\n#{key}=OR\n", f"#{key}=OR\n#weight_type=beta\n"):
        with pytest.raises(InputDataError, match=r"header gives weight_type twice with different values"):
            parse_scoring_file("#pgs_id=PGS1\n#genome_build=GRCh38\n" + head + ROWS, source="s.txt")


def test_format_1_header_keys_in_another_case_are_read(tmp_path):
    """'# pgs id = ...' / '# ORIGINAL GENOME BUILD = ...' are format 1.0's keys (read under their
    2.0 names, no note: the format's own keys); the preflight's header-only read agrees."""
    text = "# pgs id = PGS000001\n# ORIGINAL GENOME BUILD = GRCh38\n" + ROWS.replace("other_allele", "reference_allele")
    sf = parse_scoring_file(text, source="s.txt")
    assert (sf.pgs_id, sf.header.genome_build) == ("PGS000001", "GRCh38")
    (tmp_path / "s.txt").write_text(text)
    assert read_scoring_file_header(str(tmp_path / "s.txt"))["pgs_id"] == ("PGS000001", 1)


@pytest.mark.parametrize("line", ["#weight_type: OR", "#weight_type OR", "#Weight_Type\tOR", "#Weight Type: OR"])
def test_a_header_key_without_an_equals_sign_is_one_error_at_its_line(line):
    """Unread, the file was scored as betas. Comment lines (the Catalog's '##POLYGENIC SCORE (PGS)
    INFORMATION' titles, free text) stay comments."""
    head = "###PGS CATALOG SCORING FILE - see https://www.pgscatalog.org/downloads/\n##POLYGENIC SCORE (PGS) INFORMATION\n"
    with pytest.raises(InputDataError, match=r"header line names weight_type without '='") as e:
        parse_scoring_file(head + f"#pgs_id=PGS1\n#genome_build=GRCh38\n{line}\n" + ROWS, source="s.txt")
    assert e.value.where == "s.txt:5"
    sf = parse_scoring_file(head + "#pgs_id=PGS1\n#genome_build=GRCh38\n# weights from the authors' table 2\n" + ROWS,
                            source="s.txt")
    assert sf.variants["effect_weight"].tolist() == [2.0, 0.5]


# ---- multiallelic-effect-is-ref / duplicate-genotype-rows: a site given split, on Hail's pass ---

# chr1:1000 CG>CGG,C written split, as bcftools norm -m- writes it (one line per alt, the record's
# REF kept): 'CG>CGG' (min_rep 'C>CG') and 'CG>C'. Unsplit GTs 0/1 0/2 1/2 1/1 0/0 2/2, so CGG
# copies 1 0 1 2 0 0 and C copies 0 1 1 0 0 2; chr1:2000 A>G, G copies 1 2 0 1 0 2.
SPLIT_VCF = """##fileformat=VCFv4.2
##contig=<ID=chr1,length=248956422>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=DS,Number=A,Type=Float,Description="Alternate allele dosage">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\t1002\t1003\t1004\t1005\t1006
chr1\t1000\tv1\tCG\tCGG\t.\tPASS\t.\tGT:DS\t0/1:1\t0/0:0\t1/0:1\t1/1:2\t0/0:0\t0/0:0
chr1\t1000\tv1\tCG\tC\t.\tPASS\t.\tGT:DS\t0/0:0\t0/1:1\t0/1:1\t0/0:0\t0/0:0\t1/1:2
chr1\t2000\tv2\tA\tG\t.\tPASS\t.\tGT:DS\t0/1:1\t1/1:2\t0/0:0\t0/1:1\t0/0:0\t1/1:2
"""
SPLIT_SCORES = {
    # CGG (ALT of the CG>CGG line) 1.0 + G 0.1: 1.1 0.2 1.0 2.1 0.0 0.2
    "PGS916101": ("1\t1000\tCGG\tCG\t1.0\n1\t2000\tG\tA\t0.1\n", [1.1, 0.2, 1.0, 2.1, 0.0, 0.2], 2),
    # C (the deletion's ALT) 0.5 + A (REF) 0.2 x (2 - G): 0.2 0.5 0.9 0.2 0.4 1.0
    "PGS916102": ("1\t1000\tC\tCG\t0.5\n1\t2000\tA\tG\t0.2\n", [0.2, 0.5, 0.9, 0.2, 0.4, 1.0], 2),
    # CG (REF) 1.0 x (2 - CGG - C copies): 1 1 0 0 2 0
    "PGS916103": ("1\t1000\tCG\tCGG\t1.0\n", [1.0, 1.0, 0.0, 0.0, 2.0, 0.0], 1),
}


def _split_site_case(tmp: Path) -> tuple[Path, Path]:
    (tmp / "split.vcf").write_text(SPLIT_VCF)
    scores = tmp / "scores"
    scores.mkdir()
    for pgs_id, (rows, _, _) in SPLIT_SCORES.items():
        (scores / f"{pgs_id}.txt").write_text(f"#pgs_id={pgs_id}\n#genome_build=GRCh38\n"
                                              "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
                                              + rows)
    return tmp / "split.vcf", scores


def _assert_split_site_scores(got) -> None:
    for pgs_id, (_, sums, n_matched) in SPLIT_SCORES.items():
        rows = got[got["pgs_id"] == pgs_id].sort_values("person_id")
        assert rows["person_id"].tolist() == [1001, 1002, 1003, 1004, 1005, 1006]
        assert rows["score_sum"].tolist() == pytest.approx(sums, abs=1e-9), pgs_id
        assert rows["n_matched"].tolist() == [n_matched] * 6 and rows["n_missing"].tolist() == [0] * 6, pgs_id


@pytest.mark.parametrize("shape", ["vcf-dosage-field", "bed-hail-pass"])
def test_a_site_given_split_with_non_minimal_lines_scores_as_by_hand_on_hails_pass(hl, spark, tmp_path, shape):
    """By hand (SPLIT_SCORES; the native engine on the export of the same VCF gave these before
    too): Hail's pass for a dosage_field, and for plink2's .bed of the same lines read by Hail's
    import_plink (pgs.native.engine: hail; a cluster without pgs.native.export_dir takes Hail's
    pass for hard calls too). Before, on Hail's pass:
    hl.split_multi keys the rows it leaves at their locus as sorted without sorting them, and
    min_rep puts 'C>CG' (from 'CG>CGG') before 'CG>C': the join of the weights on (locus, alleles)
    missed the row, so PGS916101 scored 0.1 x G alone (n_missing 1 for everyone) and PGS916103
    nothing (n_missing 1)."""
    vcf, scores = _split_site_case(tmp_path)
    if shape == "vcf-dosage-field":
        cfg = case_config(tmp_path, str(vcf), f"{scores}/*", extra_genotypes=", dosage_field: DS")
    else:
        cfg = case_config(tmp_path, plink2_fileset(vcf, tmp_path / "g", "plink"), f"{scores}/*", fmt="plink",
                          extra_pgs="  native: {engine: hail}")
    _assert_split_site_scores(run_scores(hl, spark, cfg))


# ---- multiallelic-nonminimal-indel / -effect-is-ref: a non-minimal row moving onto the locus ----

# chr1:100 ACT>A,ACGT given split ('ACT>A', 'ACT>ACGT': bcftools norm -m- lines): 'ACT>ACGT' is
# 'C>CG' at 101 in minimal form, the locus of the scores' C/CG. Deletion copies 1 0 0 1 0 0, CG
# copies 0 1 2 1 0 1 (so C, the REF there, 1 1 0 0 2 1: a deletion carrier has no C at 101);
# chr1:500 G>A, A copies 1 0 2 1 0 1.
MOVING_VCF = SPLIT_VCF.split("#CHROM")[0] + """#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\t1002\t1003\t1004\t1005\t1006
chr1\t100\tv1\tACT\tA\t.\tPASS\t.\tGT\t0/1\t0/0\t0/0\t1/0\t0/0\t0/0
chr1\t100\tv1\tACT\tACGT\t.\tPASS\t.\tGT\t0/0\t0/1\t1/1\t0/1\t0/0\t0/1
chr1\t500\tv2\tG\tA\t.\tPASS\t.\tGT\t0/1\t0/0\t1/1\t0/1\t0/0\t0/1
"""
MOVING_SCORES = {
    # CG 1.0 + A 0.1: 0.1 1.0 2.2 1.1 0.0 1.1
    "PGS916201": ("1\t101\tCG\tC\t1.0\n1\t500\tA\tG\t0.1\n", [0.1, 1.0, 2.2, 1.1, 0.0, 1.1]),
    # C (REF) 1.0 x (2 - CG - deletion copies) + A 0.1: 1.1 1.0 0.2 0.1 2.0 1.1
    "PGS916202": ("1\t101\tC\tCG\t1.0\n1\t500\tA\tG\t0.1\n", [1.1, 1.0, 0.2, 0.1, 2.0, 1.1]),
}


def _moving_case(tmp: Path, pgs_ids: list[str]) -> tuple[Path, Path]:
    (tmp / "split.vcf").write_text(MOVING_VCF)
    scores = tmp / "scores"
    scores.mkdir()
    for pgs_id in pgs_ids:
        (scores / f"{pgs_id}.txt").write_text(f"#pgs_id={pgs_id}\n#genome_build=GRCh38\nchr_name\tchr_position\t"
                                              "effect_allele\tother_allele\teffect_weight\n" + MOVING_SCORES[pgs_id][0])
    return tmp / "split.vcf", scores


def _assert_moving_scores(got, pgs_ids: list[str]) -> None:
    for pgs_id in pgs_ids:
        rows = got[got["pgs_id"] == pgs_id].sort_values("person_id")
        assert rows["score_sum"].tolist() == pytest.approx(MOVING_SCORES[pgs_id][1], abs=1e-9), pgs_id
        assert rows["n_matched"].tolist() == [2] * 6 and rows["n_missing"].tolist() == [0] * 6, pgs_id


def test_a_bgen_row_whose_minimal_form_is_the_score_locus_is_matched_on_hails_route(hl, spark, tmp_path):
    """MOVING_VCF as a BGEN (plink2 --export bgen-1.2 ref-first, 8 bits) on Hail's route (a BGEN on
    a URI, or pgs.native.engine: hail): by hand (MOVING_SCORES). The native route (the BGEN's whole
    variant list) gave these; before, Hail's route collected the rows at the score loci as
    written only: 1 matched, 0.1 x A alone; then (the moved row collected) the REF effect C kept
    the deletion carriers' copies (1001: 2.1, 1004: 1.1), their 'ACT>A' row not collected."""
    vcf, scores = _moving_case(tmp_path, list(MOVING_SCORES))
    subprocess.run([shutil.which("plink2"), "--vcf", str(vcf), "--export", "bgen-1.2", "bits=8", "ref-first",
                    "--threads", "1", "--out", str(tmp_path / "g")], check=True, capture_output=True)
    cfg = case_config(tmp_path, str(tmp_path / "g.bgen"), f"{scores}/*", fmt="bgen", extra_pgs="  native: {engine: hail}")
    _assert_moving_scores(run_scores(hl, spark, cfg), list(MOVING_SCORES))


def test_a_ref_effect_allele_on_a_moved_row_of_a_site_given_split_loses_every_alt(hl, spark, tmp_path):
    """MOVING_VCF itself (Hail reads it; scored by the native engine on the export): by hand
    PGS916202 (MOVING_SCORES), as for the unsplit record 'ACT>A,ACGT', plink2's pgen of either
    and the native engine's .bed of the split lines. Before: 1001 2.1 and 1004 1.1 (the deletion
    carriers' copies counted as C: the 'ACT>A' line is at no score locus, so it was not collected
    and the REF dosage did not lose it)."""
    vcf, scores = _moving_case(tmp_path, ["PGS916202"])
    _assert_moving_scores(run_scores(hl, spark, case_config(tmp_path, str(vcf), f"{scores}/*")), ["PGS916202"])
