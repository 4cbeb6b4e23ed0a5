"""PGS field cases, round 45 (session 50, helper pgs45): compressed inputs, sample IDs, partial dosages.

truncated-bgzf-scoring-file (kind compressed inputs): a scoring file bgzipped (``bgzip``, e.g. to
index it with tabix) is a chain of complete gzip members, each of at most 64 KiB of text cut
anywhere in a line, and an empty end-of-file member (SAM/BAM spec 4.1.2). A copy cut at a member's
end decompresses without error to its first rows, the last of them cut inside its weight: the
case's cut.txt.gz (full.txt.gz less its last member and EOF block) gave row chr1:8000 weight 0.124
for 0.1241 and lost the rows after it, unseen in a file without ``#variants_number`` (author files;
the Catalog's files have it, and the cut-short check of ``parse_scoring_file`` then caught a row
cut inside its last field, never one cut at its end). A VCF without its EOF block was already an
error (``genotypes.check_vcf_files``); now a scoring file too (``scoring_files._check_bgzf_end``).
Kept reading (as before): a BGZF file of two bgzipped parts concatenated (``cat a.gz b.gz``: an EOF
block inside, valid BGZF) and a plain-gzip file of two members (``gzip.decompress`` reads all).

short-pvar (kind compressed inputs, a .pvar.zst cut short): a .pgen whose .pvar (or .pvar.zst: a
zstd stream cut at a frame's end decompresses without error) lacks its last rows was read against
the .pgen's first rows, the rows past its end never matched: chr1:4000 counted not found, no word
of the cause, where plink2 refuses the fileset (its .pvar and .pgen variant counts differ); now one
error naming the .pgen and the counts (``pgen_engine.check_pgen_counts``, as ``check_bed_size`` for
a .bed). whole/ is the fileset plink2 2.00a3.5 made from the case's 4 calls (``--score``:
1.021 / 2.11 / 0.201 / 1.102, the native engine's too, /tmp probe of session 50).

The BGZF case files were written by a 12-line BGZF writer (zlib raw deflate, the ``BC`` extra field),
with 70-byte members so the case stays a few hundred bytes.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pgs_hail_oracle import match_sites
from test_field_cases_pgs import case_config

from trd_spark.errors import InputDataError
from trd_spark.pgs import stage
from trd_spark.pgs.matching import match_sites_frame, score_sites, score_variants_table
from trd_spark.pgs.scoring_files import parse_scoring_file, read_scoring_file

ROUND = Path(__file__).parent / "data" / "field_cases_round45_pgs"
BGZF_CASE = ROUND / "truncated-bgzf-scoring-file"
# full.txt.gz's rows: chr1:1000 ... chr1:10000, weights 0.1234 ... 0.1243.
FULL = {1000 * (i + 1): 0.1234 + i / 10_000 for i in range(10)}


def _weights(name: str) -> dict[int, float]:
    sf = read_scoring_file(str(BGZF_CASE / name))
    return dict(zip(sf.variants["pos"].astype(int), sf.variants["effect_weight"].astype(float)))


def test_a_bgzf_scoring_file_cut_at_a_member_end_is_one_error_naming_it():
    """cut.txt.gz (the last member and the EOF block gone): one InputDataError naming the file.
    On 4e3792e it was read: 8 rows, chr1:8000's weight 0.124 (the file's 0.1241), no error
    ('DID NOT RAISE')."""
    with pytest.raises(InputDataError, match=r"cut\.txt\.gz: truncated BGZF file \(no BGZF end-of-file block"):
        read_scoring_file(str(BGZF_CASE / "cut.txt.gz"))


@pytest.mark.parametrize("name", ["full.txt.gz", "concatenated.txt.gz", "concatenated-plain-gzip.txt.gz"])
def test_complete_bgzf_and_multi_member_gzip_scoring_files_read_whole(name):
    """The whole file, BGZF with its EOF block (also one inside: two bgzipped parts
    concatenated) or plain gzip of two members: every row and weight as written."""
    got = _weights(name)
    assert got.keys() == FULL.keys()
    assert list(got.values()) == pytest.approx(list(FULL.values()), abs=1e-12)


# ---- the oracle's repeat rule (tests/pgs_hail_oracle.py mirrors docs/pgs.md's matching rules) -------

# Rows at one locus each (position -> rows): one allele with a missing code beside an SNV row
# holding it repeats it (session 50 pgs44, 0146d89: ``matching._distinct_rows``), as round 44's
# REPEATS (Hail's one-allele row is ``[G, "."]`` once read: ``genotypes.with_missing_alt``); and
# rows that repeat none.
ORACLE_ROWS = {
    1000: ([("G", "0"), ("G", ".")], 1),             # one allele, the plink 1.9 and plink2 missing codes
    2000: ([("G", "."), ("G", "A")], 1),             # Hail's one-allele row beside its SNV
    3000: ([("A", "."), ("G", "A")], 1),             # the present allele is the SNV's ALT
    4000: ([("0", "G"), ("G", "A"), ("G", "C")], 1),  # a multi-allelic site given split, REF missing
    5000: ([("G", "."), ("G", "GT")], 0),            # an insertion at the locus: another variant
    6000: ([("G", ".")], 0),                         # the monomorphic row alone
    7000: ([("G", "A"), ("G", "C")], 0),             # two alts of one site
    8000: ([("G", "A"), ("A", "G")], 1),             # one SNV written both ways (as before)
}


def test_the_hail_oracle_counts_a_missing_code_row_beside_its_snv_as_the_frame_matcher_does(hl, spark):
    """``pgs_hail_oracle.match_sites``' ``duplicate_genotype_rows`` per site equals
    ``match_sites_frame``'s and ORACLE_ROWS' count. On 564640e the oracle counted 0 at 1000 to
    4000 (distinct [ref, alt] pairs: 'assert [0, 0, 0, 0, 0, 0, 0, 1] == [1, 1, 1, 1, 0, 0, 0, 1]')."""
    text = ("#pgs_id=PGS990452\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\tother_allele\t"
            "effect_weight\n" + "".join(f"1\t{pos}\tG\tA\t1.0\n" for pos in ORACLE_ROWS))
    files = [parse_scoring_file(text, source="s.txt")]
    rows = pd.DataFrame([(pos, ref, alt) for pos, (pairs, _) in ORACLE_ROWS.items() for ref, alt in pairs],
                        columns=["position", "ref", "alt"]).assign(contig="chr1")
    frame = match_sites_frame(score_sites(hl, spark, files, "GRCh38"), rows, keep_ambiguous=False)
    ht = hl.Table.from_pandas(rows.assign(position=rows["position"].astype("int32"))).add_index("_i").key_by("_i")
    mt = hl.utils.range_matrix_table(len(rows), 1)
    mt = mt.annotate_rows(_r=ht[hl.int64(mt.row_idx)])
    mt = mt.key_rows_by(locus=hl.locus(mt._r.contig, mt._r.position, "GRCh38"), alleles=[mt._r.ref, mt._r.alt])
    mt = mt.key_cols_by(s=hl.str(mt.col_idx)).select_rows().select_cols()
    oracle = match_sites(hl, mt, score_variants_table(hl, spark, files, "GRCh38"), keep_ambiguous=False)
    oracle = oracle.key_by().select("pos", "duplicate_genotype_rows").to_pandas().sort_values("pos")
    want = [n for _, n in ORACLE_ROWS.values()]
    assert frame.sort_values("pos")["duplicate_genotype_rows"].tolist() == want
    assert oracle["duplicate_genotype_rows"].tolist() == want


SHORT_PVAR = ROUND / "short-pvar"


@pytest.mark.parametrize("fileset, pvar", [("cut", "data.pvar"), ("cut-zst", "data.pvar.zst")])
def test_a_pvar_short_of_its_pgen_is_one_error_naming_both(hl, spark, tmp_path, fileset, pvar):
    """The stage's match of the .pgen fileset whose .pvar (plain, or .pvar.zst) lacks its last
    row: one InputDataError naming the .pgen, its variant count and the .pvar's rows; the whole
    fileset matches its 4 rows. On 08271e1 the cut filesets matched 3 of 4 ('DID NOT RAISE')."""
    def matched(folder: str):
        cfg = case_config(tmp_path / folder, str(SHORT_PVAR / folder / "data"), f"{SHORT_PVAR}/scores/*", fmt="pgen")
        return stage.match_dataset(hl, spark, cfg, "d", stage.load_scoring_files(spark, cfg, "GRCh38"))

    (tmp_path / fileset).mkdir()
    with pytest.raises(InputDataError, match=rf"{fileset}/data\.pgen: the \.pgen holds 4 variants, its \.pvar "
                                             rf"\S+{fileset}/{pvar.replace('.', '[.]')} 3 rows: a \.pvar cut short"):
        matched(fileset)
    (tmp_path / "whole").mkdir()
    assert int(matched("whole").summary["n_matched"].iloc[0]) == 4
