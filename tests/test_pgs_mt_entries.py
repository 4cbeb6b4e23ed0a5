"""mt_entries' two parses of a MatrixTable entries part file agree (no Spark, no Hail), and the
native pass reads a MatrixTable's entry files as it reads the same calls from a .bed.

The part files here are written by hand in the layout of ``trd_spark.pgs.mt_entries``' module doc
(zstd blocks; per row ``1``, the array length, the element-missing bytes, per element its
field-missing byte and GT); that a Hail-written MatrixTable is in that layout, and that the .bed
equals Hail's writer's, is ``tests/test_pgs_scoring.py``'s. Here: every row at once
(``_bed_rows_widened``) takes a part of one-byte calls and gives the same bytes as the hand
encoding, and hands a part it cannot read exactly (a call of two bytes whose second byte is 1,
which keeps the widened rows' width; a filtered entry) to the row-by-row parse, which refuses it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trd_spark.pgs.mt_entries import (
    EntriesFiles,
    EntriesLayout,
    EntriesReader,
    NotDecodable,
    _bed_rows_widened,
    _decompress,
    _varint_bytes,
    bed_rows,
)

# Hail's call ints: unphased diploid 0/0, 0/1, 1/1, 1/2; phased 0|1; a missing GT is None.
HOM_REF, HET, HOM_ALT, HET_1_2, PHASED_0_1 = 4, 12, 20, 36, 13
PLINK = {HOM_REF: 0b11, HET: 0b10, HOM_ALT: 0b00, None: 0b01}


def _part(tmp_path, rows, *, optional_elements=True, filtered=(), block=7, name="part-0"):
    """A part file of ``rows`` (lists of call ints or None) in zstd blocks of ``block`` bytes;
    ``filtered``: (row, element) whose element-missing bit is set (its field-missing byte left out)."""
    import pyarrow as pa

    stream = bytearray()
    for r, calls in enumerate(rows):
        n = len(calls)
        bits = bytearray((n + 7) // 8 if optional_elements else 0)
        for rr, e in filtered:
            if rr == r:
                bits[e // 8] |= 1 << (e % 8)
        stream += b"\x01" + _varint_bytes(n) + bits
        for e, call in enumerate(calls):
            if (r, e) in filtered:
                continue
            stream += b"\x01" if call is None else b"\x00" + _varint_bytes(call)
    stream += b"\x00"
    codec = pa.Codec("zstd")
    raw = bytearray()
    for at in range(0, len(stream), block):
        piece = bytes(stream[at:at + block])
        frame = codec.compress(piece, asbytes=True)
        raw += _varint_bytes(len(frame) + 4) + len(piece).to_bytes(4, "little") + frame
    path = tmp_path / name
    path.write_bytes(bytes(raw))
    return str(path)


def _bed(rows, keep):
    """The hand encoding: PLINK 1 codes (A1 = alt) 4 a byte, first sample in the low bits."""
    out = bytearray()
    for r in keep:
        codes = [PLINK[c] for c in rows[r]] + [0] * (-len(rows[r]) % 4)
        out += bytes(sum(codes[i + j] << (2 * j) for j in range(4)) for i in range(0, len(codes), 4))
    return bytes(out)


@pytest.mark.parametrize("n", [5, 128], ids=["5_samples", "128_samples_length_byte_0x01"])
@pytest.mark.parametrize("optional_elements", [True, False], ids=["optional", "required"])
def test_every_row_at_once_reads_one_byte_calls_as_the_hand_encoding(tmp_path, n, optional_elements):
    rng = np.random.default_rng(n)
    rows = [[[HOM_REF, HET, HOM_ALT, None][k] for k in rng.integers(0, 4, n)] for _ in range(4)]
    rows[1][0] = HET_1_2  # a multi-allelic row's call in a row not written
    rows[3] = [None] * n
    part = _part(tmp_path, rows, optional_elements=optional_elements)
    data = _decompress(open(part, "rb").read())
    keep = np.array([0, 2, 3])
    assert _bed_rows_widened(data, keep, 4, optional_elements) == _bed(rows, keep)
    assert bed_rows(part, keep, 4, optional_elements) == _bed(rows, keep)
    with pytest.raises(NotDecodable, match="a call other than unphased diploid"):
        bed_rows(part, np.array([1]), 4, optional_elements)


@pytest.mark.parametrize(("case", "message"), [
    ("two_byte_call", "a call of two bytes or more"),  # 129 = 0x81 0x01: widened, 0x81 0x00 0x01
    ("filtered_entry", "a missing entry"),
    ("phased", "a call other than unphased diploid"),
    ("row_count", r"\d rows parsed of 4"),
])
def test_a_part_not_read_exactly_at_once_is_refused_row_by_row(tmp_path, case, message):
    rows = [[HOM_REF, HET, None, HOM_ALT, HET] for _ in range(3)]
    filtered: tuple[tuple[int, int], ...] = ()
    n_rows = 3
    if case == "two_byte_call":
        rows[1][2] = 129
    elif case == "filtered_entry":
        filtered = ((1, 3),)
    elif case == "phased":
        rows[2][1] = PHASED_0_1
    else:
        n_rows = 4
    part = _part(tmp_path, rows, filtered=filtered)
    data = _decompress(open(part, "rb").read())
    keep = np.array([0, 2])
    if case == "phased":
        with pytest.raises(NotDecodable, match=message):
            _bed_rows_widened(data, keep, n_rows, True)
    else:
        assert _bed_rows_widened(data, keep, n_rows, True) is None
    with pytest.raises(NotDecodable, match=f"^{part}: {message}"):
        bed_rows(part, keep, n_rows, True)


# Alt dosages of Hail's calls (pgenlib's -9 for a missing call), the hand reading of the reader's output.
DOSAGE = {HOM_REF: 0.0, HET: 1.0, HOM_ALT: 2.0, None: -9.0}
# Two entries part files of 6 samples: rows 0-3 and 4-6 of the MatrixTable; row 1 a multi-allelic
# row's (its 1/2 call, never wanted); missing calls here and there.
PART_ROWS = ([[HOM_REF, HET, HOM_ALT, None, HET, HOM_REF], [HET_1_2, HET, HOM_REF, HOM_REF, None, HET],
              [HOM_ALT, HOM_ALT, HET, HOM_REF, HOM_REF, None], [HET, HET, HET, HOM_ALT, HOM_REF, HOM_REF]],
             [[None, None, HOM_REF, HET, HOM_ALT, HOM_ALT], [HOM_REF, HOM_REF, HOM_REF, HOM_REF, HET, HET],
              [HOM_ALT, HET, None, HOM_REF, HET, HOM_ALT]])
WANTED = np.array([0, 2, 3, 4, 6])  # global row numbers: both parts, row 1 and row 5 left out


def _entries(tmp_path, part_rows=PART_ROWS, **part):
    paths = tuple(_part(tmp_path, rows, name=f"part-{i}", **part) for i, rows in enumerate(part_rows))
    return EntriesFiles(str(tmp_path), EntriesLayout(paths, tuple(len(r) for r in part_rows), True),
                        len(part_rows[0][0]))


def test_entries_reader_gives_the_wanted_rows_alt_dosages_part_by_part(tmp_path):
    """``EntriesReader`` (the native pass's reader of a MatrixTable's entry files) gives each wanted
    row's calls as the values of their PLINK codes (here pgen_engine's alt dosages), read in
    pieces that cross the part boundary; a wanted phased call is refused (NotDecodable naming the
    part file), an unwanted 1/2 call is not; a part the at-once parse cannot read is refused by
    the row-by-row parse with its message; task bounds move to the parts' first wanted rows."""
    from trd_spark.pgs.native_task import _DOSAGE_OF_PLINK_CODE

    files = _entries(tmp_path)
    every = [row for rows in PART_ROWS for row in rows]
    want = np.array([[DOSAGE[c] for c in every[r]] for r in WANTED])
    reader = EntriesReader(files, WANTED, _DOSAGE_OF_PLINK_CODE)
    out = np.full((3, 6), np.nan)
    got = np.concatenate([reader.read(0, 2, out).copy(), reader.read(2, 5, out).copy()])
    np.testing.assert_array_equal(got, want)

    phased = [[list(r) for r in rows] for rows in PART_ROWS]
    phased[1][2][0] = PHASED_0_1
    (tmp_path / "phased").mkdir()
    files = _entries(tmp_path / "phased", phased)
    EntriesReader(files, WANTED[:4], _DOSAGE_OF_PLINK_CODE).read(0, 4, np.empty((4, 6)))  # row 6 not wanted
    with pytest.raises(NotDecodable, match=f"^{files.layout.parts[1]}: a call other than unphased diploid"):
        EntriesReader(files, WANTED, _DOSAGE_OF_PLINK_CODE).read(0, 5, np.empty((5, 6)))
    (tmp_path / "filtered").mkdir()
    files = _entries(tmp_path / "filtered", filtered=((1, 4),))  # in rows 1 and 5: wanted parts, unwanted rows
    reader = EntriesReader(files, WANTED, _DOSAGE_OF_PLINK_CODE)
    np.testing.assert_array_equal(reader.read(0, 1, np.empty((1, 6))), want[:1])  # row 1 not reached yet
    with pytest.raises(NotDecodable, match=f"^{files.layout.parts[0]}: a missing entry"):
        reader.read(1, 2, np.empty((1, 6)))  # row 2: the read passes row 1
    # An unwanted row after a part's last wanted row: refused by the read of that last wanted row.
    (tmp_path / "tail").mkdir()
    parts = (_part(tmp_path / "tail", PART_ROWS[0], name="part-0"),
             _part(tmp_path / "tail", PART_ROWS[1], filtered=((2, 4),), name="part-1"))
    files = EntriesFiles(str(tmp_path / "tail"), EntriesLayout(parts, (4, 3), True), 6)
    reader = EntriesReader(files, WANTED[:4], _DOSAGE_OF_PLINK_CODE)
    np.testing.assert_array_equal(reader.read(0, 3, np.empty((3, 6))), want[:3])
    with pytest.raises(NotDecodable, match=f"^{parts[1]}: a missing entry"):
        reader.read(3, 4, np.empty((1, 6)))  # row 4: part 1's last wanted row; its row 6 then checked

    assert files.at_part_starts([0, 1, 4, 5], WANTED) == [0, 3, 5]  # 1 -> 0, 4 -> 3 (row 4, part 1's first)
    assert files.at_part_starts([0, 5], WANTED) == [0, 5]


def test_task_bounds_stay_inside_a_part_when_moving_them_unbalances_the_tasks_more(tmp_path):
    """Session 36 flatmt: 15 parts over 2 tasks (the benchmark's 20k samples x 50k rows) were
    cut at a part start, 7 and 8 parts, the job as long as the 8-part task (23,336 / 26,664
    rows). A bound now stays inside its part when the rows it would move by exceed half the
    part's rows either task decodes besides its own (``mt_entries._DECODE_SHARE``); at a part
    start, or near one, it still moves. Tasks cut inside a part read, between them, what one
    task reads (the task after the bound decodes the part from its start, the one before checks
    it to its end)."""
    from trd_spark.pgs.native_task import _DOSAGE_OF_PLINK_CODE

    def files_of(counts):
        return EntriesFiles("mt", EntriesLayout(tuple(f"p{i}" for i in range(len(counts))), tuple(counts), True), 6)

    every = np.arange(50_000)
    assert files_of([3334] * 5 + [3333] * 10).at_part_starts([0, 25_000, 50_000], every) == [0, 25_000, 50_000]
    assert files_of([6250] * 8).at_part_starts([0, 25_000, 50_000], every) == [0, 25_000, 50_000]
    # near a part start (moved by 100 rows, against ~1,600 decoded twice): moved, as before
    assert files_of([3334] * 5 + [3333] * 10).at_part_starts([0, 23_436, 50_000], every) == [0, 23_336, 50_000]
    # parts larger than the tasks: 4000 stays (moving 4000 rows, against 3000 of 6000 decoded twice),
    # 8000 and 12000 move to 10000 (2000 rows, against 4000 of 8000): those two meet, one task fewer
    assert files_of([10_000] * 3).at_part_starts([0, 4000, 8000, 12_000, 30_000], np.arange(30_000)) \
        == [0, 4000, 10_000, 30_000]

    clean = [[[HET if c == HET_1_2 else c for c in r] for r in part] for part in PART_ROWS]
    files = _entries(tmp_path, clean)
    rows = np.arange(7)
    assert files.at_part_starts([0, 2, 7], rows) == [0, 2, 7]  # part 0 is rows 0-3: cut at its row 2
    want = np.array([[DOSAGE[c] for c in r] for part in clean for r in part])
    for cut in (1, 2, 3, 5):
        before = EntriesReader(files, rows[:cut], _DOSAGE_OF_PLINK_CODE).read(0, cut, np.empty((cut, 6))).copy()
        after = EntriesReader(files, rows[cut:], _DOSAGE_OF_PLINK_CODE).read(0, 7 - cut, np.empty((7 - cut, 6)))
        np.testing.assert_array_equal(np.concatenate([before, after]), want)


@pytest.mark.parametrize("n", [1, 5, 128], ids=["length_byte_0x01", "5_samples", "length_bytes_0x80_0x01"])
@pytest.mark.parametrize("step_bytes", [1, 2**19], ids=["one_row_a_step", "default_step"])
def test_a_part_streamed_a_few_rows_at_a_time_reads_as_the_whole_part_widened(tmp_path, n, step_bytes, monkeypatch):
    """The reader's parse (``_PartStream``: each zstd frame decompressed and widened when the rows
    reach it, into one buffer the reader keeps for its next part, every step of rows checked as
    ``_calls_of_widened`` checks a whole part, the first row's array length read from the widened
    bytes) gives the calls the whole part decompressed and then widened gives (``_widened_calls``),
    with frames of 7 bytes that cut rows, entries and the array length, one row a step or the
    default step; a later part reuses the buffer; a part of missing calls alone reads the same;
    a part with a row fewer than its count, or whose last row holds a filtered entry and a
    two-byte call (the same width), is refused (``finish``: row by row then)."""
    from trd_spark.pgs import mt_entries

    monkeypatch.setattr(mt_entries, "_STREAM_STEP_BYTES", step_bytes)
    rng = np.random.default_rng(n)
    big = [[[HOM_REF, HET, HOM_ALT, None][k] for k in rng.integers(0, 4, n)] for _ in range(9)]
    missing = big[:2] + [[None] * n for _ in range(60)]
    held: list[np.ndarray] = []

    def streamed(raw, n_rows, stops):
        stream = mt_entries._PartStream(raw, n_rows, True, held)
        assert stream.start() and stream.n == n
        got = []
        for stop in stops:
            calls = stream.advance(stop)
            assert calls is not None
            got.append(calls.copy())  # each view valid until the next call
        return np.concatenate(got), stream.finish()

    for name, rows in (("big", big), ("small", big[:2]), ("bigger", big * 3), ("missing", missing)):
        raw = open(_part(tmp_path, rows, name=name), "rb").read()
        whole = mt_entries._widened_calls(_decompress(raw), len(rows), True)
        assert whole is not None
        for stops in ([len(rows)], list(range(1, len(rows) + 1)), [1, len(rows) // 2]):
            got, finished = streamed(raw, len(rows), stops)
            np.testing.assert_array_equal(got, whole[:stops[-1]], err_msg=f"{name} {stops}")
            assert finished, name  # the rest read and checked, the end byte found
        assert len(held) == 1
        _, finished = streamed(raw, len(rows) + 1, [1])
        assert not finished  # a row fewer than counted
    kept = held[0]
    streamed(open(_part(tmp_path, big[:2], name="again"), "rb").read(), 2, [2])
    assert held[0] is kept  # reused
    if n > 1:  # the last row the same width (a two-byte call, +2 widened bytes; a filtered entry, -2)
        last = [list(r) for r in big]
        last[8][0] = 129
        raw = open(_part(tmp_path, last, filtered=((8, 1),), name="filtered_last_row"), "rb").read()
        assert mt_entries._PartStream(raw, len(big), True, held).start()
        stream = mt_entries._PartStream(raw, len(big), True, held)
        stream.start()
        assert stream.advance(8) is not None and stream.advance(9) is None


def test_the_reader_holds_a_few_rows_of_a_part_not_the_part(tmp_path, monkeypatch):
    """``EntriesReader`` reads a part forward a few rows at a time (``_PartStream``): while it reads
    every row of a part of 400 rows x 500 samples (its widened stream 400 KB) a step of ~8 rows
    at a time (``_STREAM_STEP_BYTES`` 8 KiB here), the memory it holds at its peak (numpy's and
    Python's allocations, tracemalloc), its file's bytes aside, is well below the part's widened
    stream (on f7d6547 the
    whole part was widened into one buffer of ~1.4x that: ~126 MB per part, 2 bytes per entry,
    at the benchmark's sizes); the same dosages as the part read at the default step."""
    import os
    import tracemalloc

    from trd_spark.pgs import mt_entries
    from trd_spark.pgs.native_task import _DOSAGE_OF_PLINK_CODE

    rng = np.random.default_rng(7)
    rows = [[[HOM_REF, HET, HOM_ALT, None][k] for k in rng.integers(0, 4, 500)] for _ in range(400)]
    part = _part(tmp_path, rows, block=4096)
    files = EntriesFiles(str(tmp_path), EntriesLayout((part,), (400,), True), 500)
    wanted = np.arange(0, 400, 3)
    expected = np.array([[DOSAGE[c] for c in rows[r]] for r in wanted])
    widened = 400 * (2 + 2 + (500 + 7) // 8 + 2 * 500)
    monkeypatch.setattr(mt_entries, "_STREAM_STEP_BYTES", 8192)
    out = np.empty((len(wanted), 500))
    tracemalloc.start()
    try:
        reader = EntriesReader(files, wanted, _DOSAGE_OF_PLINK_CODE)
        for lo in range(0, len(wanted), 10):  # (into ``out``, made before: not counted)
            reader.read(lo, min(lo + 10, len(wanted)), out[lo:])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(out, expected)
    raw = os.path.getsize(part)  # the part file's bytes, read whole (compressed: ~93 KB of random calls here)
    assert peak - raw < widened / 4, (peak, raw, widened)


def test_native_pass_over_entry_files_equals_the_pass_over_their_bed(hl, spark, tmp_path, caplog):
    """``pgen_engine.score`` over a MatrixTable's entry files (``EntriesFiles``: one Spark job, no
    file written) gives the sums, counts and missing-call corrections of the same pass over
    the .bed those calls make (pgenlib's reading, whose equality with Hail's pass and plink2
    tests/test_pgs_native_engine.py checks; the reader is the same for ``zero``); a task that meets a
    wanted call the reader refuses makes ``engine._score_entries`` return None after one INFO
    line (the route then exports the calls with Hail) instead of failing the run."""
    import logging

    from trd_spark.config import GenotypeSource, NativeEngineSettings
    from trd_spark.pgs import engine
    from trd_spark.pgs.matching import WeightMatrices
    from trd_spark.pgs.pgen_engine import PlinkFiles, score

    files = _entries(tmp_path)
    every = [row for rows in PART_ROWS for row in rows]
    prefix = tmp_path / "calls"
    prefix.with_suffix(".bed").write_bytes(b"\x6c\x1b\x01" + _bed(every, WANTED))
    prefix.with_suffix(".bim").write_text("".join(f"1\tv{r}\t0\t{100 * (r + 1)}\tC\tA\n" for r in WANTED))
    samples = [str(101 + j) for j in range(6)]
    prefix.with_suffix(".fam").write_text("".join(f"0\t{s}\t0\t0\t0\t-9\n" for s in samples))
    rng = np.random.default_rng(3)
    m, k = len(WANTED), 2
    rows = pd.DataFrame({"contig": "chr1", "position": 100 * (WANTED + 1), "ref": "A", "alt": "C",
                         "allele_idx": np.int32(1)})
    weights = {"slope": rng.normal(size=(m, k)), "offsets": rng.normal(size=(m, k)),
               "n_vars": np.ones((m, k), np.int32)}
    # Tasks of ~12 entries: 4 tasks over the .bed, 2 over the entry files (one per part).
    settings = NativeEngineSettings(task_entries=12)
    got = [score(spark, hl, f, "GRCh38", WeightMatrices(rows.assign(variant_idx=idx), **weights), samples,
                 ["PGS1", "PGS2"], [m, m], missing_genotypes="mean_impute", settings=settings).columns()
           for f, idx in ((files, WANTED), (PlinkFiles("plink", str(prefix)), np.arange(m)))]
    np.testing.assert_allclose(got[0]["score_sum"], got[1]["score_sum"], rtol=0, atol=1e-12)
    for name in ("s", "pgs_id", "allele_count", "n_missing", "n_matched"):
        np.testing.assert_array_equal(got[0][name], got[1][name], err_msg=name)
    assert got[0]["n_missing"].sum() == 2 * 5  # the wanted rows' 5 missing calls, both scores

    phased = [[list(r) for r in rows] for rows in PART_ROWS]
    phased[0][3][5] = PHASED_0_1
    (tmp_path / "phased").mkdir()
    refused = _entries(tmp_path / "phased", phased)
    source = GenotypeSource(format="mt", path=str(tmp_path / "phased"))
    with caplog.at_level(logging.INFO, logger="trd_spark.pgs.engine"):
        assert engine._score_entries(hl, source, refused, WeightMatrices(rows.assign(file_row=WANTED), **weights),
                                     samples, ["PGS1", "PGS2"], [m, m], missing_genotypes="mean_impute",
                                     settings=settings) is None
    assert "a call the direct reader does not read (" in caplog.text
    assert f"{refused.layout.parts[0]}: a call other than unphased diploid" in caplog.text


def _warm_up_config(tmp_path, *genotypes: str):
    """A loaded config (``tmp_path``/c.yaml) of datasets d0 (discovery), d1 ... (replication)
    with the ``genotypes`` mappings given (inner YAML, e.g. ``format: mt, path: ...``): the
    native warm-up's subject; scores, OMOP and ancestry are named under ``tmp_path``, not read."""
    from pathlib import Path

    from trd_spark.config import load_config

    conf = Path(__file__).resolve().parent.parent / "conf"
    (tmp_path / "c.yaml").write_text(f"""release: t1
output_root: {tmp_path}/out
datasets:
{"".join(f"  - {{name: d{i}, role: {'replication' if i else 'discovery'}, genotypes: {{{g}}}}}{chr(10)}"
          for i, g in enumerate(genotypes))}
ancestry: {{path: {tmp_path}/ancestry.tsv}}
pgs: {{scoring_files: ["{tmp_path}/scores/*.txt"], trait_panel: {conf}/trait_panel_toy.yaml}}
omop: {{path: {tmp_path}/omop, data_cutoff_date: 2023-07-01}}
phenotypes:
  concept_sets: {conf}/concept_sets.yaml
  primary_definition: ad3
  trd_definitions: [{{name: ad3, rule: antidepressant_sequence, n_trials: 3}}]
""")
    return load_config(tmp_path / "c.yaml")


@pytest.mark.parametrize(("genotypes", "warmed"), [
    ("format: mt", "done (Python workers only)"),  # scored from its entry files: no Hail job after the match
    ("format: mt, dosage_field: DS", None),  # Hail's pass: no Python worker
    ("format: vcf", None),  # exported by Hail first: warmed workers would die during a long export
], ids=["mt", "mt_dosages", "vcf"])
def test_stage_warms_the_native_pass_workers_beside_a_matrix_tables_match(hl, spark, tmp_path, caplog, genotypes,
                                                                            warmed):
    """``stage.native_warm_up`` starts the native pass's Python workers (``pgen_engine.warm_workers``:
    a Spark job, no Hail, no Spark SQL) while the driver matches a local MatrixTable read as it
    is, whose calls the pass reads from its entry files right after the match (on base no dataset
    but bed/pgen/BGEN was warmed, and the pass started its workers itself: benchmarks/RESULTS.md
    session 29). A VCF (exported by Hail between the
    match and the pass) and a MatrixTable's dosages (Hail's pass) get no warm-up."""
    import logging

    from trd_spark.pgs import stage

    cfg = _warm_up_config(tmp_path, f"{genotypes}, path: {tmp_path}/a")
    with caplog.at_level(logging.INFO, logger="trd_spark.pgs.stage"):
        with stage.native_warm_up(hl, spark, cfg):
            pass  # the match (beside the stage's real one: the MatrixTable field cases, e.g. round 11's)
    if warmed is None:
        assert "warm-up" not in caplog.text
    else:
        assert f"native pass warm-up {warmed} (waited" in caplog.text, caplog.text
