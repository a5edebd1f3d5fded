"""k8smanifests.py: reads packaging/kubernetes/*.yaml for the manifest and RBAC tests (python3-yaml)."""
import glob
import os

try:
    import yaml
except ImportError:  # python3-yaml (scripts/install-deps.sh); the tests skip without it
    yaml = None

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MANIFEST_DIR = os.path.join(REPO, "packaging", "kubernetes")
ALL_IN_ONE = os.path.join(MANIFEST_DIR, "guardlet.yaml")


def part_files():
    """The numbered one-object files, in apply order (guardlet.yaml is generated from them)."""
    return sorted(glob.glob(os.path.join(MANIFEST_DIR, "[0-9][0-9]-*.yaml")))


def load(path):
    """Every object in a YAML file (empty documents dropped)."""
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def objects():
    """{kind: object} from the numbered files; each kind appears once."""
    out = {}
    for p in part_files():
        for obj in load(p):
            if obj["kind"] in out:
                raise AssertionError(f"{p}: a second {obj['kind']}")
            out[obj["kind"]] = obj
    return out


def guardlet_container(daemonset):
    (c,) = [c for c in daemonset["spec"]["template"]["spec"]["containers"] if c["name"] == "guardlet"]
    return c


def arg_value(args, *names):
    """The value after the first of names in an argv list ("--opt VALUE" or "--opt=VALUE"), else None."""
    for i, a in enumerate(args):
        for n in names:
            if a == n and i + 1 < len(args):
                return args[i + 1]
            if a.startswith(n + "="):
                return a[len(n) + 1:]
    return None
