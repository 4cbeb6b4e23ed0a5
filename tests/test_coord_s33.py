"""Session 33 coordinator: code digests survive CPython 3.11's spurious AST SystemError.

CPython 3.11 keeps ast.parse's object-building depth in interpreter-wide state: two threads
parsing at once can fail one parse with "SystemError: AST constructor recursion depth mismatch"
(python/cpython#106905). The full suite hit it once (a stage's fingerprint in
test_runsafe_s32's set-up): a run would have stopped with a traceback naming no input.
"""

from __future__ import annotations

import ast

import pytest

from trd_spark import provenance


def _failing_first(times: int, message: str):
    real = ast.parse
    calls = {"n": 0}

    def parse(source, filename="<unknown>", *args, **kwargs):
        # only our modules' parses fail: pytest's own (assertion rewriting) pass through
        if str(filename).startswith("trd_spark"):
            calls["n"] += 1
            if calls["n"] <= times:
                raise SystemError(message)
        return real(source, filename, *args, **kwargs)

    return parse, calls


def test_a_spurious_recursion_depth_error_is_retried(monkeypatch):
    parse, calls = _failing_first(1, "AST constructor recursion depth mismatch (before=180, after=71)")
    monkeypatch.setattr(provenance.ast, "parse", parse)
    tree = provenance._parse("x = 1\n", "trd_spark.example")
    assert isinstance(tree, ast.Module) and calls["n"] == 2


def test_other_system_errors_and_a_persistent_mismatch_are_raised(monkeypatch):
    parse, _ = _failing_first(1, "some other interpreter fault")
    monkeypatch.setattr(provenance.ast, "parse", parse)
    with pytest.raises(SystemError, match="other interpreter fault"):
        provenance._parse("x = 1\n", "trd_spark.example")
    parse, calls = _failing_first(99, "AST constructor recursion depth mismatch (before=1, after=2)")
    monkeypatch.setattr(provenance.ast, "parse", parse)
    with pytest.raises(SystemError, match="recursion depth mismatch"):
        provenance._parse("x = 1\n", "trd_spark.example")
    assert calls["n"] == provenance._PARSE_TRIES


def _clear_caches() -> None:
    for f in (provenance.code_digests, provenance._module_code, provenance._definitions, provenance._names_digest):
        f.cache_clear()


def test_code_digests_go_through_the_guarded_parse(monkeypatch):
    """Every module a stage's digest reads is parsed through ``_parse``: a digest built while
    one parse fails spuriously equals the one built without (fails on c083422: SystemError)."""
    _clear_caches()
    want = provenance.code_digests("trd_spark.cohort.stage")
    _clear_caches()
    parse, calls = _failing_first(1, "AST constructor recursion depth mismatch (before=9, after=3)")
    monkeypatch.setattr(provenance.ast, "parse", parse)
    try:
        assert provenance.code_digests("trd_spark.cohort.stage") == want
    finally:
        _clear_caches()
    assert calls["n"] >= 2
