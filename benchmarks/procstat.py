"""CPU time and memory of a process, read from ``/proc`` (Linux only).

``cpu_seconds`` is ``utime + stime`` of the whole process (all threads,
including netra-trio's SQLite worker thread), in seconds. The runner samples
it at the client's ``@start`` / ``@end`` markers for both processes, so the
CPU share of each over the measured window shows which side saturated (one
core is 100 %; the machine has ``os.cpu_count()`` of them).

``tree_cpu_seconds`` is that of a process and all its descendants, living or
exited (an exited child's time is in its parent's ``cutime + cstime`` once the
parent has reaped it): a PostgreSQL postmaster with its backends, WAL writer,
checkpointer and short-lived autovacuum workers. ``thread_cpu_seconds`` is the
time of each thread of a process.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from collections.abc import Collection

import attrs

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = _stat_fields(f"/proc/{pid}/stat")
    # fields[0] is the state (field 3 of stat); utime and stime are fields 14 and 15,
    # cutime and cstime (reaped children) 16 and 17
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _stat_fields(path: str) -> list[str]:
    with open(path) as handle:
        return handle.read().rsplit(")", 1)[1].split()


def children(pid: int) -> list[int]:
    """The process's living children (``/proc/PID/task/TID/children``)."""
    found: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as handle:
                found += [int(child) for child in handle.read().split()]
        except OSError:
            continue
    return found


def tree_cpu_seconds(pid: int) -> float:
    """``utime + stime + cutime + cstime`` of ``pid`` plus the same of every living
    descendant: all the CPU the tree used since ``pid`` started."""
    fields = _stat_fields(f"/proc/{pid}/stat")
    total = sum(int(f) for f in fields[11:15]) / _TICKS
    for child in children(pid):
        try:
            total += tree_cpu_seconds(child)
        except OSError:  # exited meanwhile: its time moves to our cutime once reaped
            continue
    return total


def own_and_children_cpu_seconds(pid: int) -> tuple[float, float]:
    """``utime + stime`` of ``pid`` and ``cutime + cstime`` (its reaped children)."""
    fields = _stat_fields(f"/proc/{pid}/stat")
    return (int(fields[11]) + int(fields[12])) / _TICKS, (
        int(fields[13]) + int(fields[14])
    ) / _TICKS


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """``utime + stime`` of each thread of ``pid``, by thread id."""
    times: dict[int, float] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            fields = _stat_fields(f"/proc/{pid}/task/{tid}/stat")
        except OSError:
            continue
        times[int(tid)] = (int(fields[11]) + int(fields[12])) / _TICKS
    return times


def cmdline(pid: int) -> str:
    """The process's command line as ``ps`` shows it (PostgreSQL rewrites its own:
    ``postgres: walwriter``, ``postgres: USER DB 127.0.0.1(PORT) idle``)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def machine_busy_seconds() -> float:
    """CPU time spent by everything on the machine (all cores), from ``/proc/stat``."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / _TICKS


@attrs.frozen
class Snapshot:
    wall: float
    cpu: dict[int, float]
    machine: float

    @classmethod
    def take(cls, pids: list[int], trees: Collection[int] = ()) -> Snapshot:
        """``trees``: the pids among ``pids`` whose CPU is that of their whole tree."""
        cpu = {}
        for pid in pids:
            try:
                cpu[pid] = tree_cpu_seconds(pid) if pid in trees else cpu_seconds(pid)
            except OSError:
                cpu[pid] = 0.0
        return cls(time.monotonic(), cpu, machine_busy_seconds())


def cpu_percent(start: Snapshot, end: Snapshot, pid: int) -> float:
    wall = end.wall - start.wall
    if wall <= 0:
        return 0.0
    return round(100.0 * (end.cpu.get(pid, 0.0) - start.cpu.get(pid, 0.0)) / wall, 1)


def other_percent(start: Snapshot, end: Snapshot) -> float:
    """CPU used over the window by everything except the watched processes: other
    work on a shared machine competes with the benchmark and shows up here."""
    wall = end.wall - start.wall
    if wall <= 0:
        return 0.0
    ours = sum(end.cpu.get(pid, 0.0) - start.cpu.get(pid, 0.0) for pid in end.cpu)
    return round(max(0.0, 100.0 * (end.machine - start.machine - ours) / wall), 1)


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "unknown"
    try:
        with open("/proc/meminfo") as handle:
            kib = int(handle.readline().split()[1])
            mem = f"{kib / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    try:
        nofile = subprocess.run(
            ["sh", "-c", "ulimit -n; ulimit -Hn"], capture_output=True, text=True, check=False
        ).stdout.split()
    except OSError:
        nofile = ["?", "?"]
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "ulimit_n": "/".join(nofile),
    }
