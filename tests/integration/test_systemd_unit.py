"""test_systemd_unit.py: systemd/guardlet.service verifies clean and stays hardened (exposure <= 2.0)."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import GUARDLET
import shipping

MAX_EXPOSURE = 2.0  # Debian 12's systemd-oomd.service scores 2.0


def unit_text():
    with open(shipping.UNIT) as f:
        return f.read()


def directive(text, name):
    return re.findall(rf"(?m)^{name}=(.*)$", text)


@unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze is not installed")
class UnitTest(unittest.TestCase):
    def test_verify_prints_nothing(self):
        """verify checks that ExecStart is executable and man: links resolve. The unit names the
        installed path; here it points at the build, and MANPATH at freshly rendered pages (the
        package tests check the installed path)."""
        if not shutil.which("scdoc"):
            self.skipTest("scdoc is not installed: the Documentation= pages cannot be rendered")
        with tempfile.TemporaryDirectory(prefix="guardlet-unit-") as d:
            shipping.render_man(os.path.join(d, "man"))
            text = unit_text()
            self.assertEqual(directive(text, "ExecStart"), ["/usr/sbin/guardlet"])
            unit = os.path.join(d, "guardlet.service")
            with open(unit, "w") as f:
                f.write(text.replace("ExecStart=/usr/sbin/guardlet",
                                     "ExecStart=" + os.path.abspath(GUARDLET)))
            env = dict(os.environ, MANPATH=os.path.join(d, "man"), SYSTEMD_LOG_COLOR="0")
            r = subprocess.run(["systemd-analyze", "verify", unit], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=env, timeout=60)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.returncode, 0)

    def test_security_exposure_at_most_2(self):
        r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                            shipping.UNIT], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=60)
        m = re.search(r"Overall exposure level for guardlet\.service: (\d+\.\d+)", r.stdout)
        self.assertIsNotNone(m, r.stdout[-2000:])
        print(f"\nsystemd-analyze security: exposure {m.group(1)}", flush=True)
        self.assertLessEqual(float(m.group(1)), MAX_EXPOSURE, r.stdout)

    def test_service_essentials(self):
        text = unit_text()
        for name, want in [("Type", "notify"), ("Restart", "always"),
                           ("ExecReload", "/bin/kill -HUP $MAINPID"), ("OOMScoreAdjust", "-1000"),
                           ("RuntimeDirectory", "guardlet"), ("NoNewPrivileges", "yes")]:
            self.assertEqual(directive(text, name), [want], name)
        for name in ("WatchdogSec", "MemoryMin", "LimitNOFILE"):
            self.assertEqual(len(directive(text, name)), 1, name)
        caps = directive(text, "CapabilityBoundingSet")[0].split()
        self.assertEqual(sorted(caps), ["CAP_IPC_LOCK", "CAP_KILL", "CAP_SYS_RESOURCE"])
        # The status socket lives in RuntimeDirectory; guardlet's default must point there.
        self.assertIn(("Guard", "StatusSocket", "/run/guardlet/guardlet.sock", False),
                      shipping.config_keys())
