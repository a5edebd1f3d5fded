"""test_api_faults.py: the real daemon against an API server that misbehaves.

In every case: no crash, ticks go on (local protection never waits for the API server), the log says
what is wrong once, and guardlet recovers when the server does.
"""
import os
import shutil
import sys
import time

from apiguard import NODE, ApiGuardBase
from cgfixture import MiB
from harness import GiB, is_tick, write

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fakeapi"))
import faketls  # noqa: E402

API_LOST = "03ba5b87ab494e04805fff3b9dae9768"
API_BACK = "8020aa26998d41dc94ba6187f7e5b074"


def mid(m):
    return lambda e: e.get("MESSAGE_ID") == m


def kubeconfig_yaml(server, ca=None, token_file=None, cert=None, key=None):
    lines = ["apiVersion: v1", "kind: Config", "current-context: t", "clusters:", "- name: c",
             "  cluster:", f"    server: {server}"]
    if ca:
        lines.append(f"    certificate-authority: {ca}")
    lines += ["users:", "- name: u", "  user:"]
    if token_file:
        lines.append(f"    tokenFile: {token_file}")
    if cert:
        lines += [f"    client-certificate: {cert}", f"    client-key: {key}"]
    if not token_file and not cert:
        lines.append("    {}")
    lines += ["contexts:", "- name: t", "  context:", "    cluster: c", "    user: u", ""]
    return "\n".join(lines)


class FaultBase(ApiGuardBase):
    def setUp(self):
        super().setUp()
        # Plenty of memory until a test lowers it: nothing to do but watch.
        self.proc.set_memory(total=8 * GiB, free=4 * GiB, inactive_file=10 * MiB)

    def synced(self, d, after=0):
        return d.wait_for(lambda e: "Pod metadata from the API server" in e.get("MESSAGE", ""), timeout=15,
                          after=after)

    def ticks_after(self, d, i):
        return sum(1 for e in d.logs()[i:] if is_tick(e))

    def below_kill(self):
        self.proc.set_memory(total=8 * GiB, free=100 * MiB, inactive_file=10 * MiB)

    def below_evict(self):
        self.proc.set_memory(total=8 * GiB, free=400 * MiB, inactive_file=10 * MiB)


class ApiFaultTest(FaultBase):
    def test_api_goes_away_mid_watch_and_comes_back(self):
        d = self.start_guard()
        self.synced(d)
        self.api.go_down()
        i, lost = d.wait_for(mid(API_LOST), timeout=15)
        self.assertIn("watching pods", lost["MESSAGE"])
        self.assertIn("local protection goes on", lost["MESSAGE"])
        # Without the API server the local floor still acts, on the pod the cgroups say is biggest.
        self.below_kill()
        k_i, k = d.wait_for(lambda e: e.get("GUARDLET_ACTION") == "kill", timeout=15, after=i)
        self.assertEqual(k["POD_UID"], self.big)
        self.assertEqual(k["GUARDLET_OUTCOME"], "done")
        self.assertGreaterEqual(self.ticks_after(d, i), 1, "ticks went on while the API was away")
        self.proc.set_memory(total=8 * GiB, free=4 * GiB, inactive_file=10 * MiB)
        self.api.come_up()
        _, back = d.wait_for(mid(API_BACK), timeout=40, after=k_i)
        self.assertIn("works again", back["MESSAGE"])
        # What was done meanwhile reaches the cluster once it is back.
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            killed = [e for e in self.api.list("events", "shop") if e.get("reason") == "GuardletKilled"]
            if killed:
                break
            time.sleep(0.2)
        self.assertEqual([e["involvedObject"]["uid"] for e in killed], [self.big])
        lost_lines = [e for e in d.logs() if e.get("MESSAGE_ID") == API_LOST]
        self.assertEqual(len(lost_lines), 1, "one line per outage, not one per retry")
        self.assertEqual(d.stop(), 0)

    def test_slow_answers_do_not_stall_ticks(self):
        path = "/api/v1/namespaces/shop/pods/big/eviction"
        self.api.set_delay(4, path=path, method="POST")
        d = self.start_guard()
        self.synced(d)
        self.below_evict()
        i, _ = d.wait_for(lambda e: e.get("GUARDLET_ACTION") == "evict" and not e.get("GUARDLET_EVICTION_RESULT"),
                          timeout=15)
        # (PostActionDelay is 1 s here, so the next candidate may be evicted meanwhile: that is policy.)
        j, res = d.wait_for(lambda e: e.get("GUARDLET_EVICTION_RESULT") == "ok" and e.get("POD_NAME") == "big",
                            timeout=30, after=i)
        self.assertEqual(res["POD_UID"], self.big)
        # Interval is 200 ms and the answer took 4 s: the loop kept ticking meanwhile.
        ticks = sum(1 for e in d.logs()[i:j] if is_tick(e))
        self.assertGreaterEqual(ticks, 3, "ticks went on while the eviction was pending")
        self.assertEqual(d.stop(), 0)

    def test_500s_back_off_then_evict(self):
        self.api.fail_next(2, 500, path="/api/v1/namespaces/shop/pods/big/eviction", method="POST")
        d = self.start_guard()
        self.synced(d)
        self.below_evict()
        _, first = d.wait_for(lambda e: e.get("GUARDLET_EVICTION_RESULT") in ("retry", "failed"), timeout=15)
        self.assertEqual(first["POD_NAME"], "big")
        self.assertIn("500", first["MESSAGE"])
        _, ok = d.wait_for(lambda e: e.get("GUARDLET_EVICTION_RESULT") == "ok", timeout=40)
        self.assertEqual(ok["POD_UID"], self.big)
        posts = self.api.recorded(method="POST", path="/api/v1/namespaces/shop/pods/big/eviction")
        self.assertGreaterEqual(len(posts), 3)
        self.assertEqual(d.stop(), 0)

    def test_410_on_watch_relists(self):
        d = self.start_guard()
        i, _ = self.synced(d)
        self.api.expire_next_watch(1)
        self.api.add_pod("late", "shop", node=NODE)
        self.api.cut_watches()
        d.wait_for(lambda e: "410 Gone" in e.get("MESSAGE", ""), timeout=20, after=i)
        # The re-list (logged as soon as it lands, the 410 at the next tick) saw the pod created meanwhile.
        d.wait_for(lambda e: "Pod metadata from the API server: 3 pods" in e.get("MESSAGE", ""), timeout=20,
                   after=i + 1)
        self.assertFalse([e for e in d.logs() if e.get("PRIORITY") in ("0", "1", "2", "3")])
        self.assertEqual(d.stop(), 0)

    def test_malformed_json_logged_and_skipped(self):
        self.api.malformed_next_list(1)
        d = self.start_guard()
        i, lost = d.wait_for(mid(API_LOST), timeout=15)
        self.assertIn("not a PodList", lost["MESSAGE"])
        j, _ = d.wait_for(mid(API_BACK), timeout=15, after=i)
        self.api.malformed_next_watch_event(1)
        self.api.add_pod("odd", "shop", node=NODE)
        _, skipped = d.wait_for(lambda e: "malformed object" in e.get("MESSAGE", ""), timeout=15, after=j)
        self.assertIn("Skipped 1 ", skipped["MESSAGE"])
        # The watch goes on: a later pod arrives as usual.
        self.api.add_pod("later", "shop", node=NODE)
        d.wait_for(lambda e: "shop/later added" in e.get("MESSAGE", ""), timeout=15, after=j)
        self.assertEqual(d.stop(), 0)

    def test_401_then_rotated_token(self):
        token_file = os.path.join(self.api.state_dir, "token")
        kc = os.path.join(self.tmp, "kubeconfig-tokenfile")
        write(kc, kubeconfig_yaml(self.api.url, token_file=token_file))
        d = self.start_guard(kubeconfig=kc)
        i, _ = self.synced(d)
        self.api.rotate_token()
        self.below_evict()
        _, ok = d.wait_for(lambda e: e.get("GUARDLET_EVICTION_RESULT") == "ok", timeout=20, after=i)
        self.assertEqual(ok["POD_NAME"], "big")
        with self.api.lock:
            ev = [e for e in self.api.evictions if e.get("code") == 201]
        self.assertEqual(ev[0]["user"], "token-user-0", "evicted with the new token")
        self.assertTrue([e for e in d.logs()[i:] if "Credential files changed" in e.get("MESSAGE", "")])
        self.assertEqual(d.stop(), 0)


class ApiTlsFaultTest(FaultBase):
    fakeapi_options = {"tls": True, "client_certs": "optional"}

    def test_wrong_ca_then_fixed(self):
        other = os.path.join(self.tmp, "other-ca")
        wrong_ca, _ = faketls.make_ca(other, cn="not-the-api-servers-ca")
        ca = os.path.join(self.tmp, "ca.crt")
        shutil.copy(wrong_ca, ca)
        token_file = os.path.join(self.api.state_dir, "token")
        kc = os.path.join(self.tmp, "kubeconfig-ca")
        write(kc, kubeconfig_yaml(self.api.url, ca=ca, token_file=token_file))
        d = self.start_guard(kubeconfig=kc, env={"GUARDLET_CREDS_CHECK_SEC": "1"})
        i, lost = d.wait_for(mid(API_LOST), timeout=15)
        self.assertRegex(lost["MESSAGE"], r"(?i)certificate")
        self.below_kill()
        _, k = d.wait_for(lambda e: e.get("GUARDLET_ACTION") == "kill", timeout=15, after=i)
        self.assertEqual(k["POD_UID"], self.big)
        self.proc.set_memory(total=8 * GiB, free=4 * GiB, inactive_file=10 * MiB)
        # The operator puts the right CA in place: picked up without a restart.
        tmp = ca + ".new"
        shutil.copy(self.api.ca_file, tmp)
        os.rename(tmp, ca)
        d.wait_for(lambda e: "Credential files changed" in e.get("MESSAGE", ""), timeout=20, after=i)
        d.wait_for(mid(API_BACK), timeout=40, after=i)
        self.assertEqual(d.stop(), 0)

    def test_client_certificate_rotation_is_picked_up(self):
        certs = os.path.join(self.tmp, "pki")
        os.makedirs(certs)
        ca_crt, ca_key = self.api.cert_path("ca.crt"), self.api.cert_path("ca.key")
        cert, key = os.path.join(certs, "client.crt"), os.path.join(certs, "client.key")
        shutil.copy(self.api.cert_path("client.crt"), cert)
        shutil.copy(self.api.cert_path("client.key"), key)
        kc = os.path.join(self.tmp, "kubeconfig-cert")
        write(kc, kubeconfig_yaml(self.api.url, ca=ca_crt, cert=cert, key=key))
        d = self.start_guard(kubeconfig=kc, env={"GUARDLET_CREDS_CHECK_SEC": "1"})
        i, _ = self.synced(d)
        # The kubelet-style renewal: a new key pair under the same file names, the old one revoked.
        new_dir = os.path.join(self.tmp, "renewed")
        os.makedirs(new_dir)
        faketls.make_cert(new_dir, "client", ca_crt, ca_key, "guardlet-renewed")
        with self.api.lock:
            self.api.accepted_cns = {"guardlet-renewed"}
        for name in ("client.key", "client.crt"):
            shutil.copy(os.path.join(new_dir, name), os.path.join(certs, name + ".tmp"))
            os.rename(os.path.join(certs, name + ".tmp"), os.path.join(certs, name))
        j, _ = d.wait_for(lambda e: "Credential files changed" in e.get("MESSAGE", ""), timeout=20, after=i)
        self.below_evict()
        _, ok = d.wait_for(lambda e: e.get("GUARDLET_EVICTION_RESULT") == "ok", timeout=20, after=j)
        self.assertEqual(ok["POD_NAME"], "big")
        with self.api.lock:
            ev = [e for e in self.api.evictions if e.get("code") == 201]
        self.assertEqual(ev[0]["user"], "guardlet-renewed", "evicted with the renewed certificate")
        self.assertEqual(d.stop(), 0)
