"""realcg.py: kubelet-shaped cgroup trees on the real kernel, inside a uniquely named child of /sys/fs/cgroup/unified."""
import os
import subprocess
import uuid

UNIFIED = "/sys/fs/cgroup/unified"


def unavailable_reason():
    """Why real-cgroup tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root to create cgroups"
    if not os.path.exists(os.path.join(UNIFIED, "cgroup.controllers")):
        return f"no cgroup v2 hierarchy at {UNIFIED}"
    probe = os.path.join(UNIFIED, f"guardlet-probe-{os.getpid()}")
    try:
        os.mkdir(probe)
        os.rmdir(probe)
    except OSError as e:
        return f"cannot create a child cgroup under {UNIFIED}: {e}"
    return None


class RealTree:
    """kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid>.slice/cri-containerd-<id>.scope
    under a unique root; removes everything it made, ending only processes it started."""

    def __init__(self):
        self.root = os.path.join(UNIFIED, f"guardlet-test-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        os.mkdir(self.root)
        self.kubepods = os.path.join(self.root, "kubepods.slice")
        os.mkdir(self.kubepods)
        for q in ("burstable", "besteffort"):
            os.mkdir(os.path.join(self.kubepods, f"kubepods-{q}.slice"))
        self.procs = {}  # uid -> [Popen]
        self.dirs = {}   # uid -> pod dir

    def pod_dir(self, uid, qos):
        u = uid.replace("-", "_")
        if qos == "guaranteed":
            return os.path.join(self.kubepods, f"kubepods-pod{u}.slice")
        return os.path.join(self.kubepods, f"kubepods-{qos}.slice", f"kubepods-{qos}-pod{u}.slice")

    def add_pod(self, qos="burstable", command=None, uid=None):
        uid = uid or str(uuid.uuid4())
        d = self.pod_dir(uid, qos)
        os.mkdir(d)
        ctr = os.path.join(d, f"cri-containerd-{uuid.uuid4().hex}{uuid.uuid4().hex}.scope")
        os.mkdir(ctr)
        self.dirs[uid] = d
        self.procs[uid] = []
        if command:
            p = subprocess.Popen(command)
            with open(os.path.join(ctr, "cgroup.procs"), "w") as f:
                f.write(str(p.pid))
            self.procs[uid].append(p)
        return uid

    def remove_pod(self, uid):
        for p in self.procs.pop(uid, []):
            if p.poll() is None:
                p.kill()
            p.wait()
        d = self.dirs.pop(uid)
        for name in os.listdir(d):
            sub = os.path.join(d, name)
            if os.path.isdir(sub):
                os.rmdir(sub)
        os.rmdir(d)

    def cleanup(self):
        for uid in list(self.dirs):
            try:
                self.remove_pod(uid)
            except OSError:
                pass
        for dirpath, dirnames, _ in sorted(os.walk(self.root, topdown=False), key=lambda x: -len(x[0])):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass
