"""Toy OMOP tables only (no genomes) for the phenotype cross-check and benchmark.

``write_omop(out_dir, persons, seed)`` writes ``{out_dir}/{table}.parquet`` with the toy
generator's status-driven timelines (trd_spark.toydata.omop) and, with ``edge_rows`` > 0,
extra random rows aimed at the rules' edges: antidepressant / augmentation / esketamine
exposures with days_supply near the 30-day gap and 42-day trial thresholds, missing or zero
supply, end before/after start, exposures past death; MDD / bipolar / schizophrenia codes
and ECT on random dates (also before birth or after the cutoff), quantity / refills on the
extra drug rows, a ``drug_strength`` table (amounts for most toy products) and a
``device_exposure`` table (``DEVICE_CONCEPTS``, synthetic IDs). Those rows make the two
implementations disagree if any rule differs, which the toy timelines alone might not.

``drug_rows_per_person`` > 0 adds that many NON-study drug_exposure rows per person on
average (AoU has ~300 drug rows per person, a few percent of them antidepressants), so that
the concept filter at the scan matters as on real data.

``knob_rows`` > 0 adds hand-drawn timelines (``_add_knob_rows``) for that many MDD persons, aimed at
the trial and date knobs the toy timelines never move: gaps of 0-120 days between fills
(persistence_gap_days), missing days_supply and verbatim ends around the computed end
(default_days_supply, use_verbatim_end_date), doses just under, at and over a minimum
(ingredient_min_daily_dose), dates only in time-zone-aware or naive datetime partners near midnight
(omop.time_zone), persons without an observation period (omop.ehr_evidence). Their concept IDs are drawn from a
pool of IDs in the numeric ranges of OMOP RxNorm drug concepts (1.1M-1.6M, 19.0M-19.2M,
40.1M-40.3M; not looked up, none in a study concept set), written in chunks so memory stays
bounded; the drug_exposure table then becomes a directory of Parquet files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from trd_spark.toydata import omop
from trd_spark.toydata import vocabulary as voc
from trd_spark.toydata.generate import planted_log_ors
from trd_spark.toydata.scores import SCORES

# Synthetic device concepts (rTMS coil, ECT device) for the device_exposure rule's cross-check.
DEVICE_CONCEPTS = (2_000_900_001, 2_000_900_002)
# Ingredients whose products get no drug_strength row (dose unknown) in the edge data.
_NO_STRENGTH_SHARE = 0.2


def write_omop(out_dir: str | Path, persons: int, seed: int = 7, edge_rows: int = 0,
               drug_rows_per_person: int = 0, knob_rows: int = 0) -> dict:
    """Write the OMOP tables for ``persons`` persons; returns the generator's summary (with
    ``knob_persons``, persons per scenario, when ``knob_rows`` > 0: ``_add_knob_rows``)."""
    out = Path(out_dir)
    people = omop.draw_persons(np.random.default_rng([seed, 1]), persons)
    pgs_z = np.random.default_rng([seed, 2]).standard_normal((len(SCORES), persons))
    log_or_trd, log_or_trmdd = planted_log_ors()
    _, summary = omop.generate_omop(out, people, pgs_z, log_or_trd, log_or_trmdd, seed)
    if edge_rows:
        _add_edge_rows(out, people, np.random.default_rng([seed, 3]), edge_rows)
    if knob_rows:
        summary["knob_persons"] = _add_knob_rows(out, people, np.random.default_rng([seed, 5]), knob_rows)
    if drug_rows_per_person:
        summary["record_counts"]["other_drug_exposure"] = _add_other_drugs(
            out, people.person_id, np.random.default_rng([seed, 4]), drug_rows_per_person)
    return summary


def _rxnorm_like_pool(rng: np.random.Generator, n: int = 3000) -> np.ndarray:
    """Concept IDs in the RxNorm drug ID ranges, excluding every ID of the toy vocabulary."""
    ranges = [(1_100_000, 1_600_000), (19_000_000, 19_200_000), (40_100_000, 40_300_000)]
    pool = np.concatenate([rng.integers(lo, hi, n // len(ranges) + 1) for lo, hi in ranges])
    taken = {c.concept_id for c in voc._concepts()}
    taken |= set(voc.ANTIDEPRESSANT_INGREDIENTS) | set(voc.TRIAL_AUGMENTATION) | {voc.ESKETAMINE}
    return np.unique(pool[~np.isin(pool, np.array(sorted(taken), dtype=np.int64))])


def _add_other_drugs(out: Path, person_ids: np.ndarray, rng: np.random.Generator, per_person: int,
                     chunk_persons: int = 20_000) -> int:
    """Append ~``per_person`` non-study drug rows per person (Poisson), as extra Parquet files.

    drug_exposure.parquet becomes drug_exposure/part-0.parquet (the toy rows) plus one file
    per chunk of persons; readers take the directory. Returns the number of rows added.
    """
    src = out / "drug_exposure.parquet"
    toy = pq.read_table(src)
    src.unlink()
    folder = out / "drug_exposure"
    folder.mkdir()
    pq.write_table(toy, folder / "part-0.parquet", compression="snappy")
    schema = toy.schema
    pool = _rxnorm_like_pool(rng)
    # a skewed use of the pool, as real prescribing (few drugs very common)
    weights = rng.zipf(1.3, len(pool)).astype(float)
    weights /= weights.sum()
    lo, hi = omop.day("2005-01-01"), omop.day("2024-06-30")
    total, next_id = 0, 30_000_000_000
    for k, start in enumerate(range(0, len(person_ids), chunk_persons), start=1):
        who = person_ids[start:start + chunk_persons]
        counts = rng.poisson(per_person, len(who))
        n = int(counts.sum())
        pid = np.repeat(who, counts)
        day0 = rng.integers(lo, hi, n)
        supply = rng.choice(np.array([1, 5, 7, 10, 14, 30, 30, 30, 60, 90]), n)
        cols = {
            "drug_exposure_id": pa.array(next_id + np.arange(n), pa.int64()),
            "person_id": pa.array(pid, pa.int64()),
            "drug_concept_id": pa.array(rng.choice(pool, n, p=weights), pa.int64()),
            "drug_exposure_start_date": _dates(day0),
            "drug_exposure_end_date": _dates(day0 + supply - 1),
            "verbatim_end_date": pa.nulls(n, pa.date32()),
            "days_supply": pa.array(supply, pa.int64()),
            "quantity": pa.array(supply.astype(float), pa.float64()),
            "refills": pa.array(rng.integers(0, 3, n), pa.int64()),
        }
        table = pa.table({f.name: (cols[f.name].cast(f.type) if f.name in cols else pa.nulls(n, f.type))
                          for f in schema})
        pq.write_table(table, folder / f"part-{k}.parquet", compression="snappy", row_group_size=1_000_000)
        total += n
        next_id += n
    return total


def _append(path: Path, cols: dict[str, pa.Array]) -> None:
    table = pq.read_table(path)
    extra = pa.table({name: cols[name].cast(table.schema.field(name).type) if name in cols
                      else pa.nulls(len(next(iter(cols.values()))), table.schema.field(name).type)
                      for name in table.schema.names})
    pq.write_table(pa.concat_tables([table, extra]), path, compression="snappy")


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array(days.astype(np.int32), pa.int32()).cast(pa.date32())


def _add_edge_rows(out: Path, people: omop.Persons, rng: np.random.Generator, n: int) -> None:
    # Concentrate on a few hundred persons so that rows interact (gaps, sequences, exclusions).
    who = rng.choice(people.person_id[: max(50, min(len(people.person_id), n // 4))], n)
    lo, hi = omop.day("2008-01-01"), omop.day("2024-06-30")
    start = rng.integers(lo, hi, n)
    # Antidepressants (ingredient or product), augmentation agents, esketamine.
    ingredients = np.array(list(voc.TRIAL_INGREDIENTS[:5]) + list(voc.TRIAL_AUGMENTATION[:2]) + [voc.ESKETAMINE])
    ingredient = ingredients[rng.integers(0, len(ingredients), n)]
    as_product = rng.random(n) < 0.7
    concept = np.where(as_product, voc.product_ids(ingredient, rng.random(n) < 0.3), ingredient)
    # 400 and 3000: implausible days_supply (typos) that the rules do not use
    supply_options = np.array([-1, 0, 1, 14, 28, 29, 30, 31, 41, 42, 43, 60, 90, 400, 3000])
    supply = supply_options[rng.integers(0, len(supply_options), n)]
    # 0: end = start, 1: end = start + random, 2: end before start, 3: a 2099-12-31 placeholder end
    end_kind = rng.integers(0, 4, n)
    end = np.where(end_kind == 0, start, np.where(end_kind == 1, start + rng.integers(1, 70, n), start - 3))
    end = np.where(end_kind == 3, omop.day("2099-12-31"), end)
    _append(out / "drug_exposure.parquet", {
        "drug_exposure_id": pa.array(10_000_000_000 + np.arange(n), pa.int64()),
        "person_id": pa.array(who, pa.int64()),
        "drug_concept_id": pa.array(concept, pa.int64()),
        "drug_exposure_start_date": _dates(start),
        "drug_exposure_end_date": _dates(end),
        "days_supply": pa.array(supply, pa.int64(), mask=supply < 0),
        # recorded stop dates on a quarter of the rows: before, on or after the start
        "verbatim_end_date": pa.array((start + rng.integers(-5, 80, n)).astype(np.int32), pa.int32(),
                                      mask=rng.random(n) >= 0.25).cast(pa.date32()),
        # dispensed units (missing / 0 on some rows: dose unknown) and authorised refills
        "quantity": pa.array(rng.choice(np.array([0.0, 7.0, 15.0, 30.0, 45.0, 60.0, 90.0]), n), pa.float64(),
                             mask=rng.random(n) < 0.15),
        "refills": pa.array(rng.choice(np.array([0, 0, 0, 1, 2, 5]), n), pa.int64(), mask=rng.random(n) < 0.2),
    })
    # drug_strength: mg per unit for most toy products of the antidepressants (some have none).
    products = np.concatenate([voc.product_ids(np.array(voc.TRIAL_INGREDIENTS), np.zeros(len(voc.TRIAL_INGREDIENTS), bool)),
                               voc.product_ids(np.array(voc.TRIAL_INGREDIENTS), np.ones(len(voc.TRIAL_INGREDIENTS), bool))])
    owners = np.concatenate([np.array(voc.TRIAL_INGREDIENTS)] * 2)
    has = rng.random(len(products)) >= _NO_STRENGTH_SHARE
    pq.write_table(pa.table({
        "drug_concept_id": pa.array(products[has], pa.int64()),
        "ingredient_concept_id": pa.array(owners[has], pa.int64()),
        "amount_value": pa.array(rng.choice(np.array([10.0, 20.0, 25.0, 50.0, 100.0]), int(has.sum())), pa.float64()),
    }), out / "drug_strength.parquet")
    # device_exposure: rTMS-like devices on random dates for the same persons.
    v = max(2, n // 20)
    pq.write_table(pa.table({
        "device_exposure_id": pa.array(np.arange(1, v + 1), pa.int64()),
        "person_id": pa.array(rng.choice(who, v), pa.int64()),
        "device_concept_id": pa.array(rng.choice(np.array(DEVICE_CONCEPTS + (2_000_900_099,)), v), pa.int64()),
        "device_exposure_start_date": _dates(rng.integers(lo, hi + 400, v)),
    }), out / "device_exposure.parquet")
    m = n // 3
    cond_options = np.array([voc.MDD, voc.RECURRENT_MDD, voc.DEPRESSIVE_DISORDER, voc.DYSTHYMIA, voc.BIPOLAR_I,
                             voc.SCHIZOPHRENIA, voc.BIPOLAR_I_DEPRESSED, voc.MDD])
    cwho = rng.choice(who, m)
    cdate = rng.integers(omop.day("1950-01-01"), hi, m)
    _append(out / "condition_occurrence.parquet", {
        "condition_occurrence_id": pa.array(10_000_000_000 + np.arange(m), pa.int64()),
        "person_id": pa.array(cwho, pa.int64()),
        "condition_concept_id": pa.array(cond_options[rng.integers(0, len(cond_options), m)], pa.int64()),
        "condition_start_date": _dates(cdate),
    })
    k = n // 10
    _append(out / "procedure_occurrence.parquet", {
        "procedure_occurrence_id": pa.array(10_000_000_000 + np.arange(k), pa.int64()),
        "person_id": pa.array(rng.choice(who, k), pa.int64()),
        "procedure_concept_id": pa.array(rng.choice(np.array(voc.ECT_PROCEDURES), k), pa.int64()),
        "procedure_date": _dates(rng.integers(lo, hi, k)),
    })
    # More deaths among those persons (exposures running past them get clipped); some die
    # 60-250 days after an MDD index with a treatment in between (short follow-up cases).
    death = pq.read_table(out / "death.parquet")
    dead = set(pc.unique(death["person_id"]).to_pylist())
    new = np.array(sorted(set(rng.choice(who, max(2, n // 50)).tolist()) - dead), dtype=np.int64)
    died = rng.integers(omop.day("2012-01-01"), omop.day("2023-06-30"), len(new))
    short = new[: len(new) // 2]
    index = died[: len(short)] - rng.integers(60, 250, len(short))
    _append(out / "condition_occurrence.parquet", {
        "condition_occurrence_id": pa.array(20_000_000_000 + np.arange(2 * len(short)), pa.int64()),
        "person_id": pa.array(np.concatenate([short, short]), pa.int64()),
        "condition_concept_id": pa.array(np.full(2 * len(short), voc.MDD), pa.int64()),
        "condition_start_date": _dates(np.concatenate([index, index + 10])),
    })
    _append(out / "drug_exposure.parquet", {
        "drug_exposure_id": pa.array(20_000_000_000 + np.arange(len(short)), pa.int64()),
        "person_id": pa.array(short, pa.int64()),
        "drug_concept_id": pa.array(np.full(len(short), voc.TRIAL_INGREDIENTS[1]), pa.int64()),
        "drug_exposure_start_date": _dates(index + 5),
        "drug_exposure_end_date": _dates(index + 5),
        "days_supply": pa.array(np.full(len(short), 50), pa.int64()),
    })
    _append(out / "death.parquet", {"person_id": pa.array(new, pa.int64()), "death_date": _dates(died)})
    # Open observation periods (NULL end: still open at extraction) on the latest period of some
    # of those persons, each with an earlier closed period that must not end their follow-up.
    _open_latest_periods(out, np.array(sorted(set(rng.choice(who, max(2, n // 50)).tolist())), dtype=np.int64))


def _open_latest_periods(out: Path, persons: np.ndarray) -> None:
    path = out / "observation_period.parquet"
    table = pq.read_table(path)
    who = table["person_id"].to_numpy()
    start = table["observation_period_start_date"].cast(pa.int32()).to_numpy()
    latest = np.zeros(len(who), bool)
    for pid in persons:
        rows = np.flatnonzero(who == pid)
        if len(rows):
            latest[rows[np.argmax(start[rows])]] = True
    end = table["observation_period_end_date"]
    i = table.schema.get_field_index("observation_period_end_date")
    table = table.set_column(i, table.schema.field(i), pc.if_else(pa.array(latest), pa.nulls(len(end), end.type), end))
    pq.write_table(table, path, compression="snappy")
    chosen = who[latest]
    _append(path, {
        "observation_period_id": pa.array(30_000_000_000 + np.arange(len(chosen)), pa.int64()),
        "person_id": pa.array(chosen, pa.int64()),
        "observation_period_start_date": _dates(np.full(len(chosen), omop.day("1990-01-01"))),
        "observation_period_end_date": _dates(np.full(len(chosen), omop.day("1991-01-01"))),
    })


# --- knob rows: data built to hit the weakly tested trial and date knobs (session 51 omopfuzz) ---
# Gaps (uncovered days) between fills of one ingredient: around 0, 30 (the default
# persistence_gap_days) and the variants' 31-90.
KNOB_GAPS = np.array([0, 1, 15, 29, 30, 31, 32, 44, 45, 46, 59, 60, 61, 75, 88, 89, 90, 91, 120])
# Negative gaps: a fill starting before the last one ends (an early refill).
KNOB_OVERLAPS = np.array([-29, -10, -1])
# Daily doses (mg) aimed at a minimum of 50 (sertraline) or 25 / 20 (other variants).
KNOB_SERTRALINE_DOSES = np.array([24.9, 25.0, 49.0, 49.99, 50.0, 50.01, 100.0])
KNOB_QUETIAPINE_DOSES = np.array([99.9, 100.0, 149.0, 150.0, 300.0])
SERTRALINE, FLUOXETINE, CITALOPRAM, ESCITALOPRAM, QUETIAPINE = 739138, 755695, 797617, 715939, 766814
# Times of day (seconds) of the knob rows' timestamps: around midnight UTC and around the local
# midnights of the zones the variants set (New York 04:00/05:00 UTC, Tokyo 15:00, Kolkata 18:30).
KNOB_SECONDS = np.array([0, 1800, 4 * 3600 - 1, 4 * 3600, 5 * 3600 - 1, 5 * 3600, 12 * 3600,
                         15 * 3600 - 1, 15 * 3600, 18 * 3600 + 1800 - 1, 18 * 3600 + 1800, 23 * 3600 + 1800,
                         24 * 3600 - 1])
# The zone procedure_datetime's Parquet file declares (a local time read in it, whatever omop.time_zone).
KNOB_PROCEDURE_ZONE = "America/Chicago"
KNOB_SCENARIOS = ("gaps", "supply", "dose", "timestamps", "no_period")


def _add_knob_rows(out: Path, people: omop.Persons, rng: np.random.Generator, n: int) -> dict[str, int]:
    """Rows for ``n`` MDD persons (two MDD dates in the toy data), a scenario each in turn
    (``KNOB_SCENARIOS``), and for ``n // 2`` persons without MDD (their observation periods
    removed). Returns persons per scenario. Each scenario is a hand-drawn timeline made random:

    - gaps: three ingredients after the index, each 2-4 fills of 21-30 days whose gaps are drawn
      from ``KNOB_GAPS`` (persistence_gap_days 0-90 merges or splits them), some from
      ``KNOB_OVERLAPS`` (an early refill), some fills with a second record of the same start;
    - supply: three ingredients, each one or two records with days_supply missing / 0 / 7-90 /
      400 (over max_days_supply), end date equal to the start / empty / 14-89 days on, verbatim end
      before, on or after the computed end (default_days_supply 30 for a missing one) or 400 days on,
      or around the start, refills missing / 0-2 / 12, the next record 29-32 uncovered days after
      the computed end (default_days_supply, use_verbatim_end_date, use_refills);
    - dose: fluoxetine 60 days, sertraline 60 days of a product with a drug_strength amount and
      a quantity making a daily dose of ``KNOB_SERTRALINE_DOSES`` (some of unknown dose: no
      quantity, quantity 0, the ingredient concept), citalopram 60 days, then a quetiapine product
      at a dose of ``KNOB_QUETIAPINE_DOSES`` or without quantity (ingredient_min_daily_dose);
    - timestamps: MDD dates, three ingredients' 40-44-day records, an ECT procedure and a death
      (half of them) whose DATE is empty and whose CDM datetime partner holds the date-time at a
      time of ``KNOB_SECONDS``: condition_start_datetime naive, drug_exposure_start/end_datetime
      (some starts a DATE) and death_datetime time-zone-aware (UTC), procedure_datetime declaring
      ``KNOB_PROCEDURE_ZONE``; every other death in person.death_datetime (CDM v6.0), not in
      death (omop.time_zone);
    - no_period: the person's observation periods replaced by none, one starting after the
      cutoff or a 1900 placeholder (no usable period: omop.ehr_evidence, follow-up end).
    The data then holds time-zone-aware columns: a config reading it needs omop.time_zone.
    """
    cond = pq.read_table(out / "condition_occurrence.parquet",
                         columns=["person_id", "condition_concept_id", "condition_start_date"])
    is_mdd = np.isin(cond["condition_concept_id"].to_numpy(), np.array(voc.MDD_DIAGNOSES))
    pid = cond["person_id"].to_numpy()[is_mdd]
    day = cond["condition_start_date"].cast(pa.int32()).to_numpy()[is_mdd]
    order = np.lexsort((day, pid))
    pid, day = pid[order], day[order]
    first = np.r_[True, pid[1:] != pid[:-1]]
    persons, index = pid[first], day[first]
    n_dates = np.array([len(np.unique(day[pid == p])) for p in persons])
    ok = n_dates >= 2
    persons, index = persons[ok], index[ok]
    take = rng.permutation(len(persons))[:n]
    persons, index = persons[take], index[take]
    drugs: dict[str, list] = {k: [] for k in ("person_id", "drug_concept_id", "start", "end", "days_supply",
                                              "verbatim", "quantity", "start_dt", "end_dt", "refills")}
    conds: dict[str, list] = {"person_id": [], "day": [], "dt": []}
    procs: dict[str, list] = {"person_id": [], "dt": []}
    deaths: dict[str, list] = {"person_id": [], "dt": []}
    no_period: list[int] = []
    # mg per unit of the dose scenario's (clinical) products: the edge rows' drug_strength amount
    # where they wrote one, else a row added below
    path = out / "drug_strength.parquet"
    have = pq.read_table(path) if path.exists() else None
    written = {} if have is None else {(r["drug_concept_id"], r["ingredient_concept_id"]): r["amount_value"]
                                       for r in have.to_pylist()}
    strength = {i: written.get((_product(i), i)) or a for i, a in ((SERTRALINE, 50.0), (QUETIAPINE, 100.0))}

    def drug(p, concept, start, end=None, ds=None, verbatim=None, quantity=None, start_dt=None, end_dt=None,
             refills=None):
        for k, v in zip(drugs, (p, concept, start, end, ds, verbatim, quantity, start_dt, end_dt, refills)):
            drugs[k].append(v)

    counts = dict.fromkeys(KNOB_SCENARIOS, 0)
    for k, (p, i0) in enumerate(zip(persons.tolist(), index.tolist())):
        scenario = KNOB_SCENARIOS[k % len(KNOB_SCENARIOS)]
        counts[scenario] += 1
        t = i0 + int(rng.integers(-10, 120))
        ings = rng.choice(np.array(voc.TRIAL_INGREDIENTS), 3, replace=False).tolist()
        if scenario == "gaps":
            for ing in ings:
                for _ in range(int(rng.integers(2, 5))):
                    ds = int(rng.choice([21, 28, 30, 30]))
                    drug(p, _product(ing) if rng.random() < 0.7 else ing, t, t if rng.random() < 0.5 else t + ds - 1, ds)
                    if rng.random() < 0.15:  # a second record of the same start (order + dispensing)
                        drug(p, _product(ing), t, t, int(rng.choice([14, 60])))
                    t += ds + int(rng.choice(KNOB_GAPS if rng.random() < 0.85 else KNOB_OVERLAPS))
                t += int(rng.integers(0, 40))
        elif scenario == "supply":
            for ing in ings:
                for _ in range(int(rng.integers(1, 3))):
                    ds = rng.choice(np.array([-9, 0, 7, 30, 42, 60, 90, 400]))  # -9: missing; 400: over max
                    end_kind = int(rng.integers(0, 3))  # equal to the start, empty, 14-89 days on
                    end = t if end_kind == 0 else None if end_kind == 1 else t + int(rng.integers(14, 90))
                    computed = end if end is not None and end > t else t + (int(ds) if 0 < ds <= 365 else 30) - 1
                    kind = rng.random()  # no verbatim end, one around the computed end, one around the start
                    verbatim = (None if kind < 0.3 else int(computed + rng.choice([-30, -12, -1, 0, 1, 12, 30, 400]))
                                if kind < 0.65 else int(t + rng.choice([-1, 0, 1, 41, 42])))
                    refills = rng.choice(np.array([-9, 0, 1, 2, 12]))  # -9: missing
                    drug(p, _product(ing), t, end, None if ds < 0 else int(ds), verbatim,
                         refills=None if refills < 0 else int(refills))
                    # the next start 29-32 uncovered days after the computed end (the default
                    # persistence_gap_days 30 merges or splits them by a day), or 0-40 days on
                    t = computed + 1 + int(rng.choice([29, 30, 31, 32]) if rng.random() < 0.6 else rng.integers(0, 40))
        elif scenario == "dose":
            for ing in (FLUOXETINE, SERTRALINE, CITALOPRAM):
                for _ in range(2):
                    if ing == SERTRALINE:
                        dose = float(rng.choice(KNOB_SERTRALINE_DOSES))
                        unknown = int(rng.integers(0, 8))  # 0: no quantity, 1: quantity 0, 2: the ingredient
                        drug(p, ing if unknown == 2 else _product(ing), t, t, 30, None,
                             None if unknown == 0 else 0.0 if unknown == 1 else dose * 30 / strength[SERTRALINE])
                    else:
                        drug(p, ing, t, t + 29, 30)
                    t += 30
                t += int(rng.integers(0, 20))
            q0 = t - int(rng.integers(10, 90))
            dose = float(rng.choice(KNOB_QUETIAPINE_DOSES))
            drug(p, _product(QUETIAPINE), q0, q0, 30, None,
                 None if rng.random() < 0.15 else dose * 30 / strength[QUETIAPINE])
        elif scenario == "timestamps":
            sec = lambda: int(rng.choice(KNOB_SECONDS))  # noqa: E731
            for d in (i0, i0 + int(rng.integers(1, 40))):
                conds["person_id"].append(p)
                conds["day"].append(None)
                conds["dt"].append(d * 86400 + sec())
            for ing in ings:
                length = int(rng.integers(40, 45))
                dated = rng.random() < 0.3  # the start a DATE, only the end in its datetime partner
                drug(p, _product(ing), t if dated else None, None, None, None, None,
                     None if dated else t * 86400 + sec(), (t + length - 1) * 86400 + sec())
                t += length + int(rng.integers(0, 10))
            procs["person_id"].append(p)
            procs["dt"].append((i0 + int(rng.integers(-2, 3))) * 86400 + sec())
            if rng.random() < 0.5:
                deaths["person_id"].append(p)
                deaths["dt"].append((t + int(rng.integers(-60, 200))) * 86400 + sec())
        else:
            no_period.append(p)
    others = np.setdiff1d(people.person_id, pid)
    no_period += rng.choice(others, min(len(others), n // 2), replace=False).tolist()
    # a third of them get a period starting after the cutoff, a third a 1900 placeholder period
    # (neither is a usable period), the rest none
    period_kind = rng.integers(0, 3, len(no_period))
    counts["no_period_non_mdd"] = min(len(others), n // 2)

    m = len(drugs["person_id"])

    def dates(values: list) -> pa.Array:
        return pa.array([None if v is None else int(v) for v in values], pa.int32()).cast(pa.date32())

    def stamps(values: list, tz: str | None) -> pa.Array:
        return pa.array([None if v is None else int(v) * 1_000_000 for v in values], pa.timestamp("us", tz=tz))

    _append_with_new(out / "drug_exposure.parquet", {
        "drug_exposure_id": pa.array(50_000_000_000 + np.arange(m), pa.int64()),
        "person_id": pa.array(drugs["person_id"], pa.int64()),
        "drug_concept_id": pa.array(drugs["drug_concept_id"], pa.int64()),
        "drug_exposure_start_date": dates(drugs["start"]), "drug_exposure_end_date": dates(drugs["end"]),
        "verbatim_end_date": dates(drugs["verbatim"]), "days_supply": pa.array(drugs["days_supply"], pa.int64()),
        "quantity": pa.array(drugs["quantity"], pa.float64()),
        "refills": pa.array(drugs["refills"], pa.int64()),
        "drug_type_concept_id": pa.array(np.full(m, omop.DRUG_TYPE_EHR), pa.int64()),
        "drug_exposure_start_datetime": stamps(drugs["start_dt"], "UTC"),
        "drug_exposure_end_datetime": stamps(drugs["end_dt"], "UTC"),
    })
    c = len(conds["person_id"])
    _append_with_new(out / "condition_occurrence.parquet", {
        "condition_occurrence_id": pa.array(50_000_000_000 + np.arange(c), pa.int64()),
        "person_id": pa.array(conds["person_id"], pa.int64()),
        "condition_concept_id": pa.array(np.full(c, voc.MDD), pa.int64()),
        "condition_start_date": dates(conds["day"]), "condition_start_datetime": stamps(conds["dt"], None),
    })
    r = len(procs["person_id"])
    _append_with_new(out / "procedure_occurrence.parquet", {
        "procedure_occurrence_id": pa.array(50_000_000_000 + np.arange(r), pa.int64()),
        "person_id": pa.array(procs["person_id"], pa.int64()),
        "procedure_concept_id": pa.array(np.full(r, voc.ECT_SNOMED), pa.int64()),
        "procedure_date": pa.nulls(r, pa.date32()), "procedure_datetime": stamps(procs["dt"], KNOB_PROCEDURE_ZONE),
    })
    dead = set(pq.read_table(out / "death.parquet", columns=["person_id"])["person_id"].to_pylist())
    keep = [i for i, q in enumerate(deaths["person_id"]) if q not in dead]
    # every other death in person.death_datetime (CDM v6.0: no death row), the rest in death
    in_person = {deaths["person_id"][i]: deaths["dt"][i] for i in keep[::2]}
    keep = keep[1::2]
    person = pq.read_table(out / "person.parquet")
    person = person.append_column(pa.field("death_datetime", pa.timestamp("us", tz="UTC")), stamps(
        [in_person.get(q) for q in person["person_id"].to_pylist()], "UTC"))
    pq.write_table(person, out / "person.parquet", compression="snappy")
    _append_with_new(out / "death.parquet", {
        "person_id": pa.array([deaths["person_id"][i] for i in keep], pa.int64()),
        "death_date": pa.nulls(len(keep), pa.date32()),
        "death_datetime": stamps([deaths["dt"][i] for i in keep], "UTC"),
    })
    rows = [(_product(i), i, a) for i, a in strength.items() if (_product(i), i) not in written]
    new = pa.table({"drug_concept_id": pa.array([r[0] for r in rows], pa.int64()),
                    "ingredient_concept_id": pa.array([r[1] for r in rows], pa.int64()),
                    "amount_value": pa.array([r[2] for r in rows], pa.float64())})
    pq.write_table(new if have is None else pa.concat_tables([have, new.cast(have.schema)]), path)
    period = pq.read_table(out / "observation_period.parquet")
    gone = np.isin(period["person_id"].to_numpy(), np.array(no_period, dtype=np.int64))
    pq.write_table(period.filter(pa.array(~gone)), out / "observation_period.parquet", compression="snappy")
    unusable = np.array(no_period, dtype=np.int64)[period_kind > 0]
    first = np.where(period_kind[period_kind > 0] == 1, omop.day("2024-01-01"), omop.day("1900-01-01"))
    _append(out / "observation_period.parquet", {
        "observation_period_id": pa.array(50_000_000_000 + np.arange(len(unusable)), pa.int64()),
        "person_id": pa.array(unusable, pa.int64()),
        "observation_period_start_date": _dates(first), "observation_period_end_date": _dates(first + 200),
    })
    return counts


def _append_with_new(path: Path, cols: dict[str, pa.Array]) -> None:
    """``_append``, where ``cols`` may name columns the table lacks (added, empty on its rows)."""
    table = pq.read_table(path)
    for name, values in cols.items():
        if name not in table.schema.names:
            table = table.append_column(pa.field(name, values.type), pa.nulls(table.num_rows, values.type))
    n = len(next(iter(cols.values())))
    extra = pa.table({name: cols[name].cast(table.schema.field(name).type) if name in cols
                      else pa.nulls(n, table.schema.field(name).type) for name in table.schema.names})
    pq.write_table(pa.concat_tables([table, extra]), path, compression="snappy")


def _product(ingredient: int) -> int:
    """The toy clinical-drug product of ``ingredient``."""
    return int(voc.product_ids(np.array([ingredient]), np.array([False]))[0])
