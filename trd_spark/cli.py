"""`trd-spark` command line: run the pipeline, one stage, or make toy data.

Exit codes: 0 done; 1 unexpected failure; 2 config error; 3 input data error; 4 match-rate
failure; 5 model error; 6 locked (another run holds the release); 7 nothing to do (`run
--release latest` when every release is complete and up to date); 8 download failed; 9 file system error
(disk full, name too long: one line with the path); 130 / 143 interrupted by SIGINT / SIGTERM
(nothing partial published, lock released, Spark stopped; rerunning resumes). See
trd_spark.errors.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import errno
import functools
import logging
import math
import os
import re
import shlex
import signal
import sys
import textwrap
import threading
import time
import warnings
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from trd_spark.config import is_uri
from trd_spark.errors import Interrupted, LockedError, NothingToDo, StorageError, TrdSparkError, input_error_of
from trd_spark.layout import STAGES

if TYPE_CHECKING:
    from collections.abc import Callable

    from trd_spark.logs import RunLog, WarningCounter

log = logging.getLogger("trd_spark")

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# File system faults outside the pipeline's control: one StorageError line with the path.
_STORAGE_ERRNOS = (errno.ENOSPC, errno.ENAMETOOLONG, errno.EROFS, errno.EDQUOT, errno.EACCES)


# Per sub-command: (description, examples). Shown by `trd-spark COMMAND --help`.
COMMANDS = {
    "run": ("Run every stage in order (pgs, phenotypes, cohort, models, report), skipping stages whose outputs "
            "are complete for the same code, config and inputs (`trd-spark explain` says why one reruns). Without "
            "--config: the embedded toy config; toy data are generated on first use.",
            ["trd-spark run", "trd-spark run --config conf/toy_releases.yaml --release latest",
             "trd-spark run --config conf/aou.yaml --stages models report --force"]),
    "explain": ("What each stage reads and writes, and whether (and why) `run` would rerun it.",
                ["trd-spark explain --config conf/aou.yaml", "trd-spark explain --stage models"]),
    "toy-data": ("Write deterministic toy data: VCFs, PGS Catalog scoring files, OMOP tables, ancestry file and "
                 "truth.json (the planted effects).",
                 ["trd-spark toy-data --out /tmp/toy --persons 3000 --variants 2000 --seed 42"]),
    "releases": ("List the releases under releases.input_root, oldest first, each complete / outdated (complete, "
                 "but `run` would rerun a stage: code, config or an input changed since; the stages and the first "
                 "one's reasons below it) / partial / stale (outputs computed from an upstream output republished "
                 "since: run again) / not run / running (locked). A complete release is judged as `run --release "
                 "latest` judges it, with its own config (inputs fingerprinted as `run` does; Spark starts for "
                 "gs:// / hdfs:// inputs or outputs); `trd-spark explain --release R` gives every reason.",
                 ["trd-spark releases --config conf/toy_releases.yaml",
                  "trd-spark explain --config conf/aou_releases.yaml --release C2024Q3R5"]),
    "compare-releases": ("Compare two releases: cohort sizes, per-PGS correlation for persons in both, ORs/HRs "
                         "side by side (TSVs under {output_root}/compare/A_vs_B/).",
                         ["trd-spark compare-releases toy-r1 toy-r2 --config conf/toy_releases.yaml",
                          "trd-spark compare-releases C2022Q4R9 C2024Q3R5 --config conf/aou_releases.yaml"]),
    "check-config": ("Validate a config (and the concept sets and trait panel it names) and print it resolved: "
                     "{release} and ${VAR} substituted, relative paths made absolute against the config's "
                     "directory, defaults filled in; then the trait panel per domain, and a WARNING per declared local "
                     "input that matches no file (run would stop on it). Starts no Spark.",
                     ["trd-spark check-config", "WORKSPACE_BUCKET=gs://b trd-spark check-config --config conf/aou.yaml",
                      "trd-spark check-config --config conf/aou_releases.yaml --release C2024Q3R5"]),
    "download-scores": ("Fetch the trait panel's harmonised scoring files from the PGS Catalog (md5-verified, files "
                        "already present are skipped) into pgs.download.directory.",
                        ["trd-spark download-scores --config conf/aou.yaml"]),
    "java": ("Print the JAVA_HOME the pipeline uses (system Java 11/17, else the bundled runtime).",
             ["trd-spark java"]),
}
STAGE_HELP = {
    "pgs": "Hail: match the scoring files to each dataset's genotypes and compute every PGS",
    "phenotypes": "Spark: MDD, antidepressant trials, TRD / trMDD per definition and the cohort flow from OMOP",
    "cohort": "Spark: join PGS, phenotypes, ancestry/PCs; drop related samples; standardise the PGS",
    "models": "statsmodels / lifelines: logistic and Cox models, replication, meta-analysis, Kaplan-Meier",
    "report": "the self-contained report.html and the suppressed TSVs (report/ and export/)",
}


def exit_codes_help() -> str:
    """The exit codes, from the exception classes in trd_spark.errors (one source of truth)."""
    from trd_spark import errors

    def subclasses(cls: type[errors.TrdSparkError]) -> list[type[errors.TrdSparkError]]:
        return [c for sub in cls.__subclasses__() for c in (sub, *subclasses(sub))]

    lines = ["exit codes:", "  0        done", "  1        unexpected failure (a bug: the traceback is logged)"]
    for cls in sorted({c for c in subclasses(errors.TrdSparkError) if c.__module__ == errors.__name__},
                      key=lambda c: c.exit_code):
        doc = " ".join((cls.__doc__ or "").replace("``", "").split()).split(". ")[0].rstrip(".")
        lines.append(f"  {cls.exit_code:<8} {cls.__name__}: {doc}")
    lines.append("  130/143  interrupted by SIGINT / SIGTERM")
    return "\n".join(lines)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """A command's description and epilog kept line by line (the examples and the exit-code
    table) as ``RawDescriptionHelpFormatter`` keeps them, but a description line or an exit
    code's line longer than the terminal is wrapped, an exit code's text continuing under its
    text (they were single lines of up to 330 characters). Example lines are never wrapped:
    they are copied as they are."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out = []
        for line in text.splitlines():
            code = re.match(r"  [\d/]+ +", line)
            if len(line) > width and (code or not line.startswith(" ")):
                hang = " " * (code.end() if code else 0)
                out.append(textwrap.fill(line, width, initial_indent=indent, subsequent_indent=indent + hang,
                                         break_long_words=False, break_on_hyphens=False))
            else:
                out.append(indent + line)
        return "\n".join(out) + "\n"


def _epilog(examples: list[str]) -> str:
    return "examples:\n" + "\n".join(f"  {e}" for e in examples) + "\n\n" + exit_codes_help()


def _sub(sub, name: str, help_text: str, description: str, examples: list[str]) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help_text, description=description, epilog=_epilog(examples),
                          formatter_class=_HelpFormatter)


CONFIG_HELP = "config YAML (default: the embedded toy config conf/toy.yaml)"


def _log_level(p: argparse.ArgumentParser, default: str) -> None:
    """``--log-level``: the least severe records the console shows (``logs.configure_logging``;
    a run's log file keeps its own, from DEBUG); ``default``: the command's own (INFO for those
    that report progress, WARNING for those that print a result)."""
    p.add_argument("--log-level", default=default, choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                   help="least severe log records shown on the console (default: %(default)s)")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help=CONFIG_HELP)
    p.add_argument("--release", help="override the config's release name; 'latest' = the newest "
                   "release under releases.input_root whose outputs are incomplete or out of date (a stage "
                   "`run` would rerun: code, config or inputs changed; exit 7 if none)")
    p.add_argument("--output-root", help="override the config's output_root")
    p.add_argument("--master", help="override spark.master (local[N], local-cluster[..], spark://h:p, yarn)")
    p.add_argument("--force", action="store_true", help="rerun stages even if their outputs are up to date")
    _log_level(p, "INFO")


def _toy_size(least: int, most: int) -> Callable[[str], int]:
    """An argparse ``type`` for a ``toy-data`` size option: the whole number given, or the
    option's one argparse error (exit 2, the command's usage first: ``trd-spark toy-data: error:
    argument --persons: need at least 50, got 0``) when it is no whole number or lies outside
    ``least``..``most`` (``toydata.limits``). Checked while the options are parsed, before the
    generator's imports: the check inside the command came after them (~50 s on a loaded machine,
    session 52)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"need at least {least:,}, got {value:,}")
        if value > most:
            raise argparse.ArgumentTypeError(f"at most {most:,}, got {value:,}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The ``trd-spark`` argument parser: one sub-command per stage and tool, exit codes in the epilog."""
    from trd_spark.layout import code_version
    from trd_spark.stages import STAGE_SPECS
    from trd_spark.toydata.limits import MAX_PERSONS, MAX_SEED, MAX_VARIANTS, MIN_PERSONS, MIN_SEED, MIN_VARIANTS

    parser = argparse.ArgumentParser(
        prog="trd-spark", description=__doc__.splitlines()[0],
        epilog="`trd-spark COMMAND --help` describes a command with examples.\n\n" + exit_codes_help(),
        formatter_class=_HelpFormatter)
    parser.add_argument("--version", action="version", version=f"trd-spark {code_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        description, examples = COMMANDS[name]
        return _sub(sub, name, help_text, description, examples)

    p = add("run", "run all stages (or --stages ...) in order")
    _common(p)
    p.add_argument("--stages", nargs="+", choices=STAGES, help="only these stages")
    for stage in STAGES:
        upstream = STAGE_SPECS[stage].upstream
        needs = (f"its upstream stages ({', '.join(upstream)}) must be complete" if upstream
                 else "it reads no other stage's output")
        _common(_sub(sub, stage, f"run the {stage} stage only",
                     f"Run the {stage} stage only ({STAGE_HELP.get(stage, stage)}); {needs}.",
                     [f"trd-spark {stage}", f"trd-spark {stage} --config conf/aou.yaml --force"]))

    p = add("explain", "what each stage reads and writes, and whether/why `run` would rerun it")
    p.add_argument("--config", help=CONFIG_HELP)
    p.add_argument("--release", help="override the config's release name")
    p.add_argument("--output-root", help="override the config's output_root")
    p.add_argument("--stage", choices=STAGES, help="only this stage")
    p.add_argument("--master", help="override spark.master (Spark starts only for gs:// / hdfs:// outputs or inputs)")
    _log_level(p, "WARNING")

    p = add("toy-data", "write deterministic toy data (VCF, scoring files, OMOP)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--persons", type=_toy_size(MIN_PERSONS, MAX_PERSONS), default=3000,
                   help=f"persons to simulate, {MIN_PERSONS:,} to {MAX_PERSONS:,} (default: %(default)s)")
    p.add_argument("--variants", type=_toy_size(MIN_VARIANTS, MAX_VARIANTS), default=2000,
                   help=f"variant sites, {MIN_VARIANTS:,} to {MAX_VARIANTS:,} (default: %(default)s)")
    p.add_argument("--seed", type=_toy_size(MIN_SEED, MAX_SEED), default=42,
                   help="random seed, a whole number from 0 to 2**64-1; the same seed gives the same files "
                   "(default: %(default)s)")
    _log_level(p, "INFO")

    p = add("releases", "list the releases found under releases.input_root and their state")
    p.add_argument("--config", help=CONFIG_HELP)
    p.add_argument("--output-root", help="override the config's output_root")
    p.add_argument("--master", help="override spark.master (Spark starts only for gs:// / hdfs:// outputs or inputs)")
    _log_level(p, "WARNING")

    p = add("compare-releases", "compare two releases' results (cohort sizes, PGS, ORs/HRs)")
    # Named and explained (they were bare 'release_a release_b' in the usage, no help: session 52).
    p.add_argument("release_a", metavar="A", help="one release (its name under releases.input_root, e.g. toy-r1); "
                   "it needs complete, current pgs, phenotypes, models and export outputs (else exit 3)")
    p.add_argument("release_b", metavar="B", help="the other release, e.g. toy-r2 (the same needs)")
    p.add_argument("--config", help=CONFIG_HELP)
    p.add_argument("--output-root", help="override the config's output_root")
    p.add_argument("--master", help="override spark.master")
    _log_level(p, "INFO")

    p = add("check-config", "validate a config and print it resolved (paths after {release} / ${VAR})")
    p.add_argument("--config", help=CONFIG_HELP)
    p.add_argument("--release", help="override the config's release name (substituted into {release} paths)")
    p.add_argument("--output-root", help="override the config's output_root")
    _log_level(p, "WARNING")

    p = add("download-scores", "fetch the trait panel's harmonised scoring files from the PGS Catalog")
    p.add_argument("--config", help=CONFIG_HELP)
    _log_level(p, "INFO")

    p = add("java", "print the JAVA_HOME the pipeline uses (system 11/17 or bundled)")
    _log_level(p, "WARNING")
    return parser


def _report_missing_inputs(cfg) -> None:
    """check-config: one WARNING per declared local input that matches no file (``run`` would
    stop on the first with exit 2; gs:// / hdfs:// inputs are checked when read). Toy data
    missing from a toy config are generated by ``run``, so they are named as such, but only
    while the toy directory has none (no ``truth.json``): ``pipeline.ensure_toy_data`` does not
    generate them again, so a missing file next to generated toy data stops ``run``."""
    from trd_spark.config import named_key
    from trd_spark.layout import STAGES
    from trd_spark.preflight import missing_input_hint, missing_inputs, release_outside_root, uri_inputs

    missing = missing_inputs(cfg, list(STAGES))
    toy_dir = str(Path(cfg.toy_data.dir).resolve()) if cfg.toy_data is not None else None
    if toy_dir is not None and (Path(toy_dir) / "truth.json").exists():
        toy_dir = None  # generated already: run makes nothing more
    if missing and (outside := release_outside_root(cfg)):
        log.warning("%s: its inputs below are not found", outside)
    for key, path in missing:
        key = named_key(key, cfg)
        if toy_dir is not None and str(Path(path).resolve()).startswith(toy_dir):
            log.warning("input %s: %s not found yet (toy data: generated by `trd-spark run`)", key, path)
        else:
            log.warning("input %s: %s not found: `trd-spark run` stops with exit 2 until it exists%s", key, path,
                        missing_input_hint(key, path))
    uris = Counter(p.split("://", 1)[0] for _, p in uri_inputs(cfg, list(STAGES)))
    unchecked = "".join(f"; {n} {scheme}:// input{'s' if n > 1 else ''} not checked (read by the stages)"
                        for scheme, n in sorted(uris.items()))
    print((f"inputs: {len(missing)} of the declared local inputs not found" if missing
           else "inputs: every declared local input found") + unchecked)


def _report_panel_mismatch(cfg) -> None:
    """check-config: the local scoring files' ``#pgs_id`` headers against the trait panel
    (``preflight.panel_mismatch``): one WARNING line when they disagree (``run`` stops on it
    with exit 2 when ``pgs.strict_panel`` is true), else one line saying they agree; one line
    for gs:// / hdfs:// entries not read."""
    from trd_spark.preflight import panel_mismatch

    found = panel_mismatch(cfg)
    if (note := found.uri_note()) is not None:
        print(note)
    message = found.message()
    if message is None:  # nothing to warn about (every entry a gs:// one: nothing local was read)
        if len(found.uri_patterns) + len(found.unmatched) < len(cfg.pgs.scoring_files):
            print("scoring files vs trait panel: every local scoring file's score is in the panel"
                  + ("" if found.uri_patterns or found.unmatched else " and every panel score has a file"))
    elif cfg.pgs.strict_panel:
        log.warning("%s: `trd-spark run` stops with exit 2 (pgs.strict_panel is true)", message)
    else:
        log.warning("%s", message)


def warnings_line(n: int, outside: int) -> str:
    """The run summary's warnings line: ``n`` WARNING records in this run, ``outside`` of them
    outside any stage. Points at the WARNING lines only when there are some."""
    where = f" ({outside} outside stages)" if outside else ""
    return f"  warnings: {n} in this run{where}{'; see the WARNING lines above' if n else ''}"


def _load(args: argparse.Namespace):
    from trd_spark.config import load_config

    overrides: dict = {}
    if getattr(args, "release", None) == "latest":
        from trd_spark.releases import check_release_root, latest_incomplete

        base = _load(argparse.Namespace(**{**vars(args), "release": None}))
        check_release_root(base)  # before Spark starts for a gs:// output root
        # A complete release is taken too when `run` would rerun a stage of it (code, config or an
        # input changed since it was published): judged with that release's own config.
        overrides["release"] = latest_incomplete(base, _planning_fs(base), force=getattr(args, "force", False),
                                                 config_for=_release_config_for(args))
        log.info("release latest -> %s", overrides["release"])
    elif getattr(args, "release", None):
        overrides["release"] = args.release
    if getattr(args, "output_root", None):
        # A URI as given (load_config normalises it as the file's): Path.resolve made `--output-root
        # gs://b/out` the local folder <cwd>/gs:/b/out (before session 47), so a Dataproc run wrote
        # its outputs on the driver's disk, `--release latest` found none of the bucket's, and the
        # report's audit read none of the exports published there. A local path is taken against
        # the working directory, as a command line's path is.
        out = args.output_root
        overrides["output_root"] = out if is_uri(out) else str(Path(out).resolve())
    cfg = load_config(args.config, overrides=overrides)
    if getattr(args, "master", None):
        cfg = cfg.model_copy(update={"spark": cfg.spark.model_copy(update={"master": args.master})})
    return cfg


def _release_config_for(args: argparse.Namespace):
    """Release name -> the config ``trd-spark run --release NAME`` with ``args`` loads: what
    ``--release latest`` and ``trd-spark releases`` judge a complete release's up-to-dateness with."""
    return lambda release: _load(argparse.Namespace(**{**vars(args), "release": release}))


def _planning_fs(cfg):
    """The file system ``--release latest`` and ``trd-spark releases`` list outputs and fingerprint
    inputs with: Hadoop's for a URI output root or inputs on an object store (deciding whether a
    complete release is up to date lists them as `run` does: stages.input_fingerprint), else os."""
    from trd_spark.releases import LocalFs, needs_spark_fs, needs_spark_to_plan

    return _spark_fs(cfg) if needs_spark_fs(cfg) or needs_spark_to_plan(cfg) else LocalFs()


def resolved_yaml(cfg) -> str:
    """The config as the pipeline uses it, as YAML: every default filled in, ``{release}`` and
    ``${VAR}`` substituted, relative paths absolute. The concept sets and the trait panel are
    summarised elsewhere (their files are named under phenotypes / pgs)."""
    import yaml

    data = cfg.model_dump(mode="json", exclude={"concept_sets", "trait_panel", "source_path"})
    return "# resolved config\n" + yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip()


def _spark_fs(cfg):
    from trd_spark.io import Fs
    from trd_spark.session import command_session

    return Fs(command_session(cfg.spark))


def _fmt(x: float, nd: int = 2) -> str:
    return "NA" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


# How the export shows a model row (``exported_estimates``): its estimates; no estimate with its
# counts shown (the fit failed, or is empty); or neither (its counts are hidden, the row blanked).
SHOWS_ESTIMATES, SHOWS_NO_ESTIMATE, SHOWS_NEITHER = "estimates", "no estimate", "hidden"


def exported_estimates(spark, cfg) -> dict[tuple, str] | None:
    """{(dataset, definition, contrast, pgs_id): how the release's ``export/results.tsv`` shows
    the model}: ``SHOWS_ESTIMATES`` (its OR is there), ``SHOWS_NO_ESTIMATE`` (no OR, its n and
    cases shown as numbers: a fit that failed) or ``SHOWS_NEITHER`` (no OR and a count hidden:
    the export blanks such a row, failure reason included), when that export was made from the
    current models output (the report's upstream models run is the models manifest's run); None
    when there is no such export (the report has not run since the models)."""
    text, _ = _current_export_results(spark, cfg)
    return None if text is None else export_shows(text)


def _current_export_results(spark, cfg) -> tuple[str | None, bool]:
    """(the text of the release's ``export/results.tsv`` when that export was made from the
    current models output, else None; whether a complete export exists at all, made from an
    earlier models output when the text is None)."""
    from trd_spark.io import Fs, LocalFs
    from trd_spark.layout import EXPORT, Layout

    layout = Layout.of(cfg)
    fs = LocalFs() if spark is None else Fs(spark)
    if not layout.is_complete(fs, EXPORT):
        return None, False
    models, report = (layout.manifest(fs, stage) or {} for stage in ("models", "report"))
    upstream = (report.get("fingerprint_parts") or {}).get("upstream") or {}
    if not models.get("run_id") or upstream.get("models") != models.get("run_id"):
        return None, True
    path = layout.file(EXPORT, "results.tsv")
    if not fs.exists(path):
        return None, True
    return fs.read_text(path), True


def export_counts(text: str) -> dict[tuple, tuple[str, str]]:
    """{(dataset, definition, contrast, pgs_id): (n, n_cases)} of an export's ``results.tsv``
    text, as the export writes them (a number, ``<T`` or ``suppressed``)."""
    import io

    import pandas as pd

    df = pd.read_csv(io.StringIO(text), sep="\t", dtype=str, keep_default_na=False)
    return {(dataset, definition, contrast, pgs_id): (n, n_cases) for dataset, definition, contrast, pgs_id, n, n_cases
            in zip(*(df[c].astype(str) for c in ("dataset", "definition", "contrast", "pgs_id", "n", "n_cases")))}


def export_shows(text: str) -> dict[tuple, str]:
    """{(dataset, definition, contrast, pgs_id): how an export's ``results.tsv`` text shows the
    model} (``exported_estimates``' values)."""
    import io

    import pandas as pd

    df = pd.read_csv(io.StringIO(text), sep="\t", dtype=str, keep_default_na=False)
    return {(dataset, definition, contrast, pgs_id):
            SHOWS_ESTIMATES if odds_ratio != "" else SHOWS_NO_ESTIMATE if n.isdigit() and n_cases.isdigit()
            else SHOWS_NEITHER for dataset, definition, contrast, pgs_id, odds_ratio, n, n_cases in
            zip(*(df[c].astype(str) for c in ("dataset", "definition", "contrast", "pgs_id", "odds_ratio", "n",
                                              "n_cases")))}


def headline_table(spark, cfg, truth: dict | None) -> str:
    """The primary result: discovery dataset, primary definition, TRD vs non-MDD, per PGS.
    ``spark`` None (a no-op rerun that started no session): the local models/logistic table
    is read with pyarrow. This table is on the console and in the run log, where a user may
    paste it: it shows the OR, CI and p of the fits whose estimates the report's export shows
    (``exported_estimates``), no others. A fit's standard error gives its counts back (1/se^2 is
    about n_cases x (1 - n_cases/n) x var(PGS), ``report.tables.hide_estimates_of_hidden_counts``):
    with 1..T-1 cases or controls (T: report.small_count_threshold), and also with counts of T
    or more the export hides to protect a small one (decided by the report's audit); it says
    which in no case (one text, "hidden in the export"). Nor does it
    say that such a fit failed ("NA"), which the export hides too (its failure reason): a fit that
    failed for too few cases puts its hidden count under models.min_cases (set to 35: the export's
    "suppressed" 33 cases read as 20..34, and the 7 persons lacking that score, next to a shown
    model's 40, as 6..20; tests/test_privacy_logs.py). Before the report has run on the current
    models output no estimate and no failure is shown (the title says how to see them). A fit
    shown has its N, cases and controls beside it, as the export shows them."""
    import pandas as pd

    from trd_spark.io import Fs, LocalFs
    from trd_spark.layout import Layout
    from trd_spark.report.html import format_p

    path = Layout.of(cfg).table("models", "logistic")
    # A release whose models folder lost its table (removed by hand, a copy in progress) must not
    # turn a finished run into a traceback at its last line: the headline says where it looked.
    fs = Fs(spark) if spark is not None else None if "://" in path else LocalFs()  # no session: local only
    if fs is not None and not fs.exists(path):
        return f"No headline: the models stage's logistic table is not at {path} (`trd-spark models` writes it)."
    if spark is None:
        df = pd.read_parquet(path)
    else:
        df = spark.read.parquet(path).toPandas()
    discovery = next(d.name for d in cfg.datasets if d.role == "discovery")
    definition = cfg.phenotypes.primary_definition
    sel = df[(df.dataset == discovery) & (df.definition == definition) & (df.contrast == "trd_vs_nonmdd")]
    effects = (truth or {}).get("effects", {})
    text, export_exists = _current_export_results(spark, cfg)
    exported = None if text is None else export_shows(text)
    counts = {} if text is None else export_counts(text)
    t = cfg.report.small_count_threshold
    title = f"Logistic regression, {discovery}, TRD ({definition}) vs non-MDD, OR per SD of PGS"
    if exported is None:  # every line "not shown": say how to see them (new-user trials, sessions 50, 51)
        title += (" (shown once the report has run on this models output: `trd-spark report`)" if export_exists
                  else " (shown once the report has run: `trd-spark report` or `trd-spark run`)")
    lines = [
        title + ":",
        f"{'pgs_id':<11} {'trait':<24} {'domain':<12} {'N':>7} {'cases':>6} {'controls':>8} {'OR':>6} {'95% CI':>15} "
        f"{'p':>9}" + ("  truth OR" if effects else ""),
    ]
    hidden: list[tuple] = []  # the fits the export hides (not the line's end: a truth column follows)
    for r in sel.itertuples():
        line = f"{r.pgs_id:<11} {str(r.trait)[:24]:<24} {str(r.domain)[:12]:<12} "
        key = (discovery, definition, "trd_vs_nonmdd", r.pgs_id)
        shown = None if exported is None else exported.get(key)
        # One text for every fit the export does not show, whatever hid it: "<20 cases or
        # controls" beside a fit whose n and cases the export hides as "suppressed" (20 or more)
        # put its controls (n - cases, a count no table shows) in 1..19, and its absence put them
        # at 0 or 20 and more (tests/test_privacy_s34.py). Its N and cases are not printed either.
        if exported is None:
            line += f"{'not shown: the report is out of date' if export_exists else 'not shown: the report not run':>56}"
        elif shown in (SHOWS_ESTIMATES, SHOWS_NO_ESTIMATE) and pd.notna(r.odds_ratio) == (shown == SHOWS_ESTIMATES):
            # N and cases as the export shows them (numbers: an estimate is shown only with its
            # counts, report.tables.hide_estimates_of_hidden_counts), the controls their difference
            # (which the export's audit covers; read as <T were it 1..T-1). The headline gave no N
            # before session 51: a reader could not tell an OR of 150 cases from one of 5,000.
            n, n_cases = counts.get(key, ("", ""))
            line += f"{n:>7} {n_cases:>6} {_controls_text(n, n_cases, t):>8} "
            if shown == SHOWS_ESTIMATES:
                # the report's p text (an underflowed 0.0 as "<1e-300", not "0"; NA as _fmt says it)
                ci = "(" + _fmt(r.ci_low) + "-" + _fmt(r.ci_high) + ")"
                line += f"{_fmt(r.odds_ratio):>6} {ci:>15} {format_p(r.p) or 'NA':>9}"
            else:  # a failed fit the export shows as failed
                line += f"{_fmt(r.odds_ratio):>6}"
        else:  # whether such a fit failed is hidden too: too few cases put a hidden count under models.min_cases
            line += f"{'not shown: hidden in the export':>56}"
            hidden.append(key)
        if effects:
            te = effects.get(r.pgs_id, {}).get("log_or_trd_vs_nonmdd")
            line += f"  {math.exp(te):8.2f}" if te is not None else ""
        lines.append(line)
    if hidden:
        lines += [note for note in (_reexport_note(cfg, hidden), _other_releases_note(cfg, hidden)) if note]
    return "\n".join(lines)


def _controls_text(n: str, n_cases: str, t: int) -> str:
    """The controls of a fit whose N and cases the export shows as numbers: their difference,
    ``<T`` for 1..T-1 (the audit keeps such a difference from being shown; belt and braces),
    '' when either is not a number."""
    if not (n.isdigit() and n_cases.isdigit()):
        return ""
    controls = int(n) - int(n_cases)
    return f"<{t}" if 0 < controls < t else str(controls)


def _reexport_note(cfg, hidden: list[tuple]) -> str | None:
    """The headline's last line when an earlier export of the release (a local ``export_history/``
    folder, ``report.stage.archive_export``: its ``results.tsv``) showed a fit of ``hidden`` (the
    keys of ``export_shows``) that this export hides: the audit hides the counts that, with that
    export's, would give a change of 1..T-1, so an input fix of a few persons hid the primary
    fits it touched, and the table read 'hidden in the export' with no word why (new-user trial,
    session 35). A fit every earlier export hid too (1..T-1 cases from the first export on) gets
    no such line: the re-export did not hide it. Says how many earlier exports showed one, never
    which fit or count; None otherwise (a gs:// / hdfs:// output root is not listed here)."""
    from trd_spark.config import local_path
    from trd_spark.layout import EXPORT_HISTORY, Layout

    root = local_path(f"{Layout.of(cfg).release_dir}/{EXPORT_HISTORY}")
    showed = sum(_export_showed(folder, hidden) for folder in _subfolders(root))
    if not showed:
        return None
    t = cfg.report.small_count_threshold
    return (f"(this release was exported before: {showed} earlier export(s) in {EXPORT_HISTORY}/ showed a fit "
            f"hidden here; the export's audit also hides the counts that, with an earlier one's, would give a "
            f"change of 1 to {t - 1}, so an input fix touching a few persons hides the fits it changed: "
            "docs/privacy.md, 'A re-export of the same release')")


def _other_releases_note(cfg, hidden: list[tuple]) -> str | None:
    """The headline's last line when another release's export (its ``export/`` or one kept in its
    ``export_history/``, under ``output_root`` or a root of ``report.audit_output_roots``: the
    exports the report's audit is linked to, ``report.stage.released_exports``) showed a fit of
    ``hidden`` that this export hides: each count that differs from that export's by 1..T-1 is
    hidden, with the fit's estimate. A new toy release (5% new persons, 39 newly genotyped, 5
    withdrawn) hid all 10 primary fits (every estimate of its export) and the headline said only
    'hidden in the export' (session 47, release trial); the re-export of one release had its line
    (``_reexport_note``), another release's export none. Names the releases (as Methods'
    Disclosure control does), never a fit or count; None otherwise (``gs://`` / ``hdfs://``
    roots are not listed here)."""
    from trd_spark.config import local_path
    from trd_spark.layout import EXPORT, EXPORT_HISTORY, SUCCESS, Layout

    own = Layout.of(cfg)
    showed: set[str] = set()
    for root in (own.output_root, *cfg.report.audit_output_roots):
        for folder in _subfolders(local_path(root)):
            release = os.path.basename(folder)
            if root == own.output_root and release == own.release:
                continue  # this release's earlier exports: _reexport_note
            current = os.path.join(folder, EXPORT)
            exports = [current] if os.path.exists(os.path.join(current, SUCCESS)) else []
            if any(_export_showed(e, hidden) for e in exports + _subfolders(os.path.join(folder, EXPORT_HISTORY))):
                showed.add(release)
    if not showed:
        return None
    t = cfg.report.small_count_threshold
    return (f"(another release's export showed a fit hidden here: {', '.join(sorted(showed))}; the export's audit "
            f"also hides the counts that, with another release's, would give a change of 1 to {t - 1}, so a release "
            "changing each group by a few persons since hides the fits it changed: docs/privacy.md, 'Two "
            "releases' exports')")


def _subfolders(path: str | None) -> list[str]:
    """The sub-folders of a local folder, sorted; [] when it does not exist (no history yet)."""
    try:
        return sorted(e.path for e in os.scandir(path) if e.is_dir()) if path else []
    except OSError:
        return []


def _export_showed(folder: str, hidden: list[tuple]) -> bool:
    """Whether the export in ``folder`` (its ``results.tsv``) shows a fit of ``hidden`` (keys of
    ``export_shows``) as an estimate or as a failed fit with its counts; an export without a
    results table (none written then) shows none."""
    try:
        with open(os.path.join(folder, "results.tsv"), encoding="utf-8") as f:
            shows = export_shows(f.read())
    except OSError:
        return False
    return any(shows.get(key, SHOWS_NEITHER) != SHOWS_NEITHER for key in hidden)


def storage_error(e: BaseException, *, where: str) -> StorageError | None:
    """A file system fault (disk full, name too long, read-only, quota) as one StorageError
    naming the path: Python's OSError carries its own file name; a Java IOException raised
    through Py4J / Hail does not, so ``where`` (the release's output directory) is used.
    None for any other exception."""
    if isinstance(e, OSError) and e.errno in _STORAGE_ERRNOS:
        return StorageError(e.strerror or str(e), where=str(e.filename or where))
    text = str(e)
    for errno_ in _STORAGE_ERRNOS:
        if os.strerror(errno_) in text:
            return StorageError(os.strerror(errno_), where=where)
    return None


class _Interrupt:
    """The interrupt of this invocation, once a signal arrived. Unwinding after it may raise
    other errors (cleanup calls into a JVM that is gone or mid-call): they are all this
    interrupt, and only our one line is shown."""

    received: Interrupted | None = None

    @staticmethod
    def only_ours(record: logging.LogRecord) -> bool:
        return _Interrupt.received is None or record.name.startswith("trd_spark")


def _interrupt(signum: int, run_warnings: WarningCounter) -> Interrupted:
    """The interrupt of ``signum``, naming the stage the run is at and where its folder stands
    on disk (``WarningCounter.running`` / ``on_disk``)."""
    stage = run_warnings.stage or run_warnings.running or run_warnings.interrupted_at
    return Interrupted(signum, stage, on_disk=None if stage is None else run_warnings.on_disk.get(stage))


def _on_signal(run_warnings: WarningCounter, signum: int, frame: object) -> None:
    """SIGTERM / SIGINT -> Interrupted in the main thread: the run unwinds (in-progress output
    removed, lock released, Spark stopped). A second signal ends the process at once. The
    message names the stage that was running, or about to run (its checks before it starts, from
    the "[4/5] models: running" line on), and where its folder stands on disk (``_interrupt``)."""
    for s in _SIGNALS:
        signal.signal(s, signal.SIG_DFL)
    _Interrupt.received = _interrupt(signum, run_warnings)
    # After SIGTERM to the process group the JVM is gone too: Py4J's connection errors (logged,
    # in threads, or at interpreter exit) are expected and would bury the line that matters.
    for handler in logging.getLogger().handlers:
        handler.addFilter(_Interrupt.only_ours)
    threading.excepthook = lambda args: None
    sys.unraisablehook = lambda unraisable: None
    warnings.simplefilter("ignore")  # PySpark's "Unable to cleanly shutdown Spark JVM process"
    _silence_accumulator_server()
    raise _Interrupt.received


class _CancelOnSignal:
    """Cancels Spark's running jobs the moment SIGINT or SIGTERM arrives, from a thread.

    Python runs a signal handler in the main thread only, between bytecodes: while the main
    thread waits in a Py4J call for a Spark job (the JVM ignores SIGINT, and the signal may be
    delivered to another thread, so the wait is not interrupted), ``_on_signal`` ran only when
    that job had finished (18 s after a SIGINT mid-phenotypes on the toy data, under load; an
    hour-long job at All of Us scale), and the unwinding then removed the in-progress directory
    while the stage's next job was being set up in it: an empty one was left behind. Here the
    C-level handler writes the signal's number to a pipe (``signal.set_wakeup_fd``) whichever
    thread it reaches, and a daemon thread reading it calls ``SparkContext.cancelAllJobs`` at
    once: the job fails, the main thread's call returns, ``_on_signal`` raises and the run
    unwinds as before. After SIGTERM to the process group the JVM is gone and the call fails,
    which is ignored. One per CLI invocation (``_signals_handled``), main thread only."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)  # set_wakeup_fd requires it: a full pipe never blocks a signal
        self._previous = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        self._thread = threading.Thread(target=self._watch, name="cancel-on-signal", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while True:
            try:
                received = os.read(self._read, 64)
            except OSError:
                return
            if not received:  # close(): the invocation ended
                return
            if any(signum in _SIGNALS for signum in received):
                _cancel_spark_jobs()

    def close(self) -> None:
        """Restore the previous wakeup fd and end the thread (it ends on the closed pipe)."""
        signal.set_wakeup_fd(self._previous)
        os.close(self._write)
        self._thread.join(_CANCEL_WAIT_SECONDS)
        if not self._thread.is_alive():  # else still in a cancel call to a JVM going away: a daemon
            os.close(self._read)


# How long an invocation's end waits for a cancel call still in flight (the JVM stopping).
_CANCEL_WAIT_SECONDS = 2


def _cancel_spark_jobs() -> None:
    """``cancelAllJobs`` on the active SparkContext, if any (nothing to do before Spark started
    or after it stopped); a JVM that is gone or stopping makes the call fail, which is ignored.
    PySpark is not imported when no Spark started (``session.active_spark_context``)."""
    from trd_spark.session import active_spark_context

    sc = active_spark_context()
    if sc is None:
        return
    try:
        sc.cancelAllJobs()
    except Exception:  # noqa: BLE001
        log.debug("Spark's jobs were not cancelled (the JVM is gone or stopping)")


def _silence_accumulator_server() -> None:
    """PySpark's accumulator server (a socketserver thread) prints a traceback when the JVM
    it serves is gone; after an interrupt that is expected."""
    from trd_spark.session import active_spark_context

    server = getattr(active_spark_context(), "_accumulatorServer", None)
    if server is not None:
        server.handle_error = lambda request, client_address: None


def _handle_signals(run_warnings: WarningCounter) -> None:
    for s in _SIGNALS:
        signal.signal(s, functools.partial(_on_signal, run_warnings))


@contextlib.contextmanager
def _signals_handled(run_warnings: WarningCounter):
    """Install the handlers for one CLI invocation and restore the previous ones after (main
    may be called in-process, e.g. by the tests)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = {s: signal.getsignal(s) for s in _SIGNALS}
    _handle_signals(run_warnings)
    canceller = _CancelOnSignal()
    try:
        yield
    finally:
        canceller.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
        for h in logging.getLogger().handlers:
            h.removeFilter(_Interrupt.only_ours)
        _Interrupt.received = None


# How long an interrupted run waits for Spark to stop before exiting anyway (the JVM of a
# local run ends with this process; a cluster frees the application when the driver is gone).
_STOP_WAIT_SECONDS = 30


def _stop_spark_quietly() -> None:
    """Stop Spark after an interrupt (cancels running jobs, frees cluster resources; Hail needs
    no teardown in a process about to exit: ``session.stop_spark``); the JVM may already be
    gone, which is fine. Runs in a new thread: with PySpark's pinned threads the main thread's
    Py4J connection still waits for the interrupted call."""
    from trd_spark.session import stop_spark

    def stop() -> None:
        try:
            stop_spark()
        except Exception:  # noqa: BLE001
            log.debug("Spark was already stopped")

    t = threading.Thread(target=stop, daemon=True)
    t.start()
    t.join(_STOP_WAIT_SECONDS)


def _run(args: argparse.Namespace, stages: list[str] | None) -> int:
    from trd_spark.io import Fs
    from trd_spark.logs import OUTSIDE_STAGES
    from trd_spark.pipeline import (
        ensure_toy_data,
        load_truth,
        run_stages,
        scoring_files_parsed_ahead,
        skip_all_without_spark,
        summary_table_counts,
    )
    from trd_spark.preflight import check_inputs, check_output_root, toy_data_pending
    from trd_spark.releases import LocalFs, ReleaseLock, lock_is_local

    cfg = _load(args)
    log.info("trd-spark: config %s, release %s, output %s", cfg.source_path, cfg.release, cfg.output_root)
    # Fail before any Spark work on missing or cut-short inputs, then on an unwritable/full
    # output root; the inputs first, before anything is written (a run stopped there leaves
    # no release folder and no log: its one error line is on stderr).
    toy_pending = toy_data_pending(cfg)
    if lock_is_local(cfg):  # a release another run works on is exit 6 whatever its inputs
        peek = ReleaseLock(cfg, LocalFs())  # read-only here; acquired below
        if peek.held_by_live_run():
            raise LockedError(peek.held_text(), where=peek.path)
    check_inputs(cfg, stages or list(STAGES))
    check_output_root(cfg)
    args.run_log = _open_run_log(cfg, args.command)
    log.debug("%s", resolved_yaml(cfg))
    try:
        with contextlib.ExitStack() as stack:
            # A local lock (a local output root, whatever the input root): taken before paying for
            # a Spark session (on contention the run stops before it; session 41).
            if lock_is_local(cfg):
                stack.enter_context(ReleaseLock(cfg, LocalFs()))
            ensure_toy_data(cfg)
            if toy_pending:  # the toy inputs, once generated
                check_inputs(cfg, stages or list(STAGES))
            t0 = time.time()
            # A no-op rerun (every stage current, decided from manifests and local fingerprints)
            # starts no JVM; otherwise Spark starts here and run_stages decides again with it.
            results = skip_all_without_spark(cfg, stages, force=args.force)
            spark = None
            if results is None:
                # The pgs stage's scoring files are parsed in a thread while Spark and Hail start.
                handed = stack.enter_context(scoring_files_parsed_ahead(cfg, stages, force=args.force))
                spark = _session(cfg.spark, handed)
                _handle_signals(args.warnings)  # again: creating the SparkContext installs PySpark's SIGINT handler
                if not lock_is_local(cfg):
                    stack.enter_context(ReleaseLock(cfg, Fs(spark)))
                t0 = time.time()
                results = run_stages(spark, cfg, stages, force=args.force, warnings=args.warnings, handed=handed)
    except BaseException as e:
        if _Interrupt.received is not None:  # whatever the unwinding raised, it is the interrupt
            _stop_spark_quietly()
            raise _Interrupt.received from None
        err = storage_error(e, where=f"{cfg.output_root}/{cfg.release}") if isinstance(e, Exception) else None
        if err is None:
            raise
        raise err from None
    _warn_out_of_date_comparisons(cfg, spark, [r.stage for r in results if r.status == "ran"])
    # Logged, not printed: the run log keeps the summary too.
    summary = [f"Summary (release {cfg.release}, {time.time() - t0:.1f}s):"]
    for r in results:
        # Row counts: plain, except those of person-level tables (small-count rule).
        tables = summary_table_counts(r.stage, r.tables, cfg.report.small_count_threshold)
        summary.append(f"  {r.stage:<11} {r.status:<8} {r.seconds:7.1f}s  warnings {r.warnings:<3} {tables}")
    outside = args.warnings.count(OUTSIDE_STAGES)
    summary.append(warnings_line(sum(r.warnings for r in results if r.status == "ran") + outside, outside))
    summary.append(f"  outputs under {cfg.output_root}/{cfg.release}/")
    log.info("%s", "\n".join(summary))
    # After the models or the report stage (run or up to date, skipped): `trd-spark report` alone
    # printed no headline before session 51, though it is what makes the ORs showable.
    if any(r.stage in ("models", "report") for r in results) or (stages is None):
        table = headline_table(spark, cfg, load_truth(cfg))
        log.debug("headline table (stdout):\n%s", table)
        print()
        print(table)
    sys.stdout.flush()  # the headline before the closing lines on a shared terminal
    log.info("run log: %s", args.run_log.destination)
    if any(r.stage == "report" for r in results):
        from trd_spark.layout import Layout

        log.info("report: %s", Layout.of(cfg).file("report", "report.html"))
    return 0


def _warn_out_of_date_comparisons(cfg, spark, ran: list[str]) -> None:
    """After a run that published (``ran``: the stages that did) an output of ``cfg.release`` a
    comparison reads (``compare.COMPARED_STAGES``: the export, the scores, the cohort flow): one
    counted WARNING per comparison of that release under ``output_root`` that is now out of date
    (``compare.out_of_date_comparisons``; ``pipeline.mark_comparisons`` marked it not for export).
    No stage reruns compare-releases, so its folder stayed beside the new outputs, saying nothing
    (session 48); a pgs rerun changed its n_both and correlations without a word (session 49)."""
    from trd_spark.config import local_path
    from trd_spark.io import Fs, LocalFs
    from trd_spark.report.compare import COMPARED_STAGES, out_of_date_comparisons

    if not set(ran) & set(COMPARED_STAGES):
        return
    fs = LocalFs() if local_path(cfg.output_root) is not None or spark is None else Fs(spark)
    for line in out_of_date_comparisons(fs, cfg.output_root, cfg.release):
        log.warning("%s", line)


def _print_out_of_date_comparisons(cfg, fs) -> None:
    """``trd-spark releases``: below the release table, each comparison under ``output_root`` that
    no longer compares the two releases' current exports (``compare.out_of_date_comparisons``)."""
    from trd_spark.report.compare import out_of_date_comparisons

    lines = out_of_date_comparisons(fs, cfg.output_root)
    if lines:
        print("\n".join(["", "comparisons:", *(f"  {line}" for line in lines)]))


def _session(settings, handed: dict[str, object]):
    """The run's Spark and Hail session (``session.command_session``), started while the pgs
    stage's scoring files are parsed (``pipeline.scoring_files_parsed_ahead``; 3-5 s idle, ~50 s
    under load): an error of that parse (a bad header or line, exit 3) ends the run at once,
    without waiting for the start. The start runs in a thread of its own
    (``session.BackgroundStart``) while this thread waits for whichever comes first: the session,
    or the parse's error, which abandons the start (a JVM being launched is stopped; nothing is
    raised into the start: it ends at its next step) and is raised here. Before, the error came
    when the pgs stage took the parse's result, after the session had started (~50 s in under
    load; new-user trial, session 30); session 31 raised it from a SIGUSR1 handler inside the
    start, between any two bytecodes of it (``BackgroundStart`` says why that was unsafe). An
    error raised after the session is up is raised where the stage takes the result, as before;
    errors that are not ``TrdSparkError``s (a bug: the traceback matters) are left to the stage.
    A start in this thread, as before, without a parse, or with a JVM already running in the
    process (the CLI called in process, as the tests do, or from a notebook: nothing is launched,
    and that JVM is not this run's to stop)."""
    from trd_spark.pgs.scoring_files import SCORING_FILES_AHEAD, ParseAhead
    from trd_spark.session import BackgroundStart, command_session, jvm_running

    ahead = handed.get(SCORING_FILES_AHEAD)
    if not isinstance(ahead, ParseAhead) or jvm_running():
        return command_session(settings)
    start = BackgroundStart(settings)

    def failed(error: Exception) -> None:  # in the parse's thread
        if isinstance(error, TrdSparkError):
            start.stop_waiting(error)

    start.begin()
    try:
        ahead.when_failed(failed)
        return start.result()
    except BaseException:
        # A signal's handler (SIGINT, SIGTERM) raising before result() waits would leave the
        # start running: its JVM launched and never stopped. result() abandons on its own errors
        # already; abandoning again then finds the start ended (or its JVM still being stopped).
        start.abandon()
        raise


def _open_run_log(cfg, command: str) -> RunLog:
    """The run's log under ``{output_root}/{release}/logs/``; for an object-store output root
    it is written under ``{spark.tmp_dir}/logs/`` and copied there when the run ends."""
    from trd_spark.logs import open_run_log

    release_dir = f"{cfg.output_root}/{cfg.release}"
    local_dir = Path(cfg.spark.tmp_dir) / "logs" if is_uri(release_dir) else Path(release_dir) / "logs"
    run_log = open_run_log(local_dir, command, datetime.now(UTC))
    run_log.destination = f"{release_dir}/logs/{run_log.path.name}"
    return run_log


def _close_run_log(run_log: RunLog | None, exit_code: int, error: BaseException | None) -> None:
    """End the run log with the run's outcome (``RunLog.close``); copy it to an object-store
    output root (a failed copy is a warning: the local copy stays)."""
    if run_log is None:
        return
    if exit_code != 0:
        log.info("run log: %s", run_log.destination)
    run_log.close(exit_code, error)
    if run_log.destination != str(run_log.path):
        from pyspark.sql import SparkSession

        from trd_spark.io import Fs

        spark = SparkSession.getActiveSession()  # never a new session (after an interrupt Spark is stopped)
        try:
            if spark is None:
                raise RuntimeError("no Spark session")
            Fs(spark).write_text(run_log.destination, run_log.path.read_text())
        except Exception as e:  # noqa: BLE001 - the run's outcome is decided; keep the local log
            log.warning("run log not copied to %s (%s): it is at %s", run_log.destination, e, run_log.path)


def _download_scores(cfg) -> int:
    """Fetch every panel score with an ID for each build the datasets use (pgs.download)."""
    from trd_spark.errors import ConfigError
    from trd_spark.pgs.download import download_scores

    target = cfg.pgs.download.directory or cfg.pgs.scoring_files[0]
    if is_uri(target) or any(c in target for c in "*?["):
        raise ConfigError(f"{target} is not a local directory: set pgs.download.directory to one, then copy "
                          "the files to pgs.scoring_files (e.g. gsutil -m cp DIR/* gs://...)",
                          where="pgs.download.directory")
    ids = [s.pgs_id for s in cfg.trait_panel.scores]
    for entry in cfg.trait_panel.to_curate:
        log.warning("trait panel: %s (%s) has no pgs_id yet: nothing to download", entry.trait, entry.domain)
    builds, written = sorted({d.genotypes.reference_genome for d in cfg.datasets}), []
    for build in builds:
        report = download_scores(ids, build, Path(target), cfg.pgs.download)
        log.info("download-scores: %d downloaded, %d already present (%d without a checksum file) in %s",
                 len(report.downloaded), len(report.present), len(report.unverified), target)
        written += [*report.downloaded.values(), *report.present.values()]
    _warn_files_not_read(cfg, target, builds, written)
    return 0


def _warn_files_not_read(cfg, target: str, builds: list[str], written: list[Path]) -> None:
    """One WARNING when files ``download-scores`` wrote to (or found in) ``target`` are not among
    those the pgs stage reads from the local ``pgs.scoring_files`` entries (``files_read``: a
    folder's own files, a glob's matches; URI entries are not listed): a folder the stage never
    reads (``pgs.download.directory`` elsewhere, or the entries on gs:// as the README's All of Us
    steps have them) leaves the stage scoring the files it read before, "up to date" and stale
    (reader finding 4 of session 47; b0ec643 fixed one way of it). Paths only, no count of persons."""
    from trd_spark.config import local_path
    from trd_spark.pgs.scoring_files import files_read

    entries = cfg.pgs.scoring_files
    read = {os.path.realpath(f) for files in files_read([local_path(p) or p for p in entries], builds, None)
            for f in files or []}
    if any(os.path.realpath(f) not in read for f in written):
        log.warning("download-scores wrote to %s, which the pgs stage does not read: it reads pgs.scoring_files "
                    "(%s); copy the files there (e.g. gsutil -m cp %s/* gs://...) or set pgs.download.directory "
                    "to that folder", target, ", ".join(entries), target)


def _unrecognized(parser: argparse.ArgumentParser, command: str, extra: list[str]) -> NoReturn:
    """Exit 2 on arguments ``command`` does not take, with the command's usage (argparse gave the
    top-level usage, 'trd-spark [-h] [--version] COMMAND ...', which names no option of the
    command: session 52) and the closest option for a misspelt one (``--confg``: ``--config``)."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    options = [o for a in sub._actions for o in a.option_strings if o.startswith("--")]
    flags = [e.split("=", 1)[0] for e in extra if e.startswith("--")]
    close = [m for f in flags for m in difflib.get_close_matches(f, options, n=1, cutoff=0.7)]
    hint = f" (did you mean {', '.join(dict.fromkeys(close))}?)" if close else ""
    sub.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
    raise AssertionError("unreachable: ArgumentParser.error exits")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run one command; returns the process exit code (see trd_spark.errors)."""
    from trd_spark.logs import WarningCounter, configure_logging

    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        _unrecognized(parser, args.command, extra)
    configure_logging(args.log_level)
    # This invocation's warnings, per stage (the summary, the manifests, the interrupt line);
    # counted only while it runs (main may be called again in-process).
    args.warnings = WarningCounter()
    args.run_log = None  # set by the commands that run stages (_run)
    interrupted = False
    with args.warnings.attached(), _signals_handled(args.warnings):
        code, error = 1, None
        try:
            code = _dispatch(args)
        except BaseException as e:
            error = e
            raise
        finally:
            _close_run_log(args.run_log, code, error)
            interrupted = _Interrupt.received is not None
            # Called in process (argv given: the tests, a notebook), return once an abandoned
            # start's thread has ended its import (the caller imports next); as the process's own
            # command (argv None: it exits on return), leave it, a daemon: its exit not delayed.
            if argv is not None and (session := sys.modules.get("trd_spark.session")) is not None:
                session.wait_for_abandoned_starts()
    if interrupted and argv is None:
        _exit_at_once(code)
    return code


def _exit_at_once(code: int) -> NoReturn:
    """End an interrupted ``trd-spark`` process now: its exit handlers run (``atexit``: logging's
    flush and close, Hail's temporary folder, the native engine's scratch removal), stdout and
    stderr are flushed, then ``os._exit(code)`` skips the interpreter's teardown. That teardown
    (modules cleared, one garbage collection after another over the ~90,000 objects of a run's
    imports and data: 0.15-0.2 CPU-s, 0.7-1.4 s wall at load 20) is work a stopping process need
    not do, and a process with a small share of the CPUs does it slowly: SIGTERM during toy-data
    generation, process niced and pinned beside a busy core, exited 44-58 s after the signal,
    all but ~2 s of it after its last log line (session 51 saw 40-55 s at load 77; session 52
    traced it). Only the process's own command (``main()`` without argv) exits so; called in
    process, ``main`` returns."""
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed or broken pipe: nothing to flush into
            stream.flush()
    os._exit(code)


def _report_interrupt() -> int:
    """The one line an interrupted invocation prints; returns its exit code (143 / 130)."""
    e = _Interrupt.received
    assert e is not None
    log.error("Interrupted: %s; stopped, %s, lock released: rerun the same command to resume after the "
              "last complete stage", e, e.what_was_published())
    return e.exit_code


def _dispatch(args: argparse.Namespace) -> int:
    try:
        if args.command == "toy-data":
            from trd_spark.toydata import generate_toy_data

            # The sizes were checked as they were parsed (``_toy_size``: one argparse error naming
            # the option, before the generator's imports).
            truth = generate_toy_data(args.out, persons=args.persons, variants=args.variants, seed=args.seed)
            log.info("toy data written to %s (%s)", args.out,
                     ", ".join(f"{k}={v}" for k, v in truth.get("datasets", {}).items()))
            return 0
        if args.command == "check-config":
            from trd_spark.logs import counted

            cfg = _load(args)
            print(f"config {cfg.source_path} is valid: release {cfg.release}, "
                  f"{counted(len(cfg.datasets), 'dataset')}, "
                  f"{counted(len(cfg.phenotypes.trd_definitions), 'TRD definition')}, "
                  f"{counted(len(cfg.trait_panel.scores), 'score')} in the trait panel")
            print(resolved_yaml(cfg))
            print(cfg.trait_panel.summary())
            _report_missing_inputs(cfg)
            _report_panel_mismatch(cfg)
            return 0
        if args.command == "releases":
            from trd_spark.releases import check_release_root, format_statuses, statuses

            cfg = _load(args)
            check_release_root(cfg)
            # Each complete release judged as `--release latest` judges it (with its own config): the two
            # agree on which are out of date (before, this listed them "complete" from the outputs alone).
            fs = _planning_fs(cfg)
            print(format_statuses(statuses(cfg, fs, config_for=_release_config_for(args))))
            _print_out_of_date_comparisons(cfg, fs)
            return 0
        if args.command == "explain":
            from trd_spark.releases import LocalFs, needs_spark_to_plan
            from trd_spark.stages import explain

            cfg = _load(args)
            # The same test as a no-op run's: Spark's file system only for gs:// / hdfs:// outputs or
            # inputs (a file:// input is fingerprinted with os).
            fs = _spark_fs(cfg) if needs_spark_to_plan(cfg) else LocalFs()
            print(explain(cfg, fs, [args.stage] if args.stage else None))
            return 0
        if args.command == "compare-releases":
            from trd_spark.report.compare import compare_releases_job

            cfg = _load(args)
            # The mending command names the config and output root as the user gave them.
            given = (("--config", args.config), ("--output-root", args.output_root))
            rerun = "".join(f" {flag} {shlex.quote(value)}" for flag, value in given if value)
            print(compare_releases_job(cfg, args.release_a, args.release_b, rerun_options=rerun))
            return 0
        if args.command == "download-scores":
            return _download_scores(_load(args))
        if args.command == "java":
            from trd_spark.session import find_java

            java = find_java()
            print(java.home)
            log.info("Java %s (%s)", java.major, java.source)
            return 0
        if args.command == "run":
            return _run(args, args.stages)
        return _run(args, [args.command])
    except TrdSparkError as e:
        if _Interrupt.received is not None:  # raised while unwinding after the signal
            return _report_interrupt()
        # Schedulers grep for ERROR: "nothing to do" is a normal outcome (exit 7), logged as INFO.
        (log.info if isinstance(e, NothingToDo) else log.error)("%s: %s", type(e).__name__, e)
        return e.exit_code
    except (Interrupted, KeyboardInterrupt) as e:
        if isinstance(e, KeyboardInterrupt) and _Interrupt.received is None:  # not from our handler
            _Interrupt.received = _interrupt(signal.SIGINT, args.warnings)
        return _report_interrupt()
    except OSError as e:
        err = storage_error(e, where=str(e.filename))
        if err is None and _Interrupt.received is None:
            raise
        if err is None:
            return _report_interrupt()
        log.error("%s: %s", type(err).__name__, err)
        return err.exit_code
    except Exception as e:
        if _Interrupt.received is not None:
            return _report_interrupt()  # an error raised while unwinding after the signal
        query_error = input_error_of(e)  # a check inside a Spark query (errors.QUERY_INPUT_ERROR_TAG)
        if query_error is None:
            raise
        log.error("%s: %s", type(query_error).__name__, query_error)
        return query_error.exit_code
    except BaseException:
        if _Interrupt.received is None:
            raise
        return _report_interrupt()  # an error raised while unwinding after the signal


if __name__ == "__main__":
    sys.exit(main())
