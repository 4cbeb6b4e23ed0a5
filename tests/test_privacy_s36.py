"""Privacy, session 36 (round 5 of counts recoverable by arithmetic), and compare-releases' advice.

compare-releases refuses a release without complete, current outputs with the command that
makes them (``compare.check_comparable``). On conf/toy.yaml, whose input paths name no
``{release}``, it said ``trd-spark run --release toy-r2``: that run reads toy-r1's data and
publishes it as toy-r2's (``config._warn_release_names_no_input`` only warns), and the comparison
after it compares toy-r1 with itself under two names. The advice now says what the config's
inputs are and how releases are declared (``compare.rerun_advice``, ``config.inputs_release``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from trd_spark.config import DEFAULT_CONFIG, load_config
from trd_spark.errors import InputDataError
from trd_spark.io import LocalFs
from trd_spark.report.compare import check_comparable

CONF = Path(__file__).resolve().parent.parent / "conf"


def _refusal(config: Path, release: str, output_root: Path) -> str:
    cfg = load_config(config, overrides={"output_root": str(output_root)})
    with pytest.raises(InputDataError) as e:
        check_comparable(cfg, LocalFs(), release, rerun_options=f" --config {config}")
    return str(e.value)


def test_compare_releases_on_a_one_release_config_does_not_advise_running_another_release(tmp_path):
    """On conf/toy.yaml (inputs ../out/toy/data/..., ``release: toy-r1``) toy-r2 has no outputs.
    On 8f28050 the error said 'run it first: trd-spark run --config conf/toy.yaml --release
    toy-r2', which publishes toy-r1's data as toy-r2. Here it names the data the inputs are
    and how a release's own inputs are declared; toy-r1 itself, and either release of
    conf/toy_releases.yaml (inputs with {release}), keep the command."""
    text = _refusal(DEFAULT_CONFIG, "toy-r2", tmp_path)
    assert "release toy-r2 has no complete pgs output" in text, text
    assert "run it first" not in text, text
    assert "name no {release}, so they are release toy-r1's data" in text, text
    assert "--release toy-r2` would publish them as toy-r2's" in text, text
    assert "releases.input_root/<release>/" in text and "'Data releases and scheduled reruns'" in text, text

    config = DEFAULT_CONFIG
    assert _refusal(config, "toy-r1", tmp_path).endswith(f"(run it first: trd-spark run --config {config} "
                                                         "--release toy-r1)")
    config = CONF / "toy_releases.yaml"
    for release in ("toy-r1", "toy-r2"):
        assert _refusal(config, release, tmp_path).endswith(f"(run it first: trd-spark run --config {config} "
                                                            f"--release {release})")
    # A typo of a toy release: `run --release toy-r9` stops with exit 2 on that config (not a key
    # of toy_data.releases); the advice names the releases it knows.
    text = _refusal(config, "toy-r9", tmp_path)
    assert "release toy-r9 is not a key of toy_data.releases (known: toy-r1, toy-r2)" in text, text
    assert "run it first" not in text, text


def test_inputs_release_reads_whether_input_paths_name_the_release(tmp_path):
    """``Config.inputs_release``: the file's release when no input path (nor toy_data.dir) names
    {release}, whatever --release says; None when one does; an output_root with {release} is no
    input."""
    assert load_config(DEFAULT_CONFIG).inputs_release == "toy-r1"
    assert load_config(DEFAULT_CONFIG, overrides={"release": "toy-r2"}).inputs_release == "toy-r1"
    assert load_config(CONF / "toy_releases.yaml").inputs_release is None
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["phenotypes"]["concept_sets"] = str(CONF / "concept_sets.yaml")
    raw["pgs"]["trait_panel"] = str(CONF / "trait_panel_toy.yaml")
    config = tmp_path / "c.yaml"
    for output_root, omop, expected in (("/x/{release}", "/data/omop", "toy-r1"), ("/x", "/data/{release}/omop", None)):
        config.write_text(yaml.safe_dump({**raw, "output_root": output_root, "omop": {**raw["omop"], "path": omop}}))
        assert load_config(config).inputs_release == expected, (output_root, omop)


def test_the_help_examples_name_releases_only_on_configs_that_read_them(monkeypatch):
    """Every ``trd-spark COMMAND --help`` example (``cli.COMMANDS``) that names a release (``--release
    R`` other than ``latest``, compare-releases' A and B) gives a config whose inputs are that
    release's own (``Config.inputs_release`` None, or R). On 8f28050 explain, check-config and
    compare-releases named the CDR releases C2022Q4R9 / C2024Q3R5 with conf/aou.yaml, whose inputs
    are release v7's: each such run read v7's data under the other name."""
    import shlex

    from trd_spark.cli import COMMANDS

    for var in ("WORKSPACE_BUCKET", "WORKSPACE_CDR", "GOOGLE_PROJECT"):
        monkeypatch.setenv(var, {"WORKSPACE_BUCKET": "gs://b", "WORKSPACE_CDR": "p.d"}.get(var, "p"))
    checked = []
    for command, (_, examples) in COMMANDS.items():
        for example in examples:
            words = [w for w in shlex.split(example) if "=" not in w]
            config = words[words.index("--config") + 1] if "--config" in words else None
            named = [words[words.index("--release") + 1]] if "--release" in words else []
            if command == "compare-releases":
                named = [w for w in words[2:] if not w.startswith("-") and w != config]
            named = [r for r in named if r != "latest"]
            if not named:
                continue
            path = CONF.parent / config if config else DEFAULT_CONFIG
            for release in named:
                data_of = load_config(path, overrides={"release": release}).inputs_release
                assert data_of in (None, release), (example, release, data_of)
                checked.append((command, release))
    assert {c for c, _ in checked} >= {"releases", "check-config", "compare-releases"}, checked
