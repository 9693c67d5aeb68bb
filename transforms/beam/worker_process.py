"""What a worker process started by a local driver does for that driver.

On DirectRunner with direct_running_mode=multi_processing the driver starts
SDK worker subprocesses (`/bin/sh -c python -m
apache_beam.runners.worker.sdk_worker_main`, so a shell sits in between).

A driver killed with SIGKILL cannot stop them, and they kept scoring until
their gRPC connection timed out, for up to 50 s. So a thread in each worker
checks the chain of parents from the worker up to the driver and ends the
worker when a link breaks (the driver gone re-parents the shell to init or a
subreaper). prctl(PR_SET_PDEATHSIG) would fire when the shell ends, not the
driver, and is Linux-only; psutil reads parents on every system.

A worker also prints the traceback of every failed bundle to the stderr it
shares with the driver, and sends the same traceback to the driver, which
raises it. Unless --log_level asked for Beam's messages, the driver reports
the cause on one line instead (pipelines/cli.py), so the worker's copy is
left out rather than printed above that line.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, TextIO

import psutil

_MAX_HOPS = 3  # worker -> shell -> driver, with room for one more launcher
_lock = threading.Lock()
_attached = False


def _links_to(driver_pid: int) -> list[tuple[int, int]]:
    """(process, its parent) from this process up to the driver; empty when the driver is not an ancestor."""
    links: list[tuple[int, int]] = []
    pid = os.getpid()
    try:
        for _ in range(_MAX_HOPS):
            parent = psutil.Process(pid).ppid()
            links.append((pid, parent))
            if parent == driver_pid:
                return links
            if parent <= 1:
                break
            pid = parent
    except psutil.Error:  # a process on the way up has ended already
        pass
    return []


def _intact(links: list[tuple[int, int]]) -> bool:
    try:
        return all(psutil.Process(pid).ppid() == parent for pid, parent in links)
    except psutil.NoSuchProcess:  # a process between this one and the driver has ended
        return False


def _watch(links: list[tuple[int, int]], interval: float) -> None:
    while _intact(links):
        time.sleep(interval)
    os._exit(1)  # nothing to finish: the driver that would use this worker's results is gone


class _WithoutTracebacks:
    """A worker's stderr less the tracebacks Beam prints whole (one write, then a newline)."""

    def __init__(self, stream: TextIO):
        self._stream = stream
        self._dropped = False

    def write(self, text: str) -> int:
        dropped, self._dropped = self._dropped, text.startswith("Traceback (most recent call last):")
        if self._dropped or (dropped and text == "\n"):
            return len(text)
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, encoding, ... of the real stream
        return getattr(self._stream, name)


@dataclass(frozen=True)
class Driver:
    """The process that built the pipeline, as its worker processes see it."""

    pid: int
    quiet: bool  # Beam's error logs are hidden: the driver reports a failure's cause itself

    @classmethod
    def current(cls) -> Driver:
        """This process, while it builds the pipeline (after cli.configure_logging)."""
        return cls(os.getpid(), not logging.getLogger("apache_beam").isEnabledFor(logging.ERROR))

    def attach(self, interval: float = 0.5) -> bool:
        """In a worker process this driver started: exit within `interval` seconds of the
        driver's end and, when quiet, leave failed bundles' tracebacks to the driver.

        Returns whether this process is attached: not the driver itself (a run
        in one process) nor a process the driver did not start (a remote
        worker). Safe to call from every DoFn setup: once per process.
        """
        global _attached
        if os.getpid() == self.pid:
            return False
        with _lock:
            if _attached:
                return True
            links = _links_to(self.pid)
            if not links:
                return False
            threading.Thread(target=_watch, args=(links, interval), name="winnow-driver-watch", daemon=True).start()
            if self.quiet:
                sys.stderr = _WithoutTracebacks(sys.stderr)
            _attached = True
        return True
