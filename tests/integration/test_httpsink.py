"""Integration tests of tests/tools/httpsink, the project's HTTPS webhook sink,
driven over verified TLS by Python's http.client, raw TLS sockets and curl:
Standard Webhooks signatures (computed here with hmac), script rules, keep-alive
and pipelining, chunked bodies, 100-continue, the --out records, malformed and
oversized requests, many connections, signals.  Also measures throughput
(curl --parallel against --discard, and one keep-alive connection) and prints
the rates; HTTPSINK_CURL_N sets the curl request count (default 10000)."""
import base64
import hashlib
import hmac
import http.client
import json
import os
import resource
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ASAN, BUILD, ROOT, SLOW, collect, run_tests, wait_for  # noqa: E402

SINK = os.path.join(BUILD, "tools", "httpsink")
MKCA = os.path.join(ROOT, "tests", "tools", "mkca")
TMP = tempfile.mkdtemp(prefix="httpsink-test.")
CA = os.path.join(TMP, "pki")

SECRET_KEY = b"outreach-test-key-0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(SECRET_KEY).decode()
SECRET2_KEY = os.urandom(32)
SECRET2 = "whsec_" + base64.b64encode(SECRET2_KEY).decode()


def make_pki():
    if os.access(MKCA, os.X_OK):
        subprocess.run([MKCA, CA], check=True)
        return
    # Fallback when mkca is absent: a CA and a localhost leaf.
    os.makedirs(CA, exist_ok=True)

    def ossl(*args):
        subprocess.run(("openssl",) + args, check=True, capture_output=True)

    ext = os.path.join(CA, "ext.cnf")
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n")
    p = lambda n: os.path.join(CA, n)  # noqa: E731
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", p("ca.key"), "-out", p("ca.pem"), "-days", "2",
         "-subj", "/CN=httpsink test CA")
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", p("server.key"), "-out", p("server.csr"), "-subj", "/CN=localhost")
    ossl("x509", "-req", "-in", p("server.csr"), "-CA", p("ca.pem"), "-CAkey",
         p("ca.key"), "-CAcreateserial", "-out", p("server.pem"), "-days", "2",
         "-extfile", ext)


_ctx = []


def tls_context():
    """A client context trusting only the test CA (made once: loading it
    per connection would dominate the many-connections test)."""
    if not _ctx:
        ctx = ssl.create_default_context(cafile=os.path.join(CA, "ca.pem"))
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
        _ctx.append(ctx)
    return _ctx[0]


class Sink:
    """One httpsink process in its own directory."""
    n = 0

    def __init__(self, *args, script=None, out=True, listen="127.0.0.1:0"):
        Sink.n += 1
        self.dir = os.path.join(TMP, "sink%d" % Sink.n)
        os.makedirs(self.dir)
        self.out = os.path.join(self.dir, "out.jsonl") if out else None
        self.script = os.path.join(self.dir, "script") if script is not None else None
        if script is not None:
            self.write_script(script)
        self.errpath = os.path.join(self.dir, "stderr")
        cmd = [SINK, "--listen", listen, "--cert", os.path.join(CA, "server.pem"),
               "--key", os.path.join(CA, "server.key"),
               "--port-file", os.path.join(self.dir, "port")]
        if self.out:
            cmd += ["--out", self.out]
        if self.script:
            cmd += ["--script", self.script]
        cmd += list(args)
        self.err = open(self.errpath, "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.err)
        r, _, _ = select.select([self.proc.stdout], [], [], 10 * SLOW)
        line = self.proc.stdout.readline().decode() if r else ""
        if not line.startswith("ready "):
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("httpsink did not start: %r %s" % (line, self.stderr()))
        self.port = int(line.split()[1])

    def write_script(self, text):
        tmp = self.script + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.script)

    def stderr(self):
        with open(self.errpath) as f:
            return f.read()

    def records(self):
        if not self.out or not os.path.exists(self.out):
            return []
        with open(self.out) as f:
            return [json.loads(line) for line in f]

    def conn(self, timeout=10):
        return http.client.HTTPSConnection("localhost", self.port, timeout=timeout * SLOW,
                                           context=tls_context())

    def raw(self, host="127.0.0.1"):
        s = socket.create_connection((host, self.port), timeout=10 * SLOW)
        return tls_context().wrap_socket(s, server_hostname="localhost")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(20 * SLOW)
        self.err.close()
        err = self.stderr()
        assert rc == 0, "httpsink exit %d: %s" % (rc, err)
        assert "requests " in err, err
        for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            assert bad not in err, err
        return err

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            if exc[0] is None:
                self.stop()
            else:
                self.proc.kill()
                self.proc.wait()


def sign(key, wid, ts, body):
    mac = hmac.new(key, b"%s.%s.%s" % (wid.encode(), str(ts).encode(), body),
                   hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def post(c, path, body=b"{}", headers=None):
    h = {"Content-Type": "application/json", "User-Agent": "outreach-test"}
    h.update(headers or {})
    c.request("POST", path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    return r, data


def signed_headers(body, key=SECRET_KEY, wid="msg_1", ts=None, sig=None):
    ts = int(time.time()) if ts is None else ts
    return {"webhook-id": wid, "webhook-timestamp": str(ts),
            "webhook-signature": sig if sig is not None else sign(key, wid, ts, body)}


def read_reply(s):
    """Read one HTTP reply (head + Content-Length body) from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return data, b""
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    n = 0
    for line in head.split(b"\r\n")[1:]:
        k, v = line.split(b":", 1)
        if k.strip().lower() == b"content-length":
            n = int(v)
    while len(rest) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    return head + b"\r\n\r\n" + rest[:n], rest[n:]


def closed(s, timeout=5):
    """True when the peer closes s (EOF or reset) within timeout."""
    s.settimeout(timeout * SLOW)
    try:
        while True:
            if not s.recv(65536):
                return True
    except (ssl.SSLError, ConnectionError):
        return True
    except socket.timeout:
        return False


# ---- tests ----

def test_ready_port_file_and_ipv6():
    with Sink() as sk:
        with open(os.path.join(sk.dir, "port")) as f:
            assert int(f.read()) == sk.port
        r, data = post(sk.conn(), "/hello")
        assert r.status == 200 and json.loads(data) == {"ok": True}
    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError:
        print("skip - no IPv6 loopback")
        return
    with Sink(listen="[::1]:0") as sk:
        s = sk.raw("::1")
        s.sendall(b"GET /v6 HTTP/1.1\r\nHost: [::1]\r\n\r\n")
        reply, _ = read_reply(s)
        assert reply.startswith(b"HTTP/1.1 200 "), reply
        s.close()


def test_alpn():
    with Sink() as sk:
        for offer, want in ((["h2", "http/1.1"], "http/1.1"), (["h2"], None), (None, None)):
            ctx = ssl.create_default_context(cafile=os.path.join(CA, "ca.pem"))
            if offer:
                ctx.set_alpn_protocols(offer)
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", sk.port)),
                                server_hostname="localhost")
            assert s.selected_alpn_protocol() == want, (offer, s.selected_alpn_protocol())
            s.sendall(b"GET /alpn HTTP/1.1\r\nHost: a\r\n\r\n")
            reply, _ = read_reply(s)
            assert reply.startswith(b"HTTP/1.1 200 "), reply
            s.close()


def test_signature_valid_wrong_and_two():
    with Sink("--secret", SECRET) as sk:
        c = sk.conn()
        body = b'{"event":"consular-day","contact":"c-1"}'
        r, _ = post(c, "/hook", body, signed_headers(body, wid="msg_ok"))
        assert r.status == 200
        bad = sign(b"wrong key", "msg_bad", int(time.time()), body)
        r, _ = post(c, "/hook", body, signed_headers(body, wid="msg_bad", sig=bad))
        assert r.status == 200, "no --reject-bad-signature: still 200"
        good = sign(SECRET_KEY, "msg_two", int(time.time()), body)
        r, _ = post(c, "/hook", body, signed_headers(body, wid="msg_two",
                                                     sig="v1,AAAA " + bad[:-4] + " " + good))
        # A signature over a different body does not verify.
        r, _ = post(c, "/hook", body + b" ", signed_headers(body, wid="msg_body",
                                                          sig=sign(SECRET_KEY, "msg_body", 1, body)))
        r, _ = post(c, "/hook", body, {"webhook-id": "msg_none"})
        recs = {r["headers"].get("webhook-id"): r for r in sk.records()}
        assert recs["msg_ok"]["sig_ok"] is True and recs["msg_ok"]["ts_ok"] is True
        assert recs["msg_bad"]["sig_ok"] is False
        assert recs["msg_two"]["sig_ok"] is True
        assert recs["msg_body"]["sig_ok"] is False
        assert recs["msg_none"]["sig_ok"] is False and recs["msg_none"]["ts_ok"] is False
        assert recs["msg_ok"]["body"] == body.decode()


def test_two_secrets_rotation_and_reject():
    with Sink("--secret", SECRET, "--secret", SECRET2, "--reject-bad-signature") as sk:
        c = sk.conn()
        body = b'{"n":1}'
        # Either secret's signature verifies.
        r, _ = post(c, "/hook", body, signed_headers(body, key=SECRET2_KEY, wid="msg_s2"))
        assert r.status == 200
        r, data = post(c, "/hook", body, signed_headers(body, wid="msg_bad", sig="v1,Zm9v"))
        assert r.status == 401, r.status
        # An old timestamp: signature fine, ts_ok false.
        old = int(time.time()) - 3600
        r, _ = post(c, "/hook", body, signed_headers(body, wid="msg_old", ts=old))
        assert r.status == 200
        future = int(time.time()) + 200
        r, _ = post(c, "/hook", body, signed_headers(body, wid="msg_soon", ts=future))
        recs = {r["headers"]["webhook-id"]: r for r in sk.records()}
        assert recs["msg_s2"]["sig_ok"] is True
        assert recs["msg_bad"]["sig_ok"] is False and recs["msg_bad"]["status"] == 401
        assert recs["msg_old"]["sig_ok"] is True and recs["msg_old"]["ts_ok"] is False
        assert recs["msg_soon"]["ts_ok"] is True


def test_script_rules():
    script = """# test rules
match ^/busy status 429 retry-after 120
match ^/date status 503 retry-after "Wed, 21 Oct 2037 07:28:00 GMT"
match ^/gone$ status 410
match ^/flaky times 1 status 500
match ^/moved status 301 location https://example.org/new
match ^/custom status 202 body "{\\"queued\\":true}"
match \\?fail=1 status 400
"""
    with Sink(script=script) as sk:
        c = sk.conn()
        r, data = post(c, "/busy")
        assert r.status == 429 and r.getheader("Retry-After") == "120"
        assert json.loads(data) == {"ok": False, "status": 429}
        r, _ = post(c, "/date")
        assert r.status == 503 and r.getheader("Retry-After") == "Wed, 21 Oct 2037 07:28:00 GMT"
        r, _ = post(c, "/gone")
        assert r.status == 410
        r, _ = post(c, "/gone/not")
        assert r.status == 200
        r, _ = post(c, "/flaky")
        assert r.status == 500
        r, _ = post(c, "/flaky")
        assert r.status == 200
        r, _ = post(c, "/moved")
        assert r.status == 301 and r.getheader("Location") == "https://example.org/new"
        r, data = post(c, "/custom")
        assert r.status == 202 and json.loads(data) == {"queued": True}
        r, _ = post(c, "/x?fail=1")
        assert r.status == 400
        statuses = [(x["path"], x["status"]) for x in sk.records()]
        assert statuses == [("/busy", 429), ("/date", 503), ("/gone", 410), ("/gone/not", 200),
                            ("/flaky", 500), ("/flaky", 200), ("/moved", 301), ("/custom", 202),
                            ("/x?fail=1", 400)], statuses


def test_script_reload():
    with Sink(script="match ^/a status 500\n") as sk:
        c = sk.conn()
        assert post(c, "/a")[0].status == 500
        time.sleep(0.05)
        sk.write_script("match ^/a times 1 status 503\n")
        time.sleep(0.25)
        assert post(c, "/a")[0].status == 503
        assert post(c, "/a")[0].status == 200
        # A broken script keeps the old rules and says why.
        sk.write_script("match ^/a statuz 400\n")
        time.sleep(0.25)
        assert post(c, "/a")[0].status == 200
        assert "unknown word" in sk.stderr() or "needs a value" in sk.stderr(), sk.stderr()


def test_delay_does_not_block_others():
    with Sink(script="match ^/slow delay 600 status 200\n") as sk:
        done = {}

        def slow():
            t = time.time()
            r, _ = post(sk.conn(), "/slow")
            done["slow"] = (r.status, time.time() - t)

        th = threading.Thread(target=slow)
        th.start()
        time.sleep(0.1)
        t = time.time()
        r, _ = post(sk.conn(), "/fast")
        fast = time.time() - t
        th.join()
        assert r.status == 200 and fast < 0.4, fast
        assert done["slow"][0] == 200 and done["slow"][1] >= 0.55, done


def test_close_and_drop():
    with Sink(script="match ^/close status 200 close\nmatch ^/drop drop\n") as sk:
        s = sk.raw()
        s.sendall(b"POST /close HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}")
        reply, _ = read_reply(s)
        assert reply.startswith(b"HTTP/1.1 200 ") and b"Connection: close" in reply, reply
        assert closed(s)
        s = sk.raw()
        s.sendall(b"POST /drop HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}")
        reply, _ = read_reply(s)
        assert reply == b"", reply
        c = sk.conn()
        try:
            post(c, "/drop")
            raise AssertionError("drop answered")
        except (http.client.RemoteDisconnected, ConnectionError, ssl.SSLError):
            pass
        assert post(sk.conn(), "/after")[0].status == 200


def test_keepalive_and_out_records():
    with Sink() as sk:
        c = sk.conn()
        for i in range(20):
            body = json.dumps({"i": i, "text": "Grüße"}).encode()
            r, _ = post(c, "/k/%d?x=%d" % (i, i), body, {"webhook-id": "msg_%d" % i})
            assert r.status == 200
        recs = sk.records()
        assert len(recs) == 20
        assert len({x["conn"] for x in recs}) == 1, "one connection"
        assert [x["n"] for x in recs] == list(range(1, 21))
        x = recs[3]
        assert x["method"] == "POST" and x["path"] == "/k/3?x=3"
        assert x["host"] == "localhost:%d" % sk.port
        assert x["headers"]["content-type"] == "application/json"
        assert x["headers"]["user-agent"] == "outreach-test"
        assert x["headers"]["webhook-id"] == "msg_3"
        assert json.loads(x["body"]) == {"i": 3, "text": "Grüße"}
        assert x["sig_ok"] is None and x["ts_ok"] is False and x["status"] == 200
        # Not UTF-8: body_b64.
        post(c, "/bin", b"\xff\x00\xfe")
        x = sk.records()[-1]
        assert "body" not in x and base64.b64decode(x["body_b64"]) == b"\xff\x00\xfe"


def test_pipelining_in_order():
    with Sink(script="match ^/first delay 300 status 201\nmatch ^/second status 202\n") as sk:
        s = sk.raw()
        reqs = b"".join(b"POST /%s HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}" % p
                        for p in (b"first", b"second", b"third"))
        reqs += b"GET /fourth HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        s.sendall(reqs)
        codes, rest = [], b""
        s.settimeout(5 * SLOW)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        for part in data.split(b"HTTP/1.1 ")[1:]:
            codes.append(int(part[:3]))
        assert codes == [201, 202, 200, 200], (codes, data)
        assert [x["path"] for x in sk.records()] == ["/first", "/second", "/third", "/fourth"]


def test_chunked_body():
    with Sink() as sk:
        c = sk.conn()
        parts = [b'{"chunked":', b'"yes", "pad":"', b"x" * 5000, b'"}']
        c.request("POST", "/chunked", body=iter(parts), encode_chunked=True,
                  headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        r = c.getresponse()
        r.read()
        assert r.status == 200
        # Raw: chunk extensions and trailers, then a second request behind it.
        s = sk.raw()
        s.sendall(b"POST /raw HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"3;ext=1\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n"
                  b"POST /next HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\n\r\nz")
        r1, rest = read_reply(s)
        assert r1.startswith(b"HTTP/1.1 200"), r1
        if not rest:
            r2, _ = read_reply(s)
        else:
            r2 = rest
        assert r2.startswith(b"HTTP/1.1 200"), r2
        recs = sk.records()
        assert recs[0]["body"] == b"".join(parts).decode()
        assert recs[1]["body"] == "abc" and recs[2]["body"] == "z"


def test_expect_100_continue():
    with Sink() as sk:
        s = sk.raw()
        s.sendall(b"POST /big HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        s.settimeout(5 * SLOW)
        interim = s.recv(65536)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n", interim
        s.sendall(b"hello")
        reply, _ = read_reply(s)
        assert reply.startswith(b"HTTP/1.1 200"), reply
        assert sk.records()[-1]["body"] == "hello"


def test_malformed_and_oversized():
    with Sink() as sk:
        cases = [
            (b"GARBAGE\r\n\r\n", 400),
            (b"GET /x HTTP/1.1\r\n\r\n", 400),                      # no Host
            (b"GET /x HTTP/2.0\r\nHost: a\r\n\r\n", 505),
            (b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
            (b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
            (b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            (b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
            (b"POST /x HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400),
            (b"POST /x HTTP/1.1\r\nHost: a\r\nBad Name: 1\r\n\r\n", 400),
            (b"POST /x HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", 400),
            (b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
            (b"POST /x HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n", 417),
            (b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 10485761\r\n\r\n", 413),
            (b"POST /x HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 70000 + b"\r\n\r\n", 431),
            (b"POST /x HTTP/1.1\r\nHost: a\r\n" + b"X: 1\r\n" * 300 + b"\r\n", 431),
        ]
        for raw, want in cases:
            s = sk.raw()
            s.sendall(raw)
            reply, _ = read_reply(s)
            assert reply.startswith(b"HTTP/1.1 %d " % want), (raw[:80], reply[:200])
            assert b"Connection: close" in reply
            assert closed(s), raw[:80]
            s.close()
        # A chunked body growing past 10 MiB: 413 while it is being sent.
        s = sk.raw()
        s.sendall(b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"100000\r\n" + b"a" * 0x100000 + b"\r\n"
        try:
            for _ in range(12):
                s.sendall(chunk)
        except (ConnectionError, ssl.SSLError):
            pass
        reply, _ = read_reply(s)
        assert reply.startswith(b"HTTP/1.1 413 "), reply[:200]
        s.close()
        # Exactly 10 MiB is fine.
        big = b"b" * (10 * 1024 * 1024)
        r, _ = post(sk.conn(30), "/big", big)
        assert r.status == 200
        assert sk.records()[-1]["body"] == big.decode()
        assert post(sk.conn(), "/still")[0].status == 200


def test_vanishing_clients():
    with Sink("--secret", SECRET) as sk:
        for cut in (0, 10, 60):
            s = socket.create_connection(("127.0.0.1", sk.port))
            if cut:
                s.sendall(b"\x16\x03\x01" + b"\x00" * cut)
            s.close()
        for partial in (b"POST /x HTTP/1.1\r\nHo", b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc"):
            s = sk.raw()
            s.sendall(partial)
            s.close()
        s = sk.raw()
        s.sendall(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
        assert post(sk.conn(), "/alive")[0].status == 200


def test_many_connections():
    n = 300 if ASAN else 2000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 200), hard))
    n = min(n, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 100)
    with Sink(out=False) as sk:
        socks = [sk.raw() for _ in range(n)]
        for i, s in enumerate(socks):
            s.sendall(b"POST /m/%d HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}" % i)
        for s in socks:
            reply, _ = read_reply(s)
            assert reply.startswith(b"HTTP/1.1 200"), reply
        sk.proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: "open %d" % n in sk.stderr(), 5 * SLOW, "SIGUSR1 counts")
        for s in socks:
            s.close()
        err = sk.stop()
        assert "requests %d\n" % n in err, err


def test_bad_arguments():
    base = [SINK, "--cert", os.path.join(CA, "server.pem"), "--key", os.path.join(CA, "server.key")]
    for args, words in [
        (["--listen", "127.0.0.1:0", "--secret", "nope"], "whsec_"),
        (["--listen", "127.0.0.1:0", "--secret", "whsec_!!!"], "base64"),
        (["--listen", "127.0.0.1:0", "--reject-bad-signature"], "needs --secret"),
        (["--listen", "127.0.0.1"], "HOST:PORT"),
        (["--listen", "127.0.0.1:0", "--script", "/nonexistent/script"], "/nonexistent/script"),
    ]:
        p = subprocess.run(base + args, capture_output=True, text=True, timeout=10 * SLOW)
        assert p.returncode != 0 and words in p.stderr, (args, p.returncode, p.stderr)
    p = subprocess.run([SINK, "--listen", "127.0.0.1:0", "--cert", "/nonexistent.pem",
                        "--key", "/nonexistent.key"], capture_output=True, text=True)
    assert p.returncode != 0 and "/nonexistent.pem" in p.stderr, p.stderr
    bad = os.path.join(TMP, "bad-script")
    with open(bad, "w") as f:
        f.write("match ( status 200\n")
    p = subprocess.run(base + ["--listen", "127.0.0.1:0", "--script", bad],
                       capture_output=True, text=True)
    assert p.returncode != 0 and "line 1" in p.stderr, p.stderr


def test_throughput_curl_parallel():
    if shutil.which("curl") is None:
        print("skip - no curl")
        return
    n = int(os.environ.get("HTTPSINK_CURL_N", "2000" if ASAN else "10000"))
    with Sink("--discard", out=False) as sk:
        cfg = os.path.join(sk.dir, "curl.cfg")
        ca = os.path.join(CA, "ca.pem")
        # Options do not carry over "next": each transfer names its CA.
        with open(cfg, "w") as f:
            for i in range(n):
                if i:
                    f.write("next\n")
                f.write('url = "https://localhost:%d/hook/%d"\n' % (sk.port, i))
                f.write('data = "{\\"event\\":%d}"\n' % i)
                f.write('cacert = "%s"\noutput = "/dev/null"\n' % ca)
                f.write('write-out = "%{http_code}\\n"\n')
        t = time.time()
        p = subprocess.run(["curl", "-s", "--parallel", "--parallel-max", "8", "--config", cfg],
                           capture_output=True, text=True, timeout=600)
        dt = time.time() - t
        codes = p.stdout.split()
        assert codes.count("200") == n, (p.returncode, p.stderr[-500:], codes[:5])
        print("rate: curl --parallel --parallel-max 8: %d POSTs in %.2fs = %.0f requests/s"
              % (n, dt, n / dt), flush=True)
        err = sk.stop()
        assert "requests %d\n" % n in err, err


def test_throughput_one_connection():
    n = 1000 if ASAN else 5000
    with Sink("--discard", out=False) as sk:
        c = sk.conn()
        body = b'{"event":"x"}'
        t = time.time()
        for _ in range(n):
            c.request("POST", "/hook", body=body, headers={"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            assert r.status == 200
        dt = time.time() - t
        print("rate: one keep-alive connection, http.client: %.0f requests/s" % (n / dt))
        # Pipelined on one raw TLS connection: the sink's own pace.
        s = sk.raw()
        req = b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 13\r\n\r\n" + body
        total, window, sent, got, tail = n * 10, 200, 0, 0, b""
        t = time.time()
        while got < total:
            if sent < total and sent - got < window:
                k = min(window - (sent - got), total - sent)
                s.sendall(req * k)
                sent += k
            data = tail + s.recv(1 << 20)
            got += data.count(b"HTTP/1.1 200 OK")
            tail = data[-20:]
            if tail.count(b"HTTP/1.1 200 OK"):
                tail = b""
        dt = time.time() - t
        print("rate: one connection, %d-deep pipelining: %.0f requests/s" % (window, total / dt))


def test_signals():
    with Sink() as sk:
        post(sk.conn(), "/one")
        sk.proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: "requests 1 connections 1" in sk.stderr(), 5 * SLOW, "counts")
        sk.proc.send_signal(signal.SIGINT)
        assert sk.proc.wait(10 * SLOW) == 0
        assert sk.stderr().endswith("requests 1\n"), sk.stderr()


if __name__ == "__main__":
    if not os.access(SINK, os.X_OK):
        print("skip - %s not built (make %s)" % (SINK, os.path.relpath(SINK, ROOT)))
        sys.exit(77)
    try:
        make_pki()
        run_tests(collect(globals()))
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
