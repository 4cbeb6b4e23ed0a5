"""Mutation review of session 54's code (session 55, helper "review54").

Each test kills mutants of 10a863e..046a78f (``trd_spark/``, ``scripts/``, ``conf/``, the DuckDB twin:
the ratio_out_of_range rule and its WARNING 30f3a72 / d37d484, the censored-onset WARNING and
compare-releases 59f0143, not_found_unnormalised bdfa654, the AoU time at risk cd46743, the new
user's toy sizes, delimiter hint, install progress and provenance columns b8e0fc1, privacy round 11
5edafeb, the native heap 5ce5f06, zstd df5bfc5, inverted harmonised blocks e2a3039, claim reversals
a38b1e0) that session 54's tests let pass (named in each docstring; each shown failing on its
mutant and passing on HEAD). Mutants were one-line changes applied in a scratch worktree of 046a78f
(/tmp/s55/review54/, removed) and run (``-x``, ``-n 0``, nice'd; load 20-35 on the 2 cores: 0.5-2
min a pure run, 7-8 min one with the chain) against the modules named.

Modules: COXP (test_cox_s54 without its stage test), COXS (its stage test), PRIV11
(test_privacy11_s54), FUZZP / FUZZS (test_pgs_fuzz_s54's pure tests / its matcher run), NEWU
(test_newuser_s54; NEWUR its two provenance tests), MT16 (test_mt16_s54), NAT16
(test_native16_s54), AOU (test_aou_time_at_risk_s54), SHAPES / TWIN (test_omop_shapes_s54 / its
twin test); "read": judged by reading the module's case and assertions (runs cut for time);
"new": a test below.
  id   change                                          result
  m1   ratio_in_range: v >= 0 (a ratio of 0 passes)    killed: COXP
  m2   ratio_in_range: any bound, not all              killed: COXP
  m3   ratio_and_ci: lower bound beta + 1.96 se        killed: COXP
  m4   ratio_and_ci: never None                        killed: COXP
  m5   fit_cox: ci_low not checked                     survived COXP (its fit's ratio itself inf); new
  m6   fit_cox: ci_high not checked                    survived COXP (as m5); new
  m7   warning: cases <= T hidden                      survived COXP; new
  m8   warning: cases < T - 1 hidden                   survived COXP; new
  m9   warning: the controls (n - cases) not read      survived COXP; new
  m10  warning returns the named fits' count           killed: COXP
  m11  warning names every fit                         killed: COXP
  m12  warning reads every failed fit                  killed: COXP
  m13  manifest: meta count always 0                   read: survives COXS (it expects 0); low (a manifest
                                                       count; the meta row's note and WARNING are tested)
  m14  check_published_estimates not called            read: survives COXS; equivalent while the fitters
                                                       withhold (a guard; m15 shows its unit test)
  m15  check_published_estimates never raises          killed: COXP
  m16  non_finite_cells: isnan for isinf               killed: COXP
  m17  non_finite_cells: numpy floats only (object)    killed: COXP
  m18  non_finite_cells: failed rows' NaN named        killed: COXP
  m19  meta: out-of-range note on k = 0 rows           survived COXP; new
  m20  meta: estimates not withheld                    killed: COXP
  m21  meta: p not withheld                            killed: COXP
  m22  CONVERGED_ESTIMATES without p                   killed: COXP
  m23  compare: an OR of 0 kept                        survived COXP (its row also had inf); new
  m24  compare: an inf p kept                          survived COXP; equivalent in effect (no export
                                                       writes an infinite p)
  m25  compare: p not emptied                          killed: COXP
  m26  compare: shown = no bound NaN                   survived COXP; low (a row with one of OR / CI
                                                       empty and another inf: no writer makes one)
  m27  report: the non-finite check skipped            survived NEWUR; new (on this case it stopped in a
                                                       figure: "Axis limits cannot be NaN or Inf")
  m28  provenance: a hash of 8 characters              killed: NEWUR
  m29  provenance: a clash not refused                 killed: NEWUR
  m30  censored onsets: always INFO                    killed: COXP
  m31  build_report: prior_moments not passed          survived PRIV11 (it sets them by hand); new
  s1   slice_keys without LABEL_KEYS                   killed: PRIV11
  s2   ConfigView: LABEL_KEYS not returned early       survived PRIV11; equivalent (they are readable
                                                       below; no stage excludes report.*)
  s3   config_slice over spec.config                   killed: PRIV11
  s4   explain lists spec.config                       survived PRIV11; new
  t1   moved: k < T - 1                                survived PRIV11; new
  t2   moved: k <= T                                   survived PRIV11; new
  t3   moved: sign always +1 (persons who left)        survived PRIV11; new
  t4   moved: k s1^2 for (k - 1) s1^2                  survived PRIV11; low (the excess moved by one
                                                       variance against a bar of 3 sqrt(2 (k - 1)))
  t5   moved: excess without abs                       survived PRIV11; new
  t6   moved: k = 0 read                               killed: PRIV11
  t7   prior_moments: a blank sd taken                 survived PRIV11; low (over-suppression: a mean
                                                       shown without its sd is no export's)
  t8   moved: bar x 2                                  killed: PRIV11
  t9   suppress: outlying & moved                      killed: PRIV11
  t10  moved: n for n - 1 in the sums of squares       survived PRIV11; equivalent in effect (s2^2 - s1^2
                                                       against the bar)
  t11  moved: continue for break                       survived; equivalent (the row stays flagged)
  g1   unnormalised: left-anchored rule negated        killed: FUZZP
  g2   unnormalised: right-anchored never              killed: FUZZP
  g3   unnormalised: deletions (other longer) only     killed: FUZZP
  g4   relabelled: unplaced rows too                   read: survives FUZZS (every row placed); new
  g5   n_not_found without not_found_unnormalised     killed: FUZZP
  g6   WARNING's first row by site, not line           read: survives FUZZS (its first by both); low
                                                       (which row the WARNING shows)
  g7   relabelled: every type but ref_alt              read: survives FUZZS (its matched indels are
                                                       ref_alt); new
  h1   inverted: the x-differs test dropped            survived FUZZP; equivalent (pairs are distinct
                                                       (c, x, s) keys: equal x and s are one key)
  h2   inverted: pairs across chromosomes              survived FUZZP; new
  h3   inverted: a pair's first row not flagged        survived FUZZP (its first row a flippable
                                                       SNV); new
  h4   inverted: a pair's second row not flagged       killed: FUZZP
  h5   inverted: flippable SNVs unplaced too           killed: FUZZP
  h6   flippable: A/T and C/G too                      killed: FUZZP
  h7   pos_missing not updated                         killed: FUZZP
  h8   inverted: hm_chr = chr_name not required        survived FUZZP; new
  h9   inverted rule when there is no other build      killed: FUZZP
  z1   zstd: a block one byte short passes             killed: MT16
  z2   bed_rows: the part not named                    killed: MT16
  z3   EntriesReader: the part not named               killed: MT16
  n1   keep_freed_heap not called by a task            killed: NAT16
  n2   kept: either mallopt                            killed: NAT16
  n3   trim threshold 128 KiB                          killed: NAT16
  n4   settings made every call                        killed: NAT16
  o1   delimiter hint for a header of 2+ fields        survived NEWU; low (a hint beside a missing-column
                                                       error; a ';' in a real column name only)
  o2   hint for Parquet, not CSV                       killed: NEWU
  o3   hint only for a header starting with it         killed: NEWU
  y1   MIN_MATCHED_SHARE 0.75                          killed: NEWU
  y2   max_ambiguous: floor                            killed: NEWU
  y3   n_ambig not drawn                               killed: NEWU
  y4   max_ambiguous: one fewer                        survived NEWU; low (a tiny score's one ambiguous
                                                       row fewer; 400 sites up unchanged)
  c1   conf/aou.yaml: cox_time_at_risk dropped         killed: AOU
  i1   install.sh: a failed pip exits 0                killed: NEWU
  i2   install.sh: the tick not re-armed               survived NEWU; low (a line a second after the
                                                       first tick, not every TRD_INSTALL_TICK s)
  i3   install.sh: pip's last line not shown           killed: NEWU
  r1   reversal: quantity not read                     read: killed by SHAPES (5403, 5404 TRD)
  r2   reversal: days_supply not matched               read: killed by SHAPES (5407 trMDD)
  r3   reversal: quantity >= |the reversal's|          survived SHAPES; new
  r4   reversal: within days_supply, <=                read: killed by SHAPES (5406 trMDD)
  r5   reversal: the same day through days_supply      survived SHAPES; new
  r6   reversal: every claim, not the latest           read: killed by SHAPES (5410 trMDD)
  r7   reversal: latest over every reversal            survived SHAPES; new
  r8   drop_reversed_claims not null-safe              read: killed by SHAPES (5401 TRD: quantity null)
  r9   claims matched over follow-up records only      survived SHAPES; new
  r10  _drug_events: quantity not read                 survived SHAPES; new
  r11  count over follow-up records (claims dropped)   read: killed by SHAPES (8 asserted)
  r12  n_negative_quantity: <= 0                       read: survives SHAPES (no quantity 0); low (a count)
  r13  quantity unread without a minimum dose          read: killed by SHAPES (5403, 5404: the toy config
                                                       has no minimum)
  r14  exposure counts: quantity not read              read: killed by SHAPES (the "+ 9" identity)
  r15  min-dose counts: quantity not read              read: survives SHAPES (no minimum); low (a count)
  r16  mail-order / administration counts: the same    read: survives SHAPES; low (counts)
  r17  claims: every row (reversals, no start)         equivalent (a reversal matches no reversal's
                                                       |days_supply| and |quantity|; no start, no match)
  w1   twin: days_supply not matched                   killed: TWIN
  w2   twin: within days_supply, <=                    killed: TWIN
  w3   twin: every claim, not the latest               killed: TWIN
  w4   twin: quantity >= |the reversal's|              survived TWIN; new
  w5   twin: latest over every reversal                survived TWIN; new
  w6   twin: DELETE not null-safe on quantity          killed: TWIN
  w7   twin trials: quantity not read                  killed: TWIN
  w8   twin augmentation: quantity not read            survived TWIN; new
  w9   twin: the same day through days_supply          survived TWIN; new
  w10  twin: a reversal by days_supply only            killed: TWIN

After the runs, main moved: 90cffef rewrote the claim-reversal matcher (one claim row per reversal;
``trials._reversal_matches``, the twin's ``_reversed_claims`` loop) and 3e8a7f9 ``moved_groups`` (a
scale fitted from the other groups). The tests below pass on a255ea7 (the two reversal tests adapted
to the new API, same hand answers), and the analogues of the mutants they kill were rerun there:
R3 / W4 (quantity >=), R5 / W9 (the same day through days_supply), R9 (matched over follow-up
only), R10, T1 (k < T - 1), T2 (k <= T), T5 (the scale's distance without abs), M31: each killed.

The tests below kill the meaningful survivors, each shown failing on its mutant in a scratch
worktree of 046a78f and passing on HEAD.
"""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd
import pytest

T = 20  # report.small_count_threshold


def _d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


# ---------------------------------------------------------------- models: ratio_out_of_range (30f3a72, d37d484)

def _out_of_range_fits(n_cases: list[int], n: int = 300) -> pd.DataFrame:
    """Logistic rows failed as ratio_out_of_range, one per n_cases, pgs_id P<n_cases>."""
    from trd_spark.vocabulary import ModelFailure

    k = len(n_cases)
    return pd.DataFrame({"dataset": ["discovery"] * k, "definition": ["ad3"] * k, "contrast": ["trd_vs_nonmdd"] * k,
                         "pgs_id": [f"P{c}" for c in n_cases], "n": [n] * k, "n_cases": n_cases,
                         "converged": [False] * k, "failure_reason": [ModelFailure.RATIO_OUT_OF_RANGE] * k})


def test_the_out_of_range_warning_names_groups_of_t_and_more_only(caplog):
    """``warn_ratio_out_of_range`` names a fit whose cases and controls are both 0 or at least T, and
    neither names nor counts one with 1..T-1 of either (test_cox_s54 has 7 cases against 293 controls
    only). Cases 19 and 20, controls 19 (281 cases of 300) and 20 (280). Mutants (test_cox_s54
    passes each): m7 cases <= T hidden (a fit of 20 cases not named), m8 cases < T - 1 (19 named),
    m9 the controls not read (a fit of 19 controls named)."""
    from trd_spark.models.stage import warn_ratio_out_of_range

    fits = _out_of_range_fits([19, 20, 281, 280])
    with caplog.at_level(logging.WARNING, logger="trd_spark.models.stage"):
        assert warn_ratio_out_of_range("logistic", fits, "n_cases", T) == 4
    [line] = [r.getMessage() for r in caplog.records]
    named = line.split("): ")[-1].split("; ")
    assert line.startswith("logistic: 2 fit(s)")
    assert named == ["discovery/ad3/trd_vs_nonmdd/P20", "discovery/ad3/trd_vs_nonmdd/P280"], line


def test_a_meta_row_without_fits_has_no_out_of_range_note(caplog):
    """A (definition, contrast, PGS) whose every fit failed is a meta row of k = 0 with no estimate,
    its note empty and no WARNING: ratio_out_of_range is for a pooled estimate beyond double precision
    only. Mutant m19 (``if ratio is None`` without ``res["k"]``: test_cox_s54 has no k = 0 row) wrote
    META_OUT_OF_RANGE_NOTE on it and logged a WARNING for every PGS without a usable fit."""
    from models_sim import grid_config
    from test_cox_s53 import _logistic

    from trd_spark.models.synthesis import META_OUT_OF_RANGE_NOTE, meta_table

    lg = _logistic([("discovery", "trd_vs_nonmdd", "P1", 0.2, 0.1, 0.04, True),
                    ("replication_wgs", "trd_vs_nonmdd", "P1", 0.1, 0.1, 0.3, True),
                    ("discovery", "trd_vs_nonmdd", "P2", np.nan, np.nan, np.nan, False),
                    ("replication_wgs", "trd_vs_nonmdd", "P2", np.nan, np.nan, np.nan, False)])
    with caplog.at_level(logging.WARNING, logger="trd_spark.models.synthesis"):
        meta = meta_table(lg, grid_config(meta_random_effects=True)).set_index(["method", "pgs_id"])
    assert (meta.loc[("fixed", "P2"), "k"], meta.loc[("random", "P2"), "k"]) == (0, 0)
    assert not meta["note"].str.contains(META_OUT_OF_RANGE_NOTE, regex=False).any(), meta["note"].tolist()
    assert np.isfinite(meta.loc[("fixed", "P1"), "ci_high"])
    assert META_OUT_OF_RANGE_NOTE not in caplog.text


def test_compare_releases_drops_an_old_exports_zero_ratio():
    """An old export's odds ratio 0 (exp(beta) underflowed: beta below ~-745) with its CI bounds 0 and
    a finite upper one is no estimate either (test_cox_s54's row also had ci_high inf, which hid this).
    Mutant m23 (``values >= 0``) republished OR 0 in estimates.tsv and read its CI as overlapping none."""
    from trd_spark.report.compare import exported_estimates

    row = {"dataset": "d", "definition": "ad3", "contrast": "trd_vs_nonmdd", "pgs_id": "PGS1", "trait": "sleep",
           "odds_ratio": "1.2", "ci_low": "1.0", "ci_high": "1.4", "p": "0.04"}
    a = pd.DataFrame([{**row, "odds_ratio": "0.0", "ci_low": "0.0", "ci_high": "0.5", "p": "0.3"}])
    out = exported_estimates({"results.tsv": a}, {"results.tsv": pd.DataFrame([row])}).set_index("pgs_id")
    assert out.loc[["PGS1"], ["effect_a", "ci_low_a", "ci_high_a", "p_a"]].isna().all().all()
    assert out.loc["PGS1", "effect_b"] == 1.2


def test_the_report_refuses_a_table_with_an_infinite_estimate():
    """``build_report`` raises ModelError naming the export file, the row and the column when a table
    it would publish holds inf (a models table written before session 54, read by a report of this
    version). Mutant m27 (the check skipped: test_newuser_s54 and test_cox_s54 build no report on such
    a table) wrote "inf" into export/results.tsv."""
    from test_cox_s53 import _logistic

    from trd_spark.config import load_config
    from trd_spark.errors import ModelError
    from trd_spark.report.stage import build_report
    from trd_spark.schemas import COHORT_FLOW, LOGISTIC_RESULTS, PGS_MATCH_SUMMARY

    lg = _logistic([("discovery", "trd_vs_nonmdd", "P1", 0.0, 400.0, 1.0, True)])
    lg["n"], lg["n_cases"], lg["odds_ratio"], lg["ci_low"], lg["ci_high"] = 400, 200, 1.0, 0.0, np.inf
    lg = lg.reindex(columns=LOGISTIC_RESULTS.names)
    t = {"logistic": lg, "cohort_flow": pd.DataFrame(columns=COHORT_FLOW.names),
         "match_summary": pd.DataFrame(columns=PGS_MATCH_SUMMARY.names)}
    with pytest.raises(ModelError, match=r"export/results.tsv.*discovery/ad3/trd_vs_nonmdd/P1: ci_high"):
        build_report(load_config(), t, {})


@pytest.mark.parametrize("sign, scale, bad", [(1, 8e-4, "exp(coef) upper 95%"), (-1, 1e-3, "exp(coef) lower 95%")])
def test_a_cox_fit_with_one_ci_bound_beyond_double_precision_is_a_failed_row(sign, scale, bad):
    """A PGS with a clear effect (log-HR +-0.6 per SD, 300 persons) scaled to a near-constant score
    (x 8e-4 / 1e-3): lifelines' hazard ratio is a finite positive double (exp(+-673..678)) and only
    one CI bound is inf or 0 (the oracle, lifelines' own summary, below). test_cox_s54's fit had
    the ratio itself inf, so mutants m5 (``fit_cox`` reads the ratio and ci_high only) and m6 (the
    ratio and ci_low only) passed it; each published a converged row with a CI bound of 0 or inf."""
    import warnings

    from lifelines import CoxPHFitter

    from trd_spark.models.cox import fit_cox
    from trd_spark.vocabulary import ModelFailure

    rng = np.random.default_rng(5)
    pgs = rng.normal(size=300)
    for s in (1, -1):  # both cases' draws, in this order
        t = rng.exponential(1000 * np.exp(-0.6 * s * pgs))
        age = rng.normal(50, 10, 300)
        if s == sign:
            break
    df = pd.DataFrame({"pgs": pgs * scale, "age": age, "time_to_trd_days": np.ceil(np.minimum(t, 2000)),
                       "trd_event": (t < 2000).astype(int)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        row = CoxPHFitter().fit(df, "time_to_trd_days", "trd_event").summary.loc["pgs"]
    assert 0 < row["exp(coef)"] < np.inf and abs(row["coef"]) < 709
    other = "exp(coef) lower 95%" if bad.endswith("upper 95%") else "exp(coef) upper 95%"
    assert not 0 < row[bad] < np.inf and 0 < row[other] < np.inf
    out = fit_cox(df, "pgs", ["age"])
    assert out["converged"] is False and out["failure_reason"] == ModelFailure.RATIO_OUT_OF_RANGE
    assert np.isnan([out[c] for c in ("beta", "se", "hazard_ratio", "ci_low", "ci_high", "p")]).all()


# ---------------------------------------------------------------- privacy round 11: moved_groups (5edafeb)

def _like(rng: np.random.Generator, k: int, mean: float, sd: float) -> np.ndarray:
    """k scores whose sample mean and sd are exactly ``mean`` and ``sd``: persons who joined or left a
    group and look like it (their sum of squares is k - 1 of its variances: ``moved_groups``' excess 0)."""
    z = rng.normal(size=k)
    return mean + sd * (z - z.mean()) / z.std(ddof=1)


def _moved(before: np.ndarray, after: np.ndarray) -> bool:
    """``moved_groups`` of the group "EUR" now (``after``) against its moments in an earlier export."""
    from test_privacy10_s53 import row

    from trd_spark.report import tables

    prior = {("d", "EUR", "P"): [(len(before), float(before.mean()), float(before.std(ddof=1)))]}
    return bool(tables.moved_groups(pd.DataFrame([row("EUR", "P", after)]), prior, T).iloc[0])


def test_moved_groups_at_the_threshold_and_for_persons_who_left():
    """Persons who joined or left a group of 700 between two exports, their moments exactly the
    group's (no carrier: the excess over the earlier variance 0): 19 of them are a group under T, its
    mean and sd hidden; 20 are read (not hidden); 25 who left are read alike (not hidden); 25
    newcomers all at one score (a group of k with no spread: each one's score is S / k) are hidden.
    test_privacy11_s54 moves 10 or 25-54 persons, always joining, with a spread. Mutants: t1
    (``k < T - 1``: 19 newcomers shown, a difference of 1..T-1 the audit hides), t2 (``k <= T``: 20
    hidden), t3 (``sign`` always +1: every group that shrank hidden, its excess read with the wrong
    sign), t5 (``excess`` without ``abs``: the 25 equal newcomers shown); on 3e8a7f9's rule (a scale
    fitted from the other groups) T1, T2 and T5 (module docstring)."""
    rng = np.random.default_rng(55)
    base = rng.normal(0.1, 1.0, size=700)
    m, s = float(base.mean()), float(base.std(ddof=1))
    assert _moved(base, np.concatenate([base, _like(rng, 19, m, s)]))
    assert not _moved(base, np.concatenate([base, _like(rng, 20, m, s)]))
    assert not _moved(np.concatenate([base, _like(rng, 25, m, s)]), base)
    assert _moved(base, np.concatenate([base, np.full(25, m)]))



def test_the_report_reads_the_earlier_exports_moments():
    """``build_report`` (the report stage's path, ``other_exports`` as ``released_exports`` reads them)
    hides a group's mean and sd when another export's moments of it read a newcomer carrier
    (test_privacy11_s54's seed 10,001: 25 newcomers to EAS, 1 at 5 SD) and the largest group's as its
    complement; without the earlier export both are shown. test_privacy11_s54 calls
    ``suppress_release`` with ``prior_moments`` set by hand, so mutant m31 (``build_report`` not passing
    ``prior_moments``: the rule never ran in a real export) passed it."""
    import io

    from test_privacy11_s54 import exported, releases

    from trd_spark.config import load_config
    from trd_spark.report.stage import build_report
    from trd_spark.schemas import COHORT_FLOW, LOGISTIC_RESULTS, PGS_MATCH_SUMMARY

    d1, d2, _, _ = releases(10_001, 5.0, 1)
    t = {"logistic": pd.DataFrame(columns=LOGISTIC_RESULTS.names), "pgs_distribution": d2,
         "match_summary": pd.DataFrame(columns=PGS_MATCH_SUMMARY.names),
         "cohort_flow": pd.DataFrame({"definition": ["all"], "step_order": [1], "step": ["all_persons"],
                                      "n": [int(d2["n"].sum())]}).reindex(columns=COHORT_FLOW.names)}

    def shown(other: dict | None) -> pd.DataFrame:
        text = build_report(load_config(), t, {}, other_exports=other)["pgs_distribution.tsv"]
        return pd.read_csv(io.StringIO(text), sep="\t", dtype=str, keep_default_na=False).set_index("ancestry")

    assert (shown(None)[["mean", "sd"]] != "").all().all()
    hidden = shown({"r1": exported(d1)})
    assert (hidden.loc[["EAS", "EUR"], ["mean", "sd"]] == "").all().all() and hidden.loc["EAS", "n"] == "525"
    # AFR too since session 56 privacy12: EUR and AFR are the same persons in both exports, so EUR's
    # earlier moments mapped gave EAS's back (tables.pooled_complements; tests/test_privacy12_s56.py)
    assert (hidden.loc["AFR", ["mean", "sd"]] == "").all() and (hidden["p50"] == "").all()


def test_explain_lists_the_threshold_among_each_stages_config(tmp_path):
    """``trd-spark explain`` names the config keys each stage's output depends on: with
    ``stages.LABEL_KEYS`` the pgs and phenotypes stages' include report.small_count_threshold (a raised
    T reruns them). test_privacy11_s54 checks the slice, not what explain shows; mutant s4 (explain
    listing ``spec.config``) left the threshold out of the pgs and phenotypes lines while the rerun
    reason named it."""
    from trd_spark.config import load_config
    from trd_spark.io import LocalFs
    from trd_spark.stages import explain

    cfg = load_config().model_copy(update={"output_root": str(tmp_path)})
    lines = [x for x in explain(cfg, LocalFs(), ["pgs", "phenotypes"]).splitlines() if x.startswith("  config: ")]
    assert len(lines) == 2 and all("report.small_count_threshold" in x.split(" (except")[0] for x in lines), lines

# ---------------------------------------------------------------- pgs: not_found_unnormalised (bdfa654)

def test_unplaced_and_matched_indels_keep_their_match_type(hl):
    """``not_found_unnormalised`` is for a placed indel that is not found. A right-shifted deletion
    with no position on the build (a harmonised row without hm_pos) stays ``not_found``, and an indel
    that matches as written at a genotype row of the same form (effect T = REF, ALT TT) stays
    ``alt_ref``. test_pgs_fuzz_s54's rows are all placed and its matched indels are left-aligned.
    Mutants: g4 (any not_found row, placed or not: the unplaced one relabelled, and its WARNING
    would name a row with no locus), g7 (every type but ref_alt read: the matched alt_ref indel
    relabelled, dropped from the score)."""
    from trd_spark.pgs.matching import match_sites_frame, score_sites
    from trd_spark.pgs.scoring_files import parse_scoring_file

    text = ("#pgs_id=PGS995501\n#genome_build=GRCh37\n#HmPOS_build=GRCh38\n"
            "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\thm_chr\thm_pos\n"
            "1\t100\tGAG\tG\t0.5\t\t\n1\t1990\tT\tTT\t0.25\t1\t2003\n")
    sf = parse_scoring_file(text, source="s.txt")
    rows = pd.DataFrame({"contig": ["chr1"], "position": [2003], "ref": ["T"], "alt": ["TT"]})
    sites = match_sites_frame(score_sites(hl, None, [sf], "GRCh38"), rows, keep_ambiguous=False)
    got = sorted(zip(sites["effect_allele"], sites["match_type"]))
    assert got == [("GAG", "not_found"), ("T", "alt_ref")], got


# ---------------------------------------------------------------- pgs: harmonised rows on inverted blocks (e2a3039)

def test_inverted_blocks_flag_both_rows_of_a_pair_and_no_pair_across_chromosomes():
    """``inverted_mapping_rows`` flags both rows of a neighbour pair with the same chr_position +
    hm_pos, and pairs rows on one chromosome only (in both columns). Rows: on chr1's inverted block
    (x + y = 30,000,000) two non-flippable pairs, the first in author order an AG/CG pair (unplaced);
    chr1 at 40,000,000 and chr2 at 1,000,000 with the same x + y (50,000,000) on plus-strand blocks
    of their own (placed); a row whose hm_chr differs from chr_name with a chr2 row's x + y (placed).
    test_pgs_fuzz_s54's first inverted row is a flippable SNV, kept whatever its flag. Mutants: h3
    (the first row of a pair not flagged: the AG/CG row placed at hm_pos with its bases running
    backwards), h2 (pairs across chromosomes: chr1's last and chr2's first unplaced), h8 (rows whose
    hm_chr is not chr_name paired as well)."""
    from trd_spark.pgs.scoring_files import parse_scoring_file

    rows = [("1", 20000100, "AG", "CG", "1", 9999900, False),
            ("1", 20000400, "T", "TA", "1", 9999600, False),
            ("1", 40000000, "AC", "GC", "1", 10000000, True),
            ("2", 1000000, "AC", "GC", "2", 49000000, True),
            ("3", 2000000, "AC", "GC", "2", 48000000, True)]
    body = "".join(f"{c}\t{x}\t{e}\t{o}\t0.{k + 1}\t{hc}\t{y}\n" for k, (c, x, e, o, hc, y, _) in enumerate(rows))
    text = ("#pgs_id=PGS995502\n#genome_build=GRCh37\n#HmPOS_build=GRCh38\nchr_name\tchr_position\t"
            "effect_allele\tother_allele\teffect_weight\thm_chr\thm_pos\n" + body)
    sf = parse_scoring_file(text, source="hm.txt", target_build="GRCh38")
    v = sf.variants.sort_values("line")
    assert v["pos"].notna().tolist() == [r[6] for r in rows]
    assert sf.n_unplaced == 2


# ---------------------------------------------------------------- phenotypes: claim reversals (a38b1e0)

SERTRALINE = 739138  # a study antidepressant's concept (the ingredient; any drug concept of a set reads alike)
# (person_id, start, days_supply, quantity): claims and their reversals (a negative days_supply or quantity)
REVERSAL_ROWS = [
    # a partial return: quantity -30 against the claim's 60: not that claim's reversal (quantity = |its|)
    (1, "2020-01-01", 30, 60.0), (1, "2020-01-01", -30, -30.0),
    # a claim and its reversal on one day, neither with a days_supply (both empty alike), quantity 10 / -10
    (2, "2020-01-01", None, 10.0), (2, "2020-01-01", None, -10.0),
    # two claim-reversal cycles two months apart: each reversal cancels its own claim
    (3, "2020-01-01", 30, None), (3, "2020-01-01", -30, None), (3, "2020-03-01", 30, None), (3, "2020-03-01", -30, None),
    # the reversal after the person's follow-up (ends 2020-01-10, death): it still cancels its claim
    (4, "2020-01-05", 30, None), (4, "2020-01-20", -30, None),
    # a negative quantity alone: no exposure, nothing to cancel
    (5, "2020-01-01", 30, -30.0),
]
CANCELLED = {(2, "2020-01-01", None, 10.0), (3, "2020-01-01", 30, None), (3, "2020-03-01", 30, None),
             (4, "2020-01-05", 30, None)}


def test_claim_reversals_in_the_chain(spark):
    """``trials.reversed_claim_keys`` (one row cancelled per claim here), ``stage.followup_drugs`` and
    ``stage._drug_events`` on the rows above, by hand (docs/phenotypes.md "When an exposure ends"); the
    same answers under a38b1e0's rule and 90cffef's. test_omop_shapes_s54 has no partial
    return, no claim without a days_supply, one cycle per person and no reversal after follow-up.
    Mutants (it passes each): r3 (quantity >= |the reversal's|: the partial return cancels the claim),
    r5 (the same-day rule read through days_supply: the claim without one kept), r7 (the latest claim
    over every reversal of a person and product: the January cycle's claim kept), r9 (claims matched
    over the follow-up records only: person 4's claim kept, its reversal after death unread), r10
    (an augmentation or esketamine event of a negative quantity: person 5's record an event); on
    a255ea7's matcher their analogues R3, R5, R9 and R10 (module docstring)."""
    from pyspark.sql import functions as F

    from trd_spark.phenotypes.stage import _drug_events, followup_drugs
    from trd_spark.phenotypes.trials import reversed_claim_keys

    drugs = spark.createDataFrame(
        [(p, SERTRALINE, _d(s), _d(s), ds, q, None, None) for p, s, ds, q in REVERSAL_ROWS],
        "person_id long, drug_concept_id long, drug_exposure_start_date date, drug_exposure_end_date date, "
        "days_supply int, quantity double, verbatim_end_date date, refills int")
    keys = {(r.person_id, str(r.drug_exposure_start_date), r.days_supply, r.quantity, r.n_cancelled)
            for r in reversed_claim_keys(drugs).collect()}
    assert keys == {(*c, 1) for c in CANCELLED}, keys
    persons = spark.createDataFrame([(p, 1970, _d("2020-01-10" if p == 4 else "2023-07-01")) for p in range(1, 6)],
                                    "person_id long, year_of_birth int, observation_end_date date")
    kept = {(r.person_id, str(r.drug_exposure_start_date), r.days_supply, r.quantity)
            for r in followup_drugs(drugs, persons).collect()}
    assert kept == {(p, s, ds, q) for p, s, ds, q in REVERSAL_ROWS
                    if (p, s, ds, q) not in CANCELLED and not (p == 4 and s > "2020-01-10")}, kept
    events = _drug_events(drugs, frozenset({SERTRALINE})).where(F.col("person_id") == 5)
    assert events.count() == 0


def test_claim_reversals_in_the_duckdb_twin():
    """The twin's ``_reversed_claims`` (a38b1e0: ``_reversed_claims_sql``) on the same rows: the same
    claims cancelled, one row each. Mutants (test_omop_shapes_s54 passes each): w4 (quantity >= |the
    reversal's|), w5 (the latest claim over every reversal of a person and product), w9 (the same-day
    rule read through days_supply); on a255ea7's loop W4 and W9."""
    import duckdb
    from test_phenotypes_support import duckdb_twin

    twin = duckdb_twin()
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE members AS SELECT 739138::BIGINT AS concept_id, 'drug' AS domain, 'include' AS kind")
        con.execute("CREATE TABLE drug_exposure (person_id BIGINT, drug_concept_id BIGINT, drug_exposure_start_date "
                    "DATE, drug_exposure_end_date DATE, days_supply INTEGER, quantity DOUBLE)")
        con.executemany("INSERT INTO drug_exposure VALUES (?, ?, ?, ?, ?, ?)",
                        [(p, SERTRALINE, _d(s), _d(s), ds, q) for p, s, ds, q in REVERSAL_ROWS])
        cols = ["person_id", "drug_concept_id", "drug_exposure_start_date", "drug_exposure_end_date", "days_supply",
                "quantity"]
        twin._reversed_claims(con, "drug_exposure", cols, True, False)
        got = {(p, str(s), ds, q) for p, s, ds, q, n in con.execute(
            "SELECT person_id, start_date, ds, q, n FROM reversed_claims").fetchall() if n == 1}
    finally:
        con.close()
    assert got == CANCELLED, got


def test_the_twin_reads_a_negative_quantity_augmentation_record_as_none(tmp_path):
    """The DuckDB twin on a two-person export (test_omop_shapes_s54's frame: MDD from 2019-01-10, two
    adequate trials by 2019-06-30): an aripiprazole record of quantity -30 on 2019-09-01 (a reversal
    written as units returned, no claim to cancel) is no augmentation (ad2_augmentation trMDD); the same
    record of quantity 30 is (TRD on 2019-09-01). test_omop_shapes_s54's negative quantities are all
    sertraline's; mutant w8 (the twin's augmentation rule reading days_supply only) made person 1 TRD.
    The chain's rule is ``test_claim_reversals_in_the_chain``'s (r10)."""
    from test_omop_shapes_s54 import COLUMNS, INDEX, SECOND, S, background, drug
    from test_phenotypes_support import (
        ANCESTRY,
        ARIPIPRAZOLE_TAB,
        CONCEPTS,
        MDD_CONCEPT,
        duckdb_twin_run,
        write_omop_tables,
    )

    root = tmp_path / "omop"
    root.mkdir()
    write_omop_tables(root, {
        "person": [(p, 8532, 1970, 1, 1) for p in (1, 2)],
        "observation_period": [(p, _d("2010-01-01"), _d("2023-12-31")) for p in (1, 2)],
        "condition_occurrence": [(p, MDD_CONCEPT, _d(x)) for p in (1, 2) for x in (INDEX, SECOND)],
        "drug_exposure": [*background(1), drug(1, ARIPIPRAZOLE_TAB, S, 30, quantity=-30.0),
                          *background(2), drug(2, ARIPIPRAZOLE_TAB, S, 30, quantity=30.0)],
        "concept": CONCEPTS,
        "concept_ancestor": [(a, b, 1, 1) for a, b in ANCESTRY],
    })
    rows = {(r[0], r[1]): (r[2], r[5]) for r in duckdb_twin_run(root, COLUMNS)["rows"]}
    assert rows[(1, "ad2_augmentation")] == ("trMDD", None)
    assert rows[(2, "ad2_augmentation")] == ("TRD", _d(S))
