#!/usr/bin/env python3
"""run.py: boots the cached Debian 12 VM under QEMU (software emulation, no network), installs the guardlet .deb
from a 9p share, runs the scenario suite (and optionally the peers bench) inside through the image's boot-time
unit, and copies the results and guardlet's journal out.

    tests/e2e/run.py --deb build/deb/guardlet_0.1.0_amd64.deb [--out build/e2e] [--only 1,7] [--bench]

Prints every scenario's PASS/FAIL line; exit 0 when all pass, 1 on any FAIL or a run that did not finish,
77 when the machine cannot run it (no QEMU or mmdebstrap, not root, archive unreachable for the first build).
Every step has an outer timeout: QEMU is killed by its PID after --timeout minutes.
"""
import argparse
import glob
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SKIP = 77


def log(msg):
    print(f"e2e: {msg}", flush=True)


def image_dir(build_timeout):
    """The cached image directory (built on first use); exits 77 with the reason when it cannot be had."""
    try:
        p = subprocess.run([os.path.join(HERE, "build-image.sh")], stdout=subprocess.PIPE, text=True,
                           timeout=build_timeout)
    except subprocess.TimeoutExpired:
        log(f"FAIL: building the VM image took more than {build_timeout} s")
        sys.exit(1)
    if p.returncode == SKIP:
        sys.exit(SKIP)
    if p.returncode != 0:
        log(f"FAIL: building the VM image failed (exit {p.returncode})")
        sys.exit(1)
    return p.stdout.strip().splitlines()[-1]


def fill_share(share, deb, only, bench):
    if os.path.exists(share):
        shutil.rmtree(share)
    os.makedirs(os.path.join(share, "results"))
    shutil.copy(deb, os.path.join(share, "guardlet.deb"))
    shutil.copytree(os.path.join(HERE, "scenarios"), os.path.join(share, "scenarios"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(os.path.join(REPO, "tests", "fakeapi"), os.path.join(share, "fakeapi"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(os.path.join(HERE, "boot.sh"), os.path.join(share, "boot.sh"))
    os.chmod(os.path.join(share, "boot.sh"), 0o755)
    with open(os.path.join(share, "run.conf"), "w") as f:
        f.write(f"ONLY={only}\nBENCH={1 if bench else 0}\n")


def boot(img, share, out, minutes):
    console = os.path.join(out, "console.log")
    cmd = ["qemu-system-x86_64", "-machine", "accel=tcg", "-cpu", "max", "-smp", "2", "-m", "2048",
           "-nic", "none", "-display", "none", "-monitor", "none", "-serial", f"file:{console}",
           "-no-reboot",
           "-kernel", os.path.join(img, "vmlinuz"), "-initrd", os.path.join(img, "initrd.img"),
           "-append", "root=/dev/vda rw console=ttyS0 quiet systemd.show_status=error loglevel=4 "
                      "systemd.journald.forward_to_console=0",
           "-drive", f"file={os.path.join(img, 'rootfs.img')},if=virtio,format=raw,snapshot=on",
           "-virtfs", f"local,path={share},mount_tag=host0,security_model=none,id=host0"]
    log(f"booting the VM (console: {console}; at most {minutes} min)")
    t0 = time.monotonic()
    # The snapshot overlay goes to TMPDIR; keep it off a tmpfs-sized /tmp.
    env = dict(os.environ, TMPDIR=os.environ.get("GUARDLET_E2E_TMPDIR", "/var/tmp"))
    q = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        rc = q.wait(timeout=minutes * 60)
    except subprocess.TimeoutExpired:
        log(f"FAIL: the VM did not power off within {minutes} min; killing QEMU (pid {q.pid})")
        q.send_signal(signal.SIGKILL)
        q.wait()
        rc = None
    return rc, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deb", help="the guardlet .deb (default: the newest build/deb/guardlet_*.deb)")
    ap.add_argument("--out", default=os.path.join(REPO, "build", "e2e"))
    ap.add_argument("--only", default="", help="comma-separated scenario numbers (default: all)")
    ap.add_argument("--bench", action="store_true", help="run the peers bench after the scenarios")
    ap.add_argument("--bench-only", action="store_true", help="the peers bench without the scenarios")
    ap.add_argument("--timeout", type=float, default=25, help="minutes before QEMU is killed")
    ap.add_argument("--build-timeout", type=float, default=1200, help="seconds for the first image build")
    a = ap.parse_args()

    deb = a.deb
    if not deb:
        debs = sorted(glob.glob(os.path.join(REPO, "build", "deb", "guardlet_*.deb")), key=os.path.getmtime)
        if not debs:
            log("FAIL: no .deb given and none in build/deb (run make deb)")
            return 1
        deb = debs[-1]
    if not os.path.exists(deb):
        log(f"FAIL: {deb}: no such file")
        return 1
    t_img = time.monotonic()
    img = image_dir(a.build_timeout)
    t_img = time.monotonic() - t_img
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    share = os.path.join(out, "share")
    only = "bench" if a.bench_only else a.only
    fill_share(share, deb, only, a.bench or a.bench_only)
    log(f"image {img} ({t_img:.0f} s to get it), package {os.path.basename(deb)}")
    rc, secs = boot(img, share, out, a.timeout)
    results = os.path.join(share, "results")
    dest = os.path.join(out, "results")
    if os.path.exists(dest):
        shutil.rmtree(dest)
    shutil.copytree(results, dest)
    log(f"VM ran {secs:.0f} s (QEMU exit {rc}); results in {dest}")
    summary = os.path.join(dest, "summary.txt")
    lines = []
    if os.path.exists(summary):
        with open(summary) as f:
            lines = [ln.rstrip("\n") for ln in f if ln.strip()]
    for ln in lines:
        print(ln, flush=True)
    bench = os.path.join(dest, "bench.txt")
    if os.path.exists(bench):
        with open(bench) as f:
            sys.stdout.write(f.read())
    done = os.path.exists(os.path.join(dest, "done"))
    fails = [ln for ln in lines if ln.startswith("FAIL")]
    passes = [ln for ln in lines if ln.startswith("PASS")]
    if not done:
        log("FAIL: the run inside the VM did not finish (see console.log and results/boot.log)")
        return 1
    log(f"{len(passes)} passed, {len(fails)} failed")
    return 1 if fails or (not passes and only != "bench") else 0


if __name__ == "__main__":
    sys.exit(main())
