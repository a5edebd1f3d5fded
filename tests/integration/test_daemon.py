"""test_daemon.py: the real daemon on a fixture proc root: ticks, pressure levels, SIGHUP reload, sd_notify, watchdog, SIGTERM."""
import os
import signal
import time

from harness import (GiB, MiB, NotifySocket, ProcFixture, SLOW, TempDirTest, is_tick, write)


class DaemonTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.proc = os.path.join(self.tmp, "proc")
        self.fx = ProcFixture(self.proc, cpus=2)
        self.fx.set_memory(total=8 * GiB, free=4 * GiB, inactive_file=1 * GiB)
        self.cg = os.path.join(self.tmp, "cgroup")
        write(os.path.join(self.cg, "cgroup.controllers"), "cpu memory\n")
        self.conf = os.path.join(self.tmp, "guardlet.conf")
        write(self.conf, "[Guard]\nInterval=200ms\n[Memory]\nPressureDuration=1s\n")
        self.notify = NotifySocket(os.path.join(self.tmp, "notify.sock"))

    def tearDown(self):
        self.notify.close()
        super().tearDown()

    def start_daemon(self, env=None, **kw):
        e = {"NOTIFY_SOCKET": self.notify.path}
        e.update(env or {})
        return self.start(["-c", self.conf, "--proc-root", self.proc, "--cgroup-root", self.cg,
                           "--no-api", "--node-name", "fixture-node"], env=e, **kw)

    def test_ticks_reload_and_clean_exit(self):
        d = self.start_daemon()
        _, started = d.wait_for(lambda e: "started on node fixture-node" in e.get("MESSAGE", ""))
        self.assertEqual(started["MESSAGE_ID"], "304c1bd46d5a4a31a4831ab9c51728e7")
        _, t = d.wait_for(is_tick)
        self.assertEqual(t["NODE_MEMORY_CAPACITY_BYTES"], str(8 * GiB))
        self.assertEqual(t["NODE_MEMORY_WORKING_SET_BYTES"], str(3 * GiB))
        self.assertEqual(t["NODE_MEMORY_AVAILABLE_BYTES"], str(5 * GiB))
        self.assertEqual(t["GUARDLET_DRY_RUN"], "0")
        ready = self.notify.wait_for(lambda m: "READY=1" in m, 5)
        self.assertIn("STATUS=enforcing: memory available 5Gi of 8Gi", ready)

        # The fixture changes: the next ticks see it and the level change is said once.
        self.fx.set_memory(total=8 * GiB, free=256 * MiB, inactive_file=256 * MiB)
        _, t = d.wait_for(lambda e: is_tick(e) and e["NODE_MEMORY_AVAILABLE_BYTES"] == str(512 * MiB))
        self.assertEqual(t["GUARDLET_MEMORY_LEVEL"], "evict")
        levels = [e for e in d.logs() if e.get("GUARDLET_PRESSURE") == "memory"]
        self.assertEqual(len(levels), 1, levels)
        self.assertEqual(levels[0]["GUARDLET_LEVEL"], "evict")
        self.assertEqual(levels[0]["PRIORITY"], "4")
        self.notify.wait_for(lambda m: "STATUS=" in m and "512Mi of 8Gi" in m, 5)

        # A broken drop-in: the reload fails, names file and line, the old configuration runs on.
        dropin = os.path.join(self.tmp, "guardlet.conf.d", "50-broken.conf")
        write(dropin, "[Guard]\nMode=dry-run\n[Memory]\nEvictBelow=lots\n")
        n = len(d.logs())
        d.signal(signal.SIGHUP)
        _, err = d.wait_for(lambda e: e.get("CONFIG_FILE") == dropin, after=n)
        self.assertEqual(err["CONFIG_LINE"], "4")
        self.assertIn("EvictBelow", err["MESSAGE"])
        d.wait_for(lambda e: "keeping the running configuration" in e.get("MESSAGE", ""), after=n)
        self.notify.wait_for(lambda m: "RELOADING=1" in m, 5)
        n = len(d.logs())
        _, t = d.wait_for(is_tick, after=n)
        self.assertEqual(t["GUARDLET_DRY_RUN"], "0", "a failed reload must keep the old config")

        # Fixed: the reload takes effect.
        write(dropin, "[Guard]\nMode=dry-run\n")
        d.signal(signal.SIGHUP)
        d.wait_for(lambda e: e.get("MESSAGE", "").startswith("Configuration reloaded"), after=n)
        n = len(d.logs())
        _, t = d.wait_for(is_tick, after=n)
        self.assertEqual(t["GUARDLET_DRY_RUN"], "1")

        code = d.stop()
        self.assertEqual(code, 0)
        self.assertTrue(any(e.get("MESSAGE") == "Stopping on SIGTERM" for e in d.logs()))
        self.notify.wait_for(lambda m: "STOPPING=1" in m, 5)
        errors = [e for e in d.logs() if int(e.get("PRIORITY", "7")) <= 3
                  and e.get("MESSAGE_ID") != "1df0d917b4684e56a7155e3536db1a3a"]
        self.assertEqual(errors, [], "only the deliberate reload failure may log errors")

    def test_sigint_exits_cleanly_even_if_inherited_ignored(self):
        d = self.start_daemon(ignore_sigint=True)
        d.wait_for(is_tick)
        d.signal(signal.SIGINT)
        self.assertEqual(d.stop(), 0)
        self.assertTrue(any(e.get("MESSAGE") == "Stopping on SIGINT" for e in d.logs()))

    def test_fast_interval_while_memory_is_short(self):
        write(self.conf, "[Guard]\nInterval=5s\nFastInterval=100ms\n[Memory]\nPressureDuration=10s\n[CPU]\nPressureDuration=30s\n")
        d = self.start_daemon()
        d.wait_for(is_tick)
        self.fx.set_memory(total=8 * GiB, free=256 * MiB, inactive_file=256 * MiB)  # evict level
        # The next 5 s tick sees it, then the node is looked at every 100 ms.
        i, e = d.wait_for(lambda e: "scanning every" in e.get("MESSAGE", ""), timeout=15)
        self.assertEqual(e["MESSAGE"], "Memory is short: scanning every 100ms (was 5s)")
        # Ten more ticks well within one Interval: they can only come from FastInterval.
        j = i
        for _ in range(10):
            j, _ = d.wait_for(is_tick, timeout=4, after=j + 1)
        self.fx.set_memory(total=8 * GiB, free=4 * GiB, inactive_file=1 * GiB)
        _, e = d.wait_for(lambda e: "scanning every 5s" in e.get("MESSAGE", ""), after=j, timeout=10)
        self.assertEqual(e["MESSAGE"], "Memory is back: scanning every 5s (was 100ms)")
        self.assertEqual(d.stop(), 0)

    def test_psi_sustained_over_limit(self):
        d = self.start_daemon()
        d.wait_for(is_tick)
        self.fx.set_psi(memory=55.0, cpu=0.0, io=0.0)  # over the 40% default, for 1s
        _, e = d.wait_for(lambda e: e.get("GUARDLET_PRESSURE") == "memory-psi", timeout=10)
        self.assertEqual(e["GUARDLET_LEVEL"], "sustained")
        self.assertEqual(e["PSI_SOME_AVG10"], "55.00")
        onset = [t for t, x in d.timed_logs() if is_tick(x) and x["PSI_MEMORY_SOME_AVG10"] == "55.00"][0]
        said = [t for t, x in d.timed_logs() if x is e][0]
        self.assertGreaterEqual(said - onset, 0.9, "sustained means PressureDuration (1s) over the limit")
        self.fx.set_psi(memory=5.0, cpu=0.0, io=0.0)
        _, e = d.wait_for(lambda e: e.get("GUARDLET_PRESSURE") == "memory-psi" and
                          e["GUARDLET_LEVEL"] == "clear", timeout=10)
        self.assertEqual(d.stop(), 0)

    def test_watchdog_pings_only_while_ticks_complete(self):
        d = self.start_daemon(env={"WATCHDOG_USEC": "400000"})
        d.wait_for(is_tick)
        self.notify.wait_for(lambda m: "WATCHDOG=1" in m, 5)

        # Without meminfo no tick completes: the pings must stop (systemd would then restart us).
        os.unlink(os.path.join(self.proc, "meminfo"))
        d.wait_for(lambda e: "Cannot read" in e.get("MESSAGE", "") and "meminfo" in e["MESSAGE"])
        time.sleep(0.6 * SLOW)  # 2 x Interval since the last good tick, plus slack
        quiet_from = time.monotonic()
        time.sleep(1.0 * SLOW)
        pings = [t for t, m in self.notify.all() if "WATCHDOG=1" in m and t >= quiet_from]
        self.assertEqual(pings, [], "no WATCHDOG=1 while ticks fail")
        self.assertIsNone(d.proc.poll(), "a failing read is not a reason to exit")

        self.fx.set_memory(total=8 * GiB, free=4 * GiB, inactive_file=1 * GiB)
        d.wait_for(lambda e: "works again" in e.get("MESSAGE", ""))
        back = time.monotonic()
        self.notify.wait_for(lambda m: False, 0) if False else None
        deadline = time.monotonic() + 5 * SLOW
        while time.monotonic() < deadline:
            if any("WATCHDOG=1" in m and t >= back for t, m in self.notify.all()):
                break
            time.sleep(0.05)
        else:
            self.fail("WATCHDOG=1 did not resume after ticks recovered")
        self.assertEqual(d.stop(), 0)
