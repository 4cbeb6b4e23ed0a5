"""The real trait panel (conf/trait_panel.yaml): comments and IDs agree, and check-config reports it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from trd_spark.config import TraitPanel

REPO = Path(__file__).resolve().parent.parent
PANEL = REPO / "conf" / "trait_panel.yaml"


def entries_with_comments() -> list[tuple[dict, str]]:
    """Each score entry with the comment lines directly above it."""
    out, comment = [], []
    for line in PANEL.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped)
        elif stripped.startswith("- {"):
            out.append((yaml.safe_load(stripped[2:]), "\n".join(comment)))
            comment = []
        else:
            comment = []
    return out


def test_every_filled_id_is_cited_by_the_comment_above_it():
    entries = entries_with_comments()
    panel = TraitPanel.model_validate(yaml.safe_load(PANEL.read_text()))
    assert len(entries) == len(panel.scores) + len(panel.to_curate)
    filled = [(e, c) for e, c in entries if e["pgs_id"]]
    assert filled, "the panel has no verified score"
    for entry, comment in filled:
        pgs_id = entry["pgs_id"]
        assert re.fullmatch(r"PGS\d{6}", pgs_id), pgs_id
        start = comment.find(f"# {pgs_id}:")
        assert start >= 0, f"{pgs_id}: no citing comment directly above"
        assert f"pgscatalog.org/score/{pgs_id}" in comment[start:], f"{pgs_id}: comment does not cite its Catalog page"
    for entry, comment in entries:
        cited = set(re.findall(r"PGS\d{6}", comment))
        assert cited <= {entry["pgs_id"]}, f"comment cites {cited} above the entry for {entry['trait']}"


@pytest.mark.parametrize(
    "scores, message",
    [
        ([{"pgs_id": "PGS000001", "trait": "a", "domain": "sleep"}, {"pgs_id": "PGS000001", "trait": "b", "domain": "sleep"}],
         "listed more than once in the trait panel: PGS000001"),
        ([{"pgs_id": "PGS000001", "trait": "a", "domain": "diet"}], "domain 'diet' is not in domains"),
    ],
    ids=["duplicate-id", "unknown-domain"],
)
def test_panel_errors_name_the_entry(scores, message):
    with pytest.raises(ValueError, match=message):
        TraitPanel.model_validate({"domains": ["sleep"], "scores": scores})


def test_check_config_reports_the_panel_per_domain(capsys, monkeypatch):
    from trd_spark.cli import main

    monkeypatch.setenv("WORKSPACE_BUCKET", "gs://bucket")
    monkeypatch.setenv("WORKSPACE_CDR", "project.dataset")
    monkeypatch.setenv("GOOGLE_PROJECT", "workspace-project")  # conf/aou.yaml omop.billing_project
    assert main(["check-config", "--config", str(REPO / "conf" / "aou.yaml")]) == 0
    out = capsys.readouterr().out
    panel = TraitPanel.model_validate(yaml.safe_load(PANEL.read_text()))
    assert f"trait panel: {len(panel.scores)} scored traits, {len(panel.to_curate)} to curate, 7 domains" in out
    for domain in panel.domains:
        n = sum(s.domain == domain for s in panel.scores)
        m = sum(s.domain == domain for s in panel.to_curate)
        assert re.search(rf"^  {domain}\s+{n} scored\s+{m} to curate", out, re.M), domain
    assert "PGS003565 Neuroticism" in out
    assert "custom (not PGS Catalog) IDs" not in out


def test_readme_states_the_panel_shortfall_as_the_file_has_it():
    # Issue 19 ended blocked: README's AoU walk-through must say how far the shipped panel is from
    # the study's 61 traits, with the file's own counts (it said nothing, so a first real run
    # looked like the study's grid).
    panel = TraitPanel.model_validate(yaml.safe_load(PANEL.read_text()))
    listed = len(panel.scores) + len(panel.to_curate)
    text = " ".join((REPO / "README.md").read_text().split())
    m = re.search(r"it scores (\d+) traits; (\d+) more are listed without an ID \(insomnia and educational "
                  r"attainment among them\) and the other (\d+) of the study's 61 traits are not listed", text)
    assert m, "README: the trait panel shortfall sentence"
    assert (int(m[1]), int(m[2]), int(m[3])) == (len(panel.scores), len(panel.to_curate), 61 - listed)
    assert {"Insomnia", "Educational attainment"} <= {s.trait for s in panel.to_curate}
    assert f"so a run with it fits {len(panel.scores)} of the 61 PGS" in text
