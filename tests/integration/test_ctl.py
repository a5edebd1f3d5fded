"""test_ctl.py: guardletctl against the real daemon's status socket, in local mode on a fixture node under memory pressure."""
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time

from cgfixture import CgroupFixture, Figures, MiB, pod_uid
from apiguard import NODE, ApiGuardBase
from harness import GUARDLET, GUARDLETCTL, SLOW, WRAPPER, GiB, ProcFixture, TempDirTest, write

CAPACITY = 8 * GiB
BIG, MID, SHIELDED, GUARANTEED = pod_uid(1), pod_uid(2), pod_uid(3), pod_uid(4)


class CtlTest(TempDirTest):
    """One node, 12% available (below the default ThrottleBelow of 15%): the daemon, in dry-run,
    decides to throttle the largest unprotected pod and reports the protected one it passed over."""

    def setUp(self):
        super().setUp()
        os.chmod(self.tmp, 0o755)  # so that only the socket's own mode keeps others out
        self.proc = os.path.join(self.tmp, "proc")
        fx = ProcFixture(self.proc, cpus=4)
        avail = CAPACITY * 12 // 100
        fx.set_memory(total=CAPACITY, free=avail - 64 * MiB, inactive_file=64 * MiB)
        self.cg = CgroupFixture("v2-systemd", parent=self.tmp)
        self.addCleanup(self.cg.cleanup)
        flat = dict(inactive_file=0, memory_max=None, pids_current=4)
        self.cg.add_pod(BIG, "besteffort", Figures(memory_current=2 * GiB, **flat), ["containerd"])
        self.cg.add_pod(MID, "burstable", Figures(memory_current=1 * GiB, **flat), ["containerd"])
        self.cg.add_pod(SHIELDED, "burstable", Figures(memory_current=3 * GiB, **flat), ["containerd"])
        self.cg.add_pod(GUARANTEED, "guaranteed",
                        Figures(memory_current=512 * MiB, inactive_file=0, memory_max=1 * GiB, pids_current=9),
                        ["containerd"])
        self.conf = os.path.join(self.tmp, "guardlet.conf")
        self.sock = os.path.join(self.tmp, "run", "guardlet", "guardlet.sock")  # parent made by the daemon
        write(self.conf, "[Guard]\nInterval=200ms\n[Actions]\nPostActionDelay=1min\n"
                         f"[Protect]\nPodUIDs={SHIELDED}\n")

    def args(self, sock=None):
        return ["-c", self.conf, "--no-api", "--dry-run", "--proc-root", self.proc, "--cgroup-root",
                self.cg.root, "--set", f"Guard.StatusSocket={sock or self.sock}"]

    def start_guard(self, sock=None):
        d = self.start(self.args(sock))
        d.wait_for(lambda e: e.get("GUARDLET_ACTION") == "throttle-memory" and e.get("POD_UID") == BIG,
                   timeout=20)
        return d

    def ctl(self, *args, sock=None, prefix=(), check=None, binary=GUARDLETCTL):
        p = subprocess.run(list(prefix) + WRAPPER + [binary, "--socket", sock or self.sock] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60 * SLOW)
        if check is not None:
            self.assertEqual(p.returncode, check, f"guardletctl {args}: {p.stdout}\n{p.stderr}")
        return p

    def ctl_json(self, *args):
        return json.loads(self.ctl("-o", "json", *args, check=0).stdout)

    def test_every_command(self):
        d = self.start_guard()
        st = os.stat(self.sock)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        self.assertEqual(st.st_uid, 0)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(self.sock)).st_mode), 0o755)
        self.assertTrue(any(self.sock in e.get("MESSAGE", "") and "listening" in e.get("MESSAGE", "")
                            for e in d.logs()), "the start-up log says where it listens")

        # status
        j = self.ctl_json("status")
        self.assertEqual((j["protocol"], j["ok"], j["command"]), (1, True, "status"))
        self.assertEqual(j["mode"], "dry-run")
        self.assertEqual(j["api"]["mode"], "local")
        self.assertEqual(j["node"]["memory"]["capacity_bytes"], CAPACITY)
        self.assertEqual(j["node"]["memory"]["available_bytes"], CAPACITY * 12 // 100 // 1024 * 1024)  # meminfo is in kB
        self.assertEqual(j["node"]["cpus"], 4)
        self.assertEqual(j["pressure"]["memory_level"], "throttle")
        self.assertEqual(j["pods"], 4)
        self.assertEqual(j["protected_pods"], 1)
        self.assertGreaterEqual(j["ticks"], 1)
        self.assertAlmostEqual(j["interval_seconds"], 0.2)
        self.assertIn(BIG, [a["uid"] for a in j["recent_actions"]])
        text = self.ctl("status", check=0).stdout
        self.assertIn("dry-run", text)
        self.assertIn("available 983", text)  # 12% of 8Gi = 983Mi
        self.assertIn("(12%)", text)
        self.assertIn("memory level throttle", text)
        self.assertIn("local mode", text)
        self.assertIn("throttle-memory", text)

        # pods: ranked as guardlet picks them; the protected pod ranks first but is marked
        j = self.ctl_json("pods")
        order = [p["uid"] for p in j["pods"]]
        self.assertEqual(order, [SHIELDED, BIG, MID, GUARANTEED])
        pods = {p["uid"]: p for p in j["pods"]}
        self.assertEqual(pods[BIG]["memory"]["working_set_bytes"], 2 * GiB)
        self.assertIsNone(pods[BIG]["memory"]["limit_bytes"])
        self.assertEqual(pods[GUARANTEED]["memory"]["limit_bytes"], 1 * GiB)
        self.assertEqual(pods[GUARANTEED]["pids"], 9)
        self.assertEqual(pods[BIG]["qos"], "besteffort")
        self.assertTrue(pods[SHIELDED]["protected"])
        self.assertEqual(pods[SHIELDED]["protected_by"], ["pod-uid"])
        self.assertFalse(pods[BIG]["protected"])
        self.assertTrue(pods[BIG]["in_force"]["memory_throttled"], "dry-run records what enforce would do")
        lines = self.ctl("pods", check=0).stdout.splitlines()
        self.assertTrue(lines[0].startswith("RANK"))
        self.assertIn(SHIELDED, lines[1])
        self.assertIn("pod-uid", lines[1])
        self.assertIn(BIG, lines[2])
        self.assertIn("2Gi", lines[2])
        self.assertIn("1Gi", lines[4])  # the Guaranteed pod's limit

        # explain: the chosen pod, the protected one, one that is not first, an unknown one
        j = self.ctl_json("explain", BIG)
        self.assertEqual(j["pod"]["uid"], BIG)
        self.assertEqual(j["rank"]["position"], 2)
        self.assertEqual(j["rank"]["candidate_position"], 1)
        self.assertEqual(j["rank"]["working_set_bytes"], 2 * GiB)
        # Throttled on the first tick; now the PostActionDelay holds the signal back.
        self.assertEqual(j["verdict"], "held")
        self.assertGreater(j["hold"]["post_action_delay_left_seconds"], 0)
        self.assertTrue(j["pod"]["in_force"]["memory_throttled"])
        sig = {s["signal"]: s for s in j["pressure"]["signals"]}
        self.assertTrue(sig["memory-low"]["active"])
        self.assertEqual(sig["memory-low"]["action"], "throttle-memory")
        self.assertIn("ThrottleBelow", sig["memory-low"]["detail"])
        self.assertEqual(j["recent_actions"][0]["action"], "throttle-memory")
        text = self.ctl("explain", BIG, check=0).stdout
        self.assertIn("verdict:     held", text)
        self.assertIn("candidate 1 of 3", text)
        self.assertIn("PostActionDelay", text)

        j = self.ctl_json("explain", SHIELDED)
        self.assertEqual(j["verdict"], "protected")
        self.assertTrue(j["protected"])
        self.assertEqual(j["protected_by"], ["pod-uid"])
        self.assertIsNone(j["rank"]["candidate_position"])
        self.assertEqual(j["recent_actions"][0]["skip"], "protected", "passing it over was reported")
        text = self.ctl("explain", SHIELDED, check=0).stdout
        self.assertIn("protected:   yes, by pod-uid", text)

        j = self.ctl_json("explain", MID)
        self.assertEqual(j["verdict"], "not-first")
        self.assertEqual(j["rank"]["first"]["uid"], BIG)

        p = self.ctl("explain", "shop/nothing-here", check=1)
        self.assertEqual(p.stderr.strip(), "guardletctl: no pod shop/nothing-here on this node")
        p = self.ctl("-o", "json", "explain", "shop/nothing-here", check=1)
        self.assertEqual(json.loads(p.stdout)["error"]["code"], "no-pod")

        # actions: newest first, with the decision's figures in words
        j = self.ctl_json("actions")
        acts = j["actions"]
        throttle = next(a for a in acts if a["action"] == "throttle-memory")
        self.assertEqual(throttle["uid"], BIG)
        self.assertEqual(throttle["reason"], "memory-low")
        self.assertTrue(throttle["dry_run"])
        self.assertFalse(throttle["done"])
        self.assertIsNone(throttle["error"])
        self.assertTrue(throttle["detail"])
        self.assertAlmostEqual(throttle["time"], time.time(), delta=120 * SLOW)
        self.assertEqual(acts, sorted(acts, key=lambda a: a["seconds_ago"]), "newest first")
        text = self.ctl("actions", check=0).stdout
        self.assertTrue(text.startswith("TIME"))
        self.assertIn("dry-run", text)
        self.assertIn(BIG, text)

        # a raw client speaking the protocol: bad requests are answered, not dropped
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(30 * SLOW)
            s.connect(self.sock)
            s.sendall(b"frobnicate\n")
            answer = json.loads(s.makefile().read())
        self.assertEqual(answer["error"]["code"], "bad-request")

        # nothing was written to the fixture: dry-run
        with open(os.path.join(self.cg.root, self.cg.pods[BIG].cgroup, "memory.high")) as f:
            self.assertEqual(f.read().strip(), "max")

        # a second guardlet on the same socket refuses to start
        p = subprocess.run(WRAPPER + [self.guardlet()] + self.args() + ["--log-target", "stderr"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60 * SLOW)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn(self.sock, p.stderr)
        self.assertIn("Another guardlet", p.stderr)
        self.ctl("status", check=0)  # and the first one still answers

        self.assertEqual(d.stop(), 0)
        self.assertFalse(os.path.exists(self.sock), "the socket is removed at exit")

        p = self.ctl("status", check=3)
        self.assertEqual(p.stderr.strip(), f"guardletctl: guardlet is not running (no socket at {self.sock})")

    def by_config(self, *args, check):
        p = subprocess.run(WRAPPER + [GUARDLETCTL, "-c", self.conf] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60 * SLOW)
        self.assertEqual(p.returncode, check, p.stderr)
        return p

    def test_usage_errors(self):
        for args in (["explain"], ["explain", "a b"], ["pods", "extra"], ["-o", "yaml", "pods"]):
            p = self.ctl(*args, check=2)
            self.assertIn("guardletctl: ", p.stderr)

    def guardlet(self):
        return GUARDLET

    def test_permission_denied_for_others(self):
        if os.geteuid() != 0 or not shutil.which("setpriv"):
            self.skipTest("needs root and setpriv to run guardletctl as nobody")
        # nobody must be able to run the program itself, wherever the build tree is (a clean clone
        # under a 0700 mktemp directory is not): a copy in a world-readable folder. What nobody
        # then cannot reach is the socket, which is the point.
        shared = tempfile.mkdtemp(prefix="guardletctl-")
        self.addCleanup(shutil.rmtree, shared, True)
        os.chmod(shared, 0o755)
        ctl = os.path.join(shared, "guardletctl")
        shutil.copy(GUARDLETCTL, ctl)
        os.chmod(ctl, 0o755)
        d = self.start_guard()
        p = self.ctl("status", prefix=["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"], check=3,
                     binary=ctl)
        self.assertEqual(p.stderr.strip(), f"guardletctl: permission denied on {self.sock} (run as root)")
        self.assertEqual(d.stop(), 0)

    def test_stale_socket_replaced_and_file_refused(self):
        os.makedirs(os.path.dirname(self.sock))
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(self.sock)  # bound, never listening, then closed: what a crashed daemon leaves
        stale.close()
        d = self.start_guard()
        d.wait_for(lambda e: "stale" in e.get("MESSAGE", "") and self.sock in e.get("MESSAGE", ""))
        self.assertEqual(self.ctl_json("status")["pods"], 4)
        self.assertEqual(d.stop(), 0)
        self.assertFalse(os.path.exists(self.sock))

        write(self.sock, "not a socket\n")
        p = subprocess.run(WRAPPER + [self.guardlet()] + self.args() + ["--log-target", "stderr"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60 * SLOW)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn(f"{self.sock} exists and is not a socket", p.stderr)
        with open(self.sock) as f:
            self.assertEqual(f.read(), "not a socket\n", "a file that is not ours is left alone")

    def test_reload_moves_and_disables(self):
        first = os.path.join(self.tmp, "a.sock")
        second = os.path.join(self.tmp, "b", "b.sock")
        with open(self.conf) as f:
            base = f.read()
        write(self.conf, base + f"[Guard]\nStatusSocket={first}\n")
        args = [a for a in self.args() if not a.startswith("Guard.StatusSocket")]
        args.remove("--set")
        d = self.start(args)
        d.wait_for(lambda e: first in e.get("MESSAGE", "") and "listening" in e.get("MESSAGE", ""))
        self.ctl("status", sock=first, check=0)
        # Without --socket, guardletctl reads StatusSocket from the daemon's configuration.
        self.assertEqual(json.loads(self.by_config("-o", "json", "status", check=0).stdout)["pods"], 4)

        # a move that fails (the new path is a file) keeps the old socket
        write(second, "in the way\n")
        write(self.conf, base + f"[Guard]\nStatusSocket={second}\n")
        d.signal(signal.SIGHUP)
        d.wait_for(lambda e: "keeping the status socket" in e.get("MESSAGE", ""))
        self.ctl("status", sock=first, check=0)

        os.unlink(second)
        d.signal(signal.SIGHUP)
        d.wait_for(lambda e: "moved" in e.get("MESSAGE", "") and second in e.get("MESSAGE", ""))
        self.ctl("status", sock=second, check=0)
        self.assertFalse(os.path.exists(first))

        write(self.conf, base + "[Guard]\nStatusSocket=\n")
        d.signal(signal.SIGHUP)
        d.wait_for(lambda e: "StatusSocket is empty" in e.get("MESSAGE", ""))
        self.assertFalse(os.path.exists(second))
        p = self.by_config("status", check=3)
        self.assertIn("the status socket is disabled", p.stderr)
        self.assertEqual(d.stop(), 0)


class CtlApiModeTest(ApiGuardBase):
    """API mode against the fake API server: pods have names, and explain takes NAMESPACE/POD."""

    def test_names_and_namespace_protection(self):
        dns = pod_uid(9)
        self.cg.add_pod(dns, "burstable", Figures(memory_current=4 * GiB, memory_max=None, inactive_file=0))
        self.api.add_pod("dns", "kube-system", node=NODE, uid=dns, labels={"app": "dns"})
        sock = os.path.join(self.tmp, "api.sock")
        # One eviction a minute: one eviction for the whole test, however slow the machine.
        d = self.start_guard(["--dry-run", "--set", f"Guard.StatusSocket={sock}",
                              "--set", "Actions.MaxEvictionsPerMinute=1"])
        # A dry-run eviction of shop/big: the watch has synced and the names are joined.
        d.wait_for(lambda e: e.get("GUARDLET_ACTION") == "evict" and e.get("POD_NAME") == "big", timeout=20)

        def ctl(*args, check=0):
            p = subprocess.run(WRAPPER + [GUARDLETCTL, "--socket", sock] + list(args), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=60 * SLOW)
            self.assertEqual(p.returncode, check, p.stderr)
            return p

        st = json.loads(ctl("-o", "json", "status").stdout)
        self.assertEqual(st["api"]["mode"], "api")
        self.assertTrue(st["api"]["synced"])
        self.assertEqual(st["api"]["pods"], 3)
        self.assertIn("synced, 3 pods known", ctl("status").stdout)

        pods = json.loads(ctl("-o", "json", "pods").stdout)["pods"]
        self.assertEqual([(p["namespace"], p["name"]) for p in pods],
                         [("kube-system", "dns"), ("shop", "big"), ("shop", "second")])
        self.assertEqual(pods[0]["protected_by"], ["namespace"])
        lines = ctl("pods").stdout.splitlines()
        self.assertIn("kube-system/dns", lines[1])
        self.assertIn("namespace", lines[1])
        self.assertIn("shop/big", lines[2])

        j = json.loads(ctl("-o", "json", "explain", "kube-system/dns").stdout)
        self.assertEqual(j["verdict"], "protected")
        self.assertEqual(j["protected_by"], ["namespace"])
        # Dry-run records what enforce would do: shop/big's eviction is pending, so shop/second is
        # the one candidate left, held back (by the PostActionDelay, then by the rate limit).
        j = json.loads(ctl("-o", "json", "explain", "shop/big").stdout)
        self.assertEqual(j["verdict"], "dying")
        self.assertTrue(j["pod"]["in_force"]["eviction_pending"])
        j = json.loads(ctl("-o", "json", "explain", "shop/second").stdout)
        self.assertEqual(j["verdict"], "held")
        self.assertTrue("PostActionDelay" in j["summary"] or "MaxEvictionsPerMinute" in j["summary"], j["summary"])
        self.assertEqual(j["hold"]["evictions_last_minute"], 1)
        self.assertEqual(j["action"], "evict")
        self.assertEqual((j["rank"]["candidate_position"], j["rank"]["candidates"]), (1, 1))
        self.assertEqual({s["signal"]: s["action"] for s in j["pressure"]["signals"]}["memory-low"], "evict")
        self.assertIn("pod:         shop/second (uid ", ctl("explain", "shop/second").stdout)
        p = ctl("explain", "shop/gone", check=1)
        self.assertEqual(p.stderr.strip(), "guardletctl: no pod shop/gone on this node")
        acts = json.loads(ctl("-o", "json", "actions").stdout)["actions"]
        self.assertIn(("evict", "shop", "big"), [(a["action"], a["namespace"], a["name"]) for a in acts])
        self.assertEqual(d.stop(), 0)
