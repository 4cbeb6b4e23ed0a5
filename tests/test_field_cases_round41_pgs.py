"""PGS field cases, round 41 (session 47, helper pgs41): scoring-file shapes and matching.

quoted-fields: a '"' opening a field whose closing '"' stands lines later: a scoring file's
``locus_name`` '"HLA region' (line 8) closed by 'near GENE4"' (line 10), a .pvar/.bim variant ID
'"rs1' closed by 'rs3"', a .psam FID '"famA' closed by 'famB"' (quoted-fid.psam). plink2 reads a quote as a character,
one row per line. pandas' default quoting (the scoring file's line-by-line parser, which any quote
sends it to; the .pvar, .bim and .psam readers) read the lines between as one field of the first:
the score lost its rows at 3000 and 4000 without a word (every later line named two lines early),
and the .pvar's rows were fewer than the .pgen's variants, so each later variant was read from the
genotypes of one before it (its ``variant_idx``). A field wholly in quotes (R's ``write.table``) is
still read as its content, as pgscatalog-core's csv reader reads it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_field_cases_pgs import case_config, run_scores

from trd_spark.errors import InputDataError
from trd_spark.pgs import pgen_engine
from trd_spark.pgs.bgen_reader import sample_file_table
from trd_spark.pgs.native_task import PlinkFiles
from trd_spark.pgs.scoring_files import parse_scoring_file

CASE = Path(__file__).parent / "data" / "field_cases_round41_pgs" / "quoted-fields"
GENOTYPES = CASE / "genotypes"


def test_a_quote_opening_a_field_keeps_every_scoring_file_row_at_its_line():
    """Six rows at lines 6-11 (the quote opens on line 8, closes on line 10); before, four rows
    (3000 and 4000 inside line 8's locus_name, 5000 named line 9)."""
    path = CASE / "scores" / "PGS000041.txt"
    sf = parse_scoring_file(path.read_text(), source=str(path))
    v = sf.variants
    assert v["pos"].tolist() == [1000, 2000, 3000, 4000, 5000, 6000]
    assert v["line"].tolist() == [6, 7, 8, 9, 10, 11]
    assert v["effect_weight"].tolist() == [0.1, 0.2, 0.4, 0.8, 1.6, -0.5]


def test_fields_wholly_in_quotes_are_read_and_a_later_error_names_its_own_line():
    """R's write.table quotes text fields: read as their content, as before. A locus_name quote
    opening on line 4 and closing on line 6 leaves line 7's bad allele named at line 7 (before:
    line 5, the rows between swallowed)."""
    head = "#pgs_id=PGS000041\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight"
    sf = parse_scoring_file(head + '\n"1"\t1000\t"G"\t"A"\t0.1\n"1"\t"2000"\t"C"\t""\t"0.2"\n', source="r.txt")
    v = sf.variants
    assert v["effect_allele"].tolist() == ["G", "C"] and v["other_allele"].iloc[0] == "A"
    assert pd.isna(v["other_allele"].iloc[1]) and v["effect_weight"].tolist() == [0.1, 0.2]
    rows = ['1\t1000\tG\tA\t0.1\t"MHC', "1\t2000\tC\tT\t0.2\tx", '1\t3000\tA\tG\t0.4\ty"', "1\t4000\tN\tG\t0.4\tz"]
    with pytest.raises(InputDataError, match=r"^s\.txt:7: column effect_allele"):
        parse_scoring_file(head + "\tlocus_name\n" + "\n".join(rows) + "\n", source="s.txt")


def test_a_quote_opening_a_psam_fid_keeps_each_sample():
    """A .psam FID '"famA' closed by 'famB"' two lines on: the four IIDs (before, one error saying
    the file has more samples than genotype columns: it read two)."""
    assert pgen_engine.psam_samples(PlinkFiles("pgen", str(CASE / "quoted-fid"))) == ["1001", "1002", "1003", "1004"]


def test_a_quote_opening_a_fam_fid_keeps_each_sample(tmp_path):
    """The same FIDs in a headerless .fam (FID IID PAT MAT SEX PHENO), read by its own branch of
    ``psam_samples``: the four IIDs (without QUOTE_NONE there, two: reader s47 finding 3)."""
    (tmp_path / "qf.fam").write_text('"famA 1001 0 0 0 -9\nfamA 1002 0 0 0 -9\nfamB" 1003 0 0 0 -9\n'
                                     "famB 1004 0 0 0 -9\n")
    assert pgen_engine.psam_samples(PlinkFiles("plink", str(tmp_path / "qf"))) == ["1001", "1002", "1003", "1004"]


@pytest.mark.parametrize("fileset", ["q", "qb"])
def test_a_quote_opening_a_variant_id_keeps_each_line_its_own_variant(fileset):
    """The .pvar / .bim read one variant per line: variant_idx 0-5 at 1000-6000 with their own
    alleles (before, the .pvar gave two rows, 1000 with line 3's G>A and 4000 as variant 1)."""
    files = PlinkFiles("pgen" if fileset == "q" else "plink", str(GENOTYPES / fileset))
    frame = pgen_engine.variant_index(files, "GRCh38").frame
    assert frame["position"].tolist() == [1000, 2000, 3000, 4000, 5000, 6000]
    assert frame["variant_idx"].tolist() == list(range(6))
    assert (frame["ref"] + ">" + frame["alt"]).tolist() == ["A>G", "C>T", "G>A", "T>C", "A>C", "G>T"]
    assert frame["rsid"].tolist() == ['"rs1', "rs2", 'rs3"', "rs4", "rs5", "rs6"]


def test_quoted_fields_score_as_plink2(hl, spark, tmp_path):
    """The .pgen with the quoted IDs and the scoring file with the quoted locus_name: plink2
    --score's sums (expected.tsv), all six variants matched."""
    want = pd.read_csv(CASE / "expected.tsv", sep="\t", comment="#").set_index(["pgs_id", "person_id"])
    got = run_scores(hl, spark, case_config(tmp_path, str(GENOTYPES / "q"), str(CASE / "scores" / "*"), fmt="pgen"))
    got = got.set_index(["pgs_id", got["person_id"].astype(int)])
    assert sorted(got.index) == sorted(want.index)
    assert got["score_sum"].to_dict() == pytest.approx(want["score_sum"].to_dict(), abs=1e-9)
    assert got["allele_count"].to_dict() == want["allele_count"].to_dict()
    assert (got["n_matched"] == 6).all() and (got["n_missing"] == 0).all()


def test_a_quote_opening_a_bgen_sample_id_keeps_each_sample():
    """An Oxford .sample whose ID_1 '"famA' is closed by 'famB"' two lines on: the four ID_2 (before,
    one error saying the file has fewer samples than the BGEN header: it read two)."""
    text = ('ID_1 ID_2 missing sex\n0 0 0 D\n"famA 1001 0 1\nfamA 1002 0 2\nfamB" 1003 0 1\nfamB 1004 0 2\n')
    table = sample_file_table("x.sample", 4, text=text)
    assert table["ID_2"].tolist() == ["1001", "1002", "1003", "1004"]
    assert table["ID_1"].tolist() == ['"famA', "famA", 'famB"', "famB"]
