"""Session 47 "release" trial: a scheduled rerun on a new data release, as a user would."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trd_spark.config import load_config


def test_the_headline_says_why_another_releases_export_hides_the_new_releases_fits(tmp_path):
    """A new toy release (5% new persons, 39 newly genotyped, 5 withdrawn) ran and its headline read
    'not shown: hidden in the export' for all 10 PGS, with no word why: the report's audit linked
    its export to the earlier release's, which showed every model's n and cases, and hid every count
    that changed by 1..19 (all of them), with every estimate. The re-export of one release had a
    line saying so (session 35), another release's export none. Now the headline ends with one
    line naming the other releases whose export showed a fit hidden here (no fit or count); none
    when no other release's export shows one."""
    from test_cli import publish_headline_export

    from trd_spark.cli import headline_table
    from trd_spark.layout import EXPORT_HISTORY, Layout

    cfg = load_config(None, overrides={"output_root": str(tmp_path), "release": "r2"})
    layout = Layout.of(cfg)
    discovery = next(d.name for d in cfg.datasets if d.role == "discovery")
    rows = [{"dataset": discovery, "definition": cfg.phenotypes.primary_definition, "contrast": "trd_vs_nonmdd",
             "pgs_id": p, "trait": "t", "domain": "d", "n": 925, "n_cases": 166, "odds_ratio": 1.25,
             "ci_low": 1.01, "ci_high": 1.55, "p": 0.0123} for p in ("PGS000001", "PGS000002")]
    hidden = [{**r, "n": "suppressed", "n_cases": "suppressed", "odds_ratio": ""} for r in rows]
    Path(layout.table("models", "logistic")).mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(Path(layout.table("models", "logistic")) / "part-0.parquet")
    publish_headline_export(layout, hidden)  # r2's export hides both fits
    words = "(another release's export showed a fit hidden here: r1;"
    assert "another release" not in headline_table(None, cfg, None)  # no other release: nothing to say
    r1 = Path(tmp_path, "r1", "export")
    r1.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(r1 / "results.tsv", sep="\t", index=False)  # r1's export showed both fits
    assert "another release" not in headline_table(None, cfg, None)  # ... but is not complete (no _SUCCESS)
    (r1 / "_SUCCESS").write_text("")
    lines = headline_table(None, cfg, None).splitlines()
    assert lines[-1].startswith(words) and "a change of 1 to 19" in lines[-1] and "'Two releases' exports'" in lines[-1]
    assert "925" not in lines[-1] and "166" not in lines[-1] and "PGS" not in lines[-1]
    assert lines[-2].endswith("not shown: hidden in the export")
    # r1's export hid them too (1..T-1 cases from the first export on): this export did not hide them.
    pd.DataFrame(hidden).to_csv(r1 / "results.tsv", sep="\t", index=False)
    assert "another release" not in headline_table(None, cfg, None)
    # An earlier export kept in r1's export_history/ that showed them counts as r1's export.
    kept = Path(tmp_path, "r1", EXPORT_HISTORY, "8bf3056fcd394976b13368291d6fc167")
    kept.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(kept / "results.tsv", sep="\t", index=False)
    assert headline_table(None, cfg, None).splitlines()[-1].startswith(words)
    # This release's own earlier export is the re-export line's, not this one's.
    (kept / "results.tsv").unlink()
    own = Path(layout.release_dir, EXPORT_HISTORY, "0c1d")
    own.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(own / "results.tsv", sep="\t", index=False)
    text = headline_table(None, cfg, None)
    assert "another release" not in text and "(this release was exported before: 1 earlier export(s)" in text
