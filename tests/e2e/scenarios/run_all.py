"""run_all.py: runs the e2e scenarios inside the VM, in the order 1, 7, 6, 3, 5, 2, 4, 8, and writes one
PASS/FAIL line per scenario (with its figures) to RESULTS/summary.txt as each one ends."""
import argparse
import importlib
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import node  # noqa: E402

ORDER = [1, 7, 6, 3, 5, 2, 4, 8]
MODULES = {1: "s1_leak", 7: "s7_protected", 6: "s6_budget", 3: "s3_forkbomb", 5: "s5_api_down",
           2: "s2_spike", 4: "s4_cpu_hog", 8: "s8_idle"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    only = [int(x) for x in a.only.split(",") if x.strip()] if a.only else ORDER
    summary = os.path.join(a.results, "summary.txt")
    node.setup_kubepods()
    cluster = node.Cluster()
    failed = 0
    for n in [n for n in ORDER if n in only]:
        mod = importlib.import_module(MODULES[n])
        node.log(f"==== scenario {n}: {mod.NAME}")
        t0 = time.monotonic()
        try:
            ok, figs = mod.run(cluster)
        except Exception as e:  # noqa: BLE001 - a broken scenario is a FAIL with its reason, the rest still run
            traceback.print_exc()
            ok, figs = False, f"error: {type(e).__name__}: {e}"
        try:
            cluster.clear()
        except Exception:  # noqa: BLE001
            traceback.print_exc()
        line = f"{'PASS' if ok else 'FAIL'} {n} {mod.NAME} ({time.monotonic() - t0:.0f}s): {figs}"
        failed += not ok
        node.log(line)
        with open(summary, "a") as f:
            f.write(line + "\n")
    cluster.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
