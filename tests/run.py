#!/usr/bin/env python3
"""run.py: runs guardlet's Check suites and integration tests, and prints one closing tally line."""
import argparse
import os
import re
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CHECK_SUMMARY = re.compile(r"^(\d+)%: Checks: (\d+), Failures: (\d+), Errors: (\d+)", re.M)
# valgrind as libnl uses it: any error or definite leak fails the run with a distinctive code.
VALGRIND = ["valgrind", "--quiet", "--error-exitcode=66", "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect", "--show-leak-kinds=definite,indirect",
            "--track-fds=no"]


SKIP_LINE = re.compile(r"^SKIP (.*)$", re.M)


def run_unit(bins, wrapper):
    """Runs Check suites. A Check test that cannot run here returns early after printing a line
    "SKIP name: reason"; those are counted as skipped (and not as passed)."""
    passed = failed = skipped = 0
    for b in bins:
        cmd = wrapper + [b]
        t0 = time.monotonic()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=900)
        out = p.stdout
        sys.stdout.write(out)
        m = CHECK_SUMMARY.search(out)
        if not m:
            print(f"FAIL {os.path.basename(b)}: no Check summary (exit {p.returncode})")
            failed += 1
            continue
        checks, fails, errs = int(m.group(2)), int(m.group(3)), int(m.group(4))
        skips = SKIP_LINE.findall(out)
        skipped += len(skips)
        passed += max(checks - fails - errs - len(skips), 0)
        failed += fails + errs
        if p.returncode != 0 and fails + errs == 0:
            # valgrind's own verdict (66) or a crash outside any test.
            print(f"FAIL {os.path.basename(b)}: exit code {p.returncode}")
            failed += 1
        print(f"{os.path.basename(b)}: {checks} checks in {time.monotonic() - t0:.1f}s")
    return passed, failed, skipped


def run_integration(builddir, wrapper):
    os.environ["GUARDLET_BUILDDIR"] = os.path.abspath(builddir)
    os.environ["GUARDLET_TEST_WRAPPER"] = " ".join(wrapper)
    sys.path.insert(0, os.path.join(HERE, "integration"))
    suite = unittest.defaultTestLoader.discover(os.path.join(HERE, "integration"),
                                                pattern="test_*.py", top_level_dir=os.path.join(HERE, "integration"))
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    skipped = len(result.skipped)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    passed = result.testsRun - failed - skipped
    for test, reason in result.skipped:
        print(f"SKIP {test.id()}: {reason}")
    return passed, failed, skipped


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--builddir", default="build")
    ap.add_argument("--unit-only", action="store_true")
    ap.add_argument("--integration-only", action="store_true")
    ap.add_argument("--valgrind", action="store_true")
    ap.add_argument("bins", nargs="*")
    a = ap.parse_args()
    wrapper = VALGRIND if a.valgrind else []
    if a.valgrind:
        # Suites that wait for a condition may wait longer under valgrind (upper bounds only).
        os.environ["GUARDLET_TEST_SLOW"] = "4"

    passed = failed = skipped = 0
    if not a.integration_only:
        p, f, s = run_unit(a.bins, wrapper)
        passed += p
        failed += f
        skipped += s
    if not a.unit_only:
        p, f, s = run_integration(a.builddir, wrapper)
        passed += p
        failed += f
        skipped += s
    print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
