"""Config loading: the embedded default, path resolution, and errors that name the key path."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from trd_spark.config import DEFAULT_CONFIG, _read_yaml, latest_today, load_config
from trd_spark.errors import ConfigError
from trd_spark.phenotypes.omop import bigquery_read_options

REPO = Path(__file__).resolve().parent.parent


def write_config(tmp_path: Path, mutate=None) -> Path:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["phenotypes"]["concept_sets"] = str(REPO / "conf" / "concept_sets.yaml")
    raw["pgs"]["trait_panel"] = str(REPO / "conf" / "trait_panel_toy.yaml")
    if mutate:
        mutate(raw)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_embedded_default_loads_and_resolves_relative_paths():
    cfg = load_config()
    assert cfg.source_path == str(DEFAULT_CONFIG)
    assert cfg.output_root == str((REPO / "out" / "toy" / "results").resolve())
    assert [d.name for d in cfg.datasets] == ["discovery", "replication_wgs", "replication_array"]
    assert cfg.phenotypes.primary_definition == "ad3"
    assert {"mdd", "antidepressants", "ect"} <= set(cfg.concept_sets.concept_sets)
    assert len(cfg.trait_panel.domains) == 7


def test_every_shipped_config_is_valid(monkeypatch):
    monkeypatch.setenv("WORKSPACE_BUCKET", "gs://fc-secure-x")
    monkeypatch.setenv("WORKSPACE_CDR", "fc-aou-cdr-prod-ct.C2022Q4R9")
    monkeypatch.setenv("GOOGLE_PROJECT", "aou-rw-1234abcd")
    for name in ("toy.yaml", "dataproc.yaml", "aou_releases.yaml", "aou.yaml"):
        cfg = load_config(REPO / "conf" / name)
        assert cfg.release
    # AoU reads are billed to the workspace project, not the CDR's (new-user trial, session 16)
    assert bigquery_read_options(cfg.omop, "person")["parentProject"] == "aou-rw-1234abcd"


def test_every_shipped_toy_config_reads_ehr_evidence_from_the_observation_periods():
    """The toy generator gives each person an observation period spanning their records, some persons
    no record in it: under any_record (the package default) those would be no controls. Before session
    48 conf/toy_releases.yaml lacked the key that conf/toy.yaml sets (its releases demo kept those persons
    out of the controls). The tests' shared toy_releases fixture is built from conf/toy.yaml."""
    toys = [name for name in sorted(p.name for p in (REPO / "conf").glob("*.yaml"))
            if "\ntoy_data:" in (REPO / "conf" / name).read_text()]
    assert toys == ["toy.yaml", "toy_releases.yaml"]
    for name in toys:
        assert load_config(REPO / "conf" / name).omop.ehr_evidence == "observation_period", name


@pytest.mark.parametrize(("release", "cutoff"), [("C2022Q4R9", dt.date(2022, 7, 1)), ("C2024Q3R5", dt.date(2023, 10, 1)),
                                               ("C2099Q1R1", None)])
def test_aou_releases_name_the_cdr_and_take_each_release_s_cutoff(monkeypatch, release, cutoff):
    """conf/aou_releases.yaml (new-user trial, session 19: no AoU example with {release}): the
    release is the CDR name, in the BigQuery dataset and the bucket folder of its prepared
    genotypes; omop.data_cutoff_date is a date per release, the run's release's taken (one date
    for every release extended an older release's follow-up past its data, or cut a newer
    one's records); a release without a date is one error naming the key, never another's date."""
    monkeypatch.setenv("WORKSPACE_BUCKET", "gs://fc-secure-x")
    monkeypatch.setenv("GOOGLE_PROJECT", "aou-rw-1234abcd")
    path = REPO / "conf" / "aou_releases.yaml"
    if cutoff is None:
        with pytest.raises(ConfigError, match=r"aou_releases.yaml: omop.data_cutoff_date: no date for release "
                                              r"'C2099Q1R1' \(it has: C2022Q4R9, C2024Q3R5\)"):
            load_config(path, overrides={"release": release})
        return
    cfg = load_config(path, overrides={"release": release})
    assert cfg.omop.data_cutoff_date == cutoff
    assert cfg.omop.path == f"fc-aou-cdr-prod-ct.{release}"
    assert cfg.datasets[0].genotypes.path == f"gs://fc-secure-x/trd-spark-inputs/{release}/discovery.mt"
    assert cfg.releases.input_root == "gs://fc-secure-x/trd-spark-inputs"


def test_uris_are_kept(tmp_path):
    def mutate(raw):
        raw["output_root"] = "gs://bucket/results"
    cfg = load_config(write_config(tmp_path, mutate))
    assert cfg.output_root == "gs://bucket/results"


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda r: r.update(colour="blue"), "colour: unknown key"),
        (lambda r: r["spark"].update(master="mesos://x"), "spark.master"),
        (lambda r: r["pgs"].update(min_overlap=1.5), "pgs.min_overlap"),
        # A dataset and a TRD definition by name, not by place in the list (new-user trial, session 19)
        (lambda r: r["datasets"][1]["genotypes"].update(format="cram"), "datasets.replication_wgs.genotypes.format"),
        (lambda r: r.pop("omop"), "omop: Field required"),
        (lambda r: r["phenotypes"].update(primary_definition="nope"), "primary_definition 'nope'"),
        (lambda r: r["phenotypes"]["trd_definitions"][1].update(augmentation_concept_set="lithium_only"),
         "phenotypes.trd_definitions.ad2_augmentation.augmentation_concept_set: unknown concept set 'lithium_only'"),
        (lambda r: r["datasets"][1].update(role="discovery"), "exactly one dataset"),
        (lambda r: r["spark"].update(master="local[0]"), "spark.master"),
        (lambda r: r["spark"].update(master="local-cluster[2,0,1024]"), "spark.master"),
        (lambda r: r["toy_data"].update(seed=-1), "toy_data.seed"),
        # The CDR dataset without its project (new-user trial, session 16): was accepted and
        # failed in the phenotype stage, after the pgs stage.
        (lambda r: r["omop"].update(format="bigquery", path="C2022Q4R9"),
         "omop.path: Value error, format bigquery needs 'project.dataset'"),
        (lambda r: r["omop"].update(billing_project="aou-rw-1"),
         "omop.billing_project: Value error, applies to format bigquery only (format is 'parquet')"),
        (lambda r: r["omop"].update(format="bigquery", path="p.d", billing_project="p.d"),
         "omop.billing_project: Value error, a Google Cloud project ID"),
        # A cutoff after today (new-user trial, session 17): open observation periods ran to it,
        # so follow-up that has not happened counted towards trMDD and the Cox censoring times.
        (lambda r: r["omop"].update(data_cutoff_date=dt.date.today() + dt.timedelta(days=400)),
         "omop.data_cutoff_date: Value error, "),
        # The control rule's own drug sets (review of session 20): known, and of the drug domain
        (lambda r: r["phenotypes"].setdefault("mdd", {}).update(control_exclusion_drug_concept_sets=["nope"]),
         "phenotypes.mdd.control_exclusion_drug_concept_sets.0: unknown concept set 'nope'"),
        (lambda r: r["phenotypes"].setdefault("mdd", {}).update(control_exclusion_drug_concept_sets=["esketamine", "ect"]),
         "phenotypes.mdd.control_exclusion_drug_concept_sets.1: concept set 'ect' has domain 'procedure'; expected drug"),
    ],
    ids=["unknown-key", "bad-master", "out-of-range", "bad-enum", "missing-section",
         "unknown-primary", "unknown-concept-set", "two-discovery", "no-local-core", "no-cluster-core",
         "negative-seed", "bigquery-dataset-without-project", "billing-project-not-bigquery",
         "billing-project-dataset", "cutoff-in-the-future", "unknown-control-drug-set", "control-drug-set-not-drug"],
)
def test_bad_config_names_the_key(tmp_path, mutate, expected):
    path = write_config(tmp_path, mutate)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_an_unknown_key_names_the_known_key_it_is_a_typo_of(tmp_path):
    """A typo in a key was 'pgs.min_overlp: unknown key' alone (new-user trial, session 24):
    the closest key of that section is named, also inside a list item and at the top level;
    a key close to none gets no guess. Errors in one line, as before."""
    def typos(raw):
        raw["pgs"]["min_overlp"] = raw["pgs"].pop("min_overlap")
        raw["phenotypes"]["trd_definitions"][0]["n_trial"] = raw["phenotypes"]["trd_definitions"][0].pop("n_trials")
        raw["spark"]["colour"] = "blue"
        raw["relase"] = "x"

    path = write_config(tmp_path, typos)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert "\n" not in text
    assert "pgs.min_overlp: unknown key (did you mean min_overlap?)" in text
    assert "phenotypes.trd_definitions.ad3.n_trial: unknown key (did you mean n_trials?)" in text
    assert "relase: unknown key (did you mean release?)" in text
    assert "spark.colour: unknown key;" in text or text.endswith("spark.colour: unknown key")


@pytest.mark.parametrize(("now", "latest"), [
    (dt.datetime(2026, 12, 2, 9, 59, tzinfo=dt.UTC), dt.date(2026, 12, 2)),
    (dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC), dt.date(2026, 12, 3)),  # midnight at UTC+14
    # Sydney, 9 a.m. on the 3rd (the 2nd in UTC): its own date
    (dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=10))), dt.date(2026, 12, 3)),
])
def test_latest_today_is_the_date_furthest_ahead(now, latest):
    assert latest_today(now) == latest


@pytest.mark.parametrize("utc_hour", [0, 9, 10, 12, 23])
def test_a_cutoff_of_today_anywhere_is_valid(tmp_path, monkeypatch, utc_hour):
    """omop.data_cutoff_date may be today's date where the user is (session 18 review): today
    in UTC refused it east of Greenwich until UTC midnight (an extraction dated the 3rd in
    Sydney at 9 a.m. is 'after today, 2nd UTC'). The next day is still refused.

    The config module's clock is fixed (its ``dt`` is a copy of ``datetime`` whose
    ``datetime.now`` returns 2026-12-02 at ``utc_hour``), so the case does not depend on the hour
    the suite runs at: from 10:00 UTC the date at UTC+14 is the 3rd, and a check against today
    in UTC (3a34b27) refuses the 3rd; before 10:00 both are the 2nd."""
    import types

    import trd_spark.config as config_module

    fixed = dt.datetime(2026, 12, 2, utc_hour, 30, tzinfo=dt.UTC)

    class FixedClock(dt.datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return fixed.astimezone(tz) if tz else fixed.replace(tzinfo=None)

    clock = types.ModuleType("datetime")
    clock.__dict__.update(vars(dt))
    clock.datetime = FixedClock  # type: ignore[attr-defined]
    monkeypatch.setattr(config_module, "dt", clock)
    today = dt.date(2026, 12, 3) if utc_hour >= 10 else dt.date(2026, 12, 2)
    assert latest_today() == today
    load_config(write_config(tmp_path, lambda r: r["omop"].update(data_cutoff_date=today)))
    with pytest.raises(ConfigError, match=r"omop.data_cutoff_date: Value error, .* is after today"):
        load_config(write_config(tmp_path, lambda r: r["omop"].update(data_cutoff_date=today + dt.timedelta(days=1))))


def test_yaml_syntax_error_names_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("release: r1\noutput_root: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken.yaml:\d+: invalid YAML"):
        load_config(path)


@pytest.mark.parametrize(("appended", "key"), [
    ("spark:\n  master: local[1]\n", "spark"),  # a second top-level block: the first's keys were dropped
    ("report:\n  small_count_threshold: 20\n  small_count_threshold: 11\n", "small_count_threshold"),
], ids=["block-twice", "key-twice"])
def test_duplicate_key_is_a_config_error_naming_the_line(tmp_path, appended, key):
    """A key written twice in one mapping was accepted, the last one winning (PyYAML): a
    second ``spark:`` block appended to toy.yaml replaced the first, dropping driver_memory,
    shuffle_partitions, tmp_dir and log_level with no message (new-user trial, session 13).
    It is a ConfigError (exit 2) naming the file, the second occurrence's line and the first's."""
    text = DEFAULT_CONFIG.read_text() + appended
    path = tmp_path / "dup.yaml"
    path.write_text(text)
    first, second = [i for i, t in enumerate(text.splitlines(), 1) if t.strip().startswith(f"{key}:")]
    with pytest.raises(ConfigError, match=rf"dup.yaml:{second}: invalid YAML: duplicate key '{key}' \(first at line {first}\)"):
        load_config(path)


def test_yaml_merge_keys_may_be_overridden(tmp_path):
    """``<<: *anchor`` then an explicit key is YAML's override, not a duplicate key."""
    path = tmp_path / "merge.yaml"
    path.write_text("base: &b {a: 1, c: 2}\nother:\n  <<: *b\n  a: 3\n")
    assert _read_yaml(path)["other"] == {"a": 3, "c": 2}


@pytest.mark.parametrize("bad_date", ["2023-13-01", "2023-02-30"], ids=["month-13", "feb-30"])
def test_impossible_date_is_a_config_error_naming_the_line(tmp_path, bad_date):
    """A value YAML reads as a date but that is no date (month 13, 30 February) was a bare
    ValueError from datetime.date (exit 1 with a traceback); it is a ConfigError (exit 2)
    naming the file, the line and the value."""
    text = DEFAULT_CONFIG.read_text().replace("data_cutoff_date: 2023-07-01", f"data_cutoff_date: {bad_date}")
    assert bad_date in text
    path = tmp_path / "bad_date.yaml"
    path.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if bad_date in t)
    with pytest.raises(ConfigError, match=rf"bad_date.yaml:{line}: invalid YAML: invalid date '{bad_date}'"):
        load_config(path)


@pytest.mark.parametrize(
    ("config", "release", "warns"),
    [("toy.yaml", "toy-r9", True), ("toy.yaml", "toy-r1", False), ("toy_releases.yaml", "toy-r2", False)],
    ids=["no-placeholder-other-release", "no-placeholder-same-release", "placeholder"],
)
def test_release_override_without_release_placeholder_warns(caplog, config, release, warns):
    """--release on a config whose input paths have no {release} would read the file release's
    inputs and only name the outputs after the new release: a warning says so (conf/toy.yaml);
    a config with {release} inputs (conf/toy_releases.yaml) or the file's own release is silent."""
    with caplog.at_level("WARNING", logger="trd_spark.config"):
        cfg = load_config(REPO / "conf" / config, overrides={"release": release})
    assert cfg.release == release
    messages = [r.getMessage() for r in caplog.records if "contains {release}" in r.getMessage()]
    assert bool(messages) == warns, messages
    if warns:
        assert messages == [f"release toy-r9: no input path of {REPO / 'conf' / config} contains {{release}}, "
                            "so it reads the same inputs as release toy-r1; only its outputs are named toy-r9"]


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.yaml")


@pytest.mark.parametrize(("key", "section"), [("concept_sets", "phenotypes"), ("trait_panel", "pgs")])
def test_a_missing_concept_sets_or_trait_panel_names_the_config_and_key(tmp_path, key, section):
    """A typo'd concept sets or trait panel path read '<path>: file not found', naming neither
    the config nor its key (new-user trial, session 30); now as a missing input is named."""
    config = write_config(tmp_path, lambda r: r[section].update({key: "conf/absent.yaml"}))
    with pytest.raises(ConfigError) as e:
        load_config(config)
    assert str(e.value) == (f"{config}: {section}.{key}: no such file or directory: "
                            f"{tmp_path / 'conf' / 'absent.yaml'}")


def test_fingerprint_changes_with_content(tmp_path):
    a = load_config(write_config(tmp_path))
    b = load_config(write_config(tmp_path, lambda r: r["pgs"].update(min_overlap=0.5)))
    assert a.fingerprint() != b.fingerprint()
    assert a.fingerprint() == load_config(write_config(tmp_path)).fingerprint()


def test_env_vars_expand_and_unset_ones_are_named(tmp_path, monkeypatch):
    def mutate(raw):
        raw["output_root"] = "${TRD_TEST_BUCKET}/results"
    path = write_config(tmp_path, mutate)
    monkeypatch.delenv("TRD_TEST_BUCKET", raising=False)
    with pytest.raises(ConfigError, match="output_root: environment variable TRD_TEST_BUCKET is not set"):
        load_config(path)
    monkeypatch.setenv("TRD_TEST_BUCKET", "gs://b")
    assert load_config(path).output_root == "gs://b/results"


def test_toy_data_of_other_size_is_one_error_not_silently_reused(tmp_path):
    """Editing toy_data.persons (or variants / seed) once toy data exist must not leave the
    old data in use with every stage 'up to date': one ConfigError naming what differs."""
    import json

    from trd_spark.pipeline import ensure_toy_data

    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw = yaml.safe_load(yaml.safe_dump(raw).replace("../out/toy", str(tmp_path)))
    raw["phenotypes"]["concept_sets"] = str(REPO / "conf" / "concept_sets.yaml")
    raw["pgs"]["trait_panel"] = str(REPO / "conf" / "trait_panel_toy.yaml")
    raw["toy_data"].update(persons=400, variants=300, seed=7)
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(raw))
    cfg = load_config(path)
    data = tmp_path / "data"
    data.mkdir()
    (data / "truth.json").write_text(json.dumps({"persons": 300, "variants": 300, "seed": 7}))
    with pytest.raises(ConfigError, match=r"^toy_data: the toy data in \S+/data were generated with persons 300 "
                                          r"\(config: 400\): delete that directory"):
        ensure_toy_data(cfg)
    (data / "truth.json").write_text(json.dumps({"persons": 400, "variants": 300, "seed": 7}))
    ensure_toy_data(cfg)  # the same parameters: used as they are, nothing generated
    assert sorted(p.name for p in data.iterdir()) == ["truth.json"]


@pytest.mark.parametrize("index", [1, 2], ids=["augmentation", "somatic"])
def test_last_trial_adequate_false_on_another_rule_than_a_sequence_is_a_config_error(tmp_path, index):
    """Only antidepressant_sequence reads last_trial_adequate (phenotypes.trd.sequence_onset_expr);
    written on ad2_augmentation or somatic it was accepted and ignored, so the definition meant
    to read the third trial as 'started' counted as configured otherwise, silently. On a
    sequence it loads (conf/toy.yaml's ad3)."""
    def set_flag(i):
        return lambda r: r["phenotypes"]["trd_definitions"][i].update(last_trial_adequate=False)

    assert not load_config(write_config(tmp_path, set_flag(0))).phenotypes.trd_definitions[0].last_trial_adequate
    with pytest.raises(ConfigError, match=r"last_trial_adequate: false applies to rule 'antidepressant_sequence' "
                                          r"only, not '(augmentation|somatic)'"):
        load_config(write_config(tmp_path, set_flag(index)))


@pytest.mark.parametrize("threshold", [10, 19, 1])
def test_small_count_threshold_below_20_is_a_config_error(tmp_path, threshold):
    """``report.small_count_threshold: 10`` was accepted (``ge=1``) and export/ then showed counts
    10-19 with no message, against the project's rule and the All of Us dissemination policy (no
    count 1-19 published; session 48). It is one ConfigError naming the file, the key and the rule;
    20 (the default) and a stricter 21 load."""
    path = write_config(tmp_path, lambda r: r.setdefault("report", {}).update(small_count_threshold=threshold))
    with pytest.raises(ConfigError, match=rf"c.yaml: report.small_count_threshold: Value error, {threshold} is below 20: "
                                          r"no count 1-19 may be published \(the All of Us Data and Statistics "
                                          r"Dissemination Policy\)"):
        load_config(path)
    for allowed in (20, 21):
        path = write_config(tmp_path, lambda r, t=allowed: r.setdefault("report", {}).update(small_count_threshold=t))
        assert load_config(path).report.small_count_threshold == allowed
