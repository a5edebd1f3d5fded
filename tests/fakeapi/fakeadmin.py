"""fakeadmin.py: the /_fake/* admin endpoints, so a test driving a daemon as a subprocess can seed objects
and flip faults. Every call needs "Authorization: Bearer <admin token>" (STATE_DIR/admin-token).

  GET    /_fake/requests | /_fake/evictions | /_fake/faults       what happened / what is set
  GET    /_fake/rbac         RBAC mode: {"seen": [[group, resource, verb]...], "denied": [...], "unused": [...]}
  DELETE /_fake/requests                                           forget recorded requests and evictions
  POST   /_fake/objects      body: an object, a JSON list or a v1 List  create or replace (watchers see it)
  DELETE /_fake/objects/<resource>/<namespace or _>/<name>
  POST   /_fake/budgets      {"name","namespace","matchLabels","disruptionsAllowed"}
  POST   /_fake/faults       {"delay": {"seconds", "path", "method"}, "fail": {"count", "code", "path", "method"},
                              "malformed_list": N, "malformed_watch": N, "cut_watches": AFTER_EVENTS,
                              "cut_next_watch": AFTER_EVENTS, "expire_next_watch": N,
                              "forbid": [VERB, RESOURCE], "eviction_delete_delay": S,
                              "clear": true}   (any subset; clear goes first)
  POST   /_fake/down         {"seconds": S}   answer, stop listening, listen again on the same port after S
  POST   /_fake/rotate-token {"token": T}     T (or a random one) replaces the current token; answers {"token"}
  POST   /_fake/compact | /_fake/bookmark     old resourceVersions expire | open watches get a BOOKMARK
"""
import json
import threading
import time

import fakerbac
from fakestore import APIError


def seed(api, data):
    """Puts an object, a list of objects or a v1 List into the store; returns the stored objects."""
    items = data.get("items", []) if isinstance(data, dict) and data.get("kind", "").endswith("List") else (
        data if isinstance(data, list) else [data])
    return [api.put(o) for o in items]


def handle(h, api, path, query, body):
    try:
        if h.headers.get("Authorization", "") != "Bearer " + api.admin_token:
            raise APIError(401, "Unauthorized (fakeapi admin endpoints need the admin token)")
        data = json.loads(body) if body else {}
        code, answer, after = _route(h.command, path.rstrip("/"), api, data)
    except APIError as e:
        return h.send_json(e.code, e.status())
    except (ValueError, KeyError, TypeError) as e:
        return h.send_json(400, {"kind": "Status", "status": "Failure", "code": 400, "message": repr(e)})
    h.close_connection = after is not None
    h.send_json(code, answer)
    if after is not None:
        h.wfile.flush()
        threading.Thread(target=after, daemon=True).start()


def _route(method, path, api, data):
    parts = path.split("/")[2:]
    what = parts[0] if parts else ""
    if method == "GET" and what in ("requests", "evictions"):
        with api.lock:
            return 200, list(getattr(api, what)), None
    if method == "GET" and what == "rbac":
        if api.rbac is None:
            raise APIError(404, "fakeapi: not in RBAC mode (start with rbac= or --rbac)")
        with api.rbac.lock:
            seen, denied = sorted(map(list, api.rbac.seen)), list(api.rbac.denied)
        unused = sorted(map(list, fakerbac.granted(api.rbac.rules) - api.rbac.used()))
        return 200, {"seen": seen, "denied": denied, "unused": unused}, None
    if method == "GET" and what == "faults":
        with api.lock:
            return 200, dict(api.faults.describe(), tokens=len(api.tokens), up=api.is_up), None
    if method == "DELETE" and what == "requests":
        api.clear_recorded()
        return 200, {}, None
    if method == "POST" and what == "objects":
        return 200, seed(api, data), None
    if method == "DELETE" and what == "objects" and len(parts) == 4:
        ns = None if parts[2] == "_" else parts[2]
        return 200, api.delete(parts[1], ns, parts[3]), None
    if method == "POST" and what == "budgets":
        api.add_budget(data["name"], data["namespace"], data["matchLabels"], data.get("disruptionsAllowed", 0),
                       data.get("desiredHealthy", 1), data.get("currentHealthy", 1))
        return 200, {}, None
    if method == "POST" and what == "faults":
        _faults(api, data)
        return 200, api.faults.describe(), None
    if method == "POST" and what == "down":
        seconds = float(data["seconds"])  # required: nothing could bring it back up otherwise

        def down():
            time.sleep(0.05)  # let this answer leave first
            api.go_down(seconds)
        return 200, {"down_for": seconds, "port": api.port}, down
    if method == "POST" and what == "rotate-token":
        return 200, {"token": api.rotate_token(data.get("token"))}, None
    if method == "POST" and what == "compact":
        api.compact()
        return 200, {}, None
    if method == "POST" and what == "bookmark":
        api.send_bookmarks()
        return 200, {}, None
    raise APIError(404, f"no admin endpoint {method} {path}")


def _faults(api, d):
    if d.get("clear"):
        api.clear_faults()
    if "delay" in d:
        api.set_delay(float(d["delay"]["seconds"]), d["delay"].get("path"), d["delay"].get("method"))
    if "fail" in d:
        f = d["fail"]
        api.fail_next(int(f.get("count", 1)), int(f.get("code", 500)), f.get("path"), f.get("method"))
    if "malformed_list" in d:
        api.malformed_next_list(int(d["malformed_list"]))
    if "malformed_watch" in d:
        api.malformed_next_watch_event(int(d["malformed_watch"]))
    if "cut_watches" in d:
        api.cut_watches(int(d["cut_watches"]))
    if "cut_next_watch" in d:
        api.cut_next_watch(int(d["cut_next_watch"]))
    if "expire_next_watch" in d:
        api.expire_next_watch(int(d["expire_next_watch"]))
    if "forbid" in d:
        api.forbid(*d["forbid"])
    if "eviction_delete_delay" in d:
        api.eviction_delete_delay = float(d["eviction_delete_delay"])
