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
the concept filter at the scan matters as on real data. Their concept IDs are drawn from a
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
               drug_rows_per_person: int = 0) -> dict:
    """Write the OMOP tables for ``persons`` persons; returns the generator's summary."""
    out = Path(out_dir)
    people = omop.draw_persons(np.random.default_rng([seed, 1]), persons)
    pgs_z = np.random.default_rng([seed, 2]).standard_normal((len(SCORES), persons))
    log_or_trd, log_or_trmdd = planted_log_ors()
    _, summary = omop.generate_omop(out, people, pgs_z, log_or_trd, log_or_trmdd, seed)
    if edge_rows:
        _add_edge_rows(out, people, np.random.default_rng([seed, 3]), edge_rows)
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
