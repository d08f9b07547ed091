"""Helpers shared by the benchmark scripts: machine description, load, other busy processes, markdown tables.

Standard library only, so a script can import it before numpy (and before it sets thread variables).
"""

from __future__ import annotations

import os
import time


def md_table(header, rows):
    """A GitHub markdown table."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def proc_status_kb(field):
    """A field of /proc/self/status in kB (VmRSS, VmHWM), or None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss():
    """Resets this process's VmHWM to its current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _proc_cpu_ticks():
    """utime + stime of every process, in clock ticks."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[int(pid)] = int(fields[11]) + int(fields[12])  # utime + stime
        except (OSError, IndexError, ValueError):
            pass
    return out


def cpu_hogs(interval=1.0, min_share=0.2):
    """Other processes that used more than min_share of a core over the next interval seconds."""
    a = _proc_cpu_ticks()
    time.sleep(interval)
    b = _proc_cpu_ticks()
    hz = os.sysconf("SC_CLK_TCK")
    out = []
    for pid, t in b.items():
        if pid == os.getpid() or pid not in a:
            continue
        share = (t - a[pid]) / hz / interval
        if share >= min_share:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:100]
            except OSError:
                cmd = "?"
            out.append(f"{pid} {cmd} ({100 * share:.0f}% of a core)")
    return out


def load_average():
    """The three load averages of /proc/loadavg as text ("?" off Linux)."""
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def machine_description():
    """CPU model, logical and physical cores, SIMD flags and RAM in one line."""
    model, logical = "unknown CPU", os.cpu_count()
    cores = set()
    phys = core = None
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            names = []
            for line in f:
                if line.startswith("model name"):
                    names.append(line.split(":", 1)[1].strip())
                elif line.startswith("physical id"):
                    phys = line.split(":", 1)[1].strip()
                elif line.startswith("core id"):
                    core = line.split(":", 1)[1].strip()
                    cores.add((phys, core))
                elif line.startswith("flags") and not flags:
                    fl = line.split(":", 1)[1].split()
                    flags = ", ".join(x for x in ("avx2", "fma", "avx512f") if x in fl)
        if names:
            model, logical = names[0], len(names)
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    mem = f"{int(line.split()[1]) / 2**20:.1f} GiB RAM"
                    break
    except OSError:
        pass
    parts = [model, f"{logical} logical CPUs" + (f" ({len(cores)} physical cores)" if cores else "")]
    if flags:
        parts.append(flags)
    if mem:
        parts.append(mem)
    return ", ".join(parts)


def load_1min():
    """The 1-minute load average as a float (nan off Linux)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def repo_revision():
    """The repository's commit (and whether its tree had uncommitted changes) when the benchmark started."""
    import subprocess

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(
            ["git", "-C", repo, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not head:
        return "unknown"
    return head + (" with uncommitted changes" if dirty else "")
