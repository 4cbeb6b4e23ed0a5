"""Report figures (matplotlib, inline SVG): what each figure draws, read back from the data it
keeps and from the SVG's text, on small inline frames (no Spark)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd

from trd_spark.report.figures import (
    META_SOURCE,
    at_risk_rows,
    attrition_figure,
    distribution_figure,
    forest_data,
    forest_figure,
    km_figure,
    scatter_figure,
    significance_figure,
)

SVG_NS = "{http://www.w3.org/2000/svg}"


def svg_texts(svg: str) -> list[str]:
    """Every text element's content (matplotlib keeps text as text with svg.fonttype none)."""
    root = ET.fromstring(svg)
    return ["".join(t.itertext()).strip() for t in root.iter(f"{SVG_NS}text")]


def logistic() -> pd.DataFrame:
    return pd.DataFrame({
        "dataset": ["discovery", "replication_wgs", "replication_array", "discovery", "replication_wgs",
                    "discovery", "discovery"],
        "definition": ["ad3"] * 6 + ["somatic"],
        "contrast": ["trd_vs_nonmdd"] * 5 + ["trmdd_vs_nonmdd", "trd_vs_nonmdd"],
        "pgs_id": ["PGS1", "PGS1", "PGS1", "PGS2", "PGS2", "PGS1", "PGS1"],
        "trait": ["Insomnia", "Insomnia", "Insomnia", "Height & $weight$", "Height & $weight$", "Insomnia",
                  "Insomnia"],
        "domain": ["sleep", "sleep", "sleep", "physical", "physical", "sleep", "sleep"],
        "n": [1523, "<20", 410, 1498, "suppressed", 1400, 1500],
        "n_cases": [212, "<20", 57, 205, "suppressed", 90, 100],
        "odds_ratio": [1.21, 1.05, 1.15, np.nan, 0.97, 1.5, 1.6],
        "ci_low": [1.08, 0.71, 0.93, np.nan, 0.80, 1.2, 1.3],
        "ci_high": [1.36, 1.55, 1.42, np.nan, 1.18, 1.9, 2.0],
        "p": [3.2e-5, 0.81, 0.2, np.nan, 0.77, 1e-3, 1e-4],
        "converged": [True, True, True, False, True, True, True],
    })


def meta() -> pd.DataFrame:
    return pd.DataFrame({
        "method": ["fixed", "random", "fixed"], "definition": ["ad3", "ad3", "ad3"],
        "contrast": ["trd_vs_nonmdd"] * 3, "pgs_id": ["PGS1", "PGS1", "PGS2"],
        "trait": ["Insomnia", "Insomnia", "Height & $weight$"], "domain": ["sleep", "sleep", "physical"],
        "odds_ratio": [1.19, 1.25, 0.97], "ci_low": [1.08, 1.01, 0.80], "ci_high": [1.31, 1.55, 1.18],
        "p": [4.1e-7, 0.04, 0.77],
    })


DATASETS = ["discovery", "replication_wgs", "replication_array"]


def test_forest_rows_cover_every_dataset_and_the_fixed_meta_in_domain_order():
    rows = forest_data(logistic(), meta(), contrast="trd_vs_nonmdd", definition="ad3", datasets=DATASETS,
                       domains=["physical", "sleep"])
    assert list(zip(rows["pgs_id"], rows["source"])) == [
        ("PGS2", "discovery"), ("PGS2", "replication_wgs"), ("PGS2", META_SOURCE),
        ("PGS1", "discovery"), ("PGS1", "replication_wgs"), ("PGS1", "replication_array"), ("PGS1", META_SOURCE),
    ]
    pooled = rows[rows["kind"] == "meta"]
    assert pooled["odds_ratio"].tolist() == [0.97, 1.19]  # fixed effect, not random
    assert pooled["n"].isna().all() and pooled["n_cases"].isna().all()  # no pooled counts


def test_forest_figure_draws_each_estimate_with_its_counts_and_suppression_labels():
    rows = forest_data(logistic(), meta(), contrast="trd_vs_nonmdd", definition="ad3", datasets=DATASETS,
                       domains=["sleep", "physical"])
    fig = forest_figure(rows, title="TRD vs non-MDD")
    drawn = fig.data["rows"]
    assert len(drawn) == len(rows)
    texts = svg_texts(fig.svg)
    # One OR (95% CI) text per estimate, the failed fit marked instead.
    for r in rows[rows["odds_ratio"].notna()].itertuples():
        assert f"{r.odds_ratio:.2f} ({r.ci_low:.2f}-{r.ci_high:.2f})" in texts
    assert texts.count("not estimated") == 1
    # N and cases as exported: thousands separators and the suppression labels.
    assert "1,523" in texts and "212" in texts and "<20" in texts and texts.count("suppressed") == 2
    # p-values readable: 3.2e-05 and 4.1e-07, never 0.000.
    assert "3.2e-05" in texts and "4.1e-07" in texts and "0.000" not in texts
    # Domain headers and trait labels (mathtext off: "$" kept literally).
    assert "sleep" in texts and "physical" in texts
    assert "Height & $weight$ (PGS2)" in texts
    assert texts.index("sleep") < texts.index("physical")
    assert 'class="forest"' in fig.svg and "<script" not in fig.svg


def test_forest_points_sit_on_a_log_axis():
    """Marker x positions: OR 1 is midway between OR 0.5 and OR 2."""
    lg = pd.DataFrame({"dataset": ["d", "d", "d"], "definition": "x", "contrast": "c", "pgs_id": ["a", "b", "c"],
                       "trait": ["A", "B", "C"], "domain": "dom", "n": 100, "n_cases": 30,
                       "odds_ratio": [0.5, 1.0, 2.0], "ci_low": [0.5, 1.0, 2.0], "ci_high": [0.5, 1.0, 2.0],
                       "p": 0.5, "converged": True})
    rows = forest_data(lg, None, contrast="c", definition="x", datasets=["d"], domains=["dom"])
    svg = forest_figure(rows, title="t").svg
    # Each estimate's marker is a <use x= y=> inside the group the figure names estimate-<row>.
    xs = sorted(float(x) for x in re.findall(r'id="estimate-\d+">.*?<use xlink:href="#[^"]+" x="([-0-9.]+)"', svg,
                                             flags=re.S))
    assert len(xs) == 3
    assert abs((xs[0] + xs[2]) / 2 - xs[1]) < 0.5


def km_points() -> pd.DataFrame:
    return pd.DataFrame({
        "tertile": [1, 1, 1, 2, 2, 3, 3, 3],
        "time_days": [0, 300, 700, 0, 500, 0, 200, 420],
        "n_at_risk": [340, 250, 120, 338, 160, 339, 260, 210],
        "survival": [1.0, 0.93, 0.85, 1.0, 0.9, 1.0, 0.92, 0.8],
        "ci_low": [1.0, 0.9, 0.8, 1.0, 0.86, 1.0, 0.89, 0.75],
        "ci_high": [1.0, 0.95, 0.89, 1.0, 0.93, 1.0, 0.95, 0.84],
    })


def test_numbers_at_risk_come_only_from_published_points_one_per_year():
    risk = at_risk_rows(km_points(), [0.0, 365.25, 730.5])
    # Third 3 has points at days 0, 200 (same year as 0: not printed) and 420.
    assert risk[risk["tertile"] == 3][["time_days", "n_at_risk"]].values.tolist() == [[0, 339], [420, 210]]
    assert risk[risk["tertile"] == 1]["time_days"].tolist() == [0, 700]
    published = set(zip(km_points()["tertile"], km_points()["time_days"], km_points()["n_at_risk"]))
    assert set(zip(risk["tertile"], risk["time_days"], risk["n_at_risk"])) <= published


def test_km_figure_draws_curves_bands_numbers_at_risk_and_the_hazard_ratio():
    cox = pd.Series({"hazard_ratio": 1.23, "ci_low": 1.1, "ci_high": 1.38, "p": 2.5e-4})
    fig = km_figure(km_points(), title="Insomnia (PGS1)", cox=cox)
    texts = svg_texts(fig.svg)
    assert "Cox HR per SD 1.23 (1.10-1.38), p = 2.5e-04" in texts
    assert {"lowest third", "middle third", "highest third"} <= set(texts)
    for n in fig.data["at_risk"]["n_at_risk"]:
        assert str(n) in texts
    assert "250" not in texts  # published but not the first point of its year for third 1
    # The curves drawn are exactly the published points (nothing interpolated or added).
    pd.testing.assert_frame_equal(fig.data["curves"].reset_index(drop=True), km_points())
    # One CI band per third: matplotlib draws fill_between as a path with the band's alpha.
    assert fig.svg.count("fill-opacity: 0.18") == 3
    assert "Insomnia (PGS1)" in texts


def test_km_figure_without_cox_row_has_no_hazard_ratio_text():
    texts = svg_texts(km_figure(km_points(), title="t").svg)
    assert not any(t.startswith("Cox HR") for t in texts)


def flow() -> pd.DataFrame:
    return pd.DataFrame({
        "definition": ["all"] * 6 + ["ad3"] * 3 + ["somatic"] * 2,
        "step_order": [1, 2, 3, 4, 5, 6, 1, 2, 3, 1, 2],
        "step": ["all_persons", "with_mdd_diagnosis", "mdd_min_distinct_dates", "mdd_included", "non_MDD",
                 "no_observation_period", "mdd_included", "TRD", "trMDD", "mdd_included", "TRD"],
        "n": [3000, 1210, "suppressed", 850, 1400, "<20", 850, 95, 410, 850, 31],
    })


def test_attrition_diagram_has_the_chain_exclusions_and_each_definition():
    fig = attrition_figure(flow(), main_steps=["all_persons", "with_mdd_diagnosis", "mdd_min_distinct_dates",
                                               "mdd_included"],
                           labels={"all_persons": "All persons", "TRD": "TRD"}, definition_order=["ad3", "somatic"])
    boxes, excluded = fig.data["boxes"], fig.data["excluded"]
    chain = boxes[boxes["kind"] == "chain"]
    assert chain["step"].tolist() == ["all_persons", "with_mdd_diagnosis", "mdd_min_distinct_dates", "mdd_included"]
    # Differences only between shown counts; a suppressed neighbour hides the difference, as
    # "not shown": "suppressed" means >= 20, a bound the audit never saw (1000, hidden 980, 975:
    # excluded >= 20 put the 5 persons between the last two in 0..5).
    assert excluded["n_excluded"].tolist() == ["1,790", "not shown", "not shown"]
    assert boxes[boxes["kind"] == "other"]["step"].tolist() == ["non_MDD", "no_observation_period"]
    text = "\n".join(svg_texts(fig.svg))
    assert "All persons\nn = 3,000" in text or "All persons" in text and "n = 3,000" in text
    assert "excluded: 1,790" in text and "n = suppressed" in text
    assert "no observation period: <20" in text  # unlabelled ids shown with spaces
    assert "TRD definition ad3" in text and "TRD definition somatic" in text and "TRD: 31" in text
    assert "snake_case" not in text and "with_mdd_diagnosis" not in text


def test_significance_overview_draws_every_p_and_the_bonferroni_line():
    res = pd.DataFrame({"pgs_id": ["a", "b", "a", "b"], "trait": ["A", "B", "A", "B"], "domain": ["x", "y", "x", "y"],
                        "contrast": ["c1", "c1", "c2", "c2"], "p": [1e-6, 0.5, 0.01, np.nan]})
    fig = significance_figure(res, domains=["y", "x"], contrasts=["c1", "c2"], bonferroni_p=0.025, title="t")
    pts = fig.data["points"]
    assert len(pts) == 3  # the missing p is not drawn
    assert np.allclose(sorted(pts["y"]), sorted(-np.log10([1e-6, 0.5, 0.01])))
    above = pts[pts["y"] > -np.log10(0.025)]
    assert above[["pgs_id", "contrast"]].values.tolist() == [["a", "c1"], ["a", "c2"]]  # p 1e-6 and 0.01 < 0.025
    # Domain order as configured: y's PGS b left of x's PGS a.
    assert pts[pts.pgs_id == "b"]["x"].max() < pts[pts.pgs_id == "a"]["x"].min()
    texts = svg_texts(fig.svg)
    assert "Bonferroni p = 0.025" in texts and {"A", "B", "c1", "c2", "x", "y"} <= set(texts)


def test_distribution_boxes_are_the_aggregates_and_hidden_groups_are_left_out():
    dist = pd.DataFrame({"pgs_id": ["a", "a", "a"], "ancestry": ["eur", "afr", "sas"], "p05": [-1.6, -1.7, np.nan],
                         "p25": [-.7, -.6, np.nan], "p50": [0., .1, np.nan], "p75": [.7, .8, np.nan],
                         "p95": [1.6, 1.7, np.nan]})
    fig = distribution_figure(dist, title="d", traits={"a": "Insomnia"})
    boxes = fig.data["boxes"]
    assert sorted(boxes["ancestry"]) == ["afr", "eur"]  # sas: quantiles suppressed, not drawn
    assert boxes.set_index("ancestry").loc["afr", ["p05", "p50", "p95"]].tolist() == [-1.7, .1, 1.7]
    texts = svg_texts(fig.svg)
    assert {"Insomnia", "eur", "afr"} <= set(texts) and "sas" not in texts


def test_scatter_draws_pairs_with_both_estimates_and_r2():
    fig = scatter_figure(np.array([.1, -.1, np.nan]), np.array([.12, -.08, .3]), labels=["A", "B", "C"],
                         x_label="log OR, ad3", y_label="log OR, somatic", r2=0.81, title="ad3 vs somatic")
    assert fig.data["points"]["label"].tolist() == ["A", "B"]
    texts = svg_texts(fig.svg)
    assert "ad3 vs somatic (R\u00b2 = 0.81)" in texts and "log OR, somatic" in texts
