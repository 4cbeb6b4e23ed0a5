"""Session 56 "privacy12": the claim reversals' counts with the drug-record quirks give a record count
no line shows. Pure Python (``stage_record_texts``), no Spark."""

from __future__ import annotations

import pytest

from trd_spark.phenotypes.stage import stage_count_texts, stage_record_texts

NEG_DS, NEG_Q = "quirks.drug_records.n_negative_days_supply", "quirks.drug_records.n_negative_quantity"
CANCELLED, UNMATCHED = "quirks.reversed_claims.n_reversed_claims", "quirks.reversed_claims.n_unmatched_reversals"


def exact(texts: dict[str, str], name: str) -> int | None:
    return int(texts[name].replace(",", "")) if texts[name].replace(",", "").isdigit() else None


@pytest.mark.parametrize("neg_ds, neg_q, cancelled, unmatched, small", [
    (300, 260, 280, 25, "quantity only"),   # reversals 305: 5 of a negative quantity only
    (200, 330, 310, 25, "days_supply only"),  # reversals 335: 5 of a negative days_supply only
    (200, 300, 400, 95, "both"),              # reversals 495: 5 negative in both
])
def test_the_reversals_and_the_negative_records_give_no_small_count(neg_ds, neg_q, cancelled, unmatched, small):
    """A claim reversal is a study drug record of a negative days_supply or quantity (``trials.is_reversal_expr``)
    and cancels one claim or is counted unmatched (``trials.reversed_claim_counts``), so the reversed_claims
    line's two counts add up to the reversals, and the drug_records line counts those of a negative
    days_supply and of a negative quantity among the same records. Every pair here is 20 or more apart, so
    before this fix (0ab164b) all four were shown exactly, and the reversals less the negative days_supply
    records gave 5 records of a negative quantity only (or the days_supply only; or the two quirks less
    the reversals, 5 negative in both): a count of 1..19 records, 1..5 persons. Now some count of each
    such relation reads a label."""
    quirks = {"drug_records": {"n_negative_days_supply": neg_ds, "n_negative_quantity": neg_q},
              "reversed_claims": {"n_reversed_claims": cancelled, "n_unmatched_reversals": unmatched}}
    texts = stage_record_texts({}, quirks, 20)
    got = {k: exact(texts, k) for k in (NEG_DS, NEG_Q, CANCELLED, UNMATCHED)}
    derived = {}
    if got[CANCELLED] is not None and got[UNMATCHED] is not None:
        reversals = got[CANCELLED] + got[UNMATCHED]
        if got[NEG_DS] is not None:
            derived["quantity only"] = reversals - got[NEG_DS]
        if got[NEG_Q] is not None:
            derived["days_supply only"] = reversals - got[NEG_Q]
        if got[NEG_DS] is not None and got[NEG_Q] is not None:
            derived["both"] = got[NEG_DS] + got[NEG_Q] - reversals
    assert not any(0 < v < 20 for v in derived.values()), (small, texts, derived)
    # the lines as logged show the same texts (the reversals themselves are no line's count)
    lines = stage_count_texts({}, quirks, 20)[1]
    assert "n_reversals" not in lines["reversed_claims"]
    assert f"n_reversed_claims {texts[CANCELLED]}" in lines["reversed_claims"]


def test_counts_far_apart_stay_exact():
    """Reversals whose rests are 20 or more keep every count exact (the relation labels only when needed)."""
    quirks = {"drug_records": {"n_negative_days_supply": 400, "n_negative_quantity": 250},
              "reversed_claims": {"n_reversed_claims": 300, "n_unmatched_reversals": 160}}
    texts = stage_record_texts({}, quirks, 20)
    assert [texts[k] for k in (NEG_DS, NEG_Q, CANCELLED, UNMATCHED)] == ["400", "250", "300", "160"]
