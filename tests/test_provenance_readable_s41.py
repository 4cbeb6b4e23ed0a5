"""Session 41 (reader finding 4): the modules provenance reads by name or leaves out as run control
stay readable that way.

``provenance._definitions`` returns None for a module holding any top-level statement other than
imports, definitions and plain assignments; such a module is then digested whole. For a
``RUN_CONTROL`` module that silently puts run control back into a stage's digest (e48e074's
top-level ``atexit.register`` in ``pgs.scratch``: an edit of the scratch records would have rerun
pgs onwards); for a ``BY_NAME`` module every stage takes all of it (an edit of the release listing
reruns every stage). Before this test only test_rerun_s39's edit scenarios noticed, for the names
they edit. This one names the module and what made it unreadable.
"""

from __future__ import annotations

import ast

import pytest

from trd_spark import provenance

_MODULES = sorted({*provenance.BY_NAME, *(m for m in provenance.RUN_CONTROL if ":" not in m)})


@pytest.mark.parametrize("module", _MODULES)
def test_a_module_read_by_name_or_left_out_holds_only_definitions(module):
    found = provenance._source(module)  # noqa: SLF001
    assert found is not None, f"{module}: no source"
    text = found[0]
    statements = [ast.unparse(s)[:80] for s in ast.parse(text).body  # (the suspects, for the message)
                  if not isinstance(s, provenance._DEFINITIONS)  # noqa: SLF001
                  and not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    assert provenance._definitions(module, text) is not None, (  # noqa: SLF001
        f"{module} is not readable by name (a top-level statement other than imports, definitions and "
        f"plain assignments, or names reached by string): {statements}")


def test_the_guard_fails_on_a_top_level_call():
    """The check itself: a run-control module with a top-level call (e48e074's shape) is unreadable."""
    found = provenance._source("trd_spark.pgs.scratch")  # noqa: SLF001
    assert found is not None
    edited = found[0] + "\nimport atexit\natexit.register(print)\n"
    assert provenance._definitions("trd_spark.pgs.scratch", edited) is None  # noqa: SLF001
