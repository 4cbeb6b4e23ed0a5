"""Session 46's new-user trial: what a first user of the CLI met after the quick start (no Spark:
the command stops on its config before a session starts)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_releases_with_the_default_config_is_documented_as_needing_a_releases_config(capsys):
    """Right after the quick start, ``trd-spark releases`` (README's Commands table:
    ``trd-spark releases [--config C]``, as if the default config served) stops with exit 2:
    the embedded toy config has no ``releases.input_root`` and no ``toy_data.releases``. The
    table now says which config lists releases and that the default one stops so."""
    from trd_spark.cli import main

    capsys.readouterr()
    assert main(["releases"]) == 2
    err = capsys.readouterr().err
    assert "releases.input_root is not set (and no toy_data.releases)" in err, err
    readme = (REPO / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `trd-spark releases "))
    assert "--config conf/toy_releases.yaml" in row and "exit `2`" in row, row
    # the config it names does list releases (its own toy_data.releases)
    assert "\n  releases:\n" in (REPO / "conf" / "toy_releases.yaml").read_text()
