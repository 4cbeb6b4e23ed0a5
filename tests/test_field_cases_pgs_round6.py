"""PGS field cases, round 6 (session 16): haploid contigs, a variant no sample is called at, and
PLINK variant lists without the centimorgan column (tests/data/field_cases/pgs/<kind>-<variant>,
expected values from plink2 --score and by hand).

Cheap by design: one module fixture ``scored`` runs the stage's own match -> score functions once
per genotype shape (``test_field_cases_pgs.run_scores``: the VCF through Hail's rows and the PLINK
export, the VCF with a dosage_field through Hail's pass, the .bed/.pgen by the native engine);
every other test is a pandas frame or a file read, with no Hail pass.
"""

from __future__ import annotations

import pandas as pd
import pytest
from test_field_cases_pgs import CASES, assert_expected, score_shapes

from trd_spark.errors import InputDataError

HAPLOID = "haploid-contigs-uncalled-variant"
NO_CM = "plink-variant-list-no-cm"
# shape -> (format, genotype path); every shape is scored with HAPLOID's four scoring files and
# must give HAPLOID's expected.tsv.
SHAPES = {
    "vcf": ("vcf", CASES / HAPLOID / "genotypes" / "data.vcf"),
    # dosage_field: Hail's own pass (scoring.compute_scores), not the PLINK export; DS is
    # "." in every entry, so every entry falls back to its GT.
    "vcf-dosage-field": ("vcf", CASES / HAPLOID / "genotypes-ds" / "data.vcf", ", dosage_field: DS"),
    "pgen": ("pgen", CASES / HAPLOID / "pgen" / "data"),
    "bed-5-field-bim": ("plink", CASES / NO_CM / "plink1" / "data"),
    "pgen-headerless-5-field-pvar": ("pgen", CASES / NO_CM / "pgen" / "data"),
}


@pytest.fixture(scope="module")
def scored(hl, spark, tmp_path_factory) -> dict[str, pd.DataFrame | Exception]:
    """Each shape's scores (``run_scores`` frame), or the exception the stage raised."""
    return score_shapes(hl, spark, tmp_path_factory, SHAPES, f"{CASES / HAPLOID}/scores/*")


def _got(scored, shape) -> pd.DataFrame:
    got = scored[shape]
    if isinstance(got, Exception):
        raise got
    return got


@pytest.mark.parametrize("shape", ["vcf", "vcf-dosage-field", "pgen"])
def test_haploid_contigs_and_an_uncalled_variant_score_as_plink2(scored, shape):
    """haploid-contigs-uncalled-variant (plink2 --score with --read-freq of its own --freq on the
    .pgen; expected.tsv says which values are hand-worked):
    - a chrY / chrM call counts one copy (plink2 reads both as haploid; a diploid-coded 1/1 on
      chrM too), a male's haploid chrX call two; a missing chrY/chrM call gets frequency x 1
      copy. Before: chrY/chrM calls counted 2 copies (PGS990603 1001: 3.5 instead of 2.25).
    - a variant no sample is called at adds 1 copy of either allele (plink2's frequency 0.5 for
      zero observations). Before: 0 for an ALT effect allele and 2 copies for a REF one
      (PGS990601 1001 0.5 instead of 2.5; PGS990602 1001 3.25 instead of 1.75).
    - a female's chrY call adds nothing, missing or not (plink2 skips chrY for non-males: 0),
      the sex from the .psam or the VCF's X calls' ploidy. Before (93c1e64): her missing chrY
      call was mean-imputed like any missing call (PGS990603 1005 1.1667 instead of 0.5)."""
    assert_expected(_got(scored, shape), HAPLOID, haploid=True)


@pytest.mark.parametrize("shape", ["bed-5-field-bim", "pgen-headerless-5-field-pvar"])
def test_a_variant_list_without_centimorgans_is_read_as_plink2_reads_it(scored, shape):
    """plink-variant-list-no-cm: a .bim with five fields (no CM column) and a headerless .pvar with
    five fields (.bim order without CM) are read as plink2 reads them: the same sums as the
    6-field .bim / headed .pvar (HAPLOID's expected.tsv). Before: 'cannot read the variant list:
    Usecols do not match columns' (the fileset was refused)."""
    assert_expected(_got(scored, shape), HAPLOID, haploid=True)


def test_a_five_field_bim_on_hails_route_scores_as_plink2(hl, spark, tmp_path):
    """The 5-field .bim of plink-variant-list-no-cm read by Hail (a .bed on a URI, or
    ``pgs.native.engine: hail``): Hail's import_plink refuses it ("Invalid .bim line.  Expected 6
    fields"), so the stage stopped there while plink2 and the native engine read it (review of
    session 16); ``genotypes.bim_with_cm`` gives Hail a 6-field copy: HAPLOID's sums."""
    from test_field_cases_pgs import case_config, run_scores

    cfg = case_config(tmp_path, str(CASES / NO_CM / "plink1" / "data"), f"{CASES / HAPLOID}/scores/*", fmt="plink",
                      extra_pgs="  native: {engine: hail}")
    assert_expected(run_scores(hl, spark, cfg), HAPLOID, haploid=True)


# ---- variant lists (no Hail) -------------------------------------------------------------------

@pytest.mark.parametrize("fmt, five, six", [
    ("plink", "1 rs1 1000 G A\n1 rs2 2000 T C\n", "1\trs1\t0\t1000\tG\tA\n1\trs2\t0.5\t2000\tT\tC\n"),
    ("pgen", "##contig=<ID=1>\n1\trs1\t1000\tG\tA\n1\trs2\t2000\tT\tC\n",
     "##contig=<ID=1>\n1\trs1\t0\t1000\tG\tA\n1\trs2\t0.5\t2000\tT\tC\n"),
], ids=["bim", "headerless-pvar"])
def test_five_and_six_field_variant_lists_give_one_index(tmp_path, fmt, five, six):
    """``variant_index`` of a 5-field list (no CM; space- or tab-separated) equals that of the
    6-field list, line numbers included; ``genotypes.locate_rows`` (the duplicate-row error's
    file:line) reads the position from the right field of either (it read the allele A1 as the
    position of a 5-field .bim, and the ID of a headerless .pvar)."""
    from trd_spark.config import GenotypeSource
    from trd_spark.pgs.genotypes import locate_rows
    from trd_spark.pgs.pgen_engine import PlinkFiles, variant_index

    ext = "bim" if fmt == "plink" else "pvar"
    index, lines = [], []
    for name, text in (("five", five), ("six", six)):
        (tmp_path / f"{name}.{ext}").write_text(text)
        i = variant_index(PlinkFiles(fmt, str(tmp_path / name)), "GRCh38")
        index.append((i.frame.values.tolist(), i.first_line))
        src = GenotypeSource(format=fmt, path=str(tmp_path / f"{name}.{'bed' if fmt == 'plink' else 'pgen'}"))
        lines.append({k: [v.rsplit(":", 1)[1] for v in vs] for k, vs in locate_rows(src, ["chr1:2000"]).items()})
    assert index[0] == index[1]
    assert index[0][0][1][:4] == ["chr1", 2000, "C", "T"]
    first = 2 if fmt == "pgen" else 1
    assert lines[0] == lines[1] == {"chr1:2000": [str(first + 1)]}


def test_a_variant_list_with_another_field_count_is_one_error_at_its_line(tmp_path):
    """Four fields (or seven) are neither .bim form: one InputDataError naming file:line."""
    from trd_spark.pgs.pgen_engine import PlinkFiles, variant_index

    (tmp_path / "g.bim").write_text("1 rs1 1000 G\n")
    with pytest.raises(InputDataError, match=r"g\.bim:1.*4 fields in the first variant line"):
        variant_index(PlinkFiles("plink", str(tmp_path / "g")), "GRCh38")


# ---- weights (no Hail pass) --------------------------------------------------------------------

def test_haploid_contig_weights_are_halved_on_the_diploid_dosage_scale(hl, spark, tmp_path):
    """``weight_matrices``: on chrY and chrM (GRCh38 names; Y / MT on GRCh37) slope and offset
    are w/2 (a haploid call reads as dosage 0 or 2), on chrX and autosomes w; a REF effect allele
    keeps offset = -2 x slope. plink2 counts one copy there (the stage test above)."""
    from trd_spark.pgs.genotypes import haploid_contigs
    from trd_spark.pgs.matching import (
        frame_matches,
        match_sites_frame,
        score_sites,
        weight_matrices,
    )
    from trd_spark.pgs.scoring_files import parse_scoring_file

    text = ("#pgs_id=PGS990605\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\tother_allele\t"
            "effect_weight\n1\t1000\tG\tA\t1.0\nX\t3000\tG\tA\t1.0\nY\t4000\tG\tA\t1.0\nMT\t150\tT\tC\t1.0\n")
    sites = score_sites(hl, spark, [parse_scoring_file(text, source=str(tmp_path / "s.txt"))], "GRCh38")
    rows = pd.DataFrame({"contig": ["chr1", "chrX", "chrY", "chrM"], "position": [1000, 3000, 4000, 150],
                         "ref": ["A", "A", "A", "T"], "alt": ["G", "G", "G", "C"]})
    fm = frame_matches(match_sites_frame(sites, rows, keep_ambiguous=False), rows)
    w = weight_matrices(fm, haploid_contigs(hl.get_reference("GRCh38")))
    got = dict(zip(w.rows["contig"], zip(w.slope[:, 0], w.offset[:, 0])))
    # chrM's effect allele T is the REF: slope -w/2, offset 2 x w/2 (T copies = 2 - C dosage).
    assert got == {"chr1": (1.0, 0.0), "chrX": (1.0, 0.0), "chrY": (0.5, 0.0), "chrM": (-0.5, 1.0)}
    # GRCh37's names (Y, MT) are its own reference's: chrY there is no haploid contig.
    w37 = weight_matrices(fm, haploid_contigs(hl.get_reference("GRCh37")))
    assert w37.slope[:, 0].tolist() == [1.0, 1.0, 1.0, -1.0]
