"""A ``releases.input_root`` that does not exist is a config error, not "nothing to do" (no Spark).

Found by a fresh reader of README "Data releases and scheduled reruns" (session 51 reader2): with
the root mistyped (or a bucket not mounted), ``trd-spark run --release latest`` logged
``NothingToDo: no release found under <root>`` and exited 7, which the README's cron line and
Airflow DAG (``skip_on_exit_code=7``) take as success, every night; ``trd-spark releases`` printed an
empty table with exit 0; ``check-config`` said nothing. An existing folder with no release in it yet
stays "nothing to do" (a schedule set up before the first release is copied in).
"""

from __future__ import annotations

import pytest

from trd_spark.cli import main
from trd_spark.config import load_config
from trd_spark.errors import ConfigError, NothingToDo
from trd_spark.releases import LocalFs, found_releases, latest_incomplete


def _config(tmp_path, root):
    return load_config(None, overrides={"output_root": str(tmp_path / "results"),
                                        "releases": {"input_root": str(root)}, "toy_data": None})


def _write(tmp_path, cfg):
    import json

    import yaml

    raw = json.loads(json.dumps(cfg.model_dump(mode="json")))
    raw["phenotypes"]["concept_sets"] = cfg.phenotypes.concept_sets
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_missing_input_root_is_a_config_error(tmp_path):
    """before this fix: found_releases returned [] and latest_incomplete raised NothingToDo (exit 7)."""
    cfg = _config(tmp_path, tmp_path / "inptus")  # the folder is "inputs"
    (tmp_path / "inputs" / "C2024Q3R5").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"releases\.input_root: .*inptus does not exist"):
        found_releases(cfg, LocalFs())
    with pytest.raises(ConfigError, match=r"releases\.input_root"):
        latest_incomplete(cfg, LocalFs())


def test_existing_empty_root_is_still_nothing_to_do(tmp_path):
    """The folder is there, no release copied in yet: exit 7 as before, no error."""
    (tmp_path / "inputs").mkdir()
    cfg = _config(tmp_path, tmp_path / "inputs")
    assert found_releases(cfg, LocalFs()) == []
    with pytest.raises(NothingToDo):
        latest_incomplete(cfg, LocalFs())


def test_cli_exit_codes_with_a_missing_root(tmp_path, capsys):
    """before this fix: `run --release latest` exited 7 and `releases` 0 with an empty table."""
    config = _write(tmp_path, _config(tmp_path, tmp_path / "nowhere"))
    assert main(["run", "--config", config, "--release", "latest"]) == 2
    err = capsys.readouterr().err
    assert "ConfigError" in err and "releases.input_root" in err and "nowhere does not exist" in err, err
    assert main(["releases", "--config", config]) == 2
    assert "releases.input_root" in capsys.readouterr().err
