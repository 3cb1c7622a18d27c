"""A child server that `pbxhub dev` starts (the Temporal dev server): it dies with its parent,
and a copy left running by a parent that could not stop it is recognised and stopped at the next
start, never silently reused.

Two guards, because neither alone is enough: on Linux the kernel signals the child when its
parent dies, even of SIGKILL (prctl PR_SET_PDEATHSIG, no watchdog process that could itself be
killed); everywhere, a pid file in the data folder names the child by pid, start time and command
line, so the next start can prove a leftover is its own before it stops it, and refuses (naming
the port) when the port is held by anything else.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from pbxhub.private_files import write_private_file

__all__ = [
    "ChildRecord",
    "PortInUse",
    "check_port_free",
    "start_child",
    "stop_leftover",
]

_PR_SET_PDEATHSIG = 1


class PortInUse(RuntimeError):
    """Something this pbxhub did not start listens on a port it needs."""


@dataclass(frozen=True)
class ChildRecord:
    """What proves a running process is the child we started: pid reuse gives another process
    the same pid, never the same pid with the same start time and command line."""

    pid: int
    started: str | None  # the kernel's start time (/proc/<pid>/stat field 22); None elsewhere
    command: tuple[str, ...]

    @classmethod
    def of(cls, pid: int, command: Sequence[str]) -> ChildRecord:
        return cls(pid=pid, started=_start_time(pid), command=tuple(command))

    @classmethod
    def read(cls, path: Path) -> ChildRecord | None:
        """The record kept at `path`; None when there is none or it is unreadable."""
        try:
            data = json.loads(path.read_text())
            return cls(
                pid=int(data["pid"]), started=data["started"], command=tuple(data["command"])
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        write_private_file(path, json.dumps(asdict(self)) + "\n")

    def is_running(self) -> bool:
        """This very process still runs (not a zombie, not another one under a reused pid).
        Unprovable without /proc: False, so a leftover is never stopped on a guess."""
        if self.started is None or _start_time(self.pid) != self.started:
            return False
        return _command_line(self.pid) == self.command


def start_child(
    command: Sequence[str], *, log: Path, record: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `command` in its own session (Ctrl-C reaches only us: we stop it after the worker
    has drained), dying with us on Linux; its output appended to `log`, its record to `record`;
    `env` replaces our environment when given.

    Call it from the main thread: the kernel's death signal follows the thread that forked."""
    descriptor = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(descriptor, "ab") as output:
        process = subprocess.Popen(
            list(command),
            stdout=output,
            stderr=output,
            start_new_session=True,
            env=None if env is None else dict(env),
            preexec_fn=_die_with_parent(os.getpid()) if sys.platform == "linux" else None,
        )
    ChildRecord.of(process.pid, command).write(record)
    return process


def stop_leftover(record: Path, *, timeout: float = 15.0) -> ChildRecord | None:
    """Stop the child named by `record` if it still runs (a parent killed where the death signal
    does not exist, or an older pbxhub): SIGTERM, then SIGKILL after `timeout`. Returns it, or
    None when there was nothing of ours to stop. The record is removed either way."""
    leftover = ChildRecord.read(record)
    with contextlib.suppress(FileNotFoundError):
        record.unlink()
    if leftover is None or not leftover.is_running():
        return None
    for signal_ in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(leftover.pid, signal_)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not leftover.is_running():
                return leftover
            time.sleep(0.1)
    raise RuntimeError(
        f"the process {leftover.pid} left running by an earlier start ignores SIGKILL"
    )


def check_port_free(host: str, port: int, *, what: str, advice: str) -> None:
    """Raise PortInUse naming `what` listens where, and what to do, when `host:port` cannot be
    bound the way a server binds it (SO_REUSEADDR: a port in TIME_WAIT is free)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            raise PortInUse(
                f"{host}:{port} ({what}) is already in use by a process this pbxhub did not "
                f"start. {advice}"
            ) from error


def _die_with_parent(parent: int) -> Callable[[], None]:
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork

    def in_child() -> None:
        # SIGTERM: the Temporal server closes its SQLite state cleanly.
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the line above: no signal comes
            os._exit(1)

    return in_child


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # after the command name (which may hold spaces and parentheses): state is field 3
    fields = stat.rpartition(")")[2].split()
    if fields[0] in ("Z", "X"):  # dead, not yet reaped
        return None
    return fields[22 - 3]


def _command_line(pid: int) -> tuple[str, ...]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ()
    return tuple(os.fsdecode(part) for part in raw.split(b"\0") if part)
