"""Results across models: TRD-vs-trMDD difference test, replication, meta-analysis, consistency.

Pure pandas functions on the logistic table (LOGISTIC_RESULTS_COLUMNS); failed fits
(``converged`` false, NaN estimates) are never pooled or tested.
"""

from __future__ import annotations

import logging
from itertools import combinations

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

from trd_spark.config import Config
from trd_spark.models.covariates import LIMIT_NOTE
from trd_spark.models.logistic import ratio_and_ci
from trd_spark.models.multiple_testing import CORRECTION_FAMILIES, adjust_within_families
from trd_spark.schemas import CONSISTENCY, DIFFERENCE, META, REPLICATION
from trd_spark.vocabulary import ALL_DEFINITIONS, Contrast

log = logging.getLogger(__name__)

# A meta row's note naming the datasets whose converged fit was left out (``usable_estimate``).
META_UNUSABLE_NOTE = "left out (converged, but a non-finite estimate, standard error or p)"


def usable_estimate(results: pd.DataFrame) -> pd.Series:
    """Boolean per row of a results table (beta, se, p, converged): converged with a finite
    beta, a finite se > 0 and a finite p. A row converged but otherwise (an infinite or zero se, a
    NaN beta or p: a fitter's fault or a table read back from elsewhere) is no estimate: pooled, an
    infinite se weighs 0 but counted in ``k``; tested, z = beta / inf = 0 reads p = 1."""
    r = results
    beta, se = r["beta"].astype(float), r["se"].astype(float)
    p = r["p"].astype(float) if "p" in r.columns else pd.Series(0.0, index=r.index)
    return (r["converged"].fillna(False).astype(bool) & np.isfinite(beta) & np.isfinite(se) & (se > 0)
            & np.isfinite(p))


def _ok(results: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``usable_estimate``."""
    return results[usable_estimate(results)]


def warn_unusable(results: pd.DataFrame, table: str) -> int:
    """One WARNING naming each (dataset, definition, contrast, pgs_id) whose converged fit
    ``usable_estimate`` rejects, with their count (no person, no person count); returns the count."""
    bad = results[results["converged"].fillna(False).astype(bool) & ~usable_estimate(results)]
    if len(bad):
        cols = [c for c in ("dataset", "definition", "contrast", "pgs_id") if c in bad.columns]
        names = "; ".join("/".join(str(v) for v in row) for row in bad[cols].itertuples(index=False))
        log.warning("models: %s: %d converged fit(s) with a non-finite estimate, standard error or p left out of "
                    "the meta-analysis, difference and replication tables (%s): %s",
                    table, len(bad), "/".join(cols), names)
    return len(bad)


# Per table with a ``converged`` flag, the columns a converged row must hold a finite number in.
CONVERGED_ESTIMATES = ("beta", "se", "odds_ratio", "hazard_ratio", "ci_low", "ci_high", "p")
# The columns naming a row of a model table, in the order a message names them.
ROW_KEYS = ("method", "dataset", "definition", "contrast", "pgs_id", "tertile", "time_days",
            "definition_a", "definition_b")


def non_finite_cells(table: pd.DataFrame) -> list[str]:
    """Where ``table`` would publish a non-number as if a number: "<row key>: <column>" for each
    cell holding +/-inf (a float column, or a float in an object column: a suppressed table's
    mixed cells), and for each NaN in a ``CONVERGED_ESTIMATES`` column of a row whose
    ``converged`` is true (a failed row's NaN is withheld, its ``failure_reason`` says why; a
    ``to_tsv`` inf prints as "inf", NaN as empty). Row keys: the ``ROW_KEYS`` columns present.
    Empty when the table is clean."""
    keys = [c for c in ROW_KEYS if c in table.columns]
    bad = pd.DataFrame(False, index=table.index, columns=table.columns)
    for c in table.columns:
        col = table[c]
        if pd.api.types.is_float_dtype(col):
            bad[c] = np.isinf(col.to_numpy(dtype=float))
        elif col.dtype == object:
            bad[c] = [isinstance(v, float | np.floating) and bool(np.isinf(v)) for v in col]
    if "converged" in table.columns:
        conv = table["converged"].astype(object).map(lambda v: str(v).lower() == "true")
        for c in CONVERGED_ESTIMATES:
            if c in table.columns:
                bad[c] |= conv & pd.to_numeric(table[c], errors="coerce").isna()
    out = []
    for i, c in zip(*np.nonzero(bad.to_numpy())):
        key = "/".join(str(table[k].iloc[i]) for k in keys) or f"row {i + 1}"
        out.append(f"{key}: {table.columns[c]}")
    return out


def two_sided_p(z: npt.ArrayLike) -> np.ndarray:
    """2 * P(Z > |z|) for a standard normal Z (NaN stays NaN); same shape as ``z``."""
    return 2.0 * stats.norm.sf(np.abs(np.asarray(z, dtype=float)))


# ------------------------------------------------------------------ TRD vs trMDD difference
def difference_table(logistic: pd.DataFrame) -> pd.DataFrame:
    """Is the PGS association stronger for TRD than for trMDD (both vs non-MDD)?

    Per (dataset, definition, pgs_id): z = (beta_trd - beta_trmdd) / sqrt(se_trd^2 + se_trmdd^2),
    two-sided normal p, Bonferroni/BH within (dataset, definition); the direct TRD vs trMDD
    model's estimate alongside. Rows exist when both contrasts were fitted. Columns: DIFFERENCE.

    The two fits share the non-MDD controls, so their estimates are positively correlated and
    the se above (that of independent samples) is too large: the test is conservative. With a
    null PGS the correlation is about n_controls^-1 / (se_trd se_trmdd) (sandwich cross-covariance
    of the two logits over the shared controls; benchmarks/RESULTS.md, session 50 models43): 0.07
    at the discovery set's 104,128 / 16,640 / 4,177 persons (se_diff 3% too large), 0.38 at 500
    non-MDD / 400 trMDD / 300 TRD (27%). Not corrected: that needs both fits' persons together.
    """
    key = ["dataset", "definition", "pgs_id"]
    pick = {
        Contrast.TRD_VS_NONMDD: "trd", Contrast.TRMDD_VS_NONMDD: "trmdd", Contrast.TRD_VS_TRMDD: "trd_vs_trmdd",
    }
    parts = {}
    for contrast, tag in pick.items():
        sub = logistic[logistic["contrast"] == contrast]
        ok = usable_estimate(sub)
        parts[tag] = pd.DataFrame({
            **{k: sub[k] for k in [*key, "trait", "domain"]},
            f"beta_{tag}": sub["beta"].where(ok).astype(float), f"se_{tag}": sub["se"].where(ok).astype(float),
            f"p_{tag}": sub["p"].where(ok).astype(float),
            # Fitted at its limit (``covariates.empty_cell``): among one sex only.
            f"limit_{tag}": ok & sub["note"].fillna("").astype(str).str.contains(LIMIT_NOTE, regex=False),
        })
    if parts["trd"].empty or parts["trmdd"].empty:
        return pd.DataFrame(columns=DIFFERENCE.names)
    out = parts["trd"].drop(columns="p_trd").merge(
        parts["trmdd"].drop(columns=["p_trmdd", "trait", "domain"]), on=key, how="inner")
    direct = parts["trd_vs_trmdd"][[*key, "beta_trd_vs_trmdd", "p_trd_vs_trmdd"]]
    out = out.merge(direct, on=key, how="left")
    out["beta_diff"] = out["beta_trd"] - out["beta_trmdd"]
    out["se_diff"] = np.sqrt(out["se_trd"] ** 2 + out["se_trmdd"] ** 2)
    out["z"] = out["beta_diff"] / out["se_diff"]
    out["p"] = two_sided_p(out["z"])
    # A difference of two estimates of which one is among one sex only compares other persons:
    # said, as the fit's own note says it.
    out["note"] = np.where(~np.isfinite(out["z"]), "a TRD or trMDD vs non-MDD fit failed",
                           np.where(out["limit_trd"] | out["limit_trmdd"],
                                    "a TRD or trMDD vs non-MDD fit is estimated among the persons at one value of a 0/1 "
                                    "covariate (its note)", ""))
    out = adjust_within_families(out, CORRECTION_FAMILIES["difference"])
    return out[DIFFERENCE.names].reset_index(drop=True)


# ------------------------------------------------------------------ replication
def replication_table(logistic: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """Discovery-significant results looked up in each replication dataset.

    Significant: the family-corrected p named by ``models.discovery_significance`` below
    ``models.alpha`` in the discovery dataset. Replicated: same sign of beta and uncorrected
    p < ``models.replication_alpha``. One row per (replication dataset, significant result).
    Columns: REPLICATION.
    """
    m = cfg.models
    discovery = next(d.name for d in cfg.datasets if d.role == "discovery")
    present = set(logistic["dataset"])
    replications = [d.name for d in cfg.datasets if d.role == "replication" and d.name in present]
    key = ["definition", "contrast", "pgs_id"]
    disc = _ok(logistic[logistic["dataset"] == discovery])
    disc = disc[disc[m.discovery_significance].astype(float) < m.alpha]
    disc = disc[[*key, "trait", "domain", "beta", m.discovery_significance]].rename(
        columns={"beta": "beta_discovery", m.discovery_significance: "p_adjusted_discovery"})
    rows = []
    for ds in replications:
        rep = logistic[logistic["dataset"] == ds][[*key, "beta", "se", "p", "converged", "note"]]
        joined = disc.merge(rep, on=key, how="left").assign(dataset=ds)
        ok = usable_estimate(joined)
        for c in ("beta", "se", "p"):
            joined[c] = joined[c].astype(float).where(ok)
        same = np.sign(joined["beta"]) == np.sign(joined["beta_discovery"])
        joined["same_direction"] = same.where(ok, None).astype(object)
        joined["replicated"] = ok & same & (joined["p"] < m.replication_alpha)
        fit_note = joined["note"].fillna("").astype(str)
        limit = ok & fit_note.str.contains(LIMIT_NOTE, regex=False)  # ``covariates.empty_cell``
        unusable = joined["converged"].fillna(False).astype(bool) & ~ok
        joined["note"] = np.where(ok, np.where(limit, "replication fit: " + fit_note, ""),
                                  np.where(joined["converged"].isna(), "not fitted in this dataset",
                                           np.where(unusable, "replication fit: non-finite estimate, standard "
                                                              "error or p (not used)",
                                                    "replication fit failed: " + fit_note)))
        rows.append(joined)
    if not rows:
        return pd.DataFrame(columns=REPLICATION.names)
    out = pd.concat(rows, ignore_index=True)
    return out[REPLICATION.names].sort_values(["dataset", *key], kind="mergesort").reset_index(drop=True)


# ------------------------------------------------------------------ meta-analysis
def meta_analyse(beta: np.ndarray, se: np.ndarray, method: str = "fixed") -> dict:
    """Inverse-variance meta-analysis of k estimates (log scale), by
    ``statsmodels.stats.meta_analysis.combine_effects`` (DerSimonian-Laird: ``method_re="chi2"``).

    fixed: w_i = 1/se_i^2, beta = sum w_i beta_i / sum w_i, se = 1/sqrt(sum w_i).
    random (DerSimonian-Laird): tau^2 = max(0, (Q - (k-1)) / (sum w - sum w^2 / sum w)),
    w*_i = 1/(se_i^2 + tau^2). Q = sum w_i (beta_i - beta_fixed)^2 on k-1 df, I^2 =
    max(0, (Q - (k-1))/Q). Returns k, beta, se, p, cochran_q, q_p, i2, tau2 (NaN when k = 0;
    Q/I^2 NaN when k < 2, and tau^2 under ``random``: DL's (Q - (k-1)) / (sum w - sum w^2 / sum w)
    is 0/0 for one estimate, and a 0 read as "no heterogeneity" beside an empty I^2; ``fixed``'s
    tau^2 is 0 by its model). Raises ValueError for an unknown ``method``.
    """
    if method not in ("fixed", "random"):
        raise ValueError(f"unknown meta-analysis method {method!r}")
    beta, se = np.asarray(beta, dtype=float), np.asarray(se, dtype=float)
    k = len(beta)
    nan = float("nan")
    if k == 0:
        return {"k": 0, "beta": nan, "se": nan, "p": nan, "cochran_q": nan, "q_p": nan, "i2": nan, "tau2": nan}
    if k == 1:  # no heterogeneity to estimate (statsmodels divides by k - 1 = 0)
        b, s = float(beta[0]), float(se[0])
        return {"k": 1, "beta": b, "se": s, "p": float(two_sided_p(b / s)), "cochran_q": nan, "q_p": nan,
                "i2": nan, "tau2": nan if method == "random" else 0.0}
    with np.errstate(divide="ignore", invalid="ignore"):  # Q = 0 (identical estimates): I^2 is 0, below
        res = combine_effects(beta, se**2, method_re="chi2")
    q = float(res.q)
    # statsmodels' one-step DL tau^2 is not truncated at 0 (negative when Q < k - 1); truncated,
    # the random-effects estimate is the fixed-effect one.
    tau2 = max(0.0, float(res.tau2)) if method == "random" else 0.0
    if tau2 > 0:
        b, s = float(res.mean_effect_re), float(res.sd_eff_w_re)
    else:
        b, s = float(res.mean_effect_fe), float(res.sd_eff_w_fe)
    return {"k": k, "beta": b, "se": s, "p": float(two_sided_p(b / s)), "cochran_q": q,
            "q_p": float(res.test_homogeneity().pvalue), "i2": max(0.0, float(res.i2)) if q > 0 else 0.0,
            "tau2": tau2}


# A meta row's note when its pooled odds ratio or a CI bound is infinite or 0 (``ratio_and_ci``):
# beta, se, the ratio, its CI and p withheld (NaN), as a fit's (``ModelFailure.RATIO_OUT_OF_RANGE``).
META_OUT_OF_RANGE_NOTE = ("pooled odds ratio or its 95% CI beyond double precision: exp(beta +/- 1.96 se) is "
                          "infinite or 0; estimates withheld")
# The columns a meta row withholds then (its k, heterogeneity and datasets stay).
META_WITHHELD = ("beta", "se", "odds_ratio", "ci_low", "ci_high", "p")


# A meta row's note when a pooled fit is at its limit (``covariates.LIMIT_NOTE``), before the datasets.
META_LIMIT_NOTE = "includes a fit estimated among the persons at one value of a 0/1 covariate"


def meta_table(logistic: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """Meta-analysis across datasets per (definition, contrast, pgs_id), converged fits only.

    Fixed-effect rows always; DerSimonian-Laird rows too when ``models.meta_random_effects``.
    Bonferroni/BH within (method, definition, contrast). ``note``: ``META_LIMIT_NOTE`` and the
    datasets whose pooled fit is at its limit (its ``note`` has ``covariates.LIMIT_NOTE``),
    ``META_UNUSABLE_NOTE`` and the datasets left out, ``META_OUT_OF_RANGE_NOTE`` when the pooled
    odds ratio or a CI bound is infinite or 0 (then ``META_WITHHELD`` are NaN and a WARNING names
    the row: e.g. DerSimonian-Laird's tau^2 widening the CI of estimates far apart), else "".
    Columns: META.
    """
    methods = ["fixed", "random"] if cfg.models.meta_random_effects else ["fixed"]
    key = ["definition", "contrast", "pgs_id"]
    ok = _ok(logistic)
    converged = logistic[logistic["converged"].fillna(False).astype(bool)]
    unusable = converged[~usable_estimate(converged)]
    labels = logistic.drop_duplicates(key)[[*key, "trait", "domain"]]
    rows = []
    for method in methods:
        for (definition, contrast, pgs_id), g in labels.groupby(key, sort=False):
            fits = ok[(ok["definition"] == definition) & (ok["contrast"] == contrast) & (ok["pgs_id"] == pgs_id)]
            fits = fits.sort_values("dataset")
            res = meta_analyse(fits["beta"].to_numpy(float), fits["se"].to_numpy(float), method)
            # A pooled estimate with a fit at its limit (``covariates.empty_cell``: among one sex
            # only) pools other persons in that dataset: said, as a difference or replication row
            # built on such a fit says it. Text only: the dataset names are in ``datasets``.
            limit = fits.loc[fits["note"].fillna("").astype(str).str.contains(LIMIT_NOTE, regex=False), "dataset"]
            left_out = sorted(unusable.loc[(unusable["definition"] == definition) & (unusable["contrast"] == contrast)
                                           & (unusable["pgs_id"] == pgs_id), "dataset"].astype(str))
            notes = [f"{META_LIMIT_NOTE}: {', '.join(limit)} (its note)"] if len(limit) else []
            notes += [f"{META_UNUSABLE_NOTE}: {', '.join(left_out)}"] if left_out else []
            ratio = ratio_and_ci(res["beta"], res["se"]) if res["k"] else None
            ratios = dict(zip(("odds_ratio", "ci_low", "ci_high"), ratio or (np.nan,) * 3))
            if res["k"] and ratio is None:  # k = 0 is a row without an estimate already (k says why)
                res = {**res, **dict.fromkeys(META_WITHHELD, np.nan)}
                notes.append(META_OUT_OF_RANGE_NOTE)
                log.warning("models: meta (%s): %s/%s/%s: %s", method, definition, contrast, pgs_id,
                            META_OUT_OF_RANGE_NOTE)
            rows.append({
                "method": method, "definition": definition, "contrast": contrast, "pgs_id": pgs_id,
                "trait": g["trait"].iloc[0], "domain": g["domain"].iloc[0], **res, **ratios,
                "datasets": ",".join(fits["dataset"]), "note": "; ".join(notes),
            })
    if not rows:
        return pd.DataFrame(columns=META.names)
    out = adjust_within_families(pd.DataFrame(rows), CORRECTION_FAMILIES["meta"])
    return out[META.names]


# ------------------------------------------------------------------ consistency
def consistency_table(meta: pd.DataFrame) -> pd.DataFrame:
    """How alike are the PGS effect sizes under different TRD definitions (fixed-effect meta)?

    Per contrast: squared Pearson correlation of the log ORs over the PGS estimated under both
    definitions, for each pair; and an overall row (definition_a = definition_b = 'all'): the
    share of the variance of all definitions' log ORs explained by the PGS (one-way ANOVA R^2
    over the PGS estimated under every definition). NaN when fewer than 3 PGS (or no
    variance). Columns: CONSISTENCY.
    """
    fixed = meta[(meta["method"] == "fixed") & np.isfinite(meta["beta"].astype(float))]
    rows = []
    for contrast, g in fixed.groupby("contrast", sort=False):
        wide = g.pivot(index="pgs_id", columns="definition", values="beta")
        defs = sorted(wide.columns)
        for a, b in combinations(defs, 2):
            pair = wide[[a, b]].dropna()
            rows.append({"contrast": contrast, "definition_a": a, "definition_b": b, "n_pgs": len(pair),
                         "r2": _r2_pair(pair[a].to_numpy(), pair[b].to_numpy())})
        if len(defs) >= 2:
            full = wide[defs].dropna()
            rows.append({"contrast": contrast, "definition_a": ALL_DEFINITIONS, "definition_b": ALL_DEFINITIONS,
                         "n_pgs": len(full), "r2": _r2_between(full.to_numpy())})
    if not rows:
        return pd.DataFrame(columns=CONSISTENCY.names)
    return pd.DataFrame(rows)[CONSISTENCY.names]


def _r2_pair(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1] ** 2)


def _r2_between(values: np.ndarray) -> float:
    """values: (n_pgs, n_definitions). Between-PGS sum of squares / total sum of squares."""
    if values.shape[0] < 3:
        return float("nan")
    total = float(np.sum((values - values.mean()) ** 2))
    if total == 0:
        return float("nan")
    between = float(values.shape[1] * np.sum((values.mean(axis=1) - values.mean()) ** 2))
    return between / total
