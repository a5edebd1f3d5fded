"""test_metrics.py: /metrics and /healthz of the real daemon: every line parsed strictly, the contract's figures checked against the fixtures, bind failures, reloads, API mode."""
import math
import os
import re
import signal
import socket
import time
import urllib.error
import urllib.request

from apiguard import ApiGuardBase
from cgfixture import CgroupFixture, Figures, MiB, pod_uid
from harness import GiB, SLOW, ProcFixture, TempDirTest, is_tick, write

CONTRACT = ("guardlet_node_memory_available_bytes", "guardlet_node_psi_some_avg10",
            "guardlet_pod_memory_working_set_bytes", "guardlet_actions_total",
            "guardlet_evictions_blocked_total", "guardlet_scan_duration_seconds",
            "guardlet_api_requests_total", "guardlet_up")

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class ExpositionError(AssertionError):
    pass


def parse_value(s, where):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?", s):
        raise ExpositionError(f"{where}: bad value {s!r}")
    return float(s)


def parse_labels(text, i, where):
    """Parses '{a="x",b="y"}' starting at text[i] == '{'; returns (dict, index after '}')."""
    labels = {}
    i += 1
    while True:
        if text[i] == "}":
            return labels, i + 1
        m = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*").match(text, i)
        if not m:
            raise ExpositionError(f"{where}: bad label name at {text[i:]!r}")
        name = m.group(0)
        if name.startswith("__"):
            raise ExpositionError(f"{where}: reserved label name {name}")
        if name in labels:
            raise ExpositionError(f"{where}: duplicate label {name}")
        i = m.end()
        if text[i:i + 2] != '="':
            raise ExpositionError(f"{where}: expected =\" after {name}")
        i += 2
        value = []
        while True:
            if i >= len(text):
                raise ExpositionError(f"{where}: unterminated label value")
            c = text[i]
            if c == "\\":
                nxt = text[i + 1:i + 2]
                if nxt not in ("\\", '"', "n"):
                    raise ExpositionError(f"{where}: bad escape \\{nxt} in label {name}")
                value.append("\n" if nxt == "n" else nxt)
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                value.append(c)
                i += 1
        labels[name] = "".join(value)
        if text[i] == ",":
            i += 1
        elif text[i] != "}":
            raise ExpositionError(f"{where}: expected , or }} after label {name}")


def parse_exposition(text):
    """Strict Prometheus text format 0.0.4. Returns {family: {"help", "type", "samples": [(name,
    labels, value)]}}; raises ExpositionError on anything out of place."""
    if not text.endswith("\n"):
        raise ExpositionError("the text must end with a newline")
    families = {}
    current = None
    closed = set()  # families whose samples are over: they may not come back

    def family_of(sample):
        for fam in (sample, re.sub(r"_(bucket|sum|count)\Z", "", sample)):
            if fam in families:
                t = families[fam]["type"]
                if fam == sample or t == "histogram" or (t == "summary" and not sample.endswith("_bucket")):
                    return fam
        return None

    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = f"line {n} {line!r}"
        if line.startswith("#"):
            m = re.fullmatch(r"# (HELP|TYPE) (\S+)(?: (.*))?", line)
            if not m:
                raise ExpositionError(f"{where}: only HELP and TYPE comments are expected")
            kind, name, rest = m.group(1), m.group(2), m.group(3) or ""
            if not METRIC_NAME.match(name):
                raise ExpositionError(f"{where}: bad metric name")
            fam = families.setdefault(name, {"help": None, "type": None, "samples": []})
            if name in closed or fam["samples"]:
                raise ExpositionError(f"{where}: {kind} after the family's samples")
            if current is not None and current != name:
                closed.add(current)
            current = name
            key = kind.lower()
            if fam[key] is not None:
                raise ExpositionError(f"{where}: second {kind} for {name}")
            if kind == "HELP":
                if re.search(r"\\[^\\n]|\\\Z", rest):
                    raise ExpositionError(f"{where}: bad escape in HELP")
                fam["help"] = rest.replace("\\n", "\n").replace("\\\\", "\\")
            else:
                if rest not in TYPES:
                    raise ExpositionError(f"{where}: unknown type {rest!r}")
                fam["type"] = rest
            continue
        if not line.strip():
            raise ExpositionError(f"{where}: empty line")
        m = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*").match(line)
        if not m:
            raise ExpositionError(f"{where}: bad metric name")
        sample = m.group(0)
        i = m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            labels, i = parse_labels(line, i, where)
        rest = line[i:]
        if not rest.startswith(" "):
            raise ExpositionError(f"{where}: expected a space before the value")
        parts = rest[1:].split(" ")
        if len(parts) not in (1, 2) or (len(parts) == 2 and not re.fullmatch(r"-?\d+", parts[1])):
            raise ExpositionError(f"{where}: expected VALUE [TIMESTAMP]")
        value = parse_value(parts[0], where)
        fam = family_of(sample)
        if fam is None:
            raise ExpositionError(f"{where}: sample {sample} without HELP and TYPE")
        if families[fam]["help"] is None or families[fam]["type"] is None:
            raise ExpositionError(f"{where}: {fam} needs both HELP and TYPE before its samples")
        if fam != current or fam in closed:
            raise ExpositionError(f"{where}: samples of {fam} are not together")
        t = families[fam]["type"]
        if t == "histogram" and sample == fam:
            raise ExpositionError(f"{where}: a histogram has only _bucket, _sum and _count")
        if sample.endswith("_bucket") and t == "histogram":
            if "le" not in labels:
                raise ExpositionError(f"{where}: bucket without le")
            parse_value(labels["le"], where)
        if t == "counter" and not (value >= 0):
            raise ExpositionError(f"{where}: a counter must be >= 0")
        families[fam]["samples"].append((sample, labels, value))
    for name, fam in families.items():
        if fam["help"] is None or fam["type"] is None:
            raise ExpositionError(f"{name}: HELP and TYPE are both required")
        if fam["type"] == "histogram":
            check_histogram(name, fam["samples"])
    return families


def check_histogram(name, samples):
    groups = {}
    for sample, labels, value in samples:
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        g = groups.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if sample.endswith("_bucket"):
            g["buckets"].append((parse_value(labels["le"], name), value))
        elif sample.endswith("_sum"):
            g["sum"] = value
        else:
            g["count"] = value
    for key, g in groups.items():
        les = [le for le, _ in g["buckets"]]
        counts = [c for _, c in g["buckets"]]
        if not les or les[-1] != math.inf:
            raise ExpositionError(f"{name}{key}: the last bucket must be le=\"+Inf\"")
        if les != sorted(les) or len(set(les)) != len(les):
            raise ExpositionError(f"{name}{key}: bucket bounds must ascend")
        if counts != sorted(counts):
            raise ExpositionError(f"{name}{key}: bucket counts must not decrease")
        if g["count"] is None or g["sum"] is None:
            raise ExpositionError(f"{name}{key}: _sum and _count are required")
        if counts[-1] != g["count"]:
            raise ExpositionError(f"{name}{key}: +Inf bucket {counts[-1]} != _count {g['count']}")


def value_of(fams, name, **labels):
    """The one sample named name (in any family: histograms' _count) whose labels include labels,
    or None."""
    found = [v for fam in fams.values() for s, l, v in fam["samples"]
             if s == name and all(l.get(k) == v2 for k, v2 in labels.items())]
    return found[0] if len(found) == 1 else None


def http(url, method="GET", data=None):
    """(status, headers, body) without raising on 4xx/5xx."""
    req = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(req, timeout=10 * SLOW) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def metrics_address(d, after=0):
    _, e = d.wait_for(lambda e: e.get("MESSAGE", "").startswith("Metrics on http://"), after=after)
    return re.match(r"Metrics on (http://\S+)/metrics", e["MESSAGE"]).group(1)


class ParserSelfTest(TempDirTest):
    """The strict parser must itself refuse what it is there to catch."""

    def test_parser_rejects(self):
        good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"q\\\"\\n\\\\\"} 1\n"
        self.assertEqual(parse_exposition(good)["a_total"]["samples"][0][1]["x"], 'q"\n\\')
        bad = [
            "a 1\n",  # no HELP/TYPE
            "# TYPE a gauge\na 1\n",  # no HELP
            "# HELP a A.\n# TYPE a gauge\na 1",  # no final newline
            "# HELP a A.\n# TYPE a gauge\na{x=\"\\t\"} 1\n",  # bad escape
            "# HELP a A.\n# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n",  # duplicate label
            "# HELP a A.\n# TYPE a gauge\na one\n",  # bad value
            "# HELP a A.\n# TYPE a gauge\n# HELP a B.\na 1\n",  # HELP twice
            "# HELP a A.\n# TYPE a gauge\na 1\n# HELP b B.\n# TYPE b gauge\nb 1\na 2\n",  # interleaved
            "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
            "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
            "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
        ]
        for text in bad:
            with self.assertRaises(ExpositionError, msg=text):
                parse_exposition(text)


class MetricsLocalTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.proc_root = os.path.join(self.tmp, "proc")
        self.proc = ProcFixture(self.proc_root, cpus=4)
        self.proc.set_memory(total=8 * GiB, free=3 * GiB, inactive_file=1 * GiB)
        self.proc.set_psi(12.5, 3.25, 0.0)
        self.cg = CgroupFixture("v2-systemd", parent=self.tmp)
        self.addCleanup(self.cg.cleanup)
        self.big, self.small = pod_uid(1), pod_uid(2)
        self.cg.add_pod(self.big, "burstable", Figures(memory_current=700 * MiB, inactive_file=100 * MiB,
                                                       memory_max=None))
        self.cg.add_pod(self.small, "besteffort", Figures(memory_current=120 * MiB, inactive_file=20 * MiB,
                                                          memory_max=None))
        for uid in self.cg.pods:
            self.cg.write(uid, "cgroup.kill", "")
        self.conf = os.path.join(self.tmp, "guardlet.conf")

    def start_guard(self, listen="127.0.0.1:0", extra=""):
        write(self.conf, f"[Guard]\nInterval=200ms\nStatusSocket={self.tmp}/s.sock\n"
                         f"MetricsListen={listen}\n{extra}")
        return self.start(["-c", self.conf, "--no-api", "--dry-run", "--proc-root", self.proc_root,
                           "--cgroup-root", self.cg.root], metrics=True)

    def scrape(self, base):
        status, headers, body = http(base + "/metrics")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"].split(";")[0], "text/plain")
        self.assertIn("version=0.0.4", headers["Content-Type"])
        return parse_exposition(body)

    def wait_scrape(self, base, pred, timeout=15):
        deadline = time.monotonic() + timeout * SLOW
        while True:
            fams = self.scrape(base)
            if pred(fams):
                return fams
            if time.monotonic() > deadline:
                self.fail("no scrape matched; last:\n" + "\n".join(
                    f"{s}{l} {v}" for f in fams.values() for s, l, v in f["samples"]))
            time.sleep(0.1)

    def test_scrape_contract_figures(self):
        d = self.start_guard()
        base = metrics_address(d)
        fams = self.wait_scrape(base, lambda f: value_of(f, "guardlet_pods") == 2)
        for name in CONTRACT:
            self.assertIn(name, fams)
        self.assertEqual(fams["guardlet_scan_duration_seconds"]["type"], "histogram")
        self.assertEqual(fams["guardlet_actions_total"]["type"], "counter")
        self.assertEqual(value_of(fams, "guardlet_up"), 1)
        self.assertEqual(value_of(fams, "guardlet_node_memory_available_bytes"), 4 * GiB)
        self.assertEqual(value_of(fams, "guardlet_node_memory_capacity_bytes"), 8 * GiB)
        self.assertEqual(value_of(fams, "guardlet_node_psi_some_avg10", resource="memory"), 12.5)
        self.assertEqual(value_of(fams, "guardlet_node_psi_some_avg10", resource="cpu"), 3.25)
        self.assertEqual(value_of(fams, "guardlet_node_memory_level"), 0)
        # Local mode: no names; the pod label is the UID and the HELP says so.
        self.assertEqual(value_of(fams, "guardlet_pod_memory_working_set_bytes", uid=self.big,
                                  pod=self.big, namespace=""), 600 * MiB)
        self.assertEqual(value_of(fams, "guardlet_pod_memory_working_set_bytes", uid=self.small), 100 * MiB)
        self.assertIn("local mode", fams["guardlet_pod_memory_working_set_bytes"]["help"])
        self.assertIsNotNone(value_of(fams, "guardlet_pod_cpu_usage_cores", uid=self.big))
        self.assertNotIn("guardlet_api_connected",
                         [s for s, _, _ in fams.get("guardlet_api_connected", {}).get("samples", [])])
        self.assertEqual(value_of(fams, "guardlet_build_info"), 1)
        self.assertGreaterEqual(value_of(fams, "guardlet_ticks_total"), 1)
        self.assertGreaterEqual(value_of(fams, "guardlet_scan_duration_seconds_count"), 1)
        self.assertEqual(value_of(fams, "guardlet_evictions_blocked_total"), 0)

        # Memory falls below ThrottleBelow (15%): dry run decides to throttle the biggest pod, and
        # the decision is counted with its reason and why it was not carried out.
        self.proc.set_memory(total=8 * GiB, free=700 * MiB, inactive_file=300 * MiB)
        fams = self.wait_scrape(base, lambda f: (value_of(
            f, "guardlet_decisions_skipped_total", action="throttle-memory", skip="dry-run") or 0) >= 1)
        self.assertEqual(value_of(fams, "guardlet_node_memory_available_bytes"), 1000 * MiB)
        self.assertEqual(value_of(fams, "guardlet_node_memory_level"), 1)
        skipped = [l for s, l, v in fams["guardlet_decisions_skipped_total"]["samples"] if v >= 1]
        self.assertIn({"action": "throttle-memory", "reason": "memory-low", "skip": "dry-run"}, skipped)
        self.assertEqual(fams["guardlet_actions_total"]["samples"], [], "dry run carries nothing out")

        # /healthz, unknown paths, other methods.
        status, _, body = http(base + "/healthz")
        self.assertEqual((status, body), (200, "ok\n"))
        status, _, _ = http(base + "/nope")
        self.assertEqual(status, 404)
        status, headers, _ = http(base + "/metrics", method="POST", data=b"x=1")
        self.assertEqual(status, 405)
        self.assertIn("GET", headers["Allow"])
        status, _, body = http(base + "/metrics", method="HEAD")
        self.assertEqual((status, body), (200, ""))
        self.assertEqual(d.stop(), 0)

    def test_healthz_fails_when_ticks_stop(self):
        d = self.start_guard()
        base = metrics_address(d)
        d.wait_for(is_tick)
        self.assertEqual(http(base + "/healthz")[0], 200)
        # Without meminfo no tick completes: after max(3 x Interval, 5 s) /healthz says so, and
        # guardlet_up is 0 at once.
        os.unlink(os.path.join(self.proc_root, "meminfo"))
        deadline = time.monotonic() + 30 * SLOW
        while True:
            status, _, body = http(base + "/healthz")
            if status == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(status, 503)
        self.assertIn("last tick completed", body)
        self.assertEqual(value_of(self.scrape(base), "guardlet_up"), 0)
        self.assertEqual(d.stop(), 0)

    def test_bind_failure_then_reload_rebinds(self):
        held = socket.socket()
        self.addCleanup(held.close)
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        d = self.start_guard(listen=f"127.0.0.1:{port}")
        i, err = d.wait_for(lambda e: e.get("MESSAGE", "").startswith("Cannot serve metrics"))
        self.assertEqual(err["PRIORITY"], "3")
        self.assertIn(f"127.0.0.1:{port}", err["MESSAGE"])
        self.assertIn("Address already in use", err["MESSAGE"])
        # The guard goes on ticking: metrics are not protection.
        d.wait_for(is_tick, after=i + 1)
        d.wait_for(is_tick, after=i + 2)

        # A reload with a free address binds it.
        n = len(d.logs())
        self.start_guard_conf(listen="127.0.0.1:0")
        d.signal(signal.SIGHUP)
        base = metrics_address(d, after=n)
        self.assertEqual(http(base + "/healthz")[0], 200)

        # A reload to a taken address keeps the old listener.
        n = len(d.logs())
        self.start_guard_conf(listen=f"127.0.0.1:{port}")
        d.signal(signal.SIGHUP)
        _, err = d.wait_for(lambda e: e.get("MESSAGE", "").startswith("Cannot serve metrics"), after=n)
        self.assertIn("still serving at " + base, err["MESSAGE"])
        self.assertEqual(http(base + "/metrics")[0], 200)

        # Empty disables: the old address stops answering.
        n = len(d.logs())
        self.start_guard_conf(listen="")
        d.signal(signal.SIGHUP)
        d.wait_for(lambda e: "Metrics endpoint disabled" in e.get("MESSAGE", ""), after=n)
        # Refused, or (when the connect raced the close) reset: either way nothing answers.
        with self.assertRaises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(base + "/metrics", timeout=5 * SLOW)
        self.assertEqual(d.stop(), 0)

    def start_guard_conf(self, listen):
        write(self.conf, f"[Guard]\nInterval=200ms\nStatusSocket={self.tmp}/s.sock\nMetricsListen={listen}\n")

    def test_empty_disables(self):
        d = self.start_guard(listen="")
        d.wait_for(lambda e: "Metrics endpoint disabled (MetricsListen is empty)" in e.get("MESSAGE", ""))
        i, _ = d.wait_for(is_tick)
        d.wait_for(is_tick, after=i + 1)
        self.assertFalse([e for e in d.logs() if e.get("MESSAGE", "").startswith("Metrics on")])
        self.assertEqual(d.stop(), 0)


class MetricsApiTest(ApiGuardBase):
    def test_api_requests_counted(self):
        d = self.start_guard(extra=["--set", "Guard.MetricsListen=127.0.0.1:0",
                                    "--set", f"Guard.StatusSocket={self.tmp}/s.sock"], metrics=True)
        base = metrics_address(d)
        self.wait_evictions(1)
        deadline = time.monotonic() + 15 * SLOW
        while True:
            fams = parse_exposition(http(base + "/metrics")[2])
            reqs = {(l["verb"], l["code"]): v for s, l, v in fams["guardlet_api_requests_total"]["samples"]}
            evicted = value_of(fams, "guardlet_actions_total", action="evict", reason="memory-low")
            if reqs.get(("GET", "200"), 0) >= 1 and evicted and value_of(fams, "guardlet_api_connected") == 1:
                break
            if time.monotonic() > deadline:
                self.fail(f"requests {reqs}, evictions {evicted}")
            time.sleep(0.1)
        self.assertGreaterEqual(reqs.get(("POST", "201"), 0) + reqs.get(("POST", "200"), 0), 1, reqs)
        # Names come from the API server in API mode.
        self.assertEqual(value_of(fams, "guardlet_pod_memory_working_set_bytes", namespace="shop",
                                  pod="second"), 2 * GiB)
        self.assertEqual(d.stop(), 0)
