"""test_psi_wake.py: real kernel PSI triggers: CPU load wakes the loop long before the next Interval tick."""
import datetime
import os
import shutil
import subprocess
import time
import unittest

from harness import SLOW, TempDirTest, WRAPPER, is_tick, write

BUSY_LOOP = ["sh", "-c", "while :; do :; done"]
INTERVAL_S = 30


def psi_available():
    try:
        with open("/proc/pressure/cpu") as f:
            return bool(f.read())
    except OSError:
        return False


def parse_ts(ts):
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


@unittest.skipUnless(psi_available(), "PSI is unavailable here (/proc/pressure/cpu unreadable)")
class PsiWakeTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.conf = os.path.join(self.tmp, "guardlet.conf")
        # A long Interval, and the settings that must be at least that long to be valid.
        write(self.conf, f"[Guard]\nInterval={INTERVAL_S}s\n[Memory]\nPressureDuration={INTERVAL_S}s\n"
                         f"[Runaway]\nLeakWindow={10 * INTERVAL_S}s\nLeakHorizon={20 * INTERVAL_S}s\n"
                         f"[Actions]\nEmergencyAfter={INTERVAL_S}s\n")
        self.children = []

    def tearDown(self):
        for c in self.children:  # only the busy loops this test started, by PID
            if c.poll() is None:
                c.kill()
                c.wait()
        super().tearDown()

    def run_load_and_wait(self, d):
        """Starts more busy loops than cores; returns seconds from load start to the PSI wake-up."""
        _, started = d.wait_for(is_tick, timeout=10)
        armed = [e for e in d.logs() if "PSI trigger armed on" in e.get("MESSAGE", "")
                 and e["MESSAGE"].find("/pressure/cpu") >= 0]
        if not armed:
            self.skipTest("the kernel refused a CPU PSI trigger here: " +
                          "; ".join(e.get("MESSAGE", "") for e in d.logs() if "PSI" in e.get("MESSAGE", "")))
        # Let the start-up tick's own stall settle so that the load, not start-up, fires it.
        time.sleep(1.5)
        n = len(d.logs())
        load_start = time.time()
        for _ in range(2 * (os.cpu_count() or 2) + 2):
            self.children.append(subprocess.Popen(BUSY_LOOP))
        i, woke = d.wait_for(lambda e: is_tick(e) and e.get("GUARDLET_WAKE") == "psi-cpu",
                             timeout=INTERVAL_S / 2, after=n)
        latency = parse_ts(woke["TIMESTAMP"]) - load_start
        fired = [e for e in d.logs()[n:i + 1] if e.get("GUARDLET_EVENT") == "psi-trigger"]
        self.assertTrue(fired, "the wake-up tick must follow a trigger notification")
        self.assertLess(latency, INTERVAL_S / 2, "woken long before the next Interval tick")
        return latency, armed[0]["MESSAGE"]

    def test_cpu_pressure_wakes_the_loop(self):
        d = self.start(["-c", self.conf, "--no-api", "--dry-run"])
        latency, armed = self.run_load_and_wait(d)
        print(f"\n  PSI wake latency (CPU load start -> psi-cpu tick): {latency * 1000:.0f} ms; {armed}")
        with open(os.path.join(os.environ.get("GUARDLET_BUILDDIR", "build"), "psi-wake-latency.txt"), "a") as f:
            f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} latency_ms={latency * 1000:.0f} {armed}\n")
        self.assertEqual(d.stop(), 0)

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("setpriv"),
                         "needs root and setpriv to drop CAP_SYS_RESOURCE")
    def test_without_cap_sys_resource_falls_back_to_2s_window(self):
        d = self.start(["-c", self.conf, "--no-api", "--dry-run"],
                       prefix=["setpriv", "--bounding-set", "-sys_resource", "--inh-caps", "-sys_resource"])
        d.wait_for(is_tick, timeout=10)
        notes = [e["MESSAGE"] for e in d.logs() if "2 s window" in e.get("MESSAGE", "")]
        if not notes and any("within 1000ms" in e.get("MESSAGE", "") for e in d.logs()):
            self.skipTest("this kernel accepts 1 s windows without CAP_SYS_RESOURCE")
        self.assertEqual(len(notes), 1, "the fallback is said exactly once")
        self.assertTrue(any("within 2000ms" in e.get("MESSAGE", "") for e in d.logs()))
        latency, _ = self.run_load_and_wait(d)
        print(f"\n  PSI wake latency with the 2 s window: {latency * 1000:.0f} ms")
        self.assertEqual(d.stop(), 0)
