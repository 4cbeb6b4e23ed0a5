"""``memory.small_pages`` from several threads at once (numpy's huge-page switch is one per process)."""

from __future__ import annotations

import threading

import pytest

np_multiarray = pytest.importorskip("numpy._core.multiarray")


def _advice() -> bool:
    set_advice = np_multiarray._set_madvise_hugepage
    now = set_advice(False)
    set_advice(now)
    return now


def test_small_pages_entered_by_two_threads_keeps_the_advice_off_until_both_leave():
    """Thread A enters, thread B enters, A leaves while B still works, then B leaves. Each entry
    used to save the switch as it found it and restore that on exit: A's exit turned the advice
    back on while B was still inside (B's arrays got huge pages), and B's exit then restored
    *off* for good (the process kept no advice after both had left). Now the first entry saves,
    the last exit restores."""
    from trd_spark.pgs.memory import small_pages

    set_advice = np_multiarray._set_madvise_hugepage
    a_in, b_in, a_out, b_may_leave = (threading.Event() for _ in range(4))
    seen: dict[str, bool] = {}
    errors: list[BaseException] = []

    def a() -> None:
        try:
            with small_pages():
                a_in.set()
                assert b_in.wait(30)
            a_out.set()
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)
            a_out.set()

    def b() -> None:
        try:
            assert a_in.wait(30)
            with small_pages():
                b_in.set()
                assert b_may_leave.wait(30)
                seen["b_inside_after_a_left"] = _advice()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    before = set_advice(True)
    try:
        threads = [threading.Thread(target=a), threading.Thread(target=b)]
        for t in threads:
            t.start()
        assert a_out.wait(30)
        b_may_leave.set()
        for t in threads:
            t.join(30)
        assert not errors, errors
        assert seen["b_inside_after_a_left"] is False  # A's exit must not turn the advice on under B
        assert _advice() is True  # restored once both have left
        with small_pages(), small_pages():  # nested in one thread as well
            assert _advice() is False
        assert _advice() is True
    finally:
        set_advice(before)
