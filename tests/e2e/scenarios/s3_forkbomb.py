"""Scenario 3: a fork bomb in one pod (pids.max 200, as a kubelet podPidsLimit would set): stopped (frozen or
killed, and evicted through the API), innocents untouched."""
import os
import time

from node import MiB, Pod, actions, log, restart_guardlet, wait_for

NAME = "fork bomb: stopped, innocents untouched"


def run(c):
    t_restart = restart_guardlet()
    innocents = [c.add(Pod(f"innocent-{i}", mem_request=64 * MiB, pids_max=200)) for i in range(2)]
    for p in innocents:
        p.alloc(hold_mib=20, seconds=300)
    bomb = c.add(Pod("bomb", mem_request=64 * MiB, pids_max=200))
    time.sleep(2)
    t0 = time.time()
    log("bomb starts forking (pids.max 200, PidsAbove 90%)")
    bomb.spawn(["python3", os.path.join(os.path.dirname(__file__), "forkbomb.py")], seconds=120)
    hit = wait_for(lambda: bomb.pids() >= 180 and time.time(), 60)
    stopped = wait_for(lambda: [a for a in actions(t_restart, bomb.uid) if a[1] in ("freeze", "kill", "evict")], 60)
    evicted = wait_for(lambda: [e for e in c.evictions() if e.get("uid") == bomb.uid and e["code"] == 201], 30)
    gone = wait_for(lambda: bomb.uid in c.removed or not bomb.alive(), 30)
    time.sleep(2)
    acts = actions(t_restart)
    mine = [a for a in acts if a[3] == bomb.uid]
    others = [a for a in acts if a[3] != bomb.uid]
    first = mine[0] if mine else None
    figs = (f"first action {first[1]} ({first[2]}, {first[4].get('POD_PIDS', '?')} pids) {first[0] - t0:.1f}s after "
            f"the bomb began (seen at 180+ pids by a 0.2 s poll at {hit - t0:.1f}s); " if first and hit else "")
    figs += (f"actions on the bomb {[a[1] for a in mine]}; evicted {bool(evicted)}; innocents touched {len(others)}; "
             f"innocents alive {sum(p.alive() for p in innocents)}/2")
    if not stopped:
        return False, "the bomb was not stopped; " + figs
    if not gone:
        return False, "the bomb's pod never went away; " + figs
    if others:
        return False, f"innocents touched: {[(a[1], a[3]) for a in others]}; " + figs
    if not all(p.alive() for p in innocents):
        return False, "an innocent's process died; " + figs
    return True, figs
