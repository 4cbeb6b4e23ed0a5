"""Privacy, session 33: counts a reader of the export can get back by arithmetic.

Kaplan-Meier curve sets of one dataset and definition under two scores count the same persons
(every MDD person with follow-up has every score), cut into thirds differently. On a day after 0
at which every third of one curve set has a point, its thirds add up to the persons still at risk
that day; so do the other set's thirds, and a third of the other set with no point that day gets
its number at risk there by subtraction. Its points around that day do not give it: the step from
its last point to that day is one ``models.km.coarsen_km`` left unpublished, perhaps because it
was under 20 persons. The audit now knows the link (``report.tables.km_cross_set_cells``).
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from trd_spark.config import load_config
from trd_spark.models.km import coarsen_km, km_on_grid
from trd_spark.report.stage import build_report
from trd_spark.schemas import COHORT_FLOW, KM_CURVES, LOGISTIC_RESULTS, PGS_MATCH_SUMMARY

T = 20  # report.small_count_threshold's default
ONSET_DAY_45, ONSET_DAY_75, FOLLOWED = (45, 1), (75, 1), (200, 0)  # (day, 1 onset / 0 censored)


def curves(sets: dict[str, list[list[tuple[int, int, int]]]], definition: str) -> pd.DataFrame:
    """The models stage's internal km_curves (every grid day, 30 days apart) of curve sets given
    as {pgs_id: [third 1, 2, 3]}, each third a list of (persons, day, onset 1 / censored 0)."""
    parts = []
    for pgs, thirds in sets.items():
        for k, groups in enumerate(thirds, 1):
            day = np.concatenate([[d] * n for n, d, _ in groups]).astype(float)
            onset = np.concatenate([[e] * n for n, _, e in groups]).astype(float)
            parts.append(km_on_grid(day, onset, np.arange(0, 201, 30)).assign(
                dataset="discovery", definition=definition, pgs_id=pgs, trait=pgs, tertile=k))
    return pd.concat(parts, ignore_index=True)[KM_CURVES.names]


def left_between_points(km: pd.DataFrame) -> list[tuple]:
    """What an outsider reads from exported Kaplan-Meier points (``km_curves.tsv``): curve sets
    of one dataset and definition with the same persons on day 0 have the same persons at risk on
    every day; on a day after 0 at which set A has every third, set B's thirds without a point
    there have A's sum less B's shown thirds, and the persons they lost since their last points
    (an onset or censored), and until their next, follow. [(dataset, definition, B, thirds, day,
    lost before, lost after or None)]."""
    found = []
    for (ds, definition), g in km.groupby(["dataset", "definition"]):
        sets = {p: c for p, c in g.groupby("pgs_id")}
        day0 = {p: int(c[c.time_days == 0].n_at_risk.sum()) for p, c in sets.items()}
        for a, ca in sets.items():
            thirds_on = ca.groupby("time_days").tertile.nunique()
            for t in thirds_on[(thirds_on == 3) & (thirds_on.index > 0)].index:
                total = int(ca[ca.time_days == t].n_at_risk.sum())
                for b, cb in sets.items():
                    shown = cb[cb.time_days == t]
                    if b == a or day0[b] != day0[a] or len(shown) == 3:
                        continue
                    missing = sorted({1, 2, 3} - set(shown.tertile))
                    at_t = total - int(shown.n_at_risk.sum())
                    before = after = 0
                    for k in missing:
                        third = cb[cb.tertile == k].sort_values("time_days")
                        before += int(third[third.time_days < t].n_at_risk.iloc[-1])
                        later = third[third.time_days > t].n_at_risk
                        after = None if after is None or not len(later) else after + int(later.iloc[0])
                    found.append((ds, definition, b, tuple(missing), int(t), before - at_t,
                                  None if after is None else at_t - after))
    return found


def small(found: list[tuple]) -> list[tuple]:
    return [f for f in found if 0 < f[5] < T or (f[6] is not None and 0 < f[6] < T)]


def test_two_curve_sets_of_the_same_persons_give_no_small_step_by_subtraction():
    """240 MDD persons under two scores. PGS900001's thirds all have a point on day 60 (58, 58,
    57 at risk: 173); PGS900002's first two (50, 50), its third (80 on day 0, 53 on day 90) not:
    7 onsets before day 60 and 20 after are one published step of 27. On 45356c7 both curve sets
    were exported whole, and 173 - 50 - 50 = 73 at risk on day 60 gave the 7. Here the audit
    leaves out a curve set (through the report's own path, ``build_report``), and no such
    subtraction gives 1..19."""
    cfg = load_config()
    sets = {"PGS900001": [[(22, *ONSET_DAY_45), (58, *FOLLOWED)], [(22, *ONSET_DAY_45), (58, *FOLLOWED)],
                          [(23, *ONSET_DAY_45), (20, *ONSET_DAY_75), (37, *FOLLOWED)]],
            "PGS900002": [[(30, *ONSET_DAY_45), (50, *FOLLOWED)], [(30, *ONSET_DAY_45), (50, *FOLLOWED)],
                          [(7, *ONSET_DAY_45), (20, *ONSET_DAY_75), (53, *FOLLOWED)]]}
    grid = curves(sets, cfg.phenotypes.primary_definition)
    # The outsider is not blind: the points coarsen_km keeps, all shown, give the 7.
    points = coarsen_km(grid, T).drop(columns="n_events_after")
    assert small(left_between_points(points)) == [
        ("discovery", cfg.phenotypes.primary_definition, "PGS900002", (3,), 60, 7, 20)]

    t = {"logistic": pd.DataFrame(columns=LOGISTIC_RESULTS.names), "cohort_flow": pd.DataFrame(columns=COHORT_FLOW.names),
         "match_summary": pd.DataFrame(columns=PGS_MATCH_SUMMARY.names), "km_curves": grid}
    files = build_report(cfg, t, {})
    exported = pd.read_csv(io.StringIO(files["km_curves.tsv"]), sep="\t")
    assert small(left_between_points(exported)) == []
    assert len(exported) and exported["pgs_id"].nunique() == 1, exported  # one set kept, not both dropped


# Two releases' exports give the changes of the counts both show (README Privacy, "Two releases'
# exports"): the report audits its export against every export under its output_root. A new
# release's run under another output root (All of Us ties a workspace, and its bucket, to one CDR
# version: a new CDR version often means a new workspace) found no earlier export there and was
# audited against nothing, silently. ``report.audit_output_roots`` names the roots to read too.
def test_an_export_under_another_output_root_is_audited_against(spark, tmp_path):
    """r1 exported under one output root (167 TRD persons), r2 under another (174: 7 joined). On
    45356c7 r2's report read its own root only: nothing found, 174 shown, and the two exports
    gave the 7. With ``report.audit_output_roots`` naming the first root, r1's export is read
    (label ``r1@run1``), 174 is hidden, and no change of 1..19 comes back; a root that does not
    exist is one ConfigError naming the key (audited against nothing, the export said nothing
    of it)."""
    from export_attacker import small_release_changes
    from test_report_reexport import attacker, export_files, release

    from trd_spark.errors import ConfigError
    from trd_spark.io import Fs
    from trd_spark.report.stage import publish_export, released_exports
    from trd_spark.report.tables import ReleaseCounts, prior_counts

    fs = Fs(spark)
    first_root, second_root = tmp_path / "workspace1", tmp_path / "workspace2"
    second_root.mkdir()
    publish_export(fs, load_config(None, overrides={"output_root": str(first_root), "release": "r1"}),
                   export_files(release(167)), run_id="run1")
    alone = load_config(None, overrides={"output_root": str(second_root), "release": "r2"})
    assert released_exports(fs, alone) == {}
    shown_alone = export_files(release(174))
    known = {cell: n for (_, cell), n in prior_counts(
        released_exports(fs, load_config(None, overrides={"output_root": str(first_root), "release": "r2"}))).items()}
    assert small_release_changes(attacker(shown_alone), known, T)[("status", "d", "A", "TRD")] == (7, 7)

    cfg = load_config(None, overrides={"output_root": str(second_root), "release": "r2",
                                       "report": {"audit_output_roots": [str(first_root)]}})
    others = released_exports(fs, cfg)
    assert sorted(others) == ["r1@run1"]
    second = export_files(ReleaseCounts(**{**release(174).__dict__, "prior": prior_counts(others)}))
    assert "\tTRD\t174\n" not in second["cohort_counts.tsv"], second["cohort_counts.tsv"]
    assert small_release_changes(attacker(second), known, T) == {}

    missing = load_config(None, overrides={"output_root": str(second_root), "release": "r2",
                                           "report": {"audit_output_roots": [str(tmp_path / "gone")]}})
    with pytest.raises(ConfigError, match=r"report\.audit_output_roots: .*gone does not exist"):
        released_exports(fs, missing)


def test_a_missing_audit_output_root_stops_the_run_before_any_stage(tmp_path):
    """The roots are checked with the inputs, before the run starts (``preflight.check_inputs``):
    a missing one stopped the run only at the report, after every other stage had run. A root
    that exists passes; the report stage not to run, none is looked at. A file in a root's place
    (no output root: the report stage refuses it, after every other stage) is refused at the
    start too (session 34's review: a mutant of 3f42042's check testing ``exists()`` for
    ``is_dir()`` passed this test)."""
    from trd_spark.errors import ConfigError
    from trd_spark.preflight import check_inputs

    cfg = load_config(None, overrides={"output_root": str(tmp_path / "out"),
                                       "report": {"audit_output_roots": [str(tmp_path / "workspace1")]}})
    with pytest.raises(ConfigError, match=r"report\.audit_output_roots: .*workspace1 does not exist"):
        check_inputs(cfg, ["report"])
    check_inputs(cfg, ["models"])
    # Session 34: a root that exists must hold an export too (layout.audit_root_problem, the report's rule).
    (tmp_path / "workspace1" / "r1" / "export").mkdir(parents=True)
    (tmp_path / "workspace1" / "r1" / "export" / "_SUCCESS").write_text("")
    check_inputs(cfg, ["report"])
    (tmp_path / "workspace2").write_text("")
    as_file = load_config(None, overrides={"output_root": str(tmp_path / "out"),
                                           "report": {"audit_output_roots": [str(tmp_path / "workspace2")]}})
    with pytest.raises(ConfigError, match=r"report\.audit_output_roots: .*workspace2 holds no export"):
        check_inputs(as_file, ["report"])
