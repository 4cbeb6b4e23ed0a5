"""Mutation review of session 36's code (session 37 helper "mutants"): tests that kill hand
mutants which survived the existing tests. Each test names the mutants it kills; all reuse the
session's Spark fixture and hand-written rows (seconds each).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from test_phenotypes_support import (
    CONCEPTS,
    SERTRALINE_TAB,
    death,
    drug,
    frame,
    obs,
    omop_tables,
    person,
    toy_config,
)

G2082 = 2_000_002_801  # synthetic IDs, resolved by vocabulary + code (as round 28's)
G2083 = 2_000_002_802
PPI_SOURCE = 1_585_000  # a survey answer's source concept, in no set


def test_a_death_on_the_cutoff_day_or_after_an_earlier_death_row_is_not_after_the_cutoff(spark):
    """n_persons_death_after_cutoff (88d5e5b..: ``birth_death_quirk_counts`` with the cutoff)
    counts the persons whose EARLIEST usable death lies AFTER the cutoff (follow-up ends at the
    earlier of the two). Round 28's one case (a death seven months after the cutoff) let through
    ``>=`` for ``>`` (a death on the cutoff day, which ends follow-up that day and is read,
    counted as after) and ``F.max`` for ``F.min`` of the death dates (a person dead before the
    cutoff with a later duplicate death row counted). By hand, cutoff 2023-07-01: 1 dies on it,
    2 dies 2023-05-01 with a second row 2023-09-01, 3 dies 2023-07-02: only 3."""
    from trd_spark.phenotypes.persons import birth_death_quirk_counts

    t = omop_tables(spark, persons=[person(p) for p in (1, 2, 3, 4)], observation_periods=[obs(p) for p in (1, 2, 3, 4)],
                    deaths=[death(1, "2023-07-01"), death(2, "2023-05-01"), death(2, "2023-09-01"),
                            death(3, "2023-07-02")])
    got = birth_death_quirk_counts(t["person"], t["death"], t["observation_period"], dt.date(2023, 7, 1)).first()
    assert got["n_persons_death_after_cutoff"] == 1


def test_a_verbatim_end_is_counted_only_where_the_rule_reads_it(spark):
    """n_verbatim_end_not_after_start (drug_record_quirk_columns) counts a verbatim_end_date on
    or before the start only under ``trials.use_verbatim_end_date`` (the one setting under which
    the rule reads it; without it the column is not read at all). Round 28 tested the default
    (on) only, so a mutant counting it under either setting (``if use_verbatim_end_date`` dropped)
    passed: with the setting off it warned of records whose verbatim end no rule reads. Rows by
    hand: verbatim end on the start, before it, after it (used), none: 2 with the setting, 0
    without."""
    from trd_spark.phenotypes.stage import drug_record_quirks

    drugs = frame(spark, "drug_exposure", [
        drug(1, SERTRALINE_TAB, "2019-03-01", days_supply=10, verbatim_end="2019-03-01"),
        drug(1, SERTRALINE_TAB, "2019-04-01", days_supply=10, verbatim_end="2019-03-20"),
        drug(2, SERTRALINE_TAB, "2019-03-01", days_supply=10, verbatim_end="2019-03-05"),
        drug(2, SERTRALINE_TAB, "2019-05-01", days_supply=10)])
    on = drug_record_quirks(drugs, 365, use_verbatim_end_date=True).first()
    off = drug_record_quirks(drugs, 365, use_verbatim_end_date=False).first()
    assert (on["n_verbatim_end_not_after_start"], off["n_verbatim_end_not_after_start"]) == (2, 0)


def test_observation_counts_a_study_code_held_non_standard_in_its_concept_column(spark):
    """``event_table_counts`` with ``observation_count_ids`` (session 36 obsmend) counts in
    observation only the records a study set could name, by their concept OR source concept. On a
    release holding G2082/G2083 non-standard (esketamine_clinic's only_if_standard codes: no
    member, ``conditional_source_ids``) a record with G2082 in observation_concept_id and no source
    concept is a study code the set cannot read: n_observation_nonstandard 1; a concept-0 record
    with source G2083: n_observation 1; survey rows (concept 0 with a PPI source; a PPI concept held
    non-standard): not counted. obsmend's test holds the codes standard, so it let through
    ``named`` from the source concept alone (the first record's count lost) and
    ``observation_count_ids`` without the set's conditional codes (both counts 0: this release's
    missed esketamine visits counted as survey answers). The set's conditional codes are checked
    in both its tables (``conditional_record_checks``: one count, n_<set>_source_outside_set, over
    procedure_occurrence and observation): round 28's tests call ``stage_counts`` without those
    checks, so mutants counting the first table only (the check's tables, its per-record test or
    its total cut to ``tables[:1]``) passed."""
    from trd_spark.phenotypes.stage import (
        concept_set_ids,
        conditional_record_checks,
        event_table_counts,
        observation_count_ids,
        study_vocabulary,
    )

    cfg = toy_config()
    t = omop_tables(spark)
    held = [(G2082, "Esketamine in clinic, up to 56 mg", "Observation", "HCPCS", "HCPCS", None, "G2082"),
            (G2083, "Esketamine in clinic, over 56 mg", "Observation", "HCPCS", "HCPCS", None, "G2083"),
            (PPI_SOURCE + 1, "Survey answer (retired)", "Observation", "PPI", "Answer", None, "SURVEY_X")]
    t["concept"] = frame(spark, "concept", CONCEPTS + held)
    t["observation"] = frame(spark, "observation", [
        (1, G2082, dt.date(2019, 5, 1), None), (2, 0, dt.date(2019, 5, 1), G2083),
        (3, 0, dt.date(2019, 3, 1), PPI_SOURCE), (4, PPI_SOURCE + 1, dt.date(2019, 3, 1), PPI_SOURCE + 1)])
    t["procedure_occurrence"] = frame(spark, "procedure_occurrence", [(5, 0, dt.date(2019, 5, 1), G2082)])
    vocab = study_vocabulary(t, cfg)
    ids = observation_count_ids(cfg, vocab)
    checks = conditional_record_checks(cfg, vocab, concept_set_ids(cfg, vocab))
    assert checks["esketamine_clinic"][:2] == (("procedure_occurrence", "observation"), frozenset({G2082, G2083}))
    got = event_table_counts(t, checks, observation_ids=ids).first()
    assert (got["n_observation"], got["n_observation_nonstandard"], got["n_observation_records"]) == (1, 1, 4)
    # the set's codes as the source of a record mapped elsewhere (here to concept 0), in each of its
    # tables: one count over both (procedure 5, observation 2)
    assert got["n_esketamine_clinic_source_outside_set"] == 2


def test_a_total_whose_part_is_a_total_labelled_later_is_labelled_too():
    """``logs.record_counts_text`` repeats its pass over the sums until nothing changes (a total
    is a part of another: n_after_followup_end of n_records). The stage lists the inner sum first,
    so a mutant that stopped after one pass (``changed`` never set) passed every test; given the
    outer sum first, it left the outer total exact beside its labelled part: outer 100 - c 70 gave
    inner's 30 back, and inner 30 - b 20 gave a's 10, shown as <20."""
    from trd_spark.logs import at_least_label, record_counts_text, suppressed_label

    counts = {"outer": 100, "inner": 30, "a": 10, "b": 20, "c": 70}
    shown = record_counts_text(counts, 20, [("outer", ("inner", "c")), ("inner", ("a", "b"))])
    assert shown == {"outer": at_least_label(20), "inner": at_least_label(20), "a": suppressed_label(20),
                     "b": "20", "c": "70"}


def test_a_persons_count_in_a_record_line_is_a_persons_label():
    """``stage_count_texts`` shows the ``n_persons_*`` counts of a record part (birth_and_death's
    n_persons_death_after_cutoff, new in session 36) as persons (``logs.person_count_text``: 0,
    <T or T+, never exact). A mutant that took only the ``PERSON_QUIRKS`` parts as persons (the
    ``"persons" in k`` test dropped) showed them as records, 25 persons exactly, and passed."""
    from trd_spark.logs import at_least_label, suppressed_label
    from trd_spark.phenotypes.stage import stage_count_texts

    _, lines = stage_count_texts({}, {"birth_and_death": {"n_persons_death_after_cutoff": 25,
                                                          "n_persons_death_undated": 3,
                                                          "n_persons_several_death_dates": 0}}, 20)
    assert lines == {"birth_and_death": f"birth_and_death: n_persons_death_after_cutoff {at_least_label(20)}, "
                                        f"n_persons_death_undated {suppressed_label(20)}, "
                                        "n_persons_several_death_dates 0"}


def test_every_record_warning_labels_a_small_count():
    """The WARNING lines of unread study records (``unread_record_warnings``), of records no
    set can match (``concept_record_warnings``) and of a set's conditional codes mapped elsewhere
    (``conditional_record_warnings``) show a record count of 1 to T-1 as <T (37958c1, privacy
    round 5: k records are 1 to k persons) and T or more exactly. Only one of the three was asked
    with a small count by the module tests; mutants passing ``None`` (the exact count) in the
    other two passed them. And a non-standard count of a table other than observation keeps its
    own wording: a mutant giving every table observation's line ('a study concept set's concept
    held not standard', obsmend's) passed too."""
    from trd_spark.phenotypes.stage import (
        concept_record_warnings,
        conditional_record_warnings,
        unread_record_warnings,
    )

    unread = unread_record_warnings({"condition": {"n_unknown_person": 3, "n_missing_date": 25}}, 20)
    assert [line.split(" study record(s)")[0] for line in unread] == ["condition_occurrence: <20",
                                                                      "condition_occurrence: 25"]
    (line,) = conditional_record_warnings({"n_esketamine_clinic_source_outside_set": 4},
                                          {"esketamine_clinic": (("procedure_occurrence", "observation"),
                                                                 frozenset({G2082}), frozenset())}, 20)
    assert line.startswith("procedure_occurrence / observation: <20 record(s) whose procedure_source_concept_id / "
                           "observation_source_concept_id is one of concept set esketamine_clinic's codes"), line
    lines = concept_record_warnings({"n_procedure_occurrence_nonstandard": 7, "n_observation_nonstandard": 30}, 20)
    assert [x.split(" whose ")[0] for x in lines] == ["procedure_occurrence: <20 record(s)", "observation: 30 record(s)"]
    assert "is not a standard, valid concept (a source code" in lines[0] and "study concept set's" not in lines[0]
    assert "is a study concept set's concept held not standard" in lines[1]


def test_a_task_bound_inside_a_part_at_the_edges_of_the_decode_share():
    """``EntriesFiles.at_part_starts`` (d3d131c): a bound inside a part stays when the wanted rows
    it would move by exceed ``_DECODE_SHARE`` (0.5) x the larger of head (the part's rows before
    it, which the task after decodes) and tail (the rows from it to the part's end, which the task
    before checks). flatmt's test has no case at the rule's edges, and let through ``>=`` for
    ``>`` and tail or head one row longer. Every row wanted (row i is wanted row i), by hand:
    3 parts of 3,000, bound 4,000: head 1,000, tail 2,000, 1,000 rows to 3,000: not > 1,000, moves;
    3 parts of 2,999, bound 3,999: head 1,000, tail 1,999, 1,000 rows to 2,999 > 999.5: stays;
    3 parts of 2,999, bound 4,998: head 1,999, tail 1,000, 1,000 rows to 5,998 > 999.5: stays."""
    from trd_spark.pgs.mt_entries import EntriesFiles, EntriesLayout

    def bounds(counts, bound):
        files = EntriesFiles("mt", EntriesLayout(tuple(f"p{i}" for i in range(len(counts))), tuple(counts), True), 6)
        return files.at_part_starts([0, bound, sum(counts)], np.arange(sum(counts)))

    assert bounds([3000] * 3, 4000) == [0, 3000, 9000]
    assert bounds([2999] * 3, 3999) == [0, 3999, 8997]
    assert bounds([2999] * 3, 4998) == [0, 4998, 8997]


def test_a_lock_is_judged_by_age_only_for_another_host_or_a_record_without_pid(tmp_path):
    """``lock_is_stale`` (61004e7): a lock of another host goes stale after
    ``releases.lock_stale_hours``, not minutes (a mutant taking ``stale_hours * 60`` seconds passed:
    the tests' other-host locks are a minute or two days old, on either side of both); a record
    of this host without a pid (a lock written by hand, or by another tool) is judged by its age
    like another host's (``holder_alive_here`` None), not a KeyError out of ``int(held["pid"])``
    (a mutant without the ``"pid" not in held`` test)."""
    import json
    import os
    import socket
    import time

    from trd_spark.releases import LocalFs, lock_is_stale

    fs, path = LocalFs(), str(tmp_path / ".lock")

    def stale(held: dict) -> bool:
        with open(path, "w") as f:
            json.dump(held, f)
        os.utime(path, (held["started"],) * 2)  # last written then (the storage's time judges, session 39)
        return lock_is_stale(fs, path, 24)

    here, hour = socket.gethostname(), 3600
    assert not stale({"host": "elsewhere", "pid": 1, "started": time.time() - 2 * hour})
    assert stale({"host": "elsewhere", "pid": 1, "started": time.time() - 25 * hour})
    assert not stale({"host": here, "started": time.time() - 2 * hour})
    assert stale({"host": here, "started": time.time() - 25 * hour})


def test_a_stale_release_on_a_config_of_another_releases_data_gets_no_run_advice(tmp_path):
    """``check_comparable`` (91fea87, 5583207) words both refusals through ``rerun_advice``: on a
    config whose inputs are another release's data, no 'trd-spark run --release B' (that run
    would publish A's data as B's). The tests refuse only an incomplete release on such a config
    (tests/test_privacy_s36.py) and a stale one on a config naming {release}, so a mutant giving
    the stale refusal the old fixed 'rerun it first: trd-spark run --release B' passed. Here B is
    stale (an upstream output republished since, as test_releases' case) and the config's
    inputs are release C2022Q4R9's."""
    import pytest
    from test_releases import _config_with_release_inputs, _publish_consistent, _republish

    from trd_spark.config import load_config
    from trd_spark.errors import InputDataError
    from trd_spark.io import LocalFs
    from trd_spark.report.compare import check_comparable

    cfg = load_config(str(_config_with_release_inputs(tmp_path, None)))
    for r in ("C2022Q4R9", "C2023Q2R1"):
        _publish_consistent(cfg, r)
    _republish(cfg, "C2023Q2R1", "cohort", "cohort-2")
    other = cfg.model_copy(update={"inputs_release": "C2022Q4R9"})
    with pytest.raises(InputDataError) as err:
        check_comparable(other, LocalFs(), "C2023Q2R1", rerun_options="")
    text = str(err.value)
    assert "release C2023Q2R1 is stale (" in text and "rerun it first" not in text, text
    assert "so they are release C2022Q4R9's data and `trd-spark run --release C2023Q2R1` would publish them" in text
