"""test_docs.py: the man pages lint clean and keep up with the code (every config key, every option), and
the packaged default config lists every key at the code's default."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import GUARDLET, GUARDLETCTL
import shipping


def scd(name):
    with open(os.path.join(shipping.MAN_SRC, name)) as f:
        return f.read()


def long_options(binary):
    out = subprocess.run([binary, "--help"], stdout=subprocess.PIPE, text=True, check=True).stdout
    return sorted(set(re.findall(r"(?<![\w-])--([a-z][a-z-]+)", out)))


class ManPagesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="guardlet-man-")
        cls.pages = shipping.render_man(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        if self.pages is None:
            self.skipTest("scdoc is not installed (apt-get install scdoc)")

    def test_three_pages(self):
        self.assertEqual(sorted(os.path.basename(p) for p in self.pages),
                         ["guardlet.8", "guardlet.conf.5", "guardletctl.1"])

    def test_mandoc_lint_clean(self):
        if not shutil.which("mandoc"):
            self.skipTest("mandoc is not installed")
        for p in self.pages:
            r = subprocess.run(["mandoc", "-Tlint", "-W", "warning", p], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
            self.assertEqual(r.stdout, "", p)
            self.assertEqual(r.returncode, 0, p)

    def test_man_renders_without_warnings(self):
        if not shutil.which("man"):
            self.skipTest("man-db is not installed")
        env = dict(os.environ, MANWIDTH="80")
        for p in self.pages:
            r = subprocess.run(["man", "--warnings", "-l", "-E", "UTF-8", p],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            self.assertEqual(r.stderr, "", p)
            self.assertEqual(r.returncode, 0, p)
            self.assertIn("NAME", r.stdout)


class DocsDriftTest(unittest.TestCase):
    """Adding a key or an option without documenting it fails here."""

    def test_every_config_key_in_its_section_of_guardlet_conf_5(self):
        secs = shipping.sections(scd("guardlet.conf.5.scd"), r"^# \[(\w+)\]$")
        keys = shipping.config_keys()
        self.assertGreater(len(keys), 30)
        for section, name, default, _ in keys:
            self.assertIn(section, secs, f"no '# [{section}]' heading in guardlet.conf.5.scd")
            self.assertIn(f"*{name}=*", secs[section], f"{section}.{name} is not documented")

    def test_every_default_in_guardlet_conf_5(self):
        secs = shipping.sections(scd("guardlet.conf.5.scd"), r"^# \[(\w+)\]$")
        for section, name, default, _ in shipping.config_keys():
            body = secs[section].split(f"*{name}=*", 1)[1].split("\n*", 1)[0]
            for d in default if isinstance(default, list) else [default]:
                # Values in bold, paths in italics (scdoc's *...* and _..._).
                want = r"empty" if d == "" else r"[*_]%s[*_]" % re.escape(d)
                self.assertRegex(" ".join(body.split()), "Default: .*" + want,
                                 f"{section}.{name} default {d!r}")

    def test_every_guardlet_option_in_guardlet_8(self):
        text = scd("guardlet.8.scd")
        opts = long_options(GUARDLET)
        self.assertIn("check-config", opts)
        for o in opts:
            self.assertRegex(text, rf"\*(-\w, )?--{o}\*", f"--{o} is not in guardlet.8.scd")

    def test_every_guardletctl_option_in_guardletctl_1(self):
        if not os.path.exists(GUARDLETCTL):
            self.skipTest(f"{GUARDLETCTL} is not built")
        text = scd("guardletctl.1.scd")
        for o in long_options(GUARDLETCTL):
            self.assertRegex(text, rf"\*(-\w, )?--{o}\*", f"--{o} is not in guardletctl.1.scd")
        for cmd in ("status", "pods", "explain", "actions"):
            self.assertIn(f"*{cmd}*", text)


class DefaultConfigTest(unittest.TestCase):
    """packaging/guardlet.conf, installed as /etc/guardlet/guardlet.conf."""

    def check_config(self, path):
        return subprocess.run([GUARDLET, "--check-config", "-c", path], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)

    def commented_keys(self):
        with open(shipping.DEFAULT_CONF) as f:
            text = f.read()
        found = {}
        for section, body in shipping.sections(text, r"^\[(\w+)\]$").items():
            for line in body.splitlines():
                m = re.match(r"^#(\w+)=(.*)$", line)
                if m:
                    # An inline comment starts at whitespace followed by '#', as guardlet strips it.
                    value = re.split(r"\s+#", m.group(2), 1)[0].strip()
                    found.setdefault((section, m.group(1)), []).append(value)
        return text, found

    def test_as_shipped_passes_check_config(self):
        r = self.check_config(shipping.DEFAULT_CONF)
        self.assertEqual((r.returncode, r.stdout), (0, "configuration OK\n"))

    def test_every_key_commented_out_at_the_code_default(self):
        text, found = self.commented_keys()
        self.assertNotRegex(text, r"(?m)^\w+=", "a key is set, not commented out")
        keys = shipping.config_keys()
        self.assertEqual(sorted(found), sorted((s, k) for s, k, _, _ in keys))
        for section, name, default, _ in keys:
            want = default if isinstance(default, list) else [default]
            self.assertEqual(found[(section, name)], want, f"{section}.{name}")

    def test_uncommented_passes_check_config(self):
        with open(shipping.DEFAULT_CONF) as f:
            text = re.sub(r"(?m)^#(\w+=)", r"\1", f.read())
        with tempfile.TemporaryDirectory(prefix="guardlet-conf-") as d:
            path = os.path.join(d, "guardlet.conf")
            with open(path, "w") as f:
                f.write(text)
            r = self.check_config(path)
        self.assertEqual((r.returncode, r.stdout), (0, "configuration OK\n"))
