"""alloc.py: a pod's memory workload for the e2e scenarios: touches HOLD MiB at once, then RATE MiB per second
up to MAX MiB (0: no growth), then holds it until killed.   python3 alloc.py HOLD RATE MAX [STEP_MS]

Memory comes from anonymous mmap with MADV_HUGEPAGE where the kernel offers it: under software emulation a
4 KiB page fault costs enough to cap a ramp at ~65 MiB/s, transparent huge pages make spikes spike."""
import mmap
import sys
import time

MiB = 1 << 20
chunks = []


def touch(mib):
    m = mmap.mmap(-1, mib * MiB, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        m.madvise(mmap.MADV_HUGEPAGE)
    except (AttributeError, OSError):
        pass
    memoryview(m)[::4096] = b"\1" * (mib * MiB // 4096)  # one write per page: resident, not just reserved
    chunks.append(m)


hold, rate, top = (int(a) for a in sys.argv[1:4])
step = (int(sys.argv[4]) if len(sys.argv) > 4 else 250) / 1000.0
if hold:
    touch(hold)
have, t0 = hold, time.monotonic()
while rate and have < top:
    want = min(top, hold + int(rate * (time.monotonic() - t0)))
    if want > have:
        touch(want - have)
        have = want
    time.sleep(step)
while True:
    time.sleep(3600)
