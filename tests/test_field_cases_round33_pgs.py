"""PGS field cases, round 33 (session 41, helper pgs33): a site given split in a BGEN written REF-last.

plink2 ``--export bgen-1.2`` writes a biallelic BGEN with the REF LAST unless told ``ref-first``
(PLINK 1.9's order). A site A>G,C,T split one record per alt is then ``G,A``, ``C,A``, ``T,A``;
read with the first allele as REF (Hail's import_bgen, ``bgen_reader``) its rows have three REFs.
Matching already scored a REF effect allele there by the allele every row shares
(``matching.swapped_site_refs``, the .bim A1/A2 rule), but the split-site check (the rows' alt
copies together at most 2, ``pgen_engine.split_site_sums``, ``genotypes.check_split_site_sums``)
grouped rows by their REF as written and missed the site: DS 1.0 + 0.6 + 0.9 scored A's dosage
-0.5 silently on both routes. Now the check groups such a site and counts a row holding the REF as
its alt as ``2 - its dosage`` alt copies.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from chance import without_paths
from test_field_cases_pgs import case_config, run_scores

from trd_spark.errors import InputDataError

CASES = Path(__file__).parent / "data" / "field_cases_round33_pgs"
ROUTES = {"native": "", "hail": "  native: {engine: hail}"}


def _scores(hl, spark, tmp: Path, case: Path, extra_pgs: str) -> pd.DataFrame:
    tmp.mkdir()
    cfg = case_config(tmp, str(case / "genotypes" / "data.bgen"), str(case / "scores" / "*"), fmt="bgen",
                      extra_pgs=extra_pgs)
    got = run_scores(hl, spark, cfg)
    return got.set_index(got["person_id"].astype(int))


@pytest.mark.parametrize("route", list(ROUTES))
def test_split_bgen_ref_last_summing_above_two_is_one_error(hl, spark, tmp_path, route):
    """split-bgen-ref-last-sum-above-two: 1003's records G,A / C,A / T,A of chr4:1000000 give
    1.0 + 0.6 + 0.9 alt copies (8-bit: 2.5 within .01). One InputDataError line naming the dataset,
    the file, the site with the REF as the allele the rows share, the sum and the rows' alt copies,
    no sample ID, on the native engine and on Hail's route. Before (f0075d6): DID NOT RAISE on
    either route (1003 scored 0.25 - 0.5)."""
    with pytest.raises(InputDataError, match=r"^datasets\.d\.genotypes .*data\.bgen.* of a site given split .* give "
                                             r"2\.\d+ alt copies in all at chr4:1000000 A>[CGT],[CGT],[CGT] "
                                             r"\((\d\.\d+,?){3}\), more than 2: the REF's dosage would be negative") as e:
        _scores(hl, spark, tmp_path / "c", CASES / "split-bgen-ref-last-sum-above-two", ROUTES[route])
    assert "\n" not in str(e.value) and "1003" not in without_paths(str(e.value), tmp_path)


@pytest.mark.parametrize("route", list(ROUTES))
def test_split_bgen_ref_last_scores_by_hand(hl, spark, tmp_path, route):
    """split-bgen-ref-last: round 31's hand-worked sums (a REF effect allele's dominant and
    recessive rows over the split rows, fractional dosages, missing calls) within the 8-bit
    rounding, and no sum error: read as written, the rows' A dosages (2 - 0.8, 2 - 0.7 for 1001)
    add up above 2, the site's alt copies (0.8 + 0.7) do not."""
    want = pd.read_csv(CASES / "split-bgen-ref-last" / "expected.tsv", sep="\t", comment="#").set_index("person_id")
    got = _scores(hl, spark, tmp_path / "c", CASES / "split-bgen-ref-last", ROUTES[route])
    assert got["score_sum"].to_dict() == pytest.approx(want["score_sum"].to_dict(), abs=5e-3)
    assert got["n_missing"].to_dict() == want["n_missing"].to_dict()
    assert got["n_matched"].to_dict() == want["n_matched"].to_dict()


def test_split_records_on_chry_check_males_only(hl, spark, tmp_path):
    """split-records-chry-non-male: non-male 1002's chrY records of A>G,C,T give 2.5 alt copies,
    which are not scored (males only on chrY, as plink2 --score): Hail's pass (``dosage_field: DS``)
    raises no error and scores 1002 her chrX term alone, 0.25 x 1.0 (hand-worked), as the native
    engine reads a non-male's chrY calls (0 copies). Before (f0075d6) Hail's split-site check
    summed every sample's chrY dosages: an InputDataError for 1002's."""
    case = CASES / "split-records-chry-non-male"
    tmp = tmp_path / "c"
    tmp.mkdir()
    got = run_scores(hl, spark, case_config(tmp, str(case / "genotypes" / "data.vcf"), str(case / "scores" / "*"),
                                            extra_genotypes=", dosage_field: DS"))
    got = got.set_index(got["person_id"].astype(int))
    assert got.loc[1002, "score_sum"] == pytest.approx(0.25, abs=1e-9)


# Session 41, helper fixesA: what round 33 left (a site of non-minimal records; one chrY rule for
# a multi-allelic record).
VCF_ROUTES = {"hail": ("vcf", ", dosage_field: DS"), "native": ("pgen", "")}


@pytest.mark.parametrize("route", list(VCF_ROUTES))
def test_split_nonminimal_records_summing_above_two_are_one_error(hl, spark, tmp_path, route):
    """split-records-nonminimal-sum-above-two: 1003's records ACT>ACGT, ACT>AGT, ACT>ATT of
    chr4:1000000 (each moved or trimmed by Hail's min_rep, so every row is ``normalised``) give
    1.0 + 0.6 + 0.9 = 2.5 alt copies. One InputDataError line naming the dataset, the file, the
    site as written, the sum and the rows' dosages, no sample ID: Hail's pass (DS) and the native
    engine on plink2's .pgen of the VCF. Before (4b711ce) Hail's check took a site whose rows are
    all ``normalised`` for one multi-allelic record and skipped it: DID NOT RAISE (1003 scored
    0.25 - 0.5); plink2 --score checks no sum (1003: 1.25, the case's README)."""
    from test_field_cases_pgs import plink2_fileset

    case = CASES / "split-records-nonminimal-sum-above-two"
    vcf = case / "genotypes" / "data.vcf"
    fmt, extra = VCF_ROUTES[route]
    path = vcf if fmt == "vcf" else plink2_fileset(vcf, tmp_path / "g", "pgen", "dosage=DS")
    (tmp_path / "c").mkdir()
    with pytest.raises(InputDataError, match=r"^datasets\.d\.genotypes .* of a site given split \(one (record|row) "
                                             r"per alt\) give 2\.\d+ alt copies in all at chr4:1000000 "
                                             r"ACT>A[CGT]+,A[CGT]+,A[CGT]+ \((\d\.\d+,?){3}\), more than 2") as e:
        run_scores(hl, spark, case_config(tmp_path / "c", str(path), str(case / "scores" / "*"), fmt=fmt,
                                          extra_genotypes=extra))
    assert "\n" not in str(e.value) and "1003" not in without_paths(str(e.value), tmp_path)


def test_a_multiallelic_chry_record_is_checked_for_males_only(hl, spark, tmp_path):
    """multiallelic-chry-non-male: non-male 1002's chrY record A>G,C,T gives 2.5 alt copies, not
    scored: no error, and the hand-worked sums (README: 1.5, 0.25, 0, 0). Male 1003's record at
    2.5 (DS 0.5,0.3,0.45 beside his haploid GT, doubled) is one error naming the site and the sum.
    Before (4b711ce) ``to_biallelic_dosage``'s record check summed every sample's alts: an
    InputDataError for 1002's, where the split-site check and the native engine count males only
    on chrY (the male's error passes there too: a guard that males are still checked)."""
    case = CASES / "multiallelic-chry-non-male"
    vcf = case / "genotypes" / "data.vcf"
    scores = str(case / "scores" / "*")
    (tmp_path / "c").mkdir()
    got = run_scores(hl, spark, case_config(tmp_path / "c", str(vcf), scores, extra_genotypes=", dosage_field: DS"))
    got = got.set_index(got["person_id"].astype(int))
    assert got["score_sum"].to_dict() == pytest.approx({1001: 1.5, 1002: 0.25, 1003: 0.0, 1004: 0.0}, abs=1e-9)
    male = tmp_path / "male.vcf"
    male.write_text(vcf.read_text().replace("\t2:0,1,0\t", "\t2:0.5,0.3,0.45\t"))
    assert male.read_text() != vcf.read_text()
    (tmp_path / "m").mkdir()
    with pytest.raises(InputDataError, match=r"^datasets\.d\.genotypes .*male\.vcf.* 2\.5000 alt copies in all at "
                                             r"chrY:3000000 A[>,][CGT],[CGT],[CGT] ") as e:
        run_scores(hl, spark, case_config(tmp_path / "m", str(male), scores, extra_genotypes=", dosage_field: DS"))
    assert "\n" not in str(e.value) and "1003" not in without_paths(str(e.value), tmp_path)
