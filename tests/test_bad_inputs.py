"""Bad-input catalogue (issue #8): each bad input ends in one clear error, nothing published.

Every error case runs through the CLI in-process (``trd_spark.cli.main``, shared Spark
session) on a mutated copy of one tiny toy dataset (60 persons, 200 variants, the discovery
dataset only) and asserts: the exit code of the error class, exactly ONE ``ERROR`` line on
stderr naming the file and the line / column / field, and no ``_SUCCESS`` (nor in-progress
directory) under the release. Suspicious-but-valid OMOP records (end before start, negative
days_supply, concept-set IDs absent from ``concept``) are warnings: counted in the run
summary and in the stage manifest. A contrast with zero cases in a dataset is a reported row.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from trd_spark.cli import main
from trd_spark.config import REPO_CONF_DIR, load_config
from trd_spark.toydata import generate_toy_data

# A toy scoring file: 14 header lines, the column line at 15, variant rows from line 16.
FIRST_ROW = 16


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bad_inputs_toy")
    generate_toy_data(str(out), persons=60, variants=200, seed=11)
    return out


def write_config(dir: Path, toy: Path, edit=None) -> Path:
    """A valid config on the toy data (discovery dataset only) under ``dir``; ``edit(raw)``
    mutates the raw YAML mapping before it is written."""
    raw = yaml.safe_load((REPO_CONF_DIR / "toy.yaml").read_text())
    raw.pop("toy_data")
    raw["output_root"] = str(dir / "results")
    raw["spark"]["tmp_dir"] = str(dir / "tmp")
    raw["datasets"] = [{"name": "discovery", "role": "discovery",
                        "genotypes": {"format": "vcf", "path": str(toy / "genotypes" / "discovery.vcf.bgz")}}]
    raw["ancestry"] = {"path": str(toy / "ancestry" / "ancestry_preds.tsv"),
                       "related_samples_to_remove": str(toy / "ancestry" / "relatedness_flagged_samples.tsv")}
    # 200 toy variants give 12 per score, 8-9 matched after ambiguous ones are dropped.
    raw["pgs"].update(scoring_files=[str(toy / "scores" / "*.txt.gz")], min_overlap=0.5,
                      trait_panel=str(REPO_CONF_DIR / "trait_panel_toy.yaml"))
    raw["omop"]["path"] = str(toy / "omop")
    raw["phenotypes"]["concept_sets"] = str(REPO_CONF_DIR / "concept_sets.yaml")
    if edit:
        edit(raw)
    path = dir / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def run_cli(argv: list[str], capsys) -> tuple[int, list[str], str]:
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if re.search(r"\bERROR\b", line)], err


def assert_one_error(code: int, errors: list[str], exit_code: int, *needles: str) -> None:
    assert code == exit_code, errors
    assert len(errors) == 1, errors
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])


def assert_nothing_complete(config: Path) -> None:
    root = Path(yaml.safe_load(config.read_text())["output_root"])
    if root.exists():
        assert not list(root.rglob("_SUCCESS")), list(root.rglob("_SUCCESS"))
        assert not [p for p in root.rglob("*") if ".inprogress" in p.name]


# --------------------------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------------------------
def _unknown_key(raw):
    raw["pgs"]["min_overlapp"] = 0.5


def _wrong_type(raw):
    raw["covariates"]["n_pcs"] = "ten"


def _missing_required_path(raw):
    del raw["ancestry"]["path"]


def _path_not_existing(raw):
    raw["omop"]["path"] = "/nonexistent/omop"


def _unknown_concept_set(raw):
    raw["phenotypes"]["trd_definitions"][1]["augmentation_concept_set"] = "no_such_set"


def _unknown_primary_definition(raw):
    raw["phenotypes"]["primary_definition"] = "ad4"


def _duplicate_dataset_name(raw):
    raw["datasets"].append(dict(raw["datasets"][0], role="replication"))


@pytest.mark.parametrize("edit, needle", [
    (_unknown_key, "pgs.min_overlapp: unknown key"),
    (_wrong_type, "covariates.n_pcs: Input should be a valid integer"),
    (_missing_required_path, "ancestry.path: Field required"),
    (_path_not_existing, "omop.path: no such file or directory: /nonexistent/omop"),
    (_unknown_concept_set, "phenotypes.trd_definitions.ad2_augmentation.augmentation_concept_set: unknown concept set 'no_such_set'"),
    (_unknown_primary_definition, "primary_definition 'ad4' is not one of"),
    # Named the field '(top level)' until session 20 (a model validator, not the field's).
    (_duplicate_dataset_name, "datasets: Value error, dataset names must be unique, got ['discovery', 'discovery']"),
], ids=["unknown_key", "wrong_type", "missing_required_path", "path_not_existing", "unknown_concept_set",
        "unknown_primary_definition", "duplicate_dataset_name"])
def test_config(toy, tmp_path, capsys, edit, needle):
    config = write_config(tmp_path, toy, edit)
    code, errors, _ = run_cli(["run", "--stages", "phenotypes", "--config", str(config)], capsys)
    assert_one_error(code, errors, 2, f"ConfigError: {config}: ", needle)
    assert_nothing_complete(config)


# --------------------------------------------------------------------------------------------
# scoring files: mutated copies of one toy file, run through the pgs stage
# --------------------------------------------------------------------------------------------
def _rows(text: str) -> tuple[list[str], list[list[str]]]:
    lines = text.splitlines()
    head = lines[:FIRST_ROW - 1]
    return head, [line.split("\t") for line in lines[FIRST_ROW - 1:]]


def _join(head, rows) -> str:
    return "\n".join([*head, *("\t".join(r) for r in rows)]) + "\n"


def _set(row: int, column: str, value: str):
    def edit(text):
        head, rows = _rows(text)
        rows[row][head[-1].split("\t").index(column)] = value
        return _join(head, rows)
    return edit


def _drop_column(column: str):
    def edit(text):
        head, rows = _rows(text)
        i = head[-1].split("\t").index(column)
        cols = head[-1].split("\t")
        head[-1] = "\t".join(cols[:i] + cols[i + 1:])
        return _join(head, [r[:i] + r[i + 1:] for r in rows])
    return edit


def _duplicate_row(text):
    head, rows = _rows(text)
    rows[2] = list(rows[1])
    return _join(head, rows)


def _build(genome_build: str):
    def edit(text):
        head, rows = _rows(text)
        head = [h for h in head if not h.startswith("#HmPOS")]
        head = [f"#genome_build={genome_build}" if h.startswith("#genome_build") else h for h in head]
        cols = head[-1].split("\t")
        keep = [i for i, c in enumerate(cols) if not c.startswith("hm_")]
        head[-1] = "\t".join(cols[i] for i in keep)
        return _join(head, [[r[i] for i in keep] for r in rows])
    return edit


SCORING_CASES = {
    # name: (edit of the text or None for raw bytes, expected where, expected message part)
    "missing_required_column": (_drop_column("effect_weight"), f":{FIRST_ROW - 1}", "required column effect_weight is missing"),
    "non_numeric_weight": (_set(2, "effect_weight", "abc"), f":{FIRST_ROW + 2}", "column effect_weight: weight is not a finite number"),
    "nan_weight": (_set(0, "effect_weight", "NaN"), f":{FIRST_ROW}", "column effect_weight"),
    "inf_weight": (_set(4, "effect_weight", "inf"), f":{FIRST_ROW + 4}", "column effect_weight"),
    "empty_file": (lambda text: "", ":1", "empty scoring file"),
    # the column header and no variant row: was a WARNING, then MatchRateError 'matched 0/0' (exit 4)
    "header_only": (lambda text: _join(_rows(text)[0], []), f":{FIRST_ROW - 1}", "empty scoring file"),
    "wrong_genome_build": (_build("GRCh37"), ":9", "on build GRCh37"),
    "missing_genome_build": (_build("NR"), ":9", "on build not reported"),
    "duplicate_variants": (_duplicate_row, f":{FIRST_ROW + 2}", "duplicate variant"),
    "allele_not_acgt": (_set(3, "effect_allele", "X"), f":{FIRST_ROW + 3}", "column effect_allele: allele must contain only A/C/G/T"),
    "other_allele_not_acgt": (_set(5, "other_allele", "N"), f":{FIRST_ROW + 5}", "column other_allele"),
}


@pytest.mark.parametrize("case", [*SCORING_CASES, "truncated_gzip"])
def test_scoring_file(toy, tmp_path, capsys, case):
    source = toy / "scores" / "PGS900001.txt.gz"
    bad = tmp_path / "PGS900001.txt.gz"
    if case == "truncated_gzip":
        data = source.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
        where, message = "", "corrupt gzip data"
    else:
        edit, where, message = SCORING_CASES[case]
        bad.write_bytes(gzip.compress(edit(gzip.decompress(source.read_bytes()).decode()).encode()))
    config = write_config(tmp_path, toy, lambda raw: raw["pgs"].update(scoring_files=[str(bad)]))
    code, errors, _ = run_cli(["pgs", "--config", str(config)], capsys)
    assert_one_error(code, errors, 3, f"InputDataError: {bad}{where}", message)
    assert_nothing_complete(config)


# --------------------------------------------------------------------------------------------
# genotypes
# --------------------------------------------------------------------------------------------
TINY_VCF = """##fileformat=VCFv4.2
##FORMAT=<ID={field},Number=R,Type=Integer,Description="x">
##contig=<ID={contig},length=248956422>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1000001\t1000002
{contig}\t100\t.\tA\tG\t.\tPASS\t.\t{field}\t0,1\t1,0
"""


@pytest.mark.parametrize("case", ["truncated_bgzip", "no_gt_or_ds", "contig_matches_nothing"])
def test_genotypes(toy, tmp_path, capsys, case):
    if case == "truncated_bgzip":
        vcf = tmp_path / "discovery.vcf.bgz"
        data = (toy / "genotypes" / "discovery.vcf.bgz").read_bytes()
        vcf.write_bytes(data[: len(data) * 2 // 3])
        where, message = f"{vcf}: ", "truncated BGZF file (no BGZF end-of-file block)"
    elif case == "no_gt_or_ds":
        vcf = tmp_path / "no_gt.vcf"
        vcf.write_text(TINY_VCF.format(field="AD", contig="chr1"))
        where, message = f"{vcf}:5", "FORMAT column has no GT"
    else:
        vcf = tmp_path / "contigs.vcf"
        vcf.write_text(TINY_VCF.format(field="GT", contig="chromosome1").replace("0,1\t1,0", "0/1\t0/0"))
        where, message = f"{vcf}:5", "contig 'chromosome1' is not a GRCh38 contig name"
    config = write_config(tmp_path, toy, lambda raw: raw["datasets"][0]["genotypes"].update(path=str(vcf)))
    code, errors, _ = run_cli(["pgs", "--config", str(config)], capsys)
    assert_one_error(code, errors, 3, where, message)
    assert_nothing_complete(config)


# --------------------------------------------------------------------------------------------
# One valid run (pgs + phenotypes) on OMOP with suspicious-but-valid records: warnings counted
# --------------------------------------------------------------------------------------------
# A WARNING record's line on the console (logs.FORMAT: asctime, the level padded to 7, the logger).
RUN_LOG_WARNING = re.compile(r"\d{4}-\d\d-\d\d [\d:,]+ WARNING trd_spark[\w.]*: ")


def copy_omop(toy: Path, dest: Path, table: str | None = None, edit=None) -> Path:
    """The toy OMOP directory with ``table`` rewritten as ``edit(pandas frame)`` (None: dropped)."""
    shutil.copytree(toy / "omop", dest)
    if table is not None:
        path = dest / f"{table}.parquet"
        df = pd.read_parquet(path)
        shutil.rmtree(path) if path.is_dir() else path.unlink()
        if edit is not None:
            edit(df).to_parquet(path, index=False)
    return dest


@pytest.fixture(scope="module")
def warned_run(toy, tmp_path_factory):
    """pgs + phenotypes on OMOP with 3 drug records ending before their start, 2 with negative
    days_supply, and one antidepressant ingredient missing from ``concept``."""
    tmp = tmp_path_factory.mktemp("warned_run")
    cfg = load_config(write_config(tmp, toy))
    omop = copy_omop(toy, tmp / "omop")
    drugs = pd.read_parquet(omop / "drug_exposure.parquet")
    ancestors = pd.read_parquet(omop / "concept_ancestor.parquet")
    # The antidepressant ingredient with the most records (its products reach it in concept_ancestor).
    products = {}
    for ref in cfg.concept_sets.concept_sets[cfg.phenotypes.trials.concept_set].include:
        below = set(ancestors.descendant_concept_id[ancestors.ancestor_concept_id == ref.concept_id]) | {ref.concept_id}
        products[ref.concept_id] = drugs.index[drugs.drug_concept_id.isin(below)]
    ingredient = max(products, key=lambda k: len(products[k]))
    ad = products[ingredient][:5]
    assert len(ad) == 5
    drugs.loc[ad[:3], "drug_exposure_end_date"] = drugs.loc[ad[:3], "drug_exposure_start_date"] - pd.Timedelta(days=3)
    drugs.loc[ad[3:], "days_supply"] = -30
    shutil.rmtree(omop / "drug_exposure.parquet", ignore_errors=True)
    (omop / "drug_exposure.parquet").unlink(missing_ok=True)
    drugs.to_parquet(omop / "drug_exposure.parquet", index=False)
    concept = pd.read_parquet(omop / "concept.parquet")
    shutil.rmtree(omop / "concept.parquet", ignore_errors=True)
    (omop / "concept.parquet").unlink(missing_ok=True)
    concept[concept.concept_id != ingredient].to_parquet(omop / "concept.parquet", index=False)
    # Two more persons, read under any_record: one whose only EHR row lies after the cutoff, which the
    # phenotypes stage's run() counts while the MDD groups are written (274ae37; no other run reaches it),
    # and one without any row (no EHR data either, so that count differs from the persons without EHR data).
    person = pd.read_parquet(omop / "person.parquet")
    late = person.iloc[:1].assign(person_id=int(person.person_id.max()) + 1)
    pd.concat([person, late, late.assign(person_id=late.person_id + 1)], ignore_index=True) \
        .to_parquet(omop / "person.parquet", index=False)
    periods = pd.read_parquet(omop / "observation_period.parquet")  # theirs: no_observation_period gate
    pd.concat([periods, *(periods.iloc[:1].assign(observation_period_id=int(periods.observation_period_id.max()) + k,
                                                  person_id=int(late.person_id.iloc[0]) + k - 1) for k in (1, 2))],
              ignore_index=True).to_parquet(omop / "observation_period.parquet", index=False)
    conditions = pd.read_parquet(omop / "condition_occurrence.parquet")
    after = conditions.iloc[:1].assign(condition_occurrence_id=int(conditions.condition_occurrence_id.max()) + 1,
                                       person_id=int(late.person_id.iloc[0]), condition_start_date=dt.date(2024, 1, 2),
                                       condition_end_date=dt.date(2024, 1, 2))
    pd.concat([conditions, after], ignore_index=True).to_parquet(omop / "condition_occurrence.parquet", index=False)
    config = write_config(tmp, toy, lambda raw: raw["omop"].update(path=str(omop), ehr_evidence="any_record"))
    import contextlib
    import io
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["run", "--stages", "pgs", "phenotypes", "--config", str(config)])
    return code, err.getvalue(), config, ingredient


def test_suspicious_omop_records_are_counted_warnings(warned_run):
    code, err, config, ingredient = warned_run
    assert code == 0, err[-3000:]
    release = Path(yaml.safe_load(config.read_text())["output_root"]) / "toy-r1"
    manifest = json.loads((release / "phenotypes" / "_manifest.json").read_text())
    quirks = manifest["notes"]["quirks"]["drug_records"]
    assert quirks == {"n_end_before_start": 3, "n_negative_days_supply": 2, "n_negative_quantity": 0,
                      "n_zero_days_supply": 0,
                      "n_refill_course_over_max": 0, "n_negative_refills": 0, "n_administration_one_day": 0,
                      "n_mail_order_default": 0, "n_verbatim_end_not_after_start": 0}
    # Oracle (pandas): persons with EHR rows, every one dated after omop.data_cutoff_date (the added one at least)
    omop = Path(yaml.safe_load(config.read_text())["omop"]["path"])
    cutoff = pd.Timestamp(yaml.safe_load(config.read_text())["omop"]["data_cutoff_date"])
    dates = pd.concat([pd.read_parquet(omop / f"{t}.parquet")[["person_id", c]].set_axis(["person_id", "d"], axis=1)
                       for t, c in (("condition_occurrence", "condition_start_date"),
                                    ("drug_exposure", "drug_exposure_start_date"),
                                    ("procedure_occurrence", "procedure_date"),
                                    ("device_exposure", "device_exposure_start_date"))])
    dates = dates[dates.person_id.isin(pd.read_parquet(omop / "person.parquet").person_id)]
    after_only = (pd.to_datetime(dates.d) > cutoff).groupby(dates.person_id).all().sum()
    assert after_only >= 1
    ehr = manifest["notes"]["ehr_evidence"]
    assert ehr["n_persons_ehr_rows_after_cutoff_only"] == after_only < ehr["n_persons_without_ehr_data"], ehr
    absent = manifest["notes"]["concepts_absent"]
    assert any(f"concept_id {ingredient} " in ref for refs in absent.values() for ref in refs), absent
    # The stage's warnings are the WARNING records logged while it ran, by any trd_spark logger (the
    # console shows no other library's WARNING): the lines between its "running" and "done" lines.
    # (Counted by logger name, "trd_spark.phenotypes", a WARNING of the stage from another module's
    # logger was missed, and a counter attached to that logger alone agreed with it.)
    lines = err[:err.index("Summary")].splitlines()
    warning_at = [i for i, line in enumerate(lines) if RUN_LOG_WARNING.match(line)]
    started = next(i for i, line in enumerate(lines) if re.search(r"\] phenotypes: running \(", line))
    done = next(i for i, line in enumerate(lines) if re.search(r"\] phenotypes: done in ", line))
    warning_lines = [lines[i] for i in warning_at if started < i < done]
    # 3 and 2 records (the manifest's): <20 in the log, as a count of 1..19 persons (logs.record_count_text)
    assert any("<20 antidepressant/study record(s) with end_before_start" in line for line in warning_lines)
    assert any("<20 antidepressant/study record(s) with negative_days_supply" in line for line in warning_lines)
    assert any(f"concept_id {ingredient} " in line for line in warning_lines)
    # The manifest and the run summary carry the stage's warning count, and the summary's total is
    # every WARNING line of the run (each stage's, and none outside a stage here).
    assert manifest["notes"]["warnings"] == len(warning_lines) >= 3
    summary = err[err.index("Summary"):]
    assert re.search(rf"phenotypes\s+ran\s+[\d.]+s\s+warnings {len(warning_lines)}\b", summary), summary
    pgs_manifest = json.loads((release / "pgs" / "_manifest.json").read_text())
    assert re.search(rf"pgs\s+ran\s+[\d.]+s\s+warnings {pgs_manifest['notes']['warnings']}\b", summary)
    assert f"warnings: {len(warning_at)} in this run;" in summary, summary
    assert len(warning_at) == pgs_manifest["notes"]["warnings"] + len(warning_lines)


def test_rerun_reports_the_warnings_of_the_skipped_stages(warned_run, capsys):
    code, _, config, _ = warned_run
    code, _, err = run_cli(["run", "--stages", "pgs", "phenotypes", "--config", str(config)], capsys)
    assert code == 0
    release = Path(yaml.safe_load(config.read_text())["output_root"]) / "toy-r1"
    n = json.loads((release / "phenotypes" / "_manifest.json").read_text())["notes"]["warnings"]
    assert re.search(rf"phenotypes\s+skipped\s+[\d.]+s\s+warnings {n}\b", err), err[-2000:]


def test_samples_missing_from_the_ancestry_file(warned_run, tmp_path, capsys):
    """The cohort stage after a complete pgs + phenotypes: two genotyped samples lack ancestry
    (counted as every log line counts persons: 1-19 read '<20', d318678)."""
    _, _, config, _ = warned_run
    raw = yaml.safe_load(config.read_text())
    ancestry = pd.read_csv(raw["ancestry"]["path"], sep="\t", dtype=str)
    scores = pd.read_parquet(Path(raw["output_root"]) / "toy-r1" / "pgs" / "scores.parquet")
    genotyped = set(scores.person_id.astype(str))
    drop = ancestry.index[ancestry.research_id.isin(genotyped)][:2]
    short = tmp_path / "ancestry_preds.tsv"
    ancestry.drop(drop).to_csv(short, sep="\t", index=False)
    raw["ancestry"]["path"] = str(short)
    bad_config = tmp_path / "config.yaml"
    bad_config.write_text(yaml.safe_dump(raw))
    code, errors, _ = run_cli(["cohort", "--config", str(bad_config)], capsys)
    assert_one_error(code, errors, 3, f"ancestry.path {short}", "<20 sample(s) of dataset discovery are missing")
    assert not (Path(raw["output_root"]) / "toy-r1" / "cohort" / "_SUCCESS").exists()


# --------------------------------------------------------------------------------------------
# OMOP errors: mutated copies, run through the phenotypes stage
# --------------------------------------------------------------------------------------------
def _dup_person(df):
    return pd.concat([df, df.iloc[:1]], ignore_index=True)


def _no_birth_year(df):
    # birth_datetime emptied too: beside a filled one, an empty year_of_birth is its year (session 38)
    df = df.copy()
    df["year_of_birth"] = df["year_of_birth"].astype("Int64")
    df.loc[df.index[:2], "year_of_birth"] = pd.NA
    df.loc[df.index[:2], "birth_datetime"] = pd.NaT
    return df


def _bad_date(df):
    df = df.copy()
    df["observation_period_start_date"] = df["observation_period_start_date"].astype(str)
    df.loc[df.index[1], "observation_period_start_date"] = "2020-13-45"
    return df


OMOP_CASES = {
    "table_missing": ("concept_ancestor", None, "", "OMOP table concept_ancestor not found"),
    "column_missing": ("drug_exposure", lambda df: df.drop(columns=["days_supply"]), "drug_exposure.parquet",
                       "OMOP table drug_exposure is missing required column(s) days_supply"),
    "unparsable_dates": ("observation_period", _bad_date, "observation_period.parquet",
                         # No count: a period per person (AoU), so its values count persons (session 20)
                         "column observation_period_start_date: value(s) are not dates (yyyy-mm-dd), e.g. '####-##-##' "
                         "(digits shown as #, letters as a)"),
    "persons_without_birth_year": ("person", _no_birth_year, "person.parquet",
                                   "column year_of_birth: person(s) without a birth year and without a "
                                   "birth_datetime"),
    "duplicate_person_id": ("person", _dup_person, "person.parquet",
                            "column person_id: a person_id occurs on more than one row"),
}


@pytest.mark.parametrize("case", list(OMOP_CASES))
def test_omop(toy, tmp_path, capsys, case):
    table, edit, file, message = OMOP_CASES[case]
    omop = copy_omop(toy, tmp_path / "omop", table, edit)
    config = write_config(tmp_path, toy, lambda raw: raw["omop"].update(path=str(omop)))
    code, errors, _ = run_cli(["phenotypes", "--config", str(config)], capsys)
    assert_one_error(code, errors, 3, f"InputDataError: {omop}/{file}".rstrip("/") + ":", message)
    assert_nothing_complete(config)


# --------------------------------------------------------------------------------------------
# statistics: zero cases in one dataset is a reported row, not a crash
# --------------------------------------------------------------------------------------------
def test_contrast_with_zero_cases_in_a_dataset_is_a_row(spark, tmp_path):
    from models_sim import make_config, simulate_frame, to_spark

    from trd_spark.layout import publish_stage
    from trd_spark.pipeline import run_stage

    cfg = make_config(tmp_path, models={"cox": False, "contrasts": ["trd_vs_nonmdd", "mdd_vs_nonmdd"]})
    frame = simulate_frame(seed=3, n=200, datasets=("discovery", "replication_wgs"))
    repl = frame.dataset == "replication_wgs"
    frame.loc[repl & (frame.status == "TRD"), "status"] = "MDD_other"
    with publish_stage(spark, cfg, "cohort") as w:
        w.write_table("analysis_frame", to_spark(spark, frame))
    run_stage(spark, cfg, "models")
    release = Path(cfg.output_root) / cfg.release
    assert (release / "models" / "_SUCCESS").exists()
    res = pd.read_parquet(release / "models" / "logistic.parquet")
    zero = res[(res.dataset == "replication_wgs") & (res.contrast == "trd_vs_nonmdd")]
    assert len(zero) == len(set(res.pgs_id)) > 0
    assert (zero.n_cases == 0).all() and (~zero.converged).all() and zero.odds_ratio.isna().all()
    assert zero.note.str.contains("too few cases").all()
    other = res[(res.dataset == "discovery") & (res.contrast == "trd_vs_nonmdd")]
    assert other.converged.all()


def test_readme_troubleshooting_lists_every_error_class():
    """Each TrdSparkError subclass appears in README "Troubleshooting" with its exit code."""
    from trd_spark import errors

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("## Troubleshooting"):]
    section = section[: section.index("\n## ", 5)]
    classes = [c for c in vars(errors).values()
               if isinstance(c, type) and issubclass(c, errors.TrdSparkError) and c is not errors.TrdSparkError]
    assert len(classes) >= 6
    for cls in classes:
        rows = [line for line in section.splitlines() if line.startswith(f"| `{cls.__name__}")]
        assert rows, cls.__name__
        assert all(f"| {cls.exit_code} |" in row for row in rows), (cls.__name__, rows)
