"""A re-export of the same release (new-user trial, session 15): toy-r1's first export showed
discovery TRD 167 (results n 926 / 167 cases); after a one-person input fix the new export of
the same release showed 166 (925 / 166), and anyone holding both learns a change of 1. The
report now keeps the earlier export (``report.stage.archive_export``) and audits against it
as against another release's (``released_exports`` -> ``tables.prior_counts``)."""

from __future__ import annotations

import io
import json
import re

import pandas as pd
from export_attacker import Attacker, small_release_changes

from trd_spark.io import to_tsv
from trd_spark.report.tables import ReleaseCounts, hidden_counts, prior_counts, suppress_release

T = 20
STATUSES = ("TRD", "trMDD", "MDD_other", "non_MDD")


def release(trd: int) -> ReleaseCounts:
    """One dataset, one definition: the statuses, the all-persons step (their sum) and the
    TRD vs non-MDD model (every person has the score: n = TRD + non-MDD, cases = TRD)."""
    n = dict(zip(STATUSES, (trd, 300, 100, 759)))
    return ReleaseCounts(
        cohort_flow=pd.DataFrame({"definition": ["all"], "step_order": [1], "step": ["all_persons"],
                                  "n": [sum(n.values())]}),
        cohort_counts=pd.DataFrame({"dataset": "d", "definition": "A", "status": list(n), "n": list(n.values())}),
        logistic=pd.DataFrame({"dataset": ["d"], "definition": ["A"], "contrast": ["trd_vs_nonmdd"], "pgs_id": ["P1"],
                               "n": [trd + n["non_MDD"]], "n_cases": [trd]}),
        cox=None, pgs_distribution=None, primary_definition="A")


def export_files(rc: ReleaseCounts) -> dict[str, str]:
    """The count TSVs of the release's export, as publish_export writes them."""
    safe = suppress_release(rc, T)
    return {"cohort_counts.tsv": to_tsv(safe["cohort_counts"]), "cohort_flow.tsv": to_tsv(safe["cohort_flow"]),
            "results.tsv": to_tsv(safe["logistic"])}


def attacker(files: dict[str, str]) -> Attacker:
    """The outsider's system on one export: every count as shown, the statuses summing to
    all persons, the model's n and cases as the statuses they count."""
    a = Attacker(T)
    read = {k: pd.read_csv(io.StringIO(v), sep="\t", dtype=str) for k, v in files.items()}
    for r in read["cohort_counts.tsv"].itertuples():
        a.cell(("status", "d", "A", r.status), r.n)
    a.cell(("flow", "all", "all_persons"), read["cohort_flow.tsv"]["n"].iloc[0])
    a.know({("flow", "all", "all_persons"): 1, **{("status", "d", "A", s): -1 for s in STATUSES}})
    model = read["results.tsv"].iloc[0]
    a.cell(("n", "d", "A", "trd_vs_nonmdd", "P1"), model["n"])
    a.cell(("n_cases", "d", "A", "trd_vs_nonmdd", "P1"), model["n_cases"])
    a.know({("n", "d", "A", "trd_vs_nonmdd", "P1"): 1, ("status", "d", "A", "TRD"): -1, ("status", "d", "A", "non_MDD"): -1})
    a.know({("n_cases", "d", "A", "trd_vs_nonmdd", "P1"): 1, ("status", "d", "A", "TRD"): -1})
    return a


def test_a_reexport_of_the_same_release_is_audited_against_the_earlier_one(spark, tmp_path):
    """Export r1 at 167 TRD (run1), re-export it at 166 (run2): audited without the earlier
    export (as before), the re-export shows 166 and the outsider subtracts a change of 1;
    audited with what ``released_exports`` reads (r1's current export, label r1@run1, with the
    hidden counts its report recorded), 166 is hidden and nothing small is recovered. Publishing
    the re-export keeps the earlier one in r1/export_history/run1/ (internal) and export/ holds
    only the new files; a third export is audited against both."""
    from trd_spark.config import load_config
    from trd_spark.io import Fs
    from trd_spark.report.stage import EXPORT_HISTORY, archive_export, audited_text, publish_export, released_exports

    fs, cfg = Fs(spark), load_config(None, overrides={"output_root": str(tmp_path), "release": "r1"})
    report = tmp_path / "r1" / "report" / "_manifest.json"

    def publish(rc: ReleaseCounts, files: dict[str, str], run_id: str) -> None:
        """As report.stage.run does: keep the earlier export, write the report's manifest
        (with the hidden counts), publish the export."""
        archive_export(fs, cfg)
        internal = {"cohort_counts": rc.cohort_counts, "cohort_flow": rc.cohort_flow, "logistic": rc.logistic}
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps({"run_id": run_id, "notes": {"hidden_counts": hidden_counts(files, internal)}}))
        publish_export(fs, cfg, files, run_id=run_id)

    first = export_files(release(167))
    assert "\t167\n" in first["cohort_counts.tsv"] and "\t926\t167\t" in first["results.tsv"]
    publish(release(167), first, "run1")

    others = released_exports(fs, cfg)
    assert sorted(others) == ["r1@run1"]
    prior = prior_counts(others)
    known = {cell: n for (_, cell), n in prior.items()}
    assert known[("status", "d", "A", "TRD")] == 167

    alone = export_files(release(166))  # before: the earlier export of r1 was not read
    assert "\tTRD\t166\n" in alone["cohort_counts.tsv"]
    assert small_release_changes(attacker(alone), known, T)[("status", "d", "A", "TRD")] == (-1, -1)

    second = export_files(ReleaseCounts(**{**release(166).__dict__, "prior": prior}))
    assert "\tTRD\tsuppressed\n" in second["cohort_counts.tsv"], second["cohort_counts.tsv"]
    a = attacker(second)
    assert small_release_changes(a, known, T) == {}
    assert not a.determined(("status", "d", "A", "TRD"))

    publish(release(166), second, "run2")
    kept = tmp_path / "r1" / EXPORT_HISTORY / "run1"
    assert sorted(p.name for p in kept.iterdir()) == ["_SUCCESS", "_manifest.json", "cohort_counts.tsv",
                                                     "cohort_flow.tsv", "hidden_counts.json", "results.tsv"]
    assert (kept / "cohort_counts.tsv").read_text() == first["cohort_counts.tsv"]
    assert json.loads((kept / "_manifest.json").read_text())["run_id"] == "run1"
    exp = tmp_path / "r1" / "export"
    assert sorted(p.name for p in exp.iterdir()) == ["_SUCCESS", "_manifest.json", *sorted(second)]
    assert (exp / "cohort_counts.tsv").read_text() == second["cohort_counts.tsv"]

    later = released_exports(fs, cfg)
    assert sorted(later) == ["r1@run1", "r1@run2"]
    assert later["r1@run1"]["cohort_counts"]["n"].tolist()[0] == "167"
    assert ["status", "d", "A", "TRD", 166] in later["r1@run2"]["hidden_counts"]

    text = audited_text("r1", sorted(later) + ["r0"], T)
    assert "earlier exports of this release (r1@run1, r1@run2" in text and "other releases' exports (r0)" in text
    assert not re.search(r"16[67]|92[56]", text)  # names and why, no count
    assert audited_text("r1", [], T) == ""


def test_a_reexport_from_the_same_counts_repeats_the_earlier_export():
    """A re-export whose counts did not change (a report setting, a code version) is the same
    export: linked to the earlier one, the audit hid n (759 non-MDD shown) where the earlier
    export hid non-MDD (n 766 shown), and the two read as the same persons gave TRD 7. An
    export whose every count equals this one's is not linked (``build_audit``)."""
    rc = release(7)
    first = export_files(rc)
    internal = {"cohort_counts": rc.cohort_counts, "cohort_flow": rc.cohort_flow, "logistic": rc.logistic}
    tables = {name: pd.read_csv(io.StringIO(text), sep="\t", dtype=str, keep_default_na=False)
              for name, text in (("cohort_counts", first["cohort_counts.tsv"]), ("cohort_flow", first["cohort_flow.tsv"]),
                                 ("results", first["results.tsv"]))}
    tables["hidden_counts"] = hidden_counts(first, internal)
    assert ["status", "d", "A", "non_MDD", 759] in tables["hidden_counts"]
    again = export_files(ReleaseCounts(**{**rc.__dict__, "prior": prior_counts({"r1@run1": tables})}))
    assert again == first


def with_dataset_flow(rc: ReleaseCounts, levels: list[int]) -> ReleaseCounts:
    """``rc`` with one dataset's genotyped -> analysed table: ``levels`` (persons with a PGS,
    unrelated, with ancestry and PCs) then the analysis frame of its statuses."""
    from trd_spark.cohort.flow import dataset_flow_rows
    from trd_spark.schemas import DATASET_FLOW

    cc = rc.cohort_counts
    assert cc is not None
    rows = dataset_flow_rows({"d": levels}, list(cc[["dataset", "definition", "status", "n"]].itertuples(index=False)))
    return ReleaseCounts(**{**rc.__dict__, "dataset_flow": pd.DataFrame(rows, columns=DATASET_FLOW.names)})


def test_a_reexport_shows_no_genotyped_to_analysed_count_the_earlier_export_hid():
    """Session 17's open item: the genotyped -> analysed table (report.html only) was not
    carried across exports of one release. r1 (15 persons without ancestry/PCs between 2993
    unrelated and 2978) hid 2993 and showed 2978; r2 was exported next, audited against r1;
    r1 re-exported from the same data, linked to r2, hid 2978 and showed 2993, and whoever
    holds both exports of r1 reads 2993 - 2978 = 15. The report now records how its export
    shows each of these counts (``hidden_counts``' ``REPORT_SHOWS`` entries), and a re-export
    of the same counts hides what the earlier one hid and fixes what it showed."""
    from export_attacker import Attacker

    from trd_spark.report.tables import hidden_counts, prior_labels

    def export(rc: ReleaseCounts) -> tuple[pd.DataFrame, dict]:
        """(dataset_flow as report.html shows it, the export as ``released_exports`` reads it)."""
        safe = suppress_release(rc, T)
        files = {"cohort_counts.tsv": to_tsv(safe["cohort_counts"]), "cohort_flow.tsv": to_tsv(safe["cohort_flow"]),
                 "results.tsv": to_tsv(safe["logistic"])}
        tables = {name[:-4]: pd.read_csv(io.StringIO(text), sep="\t", dtype=str, keep_default_na=False)
                  for name, text in files.items()}
        internal = {"cohort_counts": rc.cohort_counts, "cohort_flow": rc.cohort_flow, "logistic": rc.logistic,
                    "dataset_flow": rc.dataset_flow}
        tables["hidden_counts"] = hidden_counts(files, internal, safe["dataset_flow"])
        return safe["dataset_flow"], tables

    r1 = with_dataset_flow(release(60), [3000, 2993, 2978])
    first, kept = export(r1)
    r2 = with_dataset_flow(release(60), [3005, 2993, 2960])
    _, second = export(ReleaseCounts(**{**r2.__dict__, "prior": prior_counts({"r1": kept})}))
    exported = {"r1@run1": kept, "r2": second}
    again, _ = export(ReleaseCounts(**{**r1.__dict__, "prior": prior_counts(exported),
                                       "prior_labels": prior_labels(exported)}))
    a = Attacker(T)
    steps = [("step", i) for i in range(3)]
    for shown in (first, again):  # both exports of r1 read as the same persons
        rows = shown[shown["definition"] == "all"]
        for i, (n, removed) in enumerate(zip(rows["n"], rows["removed"])):
            for name, v in ((steps[i], n), (("removed", i), removed)):
                if v is not None and (isinstance(v, int) or name not in a.bounds):  # a number beats a label
                    a.cell(name, v)
            if i:
                a.know({steps[i - 1]: 1, steps[i]: -1, ("removed", i): -1})
    assert not a.determined(("removed", 2)), (first, again)
    lo, hi = a.interval(("removed", 2))
    assert hi - lo >= T - 3, (lo, hi, first, again)


def test_an_export_record_of_a_newer_version_stops_the_report_with_one_line(spark, tmp_path):
    """A report reads the hidden counts earlier exports recorded (the report manifest's notes, an
    archived export's hidden_counts.json). 5ed5b80 met the entries a later version wrote
    ([report_shows, ..., "suppressed"]) with int('suppressed') and a traceback (exit 1); a reader
    that left such entries out would weaken the audit silently. Records now carry a format; a
    newer format or an unknown entry kind stops with one InputDataError line (exit 3) naming the
    file and what to do, quoting no count; records without a format (older versions) read as before."""
    import pytest

    from trd_spark.config import load_config
    from trd_spark.errors import InputDataError
    from trd_spark.io import Fs
    from trd_spark.report.stage import archive_export, publish_export, released_exports
    from trd_spark.report.tables import HIDDEN_COUNTS_FORMAT

    fs, cfg = Fs(spark), load_config(None, overrides={"output_root": str(tmp_path), "release": "r1"})
    report = tmp_path / "r1" / "report" / "_manifest.json"
    internal = {"cohort_counts": release(7).cohort_counts, "logistic": release(7).logistic}
    for run_id in ("run1", "run2"):
        files = export_files(release(7))
        archive_export(fs, cfg)
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps({"run_id": run_id, "notes": {"hidden_counts": hidden_counts(files, internal),
                                                                  "hidden_counts_format": HIDDEN_COUNTS_FORMAT}}))
        publish_export(fs, cfg, files, run_id=run_id)
    kept = tmp_path / "r1" / "export_history" / "run1" / "hidden_counts.json"
    record = json.loads(kept.read_text())
    assert record["format"] == HIDDEN_COUNTS_FORMAT and ["status", "d", "A", "TRD", 7] in record["hidden_counts"]
    read = released_exports(fs, cfg)
    assert read["r1@run1"]["hidden_counts"] == read["r1@run2"]["hidden_counts"] == record["hidden_counts"]

    kept.write_text(json.dumps(record["hidden_counts"]))  # as written before records had a format
    assert released_exports(fs, cfg)["r1@run1"]["hidden_counts"] == record["hidden_counts"]

    def error(path) -> str:
        with pytest.raises(InputDataError) as e:
            released_exports(fs, cfg)
        line = str(e.value)
        assert e.value.exit_code == 3 and "\n" not in line and line.startswith(f"{path}: "), line
        assert "rerun the report with the trd-spark version that wrote it or a newer one" in line, line
        # the count is searched after the path: a tmp path (pytest-7) may hold the digits
        assert "export to a new output_root" in line and not re.search(r"\b(7|766)\b", line[len(f"{path}: "):]), line
        return line

    kept.write_text(json.dumps({"format": HIDDEN_COUNTS_FORMAT + 1, "hidden_counts": record["hidden_counts"]}))
    assert f"hidden_counts records of format {HIDDEN_COUNTS_FORMAT + 1}," in error(kept)
    kept.write_text(json.dumps({"format": HIDDEN_COUNTS_FORMAT, "hidden_counts": [*record["hidden_counts"],
                                                                                  ["status_v2", "d", "A", 7]]}))
    assert f"hidden_counts entry {len(record['hidden_counts']) + 1} of kind 'status_v2'," in error(kept)
    kept.write_text(json.dumps(record["hidden_counts"]))

    manifest = json.loads(report.read_text())
    manifest["notes"]["hidden_counts"].append(["status", "d", "A", "TRD", "suppressed"])  # 5ed5b80's traceback
    report.write_text(json.dumps(manifest))
    assert "without a count" in error(report)
    manifest["notes"]["hidden_counts"].pop()
    manifest["notes"]["hidden_counts_format"] = HIDDEN_COUNTS_FORMAT + 1
    report.write_text(json.dumps(manifest))
    error(report)
    del manifest["notes"]["hidden_counts_format"]  # a report written before records had a format
    report.write_text(json.dumps(manifest))
    assert released_exports(fs, cfg)["r1@run2"]["hidden_counts"] == record["hidden_counts"]


def test_a_report_stopped_before_its_export_is_resumed_as_if_never_stopped(spark, tmp_path):
    """Privacy round 10, item 1 (a resumed run's export chose other cells to hide than a fresh
    run's). The report stage publishes ``report/`` (its manifest: the new run's hidden counts),
    then ``export/``. Killed between the two, the report manifest is of a run whose export never
    appeared, and the resumed report read the current export (run1: TRD 7 and non-MDD 759
    hidden) without its hidden counts, though ``archive_export`` had kept them in
    export_history/run1/ before the manifest changed. Its export of TRD 25 then showed 25 (with
    run1's 7: a change of 18) where a run that was not stopped hides it. The resumed audit now
    reads the kept record: same export as without the kill."""
    from trd_spark.config import load_config
    from trd_spark.io import Fs
    from trd_spark.report.stage import archive_export, publish_export, released_exports
    from trd_spark.report.tables import HIDDEN_COUNTS_FORMAT, prior_labels

    fs, cfg = Fs(spark), load_config(None, overrides={"output_root": str(tmp_path), "release": "r1"})
    report = tmp_path / "r1" / "report" / "_manifest.json"
    report.parent.mkdir(parents=True)

    def record(rc: ReleaseCounts, run_id: str) -> dict[str, str]:
        """The report's manifest for ``rc``'s export as ``run`` writes it; returns the files."""
        files = export_files(rc)
        internal = {"cohort_counts": rc.cohort_counts, "cohort_flow": rc.cohort_flow, "logistic": rc.logistic}
        report.write_text(json.dumps({"run_id": run_id, "notes": {"hidden_counts": hidden_counts(files, internal),
                                                                  "hidden_counts_format": HIDDEN_COUNTS_FORMAT}}))
        return files

    def next_export() -> dict[str, str]:
        """The export of TRD 25 a report run now builds, audited as ``run`` audits it."""
        others = released_exports(fs, cfg)
        assert sorted(others) == ["r1@run1"]
        return export_files(ReleaseCounts(**{**release(25).__dict__, "prior": prior_counts(others),
                                             "prior_labels": prior_labels(others)}))

    publish_export(fs, cfg, record(release(7), "run1"), run_id="run1")
    first = released_exports(fs, cfg)["r1@run1"]
    assert "\tnon_MDD\tsuppressed\n" in (tmp_path / "r1" / "export" / "cohort_counts.tsv").read_text()
    not_stopped = next_export()
    assert "\tTRD\tsuppressed\n" in not_stopped["cohort_counts.tsv"], not_stopped["cohort_counts.tsv"]

    archive_export(fs, cfg)  # as run does before publishing report/ ...
    record(release(25), "run2")  # ... which it then replaces; killed before publish_export
    resumed = released_exports(fs, cfg)["r1@run1"]
    assert resumed.get("hidden_counts") == first["hidden_counts"]
    assert next_export() == not_stopped
