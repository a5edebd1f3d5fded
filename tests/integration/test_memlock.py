"""test_memlock.py: [Guard] LockMemory: guardlet locks its memory at start (mlockall), and a failure is a warning."""
import os
import shutil

from harness import GUARDLET, GiB, ProcFixture, TempDirTest, WRAPPER, write

CAP_IPC_LOCK = 14


def vm_locked_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmLck:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmLck in /proc/{pid}/status")


def asan_build():
    """ASan intercepts mlockall and makes it a no-op (locking its shadow memory would be ruinous)."""
    with open(GUARDLET, "rb") as f:
        return b"libasan.so" in f.read()


def have_cap(bit):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) & (1 << bit))
    return False


class MemLockTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.proc = os.path.join(self.tmp, "proc")
        ProcFixture(self.proc, cpus=2).set_memory(total=8 * GiB, free=4 * GiB, inactive_file=1 * GiB)
        self.cg = os.path.join(self.tmp, "cgroup")
        write(os.path.join(self.cg, "cgroup.controllers"), "cpu memory\n")
        self.conf = os.path.join(self.tmp, "guardlet.conf")

    def run_daemon(self, lock, prefix=None):
        write(self.conf, f"[Guard]\nInterval=200ms\nLockMemory={lock}\nMetricsListen=\n"
                         f"StatusSocket={self.tmp}/s.sock\n")
        d = self.start(["-c", self.conf, "--proc-root", self.proc, "--cgroup-root", self.cg,
                        "--no-api", "--node-name", "fixture-node"], prefix=prefix)
        d.wait_for(lambda e: "started on node fixture-node" in e.get("MESSAGE", ""), timeout=20)
        return d

    def test_locks_by_default(self):
        if not have_cap(CAP_IPC_LOCK):
            self.skipTest("needs CAP_IPC_LOCK (run as root)")
        d = self.run_daemon("yes")
        msgs = [e.get("MESSAGE", "") for e in d.logs()]
        self.assertTrue(any(m.startswith("Memory locked (mlockall)") for m in msgs), msgs)
        # Under valgrind the pid is valgrind's own process, and ASan turns mlockall into a no-op:
        # there the log line is the evidence.
        if not WRAPPER and not asan_build():
            self.assertGreater(vm_locked_kib(d.proc.pid), 0)
        self.assertEqual(d.stop(), 0)

    def test_lock_memory_no(self):
        d = self.run_daemon("no")
        self.assertEqual(vm_locked_kib(d.proc.pid), 0)
        msgs = [e.get("MESSAGE", "") for e in d.logs()]
        self.assertFalse(any("lock" in m.lower() and "memory" in m.lower() for m in msgs), msgs)
        self.assertEqual(d.stop(), 0)

    def test_without_cap_ipc_lock_is_a_warning(self):
        if not shutil.which("setpriv") or not shutil.which("prlimit"):
            self.skipTest("needs setpriv and prlimit (util-linux)")
        if os.geteuid() != 0:
            self.skipTest("needs root to drop capabilities from the bounding set")
        # Root without CAP_IPC_LOCK and CAP_SYS_RESOURCE, with a small finite RLIMIT_MEMLOCK.
        prefix = ["prlimit", "--memlock=65536:65536", "setpriv",
                  "--bounding-set=-ipc_lock,-sys_resource", "--"]
        d = self.run_daemon("yes", prefix=prefix)
        warn = [e for e in d.logs() if "Not locking memory" in e.get("MESSAGE", "")]
        self.assertEqual(len(warn), 1, d.logs()[-10:])
        self.assertEqual(warn[0]["PRIORITY"], "4")
        self.assertIn("CAP_IPC_LOCK is missing and RLIMIT_MEMLOCK is 65536 bytes",
                      warn[0]["MESSAGE"])
        self.assertEqual(vm_locked_kib(d.proc.pid), 0)
        self.assertEqual(d.stop(), 0)
