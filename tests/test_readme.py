"""The docs give every output column exactly as the schemas declare them (docs/outputs.md, linked
from README), and README the two set-up commands that .ci/run uses."""

from __future__ import annotations

from pathlib import Path

from trd_spark import errors
from trd_spark.schemas import markdown

REPO = Path(__file__).resolve().parent.parent


def test_readme_column_tables_match_schemas():
    """The column tables moved with the rest of the output reference from README to docs/outputs.md
    (session 51, readme): the same generated block, compared whole as before; README links it."""
    text = (REPO / "docs" / "outputs.md").read_text()
    assert "(docs/outputs.md)" in (REPO / "README.md").read_text()
    section = text.split("<!-- columns:start -->\n", 1)[1].split("<!-- columns:end -->", 1)[0]
    assert section.strip() == markdown().strip(), "regenerate with: python -m trd_spark.schemas"


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    test_cmd = "./scripts/install.sh --test && .venv/bin/ruff check && .venv/bin/mypy && .venv/bin/python -m pytest"
    assert test_cmd in readme
    ci_cmds = [line.strip() for line in ci.splitlines() if line.strip() and not line.startswith(("#", "set ", "cd "))]
    assert " && ".join(ci_cmds) == test_cmd, ci_cmds
    assert "./scripts/install.sh && .venv/bin/trd-spark run" in readme


def test_readme_lists_every_exit_code():
    """README's "Exit codes (for schedulers)" paragraph names every ``TrdSparkError``
    subclass's exit code and the signal exits (new-user trial, session 15: 9, StorageError,
    was missing while ``trd-spark --help`` listed it)."""
    readme = (REPO / "README.md").read_text()
    paragraph = readme.split("Exit codes (for schedulers):", 1)[1].split("\n\n", 1)[0]
    codes = {c.exit_code for c in vars(errors).values()
             if isinstance(c, type) and issubclass(c, errors.TrdSparkError)} | {130, 143}
    assert len(codes) >= 10
    assert [c for c in sorted(codes) if f"`{c}`" not in paragraph] == []


def test_readme_names_every_shipped_config_that_cannot_list_releases():
    """README's list of the configs without ``releases.input_root`` (``releases`` and ``--release
    latest`` stop on them with exit 2) is the shipped run configs lacking the key: it named
    conf/aou.yaml and conf/dataproc.yaml only, and a new user who ran the README's
    `trd-spark run`, then `trd-spark releases` on the same embedded conf/toy.yaml, got exit 2
    (new-user trial, session 30)."""
    import re

    import yaml

    readme = " ".join((REPO / "README.md").read_text().split())
    sentence = readme.split("A config without `releases.input_root` (", 1)[1].split(") cannot list releases", 1)[0]
    listed = set(re.findall(r"`conf/([\w.]+\.yaml)`", sentence.split("; the toy releases", 1)[0]))
    runs = {p.name: yaml.safe_load(p.read_text()) for p in (REPO / "conf").glob("*.yaml")}
    without = {name for name, raw in runs.items()
               if "datasets" in raw and not (raw.get("releases") or {}).get("input_root")
               and not (raw.get("toy_data") or {}).get("releases")}
    assert listed == without
