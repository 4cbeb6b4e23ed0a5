"""Session 49 (privrerun6): an out-of-date comparison says so in its ``_disclosure.json``.

Session 48 made a comparison left beside a re-exported release named by a WARNING and by
``trd-spark releases``, but its ``_disclosure.json`` still said ``for_export: true`` (what a user's
export tool or a reviewer reads), and it was judged by the digest of the export's
``_manifest.json``: any report rerun (a new run id, the same tables) made it out of date, and a
pgs rerun (other ``n_both`` and correlations, not one exported byte changed) did not. Now it is
judged by what its numbers come from (``compare.compared_inputs``) and marked not for export when
out of date, while the privacy audits still count it among what was published. Stand-in releases
(success markers, manifests and the exported tables a comparison reads), no Spark.
"""

from __future__ import annotations

import json
import os

import yaml

from trd_spark import pipeline
from trd_spark.cli import main
from trd_spark.config import load_config
from trd_spark.layout import EXPORT, MANIFEST, STAGES, SUCCESS, Layout
from trd_spark.pipeline import StageResult
from trd_spark.releases import LocalFs
from trd_spark.report import compare

A, B = "C2022Q4R9", "C2024Q3R5"
TABLES = {"cohort_flow.tsv": "definition\tstep_order\tstep\tn\nall\t0\tgenotyped\t1000\n",
          "results.tsv": "dataset\tdefinition\tcontrast\tpgs_id\todds_ratio\tci_low\tci_high\tp\n"
                         "d\tdsm5\ttrd_vs_nonmdd\tP1\t1.2\t1.1\t1.3\t0.001\n"}


def _publish(root: str, release: str, runs: dict[str, str], tables: dict[str, str] = TABLES,
             threshold: int = 20) -> None:
    """Every stage and the export complete, each manifest naming its run id (``runs``: stage ->
    run id, "run-1" by default; the export's is the report's) and the export holding ``tables``."""
    from trd_spark.stages import STAGE_SPECS

    ids = {s: runs.get(s, f"{s}-1") for s in STAGES}
    for stage in (*STAGES, EXPORT):
        d = os.path.join(root, release, stage)
        os.makedirs(d, exist_ok=True)
        open(os.path.join(d, SUCCESS), "w").close()
    for stage, spec in STAGE_SPECS.items():
        manifest = {"run_id": ids[stage], "fingerprint_parts": {"upstream": {u: ids[u] for u in spec.upstream}}}
        with open(os.path.join(root, release, stage, MANIFEST), "w") as f:
            json.dump(manifest, f)
    for name, text in tables.items():
        with open(os.path.join(root, release, EXPORT, name), "w") as f:
            f.write(text)
    with open(os.path.join(root, release, EXPORT, MANIFEST), "w") as f:
        json.dump({"run_id": ids["report"], "release": release, "small_count_threshold": threshold}, f)


def _disclosure(root: str) -> dict:
    with open(os.path.join(root, compare.COMPARE, f"{A}_vs_{B}", compare.DISCLOSURE)) as f:
        return json.load(f)


def write_comparison(root: str, *, for_export: bool = True) -> dict:
    """A comparison of A and B under ``root`` as compare-releases publishes it (compare_releases_job's
    record, n_both 480): pgs_correlation.tsv and its ``_disclosure.json``, returned."""
    fs = LocalFs()
    la, lb = Layout(root, A), Layout(root, B)
    folder = os.path.join(root, compare.COMPARE, f"{A}_vs_{B}")
    os.makedirs(folder)
    with open(os.path.join(folder, "pgs_correlation.tsv"), "w") as f:
        f.write("dataset\tpgs_id\tn_both\tcorrelation\nd\tP1\t480\t0.99\n")
    made = compare.disclosure(for_export, 20, compare.compared_exports(fs, la, lb),
                              inputs=compare.compared_inputs(fs, la, lb))
    with open(os.path.join(folder, compare.DISCLOSURE), "w") as f:
        json.dump(made, f)
    return made


def test_an_out_of_date_comparison_is_marked_not_for_export_and_still_audited(tmp_path, monkeypatch, capsys):
    root = str(tmp_path / "results")
    for r in (A, B):
        _publish(root, r, {})
    fs = LocalFs()
    made = write_comparison(root)
    assert compare.out_of_date_comparisons(fs, root) == []

    # B's report rerun (a figure's fix): a new run id and export manifest, the same tables and
    # threshold. The comparison's numbers are those of the releases now: not out of date (before: it was).
    _publish(root, B, {"report": "report-2"})
    assert compare.out_of_date_comparisons(fs, root) == []
    assert compare.mark_out_of_date_comparisons(fs, root, B) == [] and _disclosure(root) == made
    # The same tables under a stricter threshold: the comparison's labels and audit would differ.
    _publish(root, B, {"report": "report-3"}, threshold=25)
    assert f"{B} was exported again since" in " ".join(compare.out_of_date_comparisons(fs, root))
    _publish(root, B, {"report": "report-2"})

    # B's pgs stage rerun: n_both and the correlations may change, no exported byte does (the
    # report not yet rerun: the release is stale, but the comparison folder is there all the same).
    _publish(root, B, {"pgs": "pgs-2", "report": "report-2"})
    lines = compare.out_of_date_comparisons(fs, root)
    assert len(lines) == 1 and (f"{B}'s pgs stage was rerun since (the comparison read its output of run pgs-1, "
                                "now pgs-2)") in lines[0], lines
    assert compare.out_of_date_comparisons(fs, root, B) == lines == compare.out_of_date_comparisons(fs, root, A)

    # The run of B's pgs stage marks it (pipeline.run_stage calls this after each stage): not for
    # export now, for export when made, why. A stage a comparison does not read marks nothing.
    cfg = load_config(None, overrides={"output_root": root, "release": B, "toy_data": None,
                                       "releases": {"input_root": str(tmp_path / "inputs")}})
    pipeline.mark_comparisons(None, cfg, "models")
    assert _disclosure(root) == made
    pipeline.mark_comparisons(None, cfg, "pgs")
    marked = _disclosure(root)
    assert marked["for_export"] is False and marked[compare.WAS_FOR_EXPORT] is True, marked
    assert marked[compare.OUT_OF_DATE] == [lines[0].split("is out of date: ")[1].split("; its tables")[0]], marked
    assert marked["note"].startswith("OUT OF DATE, NOT FOR EXPORT: "), marked
    assert {k: marked[k] for k in made if k not in ("for_export", "note")} == {
        k: v for k, v in made.items() if k not in ("for_export", "note")}
    assert compare.mark_out_of_date_comparisons(fs, root, B) == []  # marked once
    # Still counted among what was published: a later comparison of other exports is audited
    # against its 480 (and compare-releases keeps it in compare_history/ when replacing it).
    other = {t: {**v, "run_id": "other"} for t, v in made[compare.COMPARED_EXPORTS].items()}
    assert list(compare.published_pair_counts(fs, root, other)["n_both"]) == [480]
    assert compare.was_published(marked)
    # Marked, it stays out of date even where the outputs are again those it read: only
    # compare-releases redoes it.
    _publish(root, B, {"report": "report-2"})
    assert compare.out_of_date_comparisons(fs, root) == lines

    # The run that reran only B's pgs stage says so: one counted WARNING (before: only a run that
    # published an export did).
    _publish(root, B, {"pgs": "pgs-2", "report": "report-2"})
    config = tmp_path / "c.yaml"
    raw = json.loads(json.dumps(cfg.model_dump(mode="json")))
    raw["phenotypes"]["concept_sets"] = cfg.phenotypes.concept_sets
    config.write_text(yaml.safe_dump(raw))
    # The stage stands in (the pipeline's no-Spark path returns what it did), and so do its genotype inputs.
    monkeypatch.setattr(pipeline, "skip_all_without_spark", lambda *_a, **_k: [StageResult("pgs", "ran", 1.0, {}, 0)])
    monkeypatch.setattr("trd_spark.preflight.check_inputs", lambda *_a, **_k: None)
    capsys.readouterr()
    assert main(["pgs", "--config", str(config), "--release", B]) == 0
    err = capsys.readouterr().err
    assert f"WARNING trd_spark: {lines[0]}" in err, err[-3000:]
    assert "warnings: 1 in this run (1 outside stages)" in err, err[-3000:]


def test_a_pgs_rerun_publishing_while_the_comparison_is_computed_leaves_it_out_of_date(spark, tmp_path,
                                                                                          monkeypatch):
    """compare-releases holds the export lock, which keeps the exports still, not the pgs or
    phenotypes outputs (their stages do not take it). Its record of what the numbers come from
    was read after the tables were computed: a pgs rerun of B publishing meanwhile (tables from
    pgs-1's scores, or a mix) was recorded as pgs-2, and the comparison never read as out of
    date. Read before, it does. The tables stand in (test_privacy_s46's way); Spark's file system
    writes the folder as the CLI's does."""
    import pandas as pd

    root = str(tmp_path / "results")
    for r in (A, B):
        _publish(root, r, {})
    cfg = load_config(None, overrides={"output_root": root})

    def computed(*_args):
        _publish(root, B, {"pgs": "pgs-2"})  # B's pgs stage publishes while the scores are read
        return ({"cohort_sizes": pd.DataFrame({"definition": ["all"], "step_order": [0], "step": ["genotyped"],
                                               "n_a": ["1000"], "n_b": ["1040"], "change": ["40"]}),
                 "pgs_correlation": pd.DataFrame({"dataset": ["d"], "pgs_id": ["P1"], "n_both": [480],
                                                  "correlation": [0.99]}),
                 "estimates": pd.DataFrame({"ci_overlap": pd.Series([], dtype=object)})}, (), 20)

    monkeypatch.setattr(compare, "check_comparable", lambda *args, **kwargs: None)
    monkeypatch.setattr(compare, "compare_releases", computed)
    monkeypatch.setattr("trd_spark.session.command_session", lambda settings: spark)
    monkeypatch.setattr("trd_spark.stages.check_spark_reads", lambda spark, cfg: None)
    compare.compare_releases_job(cfg, A, B)
    assert _disclosure(root)[compare.COMPARED_INPUTS]["b"]["pgs"] == "pgs-1"
    lines = compare.out_of_date_comparisons(LocalFs(), root)
    assert len(lines) == 1 and f"{B}'s pgs stage was rerun since" in lines[0], lines
