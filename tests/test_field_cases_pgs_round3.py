"""PGS field cases, round 3 (session 14): real-shaped genotype and scoring inputs that were
scored wrong silently (tests/data/field_cases/pgs/<kind>-<variant>), each with a plink2-checked
or hand-worked expected.tsv.

Cheap by design: every case that needs a stage call is scored once, in the module fixture
``scored`` (the stage's own match -> score functions on the session's Spark/Hail, as
``test_field_cases_pgs.run_scores``), and the tests read its results; faults that live in
matching or parsing are tested on frames and text with no Hail at all.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_field_cases_pgs import CASES, assert_expected, case_config, run_scores

MONO = "missing-allele-code-monomorphic"
BMERGE = "multiallelic-effect-is-ref-bmerge-rows"

# One stage call per genotype format; a shape serves every case whose inputs it holds.
# shape -> (format, cases scored on it)
SHAPES = {
    "vcf": ("vcf", [MONO]),
    "bed": ("plink", [MONO, BMERGE]),  # the cases' .bim/.bed rows as one PLINK 1 fileset
    "pgen": ("pgen", [MONO]),
}


def plink1_of(cases: list[str], out: Path) -> str:
    """The cases' PLINK 1 filesets (same .fam) as one: .bim lines and .bed records joined."""
    parts = [CASES / c / "plink1" / "data" for c in cases]
    fam = {Path(f"{p}.fam").read_text() for p in parts}
    assert len(fam) == 1
    Path(f"{out}.fam").write_text(fam.pop())
    Path(f"{out}.bim").write_text("".join(Path(f"{p}.bim").read_text() for p in parts))
    Path(f"{out}.bed").write_bytes(b"".join(Path(f"{p}.bed").read_bytes()[(3 if i else 0):]
                                            for i, p in enumerate(parts)))
    return str(out)


@pytest.fixture(scope="module")
def scored(hl, spark, tmp_path_factory) -> dict[str, pd.DataFrame | Exception]:
    """Each shape's scores of all its cases' scoring files (``run_scores`` frame), or the
    exception the stage raised."""
    out: dict[str, pd.DataFrame | Exception] = {}
    for shape, (fmt, cases) in SHAPES.items():
        tmp = tmp_path_factory.mktemp(shape)
        if shape == "vcf":
            path = str(CASES / MONO / "genotypes" / "data.vcf")
        elif shape == "bed":
            path = plink1_of(cases, tmp / "g")
        else:
            path = str(CASES / MONO / "pgen" / "data")
        scores = '", "'.join(f"{CASES / c}/scores/*" for c in cases)  # a YAML list of globs
        try:
            out[shape] = run_scores(hl, spark, case_config(tmp, path, scores, fmt=fmt))
        except Exception as e:  # noqa: BLE001 - a test asserts which
            out[shape] = e
    return out


def scores_of(scored: dict[str, pd.DataFrame | Exception], shape: str, case: str) -> pd.DataFrame:
    """The rows of ``case``'s scores in ``shape``'s run (its exception raised)."""
    got = scored[shape]
    if isinstance(got, Exception):
        raise got
    ids = [p.name.split(".")[0] for p in (CASES / case / "scores").iterdir()]
    return got[got["pgs_id"].isin(ids)]


@pytest.mark.parametrize("shape", ["vcf", "bed", "pgen"])
def test_monomorphic_site_with_a_missing_allele_scores_as_plink2(scored, shape):
    """missing-allele-code-monomorphic: a site written with one allele and a missing code (VCF/
    .pvar ALT '.', PLINK 1 .bim A1 '0'): an effect allele that is the present one counts 2
    copies per called sample; an effect allele that is absent is not_found (plink2 --score
    skips it: 'mismatching allele code'). Before: both not_found."""
    assert_expected(scores_of(scored, shape, MONO), MONO)


def test_multiallelic_site_as_bim_rows_with_the_ref_in_either_column(scored):
    """multiallelic-effect-is-ref-bmerge-rows: G>A,T written as ``A G`` and ``G T`` .bim rows
    (plink 1.9's A1/A2 by frequency; --bmerge keeps both): G, the allele of every row, is the
    REF; as effect allele it scores 2 - A - T copies whichever row it is matched on (hand:
    1, 0, 0, 0); alt effect alleles score their own row (expected.tsv). Before: 2 - A of
    rs5a (1, 1, 2, 2) or rs5t's own G count (2, 1, 0, 0), as plink2 --score per row."""
    assert_expected(scores_of(scored, "bed", BMERGE), BMERGE)


# ---- variant and sample lists: probed shapes, no Hail (frames only) -------------------------

def test_pvar_with_dot_ids_an_info_column_and_no_qual_filter(tmp_path):
    """A .pvar written as ``#CHROM POS ID REF ALT INFO`` (no QUAL/FILTER, IDs '.', a '.' ALT)
    is read by its header names: positions, REF and ALT in place, the '.' ID kept as text
    (a scoring file's rsID '.' is no rsID, so nothing is placed on it) and the '.' ALT the
    missing allele code of the monomorphic-site rule (``matching.missing_allele``)."""
    from trd_spark.pgs.matching import missing_allele
    from trd_spark.pgs.pgen_engine import PlinkFiles, variant_index

    (tmp_path / "g.pvar").write_text("##fileformat=PVARv1.0\n#CHROM\tPOS\tID\tREF\tALT\tINFO\n"
                                     "1\t1000\t.\tG\tA\tAF=0.5\n1\t2000\t.\tC\t.\tPR\nX\t3000\t.\tT\tC,G\t.\n")
    variants = variant_index(PlinkFiles("pgen", str(tmp_path / "g")), "GRCh38")
    index = variants.frame
    assert index[["contig", "position", "ref", "alt", "allele_idx"]].values.tolist() == [
        ["chr1", 1000, "G", "A", 1], ["chr1", 2000, "C", ".", 1], ["chrX", 3000, "T", "C", 1],
        ["chrX", 3000, "T", "G", 2]]
    assert index["rsid"].tolist() == ["."] * 4 and variants.first_line == 3
    assert missing_allele(index["alt"]).tolist() == [False, True, False, False]


@pytest.mark.parametrize("psam, want", [
    ("#FID\tIID\tSID\tSEX\nf1\t1001\ts1\t1\nf1\t1002\ts1\t2\n", ["1001", "1002"]),
    ("#IID\tSID\tPAT\tMAT\tSEX\n1001\ta\t0\t0\tNA\n1001\tb\t0\t0\tNA\n1003\ta\t0\t0\tNA\n", "the first: sample #2"),
    ("#FID\tIID\tSEX\nfamA\t1001\t1\nfamB\t1001\t2\n", "the first: sample #2"),
    ("fam 1001 0 0 1 -9\nfam 1002 0 0 2 -9\nfam2 1001 0 0 1 -9\n", "the first: sample #3"),
    ("1001 1001 0 0 0 -9\n0 1002 1001 0 -9 2\n0\t1003\t0\t0\t2\t1.5\n", ["1001", "1002", "1003"]),
], ids=["fid-sid", "sid-replicates", "fid-same-iid", "fam-same-iid", "fam-sex-0-phenotypes"])
def test_psam_sample_ids_are_the_iid_and_replicates_are_one_error(tmp_path, psam, want):
    """.psam with #FID and/or SID, and a .fam: the sample is its IID (the person_id), whatever its FID,
    parents, sex (0 / -9 unknown) and phenotype (-9, 2, 1.5) columns or separators. Two rows with one IID
    (replicates told apart by SID, or two families' 1001) would be one person twice: one error
    naming sample numbers, never the IDs (plink2 keys samples by FID+IID+SID, so it reads
    them as distinct samples)."""
    from trd_spark.errors import InputDataError
    from trd_spark.pgs.genotypes import sample_persons
    from trd_spark.pgs.pgen_engine import PlinkFiles, psam_samples

    fmt = "pgen" if psam.startswith("#") else "plink"  # the last: a .fam
    (tmp_path / ("g.psam" if fmt == "pgen" else "g.fam")).write_text(psam)
    ids = psam_samples(PlinkFiles(fmt, str(tmp_path / "g")))
    if isinstance(want, list):
        assert sample_persons(ids, where="g.psam") == want
        return
    with pytest.raises(InputDataError, match=rf": sample ID\(s\) occur more than once \({want}\)") as e:
        sample_persons(ids, where="g.psam")
    assert "1001" not in str(e.value)



@pytest.mark.parametrize("psam, want", [
    ("#FID IID SEX\nf1 1001 1\nf1 1002 2\n", ["1001", "1002"]),
    ("#IID  SEX\n1001  1\n1002  2\n", ["1001", "1002"]),
    ("#FID\tSAMPLE\tSEX\nf1\t1001\t1\n", "header has no IID column"),
], ids=["spaces", "double-spaces", "no-iid"])
def test_psam_separated_by_spaces_or_without_iid(tmp_path, psam, want):
    """plink2 reads a .psam separated by spaces (header without a tab) as well as by tabs: so
    does the native engine (it raised a KeyError traceback); a header without IID is one error
    line naming the file."""
    from trd_spark.errors import InputDataError
    from trd_spark.pgs.pgen_engine import PlinkFiles, psam_samples

    (tmp_path / "g.psam").write_text(psam)
    if isinstance(want, list):
        assert psam_samples(PlinkFiles("pgen", str(tmp_path / "g"))) == want
        return
    with pytest.raises(InputDataError, match=want) as e:
        psam_samples(PlinkFiles("pgen", str(tmp_path / "g")))
    assert "g.psam" in str(e.value)

# ---- scoring-file spellings (parsing only) ---------------------------------------------------

@pytest.mark.parametrize("rg", ["GRCh38", "GRCh37"])
def test_scoring_file_sex_and_mt_codes_name_the_contig_the_genotype_readers_use(rg):
    """A chr_name as PLINK writes it (23 X, 24 Y, 25 / XY = X's pseudo-autosomal part, 26 MT)
    names the contig the .bim/.pvar/VCF readers recode the same code to
    (``genotypes.plink_contig_recoding``). Before: 25 and XY became chr25 / chrXY, so such
    rows were not_found against genotypes whose 25/XY rows are read as chrX."""
    from trd_spark.pgs.genotypes import plink_contig_recoding
    from trd_spark.pgs.matching import reference_contig
    from trd_spark.pgs.scoring_files import normalise_chrom

    codes = ["23", "X", "chrX", "25", "XY", "24", "Y", "26", "MT", "M", "chrM"]
    got = reference_contig(normalise_chrom(pd.Series(codes)), rg).tolist()
    recode = plink_contig_recoding(rg)
    assert got == [recode.get(c, c) for c in codes[:2]] + [recode["23"]] + [recode.get(c, c) for c in codes[3:8]] \
        + [recode["26"]] * 3
    assert set(got) == ({"chrX", "chrY", "chrM"} if rg == "GRCh38" else {"X", "Y", "MT"})


@pytest.mark.parametrize("build, want", [("GRCh38.p13", "GRCh38"), ("GRCh37.p13", "GRCh37"), ("hg38", "GRCh38"),
                                         ("NR", None), ("", None)])
def test_genome_build_spellings(build, want):
    """#genome_build with a patch suffix is its assembly (patches keep the primary assembly's
    coordinates; before: 'on build GRCh38.p13 but the dataset is GRCh38', a refused file);
    NR / empty are not reported (then the file needs hm_chr/hm_pos on the dataset's build)."""
    from trd_spark.pgs.scoring_files import normalise_build

    assert normalise_build(build) == want


def test_weights_in_exponent_notation_with_a_capital_e():
    """Author files written by R/Excel give weights as 1.5E-3 / 2.5E+00: numbers, summed as
    such (already right; a parse regression test)."""
    from trd_spark.pgs.scoring_files import parse_scoring_file

    text = ("#pgs_id=PGS1\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"
            "1\t100\tA\tG\t1.5E-3\n1\t200\tC\tT\t2.5E+00\n1\t300\tG\tA\t-3e-2\n")
    assert parse_scoring_file(text, source="s.txt").variants["effect_weight"].tolist() == [0.0015, 2.5, -0.03]
