"""A Spark start abandoned while its JVM launches (no tests here; the child script of
test_runsafe_s32 and test_review_s32_abandon).

``FAKE_START`` runs as ``python -c FAKE_START <how>`` in a process of its own (the test process's
children include the shared session's JVM): a ``session.BackgroundStart`` whose launch is a fake
JVM, a child whose command line names Spark's submit class as PySpark's JVM's does, and that the
start waits on as PySpark waits for the JVM's connection file. ``how``:

- ``parse_error`` / ``interrupt``: the parse fails (``stop_waiting``) or SIGINT comes 0.3 s after
  the launch; a fake JVM of the process from before the start and another child run beside it.
  Prints the exception's name and whether it came within 5 s, then the launched JVM's, the earlier
  JVM's and the other child's ``poll()`` and whether the start's thread is still alive.
- ``deaf``: the fake JVM ignores SIGTERM (a JVM whose shutdown hooks hang); the parse fails as soon
  as it is launched, with ``ABANDON_TERM_SECONDS`` 0.5. Prints WARNING log records as
  ``LOG WARNING <message>``, then ``ValueError`` and whether it came within 3.5 s, then
  ``ended <returncode> <thread alive>``, or ``left <returncode>`` when the JVM was left running.
"""

FAKE_START = r'''
import logging, os, signal, subprocess, sys, threading, time
from trd_spark import session
from trd_spark.config import SparkSettings
from trd_spark.session import BackgroundStart

how = sys.argv[1]
deaf = how == "deaf"
sleep = [sys.executable, "-c", "import time; time.sleep(120)"]
jvm_args = ["org.apache.spark.deploy.SparkSubmit", "pyspark-shell"]
if deaf:
    logging.basicConfig(level=logging.WARNING, format="LOG %(levelname)s %(message)s", stream=sys.stdout)
    session.ABANDON_TERM_SECONDS = 0.5
    session.ABANDON_WAIT_SECONDS = 4.0
    jvm_command = [sys.executable, "-c",
                   "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
                   "time.sleep(120)", *jvm_args]
else:
    earlier = subprocess.Popen([*sleep, *jvm_args])  # not this start's
    other = subprocess.Popen([*sleep, "something-else"])
    jvm_command = [*sleep, *jvm_args]
launched = []

def start(settings, *, gate):
    if not deaf:
        time.sleep(0.2)
    gate.step()
    gate.launching()
    jvm = subprocess.Popen(jvm_command, stdout=subprocess.PIPE if deaf else None, text=True)
    if deaf:
        jvm.stdout.readline()  # its SIGTERM handler set
    launched.append(jvm)
    jvm.wait()  # as PySpark waits for the JVM's connection file
    raise RuntimeError("Java gateway process exited before sending its port number")

begun = BackgroundStart(SparkSettings(master="local[1]"), start=start).begin()
while not launched:
    time.sleep(0.01)
t0 = time.monotonic()
if deaf:
    begun.stop_waiting(ValueError("the parse failed"))
    try:
        begun.result()
    except ValueError:
        print("ValueError", round(time.monotonic() - t0, 1) < 3.5)
    jvm = launched[0]
    if jvm.poll() is None:
        jvm.kill()
        print("left", jvm.wait())
    else:
        print("ended", jvm.returncode, begun._thread.is_alive())
    sys.exit(0)
if how == "parse_error":
    threading.Timer(0.3, begun.stop_waiting, [ValueError("the parse failed")]).start()
else:
    threading.Timer(0.3, os.kill, [os.getpid(), signal.SIGINT]).start()
try:
    begun.result()
except (ValueError, KeyboardInterrupt) as e:
    print(type(e).__name__, round(time.monotonic() - t0, 1) < 5)
print(launched[0].poll(), earlier.poll(), other.poll(), begun._thread.is_alive())
earlier.kill(); other.kill()
'''
