"""node.py: a kubelet-shaped node inside the e2e VM, for the scenarios (Python stdlib only).

- Pods as the kubelet's systemd cgroup driver lays them out, written straight to cgroupfs:
  /sys/fs/cgroup/kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid_>.slice/cri-containerd-<64 hex>.scope
  (Guaranteed pods directly under kubepods.slice), pod-level memory.max / pids.max / cpu.weight like the kubelet's.
- The fake API server (tests/fakeapi) in this process on 127.0.0.1:6443 over TLS, with the same pods by UID.
- guardlet from the package, configured by a drop-in and restarted through systemd.
- A "kubelet" that carries out evictions the fake server accepted: kills the pod's processes, removes its cgroup.
- Figures: node memory.available the kubelet's way, /proc/vmstat oom_kill, guardlet's journal as JSON.
"""
import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "fakeapi"))
import fakeapi  # noqa: E402
import fakestore  # noqa: E402

CG = "/sys/fs/cgroup"
KUBEPODS = os.path.join(CG, "kubepods.slice")
NODE = "e2e-node"
NS = "shop"
KUBECONFIG = "/etc/guardlet/e2e-kubeconfig"
DROPIN = "/etc/guardlet/guardlet.conf.d/e2e.conf"
ALLOC = os.path.join(HERE, "alloc.py")
MiB = 1 << 20
GiB = 1 << 30

# The base configuration, sized for a 2 GiB VM with no swap: short windows so that each scenario takes
# seconds, and levels far enough apart that the ramps in the scenarios cross them one by one.
BASE_CONF = {
    "Guard": {"NodeName": NODE, "Interval": "500ms"},
    "Memory": {"ThrottleBelow": "30%", "EvictBelow": "20%", "KillBelow": "10%", "PressureDuration": "5s"},
    "CPU": {"PressureLimit": "50%", "PressureDuration": "5s"},
    "Runaway": {"LeakWindow": "20s", "LeakHorizon": "5min", "MinGrowthRate": "2Mi"},
    "Actions": {"EvictGracePeriod": "5s", "PostActionDelay": "5s", "MaxEvictionsPerMinute": "10",
                "EmergencyAfter": "8s"},
    "Kubernetes": {"Kubeconfig": KUBECONFIG},
}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(cmd, timeout=60, check=True):
    p = subprocess.run(cmd, shell=isinstance(cmd, str), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"{cmd}: exit {p.returncode}: {p.stdout.strip()}")
    return p.stdout


def read(path, default=None):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        if default is None:
            raise
        return default


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def kv(path):
    out = {}
    for ln in read(path, "").splitlines():
        parts = ln.split()
        if len(parts) >= 2:
            out[parts[0].rstrip(":")] = parts[1]
    return out


# ---- node figures ----

def meminfo():
    m = {k: int(v) * 1024 for k, v in kv("/proc/meminfo").items() if v.isdigit()}
    return m


def available():
    """memory.available as the kubelet (and guardlet) compute it: capacity minus the working set."""
    m = meminfo()
    ws = m["MemTotal"] - m["MemFree"] - m["Inactive(file)"]
    return m["MemTotal"] - max(ws, 0)


def capacity():
    return meminfo()["MemTotal"]


def vm_oom_kills():
    return int(kv("/proc/vmstat").get("oom_kill", 0))


def psi_some_avg10(path):
    for ln in read(path, "").splitlines():
        if ln.startswith("some"):
            return float(ln.split()[1].split("=")[1])
    return 0.0


class Sampler(threading.Thread):
    """Samples node memory.available every 100 ms, to find when pressure began."""

    def __init__(self, period=0.1):
        super().__init__(daemon=True)
        self.period, self.samples, self._halt = period, [], threading.Event()

    def run(self):
        while not self._halt.is_set():
            self.samples.append((time.time(), available()))
            self._halt.wait(self.period)

    def stop(self):
        self._halt.set()
        self.join(5)
        return self

    def first_below(self, limit, after=0.0):
        for t, a in self.samples:
            if t >= after and a < limit:
                return t
        return None

    def minimum(self):
        return min((a for _, a in self.samples), default=None)


# ---- cgroups shaped like the kubelet's (systemd driver) ----

def enable_controllers(path):
    want = "+cpu +memory +pids"
    try:
        write(os.path.join(path, "cgroup.subtree_control"), want)
    except OSError:
        for c in want.split():
            try:
                write(os.path.join(path, "cgroup.subtree_control"), c)
            except OSError:
                pass


def setup_kubepods():
    enable_controllers(CG)
    for d in (KUBEPODS, os.path.join(KUBEPODS, "kubepods-burstable.slice"),
              os.path.join(KUBEPODS, "kubepods-besteffort.slice")):
        os.makedirs(d, exist_ok=True)
        enable_controllers(d)


def pod_dirs():
    """Every pod cgroup under kubepods.slice (any QoS), deepest layout first."""
    out = []
    for root, dirs, _ in os.walk(KUBEPODS):
        out += [os.path.join(root, d) for d in dirs if "-pod" in d]
    return out


def remove_cgroup(path, timeout=20):
    """Kills everything in a cgroup (thawed too, in case guardlet froze it) and removes it, children first."""
    for name, value in (("cgroup.freeze", "0"), ("cgroup.kill", "1")):
        try:
            write(os.path.join(path, name), value)
        except OSError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and "populated 1" in read(os.path.join(path, "cgroup.events"), ""):
        time.sleep(0.05)
    for root, dirs, _ in sorted(os.walk(path), key=lambda w: -w[0].count("/")):
        for _ in range(100):
            try:
                os.rmdir(root)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)


def cpu_weight(millicores):
    """The kubelet's cpu.shares from a request, mapped to cgroup v2 cpu.weight as runc does."""
    shares = max(2, millicores * 1024 // 1000)
    return 1 + ((shares - 2) * 9999) // 262142


class Pod:
    def __init__(self, name, qos="Burstable", namespace=NS, mem_request=64 * MiB, mem_limit=None,
                 cpu_request=100, cpu_limit=None, pids_max=None, labels=None, annotations=None, priority=0):
        self.name, self.qos, self.namespace = name, qos, namespace
        self.uid = str(uuid.uuid4())
        self.cid = secrets.token_hex(32)
        self.mem_request, self.mem_limit = mem_request, mem_limit
        self.cpu_request, self.cpu_limit, self.pids_max = cpu_request, cpu_limit, pids_max
        self.labels = dict(labels or {"app": name})
        self.annotations = dict(annotations or {})
        self.priority = priority
        u = self.uid.replace("-", "_")
        if qos == "Guaranteed":
            self.dir = os.path.join(KUBEPODS, f"kubepods-pod{u}.slice")
        else:
            q = qos.lower()
            self.dir = os.path.join(KUBEPODS, f"kubepods-{q}.slice", f"kubepods-{q}-pod{u}.slice")
        self.cdir = os.path.join(self.dir, f"cri-containerd-{self.cid}.scope")
        self.procs = []

    @property
    def cgroup(self):
        return self.dir[len(CG):]

    def create(self):
        os.makedirs(self.dir)
        enable_controllers(self.dir)
        if self.mem_limit:
            write(os.path.join(self.dir, "memory.max"), str(self.mem_limit))
        if self.pids_max:
            write(os.path.join(self.dir, "pids.max"), str(self.pids_max))
        write(os.path.join(self.dir, "cpu.weight"), str(cpu_weight(self.cpu_request or 2)))
        if self.cpu_limit:
            write(os.path.join(self.dir, "cpu.max"), f"{self.cpu_limit * 100} 100000")
        os.makedirs(self.cdir)
        return self

    def api_object(self, node=NODE):
        obj = fakestore.make_pod(self.name, self.namespace, node=node, uid=self.uid, labels=self.labels,
                                 annotations=self.annotations, qos=self.qos, priority=self.priority)
        res = {"requests": {"memory": str(self.mem_request), "cpu": f"{self.cpu_request}m"}}
        limits = {}
        if self.mem_limit:
            limits["memory"] = str(self.mem_limit)
        if self.cpu_limit:
            limits["cpu"] = f"{self.cpu_limit}m"
        if limits:
            res["limits"] = limits
        for c in obj["spec"]["containers"]:
            c["resources"] = res
        obj["status"]["containerStatuses"][0]["containerID"] = f"containerd://{self.cid}"
        return obj

    def spawn(self, argv, seconds=120):
        """Starts argv in the container's cgroup, under timeout -k (a memory.high stall must not outlive us)."""
        procs_file = os.path.join(self.cdir, "cgroup.procs")

        def enter():
            with open(procs_file, "w") as f:
                f.write("0")

        p = subprocess.Popen(["timeout", "-k", "5", str(int(seconds))] + list(argv), preexec_fn=enter,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def alloc(self, hold_mib=0, rate_mib=0, max_mib=0, seconds=120, step_ms=250):
        """A small allocator: hold_mib touched at once, then rate_mib per second up to max_mib."""
        return self.spawn(["python3", ALLOC, str(hold_mib), str(rate_mib), str(max_mib), str(step_ms)], seconds)

    def file(self, name, default=""):
        return read(os.path.join(self.dir, name), default)

    def memory_current(self):
        return int(self.file("memory.current", "0").strip() or 0)

    def memory_events(self):
        return {k: int(v) for k, v in kv(os.path.join(self.dir, "memory.events")).items()}

    def oom_kills(self):
        return self.memory_events().get("oom_kill", 0)

    def pids(self):
        return int(self.file("pids.current", "0").strip() or 0)

    def alive(self):
        """Some process still runs in the pod (its processes live in the container's cgroup, a child)."""
        return "populated 1" in self.file("cgroup.events", "")

    def remove(self, timeout=20):
        """What the kubelet does when a pod goes: kill every process, then remove the cgroups."""
        if os.path.isdir(self.dir):
            remove_cgroup(self.dir, timeout)
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()


# ---- the fake API server and guardlet ----

class Cluster:
    """The fake API server plus a kubelet stand-in that carries out accepted evictions."""

    def __init__(self, state_dir="/run/e2e-fakeapi"):
        shutil.rmtree(state_dir, ignore_errors=True)
        os.makedirs(state_dir)
        self.api = fakeapi.FakeAPIServer(state_dir, tls=True, port=6443, max_seconds=3600).start()
        self.api.add_node(NODE)
        os.makedirs(os.path.dirname(KUBECONFIG), exist_ok=True)
        shutil.copy(self.api.kubeconfig, KUBECONFIG)
        os.chmod(KUBECONFIG, 0o600)
        self.pods = {}
        self.kubelet_delay = 1.0
        self.handled = set()
        self.removed = {}  # uid -> time the kubelet stand-in removed it
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._kubelet, daemon=True)
        self._thread.start()

    def add(self, pod, register=True):
        pod.create()
        self.pods[pod.uid] = pod
        if register:
            self.api.put(pod.api_object())
        return pod

    def evictions(self):
        with self.api.lock:
            return [dict(e) for e in self.api.evictions if e.get("code") is not None]

    def _kubelet(self):
        while not self._stop.is_set():
            for e in self.evictions():
                uid = e.get("uid")
                key = (uid, e["time"])
                if e["code"] == 201 and uid in self.pods and key not in self.handled:
                    self.handled.add(key)
                    threading.Thread(target=self._evict_later, args=(self.pods[uid],), daemon=True).start()
            self._stop.wait(0.1)

    def _evict_later(self, pod):
        time.sleep(self.kubelet_delay)
        pod.remove()
        self.removed[pod.uid] = time.time()
        log(f"kubelet: removed evicted pod {pod.name}")

    def events(self, reason=None):
        evs = self.api.list("events", None) if hasattr(self.api, "list") else []
        return [e for e in evs if reason is None or e.get("reason") == reason]

    def clear(self):
        """Ends a scenario: guardlet stopped (so that the next scenario's set-up is not judged by this one's
        configuration), every pod removed locally and from the API, the API server up and without faults,
        recorded requests forgotten."""
        sh(["systemctl", "stop", "guardlet"], timeout=90, check=False)
        if not self.api.is_up:
            self.api.come_up()
        for pod in list(self.pods.values()):
            pod.remove()
            try:
                self.api.delete("pods", pod.namespace, pod.name)
            except Exception:  # noqa: BLE001 - already evicted
                pass
        for leftover in pod_dirs():
            log(f"removing a leftover pod cgroup {leftover}")
            remove_cgroup(leftover)
        self.pods.clear()
        with self.api.lock:
            self.api.budgets.clear()
        self.api.clear_faults()
        self.api.clear_recorded()
        self.handled.clear()
        self.removed.clear()
        self.kubelet_delay = 1.0
        for e in self.api.list("events", None):
            try:
                self.api.delete("events", e["metadata"]["namespace"], e["metadata"]["name"])
            except Exception:  # noqa: BLE001
                pass

    def stop(self):
        self._stop.set()
        self.api.stop()


def conf_text(overrides=None):
    conf = {s: dict(v) for s, v in BASE_CONF.items()}
    for sec, keys in (overrides or {}).items():
        conf.setdefault(sec, {}).update(keys)
    out = []
    for sec, keys in conf.items():
        out.append(f"[{sec}]")
        out += [f"{k}={v}" for k, v in keys.items()]
    return "\n".join(out) + "\n"


def guardlet_pid():
    return int(sh("systemctl show -p MainPID --value guardlet").strip() or 0)


def restart_guardlet(overrides=None, api=True, timeout=60):
    """Writes the e2e drop-in and restarts guardlet through systemd; waits until it runs (and, in API mode,
    until it has listed the pods). Returns the time of the restart (journal entries after it are ours)."""
    conf = dict(overrides or {})
    if not api:
        conf.setdefault("Kubernetes", {})["Kubeconfig"] = ""
    os.makedirs(os.path.dirname(DROPIN), exist_ok=True)
    write(DROPIN, conf_text(conf))
    sh(["guardlet", "--check-config"])
    t0 = time.time()
    sh(["systemctl", "restart", "guardlet"], timeout=90)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msgs = [e.get("MESSAGE", "") for e in journal(t0)]
        if any("started on node" in m for m in msgs) and (not api or any("API mode" in m for m in msgs)):
            return t0
        time.sleep(0.3)
    raise RuntimeError(f"guardlet did not start within {timeout} s: {sh('systemctl status guardlet', check=False)}")


def journal(since, **match):
    """guardlet's journal entries since the given epoch time, as dicts, optionally matching fields."""
    out = sh(["journalctl", "-u", "guardlet", "-o", "json", "--no-pager", f"--since=@{since:.6f}"],
             timeout=60, check=False)
    entries = []
    for ln in out.splitlines():
        try:
            e = json.loads(ln)
        except ValueError:
            continue
        if float(e.get("__REALTIME_TIMESTAMP", 0)) / 1e6 < since:
            continue
        if all(str(e.get(k)) == str(v) for k, v in match.items()):
            entries.append(e)
    return entries


def when(e):
    return float(e["__REALTIME_TIMESTAMP"]) / 1e6


def actions(since, uid=None):
    """(time, action, reason, uid, entry) of every action guardlet took (not skips, and an eviction once: its
    result is a second entry with GUARDLET_EVICTION_RESULT) since then."""
    out = []
    for e in journal(since):
        a = e.get("GUARDLET_ACTION")
        if not a or e.get("GUARDLET_SKIP") or e.get("GUARDLET_EVICTION_RESULT"):
            continue
        if uid and e.get("POD_UID") != uid:
            continue
        out.append((when(e), a, e.get("GUARDLET_REASON"), e.get("POD_UID"), e))
    return out


def wait_for(pred, timeout, period=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(period)
    return None


def service_cpu_usec(unit):
    return int(kv(f"{CG}/system.slice/{unit}/cpu.stat").get("usage_usec", 0))


def rss_kib(pid):
    return int(kv(f"/proc/{pid}/status").get("VmRSS", 0))


def fmt_mib(b):
    return f"{b / MiB:.0f}MiB" if b is not None else "-"
