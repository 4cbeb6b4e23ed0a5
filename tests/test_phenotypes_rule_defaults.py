"""README "Study rules" documents every phenotype rule switch with the default the config uses."""

from __future__ import annotations

from pathlib import Path

from trd_spark.config import MddSettings, PhenotypeSettings, TrialSettings

README = Path(__file__).resolve().parent.parent / "README.md"


def _documented() -> dict[str, str]:
    text = README.read_text()
    table = text.split("<!-- rule-defaults:start -->\n", 1)[1].split("<!-- rule-defaults:end -->", 1)[0]
    rows = [line.split("|")[1:3] for line in table.strip().splitlines()[2:]]
    return {key.strip().strip("`"): value.strip() for key, value in rows}


def _default(model, field: str) -> str:
    value = model.model_fields[field].get_default(call_default_factory=True)
    return str(value).lower() if isinstance(value, bool) else str(value)


def test_readme_defaults_equal_config_defaults():
    documented = _documented()
    models = {"mdd": MddSettings, "trials": TrialSettings}
    for key, value in documented.items():
        section, _, field = key.rpartition(".")
        model = models[section] if section else PhenotypeSettings
        assert _default(model, field) == value, key


def test_every_rule_switch_and_threshold_is_documented():
    """Booleans and scalar numbers of the trial and MDD rules (lists/maps are per-ingredient data)."""
    documented = _documented()
    for section, model in (("trials", TrialSettings), ("mdd", MddSettings)):
        for name, field in model.model_fields.items():
            if field.annotation in (bool, int, float):
                assert f"{section}.{name}" in documented, f"{section}.{name} missing from README Study rules"
    assert "trmdd_min_followup_days" in documented
