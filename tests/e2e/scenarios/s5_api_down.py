"""Scenario 5: the API server down during a leak: guardlet kills the pod locally once the node is below
KillBelow, and its events reach the API server when it returns.

Throttle=no here: with no swap a memory.high throttle holds a leak where it is (scenario 1 shows that), and
this scenario is about the emergency floor without the API server."""
import time

from node import MiB, Pod, Sampler, actions, available, capacity, fmt_mib, log, restart_guardlet, vm_oom_kills, \
    wait_for

NAME = "API server down during a leak: local kill below KillBelow, events delivered on return"


def run(c):
    t_restart = restart_guardlet({"Actions": {"Throttle": "no"}})
    cap = capacity()
    innocent = c.add(Pod("innocent", mem_request=128 * MiB))
    innocent.alloc(hold_mib=60, seconds=300)
    leaky = c.add(Pod("leaky", mem_request=64 * MiB))
    time.sleep(2)
    # Start at 35% available (above every level), then grow 40 MiB/s.
    hold = max(0, (available() - int(0.35 * cap)) // MiB)
    leaky.alloc(hold_mib=hold, rate_mib=40, max_mib=hold + 2000, seconds=180)
    wait_for(lambda: leaky.memory_current() >= hold * MiB * 0.95, 60)
    log(f"leaky holds {hold}MiB, available {fmt_mib(available())}; API server goes down, leak continues")
    c.api.go_down()
    oom0 = vm_oom_kills()
    s = Sampler()
    s.start()
    killed = wait_for(lambda: [a for a in actions(t_restart, leaky.uid) if a[1] == "kill"], 90)
    wait_for(lambda: not leaky.alive(), 20)
    time.sleep(2)
    s.stop()
    t_up = time.time()
    c.api.come_up()
    log("API server back")
    delivered = wait_for(lambda: [e for e in c.events() if e.get("involvedObject", {}).get("uid") == leaky.uid
                                  and e.get("reason") == "GuardletKilled"], 60)
    t_delivered = time.time()
    ooms = vm_oom_kills() - oom0
    onset = s.first_below(int(0.10 * cap))
    acts = actions(t_restart)
    # An eviction attempted while the API server is away changes nothing; one that goes through, or any other
    # action, does.
    others = [a for a in acts if a[3] != leaky.uid and a[1] != "evict"]
    tried = [a for a in acts if a[3] != leaky.uid and a[1] == "evict"]
    evicted_others = [e for e in c.evictions() if e.get("uid") != leaky.uid and e["code"] == 201]
    k = killed[0] if killed else None
    figs = ""
    if k:
        figs += (f"kill ({k[2]}) at available {fmt_mib(int(k[4].get('NODE_MEMORY_AVAILABLE_BYTES', 0)))} "
                 f"(KillBelow {fmt_mib(int(0.10 * cap))}), "
                 + (f"{k[0] - onset:.1f}s after a 100 ms sampler saw the node below it; " if onset else
                    "on guardlet's first reading below it (a 100 ms sampler never saw it below); "))
    figs += (f"min available {fmt_mib(s.minimum())}; events on return {'in %.1fs' % (t_delivered - t_up) if delivered else 'none'}"
             f" (reasons {sorted({e.get('reason') for e in c.events()})}); OOM kills {ooms}; innocent: evictions attempted while the API was down {len(tried)}, "
             f"evicted after it returned {len(evicted_others)}, other actions {len(others)}")
    if not killed:
        return False, "leaky was not killed locally; " + figs
    if ooms:
        return False, "the kernel OOM killer fired; " + figs
    if others or evicted_others:
        return False, "the innocent pod was touched; " + figs
    if not delivered:
        return False, "no GuardletKilled event reached the API server after it returned; " + figs
    return True, figs
