"""Findings of session 31's read-through that are not a file format's or a stage's own."""
from __future__ import annotations

import logging
import threading


def test_the_allele_count_pass_quiets_its_own_thread_only():
    """``engine._haploid_allele_counts`` quiets the second native pass's lines (its WARNINGs
    repeat the main pass's: counted twice otherwise) with a filter on ``pgen_engine.log``; that
    filter dropped every record, another thread's WARNING or error too, while it was attached.
    Now only the records of the thread that made it, at every level."""
    from trd_spark.pgs import engine

    def record(level: int) -> logging.LogRecord:
        return logging.LogRecord("trd_spark.pgs.pgen_engine", level, __file__, 1, "m", None, None)

    quiet = engine._Quiet()
    assert not any(quiet.filter(record(level)) for level in (logging.INFO, logging.WARNING, logging.ERROR))
    elsewhere: list[bool] = []
    t = threading.Thread(target=lambda: elsewhere.extend(quiet.filter(record(level))
                                                         for level in (logging.INFO, logging.WARNING)))
    t.start()
    t.join()
    assert elsewhere == [True, True]
