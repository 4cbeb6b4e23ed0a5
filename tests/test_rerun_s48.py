"""Session 48 (privrerun5): a comparison left beside a release exported again is not silent.

``compare-releases A B`` writes ``compare/A_vs_B/``; no stage reruns it. A release rerun since (a
code fix, a config change, new inputs: ``run --release latest`` back-fills every release) publishes
a new export, and the comparison folder stayed as it was, its ``_disclosure.json`` still saying
``for_export: true``: its ``estimates.tsv`` showed the earlier export's ORs as the releases' own,
and neither the run nor ``trd-spark releases`` said a word. Stand-in releases (success markers and
manifests as a run writes them, tests/test_releases.py), no Spark.
"""

from __future__ import annotations

import json
import os
import shutil

import yaml

from trd_spark import pipeline
from trd_spark.cli import main
from trd_spark.config import load_config
from trd_spark.layout import EXPORT, MANIFEST, STAGES, SUCCESS, Layout
from trd_spark.pipeline import StageResult
from trd_spark.releases import LocalFs
from trd_spark.report.compare import COMPARE, DISCLOSURE, compared_exports, disclosure, out_of_date_comparisons

RELEASES = ("C2022Q4R9", "C2024Q3R5")


def _publish(root: str, release: str, export_run: str) -> None:
    """Every stage and the export complete, their manifests naming consistent run ids (a release
    `releases` lists as complete); the export's manifest names ``export_run``."""
    from trd_spark.stages import STAGE_SPECS

    for stage in (*STAGES, EXPORT):
        d = os.path.join(root, release, stage)
        os.makedirs(d, exist_ok=True)
        open(os.path.join(d, SUCCESS), "w").close()
    for stage, spec in STAGE_SPECS.items():
        manifest = {"run_id": f"{stage}-1" if stage != "report" else export_run,
                    "fingerprint_parts": {"upstream": {u: f"{u}-1" for u in spec.upstream}}}
        with open(os.path.join(root, release, stage, MANIFEST), "w") as f:
            json.dump(manifest, f)
    with open(os.path.join(root, release, EXPORT, MANIFEST), "w") as f:
        json.dump({"run_id": export_run, "release": release}, f)


def _compare(root: str) -> None:
    """The comparison folder as compare-releases publishes it: its ``_disclosure.json`` naming the
    two exports it read (``compared_exports``)."""
    fs = LocalFs()
    a, b = RELEASES
    folder = os.path.join(root, COMPARE, f"{a}_vs_{b}")
    os.makedirs(folder)
    compared = compared_exports(fs, Layout(root, a), Layout(root, b))
    with open(os.path.join(folder, "estimates.tsv"), "w") as f:
        f.write("model\tdataset\n")
    with open(os.path.join(folder, DISCLOSURE), "w") as f:
        json.dump(disclosure(True, 20, compared), f)


def test_a_comparison_of_an_earlier_export_is_named_by_releases_and_by_the_run_that_replaced_it(
        tmp_path, monkeypatch, capsys):
    inputs = tmp_path / "inputs"
    for r in RELEASES:
        (inputs / r).mkdir(parents=True)
    root = str(tmp_path / "results")
    cfg = load_config(None, overrides={"output_root": root, "releases": {"input_root": str(inputs)},
                                       "toy_data": None, "release": RELEASES[1]})
    for r in RELEASES:
        _publish(root, r, f"report-{r}-1")
    _compare(root)
    fs = LocalFs()
    assert out_of_date_comparisons(fs, root) == []  # the comparison of the current exports

    # C2024Q3R5 exported again (a rerun after a config change): the comparison read the earlier one.
    _publish(root, RELEASES[1], f"report-{RELEASES[1]}-2")
    lines = out_of_date_comparisons(fs, root)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{COMPARE}/{RELEASES[0]}_vs_{RELEASES[1]}/ is out of date: {RELEASES[1]} was "
                               f"exported again since (the comparison read its export of run report-{RELEASES[1]}-1, "
                               f"now report-{RELEASES[1]}-2)"), lines
    assert lines[0].endswith(f"rerun `trd-spark compare-releases {RELEASES[0]} {RELEASES[1]}`"), lines
    assert out_of_date_comparisons(fs, root, RELEASES[0]) == lines  # a release of the pair
    assert out_of_date_comparisons(fs, root, "C2099Q1R1") == []  # another release's run

    # `trd-spark releases` lists it below the release table.
    config = tmp_path / "c.yaml"
    raw = json.loads(json.dumps(cfg.model_dump(mode="json")))
    raw["phenotypes"]["concept_sets"] = cfg.phenotypes.concept_sets
    config.write_text(yaml.safe_dump(raw))
    monkeypatch.setattr("trd_spark.releases.outdated_stages", lambda _cfg, _fs: {})
    capsys.readouterr()
    assert main(["releases", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"comparisons:\n  {lines[0]}" in out, out

    # The run whose report stage published the new export says so: one counted WARNING, before the
    # summary (the stages stand in: the pipeline's no-Spark path returns what they did).
    monkeypatch.setattr(pipeline, "skip_all_without_spark",
                        lambda *_a, **_k: [StageResult("report", "ran", 1.0, {}, 0)])
    capsys.readouterr()
    assert main(["report", "--config", str(config), "--release", RELEASES[1]]) == 0
    err = capsys.readouterr().err
    assert f"WARNING trd_spark: {lines[0]}" in err, err[-3000:]
    assert "warnings: 1 in this run (1 outside stages)" in err, err[-3000:]
    # A run that published no export (report up to date, skipped) says nothing of it.
    monkeypatch.setattr(pipeline, "skip_all_without_spark",
                        lambda *_a, **_k: [StageResult("report", "skipped", 0.0, {}, 0)])
    capsys.readouterr()
    assert main(["report", "--config", str(config), "--release", RELEASES[1]]) == 0
    err = capsys.readouterr().err
    assert "is out of date" not in err and "warnings: 0 in this run" in err, err[-3000:]

    # An export gone incomplete (a report rerun under way) is named too; the comparison redone is current.
    os.remove(os.path.join(root, RELEASES[0], EXPORT, SUCCESS))
    assert f"{RELEASES[0]} has no complete export now" in out_of_date_comparisons(fs, root)[0]
    _publish(root, RELEASES[0], f"report-{RELEASES[0]}-1")
    shutil.rmtree(os.path.join(root, COMPARE))
    _compare(root)
    assert out_of_date_comparisons(fs, root) == []


def test_toy_data_stopped_midway_over_earlier_toy_data_leaves_no_truth_json(tmp_path, monkeypatch):
    """`trd-spark toy-data --out DIR` over earlier toy data removed the data folders first and wrote
    truth.json last, keeping the earlier one meanwhile: stopped midway (a kill, a full disk), the
    folder held the earlier truth.json beside partial data, and a run (``pipeline.ensure_toy_data``
    generates only without truth.json) read the partial files as that data set."""
    from trd_spark.toydata import generate, generate_toy_data

    out = tmp_path / "toy"
    generate_toy_data(str(out), persons=generate.MIN_PERSONS, variants=generate.MIN_VARIANTS, seed=1)
    assert (out / "truth.json").exists()

    def stopped(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(generate.omop, "generate_omop", stopped)
    try:
        generate_toy_data(str(out), persons=generate.MIN_PERSONS, variants=generate.MIN_VARIANTS, seed=1)
    except KeyboardInterrupt:
        pass
    assert not (out / "omop").exists()  # the earlier OMOP tables are gone, the new ones not written
    assert not (out / "truth.json").exists()
