"""Session 55 "moved2": ``tables.moved_groups`` fits the re-standardisation from what the reader sees.

Found by session 55's xreview: the rule's fitted common rescale (``common_scale``) used every
pgs_distribution row, including groups whose mean and sd this export hides for another reason (a
size shown as a label, a few-valued score, ``outlying_groups``, and the largest group hidden as
their complement by ``moment_complements``). A hidden group's moments are not published, so no
reader fits with them; a large hidden group of the same persons in both exports but an odd scale
(its own re-standardisation) set the rule's fit alone (a group of the same n gives a^2 exactly)
and masked a carrier among another group's newcomers that a reader, fitting from the groups shown,
reads exactly. Pure numpy / pandas through ``suppress_release`` (privacy10's cheap ReleaseCounts)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from export_attacker import drift_from_other_groups, newcomer_carriers_from_two_exports
from test_privacy10_s53 import old_rules_flag, release, row

from trd_spark.report import tables
from trd_spark.report.tables import suppress_release


def exported(dist: pd.DataFrame) -> dict:
    """An export's pgs_distribution as ``released_exports`` reads it (text; a hidden moment blank)."""
    cols = ["dataset", "ancestry", "pgs_id", "n", "mean", "sd"]
    return {"pgs_distribution": dist[cols].astype(str).replace("nan", "")}


def shown_moments(export: pd.DataFrame) -> dict[str, tuple[float, float, float]]:
    """{group: (n, mean, sd)} of the groups whose n, mean and sd an export shows (the reader's)."""
    num = export.assign(n=pd.to_numeric(export["n"], errors="coerce"), mean=pd.to_numeric(export["mean"]),
                        sd=pd.to_numeric(export["sd"]))
    ok = num[["n", "mean", "sd"]].notna().all(axis=1)
    return {a: (float(n), float(m), float(s)) for a, n, m, s in
            zip(num["ancestry"][ok], num["n"][ok], num["mean"][ok], num["sd"][ok])}


def releases(seed: int = 17):
    """Release 1: EUR 20,000, AFR 2,000, EAS 500 (raw N(0, 1) scores). Release 2: the same EUR and AFR
    persons (k = 0: each gives its a^2 exactly), AFR's scores kept (the map is the identity), EUR's
    rescaled by its own factor (say its re-standardisation) chosen to equal EAS's a^2 estimate, EAS
    joined by 25 persons, 1 of them 5 SD out, and a new group MID of 12 (n shown as "<20", so
    ``moment_complements`` hides EUR's mean and sd too)."""
    rng = np.random.default_rng(seed)
    g1 = {"EUR": rng.normal(size=20_000), "AFR": rng.normal(size=2000), "EAS": rng.normal(size=500)}
    new = rng.normal(size=25)
    new[0] += 5.0
    eas2 = np.concatenate([g1["EAS"], new])
    a_eas = tables.scale_ratio(500, g1["EAS"].std(ddof=1), 525, eas2.std(ddof=1))[0]
    g2 = {"EUR": np.sqrt(a_eas) * g1["EUR"], "AFR": g1["AFR"], "EAS": eas2, "MID": rng.normal(size=12)}
    d1 = pd.DataFrame([row(a, "P", v) for a, v in g1.items()])
    d2 = pd.DataFrame([row(a, "P", v) for a, v in g2.items()])
    return d1, d2, a_eas


def test_a_hidden_groups_odd_scale_no_longer_masks_a_carrier_the_reader_reads():
    """EUR's mean and sd are hidden in release 2's export (the complement of MID's hidden size), so
    the reader fits the map from AFR alone (a = 1, exactly) and reads EAS's newcomers' carrier: 1,
    exactly. Before this fix (84bee5b) the rule's fit was EUR's a^2 (20,000 persons of the same
    n: its weight 100 times AFR's), equal to EAS's own by construction: EAS was not flagged and the
    export showed its mean and sd (here: ``moved_groups`` had no ``hidden`` argument, and
    ``suppress_release`` showed EAS's moments). Now EAS's mean and sd are blank."""
    d1, d2, a_eas = releases()
    assert a_eas > 1.03 and not old_rules_flag(d2) and not tables.outlying_groups(d2).any()
    export1 = suppress_release(release(d1), 20)["pgs_distribution"]
    assert export1[["mean", "sd"]].notna().all().all()
    prior = tables.prior_moments({"r1": exported(export1)})
    # the whole table in the fit (the rule of 84bee5b): EUR's scale masks EAS's carrier
    assert not tables.moved_groups(d2, prior, 20).any()
    # the fit of what the export shows: EUR (the complement of MID's hidden size) left out
    hidden = [a == "MID" for a in d2["ancestry"]]
    assert list(tables.moved_groups(d2, prior, 20, hidden)) == [False, False, True, False]
    rc = release(d2)
    rc.prior_moments = prior
    export2 = suppress_release(rc, 20)["pgs_distribution"].set_index("ancestry")
    assert export2.loc["EUR", ["mean", "sd"]].isna().all() and export2.loc["MID", "n"] == "<20"
    assert export2.loc["EAS", ["mean", "sd"]].isna().all() and export2.loc["EAS", "n"] == 525
    assert export2.loc["AFR", ["mean", "sd"]].notna().all()
    # the reader: the map from the groups both exports show, then EAS's newcomers (d^2 = 25, r^2 = 1)
    m1 = shown_moments(export1)
    shown_before_fix = {**shown_moments(export2.reset_index()), "EAS": (525.0, float(d2["mean"][2]), float(d2["sd"][2]))}
    drift = drift_from_other_groups(m1, shown_before_fix, "EAS")
    assert drift == (1.0, 0.0)
    assert newcomer_carriers_from_two_exports(m1["EAS"], shown_before_fix["EAS"], 25.0, 1.0, drift=drift) == 1
    assert newcomer_carriers_from_two_exports(m1["EAS"], shown_moments(export2.reset_index()).get(
        "EAS", (525.0, float("nan"), float("nan"))), 25.0, 1.0, drift=drift) is None


def test_a_group_hidden_by_another_rule_is_not_tested():
    """A group the export hides anyway is not tested (its moments are not published: nothing to
    read; a flag would only move the complement on to the next group) nor in the fit. Here EUR, AFR
    and EAS all grew (the map the identity) and EAS's scores were rescaled 5%: EAS is flagged when
    nothing else hides it, not when another rule does. Before this fix: a TypeError (no ``hidden``)."""
    rng = np.random.default_rng(3)
    g1 = {"EUR": rng.normal(size=20_000), "AFR": rng.normal(size=4000), "EAS": rng.normal(size=2000)}
    g2 = {g: np.concatenate([v, rng.normal(size=len(v) // 10)]) for g, v in g1.items()}
    g2["EAS"] = 1.05 * g2["EAS"]
    d1 = pd.DataFrame([row(a, "P", v) for a, v in g1.items()])
    d2 = pd.DataFrame([row(a, "P", v) for a, v in g2.items()])
    prior = tables.prior_moments({"r1": exported(d1)})
    assert list(tables.moved_groups(d2, prior, 20)) == [False, False, True]
    assert not tables.moved_groups(d2, prior, 20, [False, False, True]).any()
