"""Scenario 7: a protected pod (guardlet.io/protected: "true") leaking: never touched, and reported."""
import time

from node import MiB, Pod, actions, journal, log, restart_guardlet, vm_oom_kills, wait_for

NAME = "protected pod leaking: never touched, reported"


def run(c):
    t_restart = restart_guardlet()
    innocent = c.add(Pod("innocent", mem_request=128 * MiB))
    vip = c.add(Pod("vip", mem_request=64 * MiB, mem_limit=1024 * MiB,
                    annotations={"guardlet.io/protected": "true"}))
    innocent.alloc(hold_mib=100, seconds=300)
    time.sleep(2)
    oom0 = vm_oom_kills()
    t0 = time.time()
    log("vip (protected) starts growing 16 MiB/s up to 600 MiB")
    vip.alloc(rate_mib=16, max_mib=600, seconds=120)

    def reported():
        return [e for e in journal(t_restart, POD_UID=vip.uid) if e.get("GUARDLET_SKIP") == "protected"]

    rep = wait_for(reported, 90)
    # Keep watching while it leaks on: a later step (evict, kill) must not touch it either.
    time.sleep(15)
    acts = actions(t_restart)
    touched = [a for a in acts if a[3] == vip.uid]
    others = [a for a in acts if a[3] != vip.uid]
    ooms = vm_oom_kills() - oom0
    figs = (f"reported {rep[0]['__REALTIME_TIMESTAMP'] and (int(rep[0]['__REALTIME_TIMESTAMP']) / 1e6 - t0):.1f}s "
            f"after the leak began (GUARDLET_SKIP=protected, GUARDLET_PROTECTED_BY="
            f"{rep[0].get('GUARDLET_PROTECTED_BY', '-')}, action it would have taken "
            f"{rep[0].get('GUARDLET_ACTION', '-')}); " if rep else "not reported; ")
    figs += f"actions on it {len(touched)}; on others {len(others)}; OOM kills {ooms}; vip at {vip.memory_current() >> 20}MiB"
    if touched:
        return False, f"the protected pod was touched: {[(a[1], a[2]) for a in touched]}; " + figs
    if not rep:
        return False, "the protected leak was not reported; " + figs
    if others:
        return False, f"another pod was touched instead: {[(a[1], a[3]) for a in others]}; " + figs
    if not vip.alive():
        return False, "the protected pod's process died; " + figs
    return True, figs
