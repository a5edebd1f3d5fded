"""test_rbac.py: packaging/kubernetes's ClusterRole grants exactly what guardlet uses. The real daemon runs
in API mode against the fake API server enforcing that ClusterRole (fakeapi rbac=...), through a scenario
that takes every API path: the pod list and watch, an eviction blocked by a disruption budget and one that
goes through, the pool label, the Guardlet* conditions, events created and then aggregated (PATCH)."""
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import k8smanifests as km
from apiguard import ApiGuardBase
from harness import SLOW

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fakeapi"))
import fakeapi  # noqa: E402
import fakerbac  # noqa: E402

FAKEAPI = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakeapi", "fakeapi.py")


# Every (group, resource, verb) the daemon's code makes (src/kube: podwatch.c list and watch, evict.c,
# nodestatus.c label and conditions, events.c POST then merge PATCH): the scenario must take them all,
# whatever the role says, so that a missing verb shows up as a 403 rather than as a path not taken.
SCENARIO = {("", "pods", "list"), ("", "pods", "watch"), ("", "pods/eviction", "create"), ("", "nodes", "patch"),
            ("", "nodes/status", "patch"), ("", "events", "create"), ("", "events", "patch")}


class RbacTest(ApiGuardBase):
    def setUp(self):
        if km.yaml is None:
            self.skipTest("python3-yaml is not installed (make deps)")
        # The ClusterRole the manifests ship, not a copy: a rule added there must be used here.
        self.fakeapi_options = {"rbac": km.objects()["ClusterRole"]}
        super().setUp()
        self.granted = fakerbac.granted(self.api.rbac.rules)

    def wait_seen(self, want, timeout=20):
        """Waits until the daemon has made every kind of request in want (allowed or not)."""
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            with self.api.rbac.lock:
                if want <= self.api.rbac.seen:
                    return
            time.sleep(0.1)

    def test_exactly_the_verbs_guardlet_uses(self):
        self.assertTrue(self.granted)
        # "big" is protected by a budget (429, GuardletEvictionBlocked, retried: the event repeats and is
        # PATCHed); "second" is evicted (201, GuardletEvicted).
        self.api.add_budget("big-pdb", "shop", {"app": "big"})
        d = self.start_guard(["--set", "Guard.MetricsListen=",
                              "--set", f"Guard.StatusSocket={os.path.join(self.tmp, 'guardlet.sock')}"])
        self.wait_seen(SCENARIO)
        with self.api.rbac.lock:
            denied, seen = list(self.api.rbac.denied), set(self.api.rbac.seen)
        self.assertEqual(denied, [], "guardlet made requests the ClusterRole does not allow")
        self.assertEqual(sorted(SCENARIO - seen), [], "the scenario did not take every API path")
        self.assertEqual(sorted(self.granted - self.api.rbac.used()), [],
                         f"granted but never used (remove from 02-clusterrole.yaml); seen: {sorted(seen)}")
        self.assertFalse([r for r in self.api.recorded() if r["status"] == 403])
        d.wait_for(lambda e: e.get("GUARDLET_EVICTION_RESULT") == "ok", timeout=20)
        self.assertEqual(d.stop(), 0)


class FakeRbacModeTest(unittest.TestCase):
    """fakeapi's RBAC mode itself: the request mapping, the rule matching and the 403 answer."""

    ROLE = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "t"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
                      {"apiGroups": [""], "resources": ["*/eviction"], "verbs": ["create"]},
                      {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"], "resourceNames": ["node-a"]}]}

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="guardlet-test-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.api = fakeapi.FakeAPIServer(self.tmp, tls=False, max_seconds=60, rbac=self.ROLE).start()
        self.addCleanup(self.api.stop)
        self.api.add_node("node-a")
        self.api.add_node("node-b")
        self.api.add_pod("web", "shop", node="node-a")

    def call(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.api.port, timeout=10)
        try:
            headers = {"Authorization": "Bearer " + self.api.token, "Content-Type": "application/json"}
            conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            r = conn.getresponse()
            return r.status, json.loads(r.read() or b"null")
        finally:
            conn.close()

    def test_rules_decide_and_everything_is_recorded(self):
        self.assertEqual(self.call("GET", "/api/v1/pods")[0], 200)                          # list
        self.assertEqual(self.call("GET", "/api/v1/nodes/node-a")[0], 200)                  # get, named
        self.assertEqual(self.call("GET", "/version")[0], 200)    # discovery: system:discovery's, never denied
        code, st = self.call("GET", "/api/v1/nodes/node-b")                                 # another name
        self.assertEqual(code, 403)
        self.assertEqual((st["kind"], st["status"], st["reason"], st["code"]),
                         ("Status", "Failure", "Forbidden", 403))
        self.assertEqual(st["message"], 'nodes "node-b" is forbidden: User "token-user-0" cannot get resource '
                                        '"nodes" in API group "" at the cluster scope')
        self.assertEqual(st["details"], {"name": "node-b", "kind": "nodes"})
        self.assertEqual(self.call("GET", "/api/v1/nodes")[0], 403)              # list: resourceNames never match
        code, st = self.call("DELETE", "/api/v1/namespaces/shop/pods/web")
        self.assertEqual(code, 403)
        self.assertIn('cannot delete resource "pods" in API group "" in the namespace "shop"', st["message"])
        self.assertIsNotNone(self.api.get("pods", "shop", "web"), "a denied request changes nothing")
        ev = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web", "namespace": "shop"}}
        self.assertEqual(self.call("POST", "/api/v1/namespaces/shop/pods/web/eviction", ev)[0], 201)  # */eviction
        self.assertEqual(self.api.rbac.seen, {("", "pods", "list"), ("", "nodes", "get"), ("", "nodes", "list"),
                                              ("", "pods", "delete"), ("", "pods/eviction", "create")})
        self.assertEqual([(d["verb"], d["resource"], d["name"]) for d in self.api.rbac.denied],
                         [("get", "nodes", "node-b"), ("list", "nodes", None), ("delete", "pods", "web")])
        self.assertEqual(fakerbac.granted(self.api.rbac.rules) - self.api.rbac.used(), set())

    def test_watch_is_its_own_verb(self):
        code, st = self.call("GET", "/api/v1/pods?watch=1&timeoutSeconds=1")
        self.assertEqual(code, 403)
        self.assertIn('cannot watch resource "pods"', st["message"])
        self.assertEqual(fakerbac.granted(self.api.rbac.rules) - self.api.rbac.used(),
                         {("", "pods", "list"), ("", "*/eviction", "create"), ("", "nodes", "get")})

    def test_default_is_no_rbac(self):
        api = fakeapi.FakeAPIServer(os.path.join(self.tmp, "plain"), tls=False, max_seconds=60).start()
        self.addCleanup(api.stop)
        self.assertIsNone(api.rbac)
        conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
        conn.request("DELETE", "/api/v1/nodes/x", headers={"Authorization": "Bearer " + api.token})
        self.assertEqual(conn.getresponse().status, 404, "no RBAC: the request reaches the store")
        conn.close()

    def test_command_line_and_admin_endpoint(self):
        role = os.path.join(self.tmp, "role.json")
        with open(role, "w") as f:
            json.dump(self.ROLE, f)
        state, port_file = os.path.join(self.tmp, "cli"), os.path.join(self.tmp, "port")
        p = subprocess.Popen([sys.executable, FAKEAPI, "--state-dir", state, "--port-file", port_file, "--plain",
                              "--rbac", role, "--max-seconds", "60"], stderr=subprocess.DEVNULL)
        self.addCleanup(p.wait)
        self.addCleanup(p.terminate)
        deadline = time.monotonic() + 20 * SLOW
        while not os.path.exists(port_file) and time.monotonic() < deadline:
            time.sleep(0.05)
        with open(port_file) as f:
            port = int(f.read())
        with open(os.path.join(state, "token")) as f:
            token = f.read().strip()
        with open(os.path.join(state, "admin-token")) as f:
            admin = f.read().strip()

        def get(path, tok):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                conn.request("GET", path, headers={"Authorization": "Bearer " + tok})
                r = conn.getresponse()
                return r.status, json.loads(r.read())
            finally:
                conn.close()

        self.assertEqual(get("/api/v1/pods", token)[0], 200)
        self.assertEqual(get("/api/v1/events", token)[0], 403)
        code, report = get("/_fake/rbac", admin)
        self.assertEqual(code, 200)
        self.assertEqual(report["seen"], [["", "events", "list"], ["", "pods", "list"]])
        self.assertEqual([(d["verb"], d["resource"]) for d in report["denied"]], [("list", "events")])
        self.assertEqual(report["unused"], [["", "*/eviction", "create"], ["", "nodes", "get"]])
