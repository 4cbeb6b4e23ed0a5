"""Privacy round 18: the PC standardisation's fallback may not bound a count under the threshold.

A dataset's count of persons with genetic PCs is published as "<T" when under T
(``report.small_count_threshold``). Whether its PC-adjusted standardisation fell back, and why,
is published too (report.html's ``standardisation_fallback_note``, the cohort log's WARNING).
On 7aecd57 the fit fell back with ``too_few_samples`` only at n <= PCs + 1 (1..5 with 4 PCs), so
the reason narrowed "<20" to 1..5, and a fit (no warning) or another reason to 6..19. Now every
dataset under T falls back with that one reason (``cohort.standardise.fit_floor``).

The attacker sees only what is published for each hidden n: the fallback reasons and the log.
Tiny inline arrays (numpy only, no Spark), no toy run.
"""

from __future__ import annotations

import logging
import re

import numpy as np

from trd_spark.cohort.standardise import _describe, fit_floor, fit_pc_arrays, floor_set_by_pcs
from trd_spark.report.stage import standardisation_fallback_note
from trd_spark.vocabulary import FitFailure

T = 20  # report.small_count_threshold's default
PCS = ["pc1", "pc2", "pc3", "pc4"]  # pgs.standardisation_n_pcs's default


def _dataset(n: int, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    pcs = rng.normal(size=(n, len(PCS))) * 0.05
    return pcs, {"PGS_A": 1.0 + 10 * pcs[:, 0] + rng.normal(size=n), "PGS_B": rng.standard_t(5, size=n)}


def _published(n: int, seed: int = 0, **kw) -> str:
    """What report.html and the log say of a dataset with ``n`` persons with PCs: the
    fallback reasons per score ("fitted" when none fell back)."""
    pcs, scores = _dataset(n, seed)
    fit = fit_pc_arrays(pcs, scores, PCS, min_samples=T, **kw)
    return ";".join(f"{s}:{r.value}" for s, r in sorted(fit.failed.items())) or "fitted"


def test_fallback_or_fit_says_nothing_finer_than_under_the_threshold():
    """The attacker groups the hidden counts by what is published: every count 1..T-1 must fall
    in one group (else a reason, or its absence, narrows "<T"), and no count of T or more in it
    (a fit means ">= T", published as a number anyway)."""
    seen: dict[str, set[int]] = {}
    for n in range(1, 41):
        for seed in range(3):
            seen.setdefault(_published(n, seed), set()).add(n)
    under = [obs for obs, ns in seen.items() if ns & set(range(1, T))]
    assert len(under) == 1, {obs: sorted(ns) for obs, ns in seen.items()}
    assert seen[under[0]] == set(range(1, T))
    assert under[0] == "PGS_A:too_few_samples;PGS_B:too_few_samples"
    assert seen.get("fitted") == set(range(T, 41))


def test_collinear_pcs_under_the_threshold_give_the_same_reason():
    """A reason the algebra would give at 6..19 (collinear PCs) would single such a dataset out
    as 6..19: under T the one reason is too_few_samples, whatever the PCs."""
    pcs, scores = _dataset(12, 1)
    pcs[:, 3] = 2 * pcs[:, 0]
    assert set(fit_pc_arrays(pcs, scores, PCS, min_samples=T).failed.values()) == {FitFailure.TOO_FEW_SAMPLES}
    pcs, scores = _dataset(T, 1)
    pcs[:, 3] = 2 * pcs[:, 0]
    assert set(fit_pc_arrays(pcs, scores, PCS, min_samples=T).failed.values()) == {FitFailure.COLLINEAR_PCS}


def test_log_and_report_note_read_alike_for_every_small_dataset(caplog):
    """Datasets of 3 and 19 persons with PCs get the same description for the manifest, the
    same WARNING (but for the dataset's name) and the same report note. ``_describe`` is what
    ``standardise_datasets`` calls per dataset for both (its Spark wiring of ``min_samples``:
    test_cohort_standardise's one-job test)."""
    described, notes = [], set()
    with caplog.at_level(logging.WARNING, logger="trd_spark.cohort.standardise"):
        for n in (3, 19):
            pcs, scores = _dataset(n, 7)
            info = _describe(fit_pc_arrays(pcs, scores, PCS, min_samples=T), sorted(scores), PCS, "d",
                             fit_floor(T, len(PCS)))
            described.append({k: v for k, v in info.items() if k != "n_fitted"})  # n_fitted: never published
            notes.add(standardisation_fallback_note({"d": info["fallback"]}, pcs_set_floor=False))
    assert described[0] == described[1] and described[0]["fallback"] == {"PGS_A": "too_few_samples",
                                                                         "PGS_B": "too_few_samples"}
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 2 and warned[0] == warned[1] and f"fewer than {T} persons with genetic PCs" in warned[0]
    assert len(notes) == 1
    # Both name only the fix that can help: under T no number of PCs is fitted (the report note:
    # test_report_stage). Where the PCs + 2 set the floor (T 4, 4 PCs: 6), fewer PCs can.
    assert "standardisation_n_pcs" not in warned[0] and "pgs.standardisation: overall" in warned[0]
    note = notes.pop()
    assert "standardisation_n_pcs" not in note and _fix(warned[0]) == _fix(note)
    caplog.clear()
    assert floor_set_by_pcs(4, len(PCS)) and not floor_set_by_pcs(T, len(PCS))
    with caplog.at_level(logging.WARNING, logger="trd_spark.cohort.standardise"):
        pcs, scores = _dataset(5, 7)
        info = _describe(fit_pc_arrays(pcs, scores, PCS, min_samples=4), sorted(scores), PCS, "d",
                         fit_floor(4, len(PCS)), pcs_set_floor=floor_set_by_pcs(4, len(PCS)))
    assert "fewer than 6 persons" in caplog.text and "lower pgs.standardisation_n_pcs" in caplog.text
    # The report's note for that dataset names the same fix (93c1e64's said "never fitted").
    note = standardisation_fallback_note({"d": info["fallback"]}, pcs_set_floor=floor_set_by_pcs(4, len(PCS)))
    assert _fix(caplog.records[0].getMessage()) == _fix(note) == "lower pgs.standardisation_n_pcs, or " \
        "pgs.standardisation: overall"


def _fix(text: str) -> str:
    """The fix a fallback WARNING ("... (fix: <fix>)") or report note ("... Fix: <fix>.</p>") names."""
    if "(fix: " in text:
        return text.rsplit("(fix: ", 1)[1].removesuffix(")")
    return re.search(r"Fix: (.*?)\.</p>", text, flags=re.S).group(1)
