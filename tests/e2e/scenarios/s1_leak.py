"""Scenario 1: a leaking pod on a node with innocents: throttled, then evicted through the API before the kernel
OOM killer fires anywhere (oom_kill stays 0 in every pod and in /proc/vmstat)."""
import time

import json

from node import NS, MiB, Pod, actions, fmt_mib, log, restart_guardlet, sh, vm_oom_kills, wait_for

# The contract's fields on every action entry (CONTRACT.md, "Logs").
FIELDS = ("MESSAGE", "PRIORITY", "MESSAGE_ID", "GUARDLET_ACTION", "GUARDLET_REASON", "GUARDLET_DRY_RUN",
          "POD_NAMESPACE", "POD_NAME", "POD_UID", "POD_QOS", "CGROUP_PATH", "NODE_MEMORY_AVAILABLE_BYTES",
          "POD_WORKING_SET_BYTES")


def contract_check(uid):
    """What an operator types: journalctl -u guardlet POD_NAMESPACE=shop finds the entries with every field;
    journalctl -x explains them from the catalog."""
    out = sh(["journalctl", "-u", "guardlet", f"POD_NAMESPACE={NS}", f"POD_UID={uid}", "-o", "json", "--no-pager"],
             check=False)
    entries = [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]
    acted = [e for e in entries if e.get("GUARDLET_ACTION") in ("throttle-memory", "evict")]
    # The eviction's answer is a second entry (GUARDLET_EVICTION_RESULT); the decision entry carries the figures.
    missing = sorted({f for e in acted if "GUARDLET_EVICTION_RESULT" not in e for f in FIELDS if f not in e})
    result_missing = sorted({f for e in acted if "GUARDLET_EVICTION_RESULT" in e for f in FIELDS if f not in e})
    x = sh(["journalctl", "-x", "-u", "guardlet", f"POD_UID={uid}", "GUARDLET_ACTION=evict", "-n", "1",
            "--no-pager"], check=False)
    return len(entries), missing, result_missing, "░░" in x

NAME = "leak: throttled, then evicted before any OOM kill"


def run(c):
    t_restart = restart_guardlet()
    innocents = [c.add(Pod(f"innocent-{i}", mem_request=128 * MiB)) for i in range(2)]
    leaky = c.add(Pod("leaky", mem_request=64 * MiB, mem_limit=1024 * MiB))
    for p in innocents:
        p.alloc(hold_mib=100, seconds=300)
    time.sleep(3)
    oom0 = vm_oom_kills()
    t0 = time.time()
    log("leaky starts growing 16 MiB/s toward its 1 GiB limit")
    leaky.alloc(rate_mib=16, max_mib=1100, seconds=180)
    evicted = wait_for(lambda: [e for e in c.evictions() if e.get("uid") == leaky.uid and e["code"] == 201], 120)
    wait_for(lambda: leaky.uid in c.removed, 30)
    time.sleep(2)
    acts = actions(t_restart)
    mine = [a for a in acts if a[3] == leaky.uid]
    others = [a for a in acts if a[3] != leaky.uid]
    thr = next((a for a in mine if a[1] == "throttle-memory"), None)
    ev = next((a for a in mine if a[1] == "evict"), None)
    ooms = vm_oom_kills() - oom0
    pod_ooms = {p.name: p.oom_kills() for p in innocents}
    peak = max((int(a[4].get("POD_WORKING_SET_BYTES", 0)) for a in mine), default=None)
    n_found, missing, result_missing, catalog = contract_check(leaky.uid)
    figs = (f"throttle {thr[0] - t0:.1f}s, evict {ev[0] - t0:.1f}s after the leak began" if thr and ev else
            f"throttle {'-' if not thr else f'{thr[0] - t0:.1f}s'}, evict {'-' if not ev else f'{ev[0] - t0:.1f}s'}")
    figs += (f"; reason {ev[2] if ev else '-'}; leaky working set at action {fmt_mib(peak)}; OOM kills node {ooms}, "
             f"innocents {sum(pod_ooms.values())}; innocents touched {len(others)}; "
             f"journalctl POD_NAMESPACE={NS} finds {n_found} entries, contract fields missing {missing or 'none'} (on the "
             f"eviction-result entry: {result_missing or 'none'}), "
             f"journalctl -x catalog text {'yes' if catalog else 'no'}")
    if not thr:
        return False, "leaky was never throttled; " + figs
    if not evicted or not ev:
        return False, "leaky was not evicted through the API; " + figs
    if thr[0] > ev[0]:
        return False, "evicted before being throttled; " + figs
    if ooms or any(pod_ooms.values()):
        return False, "the kernel OOM killer fired; " + figs
    if others:
        return False, f"innocents touched: {[(a[1], a[3]) for a in others]}; " + figs
    if any(not p.alive() for p in innocents):
        return False, "an innocent's process died; " + figs
    if not n_found or missing:
        return False, "the journal entries lack the contract's fields; " + figs
    return True, figs
