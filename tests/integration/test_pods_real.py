"""test_pods_real.py: pod sensing on real kernel cgroups: CPU of busy vs idle pods, pods vanishing, churn without fd leaks."""
import json
import os
import subprocess
import time
import unittest

from harness import SLOW, TempDirTest, WRAPPER, GUARDLET, is_tick, write
from realcg import RealTree, unavailable_reason

REASON = unavailable_reason()
BUSY = ["sh", "-c", "while :; do :; done"]
IDLE = ["sleep", "600"]


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


@unittest.skipIf(REASON, f"real cgroups unavailable: {REASON}")
class RealPodsTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.tree = RealTree()
        self.conf = os.path.join(self.tmp, "guardlet.conf")

    def tearDown(self):
        super().tearDown()  # stops daemons first: they hold fds on the tree
        self.tree.cleanup()

    def test_busy_pod_uses_cpu_and_idle_does_not(self):
        busy = self.tree.add_pod("burstable", BUSY)
        idle = self.tree.add_pod("besteffort", IDLE)
        guaranteed = self.tree.add_pod("guaranteed", IDLE)
        write(self.conf, "")
        p = subprocess.run(WRAPPER + [GUARDLET, "--once", "-o", "json", "--no-api", "-c", self.conf,
                                      "--cgroup-root", self.tree.root, "--set", "Guard.Interval=1s"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60 * SLOW)
        self.assertEqual(p.returncode, 0, p.stderr)
        j = json.loads(p.stdout)
        self.assertEqual(j["node"]["cgroup_version"], 2)
        pods = {x["uid"]: x for x in j["pods"]}
        self.assertEqual(set(pods), {busy, idle, guaranteed})
        self.assertEqual(pods[busy]["qos"], "burstable")
        self.assertEqual(pods[idle]["qos"], "besteffort")
        self.assertEqual(pods[guaranteed]["qos"], "guaranteed")
        self.assertGreater(pods[busy]["cpu"]["usage_cores"], 0.3, pods[busy])
        self.assertLess(pods[idle]["cpu"]["usage_cores"], 0.05, pods[idle])
        self.assertEqual(len(pods[busy]["containers"]), 1)
        self.assertEqual(pods[busy]["containers"][0]["runtime"], "containerd")
        self.assertIsNone(pods[busy]["name"])  # local mode
        self.assertTrue(pods[busy]["cgroup"].startswith("kubepods.slice/kubepods-burstable.slice/"))

    def test_pod_removed_while_daemon_runs(self):
        keep = self.tree.add_pod("burstable", IDLE)
        gone = self.tree.add_pod("besteffort", IDLE)
        write(self.conf, "[Guard]\nInterval=200ms\n")
        d = self.start(["-c", self.conf, "--no-api", "--dry-run", "--cgroup-root", self.tree.root])
        d.wait_for(lambda e: is_tick(e) and e.get("GUARDLET_PODS") == "2", timeout=10)
        n = len(d.logs())
        self.tree.remove_pod(gone)
        _, e = d.wait_for(lambda e: is_tick(e) and e.get("GUARDLET_PODS") == "1", timeout=5, after=n)
        self.assertEqual(e["GUARDLET_READ_ERRORS"], "0")
        self.assertTrue(any("1 gone" in x.get("MESSAGE", "") for x in d.logs()[n:]))
        self.assertEqual(d.stop(), 0)
        noisy = [x for x in d.logs() if int(x.get("PRIORITY", "7")) <= 4]
        self.assertEqual(noisy, [], "a vanished cgroup is a normal event")
        self.assertIn(keep, self.tree.dirs)

    def test_churn_no_errors_no_fd_leak(self):
        write(self.conf, "[Guard]\nInterval=100ms\n")
        base = [self.tree.add_pod("burstable") for _ in range(5)]
        d = self.start(["-c", self.conf, "--no-api", "--dry-run", "--cgroup-root", self.tree.root])
        d.wait_for(lambda e: is_tick(e) and e.get("GUARDLET_PODS") == "5", timeout=10)
        pid = d.proc.pid if not WRAPPER else None
        before = open_fds(pid) if pid else None
        events = 0
        live = []
        deadline = time.monotonic() + 60 * SLOW
        # Create and remove pods continuously while the daemon scans every 100 ms, so that some
        # are removed between listing and reading and some while their fds are cached.
        while events < 1200 and time.monotonic() < deadline:
            live.append(self.tree.add_pod("besteffort" if events % 3 else "burstable"))
            events += 1
            if len(live) > 20:
                self.tree.remove_pod(live.pop(0))
                events += 1
            time.sleep(0.002)
        for uid in live:
            self.tree.remove_pod(uid)
            events += 1
        self.assertGreaterEqual(events, 1000)
        n = len(d.logs())
        d.wait_for(lambda e: is_tick(e) and e.get("GUARDLET_PODS") == "5", timeout=10, after=n)
        time.sleep(0.3)
        if pid:
            after = open_fds(pid)
            # The five remaining pods' fds were cached before and after: no growth allowed.
            self.assertLessEqual(after, before, f"fd leak: {before} -> {after}")
        self.assertEqual(d.stop(), 0)
        bad = [x for x in d.logs() if int(x.get("PRIORITY", "7")) <= 4 or
               (is_tick(x) and x["GUARDLET_READ_ERRORS"] != "0")]
        self.assertEqual(bad, [], f"{events} churn events must log no errors")
        self.assertEqual(sorted(base), sorted(self.tree.dirs))
        print(f"\n  churn: {events} pod create/remove events while scanning every 100 ms")
