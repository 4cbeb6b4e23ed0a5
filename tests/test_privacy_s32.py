"""Privacy, session 32: counts a reader of what a run shows can get back by arithmetic.

The calls the genotype filter FT made missing, per score: two scores that share variants (a
score and its version with one variant more, or a panel's scores built on one SNP set) differ by
the calls at the variants one score alone has, and at one such variant those calls are persons
(one call per person and variant). Shown as shares of each score's scored calls (samples x
matched variants, both known from ``match_rates.tsv``), the two shares times their calls gave
that count back: 1,234 and 1,227 FT-failed calls over 11 and 10 variants at 2,000 samples are
the 7 persons whose call at the eleventh variant failed FT. The pgs stage now shows the dataset's
share only (its notes and its log line); the exact counts per score stay in the stage's internal
record (``notes.ft_failed_calls_by_score``, like ``notes.gates``).

Row counts in the run log and summary: two tables' numbers of rows told what the export hides
(below); they are no longer logged.
"""

from __future__ import annotations

import itertools
import json
import logging
import re

import numpy as np
import pandas as pd
import pytest
from person_count_guard import raw_person_counts
from test_field_cases_pgs import case_config

from trd_spark.pgs import stage
from trd_spark.pgs.scoring import FtFailedCalls

T = 20  # report.small_count_threshold's default


def _dataset(ft: FtFailedCalls) -> stage.DatasetMatches:
    """A scored VCF dataset ``d`` as the publication functions read it (its FT counts)."""
    return stage.DatasetMatches(dataset="d", summary=pd.DataFrame(), scoring_files=[], frame=None, ft_failed=ft)


def _call_counts_read_back(notes: dict, calls: dict[str, int]) -> dict[str, tuple[float, float]]:
    """What an outsider reads of each score's FT-failed calls from the published notes: a share
    rounded to 4 digits times the score's scored calls (``calls``: samples x matched variants),
    as the interval the rounding leaves; a label or a text tells nothing more than itself."""
    out = {}
    for entry in notes.values():
        shown = {"total": entry["share"], **(entry.get("per_score") or {})} if isinstance(entry, dict) else {}
        for key, share in shown.items():
            if isinstance(share, float) and key in calls:
                out[key] = ((share - 5e-5) * calls[key], (share + 5e-5) * calls[key])
    return out


def _small_differences(read: dict[str, tuple[float, float]], nested: list[tuple[str, str]]) -> list[str]:
    """Pairs (a score, a score whose variants are a subset of its) whose difference -- the calls at
    the variants the first alone has, FT-failed -- the readings put inside 1..T-1."""
    found = []
    for a, b in nested:
        if a in read and b in read:
            low, high = read[a][0] - read[b][1], read[a][1] - read[b][0]
            if low > 0 and high < T:
                found.append(f"{a} - {b}: {low:.1f}..{high:.1f}")
    return found


def test_two_scores_sharing_variants_give_no_small_count_of_ft_failed_calls(tmp_path, caplog):
    """PGS000011 has the 10 variants of PGS000010 and one more; at 2,000 samples FT failed 1,234
    and 1,227 of their calls (7 at the eleventh variant: 7 persons). Each count is 20 or more, so
    on d0e0953 the notes showed both shares (0.0561, 0.0614) and their difference read 4.1..8.3;
    here the notes show the dataset's share only, no log line names a score, and the exact
    per-score counts are in the internal record."""
    cfg = case_config(tmp_path, str(tmp_path / "d.vcf"), str(tmp_path / "PGS*.txt"))
    ft = FtFailedCalls.of(["PGS000011", "PGS000010", "PGS000100"], [1234, 1227, 400], [11, 10, 40], 2000)
    r = _dataset(ft)
    notes = json.loads(json.dumps(stage.ft_failed_call_shares(cfg, [r])))  # as the manifest holds them
    calls = {"PGS000011": 22_000, "PGS000010": 20_000, "PGS000100": 80_000, "total": 122_000}
    read = _call_counts_read_back(notes, calls)
    nested = [("PGS000011", "PGS000010"), ("total", "PGS000011"), ("total", "PGS000010"), ("total", "PGS000100")]
    assert _small_differences(read, nested) == []
    assert notes == {"d": {"share": round(2861 / 122_000, 4)}}
    # Any three published numbers: no sum or difference of them is 1..T-1 either.
    values = [(low + high) / 2 for low, high in read.values()]
    combos = [sum(s * v for s, v in zip(signs, vs)) for n in (2, 3) for vs in itertools.combinations(values, n)
              for signs in itertools.product((1, -1), repeat=n)]
    assert not [c for c in combos if 0.5 < c < T - 0.5]

    with caplog.at_level(logging.INFO, logger="trd_spark.pgs.stage"):
        stage.check_ft_failed(cfg, r)
    text = " ".join(rec.getMessage() for rec in caplog.records)
    assert "FT failed 2.3% of the scored calls" in text and not re.search(r"PGS\d+", text), text
    assert stage.ft_failed_calls_by_score([r])["d"]["PGS000011"] == {"failed": 1234, "scored": 22_000}

    # The outsider is not blind: per-score shares as d0e0953 published them give it the 7
    # persons (4.1..8.3), and a control pair 20 calls apart is not flagged.
    shown = {"d": {"share": 0.0235, "per_score": {"PGS000011": round(1234 / 22_000, 4),
                                                  "PGS000010": round(1227 / 20_000, 4),
                                                  "PGS000012": round(1254 / 22_000, 4)}}}
    read = _call_counts_read_back(shown, {"PGS000011": 22_000, "PGS000010": 20_000, "PGS000012": 22_000})
    assert _small_differences(read, [("PGS000011", "PGS000010")]) == ["PGS000011 - PGS000010: 4.1..8.3"]
    assert _small_differences(read, [("PGS000012", "PGS000010")]) == []


@pytest.mark.parametrize("failed", [[5, 1234], [0, 25]])
def test_the_dataset_share_alone_is_labelled_when_small_and_exact_otherwise(tmp_path, failed):
    """The total of 1..T-1 calls reads as its label; 20 or more as its share, whatever a score's
    own count (5 of one score is in the internal record only)."""
    cfg = case_config(tmp_path, str(tmp_path / "d.vcf"), str(tmp_path / "PGS*.txt"))
    r = _dataset(FtFailedCalls.of(["PGS000010", "PGS000011"], failed, [1, 10], 2000))
    total = sum(failed)
    expected = "<20 calls" if 0 < total < T else round(total / 22_000, 4)
    assert stage.ft_failed_call_shares(cfg, [r]) == {"d": {"share": expected}}


# The run log's and run summary's row counts of tables whose rows are not persons are shown
# plainly (they count models, steps, variants). Two of them told what the export hides: the
# models stage's replication table has one row per significant discovery fit, hidden fits
# included, which the export leaves out (its row exists only because the fit was significant:
# the toy run logged 86 rows and exported 76, so 5 hidden discovery fits were significant); its
# km_curves table has one row per grid day up to the curve set's longest follow-up (36,450 rows:
# 90 curve sets x 3 thirds x 135 days gave one person's follow-up to within 30 days).
def test_the_replication_and_km_row_counts_are_not_logged(caplog):
    """On d0e0953 the summary read ``replication=86, km_curves=36,450`` and the progress lines
    ``wrote replication, 86 rows``; here both say the count is not logged, and the other model
    tables keep theirs."""
    from trd_spark.layout import StageWriter
    from trd_spark.logs import Steps
    from trd_spark.pipeline import summary_table_counts
    from trd_spark.schemas import KM_CURVES, LOGISTIC_RESULTS, REPLICATION

    tables = {"logistic": 360, "replication": 86, "km_curves": 36_450}
    assert summary_table_counts("models", tables, persons_below=T) == (
        "logistic=360, replication=not logged, km_curves=not logged")
    writer = StageWriter(spark=None, fs=None, stage="models", dir="unused", progress=Steps("models", T))
    with caplog.at_level(logging.INFO, logger="trd_spark.models"):
        for schema in (LOGISTIC_RESULTS, REPLICATION, KM_CURVES):
            writer._wrote(schema.name, tables[schema.name], schema)
    lines = [rec.getMessage() for rec in caplog.records]
    # (Read as the run log is read: "one person's" in a reason was a count written as a word.)
    assert not raw_person_counts("\n".join(lines)), lines
    assert len(lines) == 3 and re.fullmatch(r"models: wrote logistic, 360 rows \(\d+\.\d s\)", lines[0]), lines
    assert all("row count not logged" in x and not re.search(r"\d{2}", x.split("(")[0]) for x in lines[1:]), lines

    # Why km_curves' count is not logged: one person followed 400 days longer than everyone else
    # adds 3 x 13 or 14 grid rows (models.km_step_days 30), whatever else the data hold.
    from trd_spark.models.km import km_curves_for_pgs

    rng = np.random.default_rng(7)
    mdd = pd.DataFrame({"pgs": rng.normal(size=60), "t": rng.integers(10, 900, size=60), "e": rng.integers(0, 2, size=60)})
    rows = len(km_curves_for_pgs(mdd, "pgs", duration="t", event="e", step_days=30))
    mdd.loc[mdd["t"].idxmax(), "t"] += 400
    assert len(km_curves_for_pgs(mdd, "pgs", duration="t", event="e", step_days=30)) - rows in (3 * 13, 3 * 14)




# A MatrixTable's columns are its samples: the direct reader's messages about its cols files and
# entry rows gave their number ("part-0: 2,993 columns parsed of 3,000", logged by
# stage._mt_sample_ids; "rows of 2,993 entries, not one per column (3,000)", a task's error), the
# genotyped persons the export may hide. The guard's person words do not know "columns".
def _cols_files(path, ids, counted):
    """A MatrixTable's cols files as Hail 0.2.139 writes them (``mt_entries.file_cols``' layout:
    each column 1, LEB128 length, the ID; 0 after the last; zstd blocks framed as the entry parts
    of tests/test_pgs_mt_entries.py), its metadata counting ``counted`` columns."""
    import gzip

    import pyarrow as pa

    from trd_spark.pgs.mt_entries import _BUFFER, _varint_bytes

    stream = b"".join(b"\x01" + _varint_bytes(len(i)) + i.encode() for i in ids) + b"\x00"
    frame = pa.Codec("zstd").compress(stream, asbytes=True)
    (path / "cols" / "rows" / "parts").mkdir(parents=True)
    (path / "cols" / "rows" / "parts" / "part-0").write_bytes(
        _varint_bytes(len(frame) + 4) + len(stream).to_bytes(4, "little") + frame)
    for name, record in (("cols/metadata.json.gz", {"components": {"partition_counts": {"counts": [counted]}}}),
                         ("cols/rows/metadata.json.gz", {"name": "OrderedRVDSpec2", "_partFiles": ["part-0"], "_codecSpec": {
                             "name": "TypedCodecSpec", "_eType": "+EBaseStruct{s:+EBinary2}", "_bufferSpec": _BUFFER}})):
        with gzip.open(path / name, "wt") as f:
            json.dump(record, f)


def test_the_matrix_table_readers_messages_give_no_sample_count(tmp_path):
    """d0e0953: a cols part holding 4 columns whose metadata counts 5 raised (and
    stage._mt_sample_ids logged) 'part-0: 4 columns parsed of 5, ...'; an entries part of 6-entry
    rows in a MatrixTable of 7 columns raised '...: rows of 6 entries, not one per column (7)'.
    Here: 'fewer columns than its metadata counts', 'rows of fewer entries than the MatrixTable
    has columns'. The same files with the right count read the 4 IDs."""
    import dataclasses

    from test_pgs_mt_entries import WANTED, _entries

    from trd_spark.pgs import mt_entries
    from trd_spark.pgs.native_task import _DOSAGE_OF_PLINK_CODE

    ids = ["1004", "1001", "1003", "1002"]
    _cols_files(tmp_path / "right.mt", ids, 4)
    assert mt_entries.file_cols(str(tmp_path / "right.mt")) == ids
    _cols_files(tmp_path / "wrong.mt", ids, 5)
    with pytest.raises(mt_entries.NotDecodable) as e:
        mt_entries.file_cols(str(tmp_path / "wrong.mt"))
    assert str(e.value) == "part-0: fewer columns than its metadata counts", e.value

    (tmp_path / "entries").mkdir()
    files = _entries(tmp_path / "entries")
    wider = dataclasses.replace(files, n_samples=files.n_samples + 1)
    with pytest.raises(mt_entries.NotDecodable) as e:
        mt_entries.EntriesReader(wider, WANTED, _DOSAGE_OF_PLINK_CODE).read(0, 1, np.empty((1, wider.n_samples)))
    assert str(e.value) == f"{files.layout.parts[0]}: rows of fewer entries than the MatrixTable has columns", e.value
