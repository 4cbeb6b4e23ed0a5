"""A Python worker acknowledges its task socket's reads at once (``worker_daemon``; issue 16, session 37).

Spark 3.5's JVM writes a task to a reused Python worker in two flushes; the worker delayed its
TCP acknowledgement of the first (40 ms on Linux) and the JVM's socket (Nagle) held the second,
the task's function and input, until then: the native pass's ~50 ms "hand-off lag" per task
(benchmarks/RESULTS.md, session 37 flatbed). Checked: in a real Spark worker of the session
(local master, ``trd_spark.worker_daemon``) the task's socket is read through ``AckedReads``;
over a real loopback TCP connection the reader returns exactly what was sent, in pieces as a
worker reads, and acknowledges each read (the sender has nothing left unacknowledged right after
a read, where a plain read may leave it so for the delayed-ACK timer); a descriptor that is not
a TCP socket is read as before.
"""

from __future__ import annotations

import io
import os
import socket
import struct
import sys
import threading
from typing import Any, cast

import pytest

from trd_spark.worker_daemon import AckedReads, acked_reader, acking_worker_main

linux_tcp = pytest.mark.skipif(not hasattr(socket, "TCP_QUICKACK") or not sys.platform.startswith("linux"),
                               reason="TCP_QUICKACK and TCP_INFO are Linux's")


def test_a_local_workers_task_socket_is_read_through_acked_reads(spark):
    def reader_of_this_task(_):  # local: pickled by value (a worker cannot import this test module)
        import sys

        frame: Any = sys._getframe()
        while frame is not None and not (frame.f_code.co_name == "main"
                                         and frame.f_globals.get("__name__") == "pyspark.worker"):
            frame = frame.f_back
        assert frame is not None, "not run by pyspark.worker.main"
        infile = frame.f_locals["infile"]
        return type(infile).__name__, type(getattr(infile, "raw", None)).__name__

    # Two tasks a worker (a reused worker's second task is the case the lag hit).
    found = spark.sparkContext.parallelize(range(4), 4).map(reader_of_this_task).collect()
    assert found == [("BufferedReader", "AckedReads")] * 4


def _pair() -> tuple[socket.socket, socket.socket]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    sender = socket.create_connection(server.getsockname())
    receiver, _ = server.accept()
    server.close()
    return sender, receiver


def _unacked(sock: socket.socket) -> int:
    """Linux ``tcp_info.tcpi_unacked``: segments sent and not yet acknowledged."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    return struct.unpack_from("I", info, 24)[0]  # after 8 one-byte fields and 4 u32 (rto, ato, snd_mss, rcv_mss)


@linux_tcp
def test_acked_reads_return_what_was_sent_and_acknowledge_each_read():
    sender, receiver = _pair()
    try:
        infile = cast(io.BufferedReader, os.fdopen(os.dup(receiver.fileno()), "rb", 65536))  # as pyspark's daemon opens a task's socket
        acked = acked_reader(infile, 65536)
        assert acked is not None
        reader, sock = acked
        assert isinstance(reader.raw, AckedReads)
        # Back-and-forth first (a reused worker's socket), then a header, a pause, the rest.
        for i in range(20):
            sender.sendall(struct.pack(">i", i))
            assert struct.unpack(">i", reader.read(4))[0] == i
            receiver.sendall(b"k")
            assert sender.recv(1) == b"k"
        body = os.urandom(3000)
        sender.sendall(b"HEAD" + struct.pack(">i", len(body)))
        assert reader.read(4) == b"HEAD"
        # Read and acknowledged: nothing of the sender's is left unacknowledged (loopback: the
        # acknowledgement arrives within the setsockopt call that sends it).
        assert _unacked(sender) == 0
        sender.sendall(body)
        assert reader.read(struct.unpack(">i", reader.read(4))[0]) == body
        assert _unacked(sender) == 0
        sock.detach()
        reader.detach()
        infile.close()
    finally:
        sender.close()
        receiver.close()


def test_not_a_tcp_socket_is_read_as_it_is(tmp_path):
    path = tmp_path / "input"
    path.write_bytes(b"abc")
    with open(path, "rb") as f:
        assert acked_reader(f, 65536) is None
    a, b = socket.socketpair()  # a Unix socket: no TCP option
    try:
        infile = cast(io.BufferedReader, os.fdopen(os.dup(a.fileno()), "rb", 65536))
        assert acked_reader(infile, 65536) is None
        b.sendall(b"xyz")
        assert infile.read(3) == b"xyz"  # the descriptor still open and readable
        infile.close()
    finally:
        a.close()
        b.close()


def test_acking_worker_main_hands_the_task_what_was_sent(tmp_path):
    seen = []

    def worker_main(infile, outfile):
        seen.append((type(getattr(infile, "raw", None)).__name__, infile.read(5)))
        outfile.write(b"done")

    main = acking_worker_main(worker_main)
    sender, receiver = _pair()
    try:
        threading.Thread(target=sender.sendall, args=(b"12345",)).start()
        infile = os.fdopen(os.dup(receiver.fileno()), "rb", 65536)
        out = io.BytesIO()
        main(infile, out)
        assert out.getvalue() == b"done"
        assert seen == [("AckedReads" if hasattr(socket, "TCP_QUICKACK") else "FileIO", b"12345")]
        # The descriptor is still infile's (not closed by the reader's socket object).
        os.fstat(infile.fileno())
        infile.close()
    finally:
        sender.close()
        receiver.close()
