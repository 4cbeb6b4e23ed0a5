"""Findings of session 31's read-through that are not a file format's or a stage's own."""
from __future__ import annotations

import logging


def test_the_allele_count_pass_keeps_warnings_of_the_native_engine():
    """``engine._haploid_allele_counts`` quiets the second native pass's progress lines with a
    filter on ``pgen_engine.log``; that filter dropped every record, a WARNING or an error of
    any thread too, while it was attached. Now only INFO and DEBUG."""
    from trd_spark.pgs import engine

    quiet = engine._Quiet()
    made = {level: logging.LogRecord("trd_spark.pgs.pgen_engine", level, __file__, 1, "m", None, None)
            for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)}
    assert {level: quiet.filter(r) for level, r in made.items()} == {
        logging.DEBUG: False, logging.INFO: False, logging.WARNING: True, logging.ERROR: True}
