"""Session 32 "fixes": the fresh reader's findings on session 32's change, each shown here.

- A scoring-file header key given twice in two spellings with two meanings (``#weight_type=beta``
  beside ``#Weight Type=OR``, a format 1.0 word beside its 2.0 key) was read as the format's
  spelling's value, silently: the other line's meaning was dropped (odds ratios summed as betas,
  or log-odds exponentiated). Now the error of one key given twice in one spelling (round 22).
- ``cli._session``: a signal (SIGINT's KeyboardInterrupt, SIGTERM's Interrupted) raised after
  the background start began and before ``result()`` waited (where it abandons the start) left the
  start running: its JVM launched, never stopped.
- ``matching.weight_matrices``: the one-site-per-row path took each member's row as its site's
  place repeated over the site's run, assuming the members in site order; out of order, the
  weights went to other sites' rows, silently. Checked now: out of order, the per-member path.
- ``benchmarks/pgs_vs_plink2.py``: the total holds Spark SQL's session state's build, which the
  "ours_s (parse+match+score)" parts left out: they did not add up to it.
- An OMOP drug_exposure table without ``drug_type_concept_id`` (a CDM-required column) turned the
  administration-record rule (field case round 22) off, unseen: now one WARNING counting the
  records it concerns.

Parse level, a stand-in start (no JVM), plain frames, the benchmark's report alone; the last
case on the tests' Spark session (four rows).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import logging
import math
import signal
from pathlib import Path

import numpy as np
import pytest
from test_pgs_weight_matrices import HAPLOID, _reference, _same_bits, _sites_and_rows

from trd_spark.errors import InputDataError, Interrupted
from trd_spark.pgs.matching import FrameMatches, frame_matches, weight_matrices
from trd_spark.pgs.scoring_files import parse_scoring_file

COLUMNS = "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"


# ---- one header key in two spellings with two meanings ----------------------------------------

@pytest.mark.parametrize("first, second, key", [
    ("#weight_type=beta", "#Weight Type=OR", "weight_type"),      # the format's spelling first
    ("#Weight_Type=OR", "#weight_type=beta", "weight_type"),      # the other spelling first
    ("#weight-type=OR", "#weight_type=NR", "weight_type"),        # NR: not reported, not OR
    ("# Original Genome Build = GRCh37", "#genome_build=GRCh38", "genome_build"),  # format 1.0 beside 2.0
], ids=["format-first", "other-first", "or-then-nr", "format-1-beside-2"])
def test_one_header_key_in_two_spellings_with_two_meanings_is_one_error(first, second, key):
    """By hand: before, the format's spelling won whatever the order (weights 2.0 read as a beta,
    or as an OR and summed as ln 2; the positions read as GRCh38's), the other line unread. Now
    the round 22 error at the later line (4), naming both lines."""
    build = key == "genome_build"
    head = "#pgs_id=PGS1\n" + ("#variants_number=1\n" if build else "#genome_build=GRCh38\n") + f"{first}\n{second}\n"
    with pytest.raises(InputDataError, match=rf"header gives {key} twice with different values") as e:
        parse_scoring_file(head + COLUMNS + "1\t100\tA\tG\t2.0\n", source="s.txt")
    assert e.value.where == "s.txt:4"
    assert "line 3" in str(e.value) and "line 4" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("head", [
    "#weight_type=OR\n#Weight Type= or\n",
    "#Weight_Type=OR\n#weight_type=OR\n",
    "#genome_build=GRCh38\n# Original Genome Build = hg38\n",
], ids=["or-twice", "other-first", "build-alias"])
def test_one_header_key_in_two_spellings_with_one_meaning_is_read(head):
    """The same meaning in two spellings is one value (as in one spelling): no error."""
    text = "#pgs_id=PGS1\n" + ("" if "build" in head else "#genome_build=GRCh38\n") + head + COLUMNS + "1\t100\tA\tG\t2.0\n"
    sf = parse_scoring_file(text, source="s.txt")
    assert sf.header.genome_build == "GRCh38"
    expected = 2.0 if "build" in head else math.log(2.0)
    assert sf.variants["effect_weight"].tolist() == [pytest.approx(expected)]


# ---- a signal before the start's result is waited for -----------------------------------------

@pytest.mark.parametrize("raised", [KeyboardInterrupt(), Interrupted(signal.SIGTERM)], ids=["SIGINT", "SIGTERM"])
def test_a_signal_between_the_start_and_its_wait_abandons_the_start(monkeypatch, raised):
    """A signal handler's exception raised while the parse's callback is registered (after
    ``begin``, before ``result``): the start is abandoned, then the exception goes on. Before,
    ``begin`` then nothing: the start's thread went on launching its JVM. A stand-in for
    ``session.BackgroundStart`` (its ``result`` abandons on its own; not reached here) and no JVM
    running in its view: nothing is launched."""
    from trd_spark import cli, session
    from trd_spark.config import PgsSettings
    from trd_spark.pgs.scoring_files import SCORING_FILES_AHEAD, ParseAhead

    calls: list[str] = []

    class Start:
        def __init__(self, settings) -> None:
            calls.append("init")

        def begin(self) -> Start:
            calls.append("begin")
            return self

        def result(self):
            calls.append("result")
            return "session"

        def abandon(self) -> None:
            calls.append("abandon")

        def stop_waiting(self, reason: BaseException) -> None:
            calls.append("stop_waiting")

    class Ahead(ParseAhead):
        def when_failed(self, callback) -> None:
            raise raised  # as the signal's handler raises it, in this thread

    monkeypatch.setattr(session, "BackgroundStart", Start)
    monkeypatch.setattr(session, "jvm_running", lambda: False)
    ahead = Ahead(PgsSettings(scoring_files=["unused/*.txt"], trait_panel="unused.yaml"), ["GRCh38"])
    with pytest.raises(type(raised)):
        cli._session(None, {SCORING_FILES_AHEAD: ahead})  # noqa: SLF001
    assert calls == ["init", "begin", "abandon"]
    # Without a signal: the session, and the start not abandoned here.
    calls.clear()
    plain = ParseAhead(PgsSettings(scoring_files=["unused/*.txt"], trait_panel="unused.yaml"), ["GRCh38"])
    assert cli._session(None, {SCORING_FILES_AHEAD: plain}) == "session"  # noqa: SLF001
    assert calls == ["init", "begin", "result"]


# ---- weight matrices of members out of site order ---------------------------------------------

def test_weight_matrices_of_members_out_of_site_order_equal_the_per_member_sum():
    """The frames of test_pgs_weight_matrices with one used site per row (the one-site-per-row
    path's case), their members shuffled: slope, offset and n_vars as the member loop gives them,
    bit for bit (the per-member path sums in member order). Before, the runs found by binary
    search over unsorted sites, and each site's place repeated over them, put weights on other
    rows (n_vars and slopes wrong)."""
    rng = np.random.default_rng(3201)
    k = 5
    for every_row_used in (False, True):
        sites, rows = _sites_and_rows(rng, k, shared_row=False, every_row_used=every_row_used)
        m = frame_matches(sites, rows)
        order = rng.permutation(len(m.members))
        shuffled = FrameMatches(m.sites, m.rows, m.members.iloc[order].reset_index(drop=True), m.pgs_ids)
        assert (np.diff(shuffled.members["site"].to_numpy()) < 0).any()
        w = weight_matrices(shuffled, HAPLOID)
        slope, offset, n_vars, used_rows = _reference(shuffled, k)
        assert w.rows["position"].tolist() == rows["position"].to_numpy()[used_rows].tolist()
        assert _same_bits(w.slope, slope) and _same_bits(w.offset, offset)
        assert np.array_equal(w.n_vars, n_vars)
        # In site order (as frame_matches makes them), still the one-site-per-row path.
        assert weight_matrices(m, HAPLOID).ref_effect_row is not None


# ---- the benchmark's header line ----------------------------------------------------------------

def test_the_benchmark_line_shows_the_parts_of_its_total(capsys):
    """parse 1.0 + match 2.0 + Spark SQL's state 0.5 + score 3.0 = total 6.5: every part shown.
    Before: "(1.0+2.0+3.0)" under a total of 6.5. The module loaded from its file (no sys.path
    change)."""
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "pgs_vs_plink2.py"
    spec = importlib.util.spec_from_file_location("bench_pgs_vs_plink2_s32", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = argparse.Namespace(samples=10, variants=20, scores=2, cores=1)
    result = {"engine": "native-bed", "jvm": 4.0, "plink2": 0.5, "total": 6.5, "parse": 1.0, "match": 2.0,
              "sql_state": 0.5, "cpu_sql_state": {"driver": 0.1}, "score": 3.0, "max_rel_diff": 1e-7}
    assert bench.report(args, [result]) == 0
    out = capsys.readouterr().out
    assert "ours_s (parse+match+sql_state+score)" in out
    line = next(x for x in out.splitlines() if x.startswith("native-bed ") and "x" in x and "(" in x)
    assert "6.5 (1.0+2.0+0.5+3.0)" in line, line


# ---- a drug_exposure table without drug_type_concept_id ---------------------------------------

def test_a_drug_exposure_table_without_drug_type_is_one_warning_counting_its_records(spark, caplog):
    """By hand: of four records, two have no end after the start and no days_supply (end = start
    with none; no end with 0): read as default-length orders, which they would not be as
    administrations. Before: nothing said. With the column: no line; without it and no such
    record: an INFO line (the rule would change nothing), not a WARNING."""
    from trd_spark.phenotypes.omop import conform_omop_table

    day = dt.date(2020, 1, 1)
    schema = ("person_id long, drug_concept_id long, drug_exposure_start_date date, drug_exposure_end_date date, "
              "days_supply int")
    rows = [(1, 10, day, day, None), (2, 10, day, None, 0), (3, 10, day, day, 30),
            (4, 10, day, day + dt.timedelta(days=30), None)]

    def lines(df) -> list[logging.LogRecord]:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="trd_spark.phenotypes.omop"):
            # records_below=2: 2 reads "2+" (a label always: tests/test_fixesB_s37.py).
            conform_omop_table(df, "drug_exposure", where="omop/drug_exposure.parquet", records_below=2)
        return [r for r in caplog.records if "drug_type_concept_id" in r.getMessage()]

    found = lines(spark.createDataFrame(rows, schema))
    assert [r.levelno for r in found] == [logging.WARNING]
    message = found[0].getMessage()
    assert message.startswith("omop/drug_exposure.parquet: ") and "2+ record(s) without an end or a days_supply" in message
    assert "administration-record rule" in message and "\n" not in message
    assert lines(spark.createDataFrame([(*r, 32818) for r in rows], schema + ", drug_type_concept_id long")) == []
    quiet = lines(spark.createDataFrame(rows[2:], schema))
    assert [r.levelno for r in quiet] == [logging.INFO] and "; 0 record(s) " in quiet[0].getMessage()
