"""PGS field cases, round 31 (session 39, helper pgs31): the seven PGS kinds
(/work/shared/field_cases/README.md).

- partial-dosage-field (``dosage_field: DS``, Hail's pass) at a multi-allelic record: each alt's
  dosage was checked to lie in [0, 2], but not their sum: DS ``1.5,1.5`` at a three-allele site
  is 3 alt copies, and a REF effect allele's dosage 2 - 3 = -1 was summed as given (field case
  multiallelic-dosage-sum-above-two). Now one error naming the field, the site and the sum
  (a sum above 2 by the rounding of the written dosages, ``genotypes.DOSAGE_SUM_SLACK`` per alt,
  is summed as given since session 40, as the native engine sums a site's split rows). plink2 2.00a3.5 imports no multi-allelic DS ("multiallelic dosage import is
  under development"), so the answers are hand-worked.
- multiallelic-effect-is-ref under ``dosage_field`` (owed by round 30, which ran Hail's pass on
  hard calls only): fractional DS, a REF effect allele's dominant / recessive rows at two- and
  three-allele records, missing calls (field case multiallelic-dosage-ref-effect): the
  hand-worked sums (checked in the same test as the error above).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from chance import without_paths
from test_field_cases_pgs import case_config, run_scores

from trd_spark.errors import InputDataError

CASES31 = Path(__file__).parent / "data" / "field_cases_round31_pgs"
VALID = CASES31 / "multiallelic-dosage-ref-effect"
ABOVE_TWO = CASES31 / "multiallelic-dosage-sum-above-two"


def _run(hl, spark, tmp: Path, vcf: Path, scores: Path) -> pd.DataFrame:
    tmp.mkdir()
    cfg = case_config(tmp, str(vcf), str(scores / "*"), extra_genotypes=", dosage_field: DS")
    got = run_scores(hl, spark, cfg)
    return got.set_index(got["person_id"].astype(int))


def test_multiallelic_dosages_summing_above_two_are_one_error_and_valid_ones_score_by_hand(hl, spark, tmp_path):
    """multiallelic-dosage-ref-effect: its hand-worked expected.tsv (DS Number=A, fractional; a
    REF effect allele's dominant / recessive rows take D = 2 - the record's alt dosages, a missing
    call the REF's frequency); a record whose dosages sum to 2 + 0.0025 per alt (rounding) still
    scores, as given (1003's D -0.005; 01757ce rescaled the alts to sum 2, which the native engine
    cannot do for a site's split rows: one rule since session 40, round32_pgs).
    multiallelic-dosage-sum-above-two (DS 1.5,1.5): one
    InputDataError naming the file, the field, the site and the sum, no sample ID. Before
    (30297c6): the first two parts pass and the third fails (DID NOT RAISE: sample 1003's dominant
    term min(2 - 3, 1) = -1 was summed)."""
    want = pd.read_csv(VALID / "expected.tsv", sep="\t", comment="#").set_index("person_id")
    got = _run(hl, spark, tmp_path / "valid", VALID / "genotypes" / "data.vcf", VALID / "scores")
    assert got["score_sum"].to_dict() == pytest.approx(want["score_sum"].to_dict(), abs=1e-9)
    assert got["n_missing"].to_dict() == want["n_missing"].to_dict()
    assert set(got["n_matched"]) == {3}
    # 1003's chr4:1000000 DS 1.2,0.8 -> 1.005,1.0 (sum 2.005, within the slack 2 x 0.01): summed as
    # given (session 40: the native engine's split rows cannot be rescaled, round32_pgs), D = -0.005:
    # 1003's dominant term min(-0.005, 1); 1004's missing call's fill (2 - (1.5 + .3 + 2.005) / 3) / 2.
    rounded = tmp_path / "rounded.vcf"
    rounded.write_text((VALID / "genotypes" / "data.vcf").read_text().replace("1/2:1.2,0.8", "1/2:1.005,1.0"))
    got = _run(hl, spark, tmp_path / "rounded", rounded, VALID / "scores")
    as_given = want["score_sum"] - pd.Series({1001: 0.0, 1002: 0.0, 1003: 0.005, 1004: 0.005 / 6})
    assert got["score_sum"].to_dict() == pytest.approx(as_given.to_dict(), abs=1e-9)
    with pytest.raises(InputDataError, match=r"multiallelic-dosage-sum-above-two/genotypes/data\.vcf: reading the "
                                             r"genotypes failed: .*dosage field DS gives 3\.0000 alt copies in all at "
                                             r"chr4:1000000 A,G,C \(1\.500,1\.500\), more than 2") as e:
        _run(hl, spark, tmp_path / "above", ABOVE_TWO / "genotypes" / "data.vcf", ABOVE_TWO / "scores")
    assert "\n" not in str(e.value) and "1003" not in without_paths(str(e.value), tmp_path)
