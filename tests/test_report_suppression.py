"""Small-cell suppression: 0 stays 0, 1..19 -> "<20", 20 and above stay."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trd_spark.report.suppression import suppress_complement, suppress_small_counts


@pytest.mark.parametrize(
    "count, shown", [(0, 0), (1, "<20"), (19, "<20"), (20, 20), (12345, 12345)], ids=str
)
def test_threshold_20(count, shown):
    out = suppress_small_counts(pd.DataFrame({"n": [count]}), ["n"])
    assert out["n"].tolist() == [shown]


def test_other_columns_and_input_untouched():
    df = pd.DataFrame({"n": [5, 50], "beta": [0.1, 0.2], "label": ["a", "b"]})
    out = suppress_small_counts(df, ["n"], threshold=20)
    assert out["n"].tolist() == ["<20", 50]
    assert out["beta"].tolist() == [0.1, 0.2] and out["label"].tolist() == ["a", "b"]
    assert df["n"].tolist() == [5, 50]  # pure: the input frame is not modified


def test_configurable_threshold_and_missing_values():
    df = pd.DataFrame({"n": [4, 5, np.nan]})
    out = suppress_small_counts(df, ["n"], threshold=5)
    assert out["n"].iloc[0] == "<5" and out["n"].iloc[1] == 5 and np.isnan(out["n"].iloc[2])


def test_complement_hides_a_total_that_reveals_a_small_difference():
    # n - n_cases: 5 (small: n hidden, but n itself is not "<20"), 0 (nothing to hide), 100 (fine).
    df = pd.DataFrame({"n": [105, 100, 200], "n_cases": [100, 100, 100]})
    out = suppress_complement(df, "n", "n_cases", threshold=20)
    assert out["n"].tolist() == ["suppressed", 100, 200]
