"""Mutation review of session 53's code (session 54, helper "review53").

Each test kills mutants of 89c7a7e..10a863e (``trd_spark/``, ``scripts/``, the DuckDB twin): the OMOP
date text rule and the preflight 99a33a9 / 7c07031, the toy sizes 70af6de, privacy round 10 1522869,
the mail-order length 926d5da, the native task's in-place product 69a5f10, the Cox time at risk and
the meta inputs 299d7c4, the negative-strand liftover 4f3495c / 2a0b891, the package and SIGTERM of
submit.sh 4e06175 / 28fd731) that session 53's tests let pass (named in each docstring; each shown
failing on its mutant and passing on HEAD). Mutants were one-line changes applied in scratch
worktrees of 10a863e (/tmp/s54/review53/, removed) and run (``-x``, ``-n 0``, nice'd; load 20-45 on
the 2 cores: 0.5-8 min a run) against the modules named.

Modules: DATES (test_dates_s53: RULE its chain/twin rule test, CELL its date-column and partner
tests, PRE its preflight tests, TOY its toy-size tests), COXP / COXS (test_cox_s53: its two pandas
tests / its Spark tests), MADVP (test_models_adversarial_s52's pandas tests), PRIV10 (test_privacy10_s53's
pure tests), TRIALS (test_trials_s53), FUZZ (test_pgs_fuzz_s53), NAT (test_native16_s53), NEWU
(test_newuser_s53); "read": judged by reading the module's case and assertions (runs cut for time);
"new": a test below.
  id   change                                          result
  d1   date rule: hour 2[0-5]                          killed: RULE
  d2   date rule: minutes to 69                        killed: RULE
  d3   date rule: seconds to 69                        killed: RULE
  d4   date rule: 24:mm taken                          killed: RULE
  d5   date rule: 24:00's fraction any digit           survived RULE; new
  d6   date rule: offset hours to 19                   survived RULE; new
  d7   date rule: +18:mm taken                         read: survives RULE (no such offset); new
  d8   date rule: offset minutes to 99                 read: survives RULE (as d7); new
  d9   date rule: the calendar day not checked         read: killed by RULE ('2019-02-30')
  d10  date rule: a zone's instant not checked         read: killed by RULE ('...T10:00:00+25:00')
  d11  date rule: trailing blanks not trimmed          read: killed by test_omop_kinds_s52 (411, 420, 424)
  d12  date rule: [T ] -> T                            read: killed by RULE ('2019-11-20 00:00:00,5')
  d13  birth_datetime '1970-03' not excepted           read: killed by test_field_cases_round32_omop
  d14  partner: the old full-date test                 killed: CELL
  d15  partner with a zone: the old text test          killed: CELL
  d16  offset wording on the wrong branch              read: killed by CELL (its exact message)
  d17  Parquet row position never given                read: killed by CELL (person's ' (row N of ...)')
  d18  twin: hour 2[0-5]                               read: killed by RULE
  d19  twin: xs:date offset hours to 19                read: survives RULE; new
  d20  twin: the calendar day not checked              read: killed by RULE (DuckDB's own error)
  d21  twin: offsets beyond from 20                    read: survives RULE; new
  d22  twin: in_range's AND dropped                    read: killed by RULE ('...-18:00' refused)
  d23  error hint: match, not fullmatch                not run; low (as session 53's o1)
  f1   preflight run for cohort, not phenotypes        killed: PRE
  f2   first table absent: stop                        killed: PRE
  f3   both a file and a folder judged                 survived PRE; low (the reader refuses the
                                                       ambiguous table anyway)
  f4   partition keys not added                        survived PRE; new
  f5   marker files (_SUCCESS) not skipped             survived PRE; new
  f6   dictionary type read as it is                   survived PRE; equivalent in effect (pyarrow
                                                       gives a dictionary back for text only)
  f7   byte-order mark kept                            killed: PRE
  f8   CSV names not lowered                           killed: PRE
  f9   optional columns required                       killed: PRE
  f10  the default sex column required                 killed: PRE
  f11  date columns judged as numbers                  killed: PRE
  f12  timestamps not refused                          killed: PRE
  f13  the configured sex column not read              killed: PRE
  f14  CSV error without ':1'                          killed: PRE
  f15  last part file, not first                       survived PRE; low (a part of another schema is
                                                       check_part_file_schemas' error once Spark runs)
  y1   toy size: the least refused                     survived TOY; new
  y2   toy size: the most refused                      survived TOY; new
  y3   seed: most 2**64                                killed: TOY
  y4   variants: most 10**8                            read: killed by TOY (20,000,000 refused)
  s1   usable: p not checked                           survived COXP; new
  s2   usable: se not finite passes                    killed: COXP
  s3   warn_unusable returns 0                         killed: COXP
  s4   meta note: left-out datasets not named          killed: COXP
  s5   difference: converged only                      killed: COXP
  s6   replication: the old ok                         killed: COXP
  s7   replication: unusable note never                killed: COXP
  s8   warn_unusable: failed fits too                  survived COXP; new
  s9   usable: the p column never read                 survived COXP; new
  c17  covariates: a TRD event not 0/1 passes          killed: MADVP
  c24  fit_cox: a NaN p not refused                    survived COXS + test_models_cox; equivalent
                                                       (a finite beta and se > 0 give a finite p)
  c25  fit_logistic: the same                          survived; equivalent (as c24)
  c1   spans: touching periods not merged              read: killed by COXS (person 4)
  c2   spans: > for >= (touching)                      read: killed by COXS (person 4)
  c3   periods before the birth year kept              read: survives; low (a span before any index;
                                                       only the before/between split can change)
  c4   start-less period starts on its end             read: killed by COXS (person 8)
  c5   index span: span_end > index                    read: killed by COXS (person 7's end); new too
  c6   index in period: span_start < index             survived COXS (no index on a first day); new
  c7   before first: >= for >                          equivalent (read with ~index_in_period only)
  c8   between: every index not before                 read: killed by COXS (between 1)
  c9   no-period count never counted                   read: survives COXS (it expects 0); new
  c10  at-risk end: the span's, not the least          read: survives COXS (no span past follow-up's
                                                       end); new
  c11  event: onset < at-risk end                      read: killed by COXS (person 7)
  c12  shortened: <=                                   read: killed by COXS (the count)
  c13  censored: trd_event 0 of any status             read: killed by COXS (old - new events)
  c14  periods under followup too                      read: killed by COXS (followup:periods None)
  c15  index periods of non-MDD persons                read: survives (every fixture person is MDD);
                                                       low (n_mdd_index_no_period, manifest only)
  c16  WARNING for indexes before only                 read: survives COXS (one of each); new
  c18  days not at risk without the 1-day floor        read: killed by COXS (person 7's day sums)
  c19  index line under followup too                   read: survives COXS; new
  t1   mail order: one day more                        read: killed by TRIALS (5340's 90 days)
  t3   a missing type read as mail order               read: survives TRIALS (every row typed); new
  t4   mail-order count: negative days_supply          read: killed by TRIALS (5343: 2 asserted)
  t5   stage: the setting not passed                   read: survives TRIALS (default 90 only); new
  t6   twin: one day more                              survived TRIALS; medium, left (no case where one
                                                       day moves a status: a fill 120 days after the last
                                                       would bridge the gap; the twin is an oracle)
  t8   twin count: negative days_supply                read: killed by TRIALS (chain 2, twin 3)
  t9   mail order only with administration             equivalent (both always passed)
  p1   outlier bar 3 errors                            killed: PRIV10
  p2   scale: the group's own only                     killed: PRIV10
  p3   bar sqrt(2n) for sqrt(2(n-1))                   survived PRIV10; low (1.7% at n = 30)
  p4   distance to the maximum only                    survived PRIV10; new
  p5   outlying groups without their complement        killed: PRIV10
  p6   outlying groups' moments shown                  killed: PRIV10
  p7   group read: n > T                               survived PRIV10; new
  p8   pooled rule never read                          killed: PRIV10
  p9   pooled n: the largest group's                   survived PRIV10; over-suppression only (every
                                                       pooled test reads n only as k < n or n - t < T)
  p10  Spark: pooled tie as a count of groups          killed: PRIV10 (its Spark test)
  p11  pooled few-valued: k < T - 1                    survived PRIV10; new
  p12  pooled tie-heavy: 2 t > n                       survived PRIV10; new
  p13  value_min / value_max exported                  killed: PRIV10
  p14  zero scale kept (flagged)                       survived PRIV10; low (over-suppression of a
                                                       group with equal quartiles)
  p15  few-valued: groups under T read                 killed: PRIV10
  p16  tie-heavy: groups under T read                  killed: PRIV10
  p17  scale of the smallest group                     killed: PRIV10
  l1   an effect allele alone not placeable            read: killed by FUZZ (row 7 at 101)
  l2   end check: position - span                      read: killed by FUZZ (row 2 at 500)
  l3   pair placed at its first base's lift            read: killed by FUZZ (row 2 at 501)
  l4   lift_negative_strand of failed rows             read: killed by FUZZ (its list)
  l5   indels placed                                   read: killed by FUZZ (rows 3, 4)
  l6   end's strand not checked                        read: survives; low (a last base on another
                                                       block exactly span - 1 before the first)
  n1   batch start not advanced                        survived NAT; equivalent (rows from 0: larger
                                                       indicator, same sums)
  n2   batch rows from the block's start               killed: NAT
  n3   last flush dropped                              killed: NAT
  n4   product copy-back dropped                       killed: NAT
  n5   zero: offsets added                             killed: NAT
  n6   float32 judged per block                        survived NAT; equivalent in practice (a batch's
                                                       n_vars sum stays far below 2**24)
  k1   package: an existing one rebuilt                killed: NEWU
  k2   package: a .pyc outside __pycache__ shipped     survived NEWU; equivalent in effect (none in the tree)
  k3   package: entries dated at build time            survived NEWU; new
  k4   SIGTERM to the JVM only                         killed: NEWU
  k5   wait loop left at the first trapped signal      killed: NEWU
  k6   digest without pyproject.toml                   survived NEWU; low (pyproject.toml is in no
                                                       zip; a changed one reuses a wheel's old metadata)
  k7   package copied, not renamed, into place         survived NEWU; low (a race with a reader of a
                                                       half-written file; not cheaply testable)

The tests below kill the meaningful survivors, each shown failing on its mutant in a scratch
worktree of 10a863e and passing on HEAD.
"""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd
import pytest
from test_phenotypes_support import duckdb_twin


def _d(text: str | None) -> dt.date | None:
    return None if text is None else dt.date.fromisoformat(text)


# ---------------------------------------------------------------- OMOP date text (99a33a9)

# No date, by the rule (offset within +-18:00, minutes 00-59; 24:00 only with a zero fraction).
NO_DATE = ("2019-11-20T24:00:00.5", "2019-11-20+19:00", "2019-11-20+18:30", "2019-11-20+05:60",
           "2019-11-20T10:00:00+19:00", "2019-11-20T10:00:00+05:60")
# Dates, by the same rule (the offset's edges, the end of the day with a zero fraction).
DATES = {"2019-11-20+17:59": "2019-11-20", "2019-11-20-17:59": "2019-11-20", "2019-11-20T24:00:00.000": "2019-11-20",
         "2019-11-20T10:00+18:00": "2019-11-19"}


def test_the_date_rule_holds_at_the_offsets_edges_in_chain_and_twin(spark):
    """The edges test_dates_s53 leaves out: an xs:date offset of +19:00, +18:30 or +05:60, 24:00
    with a non-zero fraction, a zoned time at +19:00 or +05:60 are no date in ``valid_date_text``
    and in the twin's ``_as_date``; +-17:59, 24:00:00.000 and a time at +18:00 are dates.
    Mutants (session 53's tests pass each): d5 the end of the day's fraction any digit, d6 offsets
    to 19:59, d7 +18:mm, d8 offset minutes to 99 (chain); d19 and d21 the twin's offset hours to
    19 (xs:date, after a time). Found by it (fixed in the twin, session 54): the twin read the
    zoned '2019-11-20T10:00:00+05:60' as 2019-11-20 (DuckDB takes minute 60 of an offset as an
    hour), where the chain refuses it (java.time's parser)."""
    import duckdb
    from pyspark.sql import functions as F

    from trd_spark.phenotypes.omop import to_omop_date, valid_date_text

    values = [*NO_DATE, *DATES]
    frame = spark.createDataFrame([(v,) for v in values], "d string")
    dated = to_omop_date(F.col("d"), frame.schema["d"].dataType, "death", "d", time_zone="UTC", session_zone="UTC",
                         where="test")
    got = {r.d: (r.ok, r.date) for r in frame.select("d", valid_date_text(F.col("d")).alias("ok"),
                                                     dated.alias("date")).collect()}
    assert {v for v, (ok, _) in got.items() if not ok} == set(NO_DATE)
    assert {v: str(got[v][1]) for v in DATES} == DATES
    con = duckdb.connect()
    try:
        twin = {}
        for v in values:
            con.execute("CREATE OR REPLACE TABLE t AS SELECT CAST(? AS VARCHAR) AS death_date", [v])
            sql = f"SELECT {duckdb_twin()._as_date('death_date', 'VARCHAR', None, 'death', 'UTC')} FROM t"
            try:
                twin[v] = str(con.execute(sql).fetchone()[0])
            except duckdb.Error as e:
                assert "death.death_date: value(s) are not dates" in str(e) and v not in str(e), (v, str(e))
                twin[v] = None
        assert twin == {**dict.fromkeys(NO_DATE), **DATES}
    finally:
        con.close()


# ---------------------------------------------------------------- Cox time at risk (299d7c4)


def test_index_periods_on_a_spans_first_and_last_day_and_without_one(spark):
    """``persons.index_periods`` and its counts on hand spans: an index on its span's first day and
    one on its span's last day are in that span (test_cox_s53 has an index on a last day only, and
    none on a first day: mutant c6, ``span_start < index``, counted the first as between two
    periods); an index on the last day of a span followed by another stays in it (c5, ``span_end >
    index``, took the next span's end); a person without any span is counted in
    n_mdd_index_no_period (c9, never counted: test_cox_s53 expects 0 there)."""
    from trd_spark.phenotypes.persons import index_period_count_columns, index_periods

    spans = spark.createDataFrame([
        (1, _d("2015-01-01"), _d("2015-12-31")),
        (2, _d("2015-01-01"), _d("2015-12-31")), (2, _d("2017-01-01"), _d("2018-12-31")),
        (3, _d("2016-01-01"), _d("2016-12-31")),
        (4, _d("2014-01-01"), _d("2014-12-31")), (4, _d("2016-01-01"), _d("2016-12-31")),
    ], "person_id long, span_start date, span_end date")
    index = spark.createDataFrame([(1, _d("2015-01-01")), (2, _d("2015-12-31")), (3, _d("2015-06-01")),
                                   (4, _d("2015-06-01")), (5, _d("2015-06-01"))], "person_id long, mdd_index_date date")
    periods = index_periods(spans, index)
    got = {r.person_id: (r.index_period_end_date, r.index_in_period, r.index_before_first_period)
           for r in periods.collect()}
    assert got == {1: (_d("2015-12-31"), True, False), 2: (_d("2015-12-31"), True, False),
                   3: (_d("2016-12-31"), False, True), 4: (_d("2016-12-31"), False, False), 5: (None, False, False)}
    assert periods.agg(*index_period_count_columns()).first().asDict() == {
        "n_mdd_index_before_first_period": 1, "n_mdd_index_between_periods": 1, "n_mdd_index_no_period": 1}


def test_the_time_at_risk_ends_at_the_end_of_follow_up_when_it_comes_first(spark):
    """``trd.derive_phenotypes`` with the index's span ending after the end of follow-up (a death, or
    the cutoff, inside the span): the time at risk ends with the follow-up. test_cox_s53's spans all
    end on or before the follow-up's end, so mutant c10 (the span's end whenever there is one:
    ``coalesce`` for ``least``) passed it, and a person who died in 2016 was at risk to 2017.
    Person 2: an onset after the span's end (before the end of follow-up) is TRD, censored at the
    span's end; person 3 has no span: the end of follow-up."""
    from pyspark.sql import functions as F

    from trd_spark.phenotypes.trd import derive_phenotypes

    index = _d("2015-03-01")
    mdd = spark.createDataFrame([(p, "MDD", None, index, _d(end), "female", _d("1970-01-01"))
                                 for p, end in ((1, "2016-06-01"), (2, "2023-12-31"), (3, "2016-06-01"))],
                                "person_id long, mdd_status string, exclusion_reason string, mdd_index_date date, "
                                "followup_end_date date, sex_at_birth string, birth_date date")
    treatment = spark.createDataFrame([(1, 0, None), (2, 0, _d("2020-01-01")), (3, 0, None)],
                                      "person_id long, n_adequate_trials int, onset date")
    periods = spark.createDataFrame([(1, _d("2017-12-31")), (2, _d("2016-12-31"))],
                                    "person_id long, index_period_end_date date")
    rows = derive_phenotypes(mdd, treatment, {"x": F.col("onset")}, trmdd_min_followup_days=180,
                             periods=periods).collect()
    got = {r.person_id: (r.status, r.at_risk_end_date, r.time_to_trd_days, r.trd_event) for r in rows}
    assert got == {1: ("MDD_other", _d("2016-06-01"), 458, 0), 2: ("TRD", _d("2016-12-31"), 671, 0),
                   3: ("MDD_other", _d("2016-06-01"), 458, 0)}


def test_the_time_at_risk_log_lines_under_each_rule():
    """``stage.time_at_risk_log_lines``: indexes between two periods alone still give the WARNING
    (mutant c16 warned for indexes before the first period only: test_cox_s53's case has one of
    each); under ``followup`` no line says the time at risk ends with the index's period (c19
    wrote it under either rule: test_cox_s53 reads the lines of index_period only)."""
    from trd_spark.phenotypes.stage import time_at_risk_log_lines

    counts = {"n_at_risk_shortened": 0, "n_events_censored": 0, "days_not_at_risk": 0}
    between = {"rule": "index_period", "n_mdd_index_before_first_period": 0, "n_mdd_index_between_periods": 3,
               "n_mdd_index_no_period": 0, "definitions": {"somatic": counts}}
    lines = time_at_risk_log_lines(between, 20)
    assert [level for level, _ in lines] == [logging.INFO, logging.WARNING]
    assert "0 person(s) before their first period, <20 between two" in lines[1][1]
    assert time_at_risk_log_lines({"rule": "followup", "definitions": {"somatic": counts}}, 20) == []


# ---------------------------------------------------------------- meta-analysis inputs (299d7c4)


def test_a_converged_fit_with_a_nan_p_is_no_estimate_and_a_failed_fit_no_warning(caplog):
    """``synthesis.usable_estimate``: a converged row with a finite beta and se but a NaN p is no
    estimate (mutants s1, the p not checked, and s9, the p column never read: test_cox_s53's bad
    rows have a bad beta or se only); ``warn_unusable`` names converged fits only (s8 counted a
    failed fit too: 'converged fit(s) ... left out' for a fit that never converged)."""
    from trd_spark.models.synthesis import usable_estimate, warn_unusable

    table = pd.DataFrame({"dataset": ["a", "b", "c"], "definition": "ad3", "contrast": "trd_vs_nonmdd",
                          "pgs_id": ["P1", "P2", "P3"], "beta": [0.2, 0.2, np.nan], "se": [0.1, 0.1, np.nan],
                          "p": [0.04, np.nan, np.nan], "converged": [True, True, False]})
    assert usable_estimate(table).tolist() == [True, False, False]
    with caplog.at_level(logging.WARNING, logger="trd_spark.models.synthesis"):
        assert warn_unusable(table, "logistic") == 1
    assert "1 converged fit(s)" in caplog.text and "b/ad3/trd_vs_nonmdd/P2" in caplog.text
    assert "P3" not in caplog.text


# ---------------------------------------------------------------- privacy round 10 (1522869)


def test_a_founder_variant_of_negative_weight_hides_the_groups_moments():
    """``tables.outlying_groups`` reads a group's distance from its median on both sides: one
    carrier in a 30-person group at -5 SD (a variant of negative weight, as common in a score as a
    positive one) hides its mean and sd as one at +5 SD does. test_privacy10_s53 places its
    carriers above the bulk only, so mutant p4 (the distance to the maximum alone) passed it while
    the low side's carriers were read from the group's sd, as before session 53."""
    from test_privacy10_s53 import founder_group, release, row

    from trd_spark.report.tables import outlying_groups, suppress_release

    for shift in (5.0, -5.0):
        z, _, _ = founder_group(1, 30, shift, 1)
        dist = pd.DataFrame([row(a, "P", v) for a, v in z.items()])
        assert outlying_groups(dist)[dist["ancestry"] == "MID"].all(), shift
        shown = suppress_release(release(dist), 20)["pgs_distribution"].set_index("ancestry")
        assert shown.loc[["MID", "EUR"], ["mean", "sd"]].isna().all().all(), shift


# ---------------------------------------------------------------- OMOP columns before Spark (99a33a9)


def test_the_preflight_reads_partition_keys_and_skips_marker_files(tmp_path):
    """``omop_preflight.check_omop_schemas`` on two Parquet releases:
    - a drug_exposure table partitioned by drug_concept_id (the data files lack the column; Spark
      reads it from the folder names): passes (mutant f4, keys not added, refused it: a false
      'missing required column' for an input the chain reads);
    - a condition_occurrence folder with Spark's ``_SUCCESS`` marker and a part file lacking
      condition_start_date: the part file is judged (f5, markers not skipped, took ``_SUCCESS``,
      which sorts first, as the first data file and let the table through unchecked)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from test_dates_s53 import _cfg

    from trd_spark.errors import InputDataError
    from trd_spark.phenotypes.omop_preflight import check_omop_schemas

    part = tmp_path / "a" / "drug_exposure" / "drug_concept_id=5"
    part.mkdir(parents=True)
    pq.write_table(pa.table({"person_id": [1], "drug_exposure_start_date": ["2019-01-01"],
                             "drug_exposure_end_date": ["2019-01-30"], "days_supply": [30]}), part / "part-0.parquet")
    check_omop_schemas(_cfg(tmp_path / "a"))

    folder = tmp_path / "b" / "condition_occurrence"
    folder.mkdir(parents=True)
    (folder / "_SUCCESS").write_text("")
    pq.write_table(pa.table({"person_id": [1], "condition_concept_id": [2]}), folder / "part-0.parquet")
    with pytest.raises(InputDataError, match=r"part-0\.parquet: OMOP table condition_occurrence is missing required "
                                             r"column\(s\) condition_start_date$"):
        check_omop_schemas(_cfg(tmp_path / "b"))


# ---------------------------------------------------------------- mail-order prescriptions (926d5da)


def test_the_mail_order_length_is_the_configured_one_and_a_missing_type_no_mail_order(spark):
    """``stage.derive_trials`` with ``trials.mail_order_days_supply`` 60: a mail-order prescription
    (38000176) without an end or days_supply makes a 60-day trial, and one without a
    drug_type_concept_id the default 30 days. test_trials_s53 runs the default (90) only and gives
    every row a type, so mutant t5 (the stage not passing the setting: 90 days whatever it says)
    and t3 (a missing type read as mail order: 90 days) passed it."""
    from test_phenotypes_support import toy_config

    from trd_spark.phenotypes.concepts import ingredient_frame
    from trd_spark.phenotypes.stage import derive_trials

    cfg = toy_config()
    trials = cfg.phenotypes.trials.model_copy(update={"mail_order_days_supply": 60})
    cfg = cfg.model_copy(update={"phenotypes": cfg.phenotypes.model_copy(update={"trials": trials})})
    start = _d("2019-09-01")
    drugs = spark.createDataFrame([(1, 11, start, None, None, None, None, None, None, 38000176),
                                   (2, 11, start, None, None, None, None, None, None, None)],
                                  "person_id long, drug_concept_id long, drug_exposure_start_date date, "
                                  "drug_exposure_end_date date, days_supply int, verbatim_end_date date, quantity double, "
                                  "refills int, drug_source_concept_id long, drug_type_concept_id long")
    mdd = spark.createDataFrame([(p, _d("2019-08-01"), _d("2023-12-31")) for p in (1, 2)],
                                "person_id long, mdd_index_date date, followup_end_date date")
    got = {r.person_id: (r.trial_end_date, r.trial_days) for r in
           derive_trials(cfg, drugs, ingredient_frame(spark, [(11, 101, "sertraline")]), mdd).collect()}
    assert got == {1: (_d("2019-10-30"), 60), 2: (_d("2019-09-30"), 30)}


def test_the_pooled_and_group_rules_at_their_bounds():
    """``few_valued_scores`` / ``tie_heavy_scores`` at their edges (T = 20), by ``carrier_count_scores``:
    a group of exactly T persons with a tie (19 values) is read on its own (mutant p7, ``n > T``, left
    it to the pool, which has thousands of values: the score's fits shown); three groups under T
    pooled to 19 values with a tie of 2 are few-valued (p11, ``k < T - 1``, let 19 through) and
    three groups pooled to 40 persons with a tie of 20 (21 values) are tie-heavy (p12, ``2 t > n``,
    let a tie of half the persons through). test_privacy10_s53's cases sit far from each bound."""
    from test_privacy10_s53 import row, tied_release

    from trd_spark.report.tables import carrier_count_scores

    assert carrier_count_scores(tied_release(20), 20) == {("d", "P")}
    rng = np.random.default_rng(5)
    for sizes, k_all, tie in (((15, 15, 15), 19, 2), ((10, 15, 15), 21, 20)):
        groups = pd.DataFrame([row(a, "Q", rng.normal(size=m)) for a, m in zip(("AFR", "EAS", "MID"), sizes)])
        pooled = {"dataset_n_values": k_all, "dataset_n_largest_tie": tie}
        assert carrier_count_scores(groups.assign(**pooled), 20) == {("d", "Q")}, (sizes, k_all, tie)
        assert carrier_count_scores(groups.assign(dataset_n_values=45, dataset_n_largest_tie=1), 20) == set()


# ---------------------------------------------------------------- toy-data sizes (70af6de)


def test_the_toy_size_options_take_their_bounds():
    """``cli._toy_size``: the least and the most of each range are taken (``--persons 50``, the
    generator's own minimum, and 10,000,000), one below or above refused. test_dates_s53 tries
    values far outside only, so mutants y1 (``value <= least`` refused 50) and y2 (``value >=
    most``) passed it."""
    import argparse

    from trd_spark.cli import _toy_size
    from trd_spark.toydata.limits import MAX_PERSONS, MAX_SEED, MIN_PERSONS, MIN_SEED

    for least, most in ((MIN_PERSONS, MAX_PERSONS), (MIN_SEED, MAX_SEED)):
        parse = _toy_size(least, most)
        assert (parse(str(least)), parse(str(most))) == (least, most)
        for bad in (least - 1, most + 1):
            with pytest.raises(argparse.ArgumentTypeError):
                parse(str(bad))


# ---------------------------------------------------------------- the shipped package (4e06175)


def test_the_package_zip_has_fixed_entry_dates(tmp_path):
    """scripts/package.py builds ``trd_spark.zip`` whose entries all carry 1980-01-01 00:00:00 (its
    docstring: the same sources give the same bytes), every file of ``trd_spark/`` and no
    bytecode. test_newuser_s53 checks that a package is never rewritten, not its bytes: mutant k3
    (entries dated at build time) passed it."""
    import importlib.util
    import zipfile
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("review53_package", repo / "scripts" / "package.py")
    package = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(package)
    target = tmp_path / "pkg-x" / "trd_spark.zip"
    package.build(repo, "zip", target)
    with zipfile.ZipFile(target) as z:
        infos = z.infolist()
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    names = {i.filename for i in infos}
    assert "trd_spark/__init__.py" in names and not any(n.endswith(".pyc") or "__pycache__" in n for n in names)
    assert names == {p.relative_to(repo).as_posix() for p in package.sources(repo)}
