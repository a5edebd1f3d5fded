"""faketls.py: a throwaway test CA, server and client certificates made with the `openssl` command-line tool.

Keys are EC P-256 (fast to make). Files land in one folder:
  ca.crt ca.key                  the test CA
  server.crt server.key          CN=fakeapi, subjectAltName IP:127.0.0.1, DNS:localhost
  client.crt client.key          CN=<user> (the API server's user name for it), O=<group>
"""
import os
import shutil
import subprocess
import tempfile


class TLSError(RuntimeError):
    pass


def openssl_available():
    return shutil.which("openssl") is not None


def _openssl(*args):
    p = subprocess.run(["openssl", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    if p.returncode != 0:
        raise TLSError(f"openssl {' '.join(args[:2])} failed: {p.stderr.strip()}")


def make_ca(folder, name="ca", cn="fakeapi-test-ca", days=7):
    """Writes <name>.crt and <name>.key; returns the two paths."""
    os.makedirs(folder, exist_ok=True)
    crt, key = os.path.join(folder, name + ".crt"), os.path.join(folder, name + ".key")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key, "-out", crt, "-days", str(days), "-subj", f"/CN={cn}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature")
    os.chmod(key, 0o600)
    return crt, key


def make_cert(folder, name, ca_crt, ca_key, cn, org=None, server=False, days=7):
    """Writes <name>.crt/<name>.key signed by the CA: a server cert for 127.0.0.1/localhost or a client cert."""
    crt, key = os.path.join(folder, name + ".crt"), os.path.join(folder, name + ".key")
    subj = f"/CN={cn}" + (f"/O={org}" if org else "")
    with tempfile.TemporaryDirectory() as tmp:
        csr, ext = os.path.join(tmp, "req.csr"), os.path.join(tmp, "ext.cnf")
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", key, "-out", csr, "-subj", subj)
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n")
            if server:
                f.write("extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n")
            else:
                f.write("extendedKeyUsage=clientAuth\n")
        _openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
                 "-out", crt, "-days", str(days), "-extfile", ext, "-sha256")
    os.chmod(key, 0o600)
    return crt, key


def make_all(folder, client_cn="fakeapi-client", client_org=None):
    """CA, server and client certs in folder; reuses an existing set so a restarted server keeps its CA."""
    names = ["ca.crt", "ca.key", "server.crt", "server.key", "client.crt", "client.key"]
    paths = {n: os.path.join(folder, n) for n in names}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    if not openssl_available():
        raise TLSError("the openssl command-line tool is not installed")
    ca_crt, ca_key = make_ca(folder)
    make_cert(folder, "server", ca_crt, ca_key, "fakeapi", server=True)
    make_cert(folder, "client", ca_crt, ca_key, client_cn, org=client_org)
    return paths
