"""test_manifests.py: the Kubernetes manifests and Dockerfile in packaging/kubernetes, checked offline:
YAML lint, API schemas (kubernetes-models under node), the ConfigMap's guardlet.conf and the DaemonSet's
arguments against the real binary, and the image's runtime packages against what the binaries link."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import k8smanifests as km
from harness import GUARDLET, GUARDLETCTL, TempDirTest, write

K8S_TESTS = os.path.join(km.REPO, "tests", "k8s")
DOCKERFILE = os.path.join(km.MANIFEST_DIR, "Dockerfile")
# In every Debian image: the C library (libc, libm) and the dynamic loader. Everything else is checked.
BASE_IMAGE = {"libc6"}
# Libraries the colleague's metrics endpoint links; the image must carry it before the binary does.
ALWAYS_RUNTIME = {"libmicrohttpd12"}


def run(cmd, timeout=60, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout,
                          **kw)


def need_yaml(test):
    if km.yaml is None:
        test.skipTest("python3-yaml is not installed (make deps)")


class AllInOneTest(unittest.TestCase):
    def test_guardlet_yaml_is_generated_from_the_parts(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "guardlet.yaml")
            r = run([os.path.join(km.MANIFEST_DIR, "generate.sh"), out])
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(out) as f, open(km.ALL_IN_ONE) as g:
                self.assertEqual(g.read(), f.read(),
                                 "packaging/kubernetes/guardlet.yaml is stale: run packaging/kubernetes/generate.sh")

    def test_parts_hold_one_object_each_and_the_whole_set(self):
        need_yaml(self)
        kinds = []
        for p in km.part_files():
            objs = km.load(p)
            self.assertEqual(len(objs), 1, f"{p}: expected one object")
            kinds.append(objs[0]["kind"])
        self.assertEqual(kinds, ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                                 "ConfigMap", "DaemonSet"])
        self.assertEqual([o["kind"] for o in km.load(km.ALL_IN_ONE)], kinds)


class LintTest(unittest.TestCase):
    def test_yamllint(self):
        if not shutil.which("yamllint"):
            self.skipTest("yamllint is not installed (make deps)")
        r = run(["yamllint", "--strict", "-c", os.path.join(km.MANIFEST_DIR, ".yamllint"), km.MANIFEST_DIR])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class SchemaTest(unittest.TestCase):
    def setUp(self):
        if not shutil.which("node"):
            self.skipTest("node is not installed (make deps)")
        if not os.path.isdir(os.path.join(K8S_TESTS, "node_modules", "kubernetes-models")):
            self.skipTest("kubernetes-models is not installed: `npm ci --prefix tests/k8s` (make deps) "
                          "failed or was not run")

    def validate(self, *files):
        return run(["node", os.path.join(K8S_TESTS, "validate.js")] + list(files))

    def test_every_object_validates(self):
        r = self.validate()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for p in km.part_files() + [km.ALL_IN_ONE]:
            self.assertIn(f"OK {p}:", r.stdout)

    def test_a_broken_object_is_named(self):
        # The validator itself must fail, naming file and object, or the check above proves nothing.
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(km.MANIFEST_DIR, "05-daemonset.yaml")) as f:
                text = f.read()
            bad = os.path.join(tmp, "bad.yaml")
            write(bad, text.replace("hostPID: true", 'hostPID: "yes"') + "---\napiVersion: v1\nkind: Nope\n"
                  "metadata:\n  name: x\n---\n" + text.replace("priorityClassName:", "priorityClasName:"))
            r = self.validate(bad)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(f"{bad}: object #1 DaemonSet/guardlet: /spec/template/spec/hostPID must be boolean",
                      r.stdout)
        self.assertIn(f"{bad}: object #2 Nope/x:", r.stdout)
        # A misspelt field: the schemas alone accept it; strict.js must not.
        self.assertIn(f"{bad}: object #3 DaemonSet/guardlet: /spec/template/spec/priorityClasName: unknown field",
                      r.stdout)


class AgainstBinaryTest(TempDirTest):
    """The ConfigMap and the DaemonSet's command line as the real guardlet sees them."""

    def setUp(self):
        super().setUp()
        need_yaml(self)
        self.objs = km.objects()
        self.container = km.guardlet_container(self.objs["DaemonSet"])
        self.args = self.container["args"]
        self.conf = os.path.join(self.tmp, "guardlet.conf")
        write(self.conf, self.objs["ConfigMap"]["data"]["guardlet.conf"])

    def test_configmap_config_is_valid(self):
        r = self.run_guardlet(["--check-config", "-c", self.conf])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.strip(), "configuration OK")

    def test_daemonset_args_are_accepted(self):
        r = self.run_guardlet(["--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        known = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])\b", r.stdout))
        self.assertIn("--proc-root", known)
        flags = [a.split("=")[0] for a in self.args if a.startswith("-")]
        self.assertTrue(flags)
        for a in flags:
            self.assertIn(a, known, f"DaemonSet argument {a} is not in guardlet --help")
        # The whole command line with the ConfigMap's file: only the config path is swapped for ours.
        args = list(self.args)
        args[args.index(km.arg_value(args, "--config", "-c"))] = self.conf
        r = self.run_guardlet(args + ["--check-config"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.strip(), "configuration OK")

    def test_daemonset_wiring(self):
        spec = self.objs["DaemonSet"]["spec"]["template"]["spec"]
        self.assertEqual(spec["priorityClassName"], "system-node-critical")
        self.assertEqual(spec["tolerations"], [{"operator": "Exists"}])
        self.assertEqual(spec["serviceAccountName"], self.objs["ServiceAccount"]["metadata"]["name"])
        env = {e["name"]: e for e in self.container["env"]}
        self.assertEqual(env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName")
        self.assertEqual(km.arg_value(self.args, "--log-target"), "stderr")
        self.assertEqual(km.arg_value(self.args, "--log-format"), "json")
        # Every path argument is a mount of the host path it stands for.
        mounts = {m["mountPath"]: m for m in self.container["volumeMounts"]}
        vols = {v["name"]: v for v in spec["volumes"]}
        for opt, host, ro in (("--cgroup-root", "/sys/fs/cgroup", False), ("--proc-root", "/proc", True)):
            m = mounts[km.arg_value(self.args, opt)]
            self.assertEqual(vols[m["name"]]["hostPath"]["path"], host)
            self.assertEqual(bool(m.get("readOnly")), ro, opt)
        conf_dir = os.path.dirname(km.arg_value(self.args, "--config", "-c"))
        cm = vols[mounts[conf_dir]["name"]]["configMap"]["name"]
        self.assertEqual(cm, self.objs["ConfigMap"]["metadata"]["name"])
        # The probes reach /healthz on the port the ConfigMap's MetricsListen binds on every address.
        listen = re.search(r"^MetricsListen=(\S+)", self.objs["ConfigMap"]["data"]["guardlet.conf"], re.M)
        self.assertIsNotNone(listen)
        host, port = listen.group(1).rsplit(":", 1)
        self.assertIn(host, ("0.0.0.0", "[::]"), "the kubelet probes the pod IP, not 127.0.0.1")
        ports = {p["name"]: p["containerPort"] for p in self.container["ports"]}
        for probe in ("livenessProbe", "readinessProbe"):
            get = self.container[probe]["httpGet"]
            self.assertEqual(get["path"], "/healthz")
            self.assertEqual(ports.get(get["port"], get["port"]), int(port))
        # The image is this version's (generate the manifests anew on a version bump).
        version = self.run_guardlet(["--version"]).stdout.split()[-1]
        self.assertTrue(self.container["image"].endswith(":" + version), self.container["image"])
        sc = self.container["securityContext"]
        self.assertEqual(sorted(sc["capabilities"]["add"]), ["IPC_LOCK", "KILL", "SYS_RESOURCE"])
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])


def dockerfile_packages(text, stage=-1):
    """Packages apt-get installed in one of the Dockerfile's stages (default: the last, the runtime)."""
    text = text.replace("\\\n", " ")
    stages = re.split(r"^FROM\s", text, flags=re.M)[1:]
    pkgs = set()
    for line in stages[stage].splitlines():
        if not line.startswith("RUN"):
            continue
        for cmd in re.split(r"&&|;", line):
            words = cmd.split()
            if "apt-get" in words and "install" in words:
                pkgs.update(w for w in words[words.index("install") + 1:] if not w.startswith("-"))
    return pkgs


def packages_of(paths):
    """{library path: Debian package shipping it}, from one dpkg -S (it reads every file list: slow per
    call). usrmerge: /lib and /usr/lib are the same, but dpkg knows each file under one of them."""
    variants = {}
    for path in paths:
        for p in (path, os.path.realpath(path)):
            variants.setdefault(p, path)
            variants.setdefault("/usr" + p if p.startswith("/lib") else p[4:] if p.startswith("/usr/lib") else p,
                                path)
    r = run(["dpkg", "-S"] + sorted(variants), timeout=120)
    out = {}
    for line in r.stdout.splitlines():
        pkgs, _, file = line.partition(": ")
        if file in variants and ", " not in pkgs:
            out.setdefault(variants[file], pkgs.split(":")[0])
    return out


class DockerfileTest(unittest.TestCase):
    def setUp(self):
        for tool in ("ldd", "dpkg", "readelf", "apt-cache", "pkg-config", "gcc"):
            if not shutil.which(tool):
                self.skipTest(f"{tool} is not available")
        for b in (GUARDLET, GUARDLETCTL):
            if not os.path.exists(b):
                self.skipTest(f"{b} is not built")
        with open(DOCKERFILE) as f:
            self.text = f.read()
        self.listed = dockerfile_packages(self.text)

    def libs(self, binary):
        """{soname: path} that ldd resolves."""
        r = run(["ldd", binary])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = dict(re.findall(r"^\s*(\S+) => (/\S+)", r.stdout, re.M))
        if any(re.match(r"lib(asan|ubsan|lsan|tsan)\.", k) for k in out):
            # The sanitizer runtimes bring libstdc++ and libgcc_s along; the image ships the plain build.
            self.skipTest(f"{binary} is a sanitizer build; the plain build's run checks the image")
        return out

    def closure(self, pkgs):
        """pkgs and everything they depend on, recursively (what apt-get install brings along)."""
        r = run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
                 "--no-breaks", "--no-replaces", "--no-enhances"] + sorted(pkgs), timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        return {ln.split(":")[0] for ln in r.stdout.splitlines() if ln and not ln.startswith((" ", "<"))}

    def test_runtime_stage_is_bookworm_slim_with_both_binaries(self):
        self.assertRegex(self.text, r"(?m)^FROM debian:bookworm AS build$")
        self.assertRegex(self.text, r"(?m)^FROM debian:bookworm-slim$")
        self.assertRegex(self.text, r"(?m)^RUN make .*all")
        self.assertRegex(self.text, r"(?m)^COPY --from=build /src/build/guardlet /usr/sbin/guardlet$")
        self.assertRegex(self.text, r"(?m)^COPY --from=build /src/build/guardletctl /usr/bin/guardletctl$")
        self.assertTrue(ALWAYS_RUNTIME <= self.listed, self.listed)
        self.assertFalse([p for p in self.listed if p.endswith("-dev")], "no -dev packages at run time")

    def test_build_stage_has_every_library_the_makefile_links(self):
        with open(os.path.join(km.REPO, "Makefile")) as f:
            mk = f.read()
        modules = re.search(r"^PKGS := (.*)$", mk, re.M).group(1).split()
        libs = re.findall(r"-l(\w+)", re.search(r"^LDLIBS \+= (.*)$", mk, re.M).group(1))
        files = []
        for m in modules:
            r = run(["pkg-config", "--variable=pcfiledir", m])
            self.assertEqual(r.returncode, 0, f"pkg-config {m}: {r.stderr}")
            files.append(os.path.join(r.stdout.strip(), m + ".pc"))
        for lib in libs:
            if lib not in ("m", "c"):  # libc6-dev comes with build-essential
                files.append(os.path.normpath(run(["gcc", f"-print-file-name=lib{lib}.so"]).stdout.strip()))
        owner = packages_of(files)
        build = dockerfile_packages(self.text, stage=0)
        self.assertIn("build-essential", build)
        for f in files:
            self.assertIn(owner.get(f), build, f"{f} ({owner.get(f)}) is missing from the build stage")

    def test_runtime_packages_cover_every_library(self):
        closure = self.closure(self.listed)
        for binary in (GUARDLET, GUARDLETCTL):
            needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                                    run(["readelf", "-d", binary]).stdout))
            self.assertTrue(needed, binary)
            libs = self.libs(binary)
            owner = packages_of(libs.values())
            for soname, path in libs.items():
                pkg = owner.get(path)
                self.assertIsNotNone(pkg, f"{binary}: no Debian package ships {path}")
                if soname in needed and pkg not in BASE_IMAGE:
                    # Linked directly: the Dockerfile names it rather than relying on luck.
                    self.assertIn(pkg, self.listed, f"{binary} links {soname} from {pkg}: add {pkg} to the "
                                                    f"Dockerfile's runtime apt-get install")
                else:
                    self.assertIn(pkg, closure, f"{binary} loads {soname} from {pkg}, which no runtime "
                                                f"package brings along")


if __name__ == "__main__":
    unittest.main()
