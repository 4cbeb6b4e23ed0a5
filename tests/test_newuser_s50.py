"""A new user's first hour, session 50 (reader): README's tables of what each stage writes, of the
shipped configs, of the config's top-level keys, of the checkout's folders and of the export's
files, checked against the code; and the report's Methods sentence on the Kaplan-Meier publication
rule against ``models.km.coarsen_km``. Pure Python: no Spark session."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def readme() -> str:
    return (REPO / "README.md").read_text()


def stage_table() -> dict[str, str]:
    """README "Stages and outputs": {stage: its `writes` cell}."""
    text = readme().split("| stage | engine | reads | writes |\n", 1)[1].split("\n\n", 1)[0]
    rows = [line.split(" | ") for line in text.splitlines()[1:]]
    return {row[0].strip("| `"): row[3] for row in rows}


def ticked(text: str) -> set[str]:
    return set(re.findall(r"`([^`]+)`", text))


def test_readme_stage_table_names_every_table_each_stage_writes():
    """on b1d6bac: the cohort row named `analysis_frame` and `cohort_counts`, not `dataset_flow`, which
    `trd-spark explain` lists and the report shows as a table (new user, session 50)."""
    from trd_spark.stages import STAGE_SPECS

    writes = stage_table()
    assert set(writes) == set(STAGE_SPECS)
    missing = {stage: [t for t in (*spec.tables, *spec.files) if t not in ticked(writes[stage])
                       and not t.endswith(".tsv") and t != "report.html"]
               for stage, spec in STAGE_SPECS.items()}
    assert {s: m for s, m in missing.items() if m} == {}


def test_readme_configuration_names_every_shipped_config_and_top_level_key():
    """on b1d6bac: the Configuration table left out conf/toy_releases.yaml (the toy releases README's
    demo runs) and "Top-level keys" left out `releases` and `logging`, both YAML keys of Config."""
    from trd_spark.config import Config

    section = readme().split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    table = section.split("| file | purpose |", 1)[1].split("\n\n", 1)[0]
    shipped = {f"conf/{p.name}" for p in (REPO / "conf").glob("*.yaml")}
    assert shipped - ticked(table) == set()
    keys = section.split("Top-level keys:", 1)[1]
    yaml_keys = {name for name, field in Config.model_fields.items() if not field.exclude}
    assert yaml_keys - ticked(keys) == set()


def test_readme_layout_names_every_folder_of_the_checkout():
    """on b1d6bac: Layout named no `benchmarks/` (RESULTS.md, which README cites throughout) or `docs/`
    (docs/scaling.md, cited for sizing), nor scripts/standalone_cluster.py."""
    block = readme().split("\n## Layout\n", 1)[1].split("```", 2)[1]
    not_source = {"out", "build", "dist"}
    folders = {p.name for p in REPO.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
               and p.name not in not_source and not p.name.endswith(".egg-info")}
    packages = {p.name for p in (REPO / "trd_spark").iterdir() if (p / "__init__.py").is_file()} - {"conf"}
    named = set(re.findall(r"^\s*([\w.]+)/", block, flags=re.M))
    assert (folders | packages) - named == set()
    scripts = {p.name for p in (REPO / "scripts").iterdir() if p.is_file()}
    assert [s for s in sorted(scripts) if s not in block] == []


def test_readme_export_files_table_matches_the_report():
    """on b1d6bac: no README text gave the columns of `match_rates.tsv` or `pgs_distribution.tsv`
    (which persons, whose SD, which quantiles), and none said which internal table each exported TSV
    holds; the table lists the files the stage table says the report writes, with the columns the
    code exports."""
    from trd_spark.report.stage import REPORT_MATCH_COLUMNS
    from trd_spark.report.tables import QUANTILE_LEVELS

    block = readme().split("<!-- export-files:start -->\n", 1)[1].split("<!-- export-files:end -->", 1)[0]
    rows = {row.split(" | ")[0].strip("| `"): row.split(" | ", 1)[1] for row in block.splitlines()[2:]}
    written = {f for f in ticked(stage_table()["report"]) if f.endswith((".tsv", ".html"))}
    assert set(rows) == written
    match = re.findall(r"`(\w+)`", rows["match_rates.tsv"])
    assert match == REPORT_MATCH_COLUMNS, match
    dist = re.findall(r"`(\w+)`", rows["pgs_distribution.tsv"])
    assert dist == ["dataset", "ancestry", "pgs_id", "n", "mean", "sd", *QUANTILE_LEVELS], dist


def test_methods_state_the_kaplan_meier_censored_rule():
    """on b1d6bac: the Methods' disclosure control said "Kaplan-Meier steps only with >= 20 events and
    at risk"; ``coarsen_km`` also publishes a step only when its censored persons are 0 or >= T, as the
    figure's caption says (the Methods are the text a paper copies)."""
    from trd_spark.config import load_config
    from trd_spark.report.stage import methods_html

    html = methods_html(load_config(), {}, 25)
    assert ("Kaplan-Meier steps only with &ge; 25 events, 0 or &ge; 25 censored persons and &ge; 25 still at "
            "risk") in html


def test_the_help_says_exit_7_is_every_release_complete_and_up_to_date():
    """``trd-spark --help``'s exit codes come from the errors' docstrings: exit 7 said "every release
    is complete" since session 37 made it complete and up to date (reader, session 50; on 048e101)."""
    from trd_spark.cli import exit_codes_help

    [line] = [x for x in exit_codes_help().splitlines() if "NothingToDo" in x]
    assert line.split()[0] == "7" and "every release is complete and up to date" in line, line
