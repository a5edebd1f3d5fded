"""Scenario 8: 300 idle pods (one sleeping process each, all known to the API server): guardlet's CPU and RSS
while idle, and no action taken."""
import json
import time

from node import MiB, Pod, actions, guardlet_pid, kv, log, restart_guardlet, rss_kib, service_cpu_usec, sh

NAME = "300 idle pods: guardlet's CPU and RSS"
PODS = 300
SPAN = 30


def run(c):
    t_create = time.time()
    pods = [c.add(Pod(f"idle-{i:03d}", mem_request=16 * MiB, qos="BestEffort" if i % 3 == 0 else "Burstable"))
            for i in range(PODS)]
    for p in pods:
        p.spawn(["sleep", "600"], seconds=700)
    log(f"{PODS} pods created in {time.time() - t_create:.1f}s")
    t_restart = restart_guardlet({"Guard": {"Interval": "1s"}})
    time.sleep(15)  # first scans open every file; steady state after
    pid = guardlet_pid()
    u0, t0 = service_cpu_usec("guardlet.service"), time.monotonic()
    time.sleep(SPAN)
    u1, t1 = service_cpu_usec("guardlet.service"), time.monotonic()
    rss = rss_kib(pid)
    mem = int(kv(f"/proc/{pid}/status").get("RssAnon", 0))
    once = json.loads(sh(["guardlet", "--once", "--no-api", "-o", "json"], timeout=120))
    seen = len(once.get("pods", []))
    acts = actions(t_restart)
    cpu_pct = (u1 - u0) / 1e6 / (t1 - t0) * 100
    per_pod_tick = (u1 - u0) / (t1 - t0) / PODS
    figs = (f"{seen} pods seen; guardlet CPU {cpu_pct:.2f}% of one CPU ({per_pod_tick:.0f} us/pod/tick under "
            f"emulation), RSS {rss} KiB ({mem} KiB anonymous); actions {len(acts)}")
    if seen < PODS:
        return False, f"guardlet saw {seen} of {PODS} pods; " + figs
    if acts:
        return False, f"actions on idle pods: {[(a[1], a[4].get('POD_NAME')) for a in acts[:5]]}; " + figs
    return True, figs
