"""faketables.py: discovery documents and meta.k8s.io/v1 Tables (what `kubectl get` prints) for the fake API."""
import datetime

VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-fakeapi", "gitCommit": "0" * 40,
           "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.23.0",
           "compiler": "gc", "platform": "linux/amd64"}

_ALL = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def _res(name, kind, namespaced, verbs, short=None, categories=None, **extra):
    r = {"name": name, "singularName": "" if "/" in name else kind.lower(), "namespaced": namespaced,
         "kind": kind, "verbs": verbs}
    if short:
        r["shortNames"] = short
    if categories:
        r["categories"] = categories
    r.update(extra)
    return r


API_VERSIONS = {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]}
API_GROUPS = {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}
CORE_RESOURCES = {
    "kind": "APIResourceList", "groupVersion": "v1",
    "resources": [
        _res("events", "Event", True, _ALL, ["ev"]),
        _res("namespaces", "Namespace", False, ["create", "delete", "get", "list", "patch", "update", "watch"],
             ["ns"]),
        _res("namespaces/status", "Namespace", False, ["get", "patch", "update"]),
        _res("nodes", "Node", False, _ALL, ["no"]),
        _res("nodes/status", "Node", False, ["get", "patch", "update"]),
        _res("pods", "Pod", True, _ALL, ["po"], ["all"]),
        _res("pods/eviction", "Eviction", True, ["create"], group="policy", version="v1"),
        _res("pods/status", "Pod", True, ["get", "patch", "update"]),
    ],
}


def human_age(timestamp):
    """Like k8s.io/apimachinery/pkg/util/duration.HumanDuration, from an RFC 3339 timestamp."""
    if not timestamp:
        return "<unknown>"
    try:
        t = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return "<invalid>"
    s = int((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())
    if s < 0:
        return "0s"
    m, h, d = s // 60, s // 3600, s // 86400
    if s < 120:
        return f"{s}s"
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if d < 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    return f"{d}d"


def _pod_row(p):
    st = p.get("status") or {}
    cs = st.get("containerStatuses") or []
    total = len((p.get("spec") or {}).get("containers") or [])
    ready = sum(1 for c in cs if c.get("ready"))
    reason = st.get("reason") or st.get("phase") or "Unknown"
    for c in cs:
        state = c.get("state") or {}
        if state.get("waiting", {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif state.get("terminated", {}).get("reason") and reason == "Running":
            reason = state["terminated"]["reason"]
    if (p.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Terminating"
    restarts = sum(c.get("restartCount", 0) for c in cs)
    return [p["metadata"]["name"], f"{ready}/{total}", reason, restarts,
            human_age(p["metadata"].get("creationTimestamp")), st.get("podIP") or "<none>",
            (p.get("spec") or {}).get("nodeName") or "<none>", "<none>", "<none>"]


def _node_row(n):
    st, md = n.get("status") or {}, n["metadata"]
    ready = next((c.get("status") for c in st.get("conditions") or [] if c.get("type") == "Ready"), None)
    status = {"True": "Ready", "False": "NotReady"}.get(ready, "Unknown")
    if (n.get("spec") or {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    roles = sorted(k.split("/", 1)[1] for k in (md.get("labels") or {})
                   if k.startswith("node-role.kubernetes.io/"))
    addr = {a.get("type"): a.get("address") for a in st.get("addresses") or []}
    info = st.get("nodeInfo") or {}
    return [md["name"], status, ",".join(roles) or "<none>", human_age(md.get("creationTimestamp")),
            info.get("kubeletVersion", ""), addr.get("InternalIP", "<none>"), addr.get("ExternalIP", "<none>"),
            info.get("osImage", ""), info.get("kernelVersion", ""), info.get("containerRuntimeVersion", "")]


def _event_row(e):
    io = e.get("involvedObject") or {}
    src = e.get("source") or {}
    last = e.get("lastTimestamp") or e.get("eventTime") or e["metadata"].get("creationTimestamp")
    first = e.get("firstTimestamp") or last
    obj = f'{io.get("kind", "").lower()}/{io.get("name", "")}'
    return [human_age(last), e.get("type", ""), e.get("reason", ""), obj,
            io.get("fieldPath", ""), ", ".join(v for v in (src.get("component"), src.get("host")) if v),
            e.get("message", ""), human_age(first), e.get("count", 1), e["metadata"]["name"]]


def _ns_row(n):
    return [n["metadata"]["name"], (n.get("status") or {}).get("phase", ""),
            human_age(n["metadata"].get("creationTimestamp"))]


def _cols(*specs):
    return [{"name": n, "type": t, "format": "name" if n == "Name" else "", "description": n, "priority": p}
            for n, t, p in specs]


TABLES = {
    "pods": (_cols(("Name", "string", 0), ("Ready", "string", 0), ("Status", "string", 0),
                   ("Restarts", "string", 0), ("Age", "string", 0), ("IP", "string", 1), ("Node", "string", 1),
                   ("Nominated Node", "string", 1), ("Readiness Gates", "string", 1)), _pod_row),
    "nodes": (_cols(("Name", "string", 0), ("Status", "string", 0), ("Roles", "string", 0), ("Age", "string", 0),
                    ("Version", "string", 0), ("Internal-IP", "string", 1), ("External-IP", "string", 1),
                    ("OS-Image", "string", 1), ("Kernel-Version", "string", 1),
                    ("Container-Runtime", "string", 1)), _node_row),
    "events": (_cols(("Last Seen", "string", 0), ("Type", "string", 0), ("Reason", "string", 0),
                     ("Object", "string", 0), ("Subobject", "string", 1), ("Source", "string", 1),
                     ("Message", "string", 0), ("First Seen", "string", 1), ("Count", "integer", 1),
                     ("Name", "string", 1)), _event_row),
    "namespaces": (_cols(("Name", "string", 0), ("Status", "string", 0), ("Age", "string", 0)), _ns_row),
}


def wants_table(accept):
    return "as=Table" in (accept or "")


def table(resource, items, resource_version, include_object="Metadata"):
    """A meta.k8s.io/v1 Table; each row carries the object's metadata (kubectl reads the namespace from it)."""
    columns, row = TABLES[resource]
    rows = []
    for obj in items:
        r = {"cells": row(obj)}
        if include_object == "Object":
            r["object"] = obj
        elif include_object != "None":
            r["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                           "metadata": obj["metadata"]}
        rows.append(r)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": columns, "rows": rows}
