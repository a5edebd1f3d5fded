#!/usr/bin/env python3
"""fakeapi.py: a fake Kubernetes API server for guardlet's tests (Python standard library only).

Serves discovery, pods (list/watch/evict), nodes (merge and strategic-merge patch, /status), events and
namespaces over HTTPS (test CA made with openssl) or plain HTTP, on 127.0.0.1 and a port of its own choosing.
Faults can be switched on from Python or through /_fake/* with the admin token. See README.md.

    api = FakeAPIServer(state_dir)          # or: fakeapi.py --state-dir DIR --port-file FILE
    api.start(); api.add_node("node-a"); api.add_pod("web-1", node="node-a")
    ... kubectl --kubeconfig api.kubeconfig get pods -A ...
    api.stop()
"""
import argparse
import base64
import json
import os
import secrets
import signal
import socket
import ssl
import sys
import threading
import time

# Sibling modules have distinct names (fake*) so they cannot clash with other tests' modules.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakeadmin  # noqa: E402
import fakerbac  # noqa: E402
import faketls  # noqa: E402
from fakehttp import HTTPServer  # noqa: E402
from fakestore import APIError, Store, make_node, make_pod  # noqa: E402,F401 (make_* re-exported for tests)

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class Faults:
    """Fault knobs; read and changed under FakeAPIServer.lock. Counters are consumed as requests hit them."""

    def __init__(self):
        self.clear()

    def clear(self):
        self.delays = []            # [seconds, path prefix or None, method or None]
        self.failures = []          # [remaining count, HTTP code, path prefix or None, method or None]
        self.malformed_lists = 0    # next N list answers are cut-off JSON
        self.malformed_watch = 0    # next N watch event lines are garbage
        self.cut_next_watch = None  # the next watch opened is cut after this many events
        self.expire_watches = 0     # next N watches get ERROR 410 whatever their resourceVersion
        self.forbidden = set()      # (verb, resource) pairs answered 403

    def describe(self):
        return {"delays": self.delays, "failures": self.failures, "malformed_lists": self.malformed_lists,
                "malformed_watch": self.malformed_watch, "cut_next_watch": self.cut_next_watch,
                "expire_watches": self.expire_watches, "forbidden": sorted(map(list, self.forbidden))}


def _prefix_match(prefix, method, path, want_method):
    return (prefix is None or path.startswith(prefix)) and (want_method is None or method == want_method)


class FakeAPIServer:
    def __init__(self, state_dir, tls=True, tokens=None, admin_token=None, client_certs="optional", port=0,
                 bookmark_interval=1.0, max_seconds=None, client_cn="fakeapi-client", tables=True, anonymous=None,
                 verbose=False, rbac=None):
        """tokens: list of accepted bearer tokens (user "token-user-N") or dict token -> user; default one random.
        client_certs: "optional" | "required" | "none" (TLS only; the certificate's CN is the user).
        anonymous: accept requests without credentials as system:anonymous; default only for plain HTTP,
        because kubectl sends no token over http://. A wrong token is a 401 either way, as in the real one.
        rbac: None (default: every authenticated request is allowed), or a ClusterRole (parsed YAML/JSON, a
        list holding one, or a list of rules): resource requests no rule allows get 403 Forbidden, and
        api.rbac records every (group, resource, verb) seen (see fakerbac.py)."""
        self.state_dir = os.path.abspath(state_dir)
        os.makedirs(self.state_dir, exist_ok=True)
        self.tls, self.client_certs, self.client_cn = tls, client_certs, client_cn
        tokens = tokens if tokens is not None else ["fakeapi-" + secrets.token_hex(12)]
        self.tokens = dict(tokens) if isinstance(tokens, dict) else {
            t: f"token-user-{i}" for i, t in enumerate(tokens)}
        self.admin_token = admin_token or "admin-" + secrets.token_hex(12)
        self.port, self.bookmark_interval, self.max_seconds = port, bookmark_interval, max_seconds
        self.tables, self.verbose = tables, verbose
        self.anonymous = (not tls) if anonymous is None else anonymous
        self.eviction_delete_delay = 0.0  # >0: evicted pods get deletionTimestamp, then vanish after this
        # A set of CNs: a client certificate with another CN is a 401, like a revoked or expired
        # certificate that the CA still signed (tests of certificate rotation). None: any CN.
        self.accepted_cns = None
        self.lock = threading.RLock()
        self.store = Store()
        for ns in DEFAULT_NAMESPACES:
            self.store.create("namespaces", {"metadata": {"name": ns}})
        self.faults = Faults()
        self.rbac = fakerbac.RBAC(rbac) if rbac is not None else None
        self.requests, self.evictions, self.budgets = [], [], []
        self.ssl_context = None
        self._httpd = self._thread = self._timer = None
        self._conns, self._watches = set(), set()
        self._stopping = False
        self._bookmark_gen = 0

    # ------------------------------------------------------------ lifecycle
    @property
    def url(self):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def kubeconfig(self):
        return os.path.join(self.state_dir, "kubeconfig")

    @property
    def token(self):
        """The first accepted bearer token (the one written to the kubeconfig and the token file)."""
        with self.lock:
            return next(iter(self.tokens), None)

    @property
    def ca_file(self):
        return os.path.join(self.state_dir, "ca.crt") if self.tls else None

    def cert_path(self, name):
        return os.path.join(self.state_dir, name)

    def start(self):
        if self.tls:
            faketls.make_all(self.state_dir, client_cn=self.client_cn)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.cert_path("server.crt"), self.cert_path("server.key"))
            ctx.set_alpn_protocols(["http/1.1"])
            if self.client_certs != "none":
                ctx.load_verify_locations(self.cert_path("ca.crt"))
                ctx.verify_mode = ssl.CERT_REQUIRED if self.client_certs == "required" else ssl.CERT_OPTIONAL
            self.ssl_context = ctx
        self._stopping = False
        self._listen()
        self._write_files()
        if self.max_seconds:
            self._timer = threading.Timer(self.max_seconds, self.stop)
            self._timer.daemon = True
            self._timer.start()
        return self

    def _listen(self, retry_for=5.0):
        deadline = time.monotonic() + retry_for
        while True:
            try:
                httpd = HTTPServer(self, ("127.0.0.1", self.port))
                break
            except OSError:
                if self.port == 0 or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.port = httpd.server_address[1]
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                  name=f"fakeapi-{self.port}", daemon=True)
        with self.lock:
            self._httpd, self._thread = httpd, thread
        thread.start()

    def stop(self):
        """Stops listening, cuts every connection and watch; safe to call twice."""
        self._stopping = True
        if self._timer and self._timer is not threading.current_thread():
            self._timer.cancel()
        self.go_down()

    def go_down(self, seconds=None):
        """The server goes away: stops listening (connections are refused) and drops open connections.
        With seconds, it listens again on the same port after that long (else call come_up())."""
        with self.lock:
            httpd, thread, self._httpd = self._httpd, self._thread, None
            conns = list(self._conns)
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
            if thread is not threading.current_thread():
                thread.join(5)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.store.wake_all()
        if seconds is not None and not self._stopping:
            t = threading.Timer(seconds, self.come_up)
            t.daemon = True
            t.start()

    def come_up(self):
        """Listens again on the same port after go_down()."""
        with self.lock:
            if self._httpd is not None or self._stopping:
                return
        self._listen()

    @property
    def is_up(self):
        with self.lock:
            return self._httpd is not None

    def _write_files(self):
        def put(name, text, mode=0o600):
            path = os.path.join(self.state_dir, name)
            with open(path + ".tmp", "w") as f:
                f.write(text)
            os.chmod(path + ".tmp", mode)
            os.replace(path + ".tmp", path)

        put("token", (self.token or "") + "\n")
        put("admin-token", self.admin_token + "\n")
        put("kubeconfig", self.kubeconfig_text())

    def kubeconfig_text(self, context="fake"):
        """Contexts: "fake" (bearer token) and, over TLS, "fake-cert" (client certificate)."""
        def b64(name):
            with open(self.cert_path(name), "rb") as f:
                return base64.b64encode(f.read()).decode()

        lines = ["apiVersion: v1", "kind: Config", "clusters:", "- name: fake", "  cluster:",
                 f'    server: "{self.url}"']
        if self.tls:
            lines.append(f'    certificate-authority-data: "{b64("ca.crt")}"')
        lines += ["users:", "- name: token-user", "  user:", f'    token: "{self.token}"']
        contexts = [("fake", "token-user")]
        if self.tls:
            lines += ["- name: cert-user", "  user:", f'    client-certificate-data: "{b64("client.crt")}"',
                      f'    client-key-data: "{b64("client.key")}"']
            contexts.append(("fake-cert", "cert-user"))
        lines.append("contexts:")
        for name, user in contexts:
            lines += [f"- name: {name}", "  context:", "    cluster: fake", f"    user: {user}",
                      "    namespace: default"]
        lines.append(f"current-context: {context}")
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------ seeding and inspection
    def add_node(self, name, **kw):
        """Seeds a Node shaped like a kubelet's (Ready and the three pressure conditions); kw: see make_node."""
        return self.store.put(make_node(name, **kw))

    def add_pod(self, name, namespace="default", **kw):
        """Seeds a running Pod; kw: node, uid, labels, annotations, phase, qos, priority, containers..."""
        return self.store.put(make_pod(name, namespace, **kw))

    def put(self, obj):
        """Creates or replaces any served object (watchers see ADDED or MODIFIED)."""
        return self.store.put(obj)

    def delete(self, resource, namespace, name):
        return self.store.delete(resource, namespace, name)

    def get(self, resource, namespace, name):
        return self.store.find(resource, namespace, name)

    def list(self, resource, namespace=None):
        return self.store.list(resource, namespace)[0]

    def add_budget(self, name, namespace, match_labels, disruptions_allowed=0, desired_healthy=1,
                   current_healthy=1):
        """A PodDisruptionBudget as the eviction subresource sees it: pods in namespace whose labels match
        get 429 while disruptions_allowed is 0; each allowed eviction uses one up."""
        with self.lock:
            self.budgets.append({"name": name, "namespace": namespace, "matchLabels": dict(match_labels),
                                 "disruptionsAllowed": disruptions_allowed, "desiredHealthy": desired_healthy,
                                 "currentHealthy": current_healthy})

    def recorded(self, method=None, path=None):
        """Recorded API requests (not /_fake/ ones): dicts with time, method, path, query, content_type,
        user, token, body (parsed JSON when it parses), status."""
        with self.lock:
            return [r for r in self.requests if (method is None or r["method"] == method)
                    and (path is None or r["path"].startswith(path))]

    def wait_for_request(self, pred, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for r in self.recorded():
                if pred(r):
                    return r
            time.sleep(0.02)
        raise AssertionError(f"no matching request within {timeout}s")

    def clear_recorded(self):
        with self.lock:
            self.requests.clear()
            self.evictions.clear()

    # ------------------------------------------------------------ fault knobs
    def set_delay(self, seconds, path=None, method=None):
        """Every matching request waits this long before being answered (path: a prefix)."""
        with self.lock:
            self.faults.delays.append([seconds, path, method])

    def fail_next(self, count, code=500, path=None, method=None):
        """The next count matching requests get a Status with this code (500 InternalError by default)."""
        with self.lock:
            self.faults.failures.append([count, code, path, method])

    def malformed_next_list(self, count=1):
        with self.lock:
            self.faults.malformed_lists += count

    def malformed_next_watch_event(self, count=1):
        with self.lock:
            self.faults.malformed_watch += count

    def cut_watches(self, after_events=0, wait=5.0):
        """Every open watch stream is dropped (no final chunk) after after_events more events. When none is
        open yet (a client's watch request may still be on its way), waits up to `wait` seconds for one, so
        that a test cutting "the" watch right after a list does not race the client."""
        deadline = time.monotonic() + wait
        while True:
            with self.lock:
                for w in self._watches:
                    w.cut_after = after_events
                if self._watches or time.monotonic() >= deadline:
                    break
            time.sleep(0.02)
        self.store.wake_all()

    def cut_next_watch(self, after_events=0):
        with self.lock:
            self.faults.cut_next_watch = after_events

    def expire_next_watch(self, count=1):
        """The next count watches answer ERROR 410 Expired whatever resourceVersion they ask for."""
        with self.lock:
            self.faults.expire_watches += count

    def compact(self):
        """All resourceVersions so far become too old for a watch (410), like etcd compaction."""
        self.store.compact()

    def send_bookmarks(self):
        """Open watches that allow bookmarks send one now."""
        with self.lock:
            self._bookmark_gen += 1
        self.store.wake_all()

    def forbid(self, verb, resource):
        """Answer 403 for a verb (get list watch create update patch delete) on a resource ("pods/eviction")."""
        with self.lock:
            self.faults.forbidden.add((verb, resource))

    def rotate_token(self, new=None):
        """The first token stops working (401) and new (random if None) replaces it in the token file and
        the kubeconfig. Returns the new token."""
        new = new or "fakeapi-" + secrets.token_hex(12)
        with self.lock:
            old = self.token
            user = self.tokens.pop(old, "token-user-0") if old else "token-user-0"
            self.tokens = {new: user, **self.tokens}
            self._write_files()
        return new

    def clear_faults(self):
        with self.lock:
            self.faults.clear()

    # ------------------------------------------------------------ request plumbing (called by Handler)
    def authenticate(self, handler):
        """The user name for a request, or 401. A verified client certificate wins over a token."""
        if self.tls and self.client_certs != "none":
            cert = handler.connection.getpeercert()
            if cert:
                for rdn in cert.get("subject", ()):
                    for k, v in rdn:
                        if k == "commonName":
                            with self.lock:
                                ok = self.accepted_cns is None or v in self.accepted_cns
                            if not ok:
                                raise APIError(401, "Unauthorized")
                            return v
        auth = handler.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            with self.lock:
                user = self.tokens.get(auth[7:].strip())
            if user:
                return user
        elif not auth and self.anonymous:
            return "system:anonymous"
        raise APIError(401, "Unauthorized")

    def before(self, method, path):
        """Applies delay and injected failures for a request."""
        with self.lock:
            delay = sum(d[0] for d in self.faults.delays if _prefix_match(d[1], method, path, d[2]))
            fail = next((f for f in self.faults.failures if f[0] > 0 and _prefix_match(f[2], method, path, f[3])),
                        None)
            if fail:
                fail[0] -= 1
                self.faults.failures = [f for f in self.faults.failures if f[0] > 0]
        if delay:
            time.sleep(delay)
        if fail:
            raise APIError(fail[1], "fakeapi: injected failure" if fail[1] >= 500 else "fakeapi: injected error")

    def take(self, knob):
        with self.lock:
            n = getattr(self.faults, knob)
            if n:
                setattr(self.faults, knob, n - 1)
            return bool(n)



# ------------------------------------------------------------ command line

def main(argv=None):
    ap = argparse.ArgumentParser(description="A fake Kubernetes API server for tests (127.0.0.1 only).")
    ap.add_argument("--state-dir", required=True, help="kubeconfig, token, admin-token and certificates go here")
    ap.add_argument("--port-file", help="written with the port number once listening")
    ap.add_argument("--port", type=int, default=0, help="default 0: the kernel picks")
    ap.add_argument("--plain", action="store_true", help="plain HTTP instead of HTTPS")
    ap.add_argument("--token", action="append", help="accepted bearer token (repeatable; default: one random)")
    ap.add_argument("--admin-token", help="token for /_fake/* (default random, in STATE_DIR/admin-token)")
    ap.add_argument("--client-certs", choices=["optional", "required", "none"], default="optional")
    ap.add_argument("--client-cn", default="fakeapi-client", help="CN (user) of the generated client cert")
    ap.add_argument("--seed", action="append", default=[], help="JSON file: an object, a list or a v1 List")
    ap.add_argument("--node", action="append", default=[], help="seed a kubelet-like node with this name")
    ap.add_argument("--bookmark-interval", type=float, default=1.0)
    ap.add_argument("--max-seconds", type=float, default=600, help="stop by itself after this long")
    ap.add_argument("--rbac", metavar="FILE", help="enforce this ClusterRole (JSON; YAML when python3-yaml is "
                    "installed): requests no rule allows get 403; GET /_fake/rbac tells what was seen")
    ap.add_argument("-v", "--verbose", action="store_true", help="log each request to stderr")
    a = ap.parse_args(argv)
    rbac = None
    if a.rbac:
        with open(a.rbac) as f:
            text = f.read()
        try:
            rbac = json.loads(text)
        except ValueError:
            import yaml  # only for YAML roles
            rbac = [d for d in yaml.safe_load_all(text) if d is not None]
    api = FakeAPIServer(a.state_dir, tls=not a.plain, tokens=a.token, admin_token=a.admin_token,
                        client_certs=a.client_certs, client_cn=a.client_cn, port=a.port,
                        bookmark_interval=a.bookmark_interval, verbose=a.verbose, rbac=rbac)
    for n in a.node:
        api.add_node(n)
    for path in a.seed:
        with open(path) as f:
            fakeadmin.seed(api, json.load(f))
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    api.start()
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(f"{api.port}\n")
        os.replace(a.port_file + ".tmp", a.port_file)
    sys.stderr.write(f"fakeapi: listening on {api.url} (kubeconfig {api.kubeconfig})\n")
    done.wait(a.max_seconds)
    api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
