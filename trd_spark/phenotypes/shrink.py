"""Release over release: an OMOP table that lost an implausible share of its rows is not silent.

All of Us releases grow (a withdrawal removes a few persons and their rows); a table read with
a large share of its rows missing is a release folder taken while still being copied (a part
file of a Spark / BigQuery export not there yet: session 47's release trial, finding 7, where
``drug_exposure`` without a quarter of its parts published ad3 TRD 423 -> 307 with 0 warnings),
a failed export or the wrong path. The phenotype stage compares the rows it read of each table
(``table_rows``: the counts its manifest keeps anyway) with those of the newest earlier release
of the same output root whose phenotypes folder is published (``earlier_release``); a table
with fewer rows by more than ``releases.max_table_shrink`` gives one WARNING
(``shrink_warnings``; percent only) and is named in ``notes.tables_shrunk``.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from trd_spark.errors import InputDataError

if TYPE_CHECKING:
    from trd_spark.layout import Layout
    from trd_spark.stages import FsLike

log = logging.getLogger(__name__)

# The person table's rows in ``table_rows``: the persons the stage read (quirks.persons.n_persons).
PERSON_TABLE = "person"
# quirks.event_table_records' key of a table: n_<table>_records (stage.RECORDS_SUFFIX).
_RECORDS_PREFIX, _RECORDS_SUFFIX = "n_", "_records"


def release_order(name: str) -> list:
    """``releases.natural_key``'s order (digit runs as numbers: r2 < r10), the order ``trd-spark
    releases`` lists releases in. Kept here, not imported: no stage's code digest may hold
    ``trd_spark.releases`` (tests/test_rerun_s39.py: an edit of release handling reruns no stage);
    tests/test_release_shrink_s47.py checks that the two orders agree."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def table_rows(notes: Mapping[str, Any]) -> dict[str, int]:
    """{OMOP table: rows the phenotype stage read} from a phenotypes manifest's ``notes``: each
    event table's rows (``quirks.event_table_records``: n_<table>_records, every row whatever its
    concept) and the person table's (``quirks.persons.n_persons``). A count the notes lack (a
    manifest of older code, a table not read) is left out; never raises on a malformed note."""
    quirks = notes.get("quirks") if isinstance(notes, Mapping) else None
    if not isinstance(quirks, Mapping):
        return {}
    out: dict[str, int] = {}
    records = quirks.get("event_table_records")
    for key, n in (records.items() if isinstance(records, Mapping) else ()):
        if key.startswith(_RECORDS_PREFIX) and key.endswith(_RECORDS_SUFFIX) and type(n) is int:
            out[key.removeprefix(_RECORDS_PREFIX).removesuffix(_RECORDS_SUFFIX)] = n
    persons = quirks.get("persons")
    if isinstance(persons, Mapping) and type(persons.get("n_persons")) is int:
        out[PERSON_TABLE] = persons["n_persons"]
    return out


def shrunk_tables(now: Mapping[str, int], before: Mapping[str, int], max_shrink: float,
                  skip: tuple[str, ...] = ()) -> dict[str, float]:
    """{table: relative change (now - before) / before, a negative fraction} of the tables of both
    ``now`` and ``before`` (``table_rows``) with rows before whose rows fell by more than
    ``max_shrink`` (a fraction: 0.1 = 10%), in ``now``'s order; ``skip``: tables not compared (an
    optional table absent from this release, already warned about as absent)."""
    out: dict[str, float] = {}
    for table, n in now.items():
        was = before.get(table)
        if table in skip or not was or was <= 0:
            continue
        change = (n - was) / was
        if -change > max_shrink:
            out[table] = change
    return out


def shrink_warnings(shrunk: Mapping[str, float], now: Mapping[str, int], before: Mapping[str, int],
                    release: str, max_shrink: float, persons_below: int) -> list[str]:
    """The WARNING lines (without "phenotypes: "), one per table of ``shrunk``, naming the table,
    the earlier ``release`` and the change in percent, never a count: row counts of the person
    table are persons, and a percent beside the other release's published counts could give back
    a difference. So where the rows lost are fewer than ``persons_below`` (T,
    ``report.small_count_threshold``: a small table) the line says only "more than" the threshold."""
    lines = []
    for table, change in shrunk.items():
        lost = before[table] - now[table]
        share = (f"more than {max_shrink:.0%}" if lost < persons_below
                 else f"{-change:.1%}")
        lines.append(
            f"OMOP table {table} has {share} fewer rows than in the earlier release {release} (more than "
            f"releases.max_table_shrink {max_shrink:.0%}): releases grow, so this looks like a partial copy or "
            f"export (a part file missing) or the wrong omop.path; check the release's files before using its "
            f"results; counted in notes.tables_shrunk")
    return lines


def earlier_release(layout: Layout, fs: FsLike, stage: str) -> tuple[str, dict] | None:
    """(name, notes) of the newest release before ``layout.release`` (``release_order``, as ``trd-spark
    releases`` lists them) under ``layout.output_root`` whose ``stage``
    folder is published (``_SUCCESS``: its counts are final whatever later stages did); None when
    there is none. A published manifest that cannot be read is passed over with an INFO line (the
    comparison is a check of this release, not an input of it)."""
    listdirs = getattr(fs, "listdirs", None)
    if listdirs is None:
        return None
    own = release_order(layout.release)
    for name in sorted((n for n in listdirs(layout.output_root) if release_order(n) < own), key=release_order,
                       reverse=True):
        other = dataclasses.replace(layout, release=name)
        if not other.is_complete(fs, stage):
            continue
        try:
            manifest = other.manifest(fs, stage) or {}
        except InputDataError as e:
            log.info("%s: the earlier release %s's manifest cannot be read (%s): not compared", stage, name, e)
            continue
        notes = manifest.get("notes")
        return name, notes if isinstance(notes, dict) else {}
    return None
