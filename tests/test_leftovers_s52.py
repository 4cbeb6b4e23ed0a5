"""Session 52 (leftovers): four small gaps session 51 left.

1. report.html's Methods did not name ``trials.quantified_liquid_quantity`` (what a liquid's quantity
   counts in the minimum-dose rule), though it changes which exposures are trials.
2. The run summary's report row ended blank after its warnings count (the report writes no table).
3. A function-local import in a definition of ``releases`` that no stage takes (a lock method) put the
   module it imports, and all that one reaches, in every stage's code digest (docs/reruns.md): an edit
   of that module would rerun every stage of every release. Pinned too: importing ``releases`` and the
   CLI (and running ``--help``) changes no digest, and an edit of a stage's module changes its digest.
4. SIGTERM while ``trd-spark run`` generated the toy data took 40-55 s to stop under load: the handler
   ran within ~2 s, the rest was the interpreter's teardown (garbage collections over a run's ~90,000
   objects) at a small share of the CPUs; an interrupted process now exits without it.

No Spark: the digests are read from source files, the CLI stops or is stood in before a session starts.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from trd_spark import pipeline
from trd_spark.config import load_config

REPO = Path(__file__).resolve().parent.parent


# 1. The Methods name the liquid-quantity reading -------------------------------------------------

@pytest.mark.parametrize("reading, words", [
    ("items", "read as items (bottles, syringes: the OMOP reading): its dose the quantity x the item's mg"),
    ("ml", "read as mL (as US pharmacy data bill a liquid): its dose the quantity x the mg per mL"),
    ("items_or_ml", "read both as items (bottles, syringes) and as mL: such an exposure is below the minimum only "
                    "when both readings are, and of unknown dose (it counts) when they disagree"),
])
def test_methods_name_the_liquid_quantity_reading_of_the_minimum_dose(reading, words):
    """Before session 52 the Methods listed the minimum daily doses but not
    ``trials.quantified_liquid_quantity`` (3f225b4, fc544af): a reader could not tell whether a
    120 mL bottle of 20 mg/mL over 60 days was 40 or 2,400 mg/day. Named with a minimum dose
    only (it changes nothing else), from the config as the other trial settings are."""
    from trd_spark.report.stage import methods_html

    cfg = load_config()
    trials = cfg.phenotypes.trials.model_copy(update={"ingredient_min_daily_dose": {739138: 50.0},
                                                      "quantified_liquid_quantity": reading})
    cfg = cfg.model_copy(update={"phenotypes": cfg.phenotypes.model_copy(update={"trials": trials})})
    html = methods_html(cfg, {}, 20)
    assert "below the ingredient's minimum is none: 739138: 50 (mg/day); " in html, html
    assert words in html and f"(trials.quantified_liquid_quantity: {reading})" in html, html
    # Without a minimum dose the reading decides nothing: not named.
    trials = trials.model_copy(update={"ingredient_min_daily_dose": {}})
    cfg = cfg.model_copy(update={"phenotypes": cfg.phenotypes.model_copy(update={"trials": trials})})
    assert "quantified_liquid_quantity" not in methods_html(cfg, {}, 20)


# 2. The run summary's report row -----------------------------------------------------------------

def test_the_run_summary_row_of_the_report_says_where_report_html_is(tmp_path, monkeypatch, capsys):
    """The report stage writes no Parquet table, so its summary row ended blank after ``warnings
    0`` (``summary_table_counts`` of no tables: ""), as if it had written nothing; it now names its
    files relative to the summary's ``outputs under`` line. A stage with tables keeps its counts."""
    from trd_spark.cli import main
    from trd_spark.pipeline import StageResult, summary_table_counts

    root = tmp_path / "results"
    cfg = load_config(None, overrides={"output_root": str(root), "toy_data": None})
    config = tmp_path / "c.yaml"
    raw = json.loads(json.dumps(cfg.model_dump(mode="json")))
    raw["phenotypes"]["concept_sets"] = cfg.phenotypes.concept_sets
    config.write_text(yaml.safe_dump(raw))
    # The stages stand in (the pipeline's no-Spark path returns what they did).
    monkeypatch.setattr(pipeline, "skip_all_without_spark", lambda *_a, **_k: [
        StageResult("models", "skipped", 0.0, {"logistic": 120, "cox": 0}, 0),
        StageResult("report", "ran", 1.0, {}, 0)])
    capsys.readouterr()
    assert main(["run", "--stages", "models", "report", "--config", str(config)]) == 0
    err = capsys.readouterr().err
    summary = err[err.index("Summary (release"):]
    rows = {line.split()[0]: line for line in summary.splitlines()[1:3]}
    assert rows["report"].endswith("warnings 0   report/report.html, report/<table>.tsv; export/"), summary
    assert rows["models"].endswith("warnings 0   logistic=120, cox=0"), summary
    assert f"outputs under {root}/{cfg.release}/" in summary
    assert summary_table_counts("models", {}, 20) == ""  # a stage with tables, none recorded: as before


# 3. Code digests: imports change none, an edit of a stage's module does ------------------------

DIGESTS_SCRIPT = """
import contextlib, io, json, sys

out, mode = sys.argv[1], sys.argv[2]
if mode == "after_cli":
    import trd_spark.releases  # noqa: F401
    from trd_spark.cli import main
    for argv in (["--help"], ["run", "--help"], ["explain", "--help"]):
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
            main(argv)
import trd_spark
from trd_spark.provenance import code_digests
from trd_spark.stages import STAGE_SPECS

with open(out, "w") as f:
    json.dump({"package": trd_spark.__file__,
               "digests": {name: code_digests(spec.module) for name, spec in STAGE_SPECS.items()}}, f)
"""


def _digests(tmp_path: Path, mode: str, pythonpath: Path | None = None) -> dict:
    """Every stage's ``code_digests`` computed by a fresh interpreter (``mode`` "fresh": nothing
    imported before; "after_cli": ``releases`` and the CLI imported and ``--help`` run first), of
    the package at ``pythonpath`` (a copy) or the checkout."""
    script = tmp_path / "digests.py"
    script.write_text(DIGESTS_SCRIPT)
    out = tmp_path / f"digests_{mode}_{'copy' if pythonpath else 'repo'}.json"
    env = {**os.environ, "PYTHONPATH": str(pythonpath or REPO)}
    r = subprocess.run([sys.executable, str(script), str(out), mode], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    found = json.loads(out.read_text())
    assert found["package"] == str((pythonpath or REPO) / "trd_spark" / "__init__.py"), found["package"]
    return found["digests"]


def _insert_after(path: Path, line: str, inserted: str) -> None:
    text = path.read_text()
    assert text.count(line + "\n") == 1, (path, line)
    path.write_text(text.replace(line + "\n", line + "\n" + inserted + "\n"))


@pytest.fixture(scope="module")
def fresh_digests(tmp_path_factory) -> dict:
    return _digests(tmp_path_factory.mktemp("digests_fresh"), "fresh")


def test_importing_releases_and_the_cli_changes_no_stage_digest(fresh_digests, tmp_path):
    """The reruns' stale-output detection keys each stage's outputs on its code digest: a digest
    that depended on what the process had imported before (the CLI, ``releases``, ``--help``)
    would rerun stages for nothing, or keep a stale one. Pinned: equal in two fresh interpreters,
    one that imported them first (no change was found here on 173ccde)."""
    assert set(fresh_digests) == {"pgs", "phenotypes", "cohort", "models", "report"}
    assert _digests(tmp_path, "after_cli") == fresh_digests


def test_a_digest_follows_a_module_read_by_name_only_through_the_definitions_taken(fresh_digests, tmp_path):
    """In a copy of the package: (a) a function-local import of ``report.compare`` added to
    ``releases.ReleaseLock.release_lock`` (run control, which no stage's digest takes) changes no
    stage's digest; before session 52 such an import put the module and all it reaches in all five
    digests (seen with ``trd_spark.toydata``: 8 modules and ``lib:pysam`` each), so an edit of it
    would have rerun every stage of every release; (b) a function-local import of the toy generator
    in ``logs.person_count_text``, which stages take, is in the digest of each stage that takes it
    (never one too few); (c) an edit of ``phenotypes/trials.py`` changes the phenotypes stage's
    digest at that module, and no other stage's."""
    copy = tmp_path / "copy"
    shutil.copytree(REPO / "trd_spark", copy / "trd_spark", ignore=shutil.ignore_patterns("__pycache__"))
    _insert_after(copy / "trd_spark" / "releases.py", "    def release_lock(self) -> None:",
                  "        from trd_spark.report import compare  # noqa: F401 - s52 probe")
    _insert_after(copy / "trd_spark" / "logs.py", "def person_count_text(n: int, persons_below: int) -> str:",
                  "    from trd_spark.toydata import scores  # noqa: F401 - s52 probe")
    with open(copy / "trd_spark" / "phenotypes" / "trials.py", "a") as f:
        f.write("\n\ndef _s52_probe() -> int:\n    return 52\n")
    edited = _digests(tmp_path, "fresh", pythonpath=copy)

    taking = set()
    for stage, before in fresh_digests.items():
        after = edited[stage]
        added = sorted(set(after) - set(before))
        changed = sorted(k for k in before if k in after and before[k] != after[k])
        assert "trd_spark.report.compare" not in added, (stage, added)  # (a)
        # (b): followed exactly where the edited definition counts (the stage's part of logs changed)
        assert ("trd_spark.toydata.scores" in added) == ("trd_spark.logs" in changed), (stage, added, changed)
        if "trd_spark.logs" in changed:
            taking.add(stage)
        expected = {"trd_spark.phenotypes.trials"} if stage == "phenotypes" else set()  # (c)
        assert set(changed) - {"trd_spark.logs"} == expected, (stage, changed)
    assert taking, "no stage takes logs.person_count_text: pick another probe"


# 4. SIGTERM during toy-data generation ------------------------------------------------------------

# `trd-spark run` as the console script runs it (``main()`` without argv, the process's own command),
# with the toy generator held in its OMOP step (the genotypes written) until the signal comes, an exit
# handler and an object whose finaliser runs only in the interpreter's teardown.
RUN_SCRIPT = """
import atexit, os, sys, time
import trd_spark.toydata.omop as omop

def _held(*args, **kwargs):
    os.write(2, b"GENERATING OMOP\\n")
    while True:
        time.sleep(0.05)

omop.generate_omop = _held
atexit.register(lambda: os.write(2, b"EXIT HANDLERS RAN\\n"))


class _Teardown:
    def __del__(self):
        os.write(2, b"INTERPRETER TEARDOWN\\n")


teardown = _Teardown()
from trd_spark.cli import main

sys.argv = ["trd-spark", "run", "--config", sys.argv[1]]
sys.exit(main())
"""


def test_sigterm_during_toy_data_generation_stops_without_the_interpreter_teardown(tmp_path):
    """The signal's handler ran within ~2 s of SIGTERM (the generator's numpy and zlib calls hold
    the main thread briefly), and the stop left no partial toy data that looks complete (truth.json
    is written last); what took 40-55 s under load was the exit after the last log line: the
    interpreter's teardown, ~0.2 CPU-s of garbage collections, at a small share of the CPUs
    (session 52: 44-58 s with the process niced beside a busy core, 6-8 s now). An interrupted
    ``trd-spark`` now runs its exit handlers and ends with ``os._exit``. Caught before: the
    teardown's finaliser ran (``INTERPRETER TEARDOWN``); the toy folder said nothing of itself."""
    conf = tmp_path / "conf"
    shutil.copytree(REPO / "conf", conf)
    toy = conf / "toy.yaml"
    text = toy.read_text()
    assert "  persons: 3000\n  variants: 2000\n" in text
    toy.write_text(text.replace("  persons: 3000\n  variants: 2000\n", "  persons: 50\n  variants: 200\n"))
    script = tmp_path / "run.py"
    script.write_text(RUN_SCRIPT)
    log_path = tmp_path / "run.err"
    with open(log_path, "w") as err:
        proc = subprocess.Popen([sys.executable, str(script), str(toy)], cwd=tmp_path, stdout=subprocess.DEVNULL,
                                stderr=err, start_new_session=True)
    try:
        deadline = time.time() + 600  # a guard against a hung run only (a loaded machine is slow)
        while "GENERATING OMOP" not in log_path.read_text():
            assert proc.poll() is None, log_path.read_text()[-3000:]
            assert time.time() < deadline, "the toy generation never reached OMOP: " + log_path.read_text()[-3000:]
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    text = log_path.read_text()
    assert proc.returncode == 143, text[-3000:]
    errors = [line for line in text.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "Interrupted: SIGTERM received; stopped" in errors[0], text[-3000:]
    assert "EXIT HANDLERS RAN" in text  # logging's shutdown and every atexit handler still run
    assert "INTERPRETER TEARDOWN" not in text, text[-3000:]
    data = tmp_path / "out" / "toy" / "data"
    assert (data / "genotypes" / "discovery.vcf.bgz").exists() and not (data / "truth.json").exists()
    assert f"toy data generation stopped: {data} has no truth.json" in text, text[-3000:]
    assert not list((tmp_path / "out" / "toy" / "results").glob("*/.lock"))  # the lock released

    # The next run generates them again (the marker, not the partial files, decides).
    from trd_spark.preflight import toy_data_pending

    cfg = load_config(toy)
    assert toy_data_pending(cfg) == str(data)
    pipeline.ensure_toy_data(cfg)
    assert json.loads((data / "truth.json").read_text())["persons"] == 50
    assert toy_data_pending(cfg) is None
