"""fakehttp.py: the fake API server's HTTP side: the threaded server, request handling, routing, eviction
and watch streams. FakeAPIServer (fakeapi.py) owns the state; everything here reaches it as `api`."""
import http.server
import json
import select
import socket
import ssl
import sys
import threading
import time
import urllib.parse

import fakeadmin
import faketables
from fakestore import (RESOURCES, APIError, matches, now_rfc3339, parse_field_selector, parse_label_selector,
                       status_object)

PATCH_TYPES = {"application/merge-patch+json": "merge", "application/strategic-merge-patch+json": "strategic"}


def _record(rec, err):
    rec["code"] = err.code
    return err


def _json_body(h, body):
    ctype = (h.headers.get("Content-Type") or "application/json").split(";")[0].strip()
    if h.command in ("POST", "PUT") and ctype != "application/json":
        raise APIError(415, f'the body of the request was in an unknown format - accepted media types include: '
                            f'application/json (got {ctype})')
    try:
        obj = json.loads(body or b"")
    except ValueError as e:
        raise APIError(400, f"the body of the request could not be decoded as JSON: {e}")
    if not isinstance(obj, dict):
        raise APIError(400, "the body of the request must be a JSON object")
    return obj


def _validate_event(ev, ns):
    """The legacy core/v1 Event namespace rule (k8s.io/kubernetes/pkg/apis/core/validation/events.go)."""
    io_ns = (ev.get("involvedObject") or {}).get("namespace") or ""
    ok = ns in ("", "default") if not io_ns else io_ns == ns
    if not ok:
        raise APIError(422, f'Event "{ev.get("metadata", {}).get("name", "")}" is invalid: '
                            f'involvedObject.namespace: Invalid value: "{io_ns}": does not match event.namespace')


class HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, api, address):
        self.api = api
        super().__init__(address, Handler)

    def finish_request(self, request, client_address):
        if self.api.ssl_context is None:
            return super().finish_request(request, client_address)
        request.settimeout(10)
        try:
            tls = self.api.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()

    def handle_error(self, request, client_address):
        pass  # a client hanging up mid-answer is normal here


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakeapi/1"
    timeout = 120  # idle keep-alive connections

    def setup(self):
        super().setup()
        with self.server.api.lock:
            self.server.api._conns.add(self.connection)

    def finish(self):
        with self.server.api.lock:
            self.server.api._conns.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, fmt, *args):
        if self.server.api.verbose:
            sys.stderr.write("fakeapi: " + (fmt % args) + "\n")

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def dispatch(self):
        api = self.server.api
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.user = self.rec = None
        if url.path.startswith("/_fake/"):
            return self._admin(url.path, query, body)
        auth = self.headers.get("Authorization", "")
        self.rec = {"time": time.time(), "method": self.command, "path": url.path, "query": query,
                    "content_type": self.headers.get("Content-Type"), "accept": self.headers.get("Accept"),
                    "user": None, "token": auth[7:] if auth.startswith("Bearer ") else None,
                    "body": _maybe_json(body), "status": None}
        with api.lock:
            api.requests.append(self.rec)
        try:
            self.user = self.rec["user"] = api.authenticate(self)
            api.before(self.command, url.path)
            answer = route(api, self, self.command, url.path, query, body)
            if answer is not None:
                self.send_json(*answer)
        except APIError as e:
            self.send_json(e.code, e.status())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # a bug in the fake: say so loudly, as a 500 Status
            sys.stderr.write(f"fakeapi: internal error on {self.command} {self.path}: {e!r}\n")
            self.send_json(500, status_object(500, f"fakeapi internal error: {e!r}", "InternalError"))

    def send_json(self, code, obj):
        data = json.dumps(obj).encode()
        if getattr(self, "rec", None) is not None:
            self.rec["status"] = code
        if code == 200 and isinstance(obj, dict) and obj.get("kind", "").endswith("List") and "items" in obj \
                and self.server.api.take("malformed_lists"):
            data = data[:max(1, len(data) // 2)]
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-cache, private")
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def _admin(self, path, query, body):
        fakeadmin.handle(self, self.server.api, path, query, body)


def _maybe_json(body):
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def watch_stream(h, api, resource, ns, fields, labels, query):
    """Chunked newline-delimited watch events. Ends on timeoutSeconds (clean final chunk), on a 410, or
    abruptly (socket shut) when a cut fault fires or the server stops or goes down."""
    kind = RESOURCES[resource][0]
    rv_param = query.get("resourceVersion") or "0"
    if not rv_param.isdigit():
        raise APIError(400, f'invalid resource version "{rv_param}"')
    deadline = time.monotonic() + min(float(query.get("timeoutSeconds") or 1800), 1800)
    bookmarks = query.get("allowWatchBookmarks") in ("1", "true")
    with api.lock:
        w = _Watch(api.faults.cut_next_watch)
        api.faults.cut_next_watch = None
        api._watches.add(w)
        gen = api._bookmark_gen
    h.rec["status"] = 200
    try:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.send_header("Cache-Control", "no-cache, private")
        h.end_headers()

        def send(etype, obj):
            line = json.dumps({"type": etype, "object": obj}).encode() + b"\n"
            if etype != "ERROR" and api.take("malformed_watch"):
                line = b'{"type":"' + etype.encode() + b'","object":{"kind":"' + kind.encode() + b'",\n'
            h.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))

        def cut_due():
            if w.cut_after is not None and w.cut_after <= 0:
                return True
            return api._stopping or api._httpd is not h.server or _client_gone(h.connection)

        try:
            if api.take("expire_watches"):
                raise APIError(410, f"too old resource version: {rv_param} ({api.store.current_rv()})",
                               reason="Expired")
            pos = int(rv_param)
            pending = []
            if pos == 0:  # the real API starts such a watch with the current state as ADDED events
                items, rv = api.store.list(resource, ns, fields, labels)
                pending, pos = [("ADDED", o) for o in items], int(rv)
            last_bookmark = time.monotonic()
            while True:
                if not pending:
                    events, now_rv = api.store.events_since(pos)
                    for erv, eres, _, old, new in events:
                        if eres != resource:
                            continue
                        pending += _translate(old, new, ns, fields, labels)
                    pos = now_rv
                for etype, obj in pending:
                    if cut_due():
                        raise _Cut()
                    send(etype, obj)
                    if w.cut_after is not None:
                        w.cut_after -= 1
                pending = []
                if cut_due():
                    raise _Cut()
                if time.monotonic() >= deadline:
                    break
                with api.lock:
                    forced = api._bookmark_gen != gen
                    gen = api._bookmark_gen
                if bookmarks and (forced or time.monotonic() - last_bookmark >= api.bookmark_interval):
                    send("BOOKMARK", {"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": str(pos)}})
                    last_bookmark = time.monotonic()
                api.store.wait(pos, min(0.2, max(0.01, deadline - time.monotonic())))
        except APIError as e:
            send("ERROR", e.status())
        h.wfile.write(b"0\r\n\r\n")
    except (_Cut, OSError):
        h.close_connection = True
        try:
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    finally:
        with api.lock:
            api._watches.discard(w)


class _Cut(Exception):
    pass


def _client_gone(conn):
    """True once the client has hung up (a watch client sends nothing, so readable means EOF or close_notify)."""
    try:
        if not select.select([conn], [], [], 0)[0]:
            return False
        timeout = conn.gettimeout()
        conn.settimeout(0)
        try:
            data = conn.recv(1) if isinstance(conn, ssl.SSLSocket) else conn.recv(1, socket.MSG_PEEK)
        finally:
            conn.settimeout(timeout)
        return data == b""
    except (ssl.SSLWantReadError, BlockingIOError):
        return False
    except OSError:
        return True


class _Watch:
    def __init__(self, cut_after):
        self.cut_after = cut_after  # None, or events still to send before the stream is cut


def _translate(old, new, ns, fields, labels):
    """One store change as the watch events a filtered watcher sees (moves in or out become ADDED/DELETED)."""
    def seen(o):
        return o is not None and (not ns or o["metadata"].get("namespace") == ns) and matches(o, fields, labels)
    if new is None:
        return [("DELETED", old)] if seen(old) else []
    if old is None:
        return [("ADDED", new)] if seen(new) else []
    was, now = seen(old), seen(new)
    if was and now:
        return [("MODIFIED", new)]
    if now:
        return [("ADDED", new)]
    if was:
        return [("DELETED", new)]
    return []


def route(api, h, method, path, query, body):
    """Returns (code, JSON-able object) or handles a watch itself (returns None)."""
    if path == "/version":
        return 200, faketables.VERSION
    if path == "/api":
        return 200, faketables.API_VERSIONS
    if path == "/api/v1":
        return 200, faketables.CORE_RESOURCES
    if path == "/apis":
        return 200, faketables.API_GROUPS
    parts = path.strip("/").split("/")
    if parts[:2] != ["api", "v1"] or len(parts) < 3:
        raise APIError(404, "the server could not find the requested resource")
    rest, ns = parts[2:], None
    if rest[0] == "namespaces" and len(rest) >= 3:
        ns, rest = rest[1], rest[2:]
    if len(rest) > 3 or rest[0] not in RESOURCES or (ns is not None and not RESOURCES[rest[0]][1]):
        raise APIError(404, "the server could not find the requested resource")
    resource, name, sub = rest[0], (rest[1:2] or [None])[0], (rest[2:3] or [None])[0]
    if name and RESOURCES[resource][1] and ns is None:
        raise APIError(404, "the server could not find the requested resource")
    if sub not in (None, "status") and not (resource == "pods" and sub == "eviction"):
        raise APIError(404, "the server could not find the requested resource")
    verb = {"GET": "get" if name else ("watch" if query.get("watch") in ("1", "true") else "list"),
            "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method]
    full = resource + (f"/{sub}" if sub else "")
    with api.lock:
        forbidden = (verb, full) in api.faults.forbidden
    # RBAC mode: the core group ("") is the only one served; the request's name matters for resourceNames.
    if api.rbac is not None and not api.rbac.check(h.user, "", resource, sub, verb, ns, name):
        forbidden = True
    if forbidden:
        # As errors.NewForbidden words it: the resource without its subresource before "is forbidden".
        what = f'{resource} "{name}"' if name else resource
        where = f' in the namespace "{ns}"' if ns else " at the cluster scope"
        details = {"kind": resource, **({"name": name} if name else {})}
        raise APIError(403, f'{what} is forbidden: User "{h.user}" cannot {verb} resource "{full}" in API group '
                            f'""{where}', details=details)
    if verb in ("list", "watch"):
        fields = parse_field_selector(resource, query.get("fieldSelector"))
        labels = parse_label_selector(query.get("labelSelector"))
        if verb == "watch":
            watch_stream(h, api, resource, ns, fields, labels, query)
            return None
        items, rv = api.store.list(resource, ns, fields, labels)
        if api.tables and faketables.wants_table(h.headers.get("Accept")):
            return 200, faketables.table(resource, items, rv, query.get("includeObject", "Metadata"))
        for it in items:  # the real API leaves kind/apiVersion out of list items
            it.pop("kind", None)
            it.pop("apiVersion", None)
        kind = RESOURCES[resource][0] + "List"
        return 200, {"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": rv}, "items": items}
    if verb == "get":
        obj = api.store.get(resource, ns, name)
        if api.tables and faketables.wants_table(h.headers.get("Accept")):
            return 200, faketables.table(resource, [obj], obj["metadata"]["resourceVersion"],
                                         query.get("includeObject", "Metadata"))
        return 200, obj
    if verb == "create" and sub == "eviction":
        return evict(api, ns, name, _json_body(h, body), h.user)
    if verb == "create" and not name:
        obj = _json_body(h, body)
        if ns and obj.get("metadata", {}).get("namespace") not in (None, "", ns):
            raise APIError(400, "the namespace of the provided object does not match the namespace sent "
                                "on the request")
        if resource == "events":
            _validate_event(obj, ns)
        return 201, api.store.create(resource, obj, ns)
    if verb == "update" and name:
        obj = _json_body(h, body)
        if obj.get("metadata", {}).get("name") != name:
            raise APIError(400, "the name of the object does not match the name on the URL")
        return 200, api.store.update(resource, ns, obj, keep="non-status" if sub else "status")
    if verb == "patch" and name:
        ctype = (h.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype not in PATCH_TYPES:
            raise APIError(415, f"the body of the request was in an unknown format - accepted media types "
                                f"include: {', '.join(PATCH_TYPES)} (fakeapi does not do {ctype or 'none'})")
        return 200, api.store.patch(resource, ns, name, PATCH_TYPES[ctype], _json_body(h, body), sub)
    if verb == "delete" and name and not sub:
        opts = json.loads(body) if body else {}
        uid = ((opts or {}).get("preconditions") or {}).get("uid")
        return 200, _conflict_on_uid(lambda: api.store.delete(resource, ns, name, uid), resource, name)
    raise APIError(405, "the server does not allow this method on the requested resource")


def _conflict_on_uid(fn, resource, name):
    try:
        return fn()
    except APIError as e:
        if e.code == 409 and e.message.startswith("Precondition failed"):
            raise APIError(409, f'Operation cannot be fulfilled on {resource} "{name}": {e.message}',
                           details={"name": name, "kind": resource})
        raise


def evict(api, ns, name, body, user):
    """policy/v1 Eviction, following pkg/registry/core/pod/storage/eviction.go."""
    rec = {"time": time.time(), "namespace": ns, "name": name, "body": body, "user": user, "code": None}
    with api.lock:
        api.evictions.append(rec)
    if body.get("kind") != "Eviction" or body.get("apiVersion") not in ("policy/v1", "policy/v1beta1"):
        raise _record(rec, APIError(400, f"not a Eviction object: {body.get('apiVersion')}/{body.get('kind')}"))
    if (body.get("metadata") or {}).get("name") != name:
        raise _record(rec, APIError(400, "name in URL does not match name in Eviction object"))
    opts = body.get("deleteOptions") or {}
    uid = (opts.get("preconditions") or {}).get("uid")
    with api.store.cond, api.lock:  # lock order everywhere: store, then server
        try:
            pod = api.store.get("pods", ns, name)
            rec["uid"] = pod["metadata"]["uid"]
            phase = (pod.get("status") or {}).get("phase")
            if phase not in ("Succeeded", "Failed", "Pending") and not pod["metadata"].get("deletionTimestamp"):
                # a budget with an empty selector matches nothing, as in the real one
                pdbs = [b for b in api.budgets if b["namespace"] == ns and b["matchLabels"] and matches(
                    pod, (), [(k, "in", {v}) for k, v in b["matchLabels"].items()])]
                if len(pdbs) > 1:
                    rec["code"] = 500
                    return 500, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                 "message": "This pod has more than one PodDisruptionBudget, which the "
                                            "eviction subresource does not support.", "code": 500}
                if pdbs and pdbs[0]["disruptionsAllowed"] <= 0:
                    b = pdbs[0]
                    raise APIError(429, "Cannot evict pod as it would violate the pod's disruption budget.",
                                   details={"causes": [{"reason": "DisruptionBudget", "message":
                                                        f"The disruption budget {b['name']} needs "
                                                        f"{b['desiredHealthy']} healthy pods and has "
                                                        f"{b['currentHealthy']} currently"}]})
            else:
                pdbs = []
            if uid is not None and uid != pod["metadata"]["uid"]:  # the delete's precondition
                raise APIError(409, f'Operation cannot be fulfilled on pods "{name}": Precondition failed: '
                                    f'UID in precondition: {uid}, UID in object meta: {pod["metadata"]["uid"]}',
                               details={"name": name, "kind": "pods"})
            if pdbs:
                pdbs[0]["disruptionsAllowed"] -= 1
            _delete_evicted(api, pod, opts)
        except APIError as e:
            raise _record(rec, e)
    rec["code"] = 201
    # metav1.Status{Status: Success} with no code: the HTTP status is the create's 201
    return 201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}


def _delete_evicted(api, pod, opts):
    ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    if api.eviction_delete_delay <= 0:
        api.store.delete("pods", ns, name)
        return
    grace = opts.get("gracePeriodSeconds", 30)
    pod["metadata"]["deletionTimestamp"] = now_rfc3339()
    pod["metadata"]["deletionGracePeriodSeconds"] = grace
    api.store.update("pods", ns, pod)

    def finish():
        try:
            api.store.delete("pods", ns, name, pod["metadata"]["uid"])
        except APIError:
            pass
    t = threading.Timer(api.eviction_delete_delay, finish)
    t.daemon = True
    t.start()
