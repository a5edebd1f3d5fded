"""harness.py: starts the real guardlet daemon, reads its JSON logs and sd_notify messages, builds fixture proc roots."""
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

BUILDDIR = os.environ.get("GUARDLET_BUILDDIR",
                          os.path.join(os.path.dirname(__file__), "..", "..", "build"))
GUARDLET = os.path.join(BUILDDIR, "guardlet")
GUARDLETCTL = os.path.join(BUILDDIR, "guardletctl")
WRAPPER = shlex.split(os.environ.get("GUARDLET_TEST_WRAPPER", ""))
# Under valgrind everything runs ~20x slower: every wait below scales with this.
SLOW = 10.0 if WRAPPER else 1.0

GiB = 1 << 30
MiB = 1 << 20


def kib(n_bytes):
    return n_bytes // 1024


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)  # readers never see a half-written fixture


def meminfo_text(total, free, available, inactive_file, active_file=0):
    return (f"MemTotal:       {kib(total)} kB\n"
            f"MemFree:        {kib(free)} kB\n"
            f"MemAvailable:   {kib(available)} kB\n"
            f"Buffers:          123 kB\n"
            f"Active(file):   {kib(active_file)} kB\n"
            f"Inactive(file): {kib(inactive_file)} kB\n"
            f"SwapTotal:            0 kB\n"
            f"SwapFree:             0 kB\n"
            f"HugePages_Total:       0\n")


def psi_text(some10, full10=None, total=1000):
    s = f"some avg10={some10:.2f} avg60=0.00 avg300=0.00 total={total}\n"
    if full10 is not None:
        s += f"full avg10={full10:.2f} avg60=0.00 avg300=0.00 total={total}\n"
    return s


class ProcFixture:
    """A proc root in a temp folder with meminfo, pressure/* and stat."""

    def __init__(self, root, cpus=4):
        self.root = root
        write(os.path.join(root, "stat"),
              "cpu  1 2 3 4 5 6 7 0 0 0\n" +
              "".join(f"cpu{i} 1 2 3 4 5 6 7 0 0 0\n" for i in range(cpus)) + "intr 0\n")
        self.set_psi(0.0, 0.0, 0.0)

    def set_memory(self, total, free, inactive_file, available=None):
        write(os.path.join(self.root, "meminfo"),
              meminfo_text(total, free, available if available is not None else free + inactive_file,
                           inactive_file))

    def set_psi(self, memory, cpu, io):
        write(os.path.join(self.root, "pressure", "memory"), psi_text(memory, 0.0))
        write(os.path.join(self.root, "pressure", "cpu"), psi_text(cpu, 0.0))
        write(os.path.join(self.root, "pressure", "io"), psi_text(io, 0.0))


class NotifySocket:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET; collects (time, message)."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.messages = []
        self.lock = threading.Lock()
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.messages.append((time.monotonic(), data.decode()))

    def all(self):
        with self.lock:
            return list(self.messages)

    def wait_for(self, pred, timeout):
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            for t, m in self.all():
                if pred(m):
                    return m
            time.sleep(0.05)
        raise AssertionError(f"no notify message matched within {timeout * SLOW:.0f}s; got "
                             f"{[m for _, m in self.all()][-10:]}")

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.sock.close()


def private_status_socket(args):
    """Options giving a daemon its own status socket in a temp folder, unless the test chose one
    (in args or in its -c config): with the default /run/guardlet/guardlet.sock, a second daemon
    running at the same time (another test, a colleague's run) would refuse to start. Returns
    (extra args, folder to remove or None)."""
    if any("StatusSocket" in a for a in args):
        return [], None
    for opt in ("-c", "--config"):
        if opt in args[:-1]:
            try:
                with open(args[args.index(opt) + 1]) as f:
                    if "StatusSocket" in f.read():
                        return [], None
            except OSError:
                pass
    folder = tempfile.mkdtemp(prefix="guardlet-sock-")
    return ["--set", f"Guard.StatusSocket={folder}/guardlet.sock"], folder


class Daemon:
    """The real guardlet, its stderr parsed as JSON log lines as they arrive."""

    def __init__(self, args, env=None, prefix=None, ignore_sigint=False, metrics=False):
        self.entries = []  # (monotonic arrival, dict or {"RAW": line})
        self.lock = threading.Lock()
        full_env = dict(os.environ)
        full_env.update(env or {})
        # The default MetricsListen (127.0.0.1:9847) is one port for every daemon on the machine:
        # tests that do not test metrics switch the endpoint off, so that daemons running side by
        # side never fail to bind (an error in their logs). metrics=True leaves it to the test.
        if not metrics:
            args = args + ["--set", "Guard.MetricsListen="]
        extra, self.socket_dir = private_status_socket(args)
        args = args + extra
        cmd = (prefix or []) + WRAPPER + [GUARDLET, "--log-target", "stderr", "--log-format",
                                          "json", "--log-level", "debug"] + args
        # A shell's background job inherits SIGINT ignored; tests can reproduce that.
        pre = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=full_env, text=True, preexec_fn=pre)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stderr:
            line = line.rstrip("\n")
            try:
                e = json.loads(line)
            except ValueError:
                e = {"RAW": line}
            with self.lock:
                self.entries.append((time.monotonic(), e))

    def logs(self):
        with self.lock:
            return [e for _, e in self.entries]

    def timed_logs(self):
        with self.lock:
            return list(self.entries)

    def wait_for(self, pred, timeout=10, after=0):
        """Waits for a log entry matching pred, among those after index `after`."""
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            logs = self.logs()
            for i in range(after, len(logs)):
                if pred(logs[i]):
                    return i, logs[i]
            if self.proc.poll() is not None:
                time.sleep(0.1)
                break
            time.sleep(0.05)
        # Ticks say little about why a wait failed: show the last other entries.
        tail = "\n".join(json.dumps(e) for e in [e for e in self.logs() if not is_tick(e)][-15:])
        raise AssertionError(f"no log entry matched within {timeout * SLOW:.0f}s "
                             f"(exit {self.proc.poll()}); last entries:\n{tail}")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=10):
        """SIGTERM, then the exit code (killing only this process if it hangs)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("guardlet did not exit within the timeout after SIGTERM")
        self.thread.join(5)
        self.close()
        return code

    def close(self):
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                f.close()
        if self.socket_dir:
            shutil.rmtree(self.socket_dir, ignore_errors=True)


def is_tick(e):
    return e.get("GUARDLET_EVENT") == "tick"


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="guardlet-test-")
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            if d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait()
            d.thread.join(5)
            d.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, args, **kw):
        d = Daemon(args, **kw)
        self.daemons.append(d)
        return d

    def run_guardlet(self, args, timeout=30):
        return subprocess.run(WRAPPER + [GUARDLET] + args, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=timeout * SLOW)
