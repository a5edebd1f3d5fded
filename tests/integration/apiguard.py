"""apiguard.py: the API-mode set-up shared by test_api_guard.py and test_rbac.py: a fake API server with
one node and two pods in "shop", their fixture cgroups (v2, systemd driver) and a fixture proc root at 5%
of 8 GiB available (below EvictBelow, above KillBelow), and a short-interval guardlet.conf."""
import os
import sys
import tempfile
import time

from cgfixture import CgroupFixture, Figures, MiB, pod_uid
from harness import GiB, ProcFixture, TempDirTest, write

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fakeapi"))
import fakeapi  # noqa: E402

NODE = "node-a"


class ApiGuardBase(TempDirTest):
    # Extra FakeAPIServer keyword arguments (test_rbac.py passes rbac=...).
    fakeapi_options = {}

    def setUp(self):
        super().setUp()
        opts = {"tls": False, "max_seconds": 120, **self.fakeapi_options}
        self.api = fakeapi.FakeAPIServer(tempfile.mkdtemp(dir=self.tmp), **opts).start()
        self.addCleanup(self.api.stop)
        self.api.add_node(NODE)
        self.proc_root = os.path.join(self.tmp, "proc")
        self.proc = ProcFixture(self.proc_root, cpus=4)
        # 5% available of 8 GiB: below EvictBelow (8%), above KillBelow (3%).
        self.proc.set_memory(total=8 * GiB, free=400 * MiB, inactive_file=10 * MiB)
        self.cg = CgroupFixture("v2-systemd", parent=self.tmp)
        self.addCleanup(self.cg.cleanup)
        self.big, self.second = pod_uid(1), pod_uid(2)
        for uid, name, ws in ((self.big, "big", 3 * GiB), (self.second, "second", 2 * GiB)):
            self.cg.add_pod(uid, "burstable", Figures(memory_current=ws, memory_max=None, inactive_file=0))
            self.cg.write(uid, "cgroup.kill", "")
            self.api.add_pod(name, "shop", node=NODE, uid=uid, labels={"app": name})
        self.conf = os.path.join(self.tmp, "guardlet.conf")
        write(self.conf, "[Guard]\nInterval=200ms\n[Actions]\nPostActionDelay=1s\nEvictGracePeriod=7s\n"
                         "EmergencyAfter=1min\n[Runaway]\nLeakWindow=2s\n"
                         "[Memory]\nPressureDuration=1s\n[CPU]\nPressureDuration=1s\n")

    def start_guard(self, extra=(), kubeconfig=None, **kw):
        return self.start(["-c", self.conf, "--kubeconfig", kubeconfig or self.api.kubeconfig, "--node-name",
                           NODE, "--proc-root", self.proc_root, "--cgroup-root", self.cg.root] + list(extra), **kw)

    def wait_evictions(self, n, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.api.lock:
                done = [e for e in self.api.evictions if e.get("code") is not None]
            if len(done) >= n:
                return done
            time.sleep(0.05)
        self.fail(f"expected {n} evictions, the fake saw {self.api.evictions}")
