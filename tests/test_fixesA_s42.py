"""Session 42, helper "fixesA" (reader s42 findings 1 and 13).

- ``trd_spark.provenance`` was digested whole into every stage's code: any edit of the code that
  decides whether a stage reruns reran PGS scoring onwards (615ca18 did, for every user). It is run
  control now (``provenance.RUN_CONTROL``); a manifest recording its digest compares equal.
- ``session.find_java`` reads a candidate's version from its ``release`` file (no JVM start), so a
  home whose ``release`` says 11/17 but whose ``bin/java`` does not run was chosen and failed later
  inside Spark's start; ``use_java`` (the session start) now stops with one error naming the home.
"""

from __future__ import annotations

import re

import pytest
from test_rerun_s39 import _changed, edited  # noqa: F401 - edited: the fixture
from test_rerun_s42 import _java_home

from trd_spark.errors import ConfigError
from trd_spark.layout import STAGES


def test_a_provenance_edit_reruns_no_stage_and_a_config_default_still_does(edited):  # noqa: F811
    """Edits of ``provenance`` (a constant of its parse, a line of the Java reader) change no
    stage's code digest (on 9d52909..ebd83b5 each changed all five); an edit of a config default a
    stage's values depend on (liftover's ``min_match``) still changes every stage's."""
    before = edited("trd_spark.provenance", "", "")
    assert not any("trd_spark.provenance" in d for d in before.values())
    after = [
        edited("trd_spark.provenance", "_PARSE_TRIES = 3", "_PARSE_TRIES = 4"),
        edited("trd_spark.provenance", '        return "unknown"\n', '        return "not known"\n'),
    ]
    assert [_changed(before, a) for a in after] == [[]] * len(after)
    config = edited("trd_spark.config", "min_match: float = Field(0.95,", "min_match: float = Field(0.90,")
    assert _changed(after[-1], config) == list(STAGES)


def test_a_manifest_recording_the_provenance_digest_compares_equal():
    """A manifest written before provenance was run control holds ``trd_spark.provenance``: it is
    dropped from the comparison (``recorded_code``), so the listing itself reruns nothing."""
    from trd_spark.provenance import code_digests, recorded_code
    from trd_spark.stages import STAGE_SPECS

    now = code_digests(STAGE_SPECS["pgs"].module)
    assert recorded_code({**now, "trd_spark.provenance": "0123456789abcdef"}, now) == now


def test_a_system_java_whose_bin_java_does_not_run_stops_the_session_start_naming_it(tmp_path, monkeypatch):
    """A JAVA_HOME whose ``release`` says 11 but whose ``bin/java`` exits 1: ``find_java`` still
    names it (no JVM start: ``explain`` and the digests), but ``use_java``, which the session start
    calls before Spark's JVM, raises ConfigError naming the home (on 9d52909..HEAD it pointed
    JAVA_HOME at it, and Spark's own start failed on it later)."""
    from trd_spark import session

    home = _java_home(tmp_path, 'IMPLEMENTOR="Test"\nJAVA_VERSION="11.0.22"\n')
    monkeypatch.setenv("JAVA_HOME", str(home))
    monkeypatch.setenv("PATH", str(home / "bin"))
    assert session.find_java().home == str(home)
    with pytest.raises(ConfigError, match=rf"the Java at {re.escape(str(home))} .* does not run"):
        session.use_java()
