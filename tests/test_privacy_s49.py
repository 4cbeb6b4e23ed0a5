"""Session 49 (privrerun6): recoverable small counts, round 6.

compare-releases audits ``pgs_correlation.tsv``'s ``n_both`` (persons scored in both releases, the
one count of a comparison no export shows) against every comparison published before it
(``compare.published_pair_counts``, session 46), but only under its own output root, while each
export is audited also against the exports of ``report.audit_output_roots``: r1 vs r2 compared in
an old bucket (480 persons of r1 in r2), the pair rerun in a new bucket that names the old one
there, without 7 withdrawn participants (473), and the two comparisons gave the 7.
"""

from __future__ import annotations

import json
import os
import types

import pandas as pd
import pytest

from trd_spark.config import load_config
from trd_spark.errors import ConfigError
from trd_spark.layout import EXPORT, MANIFEST, SUCCESS
from trd_spark.releases import LocalFs
from trd_spark.report import compare

A, B = "r1", "r2"
FLOW = "definition\tstep_order\tstep\tn\nall\t0\tgenotyped\t1000\n"


def _release(root: str, release: str, run: str) -> None:
    """A release's export as compare-releases reads it (cohort flow, threshold, run id)."""
    d = os.path.join(root, release, EXPORT)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "cohort_flow.tsv"), "w") as f:
        f.write(FLOW)
    with open(os.path.join(d, MANIFEST), "w") as f:
        json.dump({"run_id": run, "release": release, "small_count_threshold": 20}, f)
    open(os.path.join(d, SUCCESS), "w").close()


def test_n_both_is_audited_against_the_comparisons_of_the_audited_output_roots(tmp_path, monkeypatch):
    old, new = str(tmp_path / "old"), str(tmp_path / "new")
    for r in (A, B):
        _release(old, r, f"{r}-old")
        _release(new, r, f"{r}-new")
    # The old bucket's published comparison of the pair: 480 persons of r1 scored in r2.
    folder = os.path.join(old, compare.COMPARE, f"{A}_vs_{B}")
    os.makedirs(folder)
    with open(os.path.join(folder, "pgs_correlation.tsv"), "w") as f:
        f.write("dataset\tpgs_id\tn_both\tcorrelation\nd\tP1\t480\t0.99\n")
    fs = LocalFs()
    with open(os.path.join(folder, compare.DISCLOSURE), "w") as f:
        json.dump(compare.disclosure(True, 20, compare.compared_exports(fs, compare.Layout(old, A),
                                                                         compare.Layout(old, B))), f)

    # compare_releases in the new bucket, its Spark reads standing in: what n_both's audit is given.
    flow = pd.DataFrame({"definition": ["all"], "step_order": [0], "step": ["genotyped"], "n": [1000]})
    seen = {}

    def audited(scores_a, scores_b, threshold, shown, prior, **_):
        seen["prior"] = prior
        return pd.DataFrame({"dataset": ["d"], "pgs_id": ["P1"], "n_both": [473], "correlation": [0.99]}), False

    monkeypatch.setattr(compare, "Fs", lambda spark: fs)
    monkeypatch.setattr(compare, "read_table", lambda spark, path: types.SimpleNamespace(toPandas=lambda: flow))
    monkeypatch.setattr(compare, "score_correlation_audited", audited)
    spark = types.SimpleNamespace(read=types.SimpleNamespace(parquet=lambda path: path))

    cfg = load_config(None, overrides={"output_root": new, "report": {"audit_output_roots": [old]}})
    compare.compare_releases(spark, cfg, A, B)
    prior = seen["prior"]
    assert list(prior["n_both"]) == [480], prior  # before: empty (the own root holds no comparison)
    assert prior["source"].iloc[0] == f"{A}_vs_{B} (report.audit_output_roots[0])"
    # The audit links them: 473 beside 480 gives 7, so n_both is hidden (shown without that prior).
    counts = pd.DataFrame({"dataset": ["d"], "pgs_id": ["P1"], "n_a": [600], "n_b": [650], "n_both": [473]})
    assert list(compare.pair_counts_audit(counts, 20, prior)[0]) == ["suppressed"]
    assert list(compare.pair_counts_audit(counts, 20, prior.iloc[:0])[0]) == [473]

    # Without the key, the own root only (as before); a root named there holding no export is one
    # ConfigError naming the key, as the report stage's.
    compare.compare_releases(spark, load_config(None, overrides={"output_root": new}), A, B)
    assert seen["prior"].empty
    empty = tmp_path / "typo"
    empty.mkdir()
    cfg = load_config(None, overrides={"output_root": new, "report": {"audit_output_roots": [str(empty)]}})
    with pytest.raises(ConfigError, match=r"report\.audit_output_roots: .*typo holds no export"):
        compare.compare_releases(spark, cfg, A, B)
