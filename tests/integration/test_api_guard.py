"""test_api_guard.py: API mode end to end: names from the watch, evictions with the UID precondition, a disruption budget's "no"."""
import json
import os
import shutil
import subprocess
import time

from apiguard import NODE, ApiGuardBase
from cgfixture import Figures, MiB, pod_uid
from harness import GiB


class ApiGuardTest(ApiGuardBase):
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
        # The answer's entry carries the contract's fields too, so a query for it alone says enough.
        self.assertEqual(res["POD_QOS"], "burstable")
        self.assertEqual(res["NODE_MEMORY_AVAILABLE_BYTES"], sent["NODE_MEMORY_AVAILABLE_BYTES"])
        self.assertEqual(res["POD_WORKING_SET_BYTES"], sent["POD_WORKING_SET_BYTES"])
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
        # (The very first tick may pass the pods over while the first list is still in flight.)
        _, k = d.wait_for(lambda e: e.get("GUARDLET_ACTION") == "kill" and e.get("GUARDLET_OUTCOME") == "done",
                          timeout=10)
        self.assertEqual(k["POD_UID"], self.big)
        self.assertEqual(d.stop(), 0)

    def node_conditions(self):
        node = self.api.get("nodes", None, NODE)
        return {c["type"]: c for c in node.get("status", {}).get("conditions", [])}

    def wait_condition(self, ctype, status, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            conds = self.node_conditions()
            if conds.get(ctype, {}).get("status") == status:
                return conds
            time.sleep(0.1)
        self.fail(f"{ctype} never became {status}: {self.node_conditions()}")

    def test_conditions_survive_kubelet_updates(self):
        d = self.start_guard()
        self.wait_condition("GuardletMemoryPressure", "True")
        before = self.wait_condition("GuardletCPUPressure", "False")
        # The kubelet's own status update: its conditions, by strategic merge on /status, as kubelet does.
        kubelet = {"status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
             "lastHeartbeatTime": "2026-11-23T00:00:00Z", "lastTransitionTime": "2026-11-22T00:00:00Z"},
            {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
             "message": "kubelet has sufficient memory available", "lastHeartbeatTime": "2026-11-23T00:00:00Z",
             "lastTransitionTime": "2026-11-22T00:00:00Z"}]}}
        if shutil.which("kubectl"):
            p = subprocess.run(["kubectl", "--kubeconfig", self.api.kubeconfig, "--cache-dir",
                                os.path.join(self.tmp, "kcache"), "patch", "node", NODE, "--subresource=status",
                                "--type=strategic", "-p", json.dumps(kubelet)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
        else:
            self.skipTest("kubectl missing: the kubelet's update is made with kubectl")
        conds = self.node_conditions()
        self.assertEqual(conds["GuardletMemoryPressure"]["status"], "True", "kubelet's update kept ours")
        self.assertEqual(conds["Ready"]["reason"], "KubeletReady")
        # Memory comes back: ours flips (a new transition time), kubelet's stay as kubelet wrote them.
        time.sleep(1.1)  # transition times have one-second resolution
        self.proc.set_memory(total=8 * GiB, free=4 * GiB, inactive_file=10 * MiB)
        after = self.wait_condition("GuardletMemoryPressure", "False", timeout=20)
        self.assertEqual(after["Ready"]["reason"], "KubeletReady")
        self.assertEqual(after["Ready"]["lastHeartbeatTime"], "2026-11-23T00:00:00Z")
        self.assertEqual(after["MemoryPressure"]["reason"], "KubeletHasSufficientMemory")
        self.assertNotEqual(after["GuardletMemoryPressure"]["lastTransitionTime"],
                            before["GuardletMemoryPressure"]["lastTransitionTime"])
        self.assertEqual(after["GuardletCPUPressure"]["lastTransitionTime"],
                         before["GuardletCPUPressure"]["lastTransitionTime"], "no flip, no new transition time")
        self.assertEqual(d.stop(), 0)

    def once_args(self):
        return ["--once", "-o", "json", "-c", self.conf, "--kubeconfig", self.api.kubeconfig, "--node-name", NODE,
                "--proc-root", self.proc_root, "--cgroup-root", self.cg.root]

    def test_once_in_api_mode_names_pods_and_never_evicts(self):
        p = self.run_guardlet(self.once_args())
        self.assertEqual(p.returncode, 0, p.stderr)
        rep = json.loads(p.stdout)
        self.assertTrue(rep["api"])
        pods = {x["uid"]: x for x in rep["pods"]}
        self.assertEqual((pods[self.big]["namespace"], pods[self.big]["name"]), ("shop", "big"))
        self.assertEqual(pods[self.second]["name"], "second")
        self.assertEqual(pods[self.big]["qos"], "burstable")
        evict = [x for x in rep["decisions"] if x["action"] == "evict"]
        self.assertEqual([(x["namespace"], x["name"]) for x in evict], [("shop", "big")])
        self.assertEqual(evict[0]["outcome"], "not-done")
        self.assertEqual(self.api.evictions, [], "--once never acts")

    def test_once_without_the_api_server_says_so(self):
        self.api.stop()
        p = self.run_guardlet(self.once_args(), timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("pod names are not shown", p.stderr)
        rep = json.loads(p.stdout)
        self.assertFalse(rep["api"])
        self.assertEqual({x["name"] for x in rep["pods"]}, {None})

    def test_no_action_before_the_first_pod_list(self):
        # kube-system's DNS is the biggest pod; until the API server's (slow) first list says whose
        # it is, it must not be touched, and afterwards its namespace protects it.
        dns = pod_uid(3)
        self.cg.add_pod(dns, "burstable", Figures(memory_current=4 * GiB, memory_max=None, inactive_file=0))
        self.cg.write(dns, "cgroup.kill", "")
        self.api.add_pod("coredns", "kube-system", node=NODE, uid=dns)
        self.api.set_delay(3, path="/api/v1/pods", method="GET")
        d = self.start_guard()
        _, held = d.wait_for(lambda e: e.get("POD_UID") == dns and e.get("GUARDLET_SKIP") == "protected", timeout=10)
        self.assertEqual(held["GUARDLET_PROTECTED_BY"], "metadata-pending")
        ev = self.wait_evictions(1, timeout=30)[0]
        self.assertEqual((ev["namespace"], ev["name"]), ("shop", "big"))
        touched = [e for e in d.logs() if e.get("POD_UID") == dns and e.get("GUARDLET_OUTCOME") == "done"]
        self.assertEqual(touched, [], "the protected pod was acted on")
        with open(os.path.join(self.cg.root, self.cg.pods[dns].cgroup, "memory.high")) as f:
            self.assertIn("max", f.read())
        self.assertEqual(d.stop(), 0)
