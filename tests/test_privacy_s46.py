"""Session 46 (privrerun3): recoverable small counts across publications.

- C3: compare-releases' ``_disclosure.json`` did not name the exports it compared, and a
  comparison of other exports (B re-exported since) replaced ``compare/A_vs_B/`` audited alone:
  its ``n_both`` (persons scored in both releases, the one count of a comparison that no export
  shows) against the earlier comparison's gave the participants withdrawn between them (480, then
  473: 7). The record now names both exports (release, run id, SHA-256 of the export manifest), a
  comparison of other exports keeps the one it replaces in ``compare_history/`` and ``n_both`` is
  audited against every earlier comparison published for export (``compare.published_pair_counts``,
  ``pair_counts_audit``'s ``prior``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

T = 20


def _counts(n_both: int) -> pd.DataFrame:
    """One dataset and score: 500 persons scored in A, 600 in B (both reports show them)."""
    return pd.DataFrame({"dataset": ["d"], "pgs_id": ["P1"], "n_a": [500], "n_b": [600], "n_both": [n_both],
                         "scored_a": [500], "scored_b": [600], "shown_a": [True], "shown_b": [True]})


def test_c3_n_both_is_audited_against_an_earlier_comparisons_n_both():
    """473 persons of A in B, alone: A only 27, B only 127, shown. With an earlier comparison
    (of B's export before 7 withdrawn participants left it) showing 480 for the same dataset and
    score, the 473 gave the 7: it is hidden now (``suppressed``), and an earlier 473 or 493 (a
    change of 0 or 20) hides nothing. On d099127 there is no way to pass an earlier comparison
    (``pair_counts_audit`` absent: ImportError), and every comparison was audited alone."""
    from trd_spark.report.compare import pair_counts_audit

    def prior(n: int) -> pd.DataFrame:
        return pd.DataFrame({"dataset": ["d"], "pgs_id": ["P1"], "n_both": [n], "source": ["toy-r1_vs_toy-r2@x"]})

    assert list(pair_counts_audit(_counts(473), T)[0]) == [473]
    shown, pinned = pair_counts_audit(_counts(473), T, prior(480))
    assert list(shown) == ["suppressed"] and not pinned
    assert list(pair_counts_audit(_counts(473), T, prior(473))[0]) == [473]
    assert list(pair_counts_audit(_counts(473), T, prior(493))[0]) == [473]
    other = prior(480).assign(pgs_id="P2")  # another score's count is another group: not linked
    assert list(pair_counts_audit(_counts(473), T, other)[0]) == [473]


def _export(root: Path, release: str, run_id: str) -> None:
    folder = root / release / "export"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "_manifest.json").write_text(json.dumps({"run_id": run_id, "release": release,
                                                       "small_count_threshold": T}))
    (folder / "_SUCCESS").write_text("")


def test_c3_disclosure_names_the_compared_exports_and_a_comparison_of_others_keeps_the_one_it_replaces(
        spark, tmp_path, monkeypatch):
    """``compare_releases_job`` (its check and comparison stand-ins giving n_both 480, then 473;
    Spark's file system as the CLI's) on toy-r1 and toy-r2: ``_disclosure.json`` names both
    exports; rerun on the same exports it keeps nothing (the same counts) and the earlier
    comparison is no prior; after toy-r2 is re-exported (another run id) the rerun keeps the
    earlier comparison in ``compare_history/toy-r1_vs_toy-r2/<digest>/`` and its 480 is a prior of
    every later comparison, while the current folder's 473 is none for a rerun on the same exports.
    On d099127 ``_disclosure.json`` held for_export, threshold and note only (KeyError
    ``compared_exports``), and the earlier comparison was replaced with nothing kept."""
    from trd_spark.config import load_config
    from trd_spark.io import LocalFs
    from trd_spark.report import compare

    root = tmp_path / "out"
    cfg = load_config(None, overrides={"output_root": str(root)})
    _export(root, "toy-r1", "run-1")
    _export(root, "toy-r2", "run-a")
    made = {"n": 480}

    def tables():
        return {"cohort_sizes": pd.DataFrame({"definition": ["all"], "step_order": [0], "step": ["genotyped"],
                                              "n_a": ["1000"], "n_b": ["1040"], "change": ["40"]}),
                "pgs_correlation": pd.DataFrame({"dataset": ["d"], "pgs_id": ["P1"], "n_both": [made["n"]],
                                                 "correlation": [0.99]}),
                "estimates": pd.DataFrame({"ci_overlap": pd.Series([], dtype=object)})}

    monkeypatch.setattr(compare, "check_comparable", lambda *args, **kwargs: None)
    monkeypatch.setattr(compare, "compare_releases", lambda *args: (tables(), (), T))
    monkeypatch.setattr("trd_spark.session.command_session", lambda settings: spark)
    monkeypatch.setattr("trd_spark.stages.check_spark_reads", lambda spark, cfg: None)
    out = root / "compare" / "toy-r1_vs_toy-r2"
    history = root / "compare_history" / "toy-r1_vs_toy-r2"
    fs = LocalFs()

    compare.compare_releases_job(cfg, "toy-r1", "toy-r2")
    first = json.loads((out / "_disclosure.json").read_text())
    named = first["compared_exports"]
    assert [(named[t]["release"], named[t]["run_id"]) for t in "ab"] == [("toy-r1", "run-1"), ("toy-r2", "run-a")]
    assert len(named["b"]["manifest_sha256"]) == 64
    assert compare.published_pair_counts(fs, str(root), named).empty  # the same exports: its own counts
    compare.compare_releases_job(cfg, "toy-r1", "toy-r2")  # the same exports again: nothing kept
    assert not history.exists()

    _export(root, "toy-r2", "run-b")  # toy-r2 re-exported (7 withdrawn)
    made["n"] = 473
    now = compare.compared_exports(fs, compare.Layout(str(root), "toy-r1"), compare.Layout(str(root), "toy-r2"))
    assert now != named
    assert list(compare.published_pair_counts(fs, str(root), now)["n_both"]) == [480]  # the folder still there
    compare.compare_releases_job(cfg, "toy-r1", "toy-r2")
    kept = [p for p in history.iterdir() if not p.name.startswith(".")]
    assert len(kept) == 1 and json.loads((kept[0] / "_disclosure.json").read_text()) == first
    assert "\t480\t" in (kept[0] / "pgs_correlation.tsv").read_text()
    assert json.loads((out / "_disclosure.json").read_text())["compared_exports"] == now
    prior = compare.published_pair_counts(fs, str(root), now)  # the kept one only: the current is these exports'
    assert list(prior["n_both"]) == [480] and prior["source"].iloc[0].startswith("toy-r1_vs_toy-r2@")
