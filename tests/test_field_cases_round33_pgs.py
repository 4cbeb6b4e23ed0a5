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
    assert "\n" not in str(e.value) and "1003" not in str(e.value)


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
