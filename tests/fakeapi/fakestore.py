"""fakestore.py: the fake API server's objects: resourceVersions, watch history, selectors and patches.

Thread-safe. Every object handed out is a deep copy, so callers may change it freely.
"""
import copy
import datetime
import re
import secrets
import threading
import uuid

# resource -> (kind, namespaced, field selectors the real API server accepts for it)
RESOURCES = {
    "pods": ("Pod", True, {"metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy",
                           "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork",
                           "status.phase", "status.podIP", "status.nominatedNodeName"}),
    "nodes": ("Node", False, {"metadata.name", "spec.unschedulable"}),
    "events": ("Event", True, {"metadata.name", "metadata.namespace", "involvedObject.kind",
                               "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                               "involvedObject.apiVersion", "involvedObject.resourceVersion",
                               "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"}),
    "namespaces": ("Namespace", False, {"metadata.name", "status.phase"}),
}
KIND_TO_RESOURCE = {v[0]: k for k, v in RESOURCES.items()}

# Strategic merge: lists merged by key (the patchMergeKey of the Go types); "*" is any list element.
MERGE_KEYS = {
    ("status", "conditions"): "type",
    ("status", "addresses"): "type",
    ("spec", "taints"): "key",
    ("metadata", "ownerReferences"): "uid",
    ("spec", "containers"): "name",
    ("spec", "initContainers"): "name",
    ("spec", "volumes"): "name",
    ("spec", "containers", "*", "env"): "name",
    ("spec", "containers", "*", "ports"): "containerPort",
    ("status", "containerStatuses"): "name",
}
# Lists of scalars with patchStrategy=merge: a patch adds to them instead of replacing.
MERGE_SCALAR_LISTS = {("metadata", "finalizers")}

HISTORY_LIMIT = 10000  # watch events kept; older resourceVersions answer 410 Expired


class APIError(Exception):
    """Becomes a metav1.Status answer: code, reason, message and optional details."""

    REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
               405: "MethodNotAllowed", 409: "Conflict", 410: "Expired", 415: "UnsupportedMediaType",
               422: "Invalid", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable"}

    def __init__(self, code, message, reason=None, details=None):
        super().__init__(message)
        self.code, self.message, self.details = code, message, details
        self.reason = reason or self.REASONS.get(code, "Unknown")

    def status(self):
        return status_object(self.code, self.message, self.reason, self.details)


def status_object(code, message, reason, details=None):
    s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
         "reason": reason, "code": code}
    if details:
        s["details"] = details
    return s


def not_found(resource, name):
    return APIError(404, f'{resource} "{name}" not found', details={"name": name, "kind": resource})


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- selectors

def field_value(obj, path):
    if path == "source":
        path = "source.component"
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(resource, text):
    """'spec.nodeName=a,status.phase!=Failed' -> [(field, op, value)]; unknown fields are a 400 like the real one."""
    terms = []
    for term in filter(None, (t.strip() for t in (text or "").split(","))):
        m = re.fullmatch(r"([^=!]+)(==|=|!=)(.*)", term)
        if not m:
            raise APIError(400, f'invalid selector: \'{text}\'; can\'t understand \'{term}\'')
        field, op, value = m.group(1).strip(), m.group(2), m.group(3).strip()
        if field not in RESOURCES[resource][2]:
            raise APIError(400, f'field label not supported: {field}')
        terms.append((field, "!=" if op == "!=" else "=", value))
    return terms


def parse_label_selector(text):
    """Equality and set-based terms: k=v, k==v, k!=v, k, !k, k in (a,b), k notin (a,b)."""
    terms = []
    for term in re.findall(r"(?:[^,(]|\([^)]*\))+", text or ""):
        term = term.strip()
        if not term:
            continue
        m = re.fullmatch(r"(\S+)\s+(in|notin)\s+\(([^)]*)\)", term)
        if m:
            terms.append((m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}))
        elif (m := re.fullmatch(r"([^=!\s]+)\s*(==|=|!=)\s*(\S*)", term)):
            terms.append((m.group(1), "notin" if m.group(2) == "!=" else "in", {m.group(3)}))
        elif (m := re.fullmatch(r"(!?)([^=!\s]+)", term)):
            terms.append((m.group(2), "!exists" if m.group(1) else "exists", None))
        else:
            raise APIError(400, f"unable to parse requirement: {term!r}")
    return terms


def matches(obj, fields, labels):
    for field, op, value in fields:
        if (field_value(obj, field) == value) != (op == "="):
            return False
    have = (obj.get("metadata") or {}).get("labels") or {}
    for key, op, values in labels:
        if op == "exists" and key not in have or op == "!exists" and key in have:
            return False
        if op == "in" and have.get(key) not in values:
            return False
        if op == "notin" and key in have and have[key] in values:
            return False
    return True


# ---------------------------------------------------------------- patches

def merge_patch(target, patch):
    """RFC 7386 JSON merge patch: objects merge recursively, null deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target, patch, path=()):
    """Kubernetes strategic merge patch for the fields listed in MERGE_KEYS; other lists are replaced.

    Understands the directives clients send: $patch (replace/delete, on maps and list elements),
    $retainKeys, $deleteFromPrimitiveList/<field> and $setElementOrder/<field> (order only; ignored).
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    if directive is not None:
        raise APIError(400, f"unknown patch type: {directive}")
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [v for v in result.get(field) or [] if v not in value]
        elif key == "$retainKeys":
            result = {k: v for k, v in result.items() if k in value or k in patch}
        elif key.startswith("$"):
            continue
        elif value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = strategic_merge_patch(result.get(key), value, path + (key,))
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, path + (key,))
        else:
            result[key] = copy.deepcopy(value)
    return result


def _merge_list(current, patch, path):
    current = current if isinstance(current, list) else []
    if path in MERGE_SCALAR_LISTS:
        return copy.deepcopy(current) + [v for v in patch if v not in current]
    key = MERGE_KEYS.get(path)  # elements recurse with "*" in the path, so nested keys match directly
    if key is None:
        return [v for v in copy.deepcopy(patch) if not (isinstance(v, dict) and "$patch" in v)]
    if any(isinstance(v, dict) and v.get("$patch") == "replace" for v in patch):
        return [copy.deepcopy(v) for v in patch if not (isinstance(v, dict) and "$patch" in v)]
    result = copy.deepcopy(current)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise APIError(400, f"map: {item} does not contain declared merge key: {key}")
        idx = next((i for i, old in enumerate(result) if isinstance(old, dict) and old.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                del result[idx]
        elif idx is None:
            result.append(strategic_merge_patch({}, item, path + ("*",)))
        else:
            result[idx] = strategic_merge_patch(result[idx], item, path + ("*",))
    return result


# ---------------------------------------------------------------- store

class Store:
    """Objects keyed by (resource, namespace, name) with a global resourceVersion counter.

    Every change appends (rv, resource, type, old, new) to a bounded history that watches read;
    a watch from a resourceVersion older than `compacted_rv` gets 410 Expired.
    """

    def __init__(self):
        self.cond = threading.Condition(threading.RLock())
        self.rv = 0
        self.objects = {}
        self.history = []
        self.compacted_rv = 0

    # -- reading
    def get(self, resource, namespace, name):
        with self.cond:
            obj = self.objects.get(_key(resource, namespace, name))
            if obj is None:
                raise not_found(resource, name)
            return copy.deepcopy(obj)

    def find(self, resource, namespace, name):
        """Like get() but None when absent."""
        with self.cond:
            obj = self.objects.get(_key(resource, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def list(self, resource, namespace=None, fields=(), labels=()):
        """(items sorted by namespace/name, list resourceVersion)."""
        with self.cond:
            items = [copy.deepcopy(o) for (r, ns, _), o in sorted(self.objects.items())
                     if r == resource and (not namespace or ns == namespace) and matches(o, fields, labels)]
            return items, str(self.rv)

    def current_rv(self):
        with self.cond:
            return self.rv

    # -- writing
    def _commit(self, resource, kind, old, new):
        self.rv += 1
        if new is not None:
            new["metadata"]["resourceVersion"] = str(self.rv)
            self.objects[key_of(resource, new)] = new
        else:
            del self.objects[key_of(resource, old)]
            old = copy.deepcopy(old)
            old["metadata"]["resourceVersion"] = str(self.rv)
        self.history.append((self.rv, resource, kind, old, copy.deepcopy(new) if new is not None else None))
        if len(self.history) > HISTORY_LIMIT:
            dropped = self.history[:len(self.history) - HISTORY_LIMIT]
            del self.history[:len(dropped)]
            self.compacted_rv = dropped[-1][0]
        self.cond.notify_all()
        return copy.deepcopy(new if new is not None else old)

    def create(self, resource, obj, namespace=None):
        obj = copy.deepcopy(obj)
        kind, namespaced, _ = RESOURCES[resource]
        obj.setdefault("apiVersion", "v1")
        obj.setdefault("kind", kind)
        md = obj.setdefault("metadata", {})
        if namespaced:
            md["namespace"] = namespace or md.get("namespace") or "default"
        else:
            md.pop("namespace", None)
        with self.cond:
            if not md.get("name"):
                if not md.get("generateName"):
                    raise APIError(422, f"{kind} \"\" is invalid: metadata.name: Required value: name or "
                                        "generateName is required", reason="Invalid")
                md["name"] = md["generateName"] + "".join(secrets.choice("bcdfghjklmnpqrstvwxz2456789")
                                                          for _ in range(5))
            if key_of(resource, obj) in self.objects:
                raise APIError(409, f'{resource} "{md["name"]}" already exists', reason="AlreadyExists",
                               details={"name": md["name"], "kind": resource})
            if namespaced and ("namespaces", "", md["namespace"]) not in self.objects:
                raise not_found("namespaces", md["namespace"])
            md.setdefault("uid", str(uuid.uuid4()))
            md.setdefault("creationTimestamp", now_rfc3339())
            if resource == "namespaces":
                obj.setdefault("spec", {"finalizers": ["kubernetes"]})
                obj.setdefault("status", {"phase": "Active"})
            return self._commit(resource, kind, None, obj)

    def put(self, obj):
        """Seeding: creates or replaces an object (kind from obj["kind"]), creating its namespace if needed."""
        resource = KIND_TO_RESOURCE[obj["kind"]]
        with self.cond:
            ns = obj["metadata"].get("namespace") or "default"
            if RESOURCES[resource][1] and ("namespaces", "", ns) not in self.objects:
                self.create("namespaces", {"metadata": {"name": ns}})
            old = self.find(resource, ns if RESOURCES[resource][1] else None, obj["metadata"]["name"])
            if old is None:
                return self.create(resource, obj, ns)
            new = copy.deepcopy(obj)
            new["metadata"].setdefault("uid", old["metadata"]["uid"])
            new["metadata"].setdefault("creationTimestamp", old["metadata"]["creationTimestamp"])
            new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            return self.update(resource, ns, new)

    def update(self, resource, namespace, new, keep=None):
        """Replaces an object. keep="status" keeps the stored status (main resource writes);
        keep="non-status" keeps everything but status (the /status subresource)."""
        with self.cond:
            old = self.get(resource, namespace, new.get("metadata", {}).get("name"))
            new = copy.deepcopy(new)
            kind = RESOURCES[resource][0]
            md, omd = new.setdefault("metadata", {}), old["metadata"]
            if md.get("resourceVersion") not in (None, "", omd["resourceVersion"]):
                raise APIError(409, f'Operation cannot be fulfilled on {resource} "{omd["name"]}": the object '
                                    'has been modified; please apply your changes to the latest version and try again',
                               details={"name": omd["name"], "kind": resource})
            if md.get("uid") not in (None, omd["uid"]):
                raise APIError(409, f'Precondition failed: UID in precondition: {md["uid"]}, '
                                    f'UID in object meta: {omd["uid"]}')
            for f in ("uid", "creationTimestamp", "name", "namespace", "resourceVersion"):
                if f in omd:
                    md[f] = omd[f]
                else:
                    md.pop(f, None)
            new["apiVersion"], new["kind"] = "v1", kind
            if keep:
                main, status = (old, new) if keep == "non-status" else (new, old)
                new = {k: v for k, v in main.items() if k != "status"}
                if "status" in status:
                    new["status"] = status["status"]
            if new == old:
                return old  # a no-op write does not bump the resourceVersion, like the real one
            return self._commit(resource, kind, old, new)

    def patch(self, resource, namespace, name, patch_type, patch, subresource=None):
        if not isinstance(patch, dict):
            raise APIError(400, "patch body must be a JSON object")
        with self.cond:
            old = self.get(resource, namespace, name)
            want_rv = (patch.get("metadata") or {}).get("resourceVersion")
            if want_rv not in (None, old["metadata"]["resourceVersion"]):
                raise APIError(409, f'Operation cannot be fulfilled on {resource} "{name}": the object has '
                                    'been modified; please apply your changes to the latest version and try again')
            if patch_type == "merge":
                new = merge_patch(old, patch)
            else:
                new = strategic_merge_patch(old, patch)
            new.setdefault("metadata", {})["resourceVersion"] = old["metadata"]["resourceVersion"]
            new["metadata"]["name"] = name
            return self.update(resource, namespace, new,
                               keep="non-status" if subresource == "status" else "status")

    def delete(self, resource, namespace, name, uid=None):
        with self.cond:
            old = self.get(resource, namespace, name)
            if uid is not None and uid != old["metadata"]["uid"]:
                raise APIError(409, f'Precondition failed: UID in precondition: {uid}, '
                                    f'UID in object meta: {old["metadata"]["uid"]}')
            return self._commit(resource, RESOURCES[resource][0], old, None)

    def compact(self):
        """Forget all history: every resourceVersion before now becomes too old for a watch (410)."""
        with self.cond:
            self.history.clear()
            self.compacted_rv = self.rv

    # -- watching
    def events_since(self, rv):
        """(events after rv, current rv) or raises 410 when rv has been compacted away."""
        with self.cond:
            if rv < self.compacted_rv:
                raise APIError(410, f"too old resource version: {rv} ({self.compacted_rv})", reason="Expired")
            lo = 0
            while lo < len(self.history) and self.history[lo][0] <= rv:
                lo += 1
            return [copy.deepcopy(e) for e in self.history[lo:]], self.rv

    def wait(self, rv, timeout):
        """Blocks until the store moves past rv or the timeout passes."""
        with self.cond:
            if self.rv <= rv:
                self.cond.wait(timeout)

    def wake_all(self):
        with self.cond:
            self.cond.notify_all()


def _key(resource, namespace, name):
    return resource, (namespace or "") if RESOURCES[resource][1] else "", name


def key_of(resource, obj):
    md = obj["metadata"]
    return resource, md.get("namespace", "") if RESOURCES[resource][1] else "", md["name"]


# ---------------------------------------------------------------- realistic objects

def make_node(name, labels=None, conditions=None, memory="16Gi", cpu="4", kubelet="v1.32.0", unschedulable=False):
    t = now_rfc3339()
    conds = [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ]
    node = {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                              "kubernetes.io/arch": "amd64", **(labels or {})}},
        "spec": {"podCIDR": "10.244.0.0/24"},
        "status": {
            "capacity": {"cpu": cpu, "memory": memory, "pods": "110"},
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "conditions": conditions if conditions is not None else [
                {"type": c, "status": s, "reason": r, "message": m, "lastHeartbeatTime": t,
                 "lastTransitionTime": t} for c, s, r, m in conds],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.10"}, {"type": "Hostname", "address": name}],
            "nodeInfo": {"kubeletVersion": kubelet, "osImage": "Debian GNU/Linux 12 (bookworm)",
                         "kernelVersion": "6.1.0-fake", "containerRuntimeVersion": "containerd://1.7.0",
                         "operatingSystem": "linux", "architecture": "amd64"},
        },
    }
    if unschedulable:
        node["spec"]["unschedulable"] = True
    return node


def make_pod(name, namespace="default", node="node-a", uid=None, labels=None, annotations=None,
             phase="Running", qos="Burstable", priority=0, containers=("app",), memory_limit=None):
    t = now_rfc3339()
    resources = {"requests": {"memory": "64Mi", "cpu": "100m"}}
    if memory_limit:
        resources["limits"] = {"memory": memory_limit}
    running = phase == "Running"
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": uid or str(uuid.uuid4()),
                     "labels": dict(labels or {}), "annotations": dict(annotations or {})},
        "spec": {"nodeName": node, "priority": priority, "restartPolicy": "Always",
                 "containers": [{"name": c, "image": "registry.example/app:1", "resources": resources}
                                for c in containers]},
        "status": {
            "phase": phase, "qosClass": qos, "hostIP": "10.0.0.10", "podIP": "10.244.0.5", "startTime": t,
            "conditions": [{"type": "Ready", "status": "True" if running else "False", "lastTransitionTime": t}],
            "containerStatuses": [{"name": c, "ready": running, "restartCount": 0, "image": "registry.example/app:1",
                                   "state": {"running": {"startedAt": t}} if running else
                                   {"terminated": {"exitCode": 0, "reason": "Completed"}}}
                                  for c in containers],
        },
    }
