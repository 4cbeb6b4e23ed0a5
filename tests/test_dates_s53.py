"""Session 53 "dates": OMOP inputs read silently wrong or caught too late, and toy-data's options.

1. A date or date-time text whose time, zone offset or day is out of range ('2019-11-20 25:00:00',
   '2019-11-20T24:30', '2019-02-30', '2019-11-20+25:00') is one InputDataError naming table, column
   and a count or row, in the chain and in the DuckDB twin alike, never its written date.
2. A missing OMOP column, or a column of a type the chain would cast silently, is found before
   Spark starts (``phenotypes.omop_preflight``, called by ``preflight.check_inputs``).
3. ``trd-spark toy-data`` checks its size options while it parses them (one argparse error).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- 3. toy-data's options


@pytest.mark.parametrize(("option", "value", "said"), [
    ("--persons", "0", "argument --persons: need at least 50, got 0"),
    ("--persons", "-5", "argument --persons: need at least 50, got -5"),
    ("--persons", "100000000000", "argument --persons: at most 10,000,000, got 100,000,000,000"),
    ("--variants", "-1", "argument --variants: need at least 200, got -1"),
    ("--variants", "20000000", "argument --variants: at most 10,000,000, got 20,000,000"),
    ("--seed", "-1", "argument --seed: need at least 0, got -1"),
    ("--seed", str(2**64), "argument --seed: at most 18,446,744,073,709,551,615"),
])
def test_toy_data_refuses_a_size_out_of_range_as_it_parses_it(tmp_path, capsys, option, value, said):
    """Before this session: ``--persons 0`` / ``--variants 10`` were refused after the generator's
    imports (~50 s on the loaded machine), as ``ConfigError: toy-data --persons: ...`` (main
    returned 2, no SystemExit); a negative seed or an absurd size was not refused at all (numpy
    failed on the seed deep in the generator; 10^11 persons ran until memory ran out). Now one
    argparse error naming the option under toy-data's usage, exit 2, nothing written."""
    from trd_spark.cli import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["toy-data", "--out", str(tmp_path / "toy"), option, value])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "usage: trd-spark toy-data" in err and f"trd-spark toy-data: error: {said}" in err, err
    assert not (tmp_path / "toy").exists()


def test_toy_data_option_error_imports_no_generator():
    """The check runs before the generator is imported (the ~50 s of the old check was the
    generator's numpy / pandas / pyarrow imports on a loaded machine): in a fresh interpreter,
    ``trd-spark toy-data --persons 0`` exits 2 with ``trd_spark.toydata.generate`` never
    imported. Before: the generator was imported first (in sys.modules)."""
    code = ("import sys\nfrom trd_spark.cli import main\ntry:\n    main(['toy-data', '--out', '/nonexistent/x', "
            "'--persons', '0'])\nexcept SystemExit as e:\n    print('exit', e.code)\n"
            "print('generator' if 'trd_spark.toydata.generate' in sys.modules else 'no generator')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.stdout.split("\n")[:2] == ["exit 2", "no generator"], (done.stdout, done.stderr)


def test_toy_data_help_states_the_ranges():
    """``toy-data --help`` did not say the minimums (session 52's new-user trial); it states each
    size option's range beside its default."""
    from trd_spark.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    text = " ".join(commands["toy-data"].format_help().split())
    assert "persons to simulate, 50 to 10,000,000 (default: 3000)" in text, text
    assert "variant sites, 200 to 10,000,000 (default: 2000)" in text, text


def test_the_generator_holds_its_callers_to_the_same_bounds(tmp_path):
    """``generate_toy_data`` (the API, the pipeline's toy_data) refuses what the CLI refuses,
    before it writes anything: a negative seed failed inside numpy after the folders were
    cleared; an absurd size ran."""
    from trd_spark.errors import ConfigError
    from trd_spark.toydata import generate_toy_data

    for kwargs, said in (({"seed": -1}, "generate_toy_data(seed): need 0 to"),
                         ({"persons": 10**8}, "generate_toy_data(persons): need 50 to 10,000,000, got 100,000,000"),
                         ({"variants": 10}, "generate_toy_data(variants): need 200 to 10,000,000, got 10")):
        with pytest.raises(ConfigError) as e:
            generate_toy_data(str(tmp_path / "toy"), **kwargs)
        assert said in str(e.value), str(e.value)
    assert not (tmp_path / "toy").exists()
