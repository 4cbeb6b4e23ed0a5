"""Session 55 "moved": ``tables.moved_groups`` allows for each release's re-standardisation.

The rule of session 54 (privacy11) read the persons who joined a group between two exports from
the group's n, mean and sd in each, taking whoever is in both to keep their score. Each release
standardises anew (``overall`` or ``pc_adjusted``), so those persons' scores move by a map
z2 = (1 + eps) z1 + delta, and the drift in the group's sum of squares grows with the group
(about 2 eps n1) while the sampling error the rule allowed grows with the newcomers (sqrt(2 k)):
session 54's xreview flagged 18-20 of 20 groups of 100,000 (+10,000) at a 0.2-0.5% rescale, so
after a first All of Us release most means and SDs of pgs_distribution would have been blanked.
The rule now fits the common rescale from the dataset's other groups (what the reader can fit:
``tables.common_scale`` over ``tables.scale_ratio``), lets a group's own mean drift, and adds the
fit's error to the allowance. Pure numpy / pandas (n, mean, sd rows), except the toy releases'
exports (the session's shared ``toy_releases`` run)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from export_attacker import drift_from_other_groups, newcomer_carriers_from_two_exports

from trd_spark.report import tables


def dist_of(groups: dict[str, np.ndarray]) -> pd.DataFrame:
    """pgs_distribution rows (dataset d, score P) of the groups' n, mean and sd."""
    return pd.DataFrame([{"dataset": "d", "ancestry": g, "pgs_id": "P", "n": len(v), "mean": float(v.mean()),
                          "sd": float(v.std(ddof=1))} for g, v in groups.items()])


def flagged(before: pd.DataFrame, after: pd.DataFrame) -> pd.Series:
    """``moved_groups`` on ``after`` with ``before`` as an earlier export's text table."""
    prior = tables.prior_moments({"r1": {"pgs_distribution": before.astype(str)}})
    return tables.moved_groups(after, prior, 20).set_axis(after["ancestry"])


def rescaled(seed: int, n1: int, k: int, eps: float, delta: float, groups: int = 4):
    """Two releases of ``groups`` groups of ``n1`` persons, ``k`` joining each: release 2 maps every
    person (those in both and the newcomers, drawn as the first release's) by z2 = (1 + eps) z + delta."""
    rng = np.random.default_rng(seed)
    g1 = {f"g{i}": rng.normal(size=n1) for i in range(groups)}
    g2 = {g: (1 + eps) * np.concatenate([v, rng.normal(size=k)]) + delta for g, v in g1.items()}
    return dist_of(g1), dist_of(g2)


def test_a_common_rescale_of_large_groups_is_not_flagged():
    """A 0.5% rescale, or a 0.03 SD shift, between two releases of four groups of 100,000 persons
    (+10,000 each), and a 1% rescale at 10,000 + 1,000: before this fix (046a78f) every group was
    flagged (20 of 20 here in each case: the rescale moved the sum of squares by about
    2 x 0.005 x 100,000 = 1,000 against an allowance of 2 x sqrt(20,000) = 283, the shift the
    between-means term by 100,000 x 110,000 / 10,000 x 0.03^2 = 990). Normal newcomers are now
    flagged at the rule's 2-error rate (about 5% of groups: 1-3 of 80 over 20 seeds in RESULTS)."""
    for n1, k, eps, delta in ((100_000, 10_000, 0.005, 0.0), (100_000, 10_000, 0.0, 0.03), (10_000, 1000, 0.01, 0.0)):
        hits = sum(int(flagged(*rescaled(seed, n1, k, eps, delta)).sum()) for seed in range(5))
        assert hits <= 2, (n1, eps, hits)


def test_a_shift_of_the_ancestry_mix_under_overall_standardisation_is_not_flagged():
    """Two ancestry groups of 100,000 (raw score means 0 and 1), 20,000 newcomers all of the first:
    each release z-scored over its persons (``overall``) moves the mean by about 0.05 SD and the scale
    by 2%, one map for every person in both. Before this fix both groups were flagged in most seeds
    (40 of 80 tests over 40 seeds in RESULTS; 10 of 20 here); now at the 2-error rate."""
    hits = 0
    for seed in range(10):
        rng = np.random.default_rng(seed)
        raw1 = {"A": rng.normal(0, 1, 100_000), "B": rng.normal(1.0, 1, 100_000)}
        raw2 = {"A": np.concatenate([raw1["A"], rng.normal(0, 1, 20_000)]), "B": raw1["B"]}

        def z(raw: dict) -> dict:
            every = np.concatenate(list(raw.values()))
            return {g: (v - every.mean()) / every.std(ddof=1) for g, v in raw.items()}

        hits += int(flagged(dist_of(z(raw1)), dist_of(z(raw2))).sum())
    assert hits <= 2, hits


def carrier_releases(seed: int, k: int, shift: float, carriers: int, eps: float = 0.005, delta: float = 0.03):
    """EUR 100,000 (+10,000), AFR 30,000 (+3,000) and EAS 500 (+``k``, the first ``carriers`` of them
    ``shift`` SD out), release 2 mapping everybody by z2 = (1 + eps) z + delta. Returns both releases'
    rows and the carriers' shift squared and the rest's variance in release 2's units (the reader's,
    from the weights)."""
    rng = np.random.default_rng(seed)
    g1 = {"EUR": rng.normal(size=100_000), "AFR": rng.normal(size=30_000), "EAS": rng.normal(size=500)}
    new = {"EUR": rng.normal(size=10_000), "AFR": rng.normal(size=3000), "EAS": rng.normal(size=k)}
    new["EAS"][:carriers] += shift
    g2 = {g: (1 + eps) * np.concatenate([v, new[g]]) + delta for g, v in g1.items()}
    return dist_of(g1), dist_of(g2), ((1 + eps) * shift) ** 2, (1 + eps) ** 2


def moments(dist: pd.DataFrame) -> dict[str, tuple[float, float, float]]:
    return {a: (float(n), float(m), float(s)) for a, n, m, s in zip(dist["ancestry"], dist["n"], dist["mean"], dist["sd"])}


def test_a_carrier_among_newcomers_is_caught_under_the_drift_and_read_by_a_reader_who_fits_it():
    """The attack of session 54 (25 newcomers to an EAS group of 500, 1 carrier at 5 SD) beside two
    large groups, every person rescaled by 0.5% and shifted 0.03 SD: a reader who fits the map from
    EUR and AFR (``export_attacker.drift_from_other_groups``) reads the carrier exactly in 13 of 20
    seeds (one who ignores the drift, in 8). The rule of 046a78f left 9 of those 13 reads shown
    (the drift moved EAS's excess by about 2 x 0.005 x 500 = 5 and the shift's between-means term
    by 500 x 525 / 25 x 0.03^2 = 9.5, against a carrier's 25; here an AttributeError: no
    ``tables.scale_ratio``); now 2 (the 2-error bar's residue, as session 54's 2 of 60 without
    drift). EUR and AFR: 4 of 40 flagged (5 before: there the rescale and the shift partly cancel).
    Since session 55 moved2 (the fit of the groups the export shows): 1 read left; where EAS is
    flagged the largest shown group is hidden as its complement and leaves the fit, so the third was
    read against the identity and its drift flagged (16 of 17 such seeds), until session 56 moved3
    read it against the hidden groups' fit (``tables.unfitted_scale``); where EAS is not, 1 of 6
    EUR / AFR tests."""
    exact = left = big = 0
    for seed in range(20):
        d1, d2, dd, rr = carrier_releases(seed, 25, 5.0, 1)
        m1, m2 = moments(d1), moments(d2)
        read = newcomer_carriers_from_two_exports(m1["EAS"], m2["EAS"], dd, rr,
                                                  drift=drift_from_other_groups(m1, m2, "EAS"))
        f = flagged(d1, d2)
        exact += read == 1
        left += read == 1 and not f["EAS"]
        big += 0 if f["EAS"] else int(f[["EUR", "AFR"]].sum())
    assert exact >= 8 and left <= 2, (exact, left)
    assert big <= 2, big


def test_prior_moments_keeps_each_exports_position_and_the_fit_is_per_export():
    """``prior_moments`` gives each export one position in every group's list (None where it does not
    show the group), so ``moved_groups`` fits each export's map from the groups that export shows:
    here export r1 shows EUR and AFR, r2 EAS only; EAS's newcomers against r2 have no other group
    (the map taken as the identity: its 2% rescale is read, flagged), and EUR, hidden as its
    complement, leaves AFR's fit against r1 (session 55 moved2; EUR, hidden anyway, is not tested):
    AFR is read against EUR's fit, which shows the map moved (session 56 moved3; before it, the
    identity, and AFR flagged). Before this fix the lists held the shown entries only, in label order."""
    rng = np.random.default_rng(5)
    g1 = {"EUR": rng.normal(size=20_000), "AFR": rng.normal(size=8000), "EAS": rng.normal(size=3000)}
    g2 = {g: 1.02 * np.concatenate([v, rng.normal(size=len(v) // 10)]) for g, v in g1.items()}
    d1, d2 = dist_of(g1), dist_of(g2)
    r1 = d1[d1["ancestry"] != "EAS"].astype(str)
    r2 = d1[d1["ancestry"] == "EAS"].astype(str)
    prior = tables.prior_moments({"r1": {"pgs_distribution": r1}, "r2": {"pgs_distribution": r2}})
    assert [e is None for e in prior[("d", "EAS", "P")]] == [True, False]
    assert len(prior[("d", "EUR", "P")]) == 1  # trailing None dropped
    # EAS flagged, EUR (the largest shown group) is hidden as its complement and leaves AFR's fit (session
    # 55 moved2); AFR against r1 then has no shown group and is read against EUR's (``unfitted_scale``:
    # the 2% rescale is 12 of its errors from the identity; session 56 moved3, before it AFR was flagged)
    assert list(tables.moved_groups(d2, prior, 20)) == [False, False, True]
    # the same rescale with no other group in any export: flagged as the identity map reads it
    alone = tables.prior_moments({"r1": {"pgs_distribution": d1[d1["ancestry"] == "EUR"].astype(str)}})
    assert list(tables.moved_groups(d2, alone, 20)) == [True, False, False]


def test_scale_ratio_is_the_group_of_the_same_persons_exactly():
    """A group of the same persons in both exports gives the map's a^2 exactly (relative variance
    2 / (n - 1)^2, a weight that makes it the fit), and ``common_scale`` with no group is the
    identity."""
    rng = np.random.default_rng(1)
    v = rng.normal(size=400)
    a, var, d = tables.scale_ratio(400, float(v.std(ddof=1)), 400, float((1.03 * v).std(ddof=1)))
    assert a == pytest.approx(1.03 ** 2) and var == pytest.approx(2 / 399 ** 2) and d == 399
    assert tables.common_scale([]) == (1.0, 0.0)
    assert tables.common_scale([(1.1, 0.01), (1.0, 0.0001)])[0] == pytest.approx((110 + 10_000) / 10_100)


def test_the_toy_releases_are_not_flagged_against_each_other(toy_releases):
    """toy-r1 (600 persons) and toy-r2 (3,000; toy-r1's persons its first 600) standardised apart
    (``pc_adjusted``): no group both exports show is flagged, either way (69 groups in both at
    session 54; 0 flagged by the rule of 046a78f and by this one)."""
    root = toy_releases.tmp / "results"
    r = {x: pd.read_csv(root / x / "export" / "pgs_distribution.tsv", sep="\t", dtype=str, keep_default_na=False)
         for x in ("toy-r1", "toy-r2")}
    for this, other in (("toy-r1", "toy-r2"), ("toy-r2", "toy-r1")):
        num = r[this].copy()
        for c in ("n", "mean", "sd"):
            num[c] = pd.to_numeric(num[c], errors="coerce")
        prior = tables.prior_moments({other: {"pgs_distribution": r[other]}})
        both = sum((ds, anc, p) in prior for ds, anc, p, m in zip(num["dataset"], num["ancestry"], num["pgs_id"],
                                                                   num["mean"]) if pd.notna(m))
        assert both >= 40, (this, both)
        assert not tables.moved_groups(num, prior, 20).any(), this
