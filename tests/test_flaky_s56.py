"""Session 56: checks that passed or failed by chance (what the test does not control in the text
it searches), on the helpers the fixed tests share. No Spark."""

from __future__ import annotations

from chance import REPO_FOLDERS, without_paths
from identifier_guard import identifiers_in


def test_a_digest_whose_digits_equal_a_person_id_is_no_leak():
    """tests/identifier_guard.py compared every run of digits of a text with the input IDs, digests
    included: an export manifest's SHA-256 holds 7-digit runs (``...b8536325c4f...`` in a real
    toy export), and one in 1000001..1003000 (about one digest in 10,000) read as a leaked toy
    person_id. Before session 56: ``["1000091"]`` below. A person_id anywhere else is still one."""
    ids = {"1000091", "1000002"}
    digest = "8ff12bc10906256e1000091f654d188fc0a1b2c3d4e5f60718293a4b5c6d7e8f"  # 64 hex digits
    assert identifiers_in(f'"sha256": "{digest}"', ids, set()) == []
    assert identifiers_in(f"config_hash {digest[:40]}", ids, set()) == []
    assert identifiers_in(f"person 1000091, {digest}", ids, set()) == ["1000091"]
    assert identifiers_in("person_1000002 and 1000091x", ids, set()) == ["1000002", "1000091"]
    # a run of digits alone is a number, however long (no letter: no digest)
    assert identifiers_in("1000091" + "0" * 40, ids | {"1000091" + "0" * 40}, set()) == ["1000091" + "0" * 40]


def test_without_paths_cuts_the_folders_and_keeps_the_message():
    """tests/chance.py: the tmp folder (``pytest-1003``, ``pytest-of-nancy`` with its ``nan``) and
    the checkout are cut before a value's absence is checked; what the test planted stays."""
    tmp = "/tmp/pytest-of-nancy/pytest-1003/popen-gw1/test_x0"
    line = f"{tmp}/omop/death.parquet: column death_date holds nan (row 1003 of {REPO_FOLDERS[0]}/d.tsv)"
    assert "1003" in line and "nan" in line.split(":")[0]
    cut = without_paths(line, tmp)
    assert cut == "<folder>/omop/death.parquet: column death_date holds nan (row 1003 of <folder>/d.tsv)"
    assert "nan" not in without_paths(f"{tmp}/a.parquet: bad value", tmp)
    # the longer folder first: a basetemp and a folder under it
    assert without_paths(f"{tmp}/sub/x", tmp.rsplit("/", 1)[0], f"{tmp}/sub") == "<folder>/x"
