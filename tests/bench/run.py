#!/usr/bin/env python3
"""run.py: `make bench`: the pod scan's cost per pod per tick, the daemon's CPU and RSS on real cgroups, and the cost of a /metrics scrape."""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from realcg import RealTree, unavailable_reason  # noqa: E402
from cgfixture import CgroupFixture, Figures, pod_uid  # noqa: E402



def proc_cpu_seconds(pid):
    """CPU time of the whole process in seconds, at nanosecond resolution (schedstat, summed over
    threads), where /proc/PID/stat counts in 10 ms clock ticks."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
            total += int(f.read().split()[0])
    return total / 1e9


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return -1


def daemon_run(guardlet, root, pods, seconds, interval="1s"):
    """Runs the daemon on root for `seconds`; returns (us CPU per tick, us per pod per tick, RSS, HWM)."""
    with tempfile.TemporaryDirectory() as tmp:
        conf = os.path.join(tmp, "guardlet.conf")
        with open(conf, "w") as f:
            f.write(f"[Guard]\nInterval={interval}\n")
        p = subprocess.Popen([guardlet, "-c", conf, "--no-api", "--dry-run", "--log-target",
                              "stderr", "--log-level", "notice", "--cgroup-root", root],
                             stderr=subprocess.DEVNULL)
        try:
            time.sleep(3)  # start-up and the first scans (descriptors opened) are not steady state
            c0, t0 = proc_cpu_seconds(p.pid), time.monotonic()
            time.sleep(seconds)
            c1, t1 = proc_cpu_seconds(p.pid), time.monotonic()
            rss, hwm = proc_status(p.pid, "VmRSS:"), proc_status(p.pid, "VmHWM:")
        finally:
            p.terminate()
            p.wait(10)
    ticks = (t1 - t0) / float(interval.rstrip("s"))
    per_tick = (c1 - c0) / ticks * 1e6
    return per_tick, per_tick / pods if pods else float("nan"), rss, hwm


def scrape_cost(guardlet, pods, scrapes=200, idle_seconds=5):
    """Scrapes /metrics of a daemon watching `pods` fixture pods. Returns (bytes, median and p95
    wall ms per scrape as the client sees it, daemon CPU us per scrape beyond its ticks)."""
    with tempfile.TemporaryDirectory() as tmp, CgroupFixture("v2-systemd", parent=tmp) as cg:
        for n in range(pods):
            cg.add_pod(pod_uid(n + 1), ("guaranteed", "burstable", "besteffort")[n % 3],
                       Figures.example(n))
        conf = os.path.join(tmp, "guardlet.conf")
        with open(conf, "w") as f:
            f.write(f"[Guard]\nInterval=1s\nMetricsListen=127.0.0.1:0\nStatusSocket={tmp}/s.sock\n")
        p = subprocess.Popen([guardlet, "-c", conf, "--no-api", "--dry-run", "--log-target", "stderr",
                              "--log-level", "notice", "--cgroup-root", cg.root],
                             stderr=subprocess.PIPE, text=True)
        base = None
        try:
            for line in p.stderr:
                m = re.search(r"Metrics on (http://\S+)/metrics", line)
                if m:
                    base = m.group(1)
                    break
            # Keep reading stderr so the daemon never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
            time.sleep(3)  # the first scans open every pod's descriptors
            c0, t0 = proc_cpu_seconds(p.pid), time.monotonic()
            time.sleep(idle_seconds)
            idle_rate = (proc_cpu_seconds(p.pid) - c0) / (time.monotonic() - t0)
            walls = []
            c0, t0 = proc_cpu_seconds(p.pid), time.monotonic()
            for _ in range(scrapes):
                w0 = time.perf_counter()
                with urllib.request.urlopen(base + "/metrics", timeout=30) as r:
                    body = r.read()
                walls.append((time.perf_counter() - w0) * 1e3)
            cpu = proc_cpu_seconds(p.pid) - c0 - idle_rate * (time.monotonic() - t0)
        finally:
            p.terminate()
            p.wait(10)
    walls.sort()
    return len(body), statistics.median(walls), walls[int(len(walls) * 0.95)], cpu / scrapes * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--builddir", default="build")
    ap.add_argument("--seconds", type=int, default=20)
    a = ap.parse_args()
    guardlet = os.path.join(a.builddir, "guardlet")
    reason = unavailable_reason()

    print("## Pod scan cost (bench_scan: gl_pods_scan in-process, one simulated second per tick)\n")
    sys.stdout.flush()
    args = [os.path.join(a.builddir, "bench", "bench_scan")] + ([] if reason else ["--real"])
    # cgroupfs lives in memory; tmpfs is the closer stand-in for fixtures than a disk filesystem.
    env = dict(os.environ)
    if os.path.isdir("/dev/shm"):
        env.setdefault("TMPDIR", "/dev/shm")
    r = subprocess.run(args, env=env)
    if r.returncode:
        return r.returncode
    if reason:
        print(f"\nreal cgroups skipped: {reason}")

    print("\n## A /metrics scrape (fixture pods, local mode; client is Python's urllib on the same machine)\n")
    print("| pods | bytes | wall ms median | wall ms p95 | daemon CPU us/scrape |")
    print("|---|---|---|---|---|")
    for n in (0, 100, 1000):
        size, med, p95, cpu = scrape_cost(guardlet, n)
        print(f"| {n} | {size} | {med:.2f} | {p95:.2f} | {cpu:.0f} |")
    sys.stdout.flush()

    print(f"\n## The daemon (Interval=1s, {a.seconds}s of steady state, dry-run, local mode)\n")
    print("| pods on the node | CPU us/tick | CPU us/pod/tick | RSS KiB | peak RSS KiB |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as empty:
        # No kubepods at all: the node-only baseline.
        with open(os.path.join(empty, "cgroup.controllers"), "w") as f:
            f.write("cpu memory\n")
        t, pp, rss, hwm = daemon_run(guardlet, empty, 0, a.seconds)
        print(f"| 0 (node only) | {t:.0f} | - | {rss} | {hwm} |")

    if reason:
        print(f"\nreal-cgroup daemon runs skipped: {reason}")
        return 0
    for n in (100, 1000):
        tree = RealTree()
        try:
            for _ in range(n):
                tree.add_pod("burstable")
            t, pp, rss, hwm = daemon_run(guardlet, tree.root, n, a.seconds)
            print(f"| {n} (real cgroups) | {t:.0f} | {pp:.2f} | {rss} | {hwm} |")
        finally:
            tree.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
