"""fakerbac.py: RBAC authorization for the fake API server, the way the real one decides for one role.

A request becomes (apiGroup, resource[/subresource], verb, name) as in k8s.io/apiserver's RequestInfo
(GET on a collection = list, with watch=1|true = watch, GET on an item = get, POST = create, PUT = update,
PATCH = patch, DELETE = delete), and a rule allows it as rbac/v1's helpers do (k8s.io/component-helpers/
auth/rbac/validation): "*" or an exact match for groups and verbs; resources "*", exact "pods/eviction",
or "*/eviction"; resourceNames, when given, only for requests that carry a name."""
import threading


def rules_of(obj):
    """The rules of a ClusterRole or Role object, of the first ClusterRole in a list or v1 List, or a
    plain list of rules (dicts with apiGroups/resources/verbs)."""
    if isinstance(obj, dict) and obj.get("kind") in ("ClusterRole", "Role"):
        return list(obj.get("rules") or [])
    items = obj.get("items") if isinstance(obj, dict) and obj.get("kind") == "List" else obj
    if isinstance(items, list):
        roles = [o for o in items if isinstance(o, dict) and o.get("kind") in ("ClusterRole", "Role")]
        if roles:
            return list(roles[0].get("rules") or [])
        if all(isinstance(r, dict) and "verbs" in r for r in items):
            return list(items)
    raise ValueError("expected a ClusterRole, a Role, a list holding one, or a list of rules")


def _resource_matches(rule_resources, resource, sub):
    full = resource + (f"/{sub}" if sub else "")
    for r in rule_resources:
        if r == "*" or r == full:
            return True
        if sub and r == f"*/{sub}":
            return True
    return False


def rule_allows(rule, group, resource, sub, verb, name):
    if rule.get("nonResourceURLs"):
        return False
    if not any(g in ("*", group) for g in rule.get("apiGroups") or []):
        return False
    if not _resource_matches(rule.get("resources") or [], resource, sub):
        return False
    if not any(v in ("*", verb) for v in rule.get("verbs") or []):
        return False
    names = rule.get("resourceNames") or []
    return not names or (bool(name) and name in names)


def granted(rules):
    """Every (group, resource, verb) the rules spell out literally (for "was each one used?")."""
    out = set()
    for rule in rules:
        for g in rule.get("apiGroups") or []:
            for r in rule.get("resources") or []:
                for v in rule.get("verbs") or []:
                    out.add((g, r, v))
    return out


class RBAC:
    """One role's rules; records every decision. Thread-safe."""

    def __init__(self, role):
        self.rules = rules_of(role)
        self.lock = threading.Lock()
        self.seen = set()     # (group, resource[/sub], verb) of every resource request
        self.denied = []      # dicts: user, group, resource, verb, namespace, name

    def check(self, user, group, resource, sub, verb, namespace, name):
        """Records the request; returns True when some rule allows it."""
        full = resource + (f"/{sub}" if sub else "")
        ok = any(rule_allows(r, group, resource, sub, verb, name) for r in self.rules)
        with self.lock:
            self.seen.add((group, full, verb))
            if not ok:
                self.denied.append({"user": user, "group": group, "resource": full, "verb": verb,
                                    "namespace": namespace, "name": name})
        return ok

    def used(self):
        """(group, resource, verb) triples of the rules that allowed at least one request seen."""
        out = set()
        with self.lock:
            seen = set(self.seen)
        for g, r, v in granted(self.rules):
            for sg, sr, sv in seen:
                sres, _, ssub = sr.partition("/")
                if rule_allows({"apiGroups": [g], "resources": [r], "verbs": [v]}, sg, sres, ssub or None, sv,
                               None):
                    out.add((g, r, v))
        return out
