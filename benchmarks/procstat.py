"""CPU time and memory of a process, read from ``/proc`` (Linux only).

``cpu_seconds`` is ``utime + stime`` of the whole process (all threads,
including netra-trio's SQLite worker thread), in seconds. The runner samples
it at the client's ``@start`` / ``@end`` markers for both processes, so the
CPU share of each over the measured window shows which side saturated (one
core is 100 %; the machine has ``os.cpu_count()`` of them).
"""

from __future__ import annotations

import os
import platform
import subprocess
import time

import attrs

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3 of stat); utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / _TICKS


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
    def take(cls, pids: list[int]) -> Snapshot:
        cpu = {}
        for pid in pids:
            try:
                cpu[pid] = cpu_seconds(pid)
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
