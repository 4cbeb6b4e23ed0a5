"""benchmarks/scaling.py's split of the score phase into a fixed and a per-entry part (issue 16,
session 35 flatbed2): the least-squares line and the lines it prints, on synthetic phases (no
Spark, milliseconds)."""

from __future__ import annotations

import re

import pytest

from benchmarks.scaling import fixed_and_slope, fixed_cost_lines

# issue 16's sizes: 2.5k / 10k / 20k samples x 200k variants
ENTRIES = {n: n * 200_000 for n in (2500, 10_000, 20_000)}


def test_fit_recovers_fixed_and_slope():
    """Phases of 0.7 s + 5 ns per entry: the line gives back both, to rounding."""
    fixed, slope = fixed_and_slope([(e, 0.7 + 5e-9 * e) for e in ENTRIES.values()])
    assert fixed == pytest.approx(0.7, abs=1e-9)
    assert slope == pytest.approx(5e-9, rel=1e-9)


def test_fit_needs_two_sizes():
    with pytest.raises(ValueError, match="two distinct sizes"):
        fixed_and_slope([(5e8, 1.0), (5e8, 1.1)])


def _figures(lines: list[str], series: str) -> tuple[float, float, float, float, str, str]:
    """(per-entry max/min, fixed s, slope ns, core-ns, marginal max/min, (phase - fixed) / entries max/min)."""
    line = next(x for x in lines if x.strip().startswith(series + ":"))
    m = re.search(r"per-entry max/min ([\d.]+); least-squares fixed (-?[\d.]+) s, slope (-?[\d.]+) ns per entry "
                  r"\((-?[\d.]+) core-ns at 2 cores\); marginal per-entry max/min (\S+)[^;]*; "
                  r"\(phase - fixed\) / entries max/min (\S+)", line)
    assert m, line
    return float(m[1]), float(m[2]), float(m[3]), float(m[4]), m[5], m[6]


def test_lines_separate_a_fixed_part_from_flat_per_entry_cost():
    """A phase flat per entry but for a fixed part looks dearer per entry at the small size
    (cold: 0.7 s fixed; warm: 0.1 s); the fit takes the fixed part out: the marginal per-entry
    cost is flat (1.00) in both series, the slope is 5 ns (10 core-ns at 2 cores); (phase - fixed)
    / entries is n/a with three sizes (one degree of freedom: near 1.00 whatever the data)."""
    cold = {n: 0.7 + 5e-9 * e for n, e in ENTRIES.items()}
    warm = {n: 0.1 + 5e-9 * e for n, e in ENTRIES.items()}
    lines = fixed_cost_lines("native-bed", ENTRIES, cold, warm, 2)
    assert "cold_s" in lines[1] and "warm_s" in lines[1]
    assert [x.split()[0] for x in lines[2:5]] == ["2500", "10000", "20000"]
    per_c, fixed_c, slope_c, core_c, marg_c, rest_c = _figures(lines, "cold")
    per_w, fixed_w, slope_w, core_w, marg_w, rest_w = _figures(lines, "warm")
    assert per_c == pytest.approx((0.7 / 5e8 + 5e-9) / (0.7 / 4e9 + 5e-9), abs=0.01) and per_c > 1.2
    assert per_w < per_c
    assert (fixed_c, fixed_w, slope_c, slope_w, core_c, core_w) == (0.7, 0.1, 5.0, 5.0, 10.0, 10.0)
    assert marg_c == marg_w == "1.00" and rest_c == rest_w == "n/a"


def test_lines_show_a_per_entry_cost_that_grows():
    """Per-entry cost growing with samples (issue 16 as filed: 1.8x from 2.5k to 10k) is not
    fitted away: (phase - fixed) / entries is not flat. Without a warm series only cold is shown."""
    grows = {n: 0.2 + 5e-9 * e * (1 + n / 10_000) for n, e in ENTRIES.items()}
    lines = fixed_cost_lines("hail-mt", ENTRIES, grows, None, 2)
    assert "warm" not in lines[1] and not any(x.strip().startswith("warm:") for x in lines)
    per, fixed, _, _, marg, rest = _figures(lines, "cold")
    assert per == pytest.approx(2.26, abs=0.01)
    # the line's intercept goes below zero; the marginal cost still grows (per entry 1 + (a + b) / 10k between
    # consecutive sizes a, b: 2.25 then 4.00, max/min 1.78)
    assert fixed < 0 and float(marg) == pytest.approx(1.78, abs=0.01) and rest == "n/a"


def test_cpu_lines_split_the_phases_cpu():
    """Under load the CPU series are the ones to read: 0.3 CPU-s fixed + 10 CPU-ns per entry
    gives back both and a flat rest; no core factor (CPU is summed over processes already)."""
    cpu = {n: 0.3 + 1e-8 * e for n, e in ENTRIES.items()}
    wall = {n: 0.7 + 5e-9 * e for n, e in ENTRIES.items()}
    lines = fixed_cost_lines("native-bed", ENTRIES, wall, None, 2, {"cold": cpu})
    line = next(x for x in lines if x.strip().startswith("cold CPU"))
    assert "5.30, 20.30, 40.30 CPU-s; per-entry max/min 1.05" in line
    assert ("fixed 0.30 CPU-s, slope 10.00 CPU-ns per entry; marginal per-entry max/min 1.00; (CPU - fixed) / "
            "entries max/min n/a (3 sizes: needs 4") in line


def test_flatness_of_the_fit_needs_four_sizes():
    """Session 35 read-through: with two sizes (phase - fixed) / entries is 1.00 by construction,
    whatever the data (the line passes through both points), and with three it has one degree of
    freedom: it printed "1.00" for a per-entry cost that grows 2x. Below four sizes it is n/a, the
    marginal per-entry cost (delta phase / delta entries, no fit) from three; with four sizes a
    growing cost shows in both, a flat one gives 1.00 in both."""
    two = {n: n * 200_000 for n in (2500, 20_000)}
    grows2 = {n: 0.2 + 5e-9 * e * (1 + n / 10_000) for n, e in two.items()}
    _, _, _, _, marg, rest = _figures(fixed_cost_lines("hail-mt", two, grows2, None, 2), "cold")
    assert (marg, rest) == ("n/a", "n/a")
    four = {n: n * 200_000 for n in (2500, 5000, 10_000, 20_000)}
    flat = {n: 0.4 + 5e-9 * e for n, e in four.items()}
    grows = {n: 0.2 + 5e-9 * e * (1 + n / 10_000) for n, e in four.items()}
    assert _figures(fixed_cost_lines("hail-mt", four, flat, None, 2), "cold")[4:] == ("1.00", "1.00")
    marg, rest = _figures(fixed_cost_lines("hail-mt", four, grows, None, 2), "cold")[4:]
    assert float(marg) > 2 and float(rest) > 1.2


def test_repeat_lines_give_the_median_phases_flatness_and_its_spread():
    """Session 36 flatmt: one phase a size gave 1.24-1.78 for one tree across sessions. From N
    phases a size (the first, then warm repeats) the lines give per size the first and the median
    phase and their spread, and the per-entry max/min over sizes from the medians beside the first
    phases' and its range over the repeats taken one at a time; fewer than three phases, or sizes
    with different counts, are refused (a median of two is their mean)."""
    from benchmarks.scaling import repeat_lines

    entries = {n: n * 50_000 for n in (2500, 10_000, 20_000)}
    # per entry 5 ns at every size but a first phase 0.5 s dearer at 2.5k and one slow repeat at 20k
    phases = {n: [5e-9 * e for _ in range(5)] for n, e in entries.items()}
    phases[2500][0] += 0.5
    phases[20_000][3] *= 1.5
    lines = repeat_lines("hail-mt", entries, phases, {n: [2 * t for t in v] for n, v in phases.items()})
    assert "median of 5 score phases" in lines[0] and "median_cpu_s" in lines[1]
    row = lines[2].split()
    assert row[0] == "2500" and [float(x) for x in row[1:3]] == pytest.approx([1.125, 0.625], abs=0.006)
    assert row[4:6] == ["9.00", "5.00"]  # first / median ns per entry
    assert row[3] == f"{1.125 / 0.625 - 1:.0%}"
    summary = next(x for x in lines if "per-entry max/min over sizes: median" in x)
    # medians flat (1.00); the first phases 9 / 5 = 1.80; the 4th phases 7.5 / 5 = 1.50
    assert "median phases 1.00; first phases 1.80; the i-th phases of every size, i = 1..5: 1.00-1.80 " \
           "(1.80, 1.00, 1.00, 1.50, 1.00)" in summary
    assert "CPU (driver + JVM + workers) per-entry max/min over sizes: median phases 1.00; first phases 1.80" in lines[-1]
    assert not any("median_cpu_s" in x for x in repeat_lines("hail-mt", entries, phases))
    with pytest.raises(ValueError, match="at least 3"):
        repeat_lines("hail-mt", entries, {n: v[:2] for n, v in phases.items()})
    with pytest.raises(ValueError, match="same number"):
        repeat_lines("hail-mt", entries, phases | {2500: phases[2500][:4]})
