"""Per-process counters from /proc (Linux): CPU seconds, context switches, threads.

`snapshot(pid)` reads a process's CPU time (utime + stime from /proc/PID/stat,
which the kernel keeps for the whole thread group, threads that have exited
included) and each live thread's context switches (voluntary + nonvoluntary,
from /proc/PID/task/TID/status). Switches are per thread only: a thread that
exits between two snapshots takes its count with it, so `Delta` counts it as
`threads_exited` and leaves its switches out (the figure is then a lower bound).
The same goes for each thread's run-queue wait (/proc/PID/task/TID/schedstat:
time spent runnable but not running), which shows how much CPU the process
was denied, by its own threads or by anyone else on a shared machine.
`machine()` reads /proc/stat for how busy the whole machine was; `rss_bytes(pid)`
a process's resident memory. `WaitSampler` samples where each thread is (running,
or in which system call it waits: /proc/PID/task/TID/syscall) every few
milliseconds: a thread of a Python process waiting in `futex` waits for the GIL or
a lock.
"""

from __future__ import annotations

import collections
import os
import platform
import threading
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Delta", "MachineSample", "Snapshot", "WaitSampler", "busy_thread_share", "delta",
           "machine", "machine_busy_pct", "snapshot"]

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Snapshot:
    """One process at one moment."""

    pid: int
    cpu_s: float
    threads: int
    #: thread id -> voluntary + nonvoluntary context switches so far.
    switches: dict[int, int] = field(default_factory=dict)
    #: CPU seconds of the thread whose id is the pid (the main thread).
    main_thread_cpu_s: float = 0.0
    #: thread id -> nanoseconds runnable but waiting for a CPU, so far.
    runqueue_ns: dict[int, int] = field(default_factory=dict)


@dataclass
class Delta:
    """What one or more processes did between two snapshots each."""

    cpu_s: float = 0.0
    main_thread_cpu_s: float = 0.0
    switches: int = 0
    threads: int = 0
    threads_exited: int = 0
    #: thread-seconds runnable but not running (live threads only, like switches)
    runqueue_wait_s: float = 0.0

    def add(self, other: Delta) -> None:
        self.cpu_s += other.cpu_s
        self.main_thread_cpu_s += other.main_thread_cpu_s
        self.switches += other.switches
        self.runqueue_wait_s += other.runqueue_wait_s
        self.threads += other.threads
        self.threads_exited += other.threads_exited


def _stat_fields(path: Path) -> list[str]:
    text = path.read_text()
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return text[text.rindex(")") + 2:].split()


def _cpu_s(fields: list[str]) -> float:
    # Fields 14 and 15 (utime, stime), counted from 1; fields[0] is field 3 (state).
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _switches(status: Path) -> int:
    total = 0
    for line in status.read_text().splitlines():
        if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
            total += int(line.split()[1])
    return total


def snapshot(pid: int) -> Snapshot:
    """Read `pid`'s counters now.

    Raises:
        OSError: the process does not exist (or /proc is not there).
    """
    proc = Path(f"/proc/{pid}")
    fields = _stat_fields(proc / "stat")
    switches: dict[int, int] = {}
    waits: dict[int, int] = {}
    main_cpu = 0.0
    for task in (proc / "task").iterdir():
        tid = int(task.name)
        try:
            count = _switches(task / "status")
            wait = int((task / "schedstat").read_text().split()[1])
            if tid == pid:
                main_cpu = _cpu_s(_stat_fields(task / "stat"))
        except OSError:
            continue  # the thread exited while we looked
        switches[tid], waits[tid] = count, wait
    return Snapshot(pid, _cpu_s(fields), int(fields[17]), switches, main_cpu, waits)


def delta(before: Snapshot, after: Snapshot) -> Delta:
    """`after - before` for one process; threads started in between count from zero."""
    switches = sum(n - before.switches.get(tid, 0) for tid, n in after.switches.items())
    exited = sum(1 for tid in before.switches if tid not in after.switches)
    waited = sum(n - before.runqueue_ns.get(tid, 0) for tid, n in after.runqueue_ns.items())
    return Delta(after.cpu_s - before.cpu_s, after.main_thread_cpu_s - before.main_thread_cpu_s,
                 switches, after.threads, exited, waited / 1e9)


@dataclass(frozen=True)
class MachineSample:
    busy_ticks: int
    total_ticks: int


def machine() -> MachineSample:
    """The first line of /proc/stat: every core's ticks, busy and total."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already inside user time
    return MachineSample(total - idle, total)


def machine_busy_pct(before: MachineSample, after: MachineSample) -> float:
    """Percent of all cores busy between two samples (100 = every core)."""
    total = after.total_ticks - before.total_ticks
    return 100.0 * (after.busy_ticks - before.busy_ticks) / total if total else 0.0


def rss_bytes(pid: int) -> int:
    """Resident memory of process `pid` (VmRSS), 0 if it is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


#: x86-64 system call numbers named in a wait profile (others, or on another
#: architecture, are shown by number).
SYSCALL_NAMES = ({202: "futex", 7: "poll", 271: "ppoll", 232: "epoll_wait",
                  281: "epoll_pwait", 74: "fsync", 75: "fdatasync", 0: "read", 1: "write",
                  17: "pread64", 18: "pwrite64", 44: "sendto", 45: "recvfrom",
                  46: "sendmsg", 47: "recvmsg", 230: "clock_nanosleep", 35: "nanosleep"}
                 if platform.machine() == "x86_64" else {})


class WaitSampler:
    """Where each thread of some processes is, sampled every `every` seconds from a
    thread of its own between `start()` and `stop()`: "running" (on a CPU or waiting
    for one) or the system call it is blocked in (/proc/PID/task/TID/syscall; needs
    the right to ptrace the process, as its owner has).

    Threads are labelled "tN", N their rank by thread id when sampling started (the
    order a program starts its threads in, so the same label run to run), "pK/tN" for
    the Kth of several processes; threads started later are not sampled.
    """

    def __init__(self, pids: list[int], every: float = 0.002) -> None:
        self.every = every
        self._tasks = [(f"p{k}/t{i}" if len(pids) > 1 else f"t{i}",
                        Path(f"/proc/{pid}/task/{tid}/syscall"))
                       for k, pid in enumerate(pids)
                       for i, tid in enumerate(sorted(int(t) for t in
                                                      os.listdir(f"/proc/{pid}/task")))]
        self.counts: dict[str, collections.Counter[str]] = {
            label: collections.Counter() for label, _ in self._tasks}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wait-sampler", daemon=True)

    def start(self) -> WaitSampler:
        self._thread.start()
        return self

    def stop(self) -> dict[str, dict[str, int]]:
        """Stop sampling; samples per thread label, by state."""
        self._stop.set()
        self._thread.join()
        return {label: dict(c) for label, c in self.counts.items() if c}

    def _run(self) -> None:
        """The sampler's own thread."""
        while not self._stop.wait(self.every):
            for label, path in self._tasks:
                try:
                    first = path.read_text().split(maxsplit=1)[0]
                except (OSError, IndexError):
                    continue  # the thread exited, or nothing was readable
                state = first if not first.lstrip("-").isdigit() else SYSCALL_NAMES.get(
                    int(first), f"syscall {first}")
                self.counts[label][state] += 1


def busy_thread_share(waits: dict[str, dict[str, int]], state: str,
                      busy: float = 0.10) -> float | None:
    """Percent of the samples of the threads running in at least `busy` of theirs
    that were in `state` (None when no thread was that busy): idle threads, always
    blocked in one call, would dilute it."""
    chosen = [c for c in waits.values() if c.get("running", 0) >= busy * sum(c.values())]
    total = sum(sum(c.values()) for c in chosen)
    return 100.0 * sum(c.get(state, 0) for c in chosen) / total if total else None
