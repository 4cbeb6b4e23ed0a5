"""OMOP record counts of 1..T-1 in the run log (privacy round 5, session 36; helper "reclabel").

k records are held by 1 to k persons: a WARNING "1 study record(s) with a preliminary status" or an
INFO "n_after_death 3" told that one person (1..3) held them, a count the export never shows under
20 (AoU Data and Statistics Dissemination Policy). Such counts now read as the person counts'
label ``<T`` in every line family of the phenotypes stage (``logs.record_count_text``; zeros and
counts of T or more as before); a total shown beside its parts reads ``T+`` when one of them is a
label (``logs.record_counts_text``: it gave the part back by subtraction). The stage manifest
(internal) keeps the exact counts. ``person_count_guard.small_record_counts`` reads rendered lines
for such counts, as ``test_privacy_export`` reads the toy runs' logs.

Shown failing on 8f28050 (the lines gave the exact counts; no ``record_count_text``) and passing here.
"""

from __future__ import annotations

import json
import logging
import re

from person_count_guard import small_record_counts
from test_phenotypes_support import (
    ANCESTRY,
    CONCEPTS,
    MDD_CONCEPT,
    SERTRALINE_TAB,
    cond,
    death,
    drug,
    obs,
    person,
    proc,
    toy_config,
    write_omop_tables,
)

T = 20
G2082 = 2_000_002_601  # synthetic IDs (as round 27): resolved by vocabulary + code
G2083 = 2_000_002_602
ESKETAMINE_VISIT = 2_000_002_700  # a standard concept in no set
F33_1 = 2_000_002_800  # an ICD10CM source concept an ETL wrote into condition_concept_id
VOCAB = [
    (G2082, "Esketamine in clinic, up to 56 mg", "Procedure", "HCPCS", "HCPCS", "S", "G2082"),
    (G2083, "Esketamine in clinic, over 56 mg", "Procedure", "HCPCS", "HCPCS", "S", "G2083"),
    (ESKETAMINE_VISIT, "Esketamine nasal administration", "Procedure", "SNOMED", "Procedure", "S", "x9"),
    (F33_1, "Major depressive disorder, recurrent, moderate", "Condition", "ICD10CM", "5-char billing code", None,
     "F33.1"),
]
PRELIMINARY, HISTORY_OF = 32899, 4188893


def test_record_count_text_and_sums():
    """0 and T or more as counts are written, 1..T-1 as <T; None: exact (the manifest's own use).
    A total of T or more with a labelled part reads T+, through a total of totals too."""
    from trd_spark.logs import record_count_text, record_counts_text

    assert [record_count_text(n, T) for n in (0, 1, 19, 20, 1234)] == ["0", "<20", "<20", "20", "1,234"]
    assert record_count_text(1, None) == "1"
    counts = {"n_records": 600, "n_after_followup_end": 25, "n_after_death": 5, "n_after_cutoff": 20,
              "n_after_observation_end": 0, "n_kept": 575}
    sums = {"n_after_followup_end": ("n_after_death", "n_after_cutoff", "n_after_observation_end"),
            "n_records": ("n_after_followup_end", "n_kept")}
    assert record_counts_text(counts, T, sums) == {
        "n_records": "20+", "n_after_followup_end": "20+", "n_after_death": "<20", "n_after_cutoff": "20",
        "n_after_observation_end": "0", "n_kept": "575"}
    # A sum with a part the line does not show is no relation there (the part is unknown).
    assert record_counts_text({"n_records": 600, "n_after_death": 5}, T, sums) == {"n_records": "600",
                                                                                  "n_after_death": "<20"}
    # No labelled part: every count exact.
    assert record_counts_text({**counts, "n_after_death": 0, "n_after_followup_end": 20, "n_records": 595}, T,
                              sums)["n_records"] == "595"


def test_followup_and_quirk_lines_label_small_record_counts():
    """The follow-up line (25 after follow-up = 5 after death + 20 after the cutoff: the 25 gave
    the 5 back) and a quirk part's total of its parts (antidepressant_exposures' n_records = below
    the minimum dose + exposures + duplicates: 8,052 with 3 below the dose and 232 duplicates gave
    the exposures; here the 3)."""
    from trd_spark.phenotypes.stage import followup_log_text, quirk_log_text

    line = followup_log_text({"n_records": 600, "n_unknown_person": 0, "n_missing_date": 0, "n_before_birth_year": 0,
                              "n_after_followup_end": 25, "n_after_death": 5, "n_after_cutoff": 20,
                              "n_after_observation_end": 0, "n_kept": 575, "n_dated_after_cutoff": 24}, T)
    assert line == ("n_records 20+, n_unknown_person 0, n_missing_date 0, n_before_birth_year 0, "
                    "n_after_followup_end 20+, n_after_death <20, n_after_cutoff 20, n_after_observation_end 0, "
                    "n_kept 575")
    assert not small_record_counts(f"phenotypes: drug records in study concept sets: {line}")
    quirk = quirk_log_text("antidepressant_exposures", {"n_records": 8052, "n_below_min_dose": 3, "n_dose_unknown": 0,
                                                        "n_exposures": 7817, "n_duplicates_removed": 232}, T)
    assert quirk == ("antidepressant_exposures: n_records 20+, n_below_min_dose <20, n_dose_unknown 0, "
                     "n_exposures 7,817, n_duplicates_removed 232")
    # Persons keep their labels (20+ for 20 or more).
    assert quirk_log_text("persons", {"n_persons": 3000, "n_sex_other": 1}, T) == \
        "persons: n_persons 20+, n_sex_other <20"


def test_the_guard_reads_small_record_counts():
    """``small_record_counts``: a number 1..T-1 before a record word, or under an n_ key of a
    phenotypes line; zeros, counts of T or more and labels pass; other stages' n_ keys (variants,
    calls) are not records."""
    assert small_record_counts("phenotypes: condition_occurrence: 1 study record(s) with a preliminary status")
    assert small_record_counts("phenotypes: drug: n_records 600, n_after_death 3")
    assert not small_record_counts("phenotypes: drug: n_records 600, n_after_death <20, n_kept 0, n_x 20+, n_y 20")
    assert not small_record_counts("phenotypes: <20 record(s) whose ...; 25 records; 0 record(s)")
    assert not small_record_counts("pgs: discovery: n_variants 3, n_matched 2")


def test_a_stage_run_logs_every_small_record_count_as_a_label(spark, tmp_path, caplog):
    """One phenotypes run on a tiny OMOP export (persons 1-3 with MDD, index 2019-01-10) holding one
    record of each kind a line counts: a condition record of an unknown person (99) and one without
    a date, one with concept 0 and a source concept, one whose condition_concept_id is an ICD10CM
    code, one preliminary and one 'history of' MDD record, a drug record ending before its start,
    an MDD record after person 1's death, and a procedure whose source is G2082 (standard here)
    mapped to a concept in no set. On 8f28050 each line gave the count (1 record(s), n_after_death
    1, ...); now each reads <20, and the stage manifest keeps the exact counts."""
    from trd_spark.pipeline import run_stage

    root = tmp_path / "omop"
    root.mkdir()
    persons = (1, 2, 3)
    write_omop_tables(root, {
        "person": [person(p) for p in persons],
        "observation_period": [obs(p) for p in persons],
        "death": [death(1, "2022-01-01")],
        "condition_occurrence": [
            *[cond(p, MDD_CONCEPT, x) for p in persons for x in ("2019-01-10", "2019-02-10")],
            cond(99, MDD_CONCEPT, "2019-03-01"),  # unknown person
            (2, MDD_CONCEPT, None),  # no date
            (*cond(3, 0, "2019-04-01"), None, 45_000_001),  # concept 0, a source concept
            cond(3, F33_1, "2019-04-02"),  # a non-standard concept
            (*cond(1, MDD_CONCEPT, "2019-05-01"), PRELIMINARY),
            (*cond(2, MDD_CONCEPT, "2019-05-01"), HISTORY_OF),
            cond(1, MDD_CONCEPT, "2022-06-01"),  # after person 1's death
        ],
        "drug_exposure": [drug(2, SERTRALINE_TAB, "2019-03-01", end="2019-02-01", days_supply=30)],  # end < start
        "procedure_occurrence": [proc(1, ESKETAMINE_VISIT, "2019-05-01") + (G2082,)],
        "concept": CONCEPTS + VOCAB,
        "concept_ancestor": [(a, b, 1, 1) for a, b in ANCESTRY],
    })
    cfg = toy_config(path=str(root)).model_copy(update={"output_root": str(tmp_path / "results")})
    assert cfg.report.small_count_threshold == T
    # One TRD definition (somatic: it reads the esketamine set) for a cheaper plan; the lines counted
    # here come before the definitions.
    ph = cfg.phenotypes
    somatic = [d for d in ph.trd_definitions if d.name == "somatic"]
    cfg = cfg.model_copy(update={"phenotypes": ph.model_copy(update={"trd_definitions": somatic,
                                                                     "primary_definition": "somatic"})})
    with caplog.at_level(logging.INFO, logger="trd_spark"):
        run_stage(spark, cfg, "phenotypes")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("phenotypes: ")]
    text = "\n".join(lines)
    assert not small_record_counts(text), small_record_counts(text)
    for expected in (
        r"phenotypes: condition records in study concept sets: n_records <20, n_unknown_person <20, "
        r"n_missing_date <20, .*n_after_death <20",
        r"condition_occurrence: <20 study record\(s\) with an empty person_id",
        r"condition_occurrence: <20 study record\(s\) with an empty condition_start_date",
        r"condition_occurrence: <20 record\(s\) whose condition_concept_id is not a standard, valid concept",
        r"condition_occurrence: <20 record\(s\) with concept_id 0",
        r"condition_occurrence: <20 study record\(s\) with a preliminary status",
        r"condition_occurrence: <20 study record\(s\) with a 'history of' status",
        r"drug_exposure: <20 antidepressant/study record\(s\) with end_before_start",
        r"procedure_occurrence[ /\w]*: <20 record\(s\) whose procedure_source_concept_id[ /\w]* is one of concept set "
        r"esketamine_clinic's codes",
        r"condition_status: n_preliminary_records <20, n_history_records <20",
    ):
        assert re.search(expected, text), (expected, text)
    # The exact counts stay in the stage manifest (internal, never exported).
    manifest = json.loads((tmp_path / "results" / cfg.release / "phenotypes" / "_manifest.json").read_text())
    notes = manifest["notes"]
    assert notes["quirks"]["condition_status"] == {"n_preliminary_records": 1, "n_history_records": 1}
    assert (notes["study_event_dates"]["condition"]["n_unknown_person"],
            notes["study_event_dates"]["condition"]["n_after_death"]) == (1, 1)
    assert notes["quirks"]["conditional_records"]["n_esketamine_clinic_source_outside_set"] == 1


# ---- session 36 reader, items 1, 2, 3 (helper "fixesA") ------------------------------------------

def _key_values(line: str) -> dict[str, str]:
    """``n_x 1,000, n_y <20`` -> {n_x: '1,000', n_y: '<20'} (a rendered line's counts)."""
    return dict(re.findall(r"\b(n_\w+) (\S+?)(?:,(?= )|$)", line))


def _exact(text: str) -> int | None:
    return int(text.replace(",", "")) if re.fullmatch(r"\d+(?:,\d{3})*", text) else None


def test_a_total_labelled_in_one_line_is_labelled_in_the_line_that_repeats_it():
    """Item 1: 5 of the drug domain's 1,000 study records are after death. Its follow-up line
    labels n_after_death <20 and so n_records 20+; drug_values, the next line, counts the same
    1,000 records and printed them exactly (1,000 - n_kept 995 = the 5). Read together, the two
    lines show the total the same way, and no exact total less the exact parts of the other
    line leaves 1..19. On HEAD before this fix (no stage_count_texts; quirk_log_text per line)
    drug_values read n_records 1,000."""
    from trd_spark.phenotypes.stage import stage_count_texts

    drug = {"n_records": 1000, "n_unknown_person": 0, "n_missing_date": 0, "n_before_birth_year": 0,
            "n_after_followup_end": 5, "n_after_death": 5, "n_after_cutoff": 0, "n_after_observation_end": 0,
            "n_kept": 995, "n_dated_after_cutoff": 0}
    values = {"n_records": 1000, "n_end_over_max_days": 0, "n_days_supply_over_max": 0}
    followup, lines = stage_count_texts({"drug": drug}, {"drug_values": values}, T)
    a, b = _key_values(followup["drug"]), _key_values(lines["drug_values"])
    assert a["n_after_death"] == "<20" and a["n_records"] == "20+", followup
    assert b["n_records"] == a["n_records"], (followup["drug"], lines["drug_values"])
    # The reader's arithmetic over both lines: a total shown exactly in either, less the follow-up
    # line's exact parts, is never 1..19.
    for total in (_exact(a["n_records"]), _exact(b["n_records"])):
        parts = [_exact(a[k]) for k in ("n_unknown_person", "n_missing_date", "n_before_birth_year", "n_kept")]
        if total is not None and None not in parts:
            assert not 0 < total - sum(p for p in parts if p is not None) < T
    # Nothing labelled: both exact and equal (the rule labels only what gives a count back).
    followup, lines = stage_count_texts({"drug": {**drug, "n_after_followup_end": 0, "n_after_death": 0,
                                                  "n_kept": 1000}}, {"drug_values": values}, T)
    assert _key_values(followup["drug"])["n_records"] == _key_values(lines["drug_values"])["n_records"] == "1,000"
    # And the stage logs what stage_count_texts renders (one source for both lines).
    from trd_spark.phenotypes import stage

    assert "stage_count_texts(event_dates, quirks, threshold, prior)" in open(stage.__file__).read()


def test_a_total_over_its_shown_parts_is_labelled_when_the_rest_is_small():
    """Item 2: antidepressant_exposures' n_records holds, besides its three shown parts, the
    negative days_supply records within follow-up, a count the line does not show: 1,003 over
    900 + 100 (+ 0 below the dose) gave 3. ``record_counts_text`` reads total - sum(parts) as a
    hidden part: 1..T-1 labels the total; 0 or T or more leaves it exact. On HEAD before this fix
    the line read n_records 1,003."""
    from trd_spark.logs import record_counts_text
    from trd_spark.phenotypes.stage import quirk_log_text

    exposures = {"n_records": 1003, "n_below_min_dose": 0, "n_dose_unknown": 0, "n_exposures": 900,
                 "n_duplicates_removed": 100}
    shown = _key_values(quirk_log_text("antidepressant_exposures", exposures, T))
    assert shown["n_records"] == "20+", shown
    assert [shown[k] for k in ("n_exposures", "n_duplicates_removed")] == ["900", "100"]
    # The general rule, in logs: surplus 0 or >= T leaves the total exact.
    sums = {"t": ("a", "b")}
    assert record_counts_text({"t": 1000, "a": 900, "b": 100}, T, sums)["t"] == "1,000"
    assert record_counts_text({"t": 1020, "a": 900, "b": 100}, T, sums)["t"] == "1,020"
    assert record_counts_text({"t": 1019, "a": 900, "b": 100}, T, sums)["t"] == "20+"
    assert record_counts_text({"t": 1001, "a": 900, "b": 100}, T, sums)["t"] == "20+"


def test_records_below_has_no_default():
    """Item 3: each builder of record lines takes ``records_below`` with no default, so a new
    caller that forgets the threshold fails at once instead of printing exact counts; None
    (exact) is asked for explicitly. On HEAD before this fix the three warnings builders
    defaulted to None."""
    import inspect

    from trd_spark.logs import record_count_text, record_counts_text
    from trd_spark.phenotypes.stage import (
        concept_record_warnings,
        conditional_record_warnings,
        followup_log_text,
        stage_count_texts,
        unread_record_warnings,
    )

    for f in (record_count_text, record_counts_text, unread_record_warnings, concept_record_warnings,
              conditional_record_warnings, followup_log_text, stage_count_texts):
        param = inspect.signature(f).parameters["records_below"]
        assert param.default is inspect.Parameter.empty, f.__name__
    assert concept_record_warnings({"n_condition_occurrence": 3}, T)[0].startswith("condition_occurrence: <20 record")
    assert concept_record_warnings({"n_condition_occurrence": 3}, None)[0].startswith("condition_occurrence: 3 record")
