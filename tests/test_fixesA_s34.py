"""Session 34 fixesA: the fresh reader's findings on session 34's change (provenance's by-name
digest, scoring files' complex-allele rows, the phenotype rules' conditional codes)."""

from __future__ import annotations

import sys

import pytest

from trd_spark.provenance import code_digests


@pytest.fixture()
def by_name_pkg(tmp_path, monkeypatch):
    """A package ``fa34_pkg`` written under ``tmp_path`` whose ``shared`` module is read by name;
    yields (its folder, a function giving {importer module: the digest of ``shared`` it takes})."""
    root = tmp_path / "fa34_pkg"
    root.mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))

    def digests(importers: dict[str, str]) -> dict[str, str]:
        for name, text in importers.items():
            (root / f"{name}.py").write_text(text)
        code_digests.cache_clear()
        return {m: code_digests(f"fa34_pkg.{m}", package="fa34_pkg", by_name=("fa34_pkg.shared",))[
            "fa34_pkg.shared"] for m in importers}

    (root / "__init__.py").write_text("")
    try:
        yield root, digests
    finally:
        for name in [m for m in sys.modules if m.split(".")[0] == "fa34_pkg"]:
            del sys.modules[name]
        code_digests.cache_clear()


def test_a_call_inside_a_function_body_is_not_a_top_level_call(by_name_pkg):
    """07d07db counted every call of one of the module's own names in a top-level statement as
    run at import (``X = register(rule)``), walking into function bodies too: ``def f(): g()``
    added f to the digest of every importer of ``g``, so an edit to f reran stages that never
    run it (reader's probe; statements per name-digest 2 -> 41 in toydata/vocabulary). Only
    code run at import counts: a call in a decorator or an argument default still does."""
    root, digests = by_name_pkg
    shared = ("RULES = {}\n\n\ndef g():\n    return 1\n\n\ndef f():\n    return g() + 5\n\n\n"
              "def register(r):\n    RULES[r.__name__] = r\n    return r\n\n\n"
              "def rule():\n    return 7\n\n\ndef h(x=register(rule)):\n    return x\n")
    (root / "shared.py").write_text(shared)
    importers = {"takes_g": "from fa34_pkg.shared import g\n", "takes_rules": "from fa34_pkg.shared import RULES\n"}
    before = digests(importers)
    (root / "shared.py").write_text(shared.replace("g() + 5", "g() + 6"))
    assert digests(importers) == before  # f runs only when called: neither importer runs it
    (root / "shared.py").write_text(shared.replace("return 7", "return 8"))
    after = digests(importers)
    assert after["takes_rules"] != before["takes_rules"]  # h's default ran register(rule) at import
    assert after["takes_g"] == before["takes_g"]
