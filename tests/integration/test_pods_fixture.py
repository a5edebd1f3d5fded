"""test_pods_fixture.py: --once -o json and the daemon on kubelet-shaped fixture trees of every layout."""
import json
import os

from cgfixture import LAYOUTS, MiB, CgroupFixture, Figures, pod_uid
from harness import GiB, ProcFixture, TempDirTest, is_tick, write


class PodsFixtureTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.proc = os.path.join(self.tmp, "proc")
        fx = ProcFixture(self.proc, cpus=4)
        fx.set_memory(total=16 * GiB, free=8 * GiB, inactive_file=1 * GiB)
        self.conf = os.path.join(self.tmp, "guardlet.conf")
        write(self.conf, "")

    def once(self, cg):
        p = self.run_guardlet(["--once", "-o", "json", "--no-api", "-c", self.conf, "--proc-root",
                               self.proc, "--cgroup-root", cg.root, "--set", "Guard.Interval=100ms"])
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def test_every_layout(self):
        for layout in LAYOUTS:
            with self.subTest(layout=layout), CgroupFixture(layout, parent=self.tmp) as cg:
                plain = "cgroupfs" if not cg.systemd else None
                g = cg.add_pod(pod_uid(1), "guaranteed", Figures(memory_current=300 * MiB, inactive_file=50 * MiB,
                                                                 memory_max=512 * MiB, pids_current=7, pids_max=100),
                               containers=[plain or "containerd"])
                b = cg.add_pod(pod_uid(2), "burstable", Figures(memory_current=100 * MiB, inactive_file=10 * MiB,
                                                                memory_max=None),
                               containers=[plain or "cri-o", plain or "docker"])
                e = cg.add_pod(pod_uid(3), "besteffort")
                cg.add_odd_entries(b.uid)
                j = self.once(cg)
                self.assertEqual(j["node"]["cgroup_version"], 1 if cg.v1 else 2)
                pods = {p["uid"]: p for p in j["pods"]}
                self.assertEqual(set(pods), {g.uid, b.uid, e.uid}, "odd entries are not pods")
                pg, pb = pods[g.uid], pods[b.uid]
                self.assertEqual(pg["qos"], "guaranteed")
                self.assertEqual(pb["qos"], "burstable")
                self.assertEqual(pods[e.uid]["qos"], "besteffort")
                self.assertEqual(pg["memory"]["working_set_bytes"], 250 * MiB)
                self.assertEqual(pg["memory"]["limit_bytes"], 512 * MiB)
                self.assertIsNone(pb["memory"]["limit_bytes"])
                self.assertEqual(pb["memory"]["working_set_bytes"], 90 * MiB)
                self.assertEqual(pg["pids"], 7)
                self.assertEqual(pg["pids_max"], 100)
                self.assertEqual(pg["cgroup"], g.cgroup)
                self.assertEqual(len(pb["containers"]), 2, "conmon and odd ids are not containers")
                if not cg.v1:
                    self.assertIsNotNone(pg["psi"])
                kp = j["node"]["kubepods"]
                self.assertEqual(kp["pods"], 3)
                self.assertEqual(kp["working_set_bytes"], sum(p["memory"]["working_set_bytes"] for p in j["pods"]))

    def test_daemon_sees_pods_come_and_go(self):
        with CgroupFixture("v2-systemd", parent=self.tmp) as cg:
            write(self.conf, "[Guard]\nInterval=100ms\n")
            cg.add_pod(pod_uid(1), "burstable")
            d = self.start(["-c", self.conf, "--no-api", "--proc-root", self.proc, "--cgroup-root", cg.root])
            d.wait_for(lambda e: "Found the kubepods cgroup" in e.get("MESSAGE", ""))
            d.wait_for(lambda e: is_tick(e) and e["GUARDLET_PODS"] == "1")
            n = len(d.logs())
            cg.add_pod(pod_uid(2), "besteffort")
            d.wait_for(lambda e: is_tick(e) and e["GUARDLET_PODS"] == "2", timeout=3, after=n)
            n = len(d.logs())
            cg.remove(pod_uid(1))
            _, t = d.wait_for(lambda e: is_tick(e) and e["GUARDLET_PODS"] == "1", timeout=3, after=n)
            self.assertEqual(t["GUARDLET_READ_ERRORS"], "0")
            self.assertEqual(d.stop(), 0)
            self.assertEqual([x for x in d.logs() if int(x.get("PRIORITY", "7")) <= 4], [])


class OnceDecidesTest(TempDirTest):
    def test_once_prints_decisions_and_never_acts(self):
        proc_root = os.path.join(self.tmp, "proc")
        fx = ProcFixture(proc_root, cpus=4)
        fx.set_memory(total=16 * GiB, free=100 * MiB, inactive_file=100 * MiB)  # 1.2%: below KillBelow
        conf = os.path.join(self.tmp, "guardlet.conf")
        write(conf, "")
        with CgroupFixture("v2-systemd", parent=self.tmp) as cg:
            big = cg.add_pod(pod_uid(1), "besteffort", Figures(memory_current=6 * GiB, memory_max=None))
            cg.add_pod(pod_uid(2), "burstable", Figures(memory_current=1 * GiB, memory_max=None))
            cg.write(big.uid, "cgroup.kill", "")
            p = self.run_guardlet(["--once", "-o", "json", "--no-api", "-c", conf, "--proc-root",
                                   proc_root, "--cgroup-root", cg.root, "--set", "Guard.Interval=100ms"])
            self.assertEqual(p.returncode, 0, p.stderr)
            j = json.loads(p.stdout)
            kills = [d for d in j["decisions"] if d["action"] == "kill"]
            self.assertEqual(len(kills), 1, j["decisions"])
            self.assertEqual(kills[0]["uid"], big.uid)
            self.assertEqual(kills[0]["reason"], "memory-low")
            self.assertIsNone(kills[0]["namespace"])
            self.assertIn("KillBelow", kills[0]["detail"])
            self.assertEqual(kills[0]["outcome"], "not-done")
            with open(os.path.join(cg.root, big.cgroup, "cgroup.kill")) as f:
                self.assertEqual(f.read(), "", "--once never acts")
            t = self.run_guardlet(["--once", "--no-api", "-c", conf, "--proc-root", proc_root,
                                   "--cgroup-root", cg.root, "--set", "Guard.Interval=100ms"])
            self.assertIn("kill " + big.uid + " (memory-low)", t.stdout)
