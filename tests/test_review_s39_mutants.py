"""Mutation review of session 39's code (session 40, helper "mutants").

Each test kills a mutant of ed30e03..958d6e4 that the tests of session 39 let pass (the mutant
named in each docstring; the list of mutants tried, killed and equivalent is in the commit
message). Cheap: no Spark or Hail session, tiny inputs.
"""

from __future__ import annotations

import logging

import pytest

from trd_spark.errors import InputDataError

T = 20


def test_a_record_gate_of_shown_parts_errs_on_the_least_share_its_lines_leave(caplog):
    """``check_gate``'s ``shown_range`` lowers the share its error decides on to the least the
    lines leave (condition's 100 exact, drug's ``<20``: 101..119 of 10,000). An error level of
    1.1% met by the exact 115 (drug's 15) but not by 101 is no error, for 5 and 15 alike: a run
    stopped for 15 and not for 5 told which the ``<20`` was. Mutant: the range's least not taken
    (``lowest`` the exact share's): 15 stopped the run."""
    from test_phenotypes_support import toy_config
    from test_privacy_s37 import _followup, _quirks

    from trd_spark.config import GateThreshold
    from trd_spark.phenotypes.stage import data_gates

    cfg = toy_config()
    gates = cfg.phenotypes.gates.model_copy(update={"records_before_birth": GateThreshold(warn=0.005, error=0.011)})
    cfg = cfg.model_copy(update={"phenotypes": cfg.phenotypes.model_copy(update={"gates": gates})})
    for x in (5, 15):
        dates = {"condition": _followup(6000, n_before_birth_year=100), "drug": _followup(4000, n_before_birth_year=x)}
        with caplog.at_level(logging.WARNING, logger="trd_spark"):
            assert data_gates(cfg, dates, _quirks(10000))["records_before_birth"]["level"] == "warning"
    # The lines' least share at the error level: the run stops, for every count its labels stand for.
    dates = {"condition": _followup(6000, n_before_birth_year=110), "drug": _followup(4000, n_before_birth_year=5)}
    with pytest.raises(InputDataError, match="records_before_birth"):
        data_gates(cfg, dates, _quirks(10000))


def test_the_censored_after_the_curves_of_thirds_ending_apart_are_a_cell_too():
    """``km_cells``: the thirds' censored after their last points, together, are a cell
    (``km_censored_after_end``, their sum, linked to each third's by a relation) as their onsets
    are (``km_events_after_end``): the Cox model's persons less its events less the censored read
    from the curves give it, whatever day each third stops. Mutant: only the events' sum made
    (``for kind in ("events_after_end",)``): no such cell, nothing for the audit to protect."""
    from test_privacy_s39 import _thirds_ending_apart

    from trd_spark.report.tables import km_cells

    values, published, relations, units = km_cells(_thirds_ending_apart())
    for kind in ("events_after_end", "censored_after_end"):
        together = (f"km_{kind}", "d", "A", "P")
        tails = [c for c in values if c[0] == "km" and c[-1] == kind]
        assert len(tails) == 3 and together in values, sorted(values, key=str)
        assert values[together] == sum(values[c] for c in tails)
        assert {together: -1, **{c: 1 for c in tails}} in relations
    # each third: 30 censored on day 200, after its last point
    assert values[("km_censored_after_end", "d", "A", "P")] == 90


# Java's ZonedDateTime.toString() of a UTC instant: the zone id after a Z, not after an offset; a
# UTC named in mixed case.
ZONE_AFTER_Z = [("2019-01-10T03:00Z[UTC]", "2019-01-09"), ("2019-01-10T05:00:00Z[Etc/UTC]", "2019-01-10"),
                ("2019-01-10T03:00:00 Utc", "2019-01-09"), ("2019-01-10T03:00:00Gmt", "2019-01-09"),
                ("2019-01-10T03:00:00 Z", "2019-01-09")]


def test_a_java_zone_after_z_dates_alike_in_chain_and_twin(spark):
    """'...Z[UTC]' (``ZonedDateTime.toString()`` in UTC) read with omop.time_zone America/New_York:
    the New York date of the instant (03:00Z is 22:00 the day before), by the chain's
    ``to_omop_date`` and the twin's ``_as_date``. Mutant: the zone suffix stripped after a digit
    only (``([0-9])\\[...\\]$``): the chain could not read it (null, "not dates"). 'Utc' / 'Gmt'
    likewise: mutant, the utc/gmt rule case-sensitive (no ``(?i)``). ' Z' (a blank before an
    upper-case Z): mutant, the twin's blank removed before an offset only (``\\s+([+-][0-9])``)."""
    import datetime as dt

    from test_field_cases_round31_omop import dates_by_chain_and_twin

    expected = sorted((v, dt.date.fromisoformat(d)) for v, d in ZONE_AFTER_Z)
    chain, twin = dates_by_chain_and_twin(spark, [v for v, _ in ZONE_AFTER_Z], "America/New_York")
    assert chain == expected
    assert twin == expected


def test_a_by_name_module_with_top_level_code_stays_whole_when_only_run_control_is_taken(tmp_path, monkeypatch):
    """``code_digests``: a ``BY_NAME`` module of which a stage takes only a run-control name is
    left out only while it holds nothing but definitions; one that runs code at import (a print, a
    registry filled) is digested whole, as a run-control module listed whole is. Mutant: the
    ``_definitions`` check dropped (``if not kept and taken[shared]:``): an edit of that top-level
    code reran nothing."""
    from temp_package import temp_package

    from trd_spark.provenance import code_digests

    shared = "def ctl():\n    return 1\n\n\nprint(ctl())\n"
    files = {"__init__.py": "", "shared.py": shared, "only.py": "from mut39_pkg.shared import ctl\n"}

    def digests() -> dict[str, str]:
        code_digests.cache_clear()
        return code_digests("mut39_pkg.only", package="mut39_pkg", by_name=("mut39_pkg.shared",),
                            run_control=("mut39_pkg.shared:ctl",))

    with temp_package(tmp_path, monkeypatch, "mut39_pkg", files) as root:
        before = digests()
        assert "mut39_pkg.shared" in before, before
        (root / "shared.py").write_text(shared.replace("print(ctl())", "print(ctl() + 1)"))
        assert digests()["mut39_pkg.shared"] != before["mut39_pkg.shared"]


def test_a_stage_published_before_run_control_was_left_out_is_not_rerun_for_it(tmp_path):
    """``stages.rerun_reasons`` compares the manifest's code through ``provenance.recorded_code``:
    a stage whose manifest (written before session 39) holds ``trd_spark.releases`` and
    ``trd_spark.pgs.scratch``, which today's digests leave out, is up to date; a changed module is
    still a code change. Mutant: the manifest's code compared as recorded (``old["code"]``): every
    stage of every release reran once for the listing itself ("code changed: trd_spark.releases")."""
    import json

    from test_phenotypes_support import toy_config

    from trd_spark.layout import Layout
    from trd_spark.releases import LocalFs
    from trd_spark.stages import STAGE_SPECS, fingerprint_parts, rerun_reasons

    cfg = toy_config()
    cfg = cfg.model_copy(update={"output_root": str(tmp_path / "out"), "release": "r1"})
    spec, fs = STAGE_SPECS["pgs"], LocalFs()
    parts = fingerprint_parts(cfg, spec, fs)
    assert "trd_spark.releases" not in parts["code"] and "trd_spark.pgs.scratch" not in parts["code"]
    folder = Layout.of(cfg).stage_dir("pgs")

    def published(code: dict[str, str]) -> list[str]:
        import os

        os.makedirs(folder, exist_ok=True)
        with open(f"{folder}/_manifest.json", "w") as f:
            json.dump({"fingerprint_parts": {**parts, "code": code}}, f)
        open(f"{folder}/_SUCCESS", "w").close()
        return rerun_reasons(cfg, spec, fs)

    old = {**parts["code"], "trd_spark.releases": "0" * 16, "trd_spark.pgs.scratch": "1" * 16}
    assert published(old) == []
    assert published({**old, "trd_spark.pgs.stage": "2" * 16}) == ["code changed: trd_spark.pgs.stage"]


def _split_rows():
    """Six weighted rows: a three-alt site given split (rows 0-2), a biallelic site, a two-alt site
    given split (rows 4-5)."""
    import pandas as pd

    return pd.DataFrame({"contig": ["chr1"] * 6, "position": [100, 100, 100, 200, 300, 300],
                         "ref": ["A", "A", "A", "C", "G", "G"], "alt": ["G", "C", "T", "T", "A", "C"]})


def test_split_site_sums_groups_every_site_of_two_alts_or_more_with_a_slack_per_row():
    """``pgen_engine.split_site_sums``: each site given split (two alts or more at one position and
    REF) is a group, its limit 2 + ``DOSAGE_SUM_SLACK`` per row (a rounded dosage per row), its
    name 'chr1:100 A>G,C,T'; a task bound inside a site's rows moves past its last row. Mutants: the
    limit's slack once per site (2.01 for three rows of two-decimal dosages); sites of three alts
    or more only (``nunique() > 2``: the two-alt site unchecked)."""
    import numpy as np

    from trd_spark.pgs.genotypes import DOSAGE_SUM_SLACK
    from trd_spark.pgs.pgen_engine import split_site_sums

    arrays, bounds = split_site_sums(_split_rows(), None, [0, 1, 4, 5, 6])
    assert arrays["sum_group"].tolist() == [0, 0, 0, -1, 1, 1]
    assert arrays["sum_limit"].tolist() == [2.0 + 3 * DOSAGE_SUM_SLACK, 2.0 + 2 * DOSAGE_SUM_SLACK]
    assert list(arrays["sum_site"]) == ["chr1:100 A>G,C,T", "chr1:300 G>A,C"]
    assert bounds == [0, 3, 4, 6]
    # in another (file) order: groups follow the rows as placed
    arrays, _ = split_site_sums(_split_rows(), np.array([3, 4, 5, 0, 1, 2]), [0, 6])
    assert arrays["sum_group"].tolist() == [-1, 0, 0, 1, 1, 1]


def _split_check(rows, lo_blocks):
    """``native_task._SplitSiteCheck`` over ``_split_rows``' sites (``split_site_sums``' arrays),
    fed the blocks ``lo_blocks`` ([(lo, dose, mis_r, mis_j)])."""
    from types import SimpleNamespace
    from typing import Any, cast

    from trd_spark.pgs.native_task import _SplitSiteCheck
    from trd_spark.pgs.pgen_engine import split_site_sums

    arrays, _ = split_site_sums(rows, None, [0, len(rows)])
    # (the task's sum_* arrays, its chrY rows and males (none here: Task's defaults) and the
    # files' path are all the check reads)
    task = SimpleNamespace(**{"sum_flip": None, "y_rows": None, "male": None, **arrays})
    check = _SplitSiteCheck(cast(Any, task), cast(Any, SimpleNamespace(matrix="/data/x.bgen")))
    for lo, dose, mis_r, mis_j in lo_blocks:
        check.add(lo, dose, mis_r, mis_j)


def test_a_split_site_across_blocks_is_checked_on_all_its_rows_and_missing_calls_add_nothing():
    """``_SplitSiteCheck``: a site whose rows lie in two blocks (rows 0-1, then 2) is summed over
    all three (1.0 + 0.5 + 1.0 = 2.5 alt copies: the error); a missing call, filled with its row's
    mean before the check, adds no copies (1.0 + filled 1.5 is no error). Mutants: a site closed
    at the block ending just before its last row (``<=``: 1.5 and 1.0 checked apart, nothing
    raised); the filled missing call counted (2.5: an error for a valid sample)."""
    import numpy as np

    none = np.array([], dtype=np.int64)
    first = np.array([[1.0, 0.0], [0.5, 0.0]])
    rest = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    with pytest.raises(InputDataError, match=r"x\.bgen: the BGEN .* give 2\.5000 alt copies in all at "
                                             r"chr1:100 A>G,C,T \(1\.000,0\.500,1\.000\)"):
        _split_check(_split_rows(), [(0, first, none, none), (2, rest, none, none)])
    # sample 1's row 1 missing, filled with 1.5: row 0's 1.0 and nothing else of it
    dose = np.array([[0.0, 1.0], [0.0, 1.5], [0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    _split_check(_split_rows(), [(0, dose, np.array([1]), np.array([1]))])


def test_a_lock_removed_between_its_read_and_its_mtime_is_not_stale(tmp_path):
    """``releases.lock_is_stale``: another host's lock read, then removed by its run ending before
    its modification time is asked, is not stale (nothing to take over: ``create_new`` decides).
    Mutant: the failed ``mtime`` judged stale (``return True``): a takeover of a lock nobody holds,
    with its WARNING."""
    import json
    import os
    import time

    from trd_spark.releases import LocalFs, lock_is_stale

    class RemovedAfterRead(LocalFs):
        """The lock's run ends (removes it) right after this run has read it."""

        def read_text(self, path):
            text = super().read_text(path)
            (tmp_path / ".lock").unlink()
            return text

    lock = tmp_path / ".lock"
    lock.write_text(json.dumps({"host": "another-host.example", "pid": 1, "started": time.time() - 7 * 86400}))
    assert lock_is_stale(RemovedAfterRead(), str(lock), 1.0) is False
    lock.write_text(json.dumps({"host": "another-host.example", "pid": 1, "started": time.time()}))
    old = time.time() - 7200
    os.utime(lock, (old, old))
    assert lock_is_stale(LocalFs(), str(lock), 1.0) is True  # (the same lock left in place: stale)


_VCF = """##fileformat=VCFv4.2
##contig=<ID=chr4,length=190214555>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=DS,Number=A,Type=Float,Description="Estimated alternate allele dosage">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001
chr4\t1000000\t.\tA\tG,C\t.\tPASS\t.\tGT:DS\t1/2:{ds}
"""


def test_a_multiallelic_records_dosages_above_two_by_the_slack_per_alt_or_more(hl, tmp_path):
    """``genotypes.to_biallelic_dosage`` (``dosage_field``): alt dosages summing to 2.015 at a
    two-alt record (within 2 + ``DOSAGE_SUM_SLACK`` x 2 alts: rounding) are scored as given (not
    rescaled since 2ef92f4, as the native engine sums a split site's rows); 2.03 (over it) is the
    error naming field, site and sum. Mutants (of 2ef92f4's rule, the same as 958d6e4's): the slack
    once per record (2.015 an error), a slack of 0.1 (2.03 scored), the record's largest dosage
    checked instead of their sum (2.03 scored)."""
    from trd_spark.pgs.genotypes import contig_recoding, to_biallelic_dosage

    def dosages(ds: str) -> list[float]:
        vcf = tmp_path / f"{ds}.vcf"
        vcf.write_text(_VCF.format(ds=ds))
        mt = hl.import_vcf(str(vcf), reference_genome="GRCh38", contig_recoding=contig_recoding("GRCh38"))
        got = to_biallelic_dosage(hl, mt, where="t", dosage_field="DS").entries().collect()
        return [r.DOSAGE for r in sorted(got, key=lambda r: r.alleles[1] != "G")]

    assert dosages("1.005,1.01") == pytest.approx([1.005, 1.01], abs=1e-6)
    with pytest.raises(Exception, match=r"dosage field DS gives 2\.0300 alt copies in all at chr4:1000000 A,G,C"):
        dosages("1.01,1.02")


def test_an_unreadable_lock_is_named_by_its_files_age_alone(tmp_path):
    """``releases.lock_holder_text`` of an empty lock (a run killed while writing it): "a run whose
    lock file cannot be read", its age by the file's time, and no "last refreshed" phrase, which
    contrasts the file's time with a start by the holder's clock that there is none of. Mutant:
    the phrase said for it too (``clock`` left True)."""
    from trd_spark.releases import LocalFs, lock_holder_text

    lock = tmp_path / ".lock"
    lock.write_text("")
    text = lock_holder_text(LocalFs(), str(lock), 24.0)
    assert "a run whose lock file cannot be read" in text, text
    assert "refreshed the lock" not in text and "host's clock" not in text, text


def test_the_scratch_refresher_keeps_a_record_of_the_same_pid_on_another_host(tmp_path):
    """``pgs.scratch._refresh``: the folder's record is this run's only when host, pid, process
    identity and start all match (``_OWNER_KEYS``); another host's run of the same pid (a shared
    mount) keeps its record, unrefreshed by this run. Mutant: the pid alone compared: this run
    rewrote the other's record as its own, and the other's run then stopped refreshing it."""
    import json
    import os
    import time

    from trd_spark.pgs import scratch
    from trd_spark.releases import process_identity

    now = time.time()
    ours = {"host": "this-host.example", "pid": os.getpid(), "process": process_identity(os.getpid()),
            "started": now, "refreshed": now}
    theirs = {**ours, "host": "another-host.example", "process": "x", "started": now - 60, "refreshed": now - 60}
    record = tmp_path / scratch.OWNER
    record.write_text(json.dumps(theirs))
    assert scratch._refresh(str(tmp_path), ours) is False  # noqa: SLF001
    assert json.loads(record.read_text()) == theirs
    record.write_text(json.dumps(ours))
    assert scratch._refresh(str(tmp_path), ours) is True  # noqa: SLF001
    assert {k: v for k, v in json.loads(record.read_text()).items() if k != "refreshed"} == \
        {k: v for k, v in ours.items() if k != "refreshed"}


def test_written_cells_give_a_zero_offset_sum_as_plus_zero(tmp_path):
    """``matching._written_cells``' offsets' column sums: -2 x the negated rows' running sums, a
    column without a negated row +0.0 (as ``WeightMatrices.offset_total``'s ``+ 0.0``), not -0.0.
    Mutant: the ``+ 0.0`` dropped (-0.0 there: bits the column sum never gives)."""
    import numpy as np

    from trd_spark.pgs.matching import _written_cells

    values = np.array([0.5, 0.25, 1.0])
    cols = np.array([0, 1, 0], dtype=np.int32)
    bounds = np.array([0, 2, 3], dtype=np.int64)
    matrix, sums = _written_cells(str(tmp_path), "slope", (2, 3), values, cols, bounds, np.array([False, True]))
    assert matrix.tolist() == [[0.5, 0.25, 0.0], [-1.0, 0.0, 0.0]]
    assert sums is not None and sums.tolist() == [2.0, 0.0, 0.0]
    assert not np.signbit(sums).any(), sums
