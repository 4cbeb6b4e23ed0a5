"""Claim reversals the stage did not read (helper "reversal4", session 57), hand-worked from docs/phenotypes.md
"When an exposure ends" (A claim reversal cancels one claim).

1. A reversal whose OWN drug_concept_id is in no study set. An ETL maps a source code to a standard concept through
   the vocabulary's "Maps to"; a reversal it left at concept 0, or wrote with the source (NDC) concept in the
   standard column, or mapped with another vocabulary version, is no study record, so the claim it reverses stood as
   an exposure (a fill never dispensed: an adequate trial). Payers pair a reversal with its claim by the
   transaction's identity, which holds the NDC (trials module docstring), and the NDC is what OMOP keeps in
   drug_source_concept_id. So such a reversal is read by its code (its drug_source_concept_id, else its
   drug_concept_id: ``trials.source_code_expr``) as a reversal of the product of the study claims of its person
   whose drug_source_concept_id or drug_concept_id is that code (``trials.reversal_matches``' ``foreign``), then
   matched as any reversal; counted (notes.quirks.reversals_by_source.n_reversals_by_source; each one cancels a
   claim or none, in the reversed_claims counts). Before (6ff58c5) none was read: chain and twin alike.
2. drug_exposure_id, the CDM's primary key, was not read: a claim exported twice under ONE id (a part file written
   twice) and its reversal once left the fill standing (n rows - m reversals). Now the id is read and a repeated
   one among the records of a person and product with a reversal is one InputDataError (exit 3), as a repeated
   person_id is (``stage.check_exposure_ids``). Two rows with two ids are two claims (a claim and its rebill), as
   before: a reversal cancels one of them, whichever id (ids are surrogate keys with no order; the rows are equal
   in every column a rule reads).

The frame (as tests/test_reversal_s55.py): born 1970, female, observed 2010-2023 (follow-up to the cutoff
2023-07-01); MDD on 2019-01-10 and 2019-02-10; two background adequate trials (citalopram 2019-02-01, bupropion
2019-05-01, 60 days each); then sertraline from S = 2019-09-01. A sertraline trial of >= 42 days makes ad3 TRD on its
start with 3 adequate trials (time_to_trd_days = start - index); else trMDD with 2 (censored at the cutoff, 1,633
days). ad2_augmentation and somatic are trMDD always. Claims: pharmacy claims (32869), the sertraline tablet
(SERTRALINE_TAB), 60 days, 60 units, their source concept NDC (a made-up NDC concept_id, as the CDM writes the
source code's concept).

- 5801: reversal on 09-04 (-60 days, -60 units), drug_concept_id 0, source NDC: cancels the claim: trMDD with 2.
  Before: TRD on S with 3 (the reversal not read).
- 5802: the reversal on S with the NDC concept in drug_concept_id (non-standard, unmapped) and no source concept:
  its code is its drug_concept_id: cancels the claim, trMDD. Before: TRD on S.
- 5803: a reversal of concept 0 whose source is ANOTHER NDC (no claim of the person has it): not read, not
  counted; TRD on S (as before).
- 5804: the 5801 reversal with -30 days / -30 units (another supply): read by its code, cancels nothing (counted
  unmatched and by source); TRD on S.
- 5805: a reversal of concept 0 whose drug_source_concept_id is the study concept itself (SERTRALINE_TAB), the claim
  without a source concept: the claim's concept is the code: cancelled, trMDD.
- 5806: two claims of one NDC mapped to two concepts (S: the tablet; 09-20: the sertraline ingredient concept, as
  another vocabulary version mapped it), the reversal of concept 0 on 09-10: the concept of the latest claim on or
  before its day (the tablet's): S's claim cancelled; the 09-20 claim's 60 days stand: TRD on 09-20 with 3. (Taking
  the latest claim of the code whatever its day would put the reversal before its claim: nothing cancelled, TRD on
  S.) Before: TRD on S.
- 5807: a claim under drug_exposure_id 11, its rebill under 12 (identical otherwise), the reversal (13) of study
  concept on S: one claim stands: TRD on S (the rebill; as before).
Counts: reversed claims 5801, 5802, 5805, 5806, 5807 (5); unmatched 5804 (1); by source 5801, 5802, 5804, 5805, 5806
(5). On 6ff58c5: 1 cancelled (5807), 0 unmatched, no by-source count.

A second export (ID_SHAPES), person 5901: the claim twice under drug_exposure_id 21 (a part written twice) and the
reversal (22): the repeated id is counted as the stage counts it (observed on the matches' write) and
``stage.check_exposure_ids`` raises one InputDataError naming drug_exposure_id; the twin raises too. On 6ff58c5 the
stage published 5901 as TRD on S (the repeated claim stood).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import functions as F
from test_phenotypes_support import (
    ANCESTRY,
    BUPROPION,
    CITALOPRAM,
    CONCEPTS,
    MDD_CONCEPT,
    SERTRALINE,
    SERTRALINE_TAB,
    d,
    days,
    duckdb_twin,
    duckdb_twin_run,
    toy_config,
    write_omop_tables,
)

from trd_spark.errors import InputDataError
from trd_spark.phenotypes.stage import (
    derive_phenotype_tables,
    derive_study_events,
    drug_record_quirk_columns,
    implausible_drug_value_columns,
    read_omop,
)
from trd_spark.phenotypes.trials import reversed_claim_counts, source_reversal_counts

INDEX, S, CUTOFF = "2019-01-10", "2019-09-01", "2023-07-01"
COLUMNS = ["person_id", "definition", "status", "mdd_index_date", "trd_onset_date", "time_to_trd_days", "trd_event",
           "n_adequate_trials"]
DEFINITIONS = ("ad3", "ad2_augmentation", "somatic")
PHARMACY_CLAIM = 32869
NDC, OTHER_NDC = 45_000_001, 45_000_002  # source (NDC) concept_ids, in no study set


def rx(pid: int, start: str, ds: int, q: float, *, concept: int = SERTRALINE_TAB, source: int | None = NDC,
       id_: int | None = None) -> tuple:
    """A drug_exposure row (OMOP_COLUMNS order: ..., drug_source_concept_id, drug_type_concept_id,
    drug_exposure_id); end = start (the ETL's), the length from days_supply."""
    return (pid, concept, d(start), d(start), ds, None, q, None, source, PHARMACY_CLAIM, id_)


# person_id -> (sertraline rows, ad3 onset or None (trMDD))
SHAPES: dict[int, tuple[list[tuple], str | None]] = {
    5801: ([rx(5801, S, 60, 60.0), rx(5801, "2019-09-04", -60, -60.0, concept=0)], None),
    5802: ([rx(5802, S, 60, 60.0), rx(5802, S, -60, -60.0, concept=NDC, source=None)], None),
    5803: ([rx(5803, S, 60, 60.0), rx(5803, "2019-09-04", -60, -60.0, concept=0, source=OTHER_NDC)], S),
    5804: ([rx(5804, S, 60, 60.0), rx(5804, "2019-09-04", -30, -30.0, concept=0)], S),
    5805: ([rx(5805, S, 60, 60.0, source=None), rx(5805, "2019-09-04", -60, -60.0, concept=0, source=SERTRALINE_TAB)],
           None),
    5806: ([rx(5806, S, 60, 60.0), rx(5806, "2019-09-20", 60, 60.0, concept=SERTRALINE),
            rx(5806, "2019-09-10", -60, -60.0, concept=0)], "2019-09-20"),
    5807: ([rx(5807, S, 60, 60.0, id_=11), rx(5807, S, 60, 60.0, id_=12), rx(5807, S, -60, -60.0, id_=13)], S),
}
ID_SHAPES: dict[int, list[tuple]] = {
    5901: [rx(5901, S, 60, 60.0, id_=21), rx(5901, S, 60, 60.0, id_=21), rx(5901, S, -60, -60.0, id_=22)],
}


def _write(root: Path, shapes: dict[int, list[tuple]]) -> None:
    persons = sorted(shapes)
    drugs = []
    for p, variant in shapes.items():
        drugs += [rx(p, "2019-02-01", 60, 60.0, concept=CITALOPRAM, source=None),
                  rx(p, "2019-05-01", 60, 60.0, concept=BUPROPION, source=None), *variant]
    write_omop_tables(root, {
        "person": [(p, 8532, 1970, 1, 1) for p in persons],
        "observation_period": [(p, d("2010-01-01"), d("2023-12-31")) for p in persons],
        "condition_occurrence": [(p, MDD_CONCEPT, d(x)) for p in persons for x in (INDEX, "2019-02-10")],
        "drug_exposure": drugs,
        # the NDCs as the vocabulary holds them (non-standard: a record of one in drug_concept_id is counted as such)
        "concept": [*CONCEPTS, (NDC, "sertraline 50 MG Oral Tablet (NDC)", "Drug", "NDC", "11-digit NDC", None,
                                "00000000001"),
                    (OTHER_NDC, "ibuprofen 200 MG Oral Tablet (NDC)", "Drug", "NDC", "11-digit NDC", None,
                     "00000000002")],
        "concept_ancestor": [(a, b, 1, 1) for a, b in ANCESTRY],
    })


def expected() -> list[tuple]:
    """Every person's three rows, by hand (SHAPES)."""
    out = []
    for p, (_, onset) in SHAPES.items():
        n = 3 if onset else 2
        for definition in DEFINITIONS:
            trd = onset if definition == "ad3" else None
            out.append((p, definition, "TRD" if trd else "trMDD", d(INDEX), d(trd) if trd else None,
                        days(INDEX, trd or CUTOFF), int(bool(trd)), n))
    return sorted(out)


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("reversal57") / "omop"
    root.mkdir()
    _write(root, {p: s[0] for p, s in SHAPES.items()})
    return root


@pytest.fixture(scope="module")
def chain_run(spark, case_dir):
    """The case through the chain once: rows (sorted COLUMNS tuples) and the reversal counts as stage_counts gives
    them with the chain's matches (``PhenotypeTables.reversal_matches``)."""
    cfg = toy_config(path=str(case_dir))
    omop = read_omop(spark, cfg)
    tables = derive_phenotype_tables(omop, cfg)
    matches = tables.reversal_matches
    counts = {**reversed_claim_counts(tables.study_events["drug"], matches).collect()[0].asDict(),
              **source_reversal_counts(matches).collect()[0].asDict()}
    return {"rows": sorted(tuple(r) for r in tables.phenotypes.select(*COLUMNS).collect()), "counts": counts,
            "tables": tables, "omop": omop, "cfg": cfg}


@pytest.fixture(scope="module")
def twin_run(case_dir):
    return duckdb_twin_run(case_dir, COLUMNS)


def _diff(got: list[tuple], want: list[tuple]) -> str:
    return "\n".join(f"{'+' if r in got else '-'} {r}" for r in sorted(set(got) ^ set(want)))


WANT_COUNTS = {"n_reversed_claims": 5, "n_unmatched_reversals": 1, "n_reversals_by_source": 5}


def test_the_chain_gives_every_hand_answer(chain_run):
    """SHAPES through the chain (module docstring). On 6ff58c5: 5801, 5802 and 5805 ad3 TRD on S with 3 (their
    reversals not read), 5806 TRD on S."""
    diff = _diff(chain_run["rows"], expected())
    assert not diff, "\n" + diff


def test_the_duckdb_twin_gives_every_hand_answer(twin_run):
    """The same shapes through the DuckDB twin (its own loop); on 6ff58c5 it failed as the chain did."""
    diff = _diff(twin_run["rows"], expected())
    assert not diff, "\n" + diff


def test_counts_of_the_chain_and_the_twin_agree(chain_run, twin_run):
    """reversed_claims (5801, 5802, 5805, 5806, 5807 cancel one claim each; 5804's reversal none) and
    reversals_by_source (5801, 5802, 5804, 5805, 5806; 5803's names no claim of its person: not read), chain and
    twin. On 6ff58c5: 1 cancelled, 0 unmatched, no by-source count."""
    assert chain_run["counts"] == WANT_COUNTS
    twin = twin_run["counts"]
    assert {**twin["reversed_claims"], **twin["reversals_by_source"]} == WANT_COUNTS

    # the stage's drug quirk counts, observed on the one scan that writes the study records and the reversals read
    # beside them (``where``: the study rows), are the study records' alone: the negative rows of study concepts are
    # 5807's reversal; the study rows are 2 background rows a person and 10 sertraline rows of study concepts
    both = derive_study_events(chain_run["omop"], chain_run["cfg"], foreign_reversals=True)["drug"]
    study = F.col("drug_concept_id").isNotNull()
    [row] = both.agg(*drug_record_quirk_columns(365, where=study),
                     *implausible_drug_value_columns(both, 365, where=study)).collect()
    assert (row.n_negative_days_supply, row.n_negative_quantity, row.n_records) == (1, 1, 2 * len(SHAPES) + 10)
    assert both.where(~study).count() == 6  # 5801-5806's reversals (5803's too: a code, of no claim)


def test_the_stage_reads_them_once_and_counts_them(spark, case_dir, tmp_path, caplog):
    """The phenotypes stage (``run``: the one scan keeps the reversals outside the study sets beside the study
    records, the reversals read by their code are written once and the matching reads them) publishes every hand
    answer of SHAPES for ad3, notes.quirks.reversals_by_source and the reversed_claims counts (WANT_COUNTS), the
    study records' own negative counts unchanged (5807's reversal: 1 and 1), and one WARNING naming the reversals
    read by their drug_source_concept_id, its count as a label (5 records: <20). On 6ff58c5 5801, 5802, 5805 and
    5806 were published TRD on S and no part or WARNING named such reversals."""
    import logging

    import pandas as pd

    from trd_spark.layout import Layout
    from trd_spark.pipeline import run_stage
    from trd_spark.releases import LocalFs

    cfg = toy_config(path=str(case_dir)).model_copy(update={"output_root": str(tmp_path / "out")})
    caplog.set_level(logging.WARNING, logger="trd_spark")
    run_stage(spark, cfg, "phenotypes")
    layout = Layout.of(cfg)
    got = pd.read_parquet(layout.table("phenotypes", "phenotypes")).query("definition == 'ad3'")
    want = {r[0]: (r[2], r[4]) for r in expected() if r[1] == "ad3"}
    assert {int(r.person_id): (r.status, None if pd.isna(r.trd_onset_date) else pd.Timestamp(r.trd_onset_date).date())
            for r in got.itertuples()} == want
    quirks = layout.manifest(LocalFs(), "phenotypes")["notes"]["quirks"]
    assert {**quirks["reversed_claims"], **quirks["reversals_by_source"]} == WANT_COUNTS
    assert (quirks["drug_records"]["n_negative_days_supply"], quirks["drug_records"]["n_negative_quantity"]) == (1, 1)
    lines = [r.getMessage() for r in caplog.records if "read by their drug_source_concept_id" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("phenotypes: drug_exposure: <20 claim reversal(s) whose "), lines


@pytest.fixture(scope="module")
def id_case_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("reversal57ids") / "omop"
    root.mkdir()
    _write(root, ID_SHAPES)
    return root


def test_a_repeated_drug_exposure_id_is_one_error_in_the_chain_and_the_twin(spark, id_case_dir, tmp_path):
    """ID_SHAPES (module docstring): the count the stage observes while it writes the matches
    (``trials.repeated_exposure_id_count``: 5901's claim twice under id 21) is 1, and ``stage.check_exposure_ids`` (what
    ``run`` calls on it) raises one InputDataError (exit 3) naming drug_exposure_id, no participant ID in it; the twin
    raises. On 6ff58c5 neither existed and the stage published 5901 as TRD on S (the claim repeated under one id stood
    against its one reversal)."""
    from trd_spark.phenotypes.stage import check_exposure_ids
    from trd_spark.phenotypes.trials import repeated_exposure_id_count, reversal_matches

    cfg = toy_config(path=str(id_case_dir))
    tables = derive_phenotype_tables(read_omop(spark, cfg), cfg)
    [row] = reversal_matches(tables.study_events["drug"]).agg(repeated_exposure_id_count()).collect()
    assert row.n_repeated_drug_exposure_ids == 1
    check_exposure_ids(0, cfg)  # none: no error
    with pytest.raises(InputDataError, match=r"column drug_exposure_id: a drug_exposure_id occurs on more than one "
                                             r"record of a person and drug with a claim reversal") as raised:
        check_exposure_ids(row.n_repeated_drug_exposure_ids, cfg)
    assert raised.value.exit_code == 3 and "5901" not in str(raised.value)
    with pytest.raises(ValueError, match="drug_exposure_id"):
        duckdb_twin().duckdb_phenotypes(str(id_case_dir), cfg, str(tmp_path / "twin.parquet"), threads=1)
