"""The All of Us configs end the Cox model's time at risk at the end of follow-up.

Session 53 made ``phenotypes.cox_time_at_risk: index_period`` the default (time at risk ends with
the observation span holding the MDD index: OHDSI continuous observation). On the All of Us CDR
that rule censors early: its ``observation_period`` is built from dated rows and holds overly short
periods and, for some participants, hundreds of them (R package ``allofus``,
``aou_observation_period``), while the study censors "at end of follow-up". Before session 54 both
AoU configs ran under the default, so most AoU time at risk would have ended soon after the index.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from trd_spark.config import load_config

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["aou.yaml", "aou_releases.yaml"])
def test_aou_configs_censor_at_the_end_of_follow_up(monkeypatch, name):
    monkeypatch.setenv("WORKSPACE_BUCKET", "gs://fc-secure-x")
    monkeypatch.setenv("WORKSPACE_CDR", "fc-aou-cdr-prod-ct.C2022Q4R9")
    monkeypatch.setenv("GOOGLE_PROJECT", "aou-rw-1234abcd")
    cfg = load_config(REPO / "conf" / name)
    assert cfg.phenotypes.cox_time_at_risk == "followup"
    # the package default stays the OHDSI rule for CDMs whose periods are spans of observation
    assert load_config(REPO / "conf" / "toy.yaml").phenotypes.cox_time_at_risk == "index_period"
