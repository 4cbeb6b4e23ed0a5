"""The stage end to end: OMOP Parquet on disk -> published phenotypes stage with a manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from test_phenotypes_support import (
    DEPRESSIVE_DISORDER,
    FLUOXETINE_CAP,
    MDD_CONCEPT,
    SERTRALINE,
    SERTRALINE_TAB,
    cond,
    drug,
    frame,
    obs,
    toy_config,
)
from test_phenotypes_trd import trd_omop

from trd_spark.config import Config
from trd_spark.layout import Layout
from trd_spark.phenotypes.concepts import expand_concept_set
from trd_spark.phenotypes.flow import cohort_flow_rows
from trd_spark.phenotypes.omop import SOURCE_CONCEPT_OF
from trd_spark.phenotypes.persons import derive_persons
from trd_spark.phenotypes.stage import (
    EVENT_TABLES,
    WORK_DIR,
    PhenotypeTables,
    by_person,
    concept_set_ids,
    derive_definition_phenotypes,
    derive_mdd_groups,
    derive_phenotype_tables,
    derive_study_events,
    derive_trials,
    dose_form_ids,
    followup_events,
    literal_frame,
    observation_count_ids,
    read_omop,
    stage_counts,
    study_concept_ids,
    study_concept_set_names,
    study_vocabulary,
    trial_ingredients,
    unreached_drug_check,
    unread_columns,
)
from trd_spark.pipeline import run_stage
from trd_spark.vocabulary import ALL_DEFINITIONS, FlowStep, Status


class Published(NamedTuple):
    """One ``run_stage(spark, cfg, "phenotypes")`` on OMOP Parquet, with the pure chain on the
    same files and ``stage_counts`` of every part over it (computed once for the two tests
    below: each chain and count query costs seconds of Spark planning)."""

    cfg: Config
    results: Path  # output_root
    omop: dict[str, DataFrame]  # read_omop of the written tables
    pure: PhenotypeTables  # derive_phenotype_tables(omop, cfg)
    dates: dict
    quirks: dict  # stage_counts(omop, pure..., no part observed)
    warnings: list[str]  # the phenotypes stage's WARNING lines during the run


# Other releases' published phenotypes manifests beside the run's (toy-r1): {release: (published, rows)}.
# toy-r0, the newest earlier published one, read 1,000 drug_exposure rows (this run reads 15: a table
# shrunk by more than releases.max_table_shrink) and 1 condition_occurrence row; toy-r0.5 is not
# published (no _SUCCESS) and toy-r2 is newer: neither is compared, so their shrunk condition rows
# must not be warned about.
OTHER_RELEASES = {"toy-r0": (True, {"drug_exposure": 1000, "condition_occurrence": 1}),
                  "toy-r0.5": (False, {"condition_occurrence": 10**6}),
                  "toy-r2": (True, {"condition_occurrence": 10**6})}


def plant_other_releases(results: Path, release: str) -> None:
    """``OTHER_RELEASES``' phenotypes folders under output root ``results`` (the run's ``release``
    must sort between toy-r0.5 and toy-r2): a manifest with the notes' row counts, _SUCCESS if published."""
    assert release == "toy-r1"
    for name, (done, rows) in OTHER_RELEASES.items():
        stage = results / name / "phenotypes"
        stage.mkdir(parents=True)
        records = {f"n_{t}_records": n for t, n in rows.items()}
        (stage / "_manifest.json").write_text(json.dumps({"notes": {"quirks": {"event_table_records": records}}}))
        if done:
            (stage / "_SUCCESS").write_text("")


@pytest.fixture(scope="module")
def published(spark, tmp_path_factory) -> Published:
    """trd_omop plus a duplicated exposure row, unmapped drug and condition rows, a preliminary
    depression record, an overlapping period and an MDD diagnosis written to observation, written
    without the (optional) death table, then the stage run on it, beside ``OTHER_RELEASES``."""
    import datetime as dt
    import logging

    tmp_path = tmp_path_factory.mktemp("phenotypes_stage")
    omop_dir = tmp_path / "omop"
    tables = trd_omop(spark)
    tables["drug_exposure"] = tables["drug_exposure"].unionByName(
        frame(spark, "drug_exposure", [drug(1, SERTRALINE_TAB, "2015-03-01", days_supply=60),
                                       (*drug(3, 0, "2015-04-01", days_supply=30), 19_000_001)]))  # unmapped
    tables["condition_occurrence"] = tables["condition_occurrence"].unionByName(frame(spark, "condition_occurrence", [
        (*cond(3, 0, "2015-04-01"), None, 45_000_001),  # unmapped: concept 0, a source concept
        (*cond(1, DEPRESSIVE_DISORDER, "2015-01-01"), 32899),  # preliminary; person 1 is an MDD case anyway
    ]))
    tables["observation_period"] = tables["observation_period"].unionByName(
        frame(spark, "observation_period", [obs(2, "2005-01-01", "2010-01-01")]))
    # read by no rule (diagnoses: condition_occurrence only), counted and warned (quirks.observation_condition_records)
    tables["observation"] = tables["observation"].unionByName(
        frame(spark, "observation", [(2, MDD_CONCEPT, dt.date(2015, 6, 1), None)]))
    for name, df in tables.items():
        if name != "death":
            df.coalesce(1).write.parquet(str(omop_dir / f"{name}.parquet"))
    cfg = toy_config(path=str(omop_dir)).model_copy(update={"output_root": str(tmp_path / "results")})
    plant_other_releases(tmp_path / "results", cfg.release)
    stage_log, warnings = logging.getLogger("trd_spark.phenotypes.stage"), []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: warnings.append(record.getMessage())  # type: ignore[method-assign]
    stage_log.addHandler(handler)
    try:
        run_stage(spark, cfg, "phenotypes")
    finally:
        stage_log.removeHandler(handler)
    omop = read_omop(spark, cfg)
    pure = derive_phenotype_tables(omop, cfg)
    # the condition IDs run passes (observation records of a condition concept: quirks.observation_condition_records)
    vocab = study_vocabulary(omop, cfg)
    conditions = study_concept_ids(cfg, vocab)["condition"]
    # and the records each drug set's exclude_dose_forms leaves out (quirks.dose_form_excluded, round 43),
    # and the products a partial concept_ancestor leaves unreached (quirks.unreached_drug_records, session 55),
    # and the records of a concept absent from concept (quirks.unknown_concept_records, session 55 vocab),
    # and the records of a condition block cut in part (quirks.condition_block_records, session 57 vocab: none)
    dates, quirks = stage_counts(omop, pure.persons, pure.study_events, pure.ingredients, cfg.omop.data_cutoff_date,
                                 cfg.phenotypes.trials.max_days_supply, condition_ids=conditions,
                                 dose_forms=dose_form_ids(cfg, vocab), unreached=unreached_drug_check(cfg, vocab),
                                 unknown_concepts=True, observation_ids=observation_count_ids(cfg, vocab),
                                 cut_conditions=frozenset())
    return Published(cfg, tmp_path / "results", omop, pure, dates, quirks, warnings)


def test_a_table_shrunk_since_the_earlier_release_is_one_counted_warning(published):
    """Session 47 (release trial, finding 7: a release read while its drug_exposure parts were still
    being copied published wrong statuses with 0 warnings). The run's drug_exposure rows against the
    newest earlier published release's (toy-r0: 1,000): one WARNING naming the table, that release
    and the change in percent (no count), and notes.tables_shrunk; toy-r0.5 (not published) and
    toy-r2 (newer) are not compared. On 1dcddaa: no such line, no such note."""
    manifest = json.loads((published.results / published.cfg.release / "phenotypes" / "_manifest.json").read_text())
    n = manifest["notes"]["quirks"]["event_table_records"]["n_drug_exposure_records"]
    assert 20 <= 1000 - n and n < 900  # a loss of T or more rows (the percent shown) and more than 10%
    shrink = [w for w in published.warnings if "fewer rows than in the earlier release" in w]
    assert shrink == [f"phenotypes: OMOP table drug_exposure has {(1000 - n) / 1000:.1%} fewer rows than in the "
                      "earlier release toy-r0 (more than releases.max_table_shrink 10%): releases grow, so this looks "
                      "like a partial copy or export (a part file missing) or the wrong omop.path; check the "
                      "release's files before using its results; counted in notes.tables_shrunk"], published.warnings
    assert str(n) not in shrink[0] and str(1000 - n) not in shrink[0]
    assert manifest["notes"]["tables_shrunk"] == ["drug_exposure"]


def status_counts_from_flow(rows: list[tuple[str, int, str, int]]) -> dict[tuple[str, str], int]:
    """(definition, status) -> persons, from ``cohort_flow_rows`` output: the flow's steps
    determine every status count (the test below checks them against a group-by).

    Per definition TRD, trMDD and non_MDD are steps; MDD_other is its two steps (every
    MDD_other row has reason no_adequate_trial or short_followup); excluded is all_persons
    minus mdd_included minus non_MDD (every person has one row per definition, and a status
    outside the MDD statuses and non_MDD is excluded). Statuses with no person are left out,
    as a group-by of PHENOTYPES would."""
    steps = {(d, step): n for d, _, step, n in rows}
    total = steps[(ALL_DEFINITIONS, FlowStep.ALL_PERSONS)]
    out: dict[tuple[str, str], int] = {}
    for d in sorted({d for d, *_ in rows if d != ALL_DEFINITIONS}):
        counts = {
            Status.TRD: steps[(d, FlowStep.TRD)],
            Status.TRMDD: steps[(d, FlowStep.TRMDD)],
            Status.MDD_OTHER: steps[(d, FlowStep.MDD_OTHER_NO_ADEQUATE_TRIAL)] + steps[(d, FlowStep.MDD_OTHER_SHORT_FOLLOWUP)],
            Status.NON_MDD: steps[(d, FlowStep.NON_MDD)],
            Status.EXCLUDED: total - steps[(d, FlowStep.MDD_INCLUDED)] - steps[(d, FlowStep.NON_MDD)],
        }
        out.update({(d, str(s)): n for s, n in counts.items() if n})
    return out


def test_run_publishes_the_four_tables(spark, published):
    """Also: no death table (optional), a duplicated exposure row and an overlapping period are counted."""
    cfg, results, pure = published.cfg, published.results, published.pure
    stage = Layout.of(cfg).stage_dir("phenotypes")
    manifest = json.loads((results / cfg.release / "phenotypes" / "_manifest.json").read_text())
    # trials: person 1 four, 2 two, 4 one, 5 one, 6 two (the third is after the cutoff)
    # cohort_flow: 16 steps of 'all' (excluded_implausible_year_of_birth and, since session 37,
    # excluded_no_ehr_data among them) + 8 per definition
    assert manifest["tables"] == {"persons": 8, "antidepressant_trials": 10, "phenotypes": 24, "cohort_flow": 40}
    # the toy config reads EHR data from observation periods, which every person here has
    assert manifest["notes"]["ehr_evidence"] == {"rule": "observation_period", "n_persons_without_ehr_data": 0}
    assert manifest["inputs"]["omop.path"]["exists"] is True
    # study drug records: 14 rows, one (citalopram, 2023-08-01) after the cutoff
    notes = manifest["notes"]
    drug_dates = notes["study_event_dates"]["drug"]
    assert (drug_dates["n_records"], drug_dates["n_after_followup_end"], drug_dates["n_kept"]) == (14, 1, 13)
    assert (drug_dates["n_after_cutoff"], drug_dates["n_after_death"]) == (1, 0)
    assert set(notes["study_event_dates"]) == {"condition", "drug", "procedure", "device", "observation"}
    assert notes["study_event_dates"]["device"]["n_records"] == 0
    assert notes["optional_tables_absent"] == ["death"]
    # counted on the one scan of each event table (observed while the study events are written)
    assert notes["quirks"]["unmapped_records"] == {"n_condition_occurrence": 1, "n_drug_exposure": 1,
                                                   "n_procedure_occurrence": 0, "n_device_exposure": 0,
                                                   "n_observation": 0, "n_observation_nonstandard": 0,
                                                   "n_condition_occurrence_nonstandard": 0,
                                                   "n_drug_exposure_nonstandard": 0,
                                                   "n_procedure_occurrence_nonstandard": 0,
                                                   "n_device_exposure_nonstandard": 0}
    # every row of each event table, on the same scan; the empty-table check reads them (no job of its own)
    assert notes["quirks"]["event_table_records"] == {
        f"n_{t}_records": published.omop[t].count()
        for t in ("condition_occurrence", "drug_exposure", "procedure_occurrence", "device_exposure", "observation")}
    assert notes["quirks"]["event_table_records"]["n_procedure_occurrence_records"] > 0
    assert notes["empty_event_tables"] == {}
    assert notes["quirks"]["condition_status"]["n_preliminary_records"] == 1
    # run() passes the study condition IDs on (stage_counts -> event_table_counts and the persons'
    # job): person 2's MDD record in observation, counted and warned (mutation review s41: o5, o17)
    assert notes["quirks"]["observation_condition_records"] == {"n_condition_concept_in_observation": 1,
                                                               "n_persons_condition_concept_in_observation": 1}
    assert [w for w in published.warnings if "whose observation_concept_id is a concept of a study condition set"
            in w] == [w for w in published.warnings if w.startswith("phenotypes: observation: <20 record(s) whose "
                                                                   "observation_concept_id")], published.warnings
    assert sum("whose observation_concept_id" in w for w in published.warnings) == 1, published.warnings
    # 12 antidepressant rows (aripiprazole is not one), 11 within follow-up (what the trials read:
    # citalopram 2023-08-01 is after the cutoff), one duplicate of person 1's first fill
    assert notes["quirks"]["antidepressant_exposures"] == {"n_records": 11, "n_below_min_dose": 0, "n_dose_unknown": 0,
                                                          "n_exposures": 10, "n_duplicates_removed": 1}
    assert notes["quirks"]["observation_periods"] == {"n_periods": 9, "n_overlapping_periods": 1,
                                                      "n_persons_with_overlap": 1, "n_open_periods": 0}
    # the data-shape gates are measured and stay quiet on ordinary data, except that a record gate
    # decides on what its labels leave (privacy round 6, session 37: 1 record after the cutoff
    # reads "<20" of a total under 190, whose largest share reaches the 10% warning level; the exact
    # share, kept in the notes, is below it)
    assert {name: g["level"] for name, g in notes["gates"].items()} == {
        "sex_other": "ok", "records_after_cutoff": "warning", "records_before_birth": "ok",
        "implausible_drug_records": "ok", "no_observation_period": "ok", "unreached_drug_records": "ok",
        "unknown_concept_records": "ok", "cut_condition_records": "ok"}
    # run() counts the records of a concept absent from concept (session 55 vocab): none here; observation
    # (narrowed to the concepts a study set could name) has no key
    assert notes["quirks"]["unknown_concept_records"] == {
        f"n_{t}_unknown_concept": 0 for t in ("condition_occurrence", "drug_exposure", "procedure_occurrence",
                                               "device_exposure")}
    # run() passes the partial-concept_ancestor check on (session 55 ancestor): the trimmed test vocabulary
    # (no self rows) reaches every product its records use
    assert notes["quirks"]["unreached_drug_records"] == {"n_drug_exposure_unreached": 0}
    # and the condition blocks closed over concept_ancestor's own rows (session 57 vocab): the trimmed vocabulary
    # is closed, so no set changes and no record is counted
    assert notes["quirks"]["condition_block_records"] == {"n_condition_occurrence_cut_block": 0}
    assert notes["condition_blocks_cut"] == {}
    after_cutoff = notes["gates"]["records_after_cutoff"]
    assert 0 < after_cutoff["n"] < 20 and after_cutoff["share"] < 0.1
    assert notes["gates"]["sex_other"]["total"] == 8
    flow = spark.read.parquet(f"{stage}/cohort_flow.parquet")
    assert flow.where("definition = 'ad3' and step = 'TRD'").first().n == 1
    assert flow.where("definition = 'all' and step = 'all_persons'").first().n == 8
    # run() writes intermediate tables and builds each step on the files: the published
    # tables equal the lazy pure chain's, and no intermediate table is published.
    assert not (results / cfg.release / "phenotypes" / WORK_DIR).exists()
    # the flow rows determine each definition's status counts: the same as a group-by of phenotypes
    flow_rows = [(r.definition, r.step_order, r.step, r.n) for r in flow.collect()]
    grouped = spark.read.parquet(f"{stage}/phenotypes.parquet").groupBy("definition", "status").count().collect()
    assert status_counts_from_flow(flow_rows) == {(r.definition, r.status): r["count"] for r in grouped}
    for name, df in (("persons", pure.persons), ("antidepressant_trials", pure.trials), ("phenotypes", pure.phenotypes)):
        # a few dozen rows: compared as sorted row lists (one query each side; an exceptAll
        # both ways would run the pure chain twice more)
        published_table = spark.read.parquet(f"{stage}/{name}.parquet")
        assert sorted(map(tuple, published_table.collect()), key=repr) == sorted(
            map(tuple, df.select(*published_table.columns).collect()), key=repr), name
    # the counts run() observed while writing (persons, study drug records) and collected in one
    # query equal stage_counts computing every part over the pure chain (the manifest sorts keys)
    dates, quirks = published.dates, published.quirks
    assert notes["study_event_dates"] == dates and notes["quirks"] == quirks
    assert quirks["persons"] == {"n_persons": 8, "n_sex_other": 0, "n_no_observation_period": 0,
                                 "n_persons_birth_year_implausible": 0}
    assert quirks["drug_values"]["n_records"] == 14
    # the cohort flow run() built from counts observed while writing the MDD groups and the
    # phenotypes equals the flow collected from the pure chain
    expected_flow = cohort_flow_rows(pure.mdd, pure.phenotypes, exclusion_sets=list(cfg.phenotypes.mdd.exclude_concept_sets),
                                     min_diagnoses=cfg.phenotypes.mdd.min_diagnoses)
    assert sorted(flow_rows) == sorted(expected_flow) and len(flow_rows) == 40


def test_stage_counts_take_observed_parts_as_given(spark, published):
    """A part counted by the caller is not computed again: its values are returned in the part's
    column order (a missing key is an error naming the missing counts, not a silent 0, raised
    before any Spark job); the other parts are computed (equal to the module run's
    ``stage_counts`` with no part observed)."""
    omop, cfg, pure = published.omop, published.cfg, published.pure
    args = (omop, pure.persons, pure.study_events, pure.ingredients, cfg.omop.data_cutoff_date,
            cfg.phenotypes.trials.max_days_supply)
    dates, quirks = published.dates, published.quirks
    given = {"persons": {"n_no_observation_period": 3, "n_sex_other": 2, "n_persons": 1,
                         "n_persons_birth_year_implausible": 4}}
    vocab = study_vocabulary(omop, cfg)
    dates_o, quirks_o = stage_counts(*args, observed=given, condition_ids=study_concept_ids(cfg, vocab)["condition"],
                                     dose_forms=dose_form_ids(cfg, vocab), unreached=unreached_drug_check(cfg, vocab),
                                     unknown_concepts=True, observation_ids=observation_count_ids(cfg, vocab),
                                     cut_conditions=frozenset())
    assert list(quirks_o["persons"].items()) == [("n_persons", 1), ("n_sex_other", 2), ("n_no_observation_period", 3),
                                                 ("n_persons_birth_year_implausible", 4)]
    assert dates_o == dates and {k: v for k, v in quirks_o.items() if k != "persons"} == {
        k: v for k, v in quirks.items() if k != "persons"}
    sc, group = spark.sparkContext, "stage_counts_missing_key"
    sc.setJobGroup(group, "stage_counts with an incomplete observed part")
    try:
        with pytest.raises(KeyError, match="n_sex_other, n_no_observation_period, n_persons_birth_year_implausible"):
            stage_counts(*args, observed={"persons": {"n_persons": 1}})
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    assert list(sc.statusTracker().getJobIdsForGroup(group)) == []


def test_literal_frame_keeps_types_values_and_enum_values(spark):
    """literal_frame (the cohort_flow write, no Python worker): declared types, enum members as values, empty."""
    import enum

    from trd_spark.schemas import COHORT_FLOW

    class Status(str, enum.Enum):
        TRD = "TRD"

    rows = [("all", 1, "all_persons", 8), ("ad3", 2, Status.TRD, 3_000_000_000)]
    df = literal_frame(spark, rows, COHORT_FLOW.struct)
    assert [(f.name, f.dataType) for f in df.schema.fields] == [(f.name, f.dataType) for f in COHORT_FLOW.struct.fields]
    assert [tuple(r) for r in df.collect()] == [("all", 1, "all_persons", 8), ("ad3", 2, "TRD", 3_000_000_000)]
    empty = literal_frame(spark, [], COHORT_FLOW.struct)
    assert empty.count() == 0 and empty.schema == COHORT_FLOW.struct


def test_study_events_broadcast_semi_join_keeps_the_isin_rows(spark):
    """The study-concept filter: a broadcast left-semi join (the event table is never
    shuffled) that keeps exactly the rows, columns and duplicates an isin keeps."""
    tables = trd_omop(spark)
    n_study = tables["drug_exposure"].count()
    # a product in no study concept set (an RxNorm-range ID absent from the toy vocabulary)
    tables["drug_exposure"] = tables["drug_exposure"].unionByName(
        frame(spark, "drug_exposure", [drug(1, 1_100_001, "2015-03-01", days_supply=30)]))
    cfg = toy_config(path="unused")
    vocab = study_vocabulary(tables, cfg)
    ids = study_concept_ids(cfg, vocab)
    events = derive_study_events(tables, cfg, vocab)
    unread = unread_columns(cfg)
    # the toy config's rules leave refills unread (quantity is read: a negative one is a claim reversal,
    # session 54); no rule reads a source concept but drug_exposure's (a claim reversal outside the study sets is
    # read by it, session 57)
    assert unread == {t: frozenset({"refills"} if t == "drug_exposure" else {s})
                      for t, (_, s) in SOURCE_CONCEPT_OF.items()}
    for domain, (table, concept_col, _) in EVENT_TABLES.items():
        skip = unread.get(table, frozenset())
        expected = tables[table].where(F.col(concept_col).isin(sorted(ids[domain]))).select(*[
            F.lit(None).cast(f.dataType).alias(f.name) if f.name in skip else F.col(f.name)
            for f in tables[table].schema.fields])
        assert events[domain].columns == tables[table].columns
        assert events[domain].schema == expected.schema, domain
        assert sorted(map(tuple, events[domain].collect())) == sorted(map(tuple, expected.collect())), domain
        plan = events[domain]._jdf.queryExecution().executedPlan().toString()
        if ids[domain]:
            assert "BroadcastHashJoin" in plan and "LeftSemi" in plan and "hashpartitioning" not in plan, domain
        else:  # no study concept of the domain (device here): Spark drops the scan altogether
            assert "LocalTableScan <empty>" in plan, domain
    assert events["drug"].count() == n_study and events["drug"].where("drug_concept_id = 1100001").count() == 0


def _scanned_columns(df) -> set[str]:
    """The columns the Parquet scans of ``df``'s physical plan read (their required schema)."""
    leaves = df._jdf.queryExecution().sparkPlan().collectLeaves()
    scans = [leaves.apply(i) for i in range(leaves.size())]
    return {str(name) for scan in scans if scan.nodeName().startswith("Scan parquet")
            for name in scan.requiredSchema().fieldNames()}


def test_each_concept_set_is_expanded_once_per_chain(spark, monkeypatch):
    """Every concept set the definitions use is expanded once per chain (``concept_set_ids``)
    and serves every rule naming it: esketamine, a control-exclusion drug set
    (phenotypes.mdd.control_exclusion_drug_concept_sets) and a somatic TRD set, was expanded by
    the control rule and again for the somatic onsets, so a change to one expansion could leave
    the other behind. The outputs are lazy: building them runs no phenotype query.
    (``study_concept_ids`` expands copies without their excludes for the event filter: a
    superset, another expansion, not counted here.)"""
    import trd_spark.phenotypes.stage as stage

    tables = trd_omop(spark)
    cfg = toy_config(path="unused")
    vocab = study_vocabulary(tables, cfg)
    sets = concept_set_ids(cfg, vocab)
    assert {"ect", "tms", "esketamine", "tms_device"} <= set(sets) and "esketamine" in \
        cfg.phenotypes.mdd.control_exclusion_drug_concept_sets
    assert sets["ect"] and sets["esketamine"]  # the toy vocabulary has no TMS concepts
    configured = {id(cs): name for name, cs in cfg.concept_sets.concept_sets.items()}
    expanded: list[str] = []

    def counting(cs, v):
        if id(cs) in configured:
            expanded.append(configured[id(cs)])
        return expand_concept_set(cs, v)

    monkeypatch.setattr(stage, "expand_concept_set", counting)
    derive_phenotype_tables(tables, cfg, vocab)
    assert sorted(expanded) == sorted(study_concept_set_names(cfg))  # each once


def test_unread_drug_columns_are_not_scanned_and_change_no_output(spark, tmp_path):
    """refills (read only by the refills rule, off in the toy config) is not read from the Parquet
    files: the scan's ReadSchema lacks it and the study events carry nulls. Every output of the chain
    equals the one built from the study events WITH the file's values, on data where those values would
    change the trials if a rule read them (refills on orders without an end date). With the rule on, the
    column is read (values kept). quantity is read whatever the config since session 54 (a negative one is
    a claim reversal, trials.is_reversal_expr)."""
    tables = trd_omop(spark)
    extra = [drug(1, SERTRALINE_TAB, "2017-01-01", days_supply=30, quantity=0.5, refills=3),
             drug(6, FLUOXETINE_CAP, "2016-01-01", days_supply=20, quantity=1.0, refills=5)]
    frame(spark, "drug_exposure", extra).unionByName(tables["drug_exposure"]).write.parquet(str(tmp_path / "drug"))
    tables["drug_exposure"] = spark.read.parquet(str(tmp_path / "drug"))
    cfg = toy_config(path="unused")
    vocab = study_vocabulary(tables, cfg)
    events = derive_study_events(tables, cfg, vocab)
    read = _scanned_columns(events["drug"])
    assert "days_supply" in read and "verbatim_end_date" in read and "quantity" in read and "refills" not in read
    assert events["drug"].where("refills is not null").count() == 0
    ids = study_concept_ids(cfg, vocab)
    full = {domain: tables[table].where(F.col(concept_col).isin(sorted(ids[domain])))
            for domain, (table, concept_col, _) in EVENT_TABLES.items()}
    assert full["drug"].where("refills = 5").count() == 1  # the values the pruned scan leaves out

    # persons from derive_persons alone: building the whole lazy chain for it cost ~7 JVM CPU-s
    # (PySpark analyses each step's plan as it is built), twice per test
    persons = derive_persons(tables["person"], tables["observation_period"], tables["death"],
                             cfg.omop.data_cutoff_date, cfg.omop.sex_at_birth)

    def outputs(study):
        followup = followup_events(study, persons)
        sets = concept_set_ids(cfg, vocab)
        mdd = derive_mdd_groups(cfg, vocab, persons, study, followup, sets).cache()
        trials = derive_trials(cfg, followup["drug"], trial_ingredients(spark, tables, cfg, vocab), mdd).cache()
        phenotypes = derive_definition_phenotypes(cfg, followup, mdd, trials, sets)
        # mdd and trials cached: the three collects would each run the chain before them again
        out = [sorted(map(tuple, df.collect()), key=repr) for df in (mdd, trials, phenotypes)]
        mdd.unpersist()
        trials.unpersist()
        return out

    assert outputs(events) == outputs(full)
    trials = cfg.phenotypes.trials.model_copy(update={"use_refills": True, "ingredient_min_daily_dose": {SERTRALINE: 10.0}})
    on = cfg.model_copy(update={"phenotypes": cfg.phenotypes.model_copy(update={"trials": trials})})
    # only the source concepts stay unread (no rule reads them; unmapped_record_counts counts them), but
    # drug_exposure's (session 57: the claim reversals outside the study sets)
    assert unread_columns(on) == {t: frozenset() if t == "drug_exposure" else frozenset({s})
                                  for t, (_, s) in SOURCE_CONCEPT_OF.items()}
    events_on = derive_study_events(tables, on, vocab)
    assert "quantity" in _scanned_columns(events_on["drug"]) and "refills" in _scanned_columns(events_on["drug"])
    assert sorted(map(tuple, events_on["drug"].collect())) == sorted(map(tuple, full["drug"].collect()))


def test_by_person_writes_whole_persons_per_file(spark, tmp_path):
    """by_person: hash-partitioned by person_id (AQE decides how many partitions): each
    written file holds whole persons, so reading back gives one scan task per file."""
    df = spark.range(4000).select((F.col("id") % 50).alias("person_id"), F.col("id").alias("i"))
    key = "spark.sql.adaptive.coalescePartitions.minPartitionSize"
    before = spark.conf.get(key)
    spark.conf.set(key, "1b")  # tiny data: let AQE keep several partitions
    try:
        by_person(df).write.parquet(str(tmp_path / "t.parquet"))
    finally:
        spark.conf.set(key, before)
    back = spark.read.parquet(str(tmp_path / "t.parquet"))
    files = back.select(F.input_file_name().alias("f"), "person_id").distinct()
    per_person = files.groupBy("person_id").agg(F.countDistinct("f").alias("n")).collect()
    assert len(per_person) == 50 and {r.n for r in per_person} == {1}
    assert files.select("f").distinct().count() > 1
    assert back.rdd.getNumPartitions() == files.select("f").distinct().count()
    assert back.count() == 4000
