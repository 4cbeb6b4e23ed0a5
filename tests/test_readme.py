"""README documents every output column exactly as the schemas declare them, and the two
set-up commands that .ci/run uses."""

from __future__ import annotations

from pathlib import Path

from trd_spark.schemas import markdown

REPO = Path(__file__).resolve().parent.parent


def test_readme_column_tables_match_schemas():
    text = (REPO / "README.md").read_text()
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
