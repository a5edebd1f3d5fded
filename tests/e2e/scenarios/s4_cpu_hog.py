"""Scenario 4: a CPU hog (request 500m, wants 4 CPUs) next to a latency-sensitive pod that stays within its
request (1500m, uses ~1 CPU in bursts) on a 2-CPU node: the hog is throttled toward its request (cpu.max
50000 100000) and the victim's CPU pressure (its cpu.pressure stall time per second) falls."""
import threading
import time

from node import MiB, Pod, actions, log, read, restart_guardlet, wait_for

NAME = "CPU hog: throttled toward its request, victim's CPU pressure falls"


def stall_total(pod):
    for ln in read(f"{pod.dir}/cpu.pressure", "").splitlines():
        if ln.startswith("some"):
            return int(ln.split("total=")[1])
    return 0


def run(c):
    t_restart = restart_guardlet()
    victim = c.add(Pod("latency", mem_request=64 * MiB, cpu_request=1500))
    hog = c.add(Pod("hog", mem_request=64 * MiB, cpu_request=500))
    samples, stop = [], threading.Event()

    def sample():
        while not stop.is_set():
            samples.append((time.time(), stall_total(victim)))
            stop.wait(0.5)

    th = threading.Thread(target=sample, daemon=True)
    # The victim wants ~1 CPU in bursts (within its request); the hog wants all of them.
    victim.spawn(["stress-ng", "--cpu", "2", "--cpu-load", "50", "--timeout", "150s", "--quiet"], seconds=170)
    time.sleep(2)
    th.start()
    t0 = time.time()
    log("hog starts: stress-ng --cpu 4")
    hog.spawn(["stress-ng", "--cpu", "4", "--timeout", "150s", "--quiet"], seconds=170)

    def throttled():
        return [a for a in actions(t_restart) if a[1] == "throttle-cpu"]

    thr = wait_for(throttled, 90)
    time.sleep(10)
    stop.set()
    th.join(3)
    cpu_max = read(f"{hog.dir}/cpu.max", "").strip()
    acts = actions(t_restart)

    def rate(a, b):
        pts = [(t, v) for t, v in samples if a <= t <= b]
        if len(pts) < 2:
            return None
        return (pts[-1][1] - pts[0][1]) / 1e3 / (pts[-1][0] - pts[0][0])  # ms of stall per s

    figs = ""
    if thr:
        ta = thr[0][0]
        before, after = rate(ta - 5, ta), rate(ta + 1, ta + 9)
        figs = (f"throttled {thr[0][4].get('POD_NAME')} {ta - t0:.1f}s after the hog began (cpu.max {cpu_max!r}); "
                f"victim CPU stall {before:.0f} -> {after:.0f} ms/s; " if before is not None and after is not None
                else f"throttled {thr[0][4].get('POD_NAME')} (cpu.max {cpu_max!r}); ")
    figs += f"actions {[(a[1], a[4].get('POD_NAME')) for a in acts]}"
    if not thr:
        return False, "no CPU throttle; " + figs
    if thr[0][3] != hog.uid:
        return False, "the wrong pod was throttled; " + figs
    if any(a[3] == victim.uid for a in acts):
        return False, "the victim was touched; " + figs
    ta = thr[0][0]
    before, after = rate(ta - 5, ta), rate(ta + 1, ta + 9)
    if before is None or after is None or not after < before:
        return False, "the victim's CPU pressure did not fall; " + figs
    return True, figs
