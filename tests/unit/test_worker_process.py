"""What a worker process does for its driver, short of a pipeline (tests/e2e has the kill -9 test)."""

from __future__ import annotations

import io
import os

from winnow.transforms.beam.worker_process import Driver, _WithoutTracebacks


def test_the_driver_itself_is_not_attached():
    assert Driver.current().attach() is False


def test_a_process_the_driver_did_not_start_is_not_attached():
    assert Driver(pid=os.getpid() + 10_000_000, quiet=True).attach() is False


def test_a_quiet_workers_stderr_leaves_out_tracebacks_and_keeps_everything_else():
    real = io.StringIO()
    err = _WithoutTracebacks(real)
    print("[winnow] pid 7: 2,048 rows read", file=err)
    print("Traceback (most recent call last):\n  File 'x.py'\nOSError: [Errno 28] No space left on device\n", file=err)
    print("Exception in thread t:\nTraceback (most recent call last):\nValueError: kept", file=err)
    print("\n[winnow] pid 7: 4,096 rows read", file=err)
    assert real.getvalue() == (
        "[winnow] pid 7: 2,048 rows read\n"
        "Exception in thread t:\nTraceback (most recent call last):\nValueError: kept\n"
        "\n[winnow] pid 7: 4,096 rows read\n"
    )
