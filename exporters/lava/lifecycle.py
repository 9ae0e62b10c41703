"""The life of a Lava runtime: its worker processes start, run and end with this process.

Lava 0.10 runs every process model, its runtime service, a shared-memory manager and a
watchdog manager in OS processes of their own, forked by ``multiprocessing`` from the thread
that calls ``create_runtime`` (``lava/magma/runtime/message_infrastructure/multiprocessing.py``:
``SystemProcess``, an ``mp.Process``, and ``multiprocessing.managers.SharedMemoryManager``;
``lava/magma/compiler/channels/watchdog.py``: a ``multiprocessing.Manager``). Left to
themselves they outlive their parent: after ``kill -9`` of a ``spikefold run-lava`` all of them
kept running. :func:`lava_runtime` makes them end with it:

* **Parent death.** While a runtime is created, an ``os.register_at_fork`` hook arms every
  forked child: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (Linux; elsewhere a thread that polls
  ``getppid``), so the kernel kills it when its parent dies, however that happens; a child
  whose parent died before the signal was armed exits at once. A worker that forks again arms
  its own children the same way, so the whole tree goes.
* **SIGINT, SIGTERM.** The children ignore both, so a Ctrl-C or a ``kill`` sent to the whole
  process group (a terminal, ``timeout``, a service manager) reaches only this process, which
  stops the runtime in order: SIGINT raises ``KeyboardInterrupt`` as usual; SIGTERM (while its
  handler is the default one) raises :class:`Terminated` in the main thread, and once the
  runtime is stopped the signal is delivered again with its default action, so the process
  still ends "killed by SIGTERM".
* **A worker that dies.** Lava reports a worker's exception only when every other worker has
  finished its step, and a process downstream of the dead one waits forever for its input, so
  ``run()`` would hang: :class:`_Watchdog` interrupts it and the error carries the worker's
  own traceback.
* **torch after fork.** A worker that runs a torch op, forked from a process whose OpenMP pool
  already runs, waits forever for pool threads that do not exist in the child: the runtime is
  created with torch set to one thread (restored afterwards).

Signal handlers live in the main thread: from another thread only parent-death protection and
the orderly stop on exceptions apply.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import exporters  # noqa: F401 - the Python 3.11 shim, before any Lava import

# isort: split
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg

from hwsim.errors import ExportError

__all__ = ["LavaRuntime", "Terminated", "lava_runtime"]

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

# The pid that is creating a Lava runtime (None outside :func:`_fork_guard`). Process-wide on
# purpose: os.register_at_fork hooks cannot be removed, so the one hook below acts only while
# this is set, and a fork by anything else is left alone.
_arming: int | None = None


class Terminated(BaseException):
    """Raised in the main thread when SIGTERM arrives while a Lava runtime lives (a
    BaseException, like KeyboardInterrupt: it must not be caught as an ordinary error)."""


def _set_parent_death_signal() -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux), else poll."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0:
            return
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="spikefold-parent-watch", daemon=True).start()


def _arm_child() -> None:
    """``os.register_at_fork(after_in_child=...)``: runs in every forked child first."""
    global _arming
    parent = _arming
    if parent is None:
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _set_parent_death_signal()
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    _arming = os.getpid()  # a worker's own children die with it


os.register_at_fork(after_in_child=_arm_child)


@contextmanager
def _fork_guard() -> Iterator[None]:
    """Arm the children forked inside (see the module docstring) with torch single-threaded;
    both restored afterwards."""
    global _arming
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    _arming = os.getpid()
    try:
        if torch is not None:
            torch.set_num_threads(1)
        yield
    finally:
        _arming = None
        if torch is not None:
            torch.set_num_threads(threads)


def _workers(proc) -> list:
    """Lava's worker processes (``multiprocessing.Process``) of ``proc``'s runtime. Lava 0.10
    has no public accessor: ``Runtime._messaging_infrastructure.actors``."""
    infra = getattr(proc.runtime, "_messaging_infrastructure", None)
    return list(getattr(infra, "actors", None) or [])


def _dead(worker) -> bool:
    try:
        return bool(getattr(worker, "_is_done", False)) or not worker.is_alive()
    except ValueError:  # a closed Process object: Lava joined it
        return True


def _child_errors(proc) -> list[str]:
    """The tracebacks of failed Lava workers (Lava logs them at INFO level only)."""
    out = []
    for w in _workers(proc):
        exc = getattr(w, "exception", None)
        if exc:
            out.append(str(exc[1]).strip())
    return out


def _await_errors(proc, seconds: float = 5.0) -> list[str]:
    """The failed workers' tracebacks, waiting up to ``seconds`` for them: the first worker
    to end may be one that exits normally because another failed (Lava's runtime service),
    while the failed one is still closing its channels before it sends its traceback."""
    deadline = time.monotonic() + seconds
    while True:
        errors = _child_errors(proc)
        if errors or time.monotonic() > deadline or all(_dead(w) for w in _workers(proc)):
            return errors or _child_errors(proc)
        time.sleep(0.05)


def _stop(proc) -> None:
    """Stop ``proc``'s runtime, also after a failure.

    ``Process.stop()`` is the orderly way and works while every worker lives (after a normal
    run, or after an interrupt of this process, even in the middle of a ``run()``). When a
    worker died, Lava has already joined all workers, or its runtime service no longer answers,
    and ``stop()`` would wait forever; then the remaining workers are killed (SIGKILL: they
    ignore SIGTERM) and Lava's shared-memory and watchdog managers are shut down directly
    (``Runtime._messaging_infrastructure``, ``Runtime._watchdog_manager``: Lava 0.10 has no
    public call for this case).
    """
    runtime = proc.runtime
    if runtime is None:
        return
    workers = _workers(proc)
    if not any(_dead(w) for w in workers):
        proc.stop()
        return
    for w in workers:
        if not _dead(w):
            w.kill()
            w.join()
    infra = getattr(runtime, "_messaging_infrastructure", None)
    if infra is not None:
        infra.stop()
    watchdog = getattr(runtime, "_watchdog_manager", None)
    if watchdog is not None:
        watchdog.stop()


class _WorkerDied(Exception):
    """Raised in the main thread by :class:`_Watchdog` when a Lava worker has exited."""


class _Watchdog:
    """Interrupts a blocked ``run()`` when a Lava worker dies.

    While a run is in progress a thread polls the workers; when one has exited it sends
    SIGUSR1 to the main thread, whose handler raises :class:`_WorkerDied` out of the blocked
    wait (POSIX lock waits are interruptible). Outside ``run()`` the signal is ignored. Only on
    the main thread (signal handlers live there); elsewhere a failed worker can hang.
    """

    def __init__(self, proc, period: float = 0.1) -> None:
        self.workers = _workers(proc)
        self.period = period
        self.in_run = False
        self._stop = threading.Event()
        self._thread = None
        self._old = None

    def _handler(self, signum, frame) -> None:
        if self.in_run:
            self.in_run = False
            raise _WorkerDied

    def _watch(self) -> None:
        while not self._stop.wait(self.period):
            if self.in_run and any(_dead(w) for w in self.workers):
                signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)
                return

    def __enter__(self) -> _Watchdog:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGUSR1, self._handler)
            self._thread = threading.Thread(target=self._watch, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.in_run = False
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            signal.signal(signal.SIGUSR1, self._old)

    def run(self, proc, steps: int) -> None:
        self.in_run = True
        try:
            proc.run(condition=RunSteps(num_steps=steps))
        finally:
            self.in_run = False


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """The first SIGTERM raises :class:`Terminated` in the main thread while inside (and
    restores the default action, so a second one ends the process at once), if its handler is
    the default one; a handler someone else installed is left alone."""
    main = threading.current_thread() is threading.main_thread()
    if not main or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def handler(signum, frame) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise Terminated

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


class LavaRuntime:
    """A started Lava runtime (see :func:`lava_runtime`): ``run(steps)`` advances it."""

    def __init__(self, source, watchdog: _Watchdog) -> None:
        self.source = source
        self._watchdog = watchdog

    def run(self, steps: int) -> None:
        """Run ``steps`` more time steps (a worker's death interrupts it)."""
        self._watchdog.run(self.source, steps)


@contextmanager
def lava_runtime(source, select_tag: str) -> Iterator[LavaRuntime]:
    """Create the Lava runtime of the process graph around ``source`` under
    ``Loihi2SimCfg(select_tag=...)``, yield it, and always stop it: after the block, on an
    exception, on ``KeyboardInterrupt`` and on SIGTERM (then the signal is re-delivered).

    A failed Lava worker becomes an :class:`~hwsim.errors.ExportError` carrying the worker's
    traceback. Every worker dies with this process (module docstring).
    """
    try:
        with _sigterm_raises():
            try:
                with _fork_guard():
                    source.create_runtime(run_cfg=Loihi2SimCfg(select_tag=select_tag))
                with _Watchdog(source) as watchdog:
                    yield LavaRuntime(source, watchdog)
            except (RuntimeError, _WorkerDied) as exc:
                errors = _child_errors(source)
                if not errors and isinstance(exc, _WorkerDied):
                    errors = _await_errors(source)
                _stop(source)
                if errors or isinstance(exc, _WorkerDied):
                    detail = "\n".join(e[-2000:] for e in errors) or "(no traceback: killed)"
                    raise ExportError(f"a Lava process failed:\n{detail}") from None
                raise
            except BaseException:
                _stop(source)
                raise
            _stop(source)
    except Terminated:
        # the runtime is stopped, or SIGTERM came while stopping it and its workers die with
        # this process: end as the signal's default action would have (no atexit handlers,
        # which would wait for children that may never end)
        os.kill(os.getpid(), signal.SIGTERM)
        raise
