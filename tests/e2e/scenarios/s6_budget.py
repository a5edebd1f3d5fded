"""Scenario 6: node memory below EvictBelow, the top offender protected by a disruption budget: its eviction is
refused (429), GuardletEvictionBlocked is reported, and the next candidate is evicted instead."""
import time

from node import MiB, Pod, Sampler, actions, available, capacity, fmt_mib, journal, log, restart_guardlet, \
    vm_oom_kills, wait_for

NAME = "disruption budget: next candidate evicted, GuardletEvictionBlocked reported"


def run(c):
    # A 60 s LeakWindow: filling a pod takes ~10 s under emulation, which is not the leak this scenario is about.
    t_restart = restart_guardlet({"Actions": {"PostActionDelay": "3s"}, "Runaway": {"LeakWindow": "60s"}})
    cap = capacity()
    small = c.add(Pod("small", mem_request=128 * MiB))
    small.alloc(hold_mib=60, seconds=300)
    big = c.add(Pod("big", mem_request=64 * MiB))
    second = c.add(Pod("second", mem_request=64 * MiB))
    c.api.add_budget("big-pdb", "shop", {"app": "big"})
    time.sleep(3)
    # Land the node at 15% available (EvictBelow 20%, KillBelow 10%): big takes 60% of the way, second the rest.
    need = (available() - int(0.15 * cap)) // MiB
    log(f"available {fmt_mib(available())}; big +{need * 6 // 10}MiB, then second +{need - need * 6 // 10}MiB")
    oom0 = vm_oom_kills()
    s = Sampler()
    s.start()
    big.alloc(hold_mib=need * 6 // 10, seconds=240)
    wait_for(lambda: big.memory_current() >= need * 6 // 10 * MiB * 0.95, 60)
    second.alloc(hold_mib=need - need * 6 // 10, seconds=240)
    ok201 = wait_for(lambda: [e for e in c.evictions() if e["code"] == 201], 90)
    wait_for(lambda: second.uid in c.removed, 30)
    time.sleep(3)
    s.stop()
    onset = s.first_below(int(0.20 * cap))
    evs = c.evictions()
    blocked = [e for e in journal(t_restart) if e.get("GUARDLET_EVICTION_RESULT") == "blocked"]
    ev_blocked = wait_for(lambda: c.events("GuardletEvictionBlocked"), 15)
    acts = actions(t_restart)
    ev_ok = next((a for a in acts if a[1] == "evict" and a[3] == second.uid), None)
    ooms = vm_oom_kills() - oom0
    figs = (f"evictions {[(e['name'], e['code']) for e in evs]}; "
            f"second evicted {ev_ok[0] - onset:.1f}s after available fell below EvictBelow; " if ev_ok and onset else
            f"evictions {[(e['name'], e['code']) for e in evs]}; ")
    figs += (f"blocked logged {len(blocked)}, GuardletEvictionBlocked events {len(ev_blocked or [])}; "
             f"min available {fmt_mib(s.minimum())}; small touched {len([a for a in acts if a[3] == small.uid])}; "
             f"OOM kills {ooms}")
    names = [(e["name"], e["code"]) for e in evs]
    if ("big", 429) not in names:
        return False, "big's eviction was never refused by its budget; " + figs
    if not ok201 or ok201[0]["name"] != "second":
        return False, "the next candidate (second) was not evicted; " + figs
    if not blocked or not ev_blocked:
        return False, "the blocked eviction was not reported (journal and GuardletEvictionBlocked event); " + figs
    if any(a[3] == small.uid for a in acts):
        return False, "the small innocent pod was touched; " + figs
    if ooms:
        return False, "the kernel OOM killer fired; " + figs
    return True, figs
