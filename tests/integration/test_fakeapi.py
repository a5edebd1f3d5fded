"""test_fakeapi.py: the fake Kubernetes API server (tests/fakeapi) checked with kubectl and with raw HTTP.

Later tests drive guardlet against this server, so it must behave like the real one where guardlet looks:
discovery and Tables for kubectl, list/watch semantics, eviction answers, patch flavours, auth and faults.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import unittest
import urllib.parse

from harness import TempDirTest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakeapi"))
import fakeapi  # noqa: E402
import faketls  # noqa: E402
from fakestore import APIError, parse_label_selector, strategic_merge_patch  # noqa: E402

FAKEAPI = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakeapi", "fakeapi.py")
KUBECTL = shutil.which("kubectl")
OPENSSL = faketls.openssl_available()
NODE = "node-a"
_DEFAULT = object()


def client_context(api, cafile=_DEFAULT, cert=None):
    ctx = ssl.create_default_context(cafile=api.ca_file if cafile is _DEFAULT else cafile)
    if cert:
        ctx.load_cert_chain(api.cert_path(cert + ".crt"), api.cert_path(cert + ".key"))
    return ctx


def connect(api, timeout=10, ctx=None):
    if api.tls:
        return http.client.HTTPSConnection("127.0.0.1", api.port, timeout=timeout, context=ctx or client_context(api))
    return http.client.HTTPConnection("127.0.0.1", api.port, timeout=timeout)


def call(api, method, path, body=None, ctype="application/json", token=_DEFAULT, ctx=None, timeout=10,
         raw=False):
    """One request; returns (status, parsed JSON body or bytes when raw or unparsable)."""
    headers = {"Accept": "application/json"}
    token = api.token if token is _DEFAULT else token
    if token:
        headers["Authorization"] = "Bearer " + token
    if body is not None:
        headers["Content-Type"] = ctype
        body = body if isinstance(body, (bytes, str)) else json.dumps(body)
    conn = connect(api, timeout, ctx)
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
    finally:
        conn.close()
    if raw:
        return r.status, data
    try:
        return r.status, json.loads(data)
    except ValueError:
        return r.status, data


def admin(api, method, what, body=None, token=_DEFAULT):
    return call(api, method, "/_fake/" + what, body, token=api.admin_token if token is _DEFAULT else token)


def pods_path(node=NODE, **params):
    q = {"fieldSelector": f"spec.nodeName={node}", **params}
    return "/api/v1/pods?" + urllib.parse.urlencode(q)


class WatchReader:
    """A watch over a raw socket with our own chunk parser, so a clean end (final 0-chunk) and an abrupt
    cut are told apart, as guardlet's client has to."""

    def __init__(self, api, path, token=_DEFAULT, timeout=10):
        sock = socket.create_connection(("127.0.0.1", api.port), timeout=timeout)
        if api.tls:
            sock = client_context(api).wrap_socket(sock, server_hostname="127.0.0.1")
        self.sock, self.buf, self.lines = sock, b"", []
        token = api.token if token is _DEFAULT else token
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                     "Accept: application/json\r\n\r\n".encode())
        head = self._until(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])
        self.headers = head.decode().lower()

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed without the final chunk")
        self.buf += data

    def _until(self, sep):
        while sep not in self.buf:
            self._fill()
        out, self.buf = self.buf.split(sep, 1)
        return out

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def next(self):
        """The next line as a dict (or the raw bytes when it is not JSON); "END" after the final chunk.
        Raises EOFError on an abrupt close and socket.timeout when nothing comes."""
        while not self.lines:
            size = int(self._until(b"\r\n"), 16)
            if size == 0:
                self._until(b"\r\n")
                return "END"
            chunk = self._take(size)
            self._take(2)
            self.lines += [ln for ln in chunk.split(b"\n") if ln]
        line = self.lines.pop(0)
        try:
            return json.loads(line)
        except ValueError:
            return line

    def next_non_bookmark(self):
        while True:
            ev = self.next()
            if not (isinstance(ev, dict) and ev.get("type") == "BOOKMARK"):
                return ev

    def close(self):
        self.sock.close()


class FakeAPITestCase(TempDirTest):
    TLS = False

    def setUp(self):
        super().setUp()
        self.servers, self.watches = [], []
        self.api = self.server(tls=self.TLS)
        self.api.add_node(NODE)
        self.api.add_node("node-b")

    def server(self, **kw):
        if kw.get("tls", True) and not OPENSSL:
            self.skipTest("the openssl command-line tool is not installed")
        kw.setdefault("max_seconds", 120)  # a forgotten server still goes away
        kw.setdefault("bookmark_interval", 0.2)
        api = fakeapi.FakeAPIServer(os.path.join(self.tmp, f"api{len(self.servers)}"), **kw)
        self.servers.append(api)
        return api.start()

    def watch(self, path, **kw):
        w = WatchReader(self.api, path, **kw)
        self.watches.append(w)
        return w

    def tearDown(self):
        for w in self.watches:
            w.close()
        for api in self.servers:
            api.stop()
        super().tearDown()


@unittest.skipUnless(KUBECTL, "kubectl is not installed")
class KubectlTest(FakeAPITestCase):
    TLS = True

    def kubectl(self, *args, ok=True, context=None):
        cmd = [KUBECTL, "--kubeconfig", self.api.kubeconfig, "--cache-dir", os.path.join(self.tmp, "kcache"),
               "--request-timeout", "10s"] + (["--context", context] if context else []) + list(args)
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
        if ok:
            self.assertEqual(p.returncode, 0, f"{' '.join(args)}: {p.stderr}")
        return p

    def setUp(self):
        super().setUp()
        self.api.add_pod("web-1", "shop", node=NODE, labels={"app": "web"})
        self.api.add_pod("web-2", "shop", node="node-b")
        self.api.add_pod("dns", "kube-system", node=NODE)

    def test_get_pods_all_namespaces_per_namespace_and_json(self):
        out = self.kubectl("get", "pods", "-A").stdout.splitlines()
        self.assertEqual(out[0].split(), ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"])
        rows = {tuple(line.split()[:4]) for line in out[1:]}
        self.assertEqual(rows, {("kube-system", "dns", "1/1", "Running"), ("shop", "web-1", "1/1", "Running"),
                                ("shop", "web-2", "1/1", "Running")})
        out = self.kubectl("get", "pods", "-n", "shop", "-o", "wide").stdout
        self.assertRegex(out, r"web-1\s+1/1\s+Running\s+0\s+\S+\s+10\.244\.0\.5\s+node-a")
        self.assertNotIn("dns", out)
        j = json.loads(self.kubectl("get", "pods", "-n", "shop", "-o", "json").stdout)
        self.assertEqual(sorted(p["metadata"]["name"] for p in j["items"]), ["web-1", "web-2"])
        self.assertEqual(j["items"][0]["kind"], "Pod")
        self.assertEqual(j["items"][0]["spec"]["nodeName"], NODE)
        # kubectl asked for a Table for the human output and plain JSON for -o json
        accepts = [r["accept"] for r in self.api.recorded("GET", "/api/v1/namespaces/shop/pods")]
        self.assertIn("as=Table", accepts[0])
        self.assertNotIn("as=Table", accepts[-1])

    def test_without_tables_kubectl_falls_back_to_names(self):
        self.api.tables = False
        out = self.kubectl("get", "pods", "-A").stdout.splitlines()
        self.assertEqual(out[0].split(), ["NAMESPACE", "NAME", "AGE"])
        self.assertEqual(len(out), 4)

    def test_get_node_yaml_shows_labels_and_conditions(self):
        out = self.kubectl("get", "node", NODE, "-o", "yaml").stdout
        self.assertIn("kubernetes.io/hostname: node-a", out)
        for t in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready"):
            self.assertIn(f"type: {t}", out)
        out = self.kubectl("get", "nodes").stdout
        self.assertRegex(out, r"node-a\s+Ready\s+<none>\s+\S+\s+v1\.32\.0")

    def test_get_events_shows_posted_event(self):
        ev = {"apiVersion": "v1", "kind": "Event", "metadata": {"generateName": "web-1.", "namespace": "shop"},
              "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "shop"}, "reason": "GuardletEvicted",
              "message": "evicted: working set 900Mi", "type": "Warning", "source": {"component": "guardlet"},
              "count": 1}
        code, _ = call(self.api, "POST", "/api/v1/namespaces/shop/events", ev)
        self.assertEqual(code, 201)
        out = self.kubectl("get", "events", "-A").stdout
        self.assertRegex(out, r"shop\s+\S+\s+Warning\s+GuardletEvicted\s+pod/web-1\s+evicted: working set 900Mi")

    def test_label_node_is_a_merge_patch(self):
        self.kubectl("label", "node", NODE, "guardlet.io/pool=highmem")
        patch = self.api.recorded("PATCH", f"/api/v1/nodes/{NODE}")[-1]
        self.assertEqual(patch["content_type"], "application/merge-patch+json")
        self.assertEqual(self.api.get("nodes", None, NODE)["metadata"]["labels"]["guardlet.io/pool"], "highmem")
        self.kubectl("label", "node", NODE, "guardlet.io/pool-")
        self.assertNotIn("guardlet.io/pool", self.api.get("nodes", None, NODE)["metadata"]["labels"])
        self.assertIn("kubernetes.io/hostname", self.api.get("nodes", None, NODE)["metadata"]["labels"])

    def test_patch_node_status_strategic_keeps_other_conditions(self):
        cond = {"type": "GuardletMemoryPressure", "status": "True", "reason": "LowMemory", "message": "3% left"}
        self.kubectl("patch", "node", NODE, "--subresource=status", "--type=strategic",
                     "-p", json.dumps({"status": {"conditions": [cond]}}))
        types = [c["type"] for c in self.api.get("nodes", None, NODE)["status"]["conditions"]]
        self.assertEqual(types, ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready", "GuardletMemoryPressure"])
        out = self.kubectl("get", "node", NODE, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}")
        self.assertEqual(out.stdout, "True")

    def test_client_certificate_context(self):
        out = self.kubectl("get", "nodes", "-o", "name", context="fake-cert").stdout.split()
        self.assertEqual(out, ["node/node-a", "node/node-b"])
        self.assertEqual(self.api.recorded("GET", "/api/v1/nodes")[-1]["user"], "fakeapi-client")

    def test_wrong_token_is_refused(self):
        self.api.rotate_token("new-token")
        with open(self.api.kubeconfig) as f:
            self.assertIn("new-token", f.read())
        self.kubectl("get", "nodes")  # the kubeconfig follows the rotation
        stale = self.api.kubeconfig_text().replace("new-token", "stale")
        with open(self.api.kubeconfig, "w") as f:
            f.write(stale)
        p = self.kubectl("get", "nodes", ok=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("Unauthorized", p.stderr)


class RawHTTPTest(FakeAPITestCase):
    def setUp(self):
        super().setUp()
        self.web = self.api.add_pod("web-1", "shop", node=NODE, labels={"app": "web"})
        self.api.add_pod("db-1", "shop", node="node-b", labels={"app": "db"})
        self.api.add_pod("dns", "kube-system", node=NODE)

    def test_discovery(self):
        self.assertEqual(call(self.api, "GET", "/version")[1]["minor"], "32")
        res = {r["name"]: r for r in call(self.api, "GET", "/api/v1")[1]["resources"]}
        self.assertEqual(res["pods/eviction"]["group"], "policy")
        self.assertIn("watch", res["pods"]["verbs"])
        self.assertEqual(call(self.api, "GET", "/openapi/v3")[0], 404)

    def test_list_with_field_selector_filters_by_node(self):
        code, j = call(self.api, "GET", pods_path())
        self.assertEqual(code, 200)
        self.assertEqual(j["kind"], "PodList")
        self.assertEqual(sorted(p["metadata"]["name"] for p in j["items"]), ["dns", "web-1"])
        self.assertNotIn("kind", j["items"][0], "list items carry no kind, as in the real API")
        self.assertEqual(int(j["metadata"]["resourceVersion"]), self.api.store.current_rv())
        _, j = call(self.api, "GET", "/api/v1/namespaces/shop/pods?labelSelector=app%20in%20(db,x)")
        self.assertEqual([p["metadata"]["name"] for p in j["items"]], ["db-1"])
        code, j = call(self.api, "GET", "/api/v1/pods?fieldSelector=spec.bogus%3Dx")
        self.assertEqual((code, j["message"]), (400, "field label not supported: spec.bogus"))
        code, j = call(self.api, "GET", "/api/v1/namespaces/shop/pods/web-1")
        self.assertEqual((code, j["metadata"]["uid"]), (200, self.web["metadata"]["uid"]))
        code, j = call(self.api, "GET", "/api/v1/namespaces/shop/pods/nope")
        self.assertEqual((code, j["reason"], j["message"]), (404, "NotFound", 'pods "nope" not found'))

    def test_watch_added_modified_deleted_and_bookmark(self):
        _, j = call(self.api, "GET", pods_path())
        rv = j["metadata"]["resourceVersion"]
        w = self.watch(pods_path(watch=1, resourceVersion=rv, allowWatchBookmarks="true", timeoutSeconds=30))
        self.assertEqual(w.status, 200)
        self.assertIn("transfer-encoding: chunked", w.headers)
        self.api.add_pod("web-2", "shop", node=NODE)
        self.api.add_pod("elsewhere", "shop", node="node-b")  # filtered out
        web2 = self.api.get("pods", "shop", "web-2")
        web2["metadata"]["labels"] = {"v": "2"}
        self.api.put(web2)
        self.api.delete("pods", "shop", "web-2")
        seen = [w.next_non_bookmark() for _ in range(3)]
        self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in seen],
                         [("ADDED", "web-2"), ("MODIFIED", "web-2"), ("DELETED", "web-2")])
        self.assertEqual(seen[1]["object"]["metadata"]["labels"], {"v": "2"})
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in seen]
        self.assertEqual(rvs, sorted(rvs))
        self.api.send_bookmarks()
        ev = w.next()
        self.assertEqual(ev["type"], "BOOKMARK")
        self.assertEqual(ev["object"]["kind"], "Pod")
        self.assertEqual(int(ev["object"]["metadata"]["resourceVersion"]), self.api.store.current_rv())
        # a client hanging up ends the server's side of the watch too
        w.close()
        deadline = time.monotonic() + 3
        while self.api._watches and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(len(self.api._watches), 0)

    def test_watch_from_zero_lists_first_and_moves_out_of_the_selector(self):
        w = self.watch(pods_path(watch="true", timeoutSeconds=30))
        first = {w.next()["object"]["metadata"]["name"] for _ in range(2)}
        self.assertEqual(first, {"dns", "web-1"})
        web = self.api.get("pods", "shop", "web-1")
        web["spec"]["nodeName"] = "node-b"
        self.api.put(web)
        ev = w.next()
        self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("DELETED", "web-1"))

    def test_watch_timeout_ends_with_the_final_chunk(self):
        w = self.watch(pods_path(watch=1, resourceVersion=self.api.store.current_rv(), timeoutSeconds=1))
        t0 = time.monotonic()
        self.assertEqual(w.next(), "END")
        self.assertLess(time.monotonic() - t0, 3)

    def test_watch_with_expired_resource_version_gets_410_error_event(self):
        rv = self.api.store.current_rv()
        self.api.add_pod("new", "shop")
        self.api.compact()
        w = self.watch(pods_path(watch=1, resourceVersion=rv))
        self.assertEqual(w.status, 200)
        ev = w.next()
        self.assertEqual(ev["type"], "ERROR")
        self.assertEqual((ev["object"]["kind"], ev["object"]["code"], ev["object"]["reason"]),
                         ("Status", 410, "Expired"))
        self.assertEqual(w.next(), "END")
        # the current resourceVersion is still fine
        w2 = self.watch(pods_path(watch=1, resourceVersion=self.api.store.current_rv(), timeoutSeconds=1))
        self.assertEqual(w2.next(), "END")

    def eviction(self, name, uid=None, ns="shop"):
        body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": ns},
                "deleteOptions": {"gracePeriodSeconds": 30}}
        if uid:
            body["deleteOptions"]["preconditions"] = {"uid": uid}
        return call(self.api, "POST", f"/api/v1/namespaces/{ns}/pods/{name}/eviction", body)

    def test_eviction_succeeds_deletes_and_is_recorded(self):
        rv = self.api.store.current_rv()
        w = self.watch(pods_path(watch=1, resourceVersion=rv, timeoutSeconds=30))
        uid = self.web["metadata"]["uid"]
        code, j = self.eviction("web-1", uid)
        self.assertEqual((code, j["kind"], j["status"]), (201, "Status", "Success"))
        self.assertIsNone(self.api.get("pods", "shop", "web-1"))
        ev = w.next()
        self.assertEqual((ev["type"], ev["object"]["metadata"]["uid"]), ("DELETED", uid))
        rec = self.api.evictions[-1]
        self.assertEqual((rec["namespace"], rec["name"], rec["code"]), ("shop", "web-1", 201))
        self.assertEqual(rec["body"]["deleteOptions"]["preconditions"]["uid"], uid)
        self.assertEqual(self.eviction("web-1", uid)[0], 404)

    def test_graceful_eviction_marks_then_deletes(self):
        self.api.eviction_delete_delay = 0.3
        w = self.watch(pods_path(watch=1, resourceVersion=self.api.store.current_rv(), timeoutSeconds=30))
        self.assertEqual(self.eviction("web-1", self.web["metadata"]["uid"])[0], 201)
        ev = w.next()
        self.assertEqual(ev["type"], "MODIFIED")
        self.assertEqual(ev["object"]["metadata"]["deletionGracePeriodSeconds"], 30)
        self.assertIn("deletionTimestamp", ev["object"]["metadata"])
        self.assertEqual(w.next()["type"], "DELETED")

    def test_eviction_blocked_by_disruption_budget(self):
        self.api.add_budget("web-pdb", "shop", {"app": "web"}, disruptions_allowed=0)
        code, j = self.eviction("web-1", self.web["metadata"]["uid"])
        self.assertEqual((code, j["reason"]), (429, "TooManyRequests"))
        self.assertEqual(j["message"], "Cannot evict pod as it would violate the pod's disruption budget.")
        self.assertEqual(j["details"]["causes"][0]["reason"], "DisruptionBudget")
        self.assertIsNotNone(self.api.get("pods", "shop", "web-1"))
        self.assertEqual(self.api.evictions[-1]["code"], 429)
        self.assertEqual(self.eviction("db-1")[0], 201, "the budget covers only app=web")
        self.api.budgets[0]["disruptionsAllowed"] = 1
        self.assertEqual(self.eviction("web-1")[0], 201)

    def test_eviction_of_unknown_pod_and_wrong_uid_and_bad_body(self):
        code, j = self.eviction("ghost")
        self.assertEqual((code, j["reason"], j["message"]), (404, "NotFound", 'pods "ghost" not found'))
        code, j = self.eviction("web-1", "00000000-0000-0000-0000-000000000000")
        self.assertEqual((code, j["reason"]), (409, "Conflict"))
        self.assertIn("Precondition failed: UID in precondition", j["message"])
        self.assertIsNotNone(self.api.get("pods", "shop", "web-1"))
        code, j = call(self.api, "POST", "/api/v1/namespaces/shop/pods/web-1/eviction",
                       {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "other"}})
        self.assertEqual((code, j["message"]), (400, "name in URL does not match name in Eviction object"))

    def test_strategic_merge_of_conditions_by_type(self):
        path = f"/api/v1/nodes/{NODE}/status"
        ctype = "application/strategic-merge-patch+json"
        mine = {"type": "GuardletMemoryPressure", "status": "True", "reason": "LowMemory", "message": "3%"}
        code, node = call(self.api, "PATCH", path, {"status": {"conditions": [mine]}}, ctype)
        self.assertEqual(code, 200)
        conds = {c["type"]: c for c in node["status"]["conditions"]}
        self.assertEqual(conds["Ready"]["status"], "True", "kubelet's Ready stays")
        self.assertEqual(conds["GuardletMemoryPressure"]["reason"], "LowMemory")
        ready_before = conds["Ready"]
        code, node = call(self.api, "PATCH", path, {"status": {"conditions": [
            {"type": "GuardletMemoryPressure", "status": "False", "reason": "EnoughMemory"}]}}, ctype)
        conds = {c["type"]: c for c in node["status"]["conditions"]}
        self.assertEqual(len(node["status"]["conditions"]), 5)
        self.assertEqual((conds["GuardletMemoryPressure"]["status"], conds["GuardletMemoryPressure"]["reason"]),
                         ("False", "EnoughMemory"))
        self.assertEqual(conds["GuardletMemoryPressure"]["message"], "3%", "unmentioned fields merge")
        self.assertEqual(conds["Ready"], ready_before)
        # a merge patch replaces the whole list: what guardlet must not send
        code, node = call(self.api, "PATCH", path, {"status": {"conditions": [mine]}}, "application/merge-patch+json")
        self.assertEqual([c["type"] for c in node["status"]["conditions"]], ["GuardletMemoryPressure"])

    def test_status_and_main_resource_ignore_each_others_fields(self):
        ctype = "application/merge-patch+json"
        _, node = call(self.api, "PATCH", f"/api/v1/nodes/{NODE}/status",
                       {"metadata": {"labels": {"x": "y"}}, "status": {"phase": "Odd"}}, ctype)
        self.assertNotIn("x", node["metadata"]["labels"])
        self.assertEqual(node["status"]["phase"], "Odd")
        _, node = call(self.api, "PATCH", f"/api/v1/nodes/{NODE}", {"metadata": {"labels": {"x": "y"}},
                                                                     "status": {"conditions": []}}, ctype)
        self.assertEqual(node["metadata"]["labels"]["x"], "y")
        self.assertEqual(len(node["status"]["conditions"]), 4, "conditions patched on /nodes/N are ignored")

    def test_merge_patch_null_deletes_a_label(self):
        path, ctype = f"/api/v1/nodes/{NODE}", "application/merge-patch+json"
        code, node = call(self.api, "PATCH", path, {"metadata": {"labels": {"guardlet.io/pool": "highmem"}}}, ctype)
        self.assertEqual((code, node["metadata"]["labels"]["guardlet.io/pool"]), (200, "highmem"))
        rv1 = node["metadata"]["resourceVersion"]
        _, node = call(self.api, "PATCH", path, {"metadata": {"labels": {"guardlet.io/pool": None}}}, ctype)
        self.assertNotIn("guardlet.io/pool", node["metadata"]["labels"])
        self.assertIn("kubernetes.io/hostname", node["metadata"]["labels"])
        self.assertGreater(int(node["metadata"]["resourceVersion"]), int(rv1))
        _, again = call(self.api, "PATCH", path, {"metadata": {"labels": {"guardlet.io/pool": None}}}, ctype)
        self.assertEqual(again["metadata"]["resourceVersion"], node["metadata"]["resourceVersion"], "no-op")
        code, j = call(self.api, "PATCH", path, [{"op": "add", "path": "/metadata/labels/a", "value": "b"}],
                       "application/json-patch+json")
        self.assertEqual((code, j["reason"]), (415, "UnsupportedMediaType"))
        code, j = call(self.api, "PATCH", path, {"metadata": {"resourceVersion": "1"}}, ctype)
        self.assertEqual(code, 409)
        self.assertEqual(len(self.api.recorded("PATCH", path)), 5)

    def test_event_post_then_patch_count(self):
        ev = {"apiVersion": "v1", "kind": "Event", "metadata": {"generateName": "node-a.", "namespace": "default"},
              "involvedObject": {"kind": "Node", "name": NODE, "uid": NODE}, "reason": "GuardletThrottled",
              "message": "throttled", "type": "Normal", "source": {"component": "guardlet", "host": NODE},
              "count": 1, "firstTimestamp": "2025-01-01T00:00:00Z", "lastTimestamp": "2025-01-01T00:00:00Z"}
        code, made = call(self.api, "POST", "/api/v1/namespaces/default/events", ev)
        self.assertEqual(code, 201)
        name = made["metadata"]["name"]
        self.assertRegex(name, r"^node-a\.[a-z0-9]{5}$")
        code, patched = call(self.api, "PATCH", f"/api/v1/namespaces/default/events/{name}",
                             {"count": 2, "lastTimestamp": "2025-01-01T00:05:00Z"},
                             "application/strategic-merge-patch+json")
        self.assertEqual((code, patched["count"], patched["lastTimestamp"]), (200, 2, "2025-01-01T00:05:00Z"))
        self.assertEqual(patched["firstTimestamp"], "2025-01-01T00:00:00Z")
        _, lst = call(self.api, "GET", "/api/v1/events")
        self.assertEqual([e["metadata"]["name"] for e in lst["items"]], [name])
        _, lst = call(self.api, "GET", "/api/v1/namespaces/shop/events")
        self.assertEqual(lst["items"], [])
        # a pod's event must live in the pod's namespace (real validation), a node's in default
        pod_ev = dict(ev, involvedObject={"kind": "Pod", "name": "web-1", "namespace": "shop"})
        self.assertEqual(call(self.api, "POST", "/api/v1/namespaces/default/events", pod_ev)[0], 422)
        nope_ev = dict(pod_ev, metadata={"name": "x.1", "namespace": "nope"},
                       involvedObject={"kind": "Pod", "name": "x", "namespace": "nope"})
        code, j = call(self.api, "POST", "/api/v1/namespaces/nope/events", nope_ev)
        self.assertEqual((code, j["message"]), (404, 'namespaces "nope" not found'))

    def test_auth_and_unknown_paths(self):
        self.assertEqual(call(self.api, "GET", "/api/v1/nodes", token=None)[0], 200, "plain HTTP allows anonymous")
        code, j = call(self.api, "GET", "/api/v1/nodes", token="wrong")
        self.assertEqual((code, j["reason"]), (401, "Unauthorized"))
        self.assertEqual(call(self.api, "GET", "/apis/apps/v1/deployments")[0], 404)
        self.assertEqual(call(self.api, "GET", "/api/v1/nodes/node-a/eviction")[0], 404)
        self.assertEqual(self.api.recorded("GET", "/api/v1/nodes")[0]["user"], "system:anonymous")


class StoreTest(unittest.TestCase):
    """The patch and selector logic by itself."""

    def test_strategic_merge_directives(self):
        node = {"status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "X", "status": "True"}]},
                "metadata": {"finalizers": ["a"]}}
        out = strategic_merge_patch(node, {"status": {"conditions": [{"type": "X", "$patch": "delete"}]}})
        self.assertEqual(out["status"]["conditions"], [{"type": "Ready", "status": "True"}])
        out = strategic_merge_patch(node, {"metadata": {"finalizers": ["b", "a"]}})
        self.assertEqual(out["metadata"]["finalizers"], ["a", "b"])
        out = strategic_merge_patch(node, {"status": {"conditions": [{"$patch": "replace"}, {"type": "Y"}]}})
        self.assertEqual(out["status"]["conditions"], [{"type": "Y"}])
        with self.assertRaises(APIError):
            strategic_merge_patch(node, {"status": {"conditions": [{"status": "True"}]}})
        self.assertEqual(node["status"]["conditions"][1]["type"], "X", "the original is untouched")

    def test_label_selectors(self):
        self.assertEqual(parse_label_selector("a=b,c!=d,e in (f,g),!h,i"),
                         [("a", "in", {"b"}), ("c", "notin", {"d"}), ("e", "in", {"f", "g"}),
                          ("h", "!exists", None), ("i", "exists", None)])


class TLSTest(FakeAPITestCase):
    TLS = True

    def test_bearer_token_over_https_with_the_ca(self):
        code, j = call(self.api, "GET", "/api/v1/nodes")
        self.assertEqual((code, len(j["items"])), (200, 2))
        self.assertEqual(self.api.recorded("GET", "/api/v1/nodes")[-1]["user"], "token-user-0")
        self.assertEqual(call(self.api, "GET", "/api/v1/nodes", token=None)[0], 401, "no anonymous over TLS")
        with open(os.path.join(self.api.state_dir, "token")) as f:
            self.assertEqual(f.read().strip(), self.api.token)

    def test_a_wrong_ca_fails_verification(self):
        other = os.path.join(self.tmp, "other-ca")
        ca, _ = faketls.make_ca(other)
        with self.assertRaises(ssl.SSLCertVerificationError):
            call(self.api, "GET", "/version", ctx=client_context(self.api, cafile=ca))
        with self.assertRaises(ssl.SSLCertVerificationError):  # the system store does not know it either
            call(self.api, "GET", "/version", ctx=ssl.create_default_context())

    def test_client_certificate_authenticates_as_its_cn(self):
        code, _ = call(self.api, "GET", "/api/v1/nodes", token=None, ctx=client_context(self.api, cert="client"))
        self.assertEqual(code, 200)
        self.assertEqual(self.api.recorded("GET", "/api/v1/nodes")[-1]["user"], "fakeapi-client")
        # a client cert from another CA is refused during the handshake
        other = os.path.join(self.tmp, "other-ca")
        ca, key = faketls.make_ca(other)
        faketls.make_cert(other, "intruder", ca, key, "intruder")
        ctx = client_context(self.api)
        ctx.load_cert_chain(os.path.join(other, "intruder.crt"), os.path.join(other, "intruder.key"))
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            call(self.api, "GET", "/api/v1/nodes", token=None, ctx=ctx)

    def test_required_client_certificates(self):
        api = self.server(client_certs="required")
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            call(api, "GET", "/version")
        self.assertEqual(call(api, "GET", "/version", ctx=client_context(api, cert="client"))[0], 200)

    def test_watch_over_tls(self):
        w = self.watch("/api/v1/nodes?watch=1&resourceVersion=0&timeoutSeconds=30")
        self.assertEqual({w.next()["object"]["metadata"]["name"] for _ in range(2)}, {NODE, "node-b"})
        self.api.add_node("node-c")
        self.assertEqual(w.next()["object"]["metadata"]["name"], "node-c")
        w.close()
        deadline = time.monotonic() + 3
        while self.api._watches and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(len(self.api._watches), 0, "the server noticed the TLS client hang up")

    def test_token_rotation_gives_401_for_the_old_token(self):
        old = self.api.token
        new = self.api.rotate_token()
        code, j = call(self.api, "GET", "/api/v1/nodes", token=old)
        self.assertEqual((code, j["reason"]), (401, "Unauthorized"))
        self.assertEqual(call(self.api, "GET", "/api/v1/nodes", token=new)[0], 200)
        with open(os.path.join(self.api.state_dir, "token")) as f:
            self.assertEqual(f.read().strip(), new)
        code, j = admin(self.api, "POST", "rotate-token", {"token": "third"})
        self.assertEqual((code, j["token"]), (200, "third"))
        self.assertEqual(call(self.api, "GET", "/api/v1/nodes", token=new)[0], 401)


class FaultTest(FakeAPITestCase):
    def setUp(self):
        super().setUp()
        self.api.add_pod("web-1", "shop", node=NODE)

    def test_delay_on_some_paths(self):
        self.api.set_delay(0.5, path="/api/v1/pods")
        t0 = time.monotonic()
        self.assertEqual(call(self.api, "GET", "/api/v1/nodes")[0], 200)
        self.assertLess(time.monotonic() - t0, 0.4)
        t0 = time.monotonic()
        self.assertEqual(call(self.api, "GET", pods_path())[0], 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.5)
        self.api.clear_faults()
        t0 = time.monotonic()
        call(self.api, "GET", pods_path())
        self.assertLess(time.monotonic() - t0, 0.4)

    def test_500_for_n_requests(self):
        self.api.fail_next(2, path="/api/v1/pods")
        self.assertEqual(call(self.api, "GET", "/api/v1/nodes")[0], 200)
        codes = [call(self.api, "GET", pods_path()) for _ in range(3)]
        self.assertEqual([c for c, _ in codes], [500, 500, 200])
        self.assertEqual(codes[0][1]["reason"], "InternalError")
        self.api.fail_next(1, code=503, method="POST")
        self.assertEqual(call(self.api, "GET", pods_path())[0], 200)
        self.assertEqual(call(self.api, "POST", "/api/v1/namespaces/shop/events", {})[0], 503)

    def test_malformed_list_and_watch_event(self):
        self.api.malformed_next_list()
        code, body = call(self.api, "GET", pods_path(), raw=True)
        self.assertEqual(code, 200)
        with self.assertRaises(ValueError):
            json.loads(body)
        self.assertEqual(call(self.api, "GET", pods_path())[0], 200)
        w = self.watch(pods_path(watch=1, resourceVersion=self.api.store.current_rv(), timeoutSeconds=30))
        self.api.malformed_next_watch_event()
        self.api.add_pod("a", "shop")
        self.api.add_pod("b", "shop")
        self.assertIsInstance(w.next(), bytes, "the first event arrives as garbage")
        self.assertEqual(w.next()["object"]["metadata"]["name"], "b")

    def test_watch_cut_midway_and_forced_410(self):
        self.api.cut_next_watch(after_events=1)
        w = self.watch(pods_path(watch=1, resourceVersion=self.api.store.current_rv(), timeoutSeconds=30))
        self.api.add_pod("a", "shop")
        self.api.add_pod("b", "shop")
        self.assertEqual(w.next()["object"]["metadata"]["name"], "a")
        with self.assertRaises(EOFError):
            w.next()
        w2 = self.watch(pods_path(watch=1, resourceVersion=self.api.store.current_rv(), timeoutSeconds=30))
        self.api.cut_watches()
        with self.assertRaises(EOFError):
            w2.next()
        self.api.expire_next_watch()
        w3 = self.watch(pods_path(watch=1, resourceVersion=self.api.store.current_rv()))
        self.assertEqual(w3.next()["object"]["code"], 410)

    def test_down_and_back_up_on_the_same_port(self):
        port = self.api.port
        w = self.watch(pods_path(watch=1, resourceVersion=self.api.store.current_rv(), timeoutSeconds=30))
        self.api.go_down()
        self.assertFalse(self.api.is_up)
        with self.assertRaises(EOFError):
            w.next()
        with self.assertRaises(ConnectionRefusedError):
            call(self.api, "GET", "/version", timeout=2)
        self.api.come_up()
        self.assertEqual(self.api.port, port)
        self.assertEqual(call(self.api, "GET", "/version")[0], 200)
        self.api.go_down(seconds=0.5)
        with self.assertRaises(ConnectionRefusedError):
            call(self.api, "GET", "/version", timeout=2)
        deadline = time.monotonic() + 5
        while not self.api.is_up and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(call(self.api, "GET", "/version")[0], 200)

    def test_admin_endpoint(self):
        self.assertEqual(admin(self.api, "GET", "faults", token=self.api.token)[0], 401)
        self.assertEqual(admin(self.api, "POST", "faults", {"fail": {"count": 1, "code": 500}})[0], 200)
        self.assertEqual(call(self.api, "GET", "/api/v1/nodes")[0], 500)
        self.assertEqual(call(self.api, "GET", "/api/v1/nodes")[0], 200)
        code, objs = admin(self.api, "POST", "objects", {"kind": "List", "items": [
            fakeapi.make_pod("seeded", "newns", node=NODE)]})
        self.assertEqual((code, objs[0]["metadata"]["namespace"]), (200, "newns"))
        self.assertIsNotNone(self.api.get("namespaces", None, "newns"))
        self.assertEqual(admin(self.api, "POST", "budgets", {"name": "b", "namespace": "newns",
                                                             "matchLabels": {"app": "x"}})[0], 200)
        self.assertEqual(admin(self.api, "POST", "faults", {"forbid": ["create", "pods/eviction"]})[0], 200)
        code, j = call(self.api, "POST", "/api/v1/namespaces/newns/pods/seeded/eviction",
                       {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "seeded"}})
        self.assertEqual((code, j["reason"]), (403, "Forbidden"))
        _, evs = admin(self.api, "GET", "evictions")
        self.assertEqual(evs, [], "a forbidden eviction never reaches the eviction logic")
        self.assertEqual(admin(self.api, "DELETE", "objects/pods/newns/seeded")[0], 200)
        self.assertIsNone(self.api.get("pods", "newns", "seeded"))
        _, reqs = admin(self.api, "GET", "requests")
        self.assertEqual([r["status"] for r in reqs if r["path"] == "/api/v1/nodes"], [500, 200])
        code, j = admin(self.api, "POST", "down", {"seconds": 0.5})
        self.assertEqual((code, j["port"]), (200, self.api.port))
        deadline = time.monotonic() + 2
        while self.api.is_up and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertFalse(self.api.is_up)
        deadline = time.monotonic() + 5
        while not self.api.is_up and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(call(self.api, "GET", "/version")[0], 200)


class CommandLineTest(TempDirTest):
    def start(self, *args):
        self.state = os.path.join(self.tmp, "state")
        self.port_file = os.path.join(self.tmp, "port")
        p = subprocess.Popen([sys.executable, FAKEAPI, "--state-dir", self.state, "--port-file", self.port_file,
                              *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        deadline = time.monotonic() + 15
        while not os.path.exists(self.port_file):
            if p.poll() is not None or time.monotonic() > deadline:
                self.fail(f"no port file (exit {p.poll()}): {p.stderr.read() if p.poll() is not None else ''}")
            time.sleep(0.05)
        with open(self.port_file) as f:
            return p, int(f.read())

    def setUp(self):
        super().setUp()
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            p.stdout.close()
            p.stderr.close()
        super().tearDown()

    def test_plain_cli_serves_seeds_and_stops_on_sigterm(self):
        seed = os.path.join(self.tmp, "seed.json")
        with open(seed, "w") as f:
            json.dump([fakeapi.make_pod("p1", "shop", node="n1"), fakeapi.make_pod("p2", "shop", node="n2")], f)
        p, port = self.start("--plain", "--node", "n1", "--seed", seed, "--token", "tok")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dn1", headers={"Authorization": "Bearer tok"})
        j = json.loads(conn.getresponse().read())
        conn.close()
        self.assertEqual([i["metadata"]["name"] for i in j["items"]], ["p1"])
        with open(os.path.join(self.state, "kubeconfig")) as f:
            self.assertIn(f"http://127.0.0.1:{port}", f.read())
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(10), 0)

    def test_tls_cli_stops_by_itself(self):
        if not OPENSSL:
            self.skipTest("the openssl command-line tool is not installed")
        p, port = self.start("--max-seconds", "1.5")
        for name in ("ca.crt", "server.crt", "client.crt", "client.key", "kubeconfig", "token", "admin-token"):
            self.assertTrue(os.path.exists(os.path.join(self.state, name)), name)
        with open(os.path.join(self.state, "token")) as f:
            token = f.read().strip()
        ctx = ssl.create_default_context(cafile=os.path.join(self.state, "ca.crt"))
        conn = http.client.HTTPSConnection("localhost", port, timeout=5, context=ctx)  # SAN has localhost too
        conn.request("GET", "/api/v1/nodes", headers={"Authorization": "Bearer " + token})
        self.assertEqual(conn.getresponse().status, 200)
        conn.close()
        self.assertEqual(p.wait(10), 0)
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()


if __name__ == "__main__":
    unittest.main()
