"""cgfixture.py: writes kubelet-shaped cgroup fixture trees, mirroring tests/unit/cgfixture.c byte for byte."""
import dataclasses
import os
import shutil
import tempfile

MiB = 1 << 20
UNLIMITED = None  # "max" (v1: 9223372036854771712)
V1_UNLIMITED = "9223372036854771712"
V2_CONTROLLERS = "cpuset cpu io memory hugetlb pids rdma misc\n"
ODD_UID = "0dd0dd00-0000-4000-8000-000000000bad"
LAYOUTS = ("v2-systemd", "v2-cgroupfs", "v1-cgroupfs", "v1-systemd")
QOS = ("guaranteed", "burstable", "besteffort")
RUNTIMES = ("containerd", "cri-o", "docker", "cgroupfs")
V1_CONTROLLERS = ("memory", "cpu,cpuacct", "pids")
PSI = ("memory", "cpu", "io")


def _mix32(x):
    x &= 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    return x ^ (x >> 16)


def pod_uid(n):
    """The same deterministic UID as cgf_uid(n)."""
    a, b, c = (_mix32(n * 4 + k) for k in (1, 2, 3))
    return (f"{a:08x}-{b & 0xffff:04x}-4{(b >> 16) & 0xfff:03x}-8{c & 0xfff:03x}-"
            f"{(c >> 16) & 0xffff:04x}{n & 0xFFFFFFFF:08x}")


def container_id(n):
    """The same deterministic 64-hex id as cgf_container_id(n)."""
    return "".join(f"{_mix32(n * 8 + i + 0x9E3779B9):08x}" for i in range(8))


@dataclasses.dataclass
class Psi:
    some_avg10_bp: int = 0  # hundredths of a percent
    some_total_usec: int = 0
    full_avg10_bp: int = 0
    full_total_usec: int = 0


@dataclasses.dataclass
class Figures:
    """A pod's figures in guardlet's units; None in a limit means "max"."""
    memory_current: int = 100 * MiB
    inactive_file: int = 10 * MiB
    memory_max: int = 512 * MiB
    memory_high: int = None
    events_high: int = 0
    events_max: int = 0
    oom: int = 0
    oom_kill: int = 0
    cpu_usage_usec: int = 0
    cpu_nr_periods: int = 0
    cpu_nr_throttled: int = 0
    cpu_throttled_usec: int = 0
    pids_current: int = 1
    pids_max: int = 4096
    psi: list = dataclasses.field(default_factory=lambda: [Psi(), Psi(), Psi()])

    @classmethod
    def example(cls, n):
        """The same figures as cgf_figures_example(n)."""
        return cls(memory_current=(100 + n % 300) * MiB + n * 4096, inactive_file=(10 + n % 50) * MiB + 8192,
                   memory_max=512 * MiB, memory_high=None, events_high=0, events_max=3 + n % 5,
                   oom=1 + n % 3, oom_kill=n % 3, cpu_usage_usec=1000000 * (n + 7) + n,
                   cpu_nr_periods=10000 + n, cpu_nr_throttled=100 + n % 17, cpu_throttled_usec=250000 + n,
                   pids_current=3 + n % 40, pids_max=4096,
                   psi=[Psi((n * 7 + r * 100) % 10001, 123456 * (n + 1) + r, (n * 3 + r * 10) % 10001,
                            23456 * (n + 1) + r) for r in range(3)])

    def half(self):
        h = dataclasses.replace(self, psi=[dataclasses.replace(p) for p in self.psi])
        for k in ("memory_current", "inactive_file", "events_max", "oom", "oom_kill", "cpu_usage_usec",
                  "cpu_nr_periods", "cpu_nr_throttled", "cpu_throttled_usec", "pids_current"):
            setattr(h, k, getattr(self, k) // 2)
        for p in h.psi:
            p.some_total_usec //= 2
            p.full_total_usec //= 2
        return h


def _kv(pairs):
    return "".join(f"{k} {v}\n" for k, v in pairs)


def _limit(v, v1):
    return (V1_UNLIMITED if v1 else "max") + "\n" if v is None else f"{v}\n"


def _memory_stat_v2(f, variant):
    new = variant % 2 == 0  # 6.x kernel; odd variants are 5.15, so inactive_file moves line
    active_file = (f.inactive_file // 2) & ~4095
    file = f.inactive_file + active_file
    kernel = 1835008
    anon = max(f.memory_current - (file + kernel), 0)
    p = [("anon", anon), ("file", file), ("kernel", kernel), ("kernel_stack", 229376), ("pagetables", 720896)]
    p += [("sec_pagetables", 0)] if new else []
    p += [("percpu", 17280), ("sock", 0)] + ([("vmalloc", 8192)] if new else []) + [("shmem", 4096)]
    p += [("zswap", 0), ("zswapped", 0)] if new else []
    p += [("file_mapped", active_file // 4), ("file_dirty", 12288), ("file_writeback", 0), ("swapcached", 0),
          ("anon_thp", 0), ("file_thp", 0), ("shmem_thp", 0), ("inactive_anon", anon // 8),
          ("active_anon", anon - anon // 8 + 4096), ("inactive_file", f.inactive_file),
          ("active_file", active_file), ("unevictable", 0), ("slab_reclaimable", 409600),
          ("slab_unreclaimable", 475136), ("slab", 884736), ("workingset_refault_anon", 0),
          ("workingset_refault_file", 37), ("workingset_activate_anon", 0), ("workingset_activate_file", 5),
          ("workingset_restore_anon", 0), ("workingset_restore_file", 2), ("workingset_nodereclaim", 0)]
    scan = [("pgscan", 1024), ("pgsteal", 998)]
    if new:
        p += [("pgdemote_kswapd", 0), ("pgdemote_direct", 0)] + scan + [
            ("pgscan_kswapd", 0), ("pgscan_direct", 1024), ("pgsteal_kswapd", 0), ("pgsteal_direct", 998)]
    p += [("pgfault", 581237), ("pgmajfault", 12), ("pgrefill", 40)] + ([] if new else scan)
    p += [("pgactivate", 300), ("pgdeactivate", 40), ("pglazyfree", 0), ("pglazyfreed", 0)]
    p += [("zswpin", 0), ("zswpout", 0), ("zswpwb", 0)] if new else []
    p += [("thp_fault_alloc", 0), ("thp_collapse_alloc", 0)]
    return _kv(p)


def _memory_stat_v1(f):
    # Local keys first, then hierarchical total_*; total_inactive_file is the one to use.
    active_file = (f.inactive_file // 2) & ~4095
    cache = f.inactive_file + active_file
    rss = max(f.memory_current - cache, 0)
    local_inactive, local_active = f.inactive_file // 4, active_file // 4
    return _kv([("cache", cache // 4), ("rss", rss // 4), ("rss_huge", 0), ("shmem", 0),
                ("mapped_file", local_active // 2), ("dirty", 0), ("writeback", 0),
                ("workingset_refault_anon", 0), ("workingset_refault_file", 3), ("swap", 0), ("swapcached", 0),
                ("pgpgin", 39061), ("pgpgout", 35566), ("pgfault", 49890), ("pgmajfault", 0),
                ("inactive_anon", 0), ("active_anon", rss // 4), ("inactive_file", local_inactive),
                ("active_file", local_active), ("unevictable", 0),
                ("hierarchical_memory_limit", V1_UNLIMITED), ("hierarchical_memsw_limit", V1_UNLIMITED),
                ("total_cache", cache), ("total_rss", rss), ("total_rss_huge", 0), ("total_shmem", 0),
                ("total_mapped_file", active_file // 2), ("total_dirty", 4096), ("total_writeback", 0),
                ("total_workingset_refault_anon", 0), ("total_workingset_refault_file", 356), ("total_swap", 0),
                ("total_swapcached", 0), ("total_pgpgin", 7324616), ("total_pgpgout", 7300908),
                ("total_pgfault", 8131123), ("total_pgmajfault", 2162), ("total_inactive_anon", 0),
                ("total_active_anon", rss), ("total_inactive_file", f.inactive_file),
                ("total_active_file", active_file), ("total_unevictable", 0)])


def _psi_text(p):
    return (f"some avg10={p.some_avg10_bp // 100}.{p.some_avg10_bp % 100:02d} avg60=0.00 avg300=0.00 "
            f"total={p.some_total_usec}\n"
            f"full avg10={p.full_avg10_bp // 100}.{p.full_avg10_bp % 100:02d} avg60=0.00 avg300=0.00 "
            f"total={p.full_total_usec}\n")


def _files(kind, f, variant):
    """{name: text} of one cgroup directory for one controller kind ("v2", "memory", "cpu", "pids")."""
    if kind == "v2":
        user = f.cpu_usage_usec // 10 * 7
        out = {"cgroup.events": "populated 1\nfrozen 0\n", "memory.current": f"{f.memory_current}\n",
               "memory.max": _limit(f.memory_max, False), "memory.high": _limit(f.memory_high, False),
               "memory.stat": _memory_stat_v2(f, variant),
               "memory.events": _kv([("low", 0), ("high", f.events_high), ("max", f.events_max), ("oom", f.oom),
                                     ("oom_kill", f.oom_kill), ("oom_group_kill", 0)]),
               "cpu.stat": _kv([("usage_usec", f.cpu_usage_usec), ("user_usec", user),
                                ("system_usec", f.cpu_usage_usec - user), ("nr_periods", f.cpu_nr_periods),
                                ("nr_throttled", f.cpu_nr_throttled), ("throttled_usec", f.cpu_throttled_usec),
                                ("nr_bursts", 0), ("burst_usec", 0)]),
               "pids.current": f"{f.pids_current}\n", "pids.max": _limit(f.pids_max, False)}
        for r, name in enumerate(PSI):
            out[f"{name}.pressure"] = _psi_text(f.psi[r])
        return out
    if kind == "memory":
        return {"memory.usage_in_bytes": f"{f.memory_current}\n", "memory.limit_in_bytes": _limit(f.memory_max, True),
                "memory.stat": _memory_stat_v1(f),
                "memory.oom_control": f"oom_kill_disable 0\nunder_oom 0\noom_kill {f.oom_kill}\n"}
    if kind == "cpu":  # nanoseconds with a sub-microsecond remainder
        return {"cpuacct.usage": f"{f.cpu_usage_usec * 1000 + 456}\n",
                "cpu.stat": _kv([("nr_periods", f.cpu_nr_periods), ("nr_throttled", f.cpu_nr_throttled),
                                 ("throttled_time", f.cpu_throttled_usec * 1000 + 321), ("nr_bursts", 0),
                                 ("burst_time", 0)])}
    return {"pids.current": f"{f.pids_current}\n", "pids.max": _limit(f.pids_max, True)}


def put(path, text):
    """Rewrites a file in place, as the kernel's files change: cached descriptors see the new text.
    A reader racing the write can see new text followed by old bytes when the text shrinks."""
    data = text.encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    try:
        os.pwrite(fd, data, 0)
        if os.fstat(fd).st_size > len(data):
            os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


class Pod:
    def __init__(self, uid, qos, cgroup, figures, serial):
        self.uid, self.qos, self.cgroup, self.figures, self.serial = uid, qos, cgroup, figures, serial
        self.containers = []  # (runtime, id)


class CgroupFixture:
    """A /sys/fs/cgroup look-alike in a temp folder; see tests/unit/cgfixture.h for the layouts."""

    def __init__(self, layout="v2-systemd", parent=None):
        assert layout in LAYOUTS
        self.layout = layout
        self.v1 = layout.startswith("v1")
        self.systemd = layout.endswith("systemd")
        self.kubepods = "kubepods.slice" if self.systemd else "kubepods"
        self.root = tempfile.mkdtemp(prefix="guardlet-cgf-", dir=parent)
        self.pods = {}
        self._serial = self._ctr = 0
        self._has_kubepods = False
        if self.v1:
            for c in V1_CONTROLLERS:
                os.mkdir(os.path.join(self.root, c))
                put(os.path.join(self.root, c, "cgroup.procs"), "1\n")
            os.symlink("cpu,cpuacct", os.path.join(self.root, "cpu"))
            os.symlink("cpu,cpuacct", os.path.join(self.root, "cpuacct"))
            put(os.path.join(self.root, "memory", "memory.usage_in_bytes"), "1073741824\n")
            os.mkdir(os.path.join(self.root, "systemd"))
            os.mkdir(os.path.join(self.root, "unified"))
            put(os.path.join(self.root, "unified", "cgroup.controllers"), "\n")  # hybrid: not at the root
        else:
            put(os.path.join(self.root, "cgroup.controllers"), V2_CONTROLLERS)
            put(os.path.join(self.root, "cgroup.subtree_control"), V2_CONTROLLERS)
            put(os.path.join(self.root, "cgroup.procs"), "")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def controllers(self):
        """[(kind, absolute controller dir)]."""
        if self.v1:
            return [(k, os.path.join(self.root, c)) for k, c in zip(("memory", "cpu", "pids"), V1_CONTROLLERS)]
        return [("v2", self.root)]

    def _make(self, rel, figures=None, variant=0):
        for kind, base in self.controllers():
            d = os.path.join(base, rel)
            os.makedirs(d, exist_ok=True)
            put(os.path.join(d, "cgroup.procs"), "")
            if figures is None:
                if not self.v1:
                    put(os.path.join(d, "cgroup.controllers"), V2_CONTROLLERS)
                continue
            for name, text in _files(kind, figures, variant).items():
                put(os.path.join(d, name), text)

    def _qos_dir(self, qos):
        if qos == "guaranteed":
            return None
        return f"kubepods-{qos}.slice" if self.systemd else qos

    def _pod_rel(self, uid, qos):
        if self.systemd:
            u = uid.replace("-", "_")
            name = f"kubepods-pod{u}.slice" if qos == "guaranteed" else f"kubepods-{qos}-pod{u}.slice"
        else:
            name = f"pod{uid}"
        q = self._qos_dir(qos)
        return "/".join(x for x in (self.kubepods, q, name) if x)

    def create_kubepods(self):
        if self._has_kubepods:
            return
        self._make(self.kubepods)
        for q in ("burstable", "besteffort"):
            self._make(f"{self.kubepods}/{self._qos_dir(q)}")
        self._has_kubepods = True

    def add_pod(self, uid, qos="burstable", figures=None, containers=()):
        """Adds a pod (figures default to Figures.example of its serial) with containers given as
        runtime names from RUNTIMES or (runtime, id) pairs."""
        assert qos in QOS and len(uid) == 36
        self.create_kubepods()
        figures = figures if figures is not None else Figures.example(self._serial)
        pod = Pod(uid, qos, self._pod_rel(uid, qos), figures, self._serial)
        self._serial += 1
        self._make(pod.cgroup, figures, pod.serial)
        self.pods[uid] = pod
        for c in containers:
            self.add_container(uid, *((c,) if isinstance(c, str) else c))
        return pod

    def _child(self, pod, name, conmon=False):
        rel = f"{pod.cgroup}/{name}"
        if not conmon:
            self._make(rel, pod.figures.half(), pod.serial + 1)
            return
        for kind, base in self.controllers():
            d = os.path.join(base, rel)
            os.makedirs(d, exist_ok=True)
            put(os.path.join(d, "cgroup.procs"), "4242\n")
            if kind in ("v2", "memory"):
                put(os.path.join(d, "memory.current"), "1069056\n")

    def add_container(self, uid, runtime=None, cid=None):
        """runtime: "containerd", "cri-o", "docker", "cgroupfs" (bare id); default per driver."""
        pod = self.pods[uid]
        runtime = runtime or ("containerd" if self.systemd else "cgroupfs")
        if cid is None:
            cid = container_id(self._ctr)
            self._ctr += 1
        name = {"containerd": f"cri-containerd-{cid}.scope", "cri-o": f"crio-{cid}.scope",
                "docker": f"docker-{cid}.scope", "cgroupfs": cid}[runtime]
        pod.containers.append((runtime, cid))
        self._child(pod, name)
        if runtime == "cri-o":
            self._child(pod, f"crio-conmon-{cid}.scope", conmon=True)
        return cid

    def update(self, uid, figures=None, **changes):
        """Rewrites the pod's files in place with new figures (or the old ones with changes)."""
        pod = self.pods[uid]
        new = figures if figures is not None else dataclasses.replace(pod.figures, **changes)
        old = pod.figures
        for kind, base in self.controllers():
            d = os.path.join(base, pod.cgroup)
            was = _files(kind, old, pod.serial)
            for name, text in _files(kind, new, pod.serial).items():
                if was.get(name) != text:
                    put(os.path.join(d, name), text)
        pod.figures = new

    def write(self, uid, name, text):
        """Writes any text into one of the pod's files (v1: in the controller the name belongs to)."""
        base = dict(self.controllers())
        kind = "v2" if not self.v1 else "cpu" if name.startswith("cpu") else "pids" if name.startswith(
            "pids.") else "memory"
        put(os.path.join(base[kind], self.pods[uid].cgroup, name), text)

    def remove(self, uid):
        pod = self.pods.pop(uid)
        for _, base in self.controllers():
            shutil.rmtree(os.path.join(base, pod.cgroup), ignore_errors=True)

    def add_odd_entries(self, uid=None):
        """Entries a scanner must ignore, as cgf_add_odd_entries does."""
        self.create_kubepods()
        fig = Figures.example(999)
        rel = self._pod_rel(ODD_UID, "burstable")
        for _, base in self.controllers():
            put(os.path.join(base, rel), "not a cgroup\n")  # a FILE named like a pod
        self._make(f"{self.kubepods}/{self._qos_dir('burstable')}/" +
                   ("kubepods-burstable-podnot-a-uid.slice" if self.systemd else "podnot-a-uid"), fig)
        self._make("init.scope", fig)
        self._make(f"{self.kubepods}/init.scope", fig)
        self._make("system.slice")
        self._make("system.slice/kubelet.service", fig)
        if uid is not None:
            pod = self.pods[uid]
            cid = container_id(self._ctr)[:60] + "zzzz"  # not hex
            self._ctr += 1
            self._child(pod, f"cri-containerd-{cid}.scope" if self.systemd else cid)
            self._child(pod, f"crio-conmon-{container_id(self._ctr)}.scope", conmon=True)
            self._ctr += 1
