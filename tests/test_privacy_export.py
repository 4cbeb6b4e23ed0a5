"""Two small toy releases run from the CLI as a scheduler would; the export is checked for
privacy (no identifier, no individual date, no recoverable small count), the report is
opened in headless Chromium, and the two releases are compared.

The run is conftest's session fixture ``toy_releases`` (toy-r1: 600 persons, toy-r2: the default
toy size, 3000 persons; 2000 variants), shared with test_pipeline_e2e, which checks toy-r2 as the
end-to-end run.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
import yaml
from identifier_guard import config_labels, identifiers_in
from person_count_guard import (
    close_count_pairs,
    raw_person_count_keys,
    raw_person_counts,
    raw_person_counts_in_json,
    small_record_counts,
    small_record_rests,
)
from toy_releases import TOY_RELEASES as RELEASES

from trd_spark.config import DEFAULT_CONFIG
from trd_spark.schemas import TABLES_BY_STAGE

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
COUNT_COLUMNS = {"n", "n_cases", "n_events", "n_at_risk", "n_both", "n_a", "n_b",
                 "TRD", "trMDD", "MDD_other", "non_MDD"}


def _input_ids(tmp: Path) -> set[str]:
    """Every person ID and genotype sample ID of the inputs, as text."""
    ids: set[str] = set()
    for rel in RELEASES:
        d = tmp / "inputs" / rel
        ids |= set(pd.read_parquet(d / "omop" / "person.parquet").person_id.astype(str))
        for vcf in (d / "genotypes").glob("*.vcf.bgz"):
            out = subprocess.run(f"zcat {vcf} | grep -m1 '^#CHROM'", shell=True, capture_output=True, text=True)
            ids |= set(out.stdout.split()[9:])
        anc = pd.read_csv(d / "ancestry" / "ancestry_preds.tsv", sep="\t", dtype=str)
        ids |= set(anc.iloc[:, 0])
    return ids


def test_each_release_keeps_its_run_log_without_small_person_counts(toy_releases):
    """Issue 18: {output_root}/{release}/logs/<timestamp>-run.log, DEBUG records included,
    ending with the outcome; progress lines carry elapsed times; table rows and person counts
    are shown as 0, "<20" (the toy's somatic definition has fewer cases) or "20+"; tables whose
    rows are not persons show their row counts plainly."""
    tmp, _, _, console, _ = toy_releases
    run_logs = _run_logs(tmp)
    assert {Path(name).parts[1] for name in run_logs} == set(RELEASES)
    text = "\n".join(run_logs.values())
    for name, log_text in run_logs.items():
        assert re.fullmatch(r"\d{8}T\d{6}Z-run\.log", Path(name).name)
        assert log_text.splitlines()[-1].endswith("trd-spark run finished, exit code 0"), name
        assert " DEBUG " in log_text and "# resolved config" in log_text
    written = re.findall(r"(\w+): wrote (\w+), ([<\d,]+\+?) (person-level )?rows(, exact count not logged)? "
                         r"\(\d+\.\d s\)", text)
    rows = [(stage, t, n) for stage, t, n, _, _ in written]
    assert {t for _, t, _ in rows} >= {"scores", "persons", "phenotypes", "analysis_frame", "logistic"}, rows
    person_lines = re.findall(r"phenotypes: (?:persons|ad3|somatic|ad2_augmentation): .*", text)
    # A definition's persons by status are not logged (the export's audit may hide a count of 20
    # or more, test_privacy_logs); person tables of 1-19 rows would read "<20".
    assert len(person_lines) >= 2 * 4 and "ad3: persons by status are in the report's export" in text
    # Row counts of tables whose rows are persons (schema with person_id, or undeclared) follow
    # the rule; flows, counts and model rows count steps or models and are shown plainly.
    persons_rows = {t.name: t.rows_are_persons for tables in TABLES_BY_STAGE.values() for t in tables}
    assert {"consistency", "cohort_flow"} <= {t for t, is_person in persons_rows.items() if not is_person}
    # A rounded count says it is one ("20+ person-level rows, exact count not logged"); a plain
    # count is a table whose rows are not persons.
    for _, t, n, person_level, not_logged in written:
        assert bool(person_level) == persons_rows.get(t, True), (t, n, person_level)
        assert bool(not_logged) == (bool(person_level) and n != "0"), (t, n, not_logged)
    # Every person count reaches the log as a label (``logs.person_count_text``): 0, <20 or 20+,
    # never a number (one of 20 or more may be a count the export hides, test_privacy_logs).
    def counts(text: str) -> list[str]:
        return re.findall(r"(?<![\w<.,])<?\d+(?:,\d{3})*\+?(?![\w.%]| or more)", text)  # 1,780 is one count

    cohort_lines = re.findall(r"cohort: \w+: .* genotyped persons with PGS.*", text)
    summary = re.findall(r"\b(\w+)=(<?\d+(?:,\d{3})*\+?)", text)
    assert cohort_lines and {t for t, _ in summary} >= {"scores", "persons", "analysis_frame"}, (cohort_lines, summary)
    shown = [n for _, t, n in rows if persons_rows.get(t, True)] + [
        n for line in person_lines for n in counts(line.split(":", 1)[1])] + [
        n for line in cohort_lines for n in counts(line)] + [n for t, n in summary if persons_rows.get(t, False)]
    assert set(shown) <= {"0", "<20", "20+"}, sorted(set(shown))
    # And no number next to a person / sample / participant word anywhere in the logs (the
    # rendered reader of tests/person_count_guard.py; the toy data's size is no participant count).
    raw = [x for x in raw_person_counts(text + console) if "toy data not found: generating" not in x]
    assert not raw, raw
    # Nor a value under a key that counts persons, keys built at run time included (a quirk's
    # ``n_persons_* 7``; the resolved config's ``toy_data.persons`` is the toy's size).
    # compare-releases prints its audited cohort_sizes rows (the export's own cells: counts the
    # two exports show, or their labels), read here against that TSV and left out of the key reader.
    console = _without_compare_summary(tmp, console)
    records = re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} )", text + "\n" + console)
    keyed = [x for r in records if "# resolved config" not in r for x in raw_person_count_keys(r)]
    assert not keyed, keyed
    # Nor an OMOP record count of 1..19 (k records are 1..k persons: logs.record_count_text's <20),
    # before a record word or under an n_ key of a phenotypes line (test_privacy_records_s36).
    small = [x for r in records if "# resolved config" not in r for x in small_record_counts(r)]
    assert not small, small
    # Nor two lines' record counts 1..19 apart where the difference is a count no line shows (a
    # table's records less its study records, ...; test_privacy_s37).
    assert not small_record_rests(text), small_record_rests(text)
    # Nor two exact counts of one unit 1..19 apart in one run's log, related or not (test_privacy_s38).
    close = {name: close_count_pairs(log_text) for name, log_text in run_logs.items()}
    assert not any(close.values()), close
    # The summary and the closing lines are in the log too; the console names the report.
    assert "Summary (release toy-r1" in text and "report: " in text
    assert re.search(r"report: \S+/toy-r2/report/report\.html", console)


def test_exported_json_records_carry_no_person_count(toy_releases):
    """Each export's _manifest.json and compare-releases' _disclosure.json (the JSON that leaves
    the workbench) hold no number under a key that counts persons and no person count in their
    text (``person_count_guard.raw_person_counts_in_json``; the guard's own test finds planted ones)."""
    tmp = toy_releases[0]
    records = [tmp / "results" / rel / "export" / "_manifest.json" for rel in RELEASES]
    records += sorted((tmp / "results" / "compare").rglob("_disclosure.json"))
    assert len(records) > len(RELEASES)
    for path in records:
        assert raw_person_counts_in_json(json.loads(path.read_text())) == [], path


def test_report_html_shows_no_count_beyond_the_tsvs(toy_releases):
    """Privacy round 10, item 2: report.html read as an outsider reads it
    (``export_attacker.html_counts_beyond_exports``): every person count in its tables (the
    readable headers N, Cases, At risk ..., which the column-name check above does not see), in
    the attrition diagram, the Kaplan-Meier number-at-risk tables and the forest plots' N and
    cases is 0, one the TSVs show (or a difference of two shown cohort-flow counts), never 1-19;
    a count planted in the page is found."""
    from export_attacker import html_counts_beyond_exports

    tmp = toy_releases[0]
    for rel in RELEASES:
        exp = tmp / "results" / rel / "export"
        tsvs = {p.stem: pd.read_csv(p, sep="\t", dtype=str, keep_default_na=False) for p in exp.glob("*.tsv")}
        page = (exp / "report.html").read_text()
        assert html_counts_beyond_exports(page, tsvs) == [], rel
        first = re.search(r"n = (\d[\d,]*)<", page)
        assert first, rel
        planted = page.replace(first.group(0), "n = 7<", 1)
        assert html_counts_beyond_exports(planted, tsvs) == [("attrition 'n = 7'", "7")], rel


def _export_texts(tmp: Path) -> dict[str, str]:
    files = {}
    for rel in RELEASES:
        for p in sorted((tmp / "results" / rel / "export").iterdir()):
            files[f"{rel}/{p.name}"] = p.read_text()
    for p in sorted((tmp / "results" / "compare").rglob("*.tsv")):
        files[str(p.relative_to(tmp))] = p.read_text()
    return files


def test_scheduler_sequence_and_exit_codes(toy_releases):
    tmp, _, codes, _, stdout = toy_releases
    assert codes == [0, 0, 7, 0]
    for rel in RELEASES:
        for stage in ("pgs", "phenotypes", "cohort", "models", "report", "export"):
            assert (tmp / "results" / rel / stage / "_SUCCESS").exists(), (rel, stage)
        assert not (tmp / "results" / rel / ".lock").exists()
    assert re.search(r"toy-r1\s+complete", stdout) and re.search(r"toy-r2\s+complete", stdout)


def test_manifest_records_versions_timings_counts_inputs(toy_releases):
    tmp = toy_releases[0]
    m = json.loads((tmp / "results" / "toy-r2" / "pgs" / "_manifest.json").read_text())
    assert m["code_version"].startswith("0.") and m["config_hash"] and m["release"] == "toy-r2"
    assert {"hail", "pyspark"} <= set(m["versions"])
    assert m["seconds"] > 0 and m["finished_at"] >= m["started_at"]
    assert m["tables"]["scores"] > 0
    assert all(v["exists"] and "toy-r2" in v["path"] for v in m["inputs"].values())


def _without_compare_summary(tmp: Path, console: str) -> str:
    """``console`` less compare-releases' "Cohort (shared steps)" rows, each checked to print
    exactly the all-definitions row of the comparison's cohort_sizes.tsv (the audited table:
    a count, a label or blank), so the printed summary publishes nothing the TSV does not."""
    from trd_spark.report.compare import _count_cell
    from trd_spark.vocabulary import ALL_DEFINITIONS

    (sizes_path,) = (tmp / "results" / "compare").glob("*/cohort_sizes.tsv")
    sizes = pd.read_csv(sizes_path, sep="\t", dtype=str, keep_default_na=False)
    rows = sizes[sizes["definition"] == ALL_DEFINITIONS]
    expected = {r.step: tuple(_count_cell(v) for v in (r.n_a, r.n_b, r.change)) for r in rows.itertuples()}
    block = re.search(r"Cohort \(shared steps\):\n((?:  .*\n)+)", console)
    assert block, "compare-releases printed no cohort rows"
    printed = {}
    for line in block.group(1).splitlines():
        m = re.fullmatch(r"  (\S+)\s+(\S+) ->\s+(\S+)\s*(\S*)", line)
        assert m, line
        printed[m.group(1)] = m.group(2, 3, 4)
    assert printed == expected
    return console[:block.start(1)] + console[block.end(1):]


def _run_logs(tmp: Path) -> dict[str, str]:
    """The run log files (every record from DEBUG, the JVM's output) of both releases."""
    return {str(p.relative_to(tmp)): p.read_text() for rel in RELEASES
            for p in sorted((tmp / "results" / rel / "logs").glob("*.log"))}


def test_no_identifier_in_export_or_logs(toy_releases):
    tmp, config, _, logs, _ = toy_releases
    ids = _input_ids(tmp)
    assert len(ids) >= max(RELEASES.values())  # toy releases share the first person IDs
    texts = {**_export_texts(tmp), "logs": logs, **_run_logs(tmp)}
    # A concept reference of the config's concept sets (RxNorm 1000091, a toy person_id too) is
    # public vocabulary, no identifier: only its exact label is discounted (tests/identifier_guard.py).
    labels = config_labels(config)
    leaks = {name: identifiers_in(t, ids, labels)[:5] for name, t in texts.items()}
    assert {k: v for k, v in leaks.items() if v} == {}


def test_export_holds_only_what_may_leave(toy_releases):
    """No hidden side files, no local path; the manifest names every file relative to export/
    with its SHA-256."""
    import hashlib

    tmp = toy_releases[0]
    for rel in RELEASES:
        exp = tmp / "results" / rel / "export"
        names = sorted(p.name for p in exp.iterdir())
        assert not [n for n in names if n.startswith(".")], names
        m = json.loads((exp / "_manifest.json").read_text())
        assert set(m["files"]) == set(names) - {"_manifest.json", "_SUCCESS"}
        for name, entry in m["files"].items():
            assert entry["sha256"] == hashlib.sha256((exp / name).read_bytes()).hexdigest(), name
        assert (exp / "_SUCCESS").read_text() == ""
        for name in names:
            assert str(tmp) not in (exp / name).read_text(), name  # output root and inputs live under tmp


def test_no_individual_date_in_export(toy_releases):
    tmp, config, _, logs, _ = toy_releases
    cutoff = str(yaml.safe_load(config.read_text())["omop"]["data_cutoff_date"])
    for name, text in _export_texts(tmp).items():
        if name.endswith("_manifest.json"):
            continue  # run timestamps only (checked by key below)
        # The report's own generation date is labelled as such; no other date but the cutoff.
        text = re.sub(r"<li>report date: \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC</li>", "", text)
        assert set(re.findall(r"\d{4}-\d{2}-\d{2}", text)) <= {cutoff}, name
    for rel in RELEASES:
        m = json.loads((tmp / "results" / rel / "export" / "_manifest.json").read_text())
        dated = {k for k, v in m.items() if re.search(r"\d{4}-\d{2}-\d{2}", json.dumps(v))}
        assert dated <= {"started_at", "finished_at", "inputs", "config_path"}
    # Log lines start with the time they were written; no other date may appear.
    body = re.sub(r"(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+", "", logs).replace(cutoff, "")
    assert re.findall(r"\b(?:19|20)\d\d-\d\d-\d\d\b", body) == []


class _Tables(HTMLParser):
    """Header and cell texts of every <table> in a page."""

    def __init__(self):
        super().__init__()
        self.tables, self._cell, self._row = [], None, None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"head": [], "rows": []})
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append((tag, self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            t = self.tables[-1]
            if all(k == "th" for k, _ in self._row):
                t["head"] = [c for _, c in self._row]
            else:
                t["rows"].append([c for _, c in self._row])
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def _small(v: str) -> bool:
    return v.isdigit() and 1 <= int(v) <= 19


def test_no_unsuppressed_small_count_in_export(toy_releases):
    tmp = toy_releases[0]
    suppressed_seen = 0
    for name, text in _export_texts(tmp).items():
        if name.endswith(".tsv"):
            df = pd.read_csv(io.StringIO(text), sep="\t", dtype=str, keep_default_na=False)
            tables = [(list(df.columns), df.values.tolist())]
        elif name.endswith(".html"):
            parser = _Tables()
            parser.feed(text)
            tables = [(t["head"], t["rows"]) for t in parser.tables]
        else:
            continue
        for head, rows in tables:
            for col in COUNT_COLUMNS & set(head):
                i = head.index(col)
                vals = [r[i] for r in rows]
                assert not [v for v in vals if _small(v)], (name, col)
                suppressed_seen += sum(v.startswith("<") or v == "suppressed" for v in vals)
    assert suppressed_seen > 0  # the small toy run must exercise suppression


def test_suppressed_counts_not_recoverable_from_totals_or_steps(toy_releases):
    tmp = toy_releases[0]
    for rel in RELEASES:
        exp = tmp / "results" / rel / "export"
        read = lambda n: pd.read_csv(exp / n, sep="\t", dtype=str, keep_default_na=False)  # noqa: E731, B023 (used in this iteration)
        flow = read("cohort_flow.tsv")
        for definition, g in flow.groupby("definition"):
            shown = [int(v) for v in g.sort_values("step_order", key=lambda s: s.astype(int))["n"] if v.isdigit()]
            diffs = [abs(a - b) for i, a in enumerate(shown) for b in shown[i + 1:]]
            assert not [d for d in diffs if 1 <= d <= 19], (rel, definition)
        for name, total, part in (("results.tsv", "n", "n_cases"), ("cox.tsv", "n", "n_events")):
            t = read(name)
            both = t[t[total].str.isdigit() & t[part].str.isdigit()]
            rest = both[total].astype(int) - both[part].astype(int)
            assert not rest.between(1, 19).any(), (rel, name)
        # A model's n minus a shown status count must not reveal a small hidden group; the
        # non-MDD controls are the same persons under every definition, so a count shown for
        # one definition is known for all.
        cc = read("cohort_counts.tsv")
        status = {(r.dataset, r.definition, r.status): r.n for r in cc.itertuples()}
        controls = {r.dataset: int(r.n) for r in cc[cc.status == "non_MDD"].itertuples() if r.n.isdigit()}
        res = read("results.tsv")
        for r in res[res.contrast == "trd_vs_nonmdd"].drop_duplicates(["dataset", "definition"]).itertuples():
            trd = status[(r.dataset, r.definition, "TRD")]
            if r.n.isdigit() and not trd.isdigit() and r.dataset in controls:
                assert not 1 <= int(r.n) - controls[r.dataset] <= 19, (rel, r.dataset, r.definition)
            if r.n.isdigit() and trd.isdigit():
                non = status[(r.dataset, r.definition, "non_MDD")]
                assert non.isdigit() or not 1 <= int(r.n) - int(trd) <= 19, (rel, r.dataset, r.definition)


def _exports_with(tmp: Path, name: str) -> list[tuple[str, Path]]:
    """(release, export folder) of each toy release whose export has the file ``name``."""
    exports = [(rel, tmp / "results" / rel / "export") for rel in RELEASES]
    return [(rel, exp) for rel, exp in exports if (exp / name).exists()]


def test_no_replication_row_for_a_hidden_discovery_fit(toy_releases):
    """A replication.tsv row exists because its discovery fit was significant, so a row whose
    discovery results.tsv row is blank (hidden counts) would tell that hidden fit's outcome
    (report.tables: rows of hidden discovery fits are left out, d1cac1b)."""
    key = ["definition", "contrast", "pgs_id"]
    exports = _exports_with(toy_releases[0], "replication.tsv")
    assert exports  # the toy has replication datasets: the rule is exercised
    for rel, exp in exports:
        rep = pd.read_csv(exp / "replication.tsv", sep="\t")
        res = pd.read_csv(exp / "results.tsv", sep="\t")
        disc = res[res["dataset"] == "discovery"]
        joined = rep[key].drop_duplicates().merge(disc[[*key, "beta"]], on=key, how="left", indicator=True)
        assert (joined["_merge"] == "both").all(), (rel, joined[joined["_merge"] != "both"][key].values.tolist())
        assert joined["beta"].notna().all(), (rel, joined[joined["beta"].isna()][key].values.tolist())


def test_consistency_r2_only_from_shown_meta_estimates(toy_releases):
    """An R^2 in consistency.tsv is built only from meta estimates the export shows: every
    fixed-effect meta row of its contrast under its definitions (all of them for an 'all' row)
    has a beta (report.tables.hide_estimates_of_hidden_counts)."""
    checked = 0
    for rel, exp in _exports_with(toy_releases[0], "consistency.tsv"):
        cons = pd.read_csv(exp / "consistency.tsv", sep="\t")
        meta = pd.read_csv(exp / "meta.tsv", sep="\t")
        fixed = meta[meta["method"] == "fixed"]
        for r in cons.dropna(subset=["r2"]).itertuples():
            pair = {r.definition_a, r.definition_b}
            rows = fixed[(fixed.contrast == r.contrast) & (("all" in pair) | fixed.definition.isin(pair))]
            assert len(rows) and rows["beta"].notna().all(), (rel, r.contrast, r.definition_a, r.definition_b)
            checked += 1
    assert checked > 0


def test_attacker_recovers_no_hidden_small_group_from_the_toy_exports(toy_releases):
    """tests/export_attacker.py on each toy release's export (see test_export_attacker.py);
    the internal tables only decide which design facts hold."""
    from export_attacker import attack_release, fully_hidden, small_release_changes

    from trd_spark.report.tables import prior_counts

    tmp = toy_releases[0]
    attackers, exports = {}, {}
    primary = yaml.safe_load(DEFAULT_CONFIG.read_text())["phenotypes"]["primary_definition"]
    checked = 0
    for rel in RELEASES:
        base = tmp / "results" / rel
        read = lambda n: pd.read_csv(base / "export" / n, sep="\t", dtype=str, keep_default_na=False)  # noqa: E731, B023 (used in this iteration)
        export = {n: read(f"{n}.tsv") for n in ("cohort_counts", "results", "cox", "km_curves", "pgs_distribution",
                                                 "cohort_flow") if (base / "export" / f"{n}.tsv").exists()}
        frame = pd.read_parquet(base / "cohort" / "analysis_frame.parquet")
        frame["ancestry"] = frame["ancestry"].fillna("unknown")
        first_pgs = sorted(export["pgs_distribution"].pgs_id)[0]
        one = frame[(frame.definition == primary) & frame[first_pgs].notna()]
        internal = {"results": pd.read_parquet(base / "models" / "logistic.parquet"),
                    "cox": pd.read_parquet(base / "models" / "cox.parquet"),
                    "km_curves": pd.read_parquet(base / "models" / "km_curves.parquet"),
                    "pgs_distribution": one.groupby(["dataset", "ancestry"]).size().rename("n").reset_index(),
                    "cohort_flow": pd.read_parquet(base / "phenotypes" / "cohort_flow.parquet")}
        export["pgs_distribution"] = export["pgs_distribution"][export["pgs_distribution"].pgs_id == first_pgs]
        a, targets = attack_release(export, internal, frame, primary)
        attackers[rel], exports[rel] = a, export
        base, _ = attack_release(fully_hidden(export), internal, frame, primary)
        assert targets, rel  # the small toy releases have hidden small groups
        for k, v in sorted(targets.items(), key=str):
            assert not a.determined(k), (rel, k)
            lo, hi = a.interval(k)
            assert lo - 1e-6 <= v <= hi + 1e-6, (rel, k)
            # As wide as "<20" says, or as the labels alone leave it (README Privacy).
            if hi - lo < 18 - 1e-6:
                b_lo, b_hi = base.interval(k)
                assert hi - lo >= b_hi - b_lo - 1e-6, (rel, k, lo, hi, b_lo, b_hi)
            checked += 1
    assert checked > 0
    # An outsider holding both releases' exports subtracts a count shown in each: no change of
    # 1..19 persons may show (r1's report ran after r2's and audited against r2's export).
    for rel, other in (("toy-r1", "toy-r2"), ("toy-r2", "toy-r1")):
        known = {cell: n for (_, cell), n in prior_counts({other: exports[other]}).items()}
        assert known, other
        assert small_release_changes(attackers[rel], known) == {}, (rel, other)


def test_compare_releases(toy_releases, spark):
    tmp = toy_releases[0]
    d = tmp / "results" / "compare" / "toy-r1_vs_toy-r2"
    sizes = pd.read_csv(d / "cohort_sizes.tsv", sep="\t", dtype=str, keep_default_na=False)
    first = sizes[(sizes.definition == "all") & (sizes.step_order == "1")].iloc[0]
    if first.n_a.isdigit() and first.n_b.isdigit():
        assert (int(first.n_a), int(first.n_b), int(first.change)) == (RELEASES["toy-r1"], RELEASES["toy-r2"], RELEASES["toy-r2"] - RELEASES["toy-r1"])
    shown = sizes[sizes.n_a.str.isdigit() & sizes.n_b.str.isdigit()]
    assert len(shown) > 0 and (shown.change.astype(int) == shown.n_b.astype(int) - shown.n_a.astype(int)).all()
    hidden = sizes.loc[~(sizes.n_a.str.isdigit() & sizes.n_b.str.isdigit()), "change"]
    assert hidden.isin(["", "<20"]).all()
    # A change is a count: never 1..19 shown or derivable from two shown counts.
    assert not (shown.change.astype(int).abs().between(1, 19)).any()
    assert not [p.name for p in d.iterdir() if p.name.startswith(".")]  # no .crc side files
    disclosure = json.loads((d / "_disclosure.json").read_text())
    assert disclosure["for_export"] in (True, False) and disclosure["small_count_threshold"] == 20
    corr = pd.read_csv(d / "pgs_correlation.tsv", sep="\t")
    # Oracle: the same correlation from the two releases' score tables with pandas.
    a = pd.read_parquet(tmp / "results" / "toy-r1" / "pgs" / "scores.parquet")
    b = pd.read_parquet(tmp / "results" / "toy-r2" / "pgs" / "scores.parquet")
    j = a.merge(b, on=["dataset", "person_id", "pgs_id"])
    for r in corr.dropna(subset=["correlation"]).itertuples():
        g = j[(j.dataset == r.dataset) & (j.pgs_id == r.pgs_id)]
        assert abs(g.score_sum_x.corr(g.score_sum_y) - r.correlation) < 1e-9
    assert len(corr.dropna(subset=["correlation"])) > 0
    # Toy releases are prefix-stable (a release extends the one before, as real ones do): the
    # persons of both have the same genotypes, so their scores agree up to the mean imputation
    # of missing calls (allele frequencies of the larger release).
    assert corr.correlation.dropna().min() > 0.95, corr
    est = pd.read_csv(d / "estimates.tsv", sep="\t")
    assert {"logistic", "cox"} <= set(est.model)
    flagged = est[est.ci_overlap == False]  # noqa: E712
    assert ((flagged.ci_high_a < flagged.ci_low_b) | (flagged.ci_high_b < flagged.ci_low_a)).all()
    ok = est[est.ci_overlap == True]  # noqa: E712
    assert not ((ok.ci_high_a < ok.ci_low_b) | (ok.ci_high_b < ok.ci_low_a)).any()


FIGURE_CLASSES = ("forest", "significance", "distribution", "scatter", "km")


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed (scripts/install.sh --test)")
def test_report_renders_in_headless_chromium(toy_releases, tmp_path):
    tmp = toy_releases[0]
    page = tmp / "results" / "toy-r2" / "export" / "report.html"
    shot = tmp_path / "report.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--enable-logging=stderr", "--v=0", f"--user-data-dir={tmp_path / 'profile'}"]
    r = subprocess.run(["chromium", *flags, f"--screenshot={shot}", "--window-size=1280,4000", page.as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert shot.exists(), r.stderr[-2000:]
    dom = subprocess.run(["chromium", *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    console = [ln for ln in (r.stderr + dom.stderr).splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert console == []
    # The consistency scatter draws fixed-effect meta betas (TRD vs non-MDD), which the export
    # leaves out where a pooled dataset's counts are hidden (tables.hide_estimates_of_hidden_counts).
    meta = pd.read_csv(page.parent / "meta.tsv", sep="\t")
    drawn = meta[(meta["method"] == "fixed") & (meta["contrast"] == "trd_vs_nonmdd")].dropna(subset=["beta"])
    for cls in FIGURE_CLASSES:
        if cls == "scatter" and drawn["definition"].nunique() < 2:
            assert 'class="scatter"' not in dom.stdout
            continue
        assert f'class="{cls}"' in dom.stdout, cls
    html = page.read_text()
    assert dom.stdout.count("<svg") == html.count("<svg") >= 10
    from PIL import Image

    img = Image.open(shot).convert("L")
    lo, hi = img.getextrema()
    assert hi - lo > 100  # not blank
    # Keep a copy to look at (the layout check is done by eye).
    shutil.copy(shot, REPO / "out" / "report_screenshot.png") if (REPO / "out").is_dir() else None
