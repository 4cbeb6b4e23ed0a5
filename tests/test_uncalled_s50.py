"""A multi-allelic site no sample is called at, under mean_impute (session 50, pgsdiff finding 1).

plink2 2.00a3.5 --score's mean imputation gives each allele of a k-allele variant with no
observation the frequency 1/k: 2/k copies of any allele (A>C,G,T: 0.5 for the REF A and for the
ALT C; A>C,G: 0.667 for the REF A). Every route here imputed alt dosage 1 per alt row (frequency
0.5), so an ALT effect allele scored 1 copy and a REF effect allele 2 - (k - 1): -1 copies at
A>C,G,T. Now a row's missing calls where no sample is called are 2/k alt copies
(``matching.no_call_dosages``, read by both engines); a biallelic row keeps 1.

Inputs (tests/data/uncalled_multiallelic/): 4 samples, an uncalled A>C,G,T record (m), a called
biallelic one (b) and an uncalled A>C,G record (m3), as a VCF and plink2's .pgen of it; three
one-variant scores: PGS990001 the REF A at m, PGS990002 the ALT C at m, PGS990003 the REF A at
m3. Oracle: plink2 2.00a3.5 --score --bad-freqs on the .pgen (mean imputation, its in-sample
frequencies; it refuses mean imputation below 50 samples without that flag), its .sscore files
kept beside the inputs (``plink2_<pgs_id>.sscore``, every sample's SCORE1_SUM one value).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

DATA = Path(__file__).parent / "data" / "uncalled_multiallelic"
# Routes: the .pgen on the native engine; the VCF exported for the native engine; the VCF on
# Hail's pass. (A .pgen has no Hail route.)
_ROUTES = {"pgen-native": ("pgen", "u", ""), "vcf-native": ("vcf", "u.vcf", ""),
           "vcf-hail": ("vcf", "u.vcf", "  native: {engine: hail}\n")}


def plink2_sums(folder: Path = DATA) -> dict[str, float]:
    """pgs_id -> plink2's SCORE1_SUM in ``folder``'s plink2_<pgs_id>.sscore files (the same for every
    sample: no sample is called)."""
    out = {}
    for path in sorted(folder.glob("plink2_*.sscore")):
        sums = pd.read_csv(path, sep="\t")["SCORE1_SUM"].unique()
        assert len(sums) == 1, path
        out[path.stem.removeprefix("plink2_")] = float(sums[0])
    return out


@pytest.mark.parametrize("route", list(_ROUTES))
def test_uncalled_multiallelic_site_scored_as_plink2(hl, spark, tmp_path, route):
    """Each person's sum equals plink2's: 0.5 (REF A of A>C,G,T), 0.5 (ALT C of it), 0.666667 (REF
    A of A>C,G), each one missing variant. On e63136a every route gave -1.0, 1.0, 0.0."""
    from test_field_cases_pgs import case_config, run_scores

    fmt, rel, extra = _ROUTES[route]
    cfg = case_config(tmp_path, str(DATA / rel), f"{DATA}/PGS99000*.txt", fmt=fmt, extra_pgs=extra)
    got = run_scores(hl, spark, cfg)
    want = plink2_sums()
    assert sorted(want) == ["PGS990001", "PGS990002", "PGS990003"]
    assert want["PGS990001"] == pytest.approx(0.5) and want["PGS990003"] == pytest.approx(2 / 3, abs=1e-6)
    assert len(got) == 4 * len(want)  # 4 persons x 3 scores
    for row in got.itertuples():
        assert row.score_sum == pytest.approx(want[row.pgs_id], abs=1e-5), (route, row.pgs_id)
        assert (row.n_matched, row.n_missing) == (1, 1), (route, row.pgs_id)


def test_no_call_dosages_group_a_site_given_split():
    """``matching.no_call_dosages``: adjacent rows of one contig, written position and REF are one
    site (a multi-allelic record's alts, or a .bed's split rows): 2/k each; other rows 1; None
    when every site is biallelic. On e63136a there was no such function (every row 1)."""
    from trd_spark.pgs.matching import no_call_dosages

    rows = pd.DataFrame({"contig": ["chr1"] * 6 + ["chr2"],
                         "position": [1000, 1000, 1000, 2000, 3000, 3000, 3000],
                         "ref": ["A", "A", "A", "A", "A", "A", "A"],
                         "alt": ["C", "G", "T", "C", "C", "G", "C"]})
    got = no_call_dosages(rows)
    assert got is not None
    assert got.tolist() == pytest.approx([0.5, 0.5, 0.5, 1.0, 2 / 3, 2 / 3, 1.0])
    # One position, two REFs (an SNV and a deletion): two biallelic sites.
    assert no_call_dosages(pd.DataFrame({"contig": ["chr1"] * 2, "position": [5, 5], "ref": ["A", "AT"],
                                         "alt": ["G", "A"]})) is None
