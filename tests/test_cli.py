"""The command line as a user meets it: --version, described sub-commands with examples, the
exit codes in --help, check-config printing the resolved config. In-process, no Spark."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from identifier_guard import config_labels, identifiers_in
from installed import REPO, installed_env

import trd_spark
from trd_spark import errors
from trd_spark.cli import COMMANDS, build_parser, main
from trd_spark.config import DEFAULT_CONFIG, REPO_CONF_DIR


def help_text(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as e:
        main([*argv, "--help"])
    assert e.value.code == 0
    return capsys.readouterr().out


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    out = capsys.readouterr().out.strip()
    assert re.fullmatch(rf"trd-spark {re.escape(trd_spark.__version__)}(\+git\.\S+)?", out), out


def test_help_lists_every_exit_code_of_the_error_classes(capsys):
    out = help_text(capsys)
    codes = {int(m) for m in re.findall(r"^  (\d+) ", out, re.M)}
    declared = {c.exit_code for c in vars(errors).values()
                if isinstance(c, type) and issubclass(c, errors.TrdSparkError)}
    assert declared - {1} <= codes and {0, 1} <= codes
    assert "ConfigError" in out and "NothingToDo" in out and "130/143" in out


def test_help_says_which_exit_code_a_refused_directory_gives(capsys, tmp_path):
    """A release name over the file system's name limit is refused by the checks before the
    run starts, with exit 2 (ConfigError), while the help listed 'file name too long' under 9
    (StorageError) only: the lines for 2 and 9 now say which is which."""
    assert main(["run", "--release", "C" * 300, "--output-root", str(tmp_path / "out")]) == 2
    assert "ConfigError" in capsys.readouterr().err
    text = re.sub(r"\n {11}(?=\S)", " ", help_text(capsys))  # an exit code's wrapped text, joined
    lines = {int(m[1]): m[2] for m in re.finditer(r"^  (\d+) +(.*)$", text, re.M)}
    assert "a release name over the file system's name limit" in lines[2]
    assert "during a run" in lines[9] and "before the run starts" not in lines[9]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_a_description_examples_and_exit_codes(capsys, command):
    out = help_text(capsys, command)
    description, examples = COMMANDS[command]
    assert " ".join(description.split()[:6]) in " ".join(out.split())
    assert "examples:" in out and all(e in out for e in examples)
    assert "exit codes:" in out


def test_every_option_of_every_command_says_what_it_does(capsys):
    """--log-level was listed bare in every command's help (new-user trial, session 24): now each
    option of each command has its help text, and --log-level names its default."""
    import argparse

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    bare = [f"{name} {a.option_strings[0]}" for name, p in sub.choices.items() for a in p._actions
            if a.option_strings and a.help is None]
    assert bare == []
    assert "least severe log records shown on the console (default: INFO)" in " ".join(help_text(capsys, "run").split())
    assert "(default: WARNING)" in " ".join(help_text(capsys, "explain").split())


@pytest.mark.parametrize("command", ["run", "releases"])
def test_the_description_and_exit_codes_fit_the_terminal(capsys, monkeypatch, command):
    """The description and each exit code's text were single lines of up to 330 characters
    (new-user trial, session 24): wrapped to the terminal now (80 columns here), an exit code's
    text continuing under its text; the examples stay one line each (copied as they are)."""
    monkeypatch.setenv("COLUMNS", "80")
    out = help_text(capsys, command)
    description = out.split("\n\n")[1]
    codes = out[out.index("exit codes:"):]
    assert max(len(line) for line in (description + "\n" + codes).splitlines()) <= 78
    assert re.search(r"^  2        ConfigError: .*\n {11}\S", codes, re.M)
    assert all(f"\n  {e}\n" in out for e in COMMANDS[command][1])


def test_stage_commands_are_described_too(capsys):
    out = help_text(capsys, "models")
    assert "Run the models stage only" in out and "trd-spark models --config conf/aou.yaml --force" in out


def test_every_example_parses():
    """Each example is a valid command line for the parser (no stale option names)."""
    parser = build_parser()
    for _, examples in COMMANDS.values():
        for example in examples:
            words = [w for w in example.split() if "=" not in w or w.startswith("-")]
            assert words[0] == "trd-spark"
            parser.parse_args(words[1:])


def test_check_config_prints_paths_after_release_and_env_substitution(tmp_path, capsys, monkeypatch):
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["release"] = "C2024Q3R5"
    raw["output_root"] = "${TRD_TEST_BUCKET}/results"
    raw["omop"]["path"] = "${TRD_TEST_BUCKET}/{release}/omop"
    raw["datasets"][0]["genotypes"]["path"] = "data/{release}/discovery.vcf.bgz"  # relative to the config
    raw["pgs"]["trait_panel"] = str(REPO_CONF_DIR / "trait_panel_toy.yaml")
    raw["phenotypes"]["concept_sets"] = str(REPO_CONF_DIR / "concept_sets.yaml")
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("TRD_TEST_BUCKET", "gs://my-bucket")

    assert main(["check-config", "--config", str(config), "--release", "C2025Q1R1"]) == 0
    out = capsys.readouterr().out
    resolved = yaml.safe_load(out.split("# resolved config\n", 1)[1].split("\ntrait panel:", 1)[0])
    assert resolved["release"] == "C2025Q1R1"  # --release wins and is substituted everywhere
    assert resolved["output_root"] == "gs://my-bucket/results"
    assert resolved["omop"]["path"] == "gs://my-bucket/C2025Q1R1/omop"
    assert resolved["datasets"][0]["genotypes"]["path"] == str(tmp_path / "data" / "C2025Q1R1" / "discovery.vcf.bgz")
    assert resolved["covariates"]["n_pcs"] == raw["covariates"]["n_pcs"]
    assert "{release}" not in out and "${" not in out
    # The concept sets and panel are named by file, not dumped (the panel summary follows).
    assert resolved["phenotypes"]["concept_sets"] == str(REPO_CONF_DIR / "concept_sets.yaml")
    assert "concept_sets" not in resolved and "trait_panel" not in resolved


def test_check_config_names_an_unset_variable(tmp_path, capsys, monkeypatch):
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["output_root"] = "${TRD_TEST_UNSET_VAR}/results"
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(raw))
    monkeypatch.delenv("TRD_TEST_UNSET_VAR", raising=False)
    assert main(["check-config", "--config", str(config)]) == errors.ConfigError.exit_code
    err = capsys.readouterr().err
    assert "output_root: environment variable TRD_TEST_UNSET_VAR is not set" in err


# ------------------------------------------------------------------- installed from a wheel
# The wheel_install / installed_toy_run fixtures are in conftest.py (tests/installed.py).


def test_wheel_install_check_config_uses_the_shipped_config(wheel_install):
    venv, site_dir, work = wheel_install.venv, wheel_install.site_dir, wheel_install.work
    r = subprocess.run([str(venv / "bin" / "trd-spark"), "check-config"], cwd=work, capture_output=True, text=True,
                       timeout=300, env=installed_env())
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"config {site_dir / 'trd_spark' / 'conf' / 'toy.yaml'} is valid" in r.stdout
    resolved = yaml.safe_load(r.stdout.split("# resolved config\n", 1)[1].split("\ntrait panel:", 1)[0])
    # Data and outputs under ./out of the working directory, never inside site-packages.
    assert resolved["output_root"] == str(work / "out" / "toy" / "results")
    assert resolved["toy_data"]["dir"] == str(work / "out" / "toy" / "data")
    assert resolved["omop"]["path"] == str(work / "out" / "toy" / "data" / "omop")
    # The concept sets and trait panel are read from the package.
    assert resolved["phenotypes"]["concept_sets"] == str(site_dir / "trd_spark" / "conf" / "concept_sets.yaml")
    assert str(REPO) not in r.stdout


@pytest.mark.slow
def test_wheel_install_runs_the_toy_pipeline_to_the_report(installed_toy_run):
    """The shipped toy config, with small toy data (installed.PERSONS x VARIANTS), run by the
    installed console script from a directory outside the checkout."""
    r = installed_toy_run.result
    assert r.returncode == 0, r.stderr[-3000:]
    page = installed_toy_run.release / "report" / "report.html"
    assert page.exists()
    html = page.read_text()
    assert 'class="forest"' in html and 'class="attrition"' in html
    _check_progress_and_run_log(r.stdout, r.stderr, installed_toy_run.toy,
                                installed_toy_run.installed.work / "conf" / "small.yaml")


JVM_NOISE = ("NativeCodeLoader", "Setting default log level", "WARN ", "py4j", "UserWarning", "Java 11")


def _check_progress_and_run_log(stdout: str, stderr: str, toy: Path, config: Path) -> None:
    """Issue 18 on a real `trd-spark run` process (stdout/stderr not a terminal): stdout is the
    headline table alone; stderr has timed progress lines and ends with the report's path;
    the JVM's and libraries' output is in the run log, with DEBUG records and no identifier
    (a concept reference of ``config``'s concept sets, public vocabulary, is none:
    tests/identifier_guard.py)."""
    release = toy / "results" / "toy-r1"
    assert stdout.strip().startswith("Logistic regression, discovery"), stdout[:2000]
    assert not [w for w in JVM_NOISE if w in stdout or w in stderr], (stdout[:2000], stderr[-3000:])
    assert re.search(r"pgs: wrote scores, (?:<20|20\+) person-level rows, exact count not logged \(\d+\.\d s\)",
                     stderr), stderr[-3000:]
    for i, stage in enumerate(("pgs", "phenotypes", "cohort", "models", "report"), 1):
        assert re.search(rf"\[{i}/5\] {stage}: done in \d+\.\ds", stderr), stage
    assert not re.search(r"\r\[Stage \d+", stderr)  # Spark's progress bar: terminals only
    (log_file,) = (release / "logs").glob("*-run.log")
    assert stderr.splitlines()[-1].endswith(f"report: {release / 'report' / 'report.html'}"), stderr[-500:]
    assert f"run log: {log_file}" in stderr
    text = log_file.read_text()
    assert " DEBUG " in text and "Logistic regression, discovery" in text
    assert re.search(r" INFO    jvm: .*(NativeCodeLoader|Setting default log level)", text), text[:3000]
    assert text.splitlines()[-1].endswith("trd-spark run finished, exit code 0")
    # Hail's "built and tested with Java 11" warning is not logged: the summary's "warnings: 0"
    # holds for the whole log (session.start_session; the Java in use is an INFO line).
    assert "tested with Java 11" not in text and re.search(r"INFO .*Java 1[17] from ", text)
    ids = set(pd.read_parquet(toy / "data" / "omop" / "person.parquet").person_id.astype(str))
    assert identifiers_in(text, ids, config_labels(config)) == []


def test_check_config_warns_about_each_missing_input(tmp_path, capsys):
    """check-config validates values AND says which declared inputs `run` would stop on
    (found by a new-user pass: it said "valid" with exit 0, then run failed with exit 2)."""
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw.pop("toy_data")
    raw["ancestry"]["path"] = str(tmp_path / "no_such_ancestry.tsv")
    raw["pgs"]["trait_panel"] = str(REPO_CONF_DIR / "trait_panel_toy.yaml")
    raw["phenotypes"]["concept_sets"] = str(REPO_CONF_DIR / "concept_sets.yaml")
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(raw))
    assert main(["check-config", "--config", str(config)]) == 0
    out, err = capsys.readouterr()
    assert re.search(r"inputs: \d+ of the declared local inputs not found", out)
    assert re.search(r"WARNING .*input ancestry\.path: \S*no_such_ancestry\.tsv not found: .* exit 2", err), err


def test_every_option_says_what_it_is_and_stage_help_names_real_upstreams():
    """New-user trial, session 15: --config of explain, check-config, releases,
    compare-releases and download-scores had no help; toy-data's --persons / --variants /
    --seed showed no defaults; `pgs --help` said its upstream stages must be complete (it has none)."""
    from trd_spark.stages import STAGE_SPECS

    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, sub in commands.items():
        for action in sub._actions:
            if action.option_strings and action.dest not in ("help", "log_level"):
                assert action.help, f"{name} {action.option_strings[0]} has no help"
    toy = commands["toy-data"].format_help()
    for option, default in (("--persons", 3000), ("--variants", 2000), ("--seed", 42)):
        assert re.search(rf"{option} \w+ +[^\n]*(\n {{20,}}[^\n]*)*\(default: {default}\)", toy), (option, toy)
    for stage, spec in STAGE_SPECS.items():
        text = " ".join(commands[stage].format_help().split())
        if spec.upstream:
            assert f"its upstream stages ({', '.join(spec.upstream)}) must be complete" in text, text
        else:
            assert "upstream" not in text and "it reads no other stage's output" in text, text


def write_headline_fits(cfg, layout) -> list[dict]:
    """Two fits (PGS000001, PGS000002) of the discovery set's primary definition, TRD vs non-MDD,
    n 925 / 166 cases, OR 1.25 (1.01-1.55), p 0.0123, written as models/logistic (its folder made);
    returns the rows for ``publish_headline_export``. test_newuser_s35's and
    test_review_s47_mutants' headline cases."""
    discovery = next(d.name for d in cfg.datasets if d.role == "discovery")
    rows = [{"dataset": discovery, "definition": cfg.phenotypes.primary_definition, "contrast": "trd_vs_nonmdd",
             "pgs_id": p, "trait": "t", "domain": "d", "n": 925, "n_cases": 166, "odds_ratio": 1.25,
             "ci_low": 1.01, "ci_high": 1.55, "p": 0.0123} for p in ("PGS000001", "PGS000002")]
    Path(layout.table("models", "logistic")).mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(Path(layout.table("models", "logistic")) / "part-0.parquet")
    return rows


def publish_headline_export(layout, export: list[dict]) -> None:
    """What ``cli.headline_table`` reads beside models/logistic (published by the caller, its
    folder made): models' manifest (run m1), a report manifest made on that models run, and an
    export of ``export`` rows (results.tsv) marked complete. Also test_privacy_s34's."""
    import json

    Path(layout.stage_dir("models"), "_manifest.json").write_text(json.dumps({"run_id": "m1"}))
    Path(layout.stage_dir("report")).mkdir(parents=True)
    Path(layout.stage_dir("report"), "_manifest.json").write_text(
        json.dumps({"run_id": "r1", "fingerprint_parts": {"upstream": {"models": "m1"}}}))
    Path(layout.stage_dir("export")).mkdir(parents=True)
    pd.DataFrame(export).to_csv(layout.file("export", "results.tsv"), sep="\t", index=False)
    Path(layout.stage_dir("export"), "_SUCCESS").write_text("")


def test_headline_shows_no_estimate_the_export_does_not_show(tmp_path):
    """The headline table (console and run log) leaves out the OR, CI and p of a fit with
    1..T-1 cases or controls: its CI gives the count back, as the export's rule says
    (``report.tables.hide_estimates_of_hidden_counts``). Session 18 review: it printed the
    internal models/logistic row whatever its counts. Privacy round 8: also of a fit whose counts
    (20 or more) the export hides to protect a small one, which the report's audit decides:
    before the report has run on the current models output, no estimate is shown (a run log
    is pasted into tickets; the headline printed PGS000005's estimates, hidden in the export)."""
    import json

    from trd_spark.cli import headline_table
    from trd_spark.config import load_config
    from trd_spark.layout import Layout

    cfg = load_config(DEFAULT_CONFIG)
    cfg = cfg.model_copy(update={"output_root": str(tmp_path)})
    layout = Layout.of(cfg)
    discovery = next(d.name for d in cfg.datasets if d.role == "discovery")
    definition = cfg.phenotypes.primary_definition
    rows = [{"dataset": discovery, "definition": definition, "contrast": "trd_vs_nonmdd",
             "pgs_id": pgs_id, "trait": "t", "domain": "d", "n": n, "n_cases": n_cases, "odds_ratio": 1.25,
             "ci_low": 1.01, "ci_high": 1.55, "p": 0.0 if pgs_id == "PGS000006" else 0.0123}
            for pgs_id, n, n_cases in (("PGS000001", 900, 100), ("PGS000002", 107, 7), ("PGS000003", 119, 100),
                                       ("PGS000004", 900, 0), ("PGS000005", 900, 100), ("PGS000006", 900, 100))]
    path = Path(layout.table("models", "logistic"))
    path.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(path / "part-0.parquet")

    def headline() -> dict[str, str]:
        return {line.split()[0]: line for line in headline_table(None, cfg, None).splitlines()[2:]}

    def small(lines: dict[str, str], text: str) -> None:
        # 7 cases; 19 controls: the line says no more than of any fit not shown (test_privacy_s34)
        for pgs_id in ("PGS000002", "PGS000003"):
            assert lines[pgs_id].endswith(f"not shown: {text}") and "1.25" not in lines[pgs_id]

    small(lines := headline(), "the report not run")  # no export: no estimate
    assert not any("1.25" in line for line in lines.values()), lines
    assert lines["PGS000001"].endswith("not shown: the report not run")
    export = [{**r, "odds_ratio": "1.25" if r["pgs_id"] in ("PGS000001", "PGS000004", "PGS000006") else ""}
              for r in rows]
    publish_headline_export(layout, export)
    small(lines := headline(), "hidden in the export")
    assert "1.25" in lines["PGS000001"] and "(1.01-1.55)" in lines["PGS000001"] and "0.012" in lines["PGS000001"]
    assert "1.25" in lines["PGS000004"]  # a group of 0 is no small count (the fit failed or is empty)
    assert lines["PGS000005"].endswith("not shown: hidden in the export") and "1.25" not in lines["PGS000005"]
    # An underflowed p (0.0: the normal tail from |z| ~37.7 on, reached at All of Us scale) reads as
    # the report's "<1e-300", in the p column's width (it printed "0").
    assert lines["PGS000006"].endswith(" <1e-300") and len(lines["PGS000006"]) == len(lines["PGS000001"])
    # An export of an earlier models run (the models reran, the report not yet): no estimate.
    Path(layout.stage_dir("models"), "_manifest.json").write_text(json.dumps({"run_id": "m2"}))
    assert all("1.25" not in line for line in headline().values())


def test_every_command_that_may_start_spark_takes_master():
    """README's common options include `--master URL`: every command that may start Spark (a
    stage, run, and those reading gs:// / hdfs:// outputs: explain, releases, compare-releases)
    accepts it, and it reaches the config (explain and releases refused it, exit 2)."""
    from trd_spark.cli import _load

    parser = build_parser()
    for words in (["run"], ["pgs"], ["explain"], ["releases"], ["compare-releases", "a", "b"]):
        args = parser.parse_args([*words, "--config", str(DEFAULT_CONFIG), "--master", "local[1]"])
        assert _load(args).spark.master == "local[1]", words
