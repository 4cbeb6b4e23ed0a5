"""Hail's JavaIR finalisers never call the JVM from inside a Py4J call (CI's red of session 56).

``hail.ir.table_ir.JavaTable.__del__`` and ``hail.ir.ir.JavaIRSharedReference.__del__`` called
``pyRemoveJavaIR`` over Py4J from whatever frame Python's cyclic GC interrupted: inside a Py4J
call's ``readline`` that reentered the thread's one connection ("reentrant call inside
<_io.BufferedReader>"), failed the call in flight and left the next call reading a wrong answer.
``session.defer_hail_ir_removal`` (installed by ``start_session``) queues the ids instead and
removes them at the next Hail call. Here the GC is forced at exactly that point: a
``socket.SocketIO.readinto`` patched to run ``gc.collect(0)`` first, in one thread of the test's.
"""

from __future__ import annotations

import gc
import logging
import socket
import sys
import threading
import weakref

import pytest


def _ir_cache(hl):
    """The running Hail driver's ``irCache`` (``Py4JQueryDriver``'s private ``mutable.Map[Int,
    BaseIR]``: the JavaIR ids the JVM holds), read by reflection: Hail has no accessor."""
    driver = hl.utils.java.Env.backend()._jbackend
    field = driver.getClass().getDeclaredField("irCache")
    field.setAccessible(True)
    return field.get(driver)


def test_finalisers_in_a_py4j_read_neither_break_the_connection_nor_leak_ids(spark, hl, monkeypatch, caplog):
    """Cycles holding ``from_spark`` tables (JavaTable) and a persisted literal (JavaIR) are freed
    by a GC inside the read of a Py4J answer: every Py4J answer stays right, no finaliser fails,
    the ids stay in the JVM until the next Hail call, which removes them and answers right.
    Before the fix the first finaliser's call failed there ("reentrant call inside
    <_io.BufferedReader>", Py4J closed the connection) and the call in flight read a wrong answer:
    "Py4JError: java does not exist in the JVM" (CI's: "PythonUtils does not exist in the JVM").
    The scenario runs in a thread of its own, the only one the patched read collects in: were
    its Py4J connection broken, the other tests' (the main thread's) would not be."""
    df = spark.createDataFrame([(1, 2.0), (2, 3.5)], "a int, b double")
    jvm = spark.sparkContext._jvm
    armed = threading.Event()
    real_readinto = socket.SocketIO.readinto
    unraisable: list[str] = []

    def collecting_readinto(self, buffer):
        # The GC the CI run met by chance, here at every read of the scenario's thread once armed.
        if armed.is_set() and threading.current_thread() is scenario_thread:
            gc.collect(0)  # the youngest generation: where the cycles made here are (automatic GC off)
        return real_readinto(self, buffer)

    def scenario(seen: dict) -> None:
        ir_cache = _ir_cache(hl)
        ids = []
        for k in range(3):
            table = hl.Table.from_spark(df)
            literal = hl.literal([k, k + 1])._persist()
            ids += [table._tir._id, literal._ir._id]
            holder: list = [table, literal]
            holder.append(holder)  # a cycle: only the cyclic GC frees it (automatic GC is off)
        del table, literal, holder
        seen["held_before"] = [bool(ir_cache.contains(i)) for i in ids]
        armed.set()
        seen["answers"] = [jvm.java.lang.Math.addExact(i, 1000) for i in range(8)]
        seen["held_after_gc"] = [bool(ir_cache.contains(i)) for i in ids]
        check = hl.Table.from_spark(df)
        seen["hail_sum"] = check.aggregate(hl.agg.sum(check.b))
        seen["held_after_hail"] = [bool(ir_cache.contains(i)) for i in ids]
        seen["spark_count"] = spark.range(7).count()

    def run(seen: dict) -> None:
        try:
            scenario(seen)
        except BaseException as e:  # noqa: BLE001 - reported by the test's thread
            seen["error"] = f"{type(e).__name__}: {e}"

    monkeypatch.setattr(socket.SocketIO, "readinto", collecting_readinto)
    monkeypatch.setattr(sys, "unraisablehook", lambda u: unraisable.append(f"{u.exc_type.__name__}: {u.exc_value}"))
    seen: dict = {}
    scenario_thread = threading.Thread(target=run, args=(seen,), name="reentry-scenario", daemon=True)
    gc.disable()
    try:
        scenario_thread.start()
        scenario_thread.join()
    finally:
        armed.clear()
        gc.enable()
    assert "error" not in seen, seen["error"]
    # Before the fix: "Py4JError: An error occurred while calling o<n>.pyRemoveJavaIR" here, and
    # py4j's ERROR "Exception while sending command" (RuntimeError: reentrant call) below.
    assert unraisable == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert seen["held_before"] == [True] * 6
    assert seen["answers"] == [i + 1000 for i in range(8)]
    assert seen["held_after_gc"] == [True] * 6  # queued, not sent from inside the read
    assert seen["hail_sum"] == pytest.approx(5.5)
    assert seen["held_after_hail"] == [False] * 6  # removed by the next Hail call: no leak
    assert seen["spark_count"] == 7


def test_queued_ids_of_another_backend_are_dropped_not_sent(spark, hl):
    """An id queued by a backend no longer running (``hl.stop`` then ``hl.init``: ids restart and
    name other IRs) is dropped: the running backend's IR of the same id stays."""
    from trd_spark import session

    table = hl.Table.from_spark(spark.createDataFrame([(1,)], "a int"))
    ir_id = table._tir._id

    class StoppedBackend:
        pass

    gone = StoppedBackend()
    session._IR_REMOVALS.append((weakref.ref(gone), ir_id))
    del gone
    assert session.remove_queued_hail_irs() == 0
    assert not session._IR_REMOVALS
    assert _ir_cache(hl).contains(ir_id)
    assert table.count() == 1


def test_defer_hail_ir_removal_pins_hails_finalisers_and_entry_points(spark, hl, monkeypatch):
    """The adapter of Hail's private finalisers and backend methods: installed once (a second call
    changes nothing), on the classes the running backend and Hail's IR resolve them from, and a
    Hail without one of them fails with one error naming it, not silently."""
    from hail.backend.spark_backend import SparkBackend

    from trd_spark import session
    from trd_spark.errors import TrdSparkError

    def installed() -> list:
        return [getattr(cls, name) for cls, name in session.hail_ir_adapter_points()]

    before = installed()
    names = [f"{cls.__name__}.{name}" for cls, name in session.hail_ir_adapter_points()]
    assert names == ["JavaTable.__del__", "JavaIRSharedReference.__del__", "Py4JBackend._rpc",
                     "Py4JBackend.persist_expression", "SparkBackend.from_spark", "SparkBackend.to_spark"]
    assert [getattr(f, session._DEFERRED_MARK, None) for f in before] == [n.split(".")[0] for n in names]
    session.defer_hail_ir_removal()
    assert installed() == before
    backend_type = type(hl.utils.java.Env.backend())
    assert backend_type is SparkBackend
    for (_, name), ours in zip(session.hail_ir_adapter_points(), before, strict=True):
        if name != "__del__":
            assert getattr(backend_type, name) is ours, name
    monkeypatch.delattr(SparkBackend, "to_spark")
    with pytest.raises(TrdSparkError, match=r"has no hail\.backend\.spark_backend\.SparkBackend\.to_spark "):
        session.defer_hail_ir_removal()
