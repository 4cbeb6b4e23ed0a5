"""Session 45, helper "fixes" (the coordinator's findings C1-C3, the reader's s45 findings).

- C1: ``session.use_java`` ran ``java -version`` with a 30 s timeout and, when it timed out (a
  load of ~45 on 2 cores did, twice), said the Java "does not run". The limit is
  ``session.JAVA_VERSION_TIMEOUT_S`` (120 s) and a timeout is named as one.
"""

from __future__ import annotations

import re

import pytest
from test_rerun_s42 import _java_home

from trd_spark.errors import ConfigError


def test_c1_a_java_version_that_times_out_is_named_as_a_timeout(tmp_path, monkeypatch):
    """A JAVA_HOME whose ``bin/java`` hangs past the limit (here 0.5 s; it sleeps 40 s): one
    ConfigError naming the home and saying it did not finish within the limit (on 163d5e1, after
    the fixed 30 s: "... -version does not run", as for a Java that cannot run at all)."""
    from trd_spark import session

    home = _java_home(tmp_path, 'IMPLEMENTOR="Test"\nJAVA_VERSION="17.0.1"\n')
    (home / "bin" / "java").write_text("#!/bin/sh\nexec /bin/sleep 40\n")
    monkeypatch.setenv("JAVA_HOME", str(home))
    monkeypatch.setenv("PATH", str(home / "bin"))
    monkeypatch.setattr(session, "JAVA_VERSION_TIMEOUT_S", 0.5, raising=False)  # (absent on 163d5e1)
    with pytest.raises(ConfigError, match=rf"the Java at {re.escape(str(home))} .*-version did not finish within "
                                          r"0\.5 s"):
        session.use_java()

