"""test_catalog.py: every MESSAGE_ID guardlet logs has a journal catalog entry that journalctl accepts."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

TOP = os.path.join(os.path.dirname(__file__), "..", "..")


class CatalogTest(unittest.TestCase):
    def ids(self):
        with open(os.path.join(TOP, "include", "guardlet", "message_ids.h")) as f:
            return set(re.findall(r'#define GL_MID_\w+\s+"([0-9a-f]{32})"', f.read()))

    def test_every_id_explained_once(self):
        with open(os.path.join(TOP, "systemd", "guardlet.catalog")) as f:
            text = f.read()
        entries = re.findall(r"^-- ([0-9a-f]{32})$", text, re.M)
        self.assertEqual(len(entries), len(set(entries)), "duplicate catalog entries")
        self.assertEqual(set(entries), self.ids())
        for block in text.split("\n-- ")[1:]:
            self.assertIn("\nSubject: ", block)
            self.assertIn("\nDefined-By: guardlet", block)

    @unittest.skipUnless(shutil.which("journalctl"), "journalctl is not installed")
    def test_journalctl_compiles_it(self):
        # journalctl builds its catalog database from a root's catalog folder; a scratch root keeps
        # the machine's own database untouched.
        with tempfile.TemporaryDirectory() as root:
            cat = os.path.join(root, "usr", "lib", "systemd", "catalog")
            os.makedirs(cat)
            shutil.copy(os.path.join(TOP, "systemd", "guardlet.catalog"), cat)
            os.makedirs(os.path.join(root, "var", "lib", "systemd", "catalog"))
            p = subprocess.run(["journalctl", "--root", root, "--update-catalog"], text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            p = subprocess.run(["journalctl", "--root", root, "--list-catalog"], text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            listed = set(re.findall(r"^([0-9a-f]{32}) ", p.stdout, re.M))
            self.assertEqual(listed, self.ids(), p.stderr)
