"""test_package.py: the Debian package: builds from the working tree, lints clean, installs into a scratch
root, upgrades keeping an edited conffile, and purges without a trace.

Slow (two package builds): `make check-package` runs it, once, in check-all. Scratch roots are dpkg
--root installs whose maintainer scripts run chrootless (DPKG_ROOT set); the host's dpkg database
and systemd state are checked to be untouched."""
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import shipping  # noqa: E402

TOP = shipping.TOP
BUILDDIR = os.path.abspath(os.environ.get("GUARDLET_BUILDDIR", os.path.join(TOP, "build")))
TOOLS = ("dpkg-buildpackage", "dpkg-deb", "dpkg", "lintian", "dh", "git")
CONF = "/etc/guardlet/guardlet.conf"
# What the package must install, with modes; dh adds docs (checked separately).
EXPECTED = {
    "/usr/sbin/guardlet": 0o755,
    "/usr/bin/guardletctl": 0o755,
    "/lib/systemd/system/guardlet.service": 0o644,
    "/usr/lib/systemd/catalog/guardlet.catalog": 0o644,
    CONF: 0o644,
    "/etc/guardlet/guardlet.conf.d": 0o755,
    "/usr/share/man/man8/guardlet.8.gz": 0o644,
    "/usr/share/man/man5/guardlet.conf.5.gz": 0o644,
    "/usr/share/man/man1/guardletctl.1.gz": 0o644,
    "/usr/share/doc/guardlet/copyright": 0o644,
    "/usr/share/doc/guardlet/changelog.gz": 0o644,
}
# Host state a scratch-root install must not touch.
HOST_STATE = ("/var/lib/dpkg/status", "/etc/systemd/system", "/var/lib/systemd/deb-systemd-helper-enabled",
              "/etc/guardlet", "/usr/sbin/guardlet")


def version_h():
    with open(os.path.join(TOP, "include", "guardlet", "version.h")) as f:
        return re.search(r'#define GL_VERSION "([^"]+)"', f.read()).group(1)


def run(cmd, **kw):
    kw.setdefault("timeout", 900)
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def host_snapshot():
    snap = {}
    for p in HOST_STATE:
        if os.path.isfile(p):
            with open(p, "rb") as f:
                snap[p] = hashlib.sha256(f.read()).hexdigest()
        elif os.path.isdir(p):
            snap[p] = sorted(os.path.relpath(os.path.join(d, n), p)
                             for d, ds, fs in os.walk(p) for n in ds + fs)
        else:
            snap[p] = None
    return snap


class ChangelogTest(unittest.TestCase):
    def test_changelog_version_is_version_h(self):
        with open(os.path.join(TOP, "packaging", "debian", "changelog")) as f:
            first = f.readline()
        m = re.match(r"^guardlet \(([^)]+)\) ", first)
        self.assertIsNotNone(m, first)
        self.assertEqual(m.group(1), version_h())


class Deb:
    """One built package version."""

    def __init__(self, version):
        arch = run(["dpkg", "--print-architecture"]).stdout.strip()
        self.version = version
        self.dir = os.path.join(BUILDDIR, "deb")
        self.deb = os.path.join(self.dir, f"guardlet_{version}_{arch}.deb")
        self.changes = os.path.join(self.dir, f"guardlet_{version}_{arch}.changes")
        t0 = time.monotonic()
        self.build = run(["make", "-C", TOP, f"BUILDDIR={BUILDDIR}", f"DEB_VERSION={version}",
                          "deb"])
        self.seconds = time.monotonic() - t0
        print(f"\npackage {version}: built in {self.seconds:.1f}s", file=sys.stderr, flush=True)


class PackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = [t for t in TOOLS if not shutil.which(t)]
        if missing:
            raise unittest.SkipTest(f"package tests need {', '.join(missing)} "
                                    "(apt-get install dpkg-dev debhelper lintian git)")
        if os.geteuid() != 0:
            raise unittest.SkipTest("package tests need root (dpkg --root installs own files as root)")
        cls.version = version_h()
        cls.v1 = Deb(cls.version)
        cls.v2 = Deb(cls.version + "+test1") if cls.v1.build.returncode == 0 else None

    def setUp(self):
        self.assertEqual(self.v1.build.returncode, 0, self.v1.build.stdout[-4000:])
        self.assertTrue(os.path.exists(self.v1.deb), self.v1.deb)

    def contents(self, deb):
        """{path: mode} of the .deb's data."""
        r = run(["dpkg-deb", "-c", deb])
        self.assertEqual(r.returncode, 0, r.stdout)
        listing = r.stdout
        files = {}
        for line in listing.splitlines():
            perms, _, _, _, _, path = line.split(None, 5)
            path = path.split(" -> ")[0].lstrip(".").rstrip("/") or "/"
            mode = 0
            for i, ch in enumerate(perms[1:10]):
                if ch != "-":
                    mode |= 1 << (8 - i)
            files[path] = (perms[0], mode)
        return files

    def test_lintian_clean(self):
        t0 = time.monotonic()
        r = run(["lintian", "--pedantic", "--info", "--fail-on", "error,warning",
                 self.v1.changes, self.v1.deb])
        print(f"\nlintian: {time.monotonic() - t0:.1f}s", file=sys.stderr, flush=True)
        tags = [ln for ln in r.stdout.splitlines() if re.match(r"^[EW]: ", ln)]
        self.assertEqual(tags, [], r.stdout)
        self.assertEqual(r.returncode, 0, r.stdout)

    def test_files_and_modes(self):
        files = self.contents(self.v1.deb)
        for path, mode in EXPECTED.items():
            self.assertIn(path, files, f"{path} is not in the package")
            self.assertEqual(files[path][1], mode, f"{path}: mode {files[path][1]:o}")
        self.assertEqual(files["/etc/guardlet/guardlet.conf.d"][0], "d")
        unexpected = [p for p, (kind, _) in files.items() if kind != "d" and p not in EXPECTED]
        self.assertEqual(unexpected, [])

    def test_conffiles(self):
        r = run(["dpkg-deb", "-f", self.v1.deb, "Version"])
        self.assertEqual(r.stdout.strip(), self.version)
        with tempfile.TemporaryDirectory() as d:
            self.assertEqual(run(["dpkg-deb", "-e", self.v1.deb, d]).returncode, 0)
            with open(os.path.join(d, "conffiles")) as f:
                self.assertEqual(f.read().split(), [CONF])

    def test_unit_execstart_is_the_packaged_binary(self):
        with tempfile.TemporaryDirectory() as d:
            self.assertEqual(run(["dpkg-deb", "-x", self.v1.deb, d]).returncode, 0)
            with open(os.path.join(d, "lib/systemd/system/guardlet.service")) as f:
                unit = f.read()
            with open(shipping.UNIT) as f:
                self.assertEqual(unit, f.read(), "the packaged unit differs from systemd/")
            execstart = re.findall(r"(?m)^ExecStart=(\S+)", unit)
            self.assertEqual(execstart, ["/usr/sbin/guardlet"])
            binary = os.path.join(d, execstart[0].lstrip("/"))
            self.assertTrue(os.access(binary, os.X_OK), binary)
            r = run([binary, "--version"])
            self.assertIn(self.version, r.stdout)

    def test_install_upgrade_purge(self):
        self.assertIsNotNone(self.v2)
        self.assertEqual(self.v2.build.returncode, 0, self.v2.build.stdout[-4000:])
        before = host_snapshot()
        root = tempfile.mkdtemp(prefix="guardlet-root-")
        self.addCleanup(shutil.rmtree, root, ignore_errors=True)
        for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"):
            os.makedirs(os.path.join(root, d))
        for f in ("var/lib/dpkg/status", "var/lib/dpkg/available"):
            open(os.path.join(root, f), "w").close()

        def dpkg(*args):
            # The scratch root has no libc6 & co., hence --force-depends. No --force-conf*: a
            # conffile prompt must not be needed (stdin is empty, so one would fail the run).
            return run(["dpkg", f"--root={root}", "--force-script-chrootless", "--force-depends",
                        "--log=/dev/null"] + list(args), stdin=subprocess.DEVNULL)

        def status():
            return run(["dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W",
                        "-f=${Version} ${db:Status-Abbrev}", "guardlet"]).stdout.strip()

        # PID 1 here is not systemd: the maintainer scripts must cope (no systemctl calls fail).
        t0 = time.monotonic()
        r = dpkg("-i", self.v1.deb)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertNotIn("script returned error", r.stdout)
        self.assertEqual(status(), f"{self.version} ii")
        for path, mode in EXPECTED.items():
            st = os.lstat(root + path)
            self.assertEqual(st.st_mode & 0o7777, mode, path)
            self.assertEqual((st.st_uid, st.st_gid), (0, 0), path)
        # Enabled the Debian way, inside the root.
        self.assertTrue(os.path.islink(
            root + "/etc/systemd/system/multi-user.target.wants/guardlet.service"))

        # The installed binary accepts the installed conffile.
        r = run([root + "/usr/sbin/guardlet", "--check-config", "-c", root + CONF])
        self.assertEqual((r.returncode, r.stdout), (0, "configuration OK\n"))

        # Upgrade over an edited conffile: the edit stays, without a prompt.
        with open(root + CONF) as f:
            text = f.read()
        edited = text.replace("#Interval=1s ", "Interval=2s  ", 1)
        self.assertNotEqual(edited, text)
        with open(root + CONF, "w") as f:
            f.write(edited)
        r = dpkg("-i", self.v2.deb)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertEqual(status(), f"{self.v2.version} ii")
        with open(root + CONF) as f:
            self.assertEqual(f.read(), edited)
        self.assertFalse(os.path.exists(root + CONF + ".dpkg-new"))
        r = run([root + "/usr/sbin/guardlet", "--check-config", "-c", root + CONF])
        self.assertEqual((r.returncode, r.stdout), (0, "configuration OK\n"))

        # Remove keeps the conffile; purge leaves nothing of guardlet.
        r = dpkg("-r", "guardlet")
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertTrue(os.path.exists(root + CONF))
        self.assertFalse(os.path.exists(root + "/usr/sbin/guardlet"))
        r = dpkg("-P", "guardlet")
        self.assertEqual(r.returncode, 0, r.stdout)
        print(f"\ninstall, upgrade, remove, purge: {time.monotonic() - t0:.1f}s", file=sys.stderr,
              flush=True)
        left = []
        for d, ds, fs in os.walk(root):
            for n in ds + fs:
                p = os.path.join(d, n)
                if "guardlet" in n or (n in fs and not p.startswith(root + "/var/lib/dpkg")):
                    left.append(os.path.relpath(p, root))
        self.assertEqual(left, [])
        self.assertFalse(os.path.exists(root + "/etc/guardlet"))
        self.assertEqual(host_snapshot(), before, "the host's dpkg or systemd state changed")


if __name__ == "__main__":
    unittest.main()
