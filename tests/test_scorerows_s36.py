"""The driver's score rows after a native pass (session 36, issue 16): ``SummedScores.value_columns``
computes the numeric columns straight into their sample-major arrays (no object columns, no
transposed copies) with the same values, bit for bit, as plink2's rule computed the way
``_ScoreRows.of_slice`` computed it until session 36 (``reference_columns`` below);
``scoring.score_rows_arrow`` takes them as they are; ``scoring.check_score_arrow`` finds a
repeated (person, pgs_id) key in numpy (``scoring.repeated_keys``) where pandas' ``duplicated``
did, in the same cases, and its range checks run a block of rows at a time. No Spark."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from trd_spark.errors import InputDataError
from trd_spark.pgs import pgen_engine, scoring
from trd_spark.pgs.scoring import check_score_arrow, repeated_keys, score_rows_arrow
from trd_spark.schemas import PGS_SCORES

WHERE = "pgs scores of dataset ds"


def reference_columns(rows: pgen_engine._ScoreRows, part: np.ndarray, missing: np.ndarray,
                      fewer: np.ndarray | None) -> dict[str, np.ndarray]:
    """The numeric columns as ``_ScoreRows.of_slice`` built them at 8f28050 (k x n results,
    then transposed copies), slice 0 of a pass summed on the driver."""
    k, n = part.shape
    called = np.rint(rows.n_vars_total[:, None] - missing).astype(np.int64)
    total = part + rows.offset_total[:, None]
    if rows.non_male_y is not None and rows.y_offset_total is not None:
        total -= rows.y_offset_total[:, None] * rows.non_male_y[:n][None, :]
    denom = 2 * rows.n_matched
    avg = np.divide(total, denom[:, None], out=np.full_like(total, np.nan),
                    where=np.repeat((denom > 0)[:, None], n, axis=1))
    n_match = np.repeat(rows.n_matched[:, None], n, axis=1)
    allele_count = (2 * called).T.ravel()
    return {"score_sum": total.T.ravel(),
            "allele_count": allele_count if fewer is None else allele_count - fewer.T.ravel(),
            "score_avg": avg.T.ravel(), "n_missing": (n_match - called).T.ravel(), "n_matched": n_match.T.ravel()}


def summed(n: int = 300, k: int = 7, *, chr_y: bool = True, fewer: bool = True,
           seed: int = 3) -> pgen_engine.SummedScores:
    """Sums with every case of the rule: a score without a matched variant (null score_avg),
    missing calls, a non-male's chrY offsets, haploid allele counts, sums of -0.0 and 0.0."""
    rng = np.random.default_rng(seed)
    n_matched = rng.integers(1, 500, k).astype(np.int64)
    n_matched[1] = 0
    part = rng.normal(size=(k, n))
    part[:, :2], part[:, 2:4] = -0.0, 0.0  # signed zeros: with offset[0] -0.0 a total of -0.0
    missing = np.where(rng.random((k, n)) < 0.1, rng.integers(1, 4, (k, n)), 0).astype(np.float64)
    offset = rng.normal(size=k)
    offset[0] = -0.0
    y = dict(non_male_y=rng.random(n) < 0.5, y_offset_total=np.r_[-0.0, rng.normal(size=k - 1)]) if chr_y else {}
    rows = pgen_engine._ScoreRows(np.array([str(7_000_000 + 11 * i) for i in range(n)], dtype=object),
                                  [f"PGS{900 - j:06d}" for j in range(k)], n_matched, offset,
                                  n_matched.astype(np.uint64), n, **y)
    extra = rng.integers(0, 2, (k, n)).astype(np.int64) if fewer else None
    return pgen_engine.SummedScores(rows, part, missing, fewer_alleles=extra)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize(("chr_y", "fewer"), [(True, True), (False, False)], ids=["chrY-haploid", "plain"])
def test_value_columns_are_the_rule_bit_for_bit(chr_y, fewer):
    """Every numeric column, dtype and byte (NaN and -0.0 included) as the old transposed copies
    gave it; ``columns`` (the IDs beside them, for the Spark-summed route and the haploid count)
    unchanged; ``of_slice`` of a later slice starts at its own samples."""
    s = summed(chr_y=chr_y, fewer=fewer)
    got = s.value_columns()
    want = reference_columns(s.rows, s.part, s.missing_vars, s.fewer_alleles)
    assert list(got) == ["score_sum", "allele_count", "score_avg", "n_missing", "n_matched"]
    assert all(same_bits(got[c], want[c]) for c in want), [c for c in want if not same_bits(got[c], want[c])]
    assert np.isnan(got["score_avg"]).sum() == s.part.shape[1]  # the score without a matched variant
    columns = s.columns()
    assert list(columns)[:2] == ["s", "pgs_id"] and all(same_bits(columns[c], want[c]) for c in want)
    k = s.part.shape[0]
    assert columns["s"][:k].tolist() == ["7000000"] * k and columns["pgs_id"][:k].tolist() == s.rows.pgs_ids
    # slice 1 of width 100: its samples' chrY rows and IDs
    rows = pgen_engine._ScoreRows(s.rows.sample_ids, s.rows.pgs_ids, s.rows.n_matched, s.rows.offset_total,
                                  s.rows.n_vars_total, 100, s.rows.non_male_y, s.rows.y_offset_total)
    sl = rows.of_slice(1, s.part[:, 100:200], s.missing_vars[:, 100:200])
    ref = pgen_engine._ScoreRows(s.rows.sample_ids[100:200], s.rows.pgs_ids, s.rows.n_matched, s.rows.offset_total,
                                 s.rows.n_vars_total, 100, None if s.rows.non_male_y is None else s.rows.non_male_y[100:200],
                                 s.rows.y_offset_total)
    want_sl = reference_columns(ref, s.part[:, 100:200], s.missing_vars[:, 100:200], None)
    assert sl["s"][0] == s.rows.sample_ids[100] and all(same_bits(sl[c], want_sl[c]) for c in want_sl)


def test_score_rows_arrow_types_order_and_values():
    """The published table: PGS_SCORES' columns in order, dataset and pgs_id dictionary-encoded,
    person-major, the numeric columns the rule's values (score_avg null where NaN), checked clean."""
    s = summed()
    table = score_rows_arrow(s, "ds")
    want = reference_columns(s.rows, s.part, s.missing_vars, s.fewer_alleles)
    k, n = s.part.shape
    assert table.column_names == PGS_SCORES.names
    assert [str(f.type) for f in table.schema] == ["dictionary<values=string, indices=int32, ordered=0>", "int64",
                                                  "dictionary<values=string, indices=int32, ordered=0>", "double",
                                                  "int64", "double", "int64", "int64"]
    assert table.column("person_id").to_numpy().tolist() == np.repeat(
        s.rows.sample_ids.astype(np.int64), k).tolist()
    assert table.column("pgs_id").to_pylist() == s.rows.pgs_ids * n
    assert set(table.column("dataset").to_pylist()) == {"ds"}
    for c in ("score_sum", "allele_count", "n_missing", "n_matched"):
        assert same_bits(table.column(c).to_numpy(), want[c]), c
    avg = table.column("score_avg")
    assert avg.null_count == n and same_bits(avg.fill_null(np.nan).to_numpy(), want["score_avg"])
    assert check_score_arrow(table, WHERE) == pytest.approx(want["n_missing"].sum() / want["n_matched"].sum())


def pandas_repeats(person: np.ndarray, codes: np.ndarray) -> bool:
    """The check as it was until session 36 (the oracle)."""
    return bool(pd.DataFrame({"person_id": person, "pgs": codes}).duplicated().any())


@pytest.mark.parametrize(("person", "codes", "repeated"), [
    ([5, 5, 5, 9, 9, 9], [0, 1, 2, 0, 1, 2], False),  # as built
    ([5, 5, 5, 9, 9, 9, 5], [0, 1, 2, 0, 1, 2, 0], True),  # a row appended: a person's second run
    ([5, 5, 5, 9, 9, 9, 5], [0, 1, 2, 0, 1, 2, 3], False),  # a second run with other scores
    ([5, 5, 9, 9], [1, 1, 0, 1], True),  # within a run
    ([5, 5, 9, 9], [1, 0, 0, 1], False),  # falling codes in a run: sorted, no repeat
    ([5, 9, 5, 9], [0, 0, 1, 1], False),  # score-major
    ([5, 9, 5, 9], [0, 0, 1, 0], True),
    ([5], [0], False), ([], [], False),
    ([2**62, -(2**62), 2**62], [0, 0, 0], True),  # IDs far apart: no (person, code) arithmetic
], ids=["built", "appended", "second-run", "in-run", "falling", "score-major", "score-major-repeat", "one", "none",
        "wide-ids"])
def test_repeated_keys_cases(person, codes, repeated):
    person, codes = np.array(person, dtype=np.int64), np.array(codes, dtype=np.int32)
    assert repeated_keys(person, codes) is repeated and pandas_repeats(person, codes) is repeated


def test_repeated_keys_agree_with_pandas_on_random_tables():
    """Shuffled, cut and repeated tables of a few persons: the same answer as pandas' check."""
    rng = np.random.default_rng(11)
    answers = set()
    for _ in range(300):
        person = np.repeat(rng.integers(0, 6, rng.integers(1, 8)), rng.integers(1, 4))
        codes = rng.integers(0, 4, len(person)).astype(np.int32)
        if rng.random() < 0.5:
            order = rng.permutation(len(person))
            person, codes = person[order], codes[order]
        got = repeated_keys(person, codes)
        assert got is pandas_repeats(person, codes), (person, codes)
        answers.add(got)
    assert answers == {True, False}


def problem(table: pa.Table) -> str:
    with pytest.raises(InputDataError) as e:
        check_score_arrow(table, WHERE)
    assert WHERE in str(e.value) and "7000" not in str(e.value)
    return str(e.value).splitlines()[0].split("counted twice?): ")[1]


def test_check_score_arrow_finds_a_pgs_id_a_dictionary_names_twice():
    """Two dictionary codes of one pgs_id for one person are one key twice."""
    table = score_rows_arrow(summed(n=3, k=2, chr_y=False, fewer=False), "ds")
    pgs = table.column("pgs_id").chunk(0)
    twice = pa.DictionaryArray.from_arrays(pa.array([0, 1, 0, 1, 0, 1], pa.int32()),
                                           pa.array([pgs.dictionary[0].as_py()] * 2))
    assert problem(table.set_column(2, "pgs_id", twice)) == "repeated (sample, pgs_id) rows"
    plain = table.set_column(2, "pgs_id", pgs.cast(pa.string()))  # a plain string column: encoded here
    assert check_score_arrow(plain, WHERE) == check_score_arrow(table, WHERE)
    assert problem(pa.concat_tables([plain, plain.slice(5, 1)])) == "repeated (sample, pgs_id) rows"


def test_check_score_arrow_range_checks_in_every_block(monkeypatch):
    """A bad row in any block of the range checks, the last one cut short included; every
    problem of the rows named once whatever the block holding it."""
    monkeypatch.setattr(scoring, "_CHECK_ROWS", 4)
    table = score_rows_arrow(summed(n=5, k=3, chr_y=False, fewer=False), "ds")  # 15 rows: 4 blocks
    assert check_score_arrow(table, WHERE) is not None
    for at in range(table.num_rows):  # each block's first and last rows among them
        n_missing = table.column("n_missing").to_numpy().copy()
        n_missing[at] = -1
        assert problem(table.set_column(6, "n_missing", pa.array(n_missing))) == "rows with n_missing < 0"
        alleles = table.column("allele_count").to_numpy().copy()
        alleles[at] = 2 * table.column("n_matched").to_numpy()[at] + 1
        assert problem(table.set_column(4, "allele_count", pa.array(alleles))) == \
            "rows with allele_count > 2 x n_matched"
    sums = table.column("score_sum").to_numpy().copy()
    sums[[1, 13]] = [np.inf, np.nan]
    n_missing = table.column("n_missing").to_numpy().copy()
    n_missing[9] = -1
    both = table.set_column(3, "score_sum", pa.array(sums)).set_column(6, "n_missing", pa.array(n_missing))
    assert problem(both) == "rows with n_missing < 0; rows with a non-finite score_sum"
