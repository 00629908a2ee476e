"""Integration tests of the webhook sender (daemon/webhook.c) through
tests/tools/hooksend against the project's HTTPS sink (tests/tools/httpsink)
on loopback, with a throwaway CA from tests/tools/mkca: Standard Webhooks
signatures checked by the sink and again here with Python's hmac (one and two
secrets), the webhook-id kept and the signature recomputed across a retry,
each class of answer (2xx, 410, 408/429/5xx with Retry-After in seconds or as
an HTTP date, other 4xx, 3xx not followed), the address policy, TLS failures
with their reasons, keep-alive, the per-host connection and rate limits, and
proxies from the environment ignored.  No text may contain the URL's path.

Runs under /usr/bin/python3; $BUILD selects the build (build-asan for the
sanitizer run)."""
import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from email.utils import formatdate

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ASAN, BUILD, ROOT, SLOW, collect, run_tests  # noqa: E402

HOOKSEND = os.path.join(BUILD, "tools", "hooksend")
HTTPSINK = os.path.join(BUILD, "tools", "httpsink")
MKCA = os.path.join(ROOT, "tests", "tools", "mkca")

SECRET1 = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SECRET2 = "whsec_" + base64.b64encode(bytes(range(32))).decode()
# A path and query that identify a contact: never in any text.
PRIVATE_PATH = "/hook/c-00042/tok3n-S3CRET?key=Pr1vate"

TMP = tempfile.mkdtemp(prefix="test_webhook.")
CA = os.path.join(TMP, "ca")


def write(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def key_of(secret):
    return base64.b64decode(secret[len("whsec_"):])


def expected_sig(secret, wid, ts, body):
    mac = hmac.new(key_of(secret), ("%s.%s." % (wid, ts)).encode() + body,
                   hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


class Sink:
    """httpsink on 127.0.0.1, port chosen by the kernel."""

    def __init__(self, cert="server", secrets=(), script=None, discard=False):
        self.out = None if discard else os.path.join(
            TMP, "sink-%d.jsonl" % time.monotonic_ns())
        args = [HTTPSINK, "--listen", "127.0.0.1:0",
                "--cert", os.path.join(CA, cert + ".pem"),
                "--key", os.path.join(CA, cert + ".key")]
        for s in secrets:
            args += ["--secret", s]
        if script is not None:
            args += ["--script", write("script-%d" % time.monotonic_ns(),
                                       script)]
        args += ["--discard"] if discard else ["--out", self.out]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "ready":
            self.proc.kill()
            raise AssertionError("httpsink did not start: %r %s" %
                                 (line, self.proc.stderr.read()))
        self.port = int(line[1])

    def url(self, path=PRIVATE_PATH, host="localhost"):
        return "https://%s:%d%s" % (host, self.port, path)

    def requests(self):
        if self.out is None or not os.path.exists(self.out):
            return []
        with open(self.out) as f:
            return [json.loads(line) for line in f if line.strip()]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()


def hooksend(urls, count=1, secrets=(SECRET1,), loopback=True, env=None,
             extra=(), timeout=60):
    """Run hooksend; return (list of job dicts by cookie, summary line,
    elapsed seconds)."""
    sfile = write("secrets-%d" % time.monotonic_ns(),
                  "# test secrets\n" + "\n".join(secrets) + "\n")
    args = [HOOKSEND, "--secret-file", sfile,
            "--ca", os.path.join(CA, "ca.pem"), "--count", str(count)]
    if loopback:
        args.append("--allow-loopback")
    for u in urls if isinstance(urls, (list, tuple)) else [urls]:
        args += ["--url", u]
    args += list(extra)
    e = dict(os.environ)
    if env:
        e.update(env)
    t0 = time.monotonic()
    p = subprocess.run(args, capture_output=True, text=True, env=e,
                       timeout=timeout * SLOW)
    elapsed = time.monotonic() - t0
    if p.returncode != 0:
        raise AssertionError("hooksend exited %d: %s" % (p.returncode,
                                                        p.stderr))
    if ASAN and ("ERROR: AddressSanitizer" in p.stderr or
                 "runtime error" in p.stderr or
                 "LeakSanitizer" in p.stderr):
        raise AssertionError("sanitizer: " + p.stderr[-3000:])
    lines = p.stdout.strip().split("\n")
    jobs = [json.loads(x) for x in lines[:-1]]
    if len(jobs) != count:
        raise AssertionError("%d reports for %d jobs: %s" %
                             (len(jobs), count, p.stdout))
    cookies = sorted(j["cookie"] for j in jobs)
    if cookies != list(range(count)):
        raise AssertionError("not one report per job: %s" % cookies)
    for j in jobs:
        check_text(j["text"])
    return sorted(jobs, key=lambda j: j["cookie"]), lines[-1], elapsed


def check_text(text):
    for bad in ("c-00042", "tok3n", "S3CRET", "Pr1vate", "/hook", "whsec_"):
        if bad in text:
            raise AssertionError("text leaks %r: %r" % (bad, text))


def one(sink, path, **kw):
    jobs, _, _ = hooksend(sink.url(path), **kw)
    return jobs[0]


# ---- tests ----

def test_signature_one_secret():
    body = write("body.json", json.dumps({"event": "t", "notice": "é" * 50}))
    with Sink(secrets=[SECRET1]) as s:
        jobs, summary, _ = hooksend(s.url(), count=5,
                                    extra=["--body-file", body])
        reqs = s.requests()
    assert all(j["result"] == "sent" and j["status"] == 200 for j in jobs)
    assert summary.startswith("sent 5 retry 0 failed 0 gone 0"), summary
    assert len(reqs) == 5
    raw = open(body, "rb").read()
    ids = set()
    for r in reqs:
        h = r["headers"]
        assert r["method"] == "POST" and r["path"] == PRIVATE_PATH
        assert r["sig_ok"] is True and r["ts_ok"] is True, r
        assert h["content-type"] == "application/json"
        assert h["user-agent"].startswith("outreachd/")
        assert "expect" not in h
        assert r["body"].encode() == raw
        assert abs(int(h["webhook-timestamp"]) - time.time()) < 60
        assert h["webhook-signature"] == expected_sig(
            SECRET1, h["webhook-id"], h["webhook-timestamp"], raw), h
        ids.add(h["webhook-id"])
    assert ids == {"msg_hooksend_%d" % i for i in range(5)}


def test_signature_two_secrets():
    with Sink(secrets=[SECRET2]) as s:
        jobs, _, _ = hooksend(s.url(), count=3, secrets=(SECRET1, SECRET2))
        reqs = s.requests()
    assert all(j["result"] == "sent" for j in jobs)
    for r in reqs:
        h = r["headers"]
        assert r["sig_ok"] is True
        body = r["body"].encode()
        want = " ".join(expected_sig(k, h["webhook-id"],
                                     h["webhook-timestamp"], body)
                        for k in (SECRET1, SECRET2))
        assert h["webhook-signature"] == want, (h, want)


def test_retry_keeps_id_recomputes_signature():
    script = 'match /busy times 1 status 429 retry-after 1\n'
    with Sink(secrets=[SECRET1], script=script) as s:
        jobs, _, _ = hooksend(s.url("/busy/c-00042"),
                              extra=["--retries", "1", "--id", "evt_7."])
        reqs = s.requests()
    j = jobs[0]
    assert j["result"] == "sent" and j["attempts"] == 2, j
    assert [r["status"] for r in reqs] == [429, 200]
    h1, h2 = reqs[0]["headers"], reqs[1]["headers"]
    assert h1["webhook-id"] == h2["webhook-id"] == "evt_7.0"
    assert int(h2["webhook-timestamp"]) >= int(h1["webhook-timestamp"]) + 1
    assert h1["webhook-signature"] != h2["webhook-signature"]
    for r in reqs:
        h = r["headers"]
        assert r["sig_ok"] is True
        assert h["webhook-signature"] == expected_sig(
            SECRET1, h["webhook-id"], h["webhook-timestamp"],
            r["body"].encode())


def test_gone():
    with Sink(script="match /gone status 410\n") as s:
        j = one(s, "/gone" + PRIVATE_PATH)
    assert j["result"] == "gone" and j["status"] == 410, j
    assert j["text"] == "localhost: HTTP 410", j


def test_retry_after_seconds():
    with Sink(script="match /busy status 429 retry-after 7\n"
                     "match /late status 503 retry-after 99999\n"
                     "match /junk status 503 retry-after soon\n") as s:
        j = one(s, "/busy" + PRIVATE_PATH)
        assert (j["result"], j["status"], j["retry_after_ms"]) == \
            ("retry", 429, 7000), j
        # Capped at retry_after_max_s.
        j = one(s, "/late", extra=["--retry-after-max", "60"])
        assert (j["result"], j["retry_after_ms"]) == ("retry", 60000), j
        j = one(s, "/junk")
        assert (j["result"], j["retry_after_ms"]) == ("retry", -1), j


def test_retry_after_http_date():
    date = formatdate(time.time() + 120, usegmt=True)
    with Sink(script='match /busy status 503 retry-after "%s"\n'
                     'match /past status 429 retry-after '
                     '"Sun, 06 Nov 1994 08:49:37 GMT"\n' % date) as s:
        j = one(s, "/busy")
        assert j["result"] == "retry" and j["status"] == 503, j
        assert 100000 <= j["retry_after_ms"] <= 121000, j
        j = one(s, "/past")
        assert (j["result"], j["retry_after_ms"]) == ("retry", 0), j


def test_server_errors_retry():
    with Sink(script="match /err times 1 status 500\n"
                     "match /timeout status 408\n") as s:
        j = one(s, "/err" + PRIVATE_PATH)
        assert (j["result"], j["status"], j["retry_after_ms"]) == \
            ("retry", 500, -1), j
        assert j["text"] == "localhost: HTTP 500", j
        j = one(s, "/timeout")
        assert (j["result"], j["status"]) == ("retry", 408), j
        # The rule was used once: the next attempt succeeds.
        j = one(s, "/err", extra=[])
        assert j["result"] == "sent", j


def test_client_errors_fail():
    with Sink(script="match /missing status 404\n"
                     "match /bad status 400 retry-after 5\n") as s:
        j = one(s, "/missing" + PRIVATE_PATH)
        assert (j["result"], j["status"]) == ("failed", 404), j
        assert j["text"] == "localhost: HTTP 404"
        j = one(s, "/bad")
        assert (j["result"], j["status"], j["retry_after_ms"]) == \
            ("failed", 400, -1), j


def test_redirect_not_followed():
    with Sink() as target:
        script = "match /moved status 301 location %s\n" % target.url("/x")
        with Sink(script=script) as s:
            j = one(s, "/moved" + PRIVATE_PATH)
            reqs = s.requests()
        assert target.requests() == []
    assert (j["result"], j["status"]) == ("failed", 301), j
    assert j["text"] == "localhost: HTTP 301 (redirects are not followed)", j
    assert len(reqs) == 1


def test_loopback_refused():
    with Sink() as s:
        j = one(s, PRIVATE_PATH, loopback=False)
        assert j["result"] == "failed" and j["status"] == 0, j
        assert j["text"].startswith("localhost: address "), j
        assert j["text"].endswith(" is loopback (not allowed)"), j
        jobs, _, _ = hooksend(s.url(host="127.0.0.1"), loopback=False)
        assert jobs[0]["text"] == \
            "127.0.0.1: address 127.0.0.1 is loopback (not allowed)", jobs
        jobs, _, _ = hooksend(s.url(host="[::1]"), loopback=False)
        assert jobs[0]["text"] == \
            "[::1]: address ::1 is loopback (not allowed)", jobs
        assert s.requests() == []


def test_tls_failures():
    cases = [("wronghost", "host name mismatch"),
             ("unknown", "unknown certificate authority"),
             ("expired", "certificate has expired")]
    for cert, reason in cases:
        with Sink(cert=cert) as s:
            j = one(s, PRIVATE_PATH)
            assert s.requests() == [], cert
        assert j["result"] == "retry" and j["status"] == 0, (cert, j)
        assert j["text"].startswith("localhost: TLS: " + reason), (cert, j)


def test_connection_refused_and_timeout():
    with Sink() as s:
        port = s.port
    j = hooksend("https://localhost:%d/x" % port)[0][0]
    assert j["result"] == "retry" and j["status"] == 0, j
    assert j["text"].startswith("localhost: "), j
    with Sink(script="match /slow delay 5000 status 200\n"
                     "match /drop drop\n") as s:
        t0 = time.monotonic()
        j = one(s, "/slow" + PRIVATE_PATH, extra=["--timeout", "300"])
        assert time.monotonic() - t0 < 4, "the timeout was not applied"
        assert j["result"] == "retry" and "timed out" in j["text"], j
        j = one(s, "/drop" + PRIVATE_PATH)
        assert j["result"] == "retry" and j["status"] == 0, j


def test_not_https():
    with Sink() as s:
        jobs, _, _ = hooksend(["http://localhost:%d/x" % s.port,
                               "https://localhost:%d/x" % s.port], count=2)
    assert jobs[0]["result"] == "refused", jobs
    assert jobs[1]["result"] == "sent", jobs


def test_keep_alive():
    with Sink() as s:
        jobs, _, _ = hooksend(s.url(), count=300,
                              extra=["--connections", "4"])
        reqs = s.requests()
    assert all(j["result"] == "sent" for j in jobs)
    conns = {r["conn"] for r in reqs}
    assert len(reqs) == 300 and len(conns) <= 4, conns


def test_connection_limit():
    with Sink(script="match /slow delay 200 status 200\n") as s:
        jobs, _, elapsed = hooksend(s.url("/slow"), count=12,
                                    extra=["--connections", "3"])
        reqs = s.requests()
    assert all(j["result"] == "sent" for j in jobs)
    assert len({r["conn"] for r in reqs}) <= 3
    # Twelve 200 ms answers, three at a time: at least four rounds.
    assert elapsed >= 0.75, elapsed


def test_two_hosts_separate_limits():
    with Sink(script="match /slow delay 300 status 200\n") as a, \
            Sink(script="match /slow delay 300 status 200\n") as b:
        jobs, _, elapsed = hooksend([a.url("/slow"), b.url("/slow")],
                                    count=8, extra=["--connections", "2"])
        ra, rb = a.requests(), b.requests()
    assert all(j["result"] == "sent" for j in jobs)
    assert len(ra) == len(rb) == 4
    assert len({r["conn"] for r in ra}) <= 2
    # Two hosts, two connections each: two rounds, not four.
    assert 0.55 <= elapsed < 1.15 * SLOW + 0.5, elapsed


def test_rate_limit():
    with Sink() as s:
        jobs, _, elapsed = hooksend(s.url(), count=30,
                                    extra=["--rate", "20"])
    assert all(j["result"] == "sent" for j in jobs)
    # 20/s with a burst of two: about 1.4 s for 30.
    assert elapsed >= 1.2, elapsed


def test_proxy_ignored():
    env = {v: "http://127.0.0.1:9" for v in
           ("https_proxy", "HTTPS_PROXY", "http_proxy", "all_proxy",
            "ALL_PROXY")}
    env["no_proxy"] = env["NO_PROXY"] = ""
    with Sink() as s:
        jobs, _, _ = hooksend(s.url(), count=3, env=env)
        reqs = s.requests()
    assert all(j["result"] == "sent" for j in jobs), jobs
    assert len(reqs) == 3


def test_free_reports_the_rest_not_sent():
    # Four connections held by slow answers, the rest queued: freeing the
    # sender after the first report aborts and reports everything else.
    with Sink(script="match /slow delay 400 status 200\n") as s:
        jobs, summary, elapsed = hooksend(
            s.url("/slow" + PRIVATE_PATH), count=20,
            extra=["--connections", "4", "--abort-after", "1"])
    results = [j["result"] for j in jobs]
    assert results.count("sent") >= 1, results
    assert results.count("sent") + results.count("not_sent") == 20, results
    assert results.count("not_sent") >= 12, results
    for j in jobs:
        if j["result"] == "not_sent":
            assert j["text"] == "localhost: not sent" or \
                j["text"] == "localhost: not sent (stopped)", j
    assert elapsed < 2.5 * SLOW, elapsed


def test_sender_replaced_while_the_loop_runs():
    # The daemon's reload: the old sender is freed mid-flight while the
    # loop goes on; its jobs go to a new sender; each is reported once.
    with Sink(script="match /slow delay 100 status 200\n") as s:
        jobs, summary, _ = hooksend(
            s.url("/slow" + PRIVATE_PATH), count=40,
            extra=["--connections", "4", "--reload-after", "5"])
        reqs = s.requests()
    assert all(j["result"] == "sent" for j in jobs), summary
    # At least once: an aborted request may have arrived too.
    assert len(reqs) >= 40
    assert {r["headers"]["webhook-id"] for r in reqs} == \
        {"msg_hooksend_%d" % i for i in range(40)}


def test_many_jobs_each_reported_once():
    # More jobs than the sender holds at once, some failing.
    script = "match /a/ status 200\nmatch /b/ status 503\n"
    with Sink(script=script, secrets=[SECRET1]) as s:
        jobs, summary, _ = hooksend([s.url("/a/"), s.url("/b/")],
                                    count=2000 if not ASAN else 600,
                                    extra=["--connections", "8"])
        reqs = s.requests()
    n = len(jobs)
    assert summary.startswith("sent %d retry %d failed 0" % (n // 2, n // 2))
    assert len(reqs) == n and all(r["sig_ok"] for r in reqs)


def main():
    try:
        subprocess.run([MKCA, CA], check=True)
        run_tests(collect(globals()))
    finally:
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
