"""README "Loading the outputs": the pandas, Spark and Hail snippets run as written on a small
release laid out by the pipeline's own Layout (paths, formats and key columns as published)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from trd_spark.layout import EXPORT, Layout
from trd_spark.schemas import ANALYSIS_FRAME_FIXED, LOGISTIC_RESULTS_COLUMNS

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = 'release = "out/toy/results/toy-r1"  # {output_root}/{release}'


def readme_snippets() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Loading the outputs\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def small_release(spark, hl, root: Path) -> Layout:
    layout = Layout(str(root), "toy-r1")
    logistic = pd.DataFrame([
        {c: None for c in LOGISTIC_RESULTS_COLUMNS} | {
            "dataset": ds, "definition": "ad3", "contrast": contrast, "pgs_id": "PGS1", "trait": "Insomnia",
            "domain": "sleep", "n": n, "n_cases": k, "beta": 0.1, "se": 0.05, "odds_ratio": 1.105, "ci_low": 1.0,
            "ci_high": 1.22, "p": 0.045, "p_bonferroni": 0.09, "q_fdr": 0.09, "converged": True, "note": ""}
        for ds, contrast, n, k in [("discovery", "trd_vs_nonmdd", 900, 120), ("discovery", "trmdd_vs_nonmdd", 950, 170),
                                   ("replication_wgs", "trd_vs_nonmdd", 60, 12)]
    ])
    Path(layout.stage_dir(EXPORT)).mkdir(parents=True)
    exported = logistic.assign(n=logistic["n"].astype(str), n_cases=["120", "170", "<20"])
    exported.to_csv(layout.file(EXPORT, "results.tsv"), sep="\t", index=False)
    Path(layout.stage_dir("models")).mkdir(parents=True)
    logistic.to_parquet(layout.table("models", "logistic"))
    frame = pd.DataFrame({"dataset": "discovery", "definition": "ad3", "person_id": [11, 12, 13, 14],
                          "status": ["TRD", "non_MDD", "non_MDD", "trMDD"], "ancestry": "eur",
                          "age": 50.0, "age_at_index": 45.0, "sex_female": 1, "time_to_trd_days": 0, "trd_event": 0, "PGS1": 0.1})
    assert set(ANALYSIS_FRAME_FIXED.names) <= set(frame.columns)
    spark.createDataFrame(frame).write.parquet(layout.table("cohort", "analysis_frame"))
    # The pgs stage's scores table (its Parquet, as published): the Hail snippet reads one dataset's rows.
    scores = pd.DataFrame({"dataset": ["discovery"] * 3 + ["replication_wgs"], "person_id": [11, 12, 11, 11],
                           "pgs_id": ["PGS1", "PGS1", "PGS2", "PGS1"], "score_sum": [1.5, 0.5, -1.0, 9.0]})
    spark.createDataFrame(scores).write.parquet(layout.table("pgs", "scores"))
    return layout


def test_readme_output_snippets_run(spark, hl, tmp_path):
    snippets = readme_snippets()
    assert len(snippets) == 3 and ASSIGNMENT in snippets[0]
    layout = small_release(spark, hl, tmp_path / "results")
    namespace: dict = {}
    code = "\n".join(snippets).replace(ASSIGNMENT, f"release = {layout.release_dir!r}")
    exec(compile(code, "README.md (Loading the outputs)", "exec"), namespace)  # noqa: S102 - the README's own code
    assert namespace["results"]["n_cases"].tolist() == ["120", "170", "<20"]  # suppression labels kept as text
    assert len(namespace["primary"]) == 1 and len(namespace["logistic"]) == 3
    counts = namespace["status_counts"].set_index("status")["count"].to_dict()
    assert counts == {"TRD": 1, "non_MDD": 2, "trMDD": 1}
    per_score = namespace["per_score"].set_index("pgs_id")["mean"].to_dict()
    assert per_score == {"PGS1": 1.0, "PGS2": -1.0}
