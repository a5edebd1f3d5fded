"""test_cli.py: guardlet's command line: --check-config, --once, exit codes; guardletctl without a daemon."""
import json
import os
import subprocess

from harness import GiB, GUARDLETCTL, MiB, ProcFixture, TempDirTest, WRAPPER, write


class CheckConfigTest(TempDirTest):
    def test_good_config_says_ok(self):
        conf = os.path.join(self.tmp, "guardlet.conf")
        write(conf, "[Guard]\nInterval=2s\n[Memory]\nEvictBelow=512Mi\nKillBelow=256Mi\n"
                    "ThrottleBelow=1Gi\n")
        p = self.run_guardlet(["-c", conf, "--check-config"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "configuration OK")

    def test_every_error_with_file_and_line(self):
        conf = os.path.join(self.tmp, "guardlet.conf")
        write(conf, "[Guard]\nInterval=fast\n[Memroy]\nX=1\n[Memory]\nEvictBelow=8 %\n")
        write(os.path.join(self.tmp, "guardlet.conf.d", "10-extra.conf"), "[CPU]\nEvict=maybe\n")
        p = self.run_guardlet(["-c", conf, "--check-config"])
        self.assertEqual(p.returncode, 1)
        lines = p.stderr.strip().splitlines()
        self.assertTrue(any(l.startswith(f"{conf}:2: ") and "Interval" in l for l in lines), lines)
        self.assertTrue(any(l.startswith(f"{conf}:3: ") and "Memroy" in l for l in lines), lines)
        self.assertTrue(any(l.startswith(f"{conf}:6: ") and "EvictBelow" in l for l in lines), lines)
        dropin = os.path.join(self.tmp, "guardlet.conf.d", "10-extra.conf")
        self.assertTrue(any(l.startswith(f"{dropin}:2: ") and "Evict" in l for l in lines), lines)
        self.assertNotIn("configuration OK", p.stdout)

    def test_set_errors_and_overrides(self):
        p = self.run_guardlet(["--check-config", "-c", os.path.join(self.tmp, "absent.conf")])
        self.assertEqual(p.returncode, 1, "an explicitly named config file must exist")
        self.assertIn("absent.conf", p.stderr)
        p = self.run_guardlet(["--check-config", "--set", "Memory.KillBelow=lots"],
                              )
        self.assertEqual(p.returncode, 1)
        self.assertIn("--set", p.stderr)
        self.assertIn("KillBelow", p.stderr)

    def test_usage_errors_exit_2(self):
        for args in (["--no-such-flag"], ["--output", "yaml", "--once"], ["--log-level", "loud"],
                     ["extra-argument"], ["--set", "nodot"]):
            p = self.run_guardlet(args)
            self.assertEqual(p.returncode, 2, f"{args}: {p.stderr}")
            self.assertIn("guardlet:", p.stderr)

    def test_help_and_version(self):
        p = self.run_guardlet(["--help"])
        self.assertEqual(p.returncode, 0)
        self.assertIn("--check-config", p.stdout)
        p = self.run_guardlet(["--version"])
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"^guardlet \d+\.\d+\.\d+")


class OnceTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.proc = os.path.join(self.tmp, "proc")
        self.fx = ProcFixture(self.proc, cpus=4)
        # 8 GiB node: usage 4 GiB, 1 GiB of it inactive file cache -> working set 3 GiB.
        self.fx.set_memory(total=8 * GiB, free=4 * GiB, inactive_file=1 * GiB, available=5 * GiB)
        self.fx.set_psi(memory=1.5, cpu=42.25, io=0.0)
        self.cg = os.path.join(self.tmp, "cgroup")
        write(os.path.join(self.cg, "cgroup.controllers"), "cpu memory pids\n")

    def once(self, *extra):
        return self.run_guardlet(["--once", "--no-api", "--proc-root", self.proc, "--cgroup-root",
                                  self.cg, "--set", "Guard.Interval=100ms", "--node-name", "node-a",
                                  "-c", os.path.join(self.tmp, "none.conf")] + list(extra))

    def test_json_node_figures(self):
        write(os.path.join(self.tmp, "none.conf"), "")
        p = self.once("-o", "json", "--dry-run")
        self.assertEqual(p.returncode, 0, p.stderr)
        j = json.loads(p.stdout)
        n = j["node"]
        self.assertEqual(n["name"], "node-a")
        self.assertEqual(n["cgroup_version"], 2)
        self.assertEqual(n["memory"]["capacity_bytes"], 8 * GiB)
        self.assertEqual(n["memory"]["working_set_bytes"], 3 * GiB)
        self.assertEqual(n["memory"]["available_bytes"], 5 * GiB)
        self.assertAlmostEqual(n["psi"]["memory"]["some_avg10"], 1.5)
        self.assertAlmostEqual(n["psi"]["cpu"]["some_avg10"], 42.25)
        self.assertEqual(n["psi"]["io"]["full_avg10"], 0.0)
        # 8 GiB / 4 CPUs = 2 GiB per CPU: neither highmem (>= 6Gi) nor highcpu (<= 1Gi).
        self.assertEqual(n["pool"], "standard")
        self.assertEqual(j["pods"], [])
        self.assertEqual(j["decisions"], [])
        self.assertEqual(j["mode"], "dry-run")

    def test_pool_rules_apply(self):
        write(os.path.join(self.tmp, "none.conf"), "")
        self.fx.set_memory(total=64 * GiB, free=60 * GiB, inactive_file=0)
        j = json.loads(self.once("-o", "json").stdout)
        self.assertEqual(j["node"]["pool"], "highmem")  # 16 GiB per CPU
        j = json.loads(self.once("-o", "json", "--set", "Pools.Pool=gpu").stdout)
        self.assertEqual(j["node"]["pool"], "gpu")

    def test_text_report(self):
        write(os.path.join(self.tmp, "none.conf"), "")
        self.fx.set_memory(total=8 * GiB, free=256 * MiB, inactive_file=256 * MiB)
        p = self.once()
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("node-a", p.stdout)
        self.assertIn("available 512Mi of 8Gi", p.stdout)
        self.assertIn("memory evict", p.stdout)  # 6.25% is below EvictBelow=8%

    def test_missing_meminfo_exits_3(self):
        write(os.path.join(self.tmp, "none.conf"), "")
        os.unlink(os.path.join(self.proc, "meminfo"))
        p = self.once()
        self.assertEqual(p.returncode, 3)
        self.assertIn("meminfo", p.stderr)


class GuardletctlTest(TempDirTest):
    def test_no_daemon_is_a_clear_error(self):
        sock = os.path.join(self.tmp, "absent.sock")
        p = subprocess.run(WRAPPER + [GUARDLETCTL, "--socket", sock, "status"], text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 3)
        self.assertIn(sock, p.stderr)
        self.assertIn("guardlet is not running (no socket at", p.stderr)

    def test_usage(self):
        p = subprocess.run(WRAPPER + [GUARDLETCTL], text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertIn("Usage: guardletctl", p.stderr)
        p = subprocess.run(WRAPPER + [GUARDLETCTL, "frobnicate"], text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown command", p.stderr)
