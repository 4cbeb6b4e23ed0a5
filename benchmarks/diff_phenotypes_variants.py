"""Differential hunt: the phenotype chain (Spark) against its DuckDB twin over config variants.

    python benchmarks/diff_phenotypes_variants.py [--persons 400] [--seed 37 ...] [--edge-rows 60]
        [--knob-rows 0] [--drop-counts] [--data-dir DIR] [--single] [VARIANT ...]

Writes a toy OMOP export (benchmarks/omop_data.py: the toy generator plus ``--edge-rows`` edge
drug rows: odd days_supply, end dates before the start or in 2099, verbatim ends, refills,
quantities, drug_strength; and ``--knob-rows`` hand-drawn timelines aimed at the knobs the toy
timelines never move: gaps between fills, missing days_supply, verbatim ends, doses at a minimum,
datetime partners near midnight, persons without periods; such data holds time-zone-aware columns,
so the base config gets omop.time_zone UTC), then for each variant (the toy config with a few knobs moved, values
a user would set, boundary values included) runs the chain (read_omop, derive_phenotype_tables)
and the twin (benchmarks/duckdb_phenotypes.py) and compares every column the two phenotype
tables share, row by row in DuckDB. Prints one line per variant (rows, rows only one side has)
and up to 6 differing rows of each side (toy data only: no real person's row). By default the
COMBOS run (several knobs each, so one Spark run covers them; bisect a differing combo with
``--single`` and its VARIANTS names); ``--single`` runs the named VARIANTS one by one. Several
``--seed`` values: one data set each, every variant on each. ``--random N``: N combos of 3-6
VARIANTS drawn at random (seeded; a key two of them set takes the later value) instead of COMBOS.
``--drop-counts``: each variant's drop counts too (the chain's ``stage_counts`` against the twin's ``duckdb_drop_counts``: the study
event dates per domain, deaths, persons, drug records), differing counts printed. One Spark
session for all. Exits 1 when a variant disagrees. Not part of the suite (minutes per variant
on a loaded machine); session 48's result is in benchmarks/RESULTS.md ("Session 48 diffz").
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import duckdb  # noqa: E402
from duckdb_phenotypes import duckdb_phenotypes  # noqa: E402
from omop_data import write_omop  # noqa: E402

from trd_spark.config import Config, SparkSettings, load_config  # noqa: E402

TD = "phenotypes.trd_definitions"
# One or two knobs moved from conf/toy.yaml each (dotted paths; a list index as a number).
VARIANTS: dict[str, dict[str, Any]] = {
    "ehr_any_record": {"omop.ehr_evidence": "any_record"},
    "ehr_none": {"omop.ehr_evidence": "none"},
    "cutoff_2020": {"omop.data_cutoff_date": dt.date(2020, 12, 31)},
    "cutoff_2018": {"omop.data_cutoff_date": dt.date(2018, 1, 1)},
    "min_trial_28": {"phenotypes.trials.min_trial_days": 28},
    "min_trial_56": {"phenotypes.trials.min_trial_days": 56},
    "min_trial_1": {"phenotypes.trials.min_trial_days": 1},
    "gap_0": {"phenotypes.trials.persistence_gap_days": 0},
    "gap_90": {"phenotypes.trials.persistence_gap_days": 90},
    "dds_7": {"phenotypes.trials.default_days_supply": 7},
    "dds_90": {"phenotypes.trials.default_days_supply": 90},
    "pre_index_90": {"phenotypes.trials.pre_index_window_days": 90},
    "pre_index_365": {"phenotypes.trials.pre_index_window_days": 365},
    "ing_min_days": {"phenotypes.trials.ingredient_min_trial_days": {739138: 84, 755695: 30}},
    "ignored_sert_fluox": {"phenotypes.trials.ignored_ingredient_ids": [739138, 755695]},
    "no_verbatim": {"phenotypes.trials.use_verbatim_end_date": False},
    "refills": {"phenotypes.trials.use_refills": True},
    "max_supply_30": {"phenotypes.trials.max_days_supply": 30},
    "max_supply_29": {"phenotypes.trials.max_days_supply": 29},
    "min_dose": {"phenotypes.trials.ingredient_min_daily_dose": {739138: 50.0, 766814: 150.0}},
    "min_dx_1": {"phenotypes.mdd.min_diagnoses": 1},
    "min_dx_3": {"phenotypes.mdd.min_diagnoses": 3},
    "min_age_0": {"phenotypes.mdd.min_age_at_index": 0},
    "min_age_65": {"phenotypes.mdd.min_age_at_index": 65},
    "no_excl_sets": {"phenotypes.mdd.exclude_concept_sets": []},
    "no_ctrl_drug_excl": {"phenotypes.mdd.control_exclusion_drug_concept_sets": [],
                          "phenotypes.mdd.control_exclusion_procedure_concept_sets": []},
    "followup_0": {"phenotypes.trmdd_min_followup_days": 0},
    "followup_730": {"phenotypes.trmdd_min_followup_days": 730},
    "ad3_n1": {f"{TD}.0.n_trials": 1},
    "ad3_n2": {f"{TD}.0.n_trials": 2},
    "ad3_n4": {f"{TD}.0.n_trials": 4},
    "ad3_last_not_adequate": {f"{TD}.0.last_trial_adequate": False},
    "aug_n1": {f"{TD}.1.n_trials": 1},
    "aug_n3": {f"{TD}.1.n_trials": 3},
    "somatic_ect_only": {f"{TD}.2.somatic_concept_sets": ["ect"]},
    "tz_ny": {"omop.time_zone": "America/New_York"},
    # session 51 omopfuzz: the knobs --knob-rows aims at
    "base": {},
    "gap_31": {"phenotypes.trials.persistence_gap_days": 31},
    "gap_45": {"phenotypes.trials.persistence_gap_days": 45},
    "gap_60": {"phenotypes.trials.persistence_gap_days": 60},
    "gap_89": {"phenotypes.trials.persistence_gap_days": 89},
    "dds_1": {"phenotypes.trials.default_days_supply": 1},
    "dds_42": {"phenotypes.trials.default_days_supply": 42},
    "min_dose_low": {"phenotypes.trials.ingredient_min_daily_dose": {739138: 25.0, 766814: 100.0}},
    "tz_tokyo": {"omop.time_zone": "Asia/Tokyo"},
    "tz_kolkata": {"omop.time_zone": "Asia/Kolkata"},
    "tz_utc": {"omop.time_zone": "UTC"},
}
COMBOS: dict[str, list[str]] = {
    "A": ["refills", "no_verbatim", "dds_7", "max_supply_29"],
    "B": ["pre_index_365", "gap_0", "min_trial_28", "ing_min_days"],
    "C": ["ad3_last_not_adequate", "aug_n1", "somatic_ect_only", "followup_730"],
    "D": ["cutoff_2018", "ehr_any_record", "min_age_65"],
    "E": ["ignored_sert_fluox", "min_dose", "no_ctrl_drug_excl", "min_dx_1"],
    "F": ["ad3_n2", "aug_n3", "gap_90", "dds_90", "pre_index_90"],
    "G": ["ehr_none", "min_dx_3", "min_age_0", "no_excl_sets", "followup_0"],
    "H": ["tz_ny", "ad3_n4", "min_trial_56", "cutoff_2020"],
    "I": ["ad3_n1", "min_trial_1", "max_supply_30"],
    # with --knob-rows (K0: the base config, e.g. for --drop-counts)
    "K0": ["base"],
    "K1": ["gap_45", "dds_7", "tz_ny", "ehr_none", "min_dose"],
    "K2": ["gap_60", "dds_42", "no_verbatim", "tz_tokyo", "min_dose_low"],
    "K3": ["gap_89", "dds_1", "tz_kolkata", "ehr_any_record", "refills"],
    "K4": ["gap_31", "dds_90", "no_verbatim", "min_dose", "ad3_last_not_adequate"],
}


def _set(obj: Any, keys: list[str], value: Any) -> Any:
    """``obj`` (a pydantic model or list) with the dotted path ``keys`` set to ``value``; the model
    holding the changed field is validated with it (a nonsensical value raises)."""
    key = keys[0]
    if isinstance(obj, list):
        out = list(obj)
        out[int(key)] = _set(out[int(key)], keys[1:], value) if len(keys) > 1 else value
        return out
    new = _set(getattr(obj, key), keys[1:], value) if len(keys) > 1 else value
    if len(keys) == 1:
        type(obj).model_validate({**obj.model_dump(), key: value})
    return obj.model_copy(update={key: new})


def variant_config(base: Config, changes: dict[str, Any], omop_dir: Path) -> Config:
    cfg = base
    for path, value in {**changes, "omop.path": str(omop_dir)}.items():
        cfg = _set(cfg, path.split("."), value)
    return cfg


def compare(chain: Path, twin: Path) -> tuple[int, list[str], list[tuple], list[tuple]]:
    """Rows, shared columns, and the rows only the chain / only the twin has (every shared column)."""
    con = duckdb.connect()
    try:
        def columns(p: Path) -> list[str]:
            return [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{p}')").fetchall()]
        shared = [c for c in columns(chain) if c in set(columns(twin))]
        sel = ", ".join(f'"{c}"' for c in shared)
        a, b = (f"(SELECT {sel} FROM read_parquet('{p}'))" for p in (chain, twin))
        n = con.execute(f"SELECT count(*) FROM {a}").fetchone()[0]
        only_a = con.execute(f"SELECT * FROM ({a} EXCEPT ALL {b}) ORDER BY 1, 2").fetchall()
        only_b = con.execute(f"SELECT * FROM ({b} EXCEPT ALL {a}) ORDER BY 1, 2").fetchall()
        return n, shared, only_a, only_b
    finally:
        con.close()


def compare_drop_counts(omop: dict, tables: Any, cfg: Config, omop_dir: Path) -> int:
    """The chain's drop counts (``stage_counts``: study event dates per domain, the quirk parts the
    twin counts) against ``duckdb_drop_counts`` on the same data and config; prints each differing
    count (aggregates only) and returns 1 when one differs."""
    from duckdb_phenotypes import duckdb_drop_counts

    from trd_spark.phenotypes.stage import stage_counts

    dates, quirks = stage_counts(omop, tables.persons, tables.study_events, tables.ingredients,
                                 cfg.omop.data_cutoff_date, cfg.phenotypes.trials.max_days_supply,
                                 use_verbatim_end_date=cfg.phenotypes.trials.use_verbatim_end_date)
    twin = duckdb_drop_counts(str(omop_dir), cfg, threads=1)
    chain = {**dates, "deaths": quirks["birth_and_death"], "persons": quirks["persons"],
             "drug_records": quirks["drug_records"]}
    differ, compared = [], 0
    for part, counts in twin.items():
        if part not in chain:
            continue
        for key, value in counts.items():
            compared += 1
            if chain[part].get(key, 0 if part in dates else None) != value:
                differ.append(f"{part}.{key}: chain {chain[part].get(key)} twin {value}")
    print(f"    drop counts: {compared} compared, {len(differ)} differ" + "".join(f"\n    {d}" for d in differ),
          flush=True)
    return bool(differ)


def main() -> int:
    ap = argparse.ArgumentParser(description="The phenotype chain against its DuckDB twin over config variants.")
    ap.add_argument("names", nargs="*", help="COMBOS (default: all) or, with --single, VARIANTS names")
    ap.add_argument("--single", action="store_true")
    ap.add_argument("--persons", type=int, default=400)
    ap.add_argument("--seed", type=int, nargs="+", default=[37])
    ap.add_argument("--edge-rows", type=int, default=60)
    ap.add_argument("--knob-rows", type=int, default=0)
    ap.add_argument("--drop-counts", action="store_true")
    ap.add_argument("--random", type=int, default=0, metavar="N")
    ap.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "diff_phenotypes_variants")
    args = ap.parse_args()
    if args.random:
        rng = random.Random(args.seed[0])
        picks = [rng.sample(sorted(VARIANTS), rng.randint(3, 6)) for _ in range(args.random)]
        todo = {"+".join(p): {k: v for name in p for k, v in VARIANTS[name].items()} for p in picks}
    elif args.single:
        todo = {n: VARIANTS[n] for n in args.names or VARIANTS}
    else:
        todo = {n: {k: v for name in COMBOS[n] for k, v in VARIANTS[name].items()} for n in args.names or COMBOS}
    from trd_spark.phenotypes.stage import derive_phenotype_tables, read_omop
    from trd_spark.session import start_session

    spark = start_session(SparkSettings(master="local[2]", driver_memory="3g", shuffle_partitions=4,
                                        tmp_dir=str(args.data_dir / "spark")))
    failed = 0
    for seed in args.seed:
        omop_dir = args.data_dir / f"omop_{args.persons}_{seed}_{args.edge_rows}_{args.knob_rows}"
        if not (omop_dir / "person.parquet").exists():
            summary = write_omop(omop_dir, args.persons, seed=seed, edge_rows=args.edge_rows,
                                 knob_rows=args.knob_rows)
            print(f"seed {seed}: {omop_dir} knob persons {summary.get('knob_persons')}", flush=True)
        base = load_config()
        if args.knob_rows and base.omop.time_zone is None:  # the knob rows hold time-zone-aware columns
            base = _set(base, ["omop", "time_zone"], "UTC")
        for name, changes in todo.items():
            t0 = time.monotonic()
            cfg = variant_config(base, changes, omop_dir)
            chain, twin = args.data_dir / "chain.parquet", args.data_dir / "twin.parquet"
            omop = read_omop(spark, cfg)
            tables = derive_phenotype_tables(omop, cfg)
            tables.phenotypes.toPandas().to_parquet(chain)
            duckdb_phenotypes(str(omop_dir), cfg, str(twin), threads=1)
            n, shared, only_chain, only_twin = compare(chain, twin)
            failed += bool(only_chain or only_twin)
            print(f"seed {seed} {name} {sorted(changes)}: rows={n} columns={len(shared)} only_chain={len(only_chain)} "
                  f"only_twin={len(only_twin)} ({time.monotonic() - t0:.0f} s)", flush=True)
            for side, rows in (("chain", only_chain), ("twin", only_twin)):
                for r in rows[:6]:
                    print(f"    {side}: {r}")
            if args.drop_counts:
                failed += compare_drop_counts(omop, tables, cfg, omop_dir)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
