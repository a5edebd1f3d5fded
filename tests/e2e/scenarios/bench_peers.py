"""bench_peers.py: inside the e2e VM, guardlet against its peers on the same node in one run (numbers, not
tests; compare the ratios, emulation makes absolute times meaningless):

- idle: CPU and RSS of guardlet (the packaged unit, shipped config, local mode), earlyoom (Debian's unit and
  defaults) and systemd-oomd (Debian's unit), each alone on an idle node for SPAN seconds;
- detection-to-action: the same memory ramp (sampled every 20 ms) (one pod, 40 MiB/s from 35% available) until the process dies;
  from the moment the node crossed 10% available by each tool's own measure (guardlet: the kubelet's
  memory.available, KillBelow=10%; earlyoom: MemAvailable, its default -m 10) to the moment the pod's last
  process is gone. systemd-oomd is not in this race: it acts only on systemd units with ManagedOOM*= set and
  on PSI sustained for 30 s (or on swap), not on a plain kubelet-shaped cgroup filling the node.
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import node  # noqa: E402
from node import MiB, Pod, available, capacity, kv, log, sh, write  # noqa: E402

SPAN = 30
ROUNDS = 3


def unit_main_pid(unit):
    return int(sh(["systemctl", "show", "-p", "MainPID", "--value", unit]).strip() or 0)


def idle(unit):
    sh(["systemctl", "start", unit], timeout=60)
    time.sleep(8)
    pid = unit_main_pid(unit)
    u0, t0 = node.service_cpu_usec(unit), time.monotonic()
    time.sleep(SPAN)
    u1, t1 = node.service_cpu_usec(unit), time.monotonic()
    rss = node.rss_kib(pid)
    sh(["systemctl", "stop", unit], timeout=60)
    return (u1 - u0) / (t1 - t0) / 1e4, rss  # % of one CPU, KiB


def mem_available_kernel():
    return int(kv("/proc/meminfo")["MemAvailable"]) * 1024


def ramp(measure):
    """One ramp; returns seconds from the crossing of 10% (by measure) to the pod being empty, or None."""
    cap = capacity()
    pod = Pod("ramp", mem_request=64 * MiB).create()
    hold = max(0, (available() - int(0.35 * cap)) // MiB)
    samples = []
    pod.alloc(hold_mib=hold, rate_mib=40, max_mib=hold + 2500, seconds=120)
    t_empty = None
    deadline = time.monotonic() + 110
    while time.monotonic() < deadline:
        now = time.time()
        samples.append((now, measure()))
        if not pod.alive() and len(samples) > 20:
            t_empty = now
            break
        time.sleep(0.02)
    pod.remove()
    limit = int(0.10 * cap)
    cross = next((t for t, a in samples if a < limit), None)
    oom = pod.oom_kills() if os.path.isdir(pod.dir) else 0
    if t_empty is None or cross is None:
        return None, oom
    return max(0.0, t_empty - cross), oom


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    a = ap.parse_args()
    node.setup_kubepods()
    sh(["systemctl", "stop", "guardlet"], timeout=60)
    try:
        os.remove(node.DROPIN)
    except FileNotFoundError:
        pass
    res = {}
    for unit in ("guardlet.service", "earlyoom.service", "systemd-oomd.service"):
        try:
            res[unit] = idle(unit)
            log(f"idle {unit}: {res[unit][0]:.3f}% CPU, {res[unit][1]} KiB RSS")
        except Exception as e:  # noqa: BLE001
            log(f"idle {unit}: {e}")
    # The race: guardlet in local mode with its kill floor at 10% (at its defaults, Interval=1s and
    # FastInterval=200ms once memory is below ThrottleBelow, and at Interval=100ms), earlyoom at its
    # default 10%.
    race = {"guardlet.service": "", "guardlet.service@100ms": "[Guard]\nInterval=100ms\n", "earlyoom.service": None}
    lat = {k: [] for k in race}
    ooms = 0
    for r in range(ROUNDS):
        for key, extra in race.items():
            unit = key.split("@")[0]
            if extra is not None:
                write(node.DROPIN, extra + "[Memory]\nThrottleBelow=20%\nEvictBelow=15%\nKillBelow=10%\n"
                                           "[Actions]\nThrottle=no\n")
            measure = available if unit == "guardlet.service" else mem_available_kernel
            sh(["systemctl", "start", unit], timeout=60)
            time.sleep(5)
            secs, oom = ramp(measure)
            ooms += oom
            sh(["systemctl", "stop", unit], timeout=60)
            log(f"ramp {r + 1} {key}: {secs if secs is None else round(secs, 2)} s, pod oom_kill {oom}")
            if secs is not None:
                lat[key].append(secs)
            time.sleep(3)
    os.remove(node.DROPIN)
    g, e = res.get("guardlet.service"), res.get("earlyoom.service")
    o = res.get("systemd-oomd.service")
    lines = ["", "Peers bench (inside the VM, one run, software emulation: compare ratios)", "",
             "| daemon | idle CPU (% of one CPU) | RSS KiB | ramp: threshold to pod gone, median s (runs) |",
             "|---|---|---|---|"]
    for key, name in (("guardlet.service", "guardlet (defaults: Interval=1s, FastInterval=200ms)"),
                      ("guardlet.service@100ms", "guardlet (Interval=100ms)"), ("earlyoom.service", "earlyoom"),
                      ("systemd-oomd.service", "systemd-oomd")):
        unit = key.split("@")[0]
        i = res.get(unit) if "@" not in key else None
        lt = lat.get(key)
        med = f"{statistics.median(lt):.2f} ({', '.join(f'{x:.2f}' for x in lt)})" if lt else \
            ("not comparable (acts on ManagedOOM units, PSI for 30 s)" if unit.startswith("systemd-oomd") else "-")
        lines.append(f"| {name} | {i[0]:.3f} | {i[1]} | {med} |" if i else f"| {name} | - | - | {med} |")

    def median(key):
        return statistics.median(lat[key]) if lat.get(key) else None

    lines.append("")
    if g and e and e[0] > 0:
        lines.append(f"ratios guardlet/earlyoom: idle CPU {g[0] / e[0]:.2f}x, RSS {g[1] / e[1]:.2f}x")
    if median("earlyoom.service"):
        for key, name in (("guardlet.service", "defaults"), ("guardlet.service@100ms", "Interval=100ms")):
            if median(key) is not None:
                lines.append(f"ratio guardlet ({name})/earlyoom, detection-to-action: "
                             f"{median(key) / median('earlyoom.service'):.2f}x")
    if g and o and o[0] > 0:
        lines.append(f"ratios guardlet/systemd-oomd: idle CPU {g[0] / o[0]:.2f}x, RSS {g[1] / o[1]:.2f}x")
    lines.append(f"pod oom_kill during the ramps: {ooms}")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(os.path.join(a.results, "bench.txt"), "w") as f:
        f.write(text)
    sh(["systemctl", "start", "guardlet"], timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
