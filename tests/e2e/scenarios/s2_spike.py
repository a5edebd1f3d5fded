"""Scenario 2: a sudden spike across the node to below EvictBelow: exactly one eviction per spike, and the
post-action delay honoured while the evicted pod is still terminating.

Throttle=no here: under emulation a "sudden" spike still takes a few seconds, and a memory.high throttle at
the first level would hold it above EvictBelow (scenario 1 shows the throttle)."""
import time

from node import MiB, Pod, Sampler, actions, available, capacity, fmt_mib, log, restart_guardlet, vm_oom_kills, \
    wait_for

NAME = "sudden spike below EvictBelow: exactly one eviction, post-action delay honoured"
DELAY = 10


def run(c):
    # A 60 s LeakWindow: the spike takes ~15 s to fill under emulation, which is not the leak this is about.
    t_restart = restart_guardlet({"Actions": {"Throttle": "no", "PostActionDelay": f"{DELAY}s"},
                                  "Runaway": {"LeakWindow": "60s"}})
    cap = capacity()
    c.kubelet_delay = 4.0  # a grace period: the node stays short for a while after the eviction
    pods = [c.add(Pod(n, mem_request=64 * MiB)) for n in ("spike-a", "spike-b", "spike-c")]
    time.sleep(2)
    need = (available() - int(0.15 * cap)) // MiB
    shares = [need * 5 // 10, need * 3 // 10, need - need * 5 // 10 - need * 3 // 10]
    log(f"available {fmt_mib(available())}; spike of {need}MiB across three pods {shares}")
    oom0 = vm_oom_kills()
    s = Sampler()
    s.start()
    t0 = time.time()
    for p, mib in zip(pods, shares):
        p.alloc(hold_mib=mib, seconds=240)
    first = wait_for(lambda: [e for e in c.evictions() if e["code"] == 201], 60)
    wait_for(lambda: c.removed, 30)
    time.sleep(DELAY + 8)  # a second eviction, if any, would come in this span
    s.stop()
    evs = [e for e in c.evictions() if e["code"] == 201]
    acts = [a for a in actions(t_restart) if a[1] in ("evict", "kill", "throttle-memory", "freeze")]
    onset = s.first_below(int(0.20 * cap), after=t0)
    ooms = vm_oom_kills() - oom0
    ev_act = next((a for a in acts if a[1] == "evict"), None)
    t_removed = min(c.removed.values()) if c.removed else None
    figs = (f"spike {need}MiB in {(onset - t0) if onset else float('nan'):.1f}s to below EvictBelow; evictions "
            f"{[e['name'] for e in evs]}; first {ev_act[0] - onset:.1f}s after onset; " if ev_act and onset else
            f"evictions {[e['name'] for e in evs]}; ")
    figs += (f"node short for {t_removed - ev_act[0]:.1f}s after it (no second action within PostActionDelay "
             f"{DELAY}s); " if ev_act and t_removed else "")
    figs += f"actions {[(a[1], a[4].get('POD_NAME')) for a in acts]}; min available {fmt_mib(s.minimum())}; OOM kills {ooms}"
    if not first:
        return False, "no eviction; " + figs
    if len(evs) != 1:
        return False, f"{len(evs)} evictions for one spike; " + figs
    if len(acts) != 1:
        return False, "more than one action for one spike; " + figs
    if evs[0]["name"] != "spike-a":
        return False, "the eviction did not take the largest pod; " + figs
    if ooms:
        return False, "the kernel OOM killer fired; " + figs
    return True, figs
