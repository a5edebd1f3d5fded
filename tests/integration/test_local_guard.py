"""test_local_guard.py: local mode end to end: the real daemon guards a fixture node whose leaking pod it throttles, then kills."""
import os
import threading
import time

from cgfixture import CgroupFixture, Figures, MiB, pod_uid
from harness import GiB, SLOW, ProcFixture, TempDirTest, write

TICK = 0.2  # the daemon's Interval and the fixture's mutation period, seconds
LEAK = 100 * MiB  # per second, the leaker
SLOW_LEAK = 20 * MiB  # per second, the protected leaker
CAPACITY = 8 * GiB
START_AVAILABLE = 1536 * MiB


class Node:
    """Mutates the fixture every TICK like a kernel would: leakers grow, node memory follows; a pod
    whose cgroup.kill holds "1" dies and its memory comes back."""

    def __init__(self, proc, cg, leaker, protected, flats):
        self.proc, self.cg = proc, cg
        self.leaker, self.protected, self.flats = leaker, protected, flats
        self.ws = {leaker: 200 * MiB, protected: 200 * MiB}
        self.killed = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.base_used = CAPACITY - START_AVAILABLE
        self.thread = threading.Thread(target=self.run, daemon=True)

    def available(self):
        grown = sum(self.ws.values()) - 400 * MiB
        return max(CAPACITY - self.base_used - grown, 0)

    def write_meminfo(self):
        avail = self.available()
        # kubelet-style available = MemFree + Inactive(file).
        inactive = min(64 * MiB, avail)
        self.proc.set_memory(total=CAPACITY, free=avail - inactive, inactive_file=inactive)

    def run(self):
        while not self.stop.wait(TICK):
            with self.lock:
                for uid, rate in ((self.leaker, LEAK), (self.protected, SLOW_LEAK)):
                    if uid not in self.ws:
                        continue
                    kill = os.path.join(self.cg.root, self.cg.pods[uid].cgroup, "cgroup.kill")
                    with open(kill) as f:
                        if f.read().strip() == "1":
                            self.killed.append((time.monotonic(), uid))
                            del self.ws[uid]  # its memory comes back with it
                            self.cg.remove(uid)
                            continue
                    self.ws[uid] += int(rate * TICK)
                    self.cg.update(uid, memory_current=self.ws[uid] + 10 * MiB)
                self.write_meminfo()


class LocalGuardTest(TempDirTest):
    def scenario(self, dry_run):
        proc_root = os.path.join(self.tmp, "proc")
        proc = ProcFixture(proc_root, cpus=4)
        cg = CgroupFixture("v2-systemd", parent=self.tmp)
        self.addCleanup(cg.cleanup)
        leaker, protected = pod_uid(1), pod_uid(2)
        flats = [pod_uid(3), pod_uid(4)]
        unlimited = dict(memory_max=None, inactive_file=10 * MiB, pids_current=3)
        cg.add_pod(leaker, "burstable", Figures(memory_current=210 * MiB, **unlimited), ["containerd"])
        cg.add_pod(protected, "burstable", Figures(memory_current=210 * MiB, **unlimited), ["containerd"])
        cg.add_pod(flats[0], "burstable", Figures(memory_current=300 * MiB, **unlimited), ["containerd"])
        cg.add_pod(flats[1], "besteffort", Figures(memory_current=150 * MiB, **unlimited), ["containerd"])
        for uid in cg.pods:
            cg.write(uid, "cgroup.kill", "")
            cg.write(uid, "cgroup.freeze", "0\n")
        node = Node(proc, cg, leaker, protected, flats)
        node.write_meminfo()

        conf = os.path.join(self.tmp, f"guardlet-{dry_run}.conf")
        # A short leak window so the test takes seconds; a long post-action delay so that the one
        # throttle per signal stays one for the whole run.
        write(conf, f"[Guard]\nInterval={int(TICK * 1000)}ms\n"
                    "[Runaway]\nLeakWindow=3s\nLeakHorizon=2min\n"
                    "[Actions]\nPostActionDelay=1min\nEmergencyAfter=1s\n"
                    f"[Protect]\nPodUIDs={protected}\n")
        args = ["-c", conf, "--no-api", "--proc-root", proc_root, "--cgroup-root", cg.root]
        d = self.start(args + (["--dry-run"] if dry_run else []))
        node.thread.start()
        self.addCleanup(node.stop.set)
        try:
            _, kill = d.wait_for(lambda e: e.get("GUARDLET_ACTION") == "kill", timeout=40)
        except AssertionError:
            print("\n".join(str(e) for e in d.logs() if not e.get("GUARDLET_EVENT")))
            raise
        if not dry_run:
            deadline = time.monotonic() + 5 * SLOW
            while not node.killed and time.monotonic() < deadline:
                time.sleep(0.05)
        time.sleep(1.0)  # a few more ticks: nothing else may happen
        node.stop.set()
        node.thread.join(5)
        self.assertEqual(d.stop(), 0)
        decisions = [e for e in d.logs() if e.get("GUARDLET_ACTION")]
        return cg, node, d, decisions, kill

    def check_decisions(self, decisions, dry_run):
        leaker, protected = pod_uid(1), pod_uid(2)
        acted = [e for e in decisions if e.get("GUARDLET_SKIP") in (None, "dry-run")]
        for e in decisions:
            self.assertEqual(e["GUARDLET_DRY_RUN"], "1" if dry_run else "0", e)
            for key in ("MESSAGE_ID", "GUARDLET_REASON", "POD_UID", "POD_QOS", "CGROUP_PATH",
                        "NODE_MEMORY_AVAILABLE_BYTES", "POD_WORKING_SET_BYTES", "PSI_SOME_AVG10"):
                self.assertIn(key, e)
        self.assertTrue(all(e["POD_UID"] == leaker for e in acted), [(e["GUARDLET_ACTION"], e["POD_UID"]) for e in acted])
        throttles = [e for e in acted if e["GUARDLET_ACTION"] == "throttle-memory"]
        kills = [e for e in acted if e["GUARDLET_ACTION"] == "kill"]
        self.assertGreaterEqual(len(throttles), 1)
        self.assertEqual(len(kills), 1, "exactly one kill for one spike")
        self.assertLess(decisions.index(throttles[0]), decisions.index(kills[0]), "throttle comes first")
        self.assertEqual(kills[0]["GUARDLET_REASON"], "memory-low")
        self.assertLess(int(kills[0]["NODE_MEMORY_AVAILABLE_BYTES"]), int(0.03 * 8 * GiB))
        reported = [e for e in decisions if e["POD_UID"] == protected]
        self.assertTrue(reported, "skipping the protected leaker is itself reported")
        self.assertTrue(all(e.get("GUARDLET_SKIP") == "protected" and e["GUARDLET_PROTECTED_BY"] == "pod-uid"
                            for e in reported), reported)
        return [(e["GUARDLET_ACTION"], e["POD_UID"], e.get("GUARDLET_SKIP") == "protected") for e in decisions]

    def pod_file(self, cg, uid, name):
        with open(os.path.join(cg.root, cg.pods[uid].cgroup, name)) as f:
            return f.read().strip()

    def test_enforce_then_dry_run(self):
        cg, node, d, decisions, kill = self.scenario(dry_run=False)
        enforce_seq = self.check_decisions(decisions, dry_run=False)
        leaker, protected = pod_uid(1), pod_uid(2)
        self.assertEqual([u for _, u in node.killed], [leaker], "only the leaker dies")
        for uid in [protected] + [pod_uid(3), pod_uid(4)]:
            self.assertEqual(self.pod_file(cg, uid, "cgroup.kill"), "", uid)
            self.assertEqual(self.pod_file(cg, uid, "memory.high"), "max", uid)
        # (The protected pod's skipped throttle may be reported first: look at the leaker's.)
        throttle = next(e for e in decisions if e["GUARDLET_ACTION"] == "throttle-memory" and e["POD_UID"] == leaker)
        self.assertEqual(throttle["GUARDLET_OUTCOME"], "done")
        self.assertEqual(kill["GUARDLET_OUTCOME"], "done")

        cg2, node2, d2, decisions2, kill2 = self.scenario(dry_run=True)
        dry_seq = self.check_decisions(decisions2, dry_run=True)
        self.assertEqual(node2.killed, [], "dry-run kills nothing")
        for uid in cg2.pods:
            self.assertEqual(self.pod_file(cg2, uid, "cgroup.kill"), "", uid)
            self.assertEqual(self.pod_file(cg2, uid, "memory.high"), "max", uid)
        # The same decisions, in the same order, up to and including the kill.
        cut = lambda seq: seq[:next(i for i, x in enumerate(seq) if x[0] == "kill") + 1]
        self.assertEqual(sorted(set(cut(enforce_seq))), sorted(set(cut(dry_seq))))


class RestoreTest(TempDirTest):
    def throttled(self):
        """A 2 GiB pod on a node at the throttle level, throttled by a running guard (enforce)."""
        proc_root = os.path.join(self.tmp, "proc")
        proc = ProcFixture(proc_root, cpus=4)
        proc.set_memory(total=CAPACITY, free=1 * GiB - 64 * MiB, inactive_file=64 * MiB)  # 12.5%: throttle level
        cg = CgroupFixture("v2-systemd", parent=self.tmp)
        self.addCleanup(cg.cleanup)
        big = pod_uid(7)
        cg.add_pod(big, "burstable", Figures(memory_current=2 * GiB, memory_max=None, inactive_file=0))
        conf = os.path.join(self.tmp, "guardlet.conf")
        write(conf, "[Guard]\nInterval=200ms\n[Actions]\nPostActionDelay=1s\nEmergencyAfter=1s\n"
                    "[Memory]\nPressureDuration=1s\n[CPU]\nPressureDuration=1s\n"
                    "[Runaway]\nLeakWindow=2s\n")
        d = self.start(["-c", conf, "--no-api", "--proc-root", proc_root, "--cgroup-root", cg.root])
        _, t = d.wait_for(lambda e: e.get("GUARDLET_ACTION") == "throttle-memory", timeout=10)
        self.assertEqual(t["POD_UID"], big)
        self.assertEqual(t["GUARDLET_OUTCOME"], "done")
        path = os.path.join(cg.root, cg.pods[big].cgroup, "memory.high")
        with open(path) as f:
            self.assertEqual(int(f.read()), int(t["GUARDLET_TARGET"]))
        self.assertLess(int(t["GUARDLET_TARGET"]), 2 * GiB)
        return proc, big, path, d

    def test_stop_releases_throttled_pods(self):
        _, big, path, d = self.throttled()
        self.assertEqual(d.stop(), 0)
        with open(path) as f:
            self.assertEqual(f.read().strip(), "max", "nobody watches a throttled pod once guardlet stops")
        released = [e for e in d.logs() if e.get("GUARDLET_REASON") == "guardlet-stopping"]
        self.assertEqual([(e["POD_UID"], e["GUARDLET_OUTCOME"]) for e in released], [(big, "done")])

    def test_throttle_then_restore_when_pressure_clears(self):
        proc, big, path, d = self.throttled()
        cleared = time.monotonic()
        proc.set_memory(total=CAPACITY, free=4 * GiB, inactive_file=64 * MiB)  # pressure gone
        _, r = d.wait_for(lambda e: e.get("GUARDLET_ACTION") == "restore", timeout=10)
        self.assertGreaterEqual(time.monotonic() - cleared, 1.9, "hysteresis: 2 x PostActionDelay clear")
        self.assertEqual(r["POD_UID"], big)
        self.assertEqual(r["GUARDLET_OUTCOME"], "done")
        with open(path) as f:
            self.assertEqual(f.read().strip(), "max", "the original memory.high is back")
        self.assertEqual(d.stop(), 0)
        acted = [e for e in d.logs() if e.get("GUARDLET_ACTION") and not e.get("GUARDLET_SKIP")]
        self.assertEqual([e["GUARDLET_ACTION"] for e in acted], ["throttle-memory", "restore"])
