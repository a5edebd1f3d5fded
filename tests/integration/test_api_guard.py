"""test_api_guard.py: API mode end to end: names from the watch, evictions with the UID precondition, a disruption budget's "no"."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from cgfixture import CgroupFixture, Figures, MiB, pod_uid
from harness import GiB, ProcFixture, TempDirTest, write

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fakeapi"))
import fakeapi  # noqa: E402

NODE = "node-a"


class ApiGuardTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.api = fakeapi.FakeAPIServer(tempfile.mkdtemp(dir=self.tmp), tls=False, max_seconds=120).start()
        self.addCleanup(self.api.stop)
        self.api.add_node(NODE)
        self.proc_root = os.path.join(self.tmp, "proc")
        self.proc = ProcFixture(self.proc_root, cpus=4)
        # 5% available of 8 GiB: below EvictBelow (8%), above KillBelow (3%).
        self.proc.set_memory(total=8 * GiB, free=400 * MiB, inactive_file=10 * MiB)
        self.cg = CgroupFixture("v2-systemd", parent=self.tmp)
        self.addCleanup(self.cg.cleanup)
        self.big, self.second = pod_uid(1), pod_uid(2)
        for uid, name, ws in ((self.big, "big", 3 * GiB), (self.second, "second", 2 * GiB)):
            self.cg.add_pod(uid, "burstable", Figures(memory_current=ws, memory_max=None, inactive_file=0))
            self.cg.write(uid, "cgroup.kill", "")
            self.api.add_pod(name, "shop", node=NODE, uid=uid, labels={"app": name})
        self.conf = os.path.join(self.tmp, "guardlet.conf")
        write(self.conf, "[Guard]\nInterval=200ms\n[Actions]\nPostActionDelay=1s\nEvictGracePeriod=7s\n"
                         "EmergencyAfter=1min\n[Runaway]\nLeakWindow=2s\n"
                         "[Memory]\nPressureDuration=1s\n[CPU]\nPressureDuration=1s\n")

    def start_guard(self):
        return self.start(["-c", self.conf, "--kubeconfig", self.api.kubeconfig, "--node-name", NODE,
                           "--proc-root", self.proc_root, "--cgroup-root", self.cg.root])

    def wait_evictions(self, n, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.api.lock:
                done = [e for e in self.api.evictions if e.get("code") is not None]
            if len(done) >= n:
                return done
            time.sleep(0.05)
        self.fail(f"expected {n} evictions, the fake saw {self.api.evictions}")

    def test_eviction_with_uid_precondition(self):
        d = self.start_guard()
        d.wait_for(lambda e: "API mode" in e.get("MESSAGE", ""), timeout=10)
        ev = self.wait_evictions(1)[0]
        self.assertEqual((ev["namespace"], ev["name"]), ("shop", "big"))
        opts = ev["body"]["deleteOptions"]
        self.assertEqual(opts["preconditions"]["uid"], self.big)
        self.assertEqual(opts["gracePeriodSeconds"], 7)
        _, sent = d.wait_for(lambda e: e.get("GUARDLET_ACTION") == "evict" and not e.get("GUARDLET_EVICTION_RESULT"))
        self.assertEqual(sent["POD_NAMESPACE"], "shop")
        self.assertEqual(sent["POD_NAME"], "big")
        self.assertEqual(sent["GUARDLET_REASON"], "memory-low")
        _, res = d.wait_for(lambda e: e.get("GUARDLET_EVICTION_RESULT") == "ok")
        self.assertEqual(res["POD_UID"], self.big)
        with open(os.path.join(self.cg.root, self.cg.pods[self.big].cgroup, "cgroup.kill")) as f:
            self.assertEqual(f.read(), "", "evicted through the API, not killed locally")
        # What the cluster sees: an event on the pod, the pool label and our condition beside
        # kubelet's, read back through kubectl as an operator would.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            events = [e for e in self.api.list("events", "shop") if e.get("reason") == "GuardletEvicted"]
            node = self.api.get("nodes", None, NODE)
            conds = {c["type"]: c for c in node.get("status", {}).get("conditions", [])}
            if events and "GuardletMemoryPressure" in conds:
                break
            time.sleep(0.1)
        self.assertEqual(len(events), 1)
        self.assertEqual(events[0]["source"]["component"], "guardlet")
        self.assertEqual(events[0]["involvedObject"]["uid"], self.big)
        self.assertEqual(node["metadata"]["labels"].get("guardlet.io/pool"), "standard")
        self.assertEqual(conds["GuardletMemoryPressure"]["status"], "True")
        self.assertEqual(conds["GuardletCPUPressure"]["status"], "False")
        if "Ready" in conds:
            self.assertEqual(conds["Ready"]["status"], "True", "kubelet's conditions stay intact")
        if shutil.which("kubectl"):
            out = subprocess.run(["kubectl", "--kubeconfig", self.api.kubeconfig, "get", "node", NODE,
                                  "-o", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            kn = json.loads(out.stdout)
            self.assertEqual(kn["metadata"]["labels"]["guardlet.io/pool"], "standard")
            self.assertIn("GuardletMemoryPressure", [c["type"] for c in kn["status"]["conditions"]])
            ev = subprocess.run(["kubectl", "--kubeconfig", self.api.kubeconfig, "get", "events", "-n",
                                 "shop"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                timeout=30)
            self.assertEqual(ev.returncode, 0, ev.stderr)
            self.assertIn("GuardletEvicted", ev.stdout)
        self.assertEqual(d.stop(), 0)

    def test_budget_blocks_then_next_candidate(self):
        self.api.add_budget("big-pdb", "shop", {"app": "big"})
        d = self.start_guard()
        evs = self.wait_evictions(2)
        self.assertEqual([(e["name"], e["code"]) for e in evs[:2]], [("big", 429), ("second", 201)])
        _, blocked = d.wait_for(lambda e: e.get("GUARDLET_EVICTION_RESULT") == "blocked")
        self.assertEqual(blocked["GUARDLET_SKIP"], "blocked")
        self.assertEqual(blocked["POD_NAME"], "big")
        self.assertIn("disruption budget", blocked["MESSAGE"])
        _, ok = d.wait_for(lambda e: e.get("GUARDLET_EVICTION_RESULT") == "ok")
        self.assertEqual(ok["POD_NAME"], "second")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            reasons = {e.get("reason") for e in self.api.list("events", "shop")}
            if {"GuardletEvictionBlocked", "GuardletEvicted"} <= reasons:
                break
            time.sleep(0.1)
        self.assertIn("GuardletEvictionBlocked", reasons)
        self.assertIn("GuardletEvicted", reasons)
        self.assertEqual(d.stop(), 0)

    def test_api_down_local_protection_still_acts(self):
        self.api.stop()
        # Below KillBelow: the local floor must act without the API server.
        self.proc.set_memory(total=8 * GiB, free=100 * MiB, inactive_file=10 * MiB)
        d = self.start_guard()
        _, k = d.wait_for(lambda e: e.get("GUARDLET_ACTION") == "kill", timeout=10)
        self.assertEqual(k["POD_UID"], self.big)
        self.assertEqual(k["GUARDLET_OUTCOME"], "done")
        self.assertEqual(d.stop(), 0)
