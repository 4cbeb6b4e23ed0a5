"""``gates.known_levels`` refuses a name that is no person gate (review of session 24's a2e5f61).

It read the defaults with ``getattr(DataGates(), name, GateThreshold())``: a misspelt or
unknown gate name gave a gate without default levels, so the report's audit left out the
levels an earlier run with the default config could have stopped or warned at (a relation
fewer, silently). No Spark.
"""

from __future__ import annotations

import pytest

from trd_spark.config import DataGates, GateThreshold
from trd_spark.gates import known_levels


def test_an_unknown_gate_name_is_an_error_not_a_gate_without_defaults():
    record = {"n": 100, "total": 1000}
    with pytest.raises(ValueError, match="'genotyped_without_persons' is not a person gate"):
        known_levels("genotyped_without_persons", record, GateThreshold(warn=0.01, error=0.5), 20)


@pytest.mark.parametrize("name", sorted(DataGates.model_fields))
def test_every_gate_keeps_its_configured_and_default_levels(name):
    default = getattr(DataGates(), name)
    got = known_levels(name, {"n": 100, "total": 1000}, GateThreshold(warn=0.3, error=None), 20)
    want = {0.3, *(x for x in (default.warn, default.error) if x is not None)}
    assert got == sorted(want)
    assert known_levels(name, {"n": 5, "total": 1000}, GateThreshold(warn=0.3), 20) == []  # a count of 1..19
