"""Integration tests of the SMTP client (daemon/smtp.c) through its driver
$BUILD/tools/smtpsend against the project's sink $BUILD/tools/smtpsink with
a throwaway CA (tests/tools/mkca): pipelining, dot-stuffing, STARTTLS
required and its injection defence, AUTH only over TLS, reply classes and
redaction, drops and timeouts, certificate failures, implicit TLS, pool and
rate limits, SIZE.  Every run checks that each message is reported exactly
once, that no reported text and no log line carries an address, and that
the driver exits 0 (under ASan: no leak, no UB)."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, ROOT, SLOW, collect, run_tests  # noqa: E402

SINK = os.path.join(BUILD, "tools", "smtpsink")
SEND = os.path.join(BUILD, "tools", "smtpsend")
MKCA = os.path.join(ROOT, "tests", "tools", "mkca")

TMP = tempfile.mkdtemp(prefix="test_smtp.")
CA = os.path.join(TMP, "ca")
subprocess.run([MKCA, CA], check=True)


def pem(name):
    return os.path.join(CA, name + ".pem"), os.path.join(CA, name + ".key")


class Sink:
    """One smtpsink on 127.0.0.1, its messages and its protocol log."""
    n = 0

    def __init__(self, mode="starttls", cert="server", script=None,
                 extra=()):
        Sink.n += 1
        self.dir = os.path.join(TMP, "sink%d" % Sink.n)
        self.out = os.path.join(self.dir, "out")
        self.log = os.path.join(self.dir, "log.jsonl")
        os.makedirs(self.out)
        c, k = pem(cert)
        args = [SINK, "--listen", "127.0.0.1:0", "--mode", mode,
                "--cert", c, "--key", k, "--out", self.out,
                "--log", self.log]
        if script is not None:
            sp = os.path.join(self.dir, "script")
            with open(sp, "w") as f:
                f.write(script)
            args += ["--script", sp]
        args += list(extra)
        self.err = open(os.path.join(self.dir, "stderr"), "w")
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE,
                                  stderr=self.err, text=True)
        line = self.p.stdout.readline()
        m = re.match(r"ready (\d+)", line)
        assert m, "smtpsink did not start: %r" % line
        self.port = int(m.group(1))

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10 * SLOW)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.err.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()

    def messages(self):
        p = os.path.join(self.out, "messages.jsonl")
        if not os.path.exists(p):
            return []
        with open(p) as f:
            return [json.loads(x) for x in f if x.strip()]

    def eml(self, n):
        with open(os.path.join(self.out, "%08d.eml" % n), "rb") as f:
            return f.read()

    def events(self, ev=None):
        out = []
        if not os.path.exists(self.log):
            return out
        with open(self.log) as f:
            for x in f:
                if x.strip():
                    e = json.loads(x)
                    if ev is None or e["ev"] == ev:
                        out.append(e)
        return out


def send(sink_or_port, count, *args, tls="starttls", ca="ca", timeout=60,
         debug=False, host="localhost", env=None):
    """Run smtpsend; check it exits 0 and reports each message once, with
    no address in any text or log line.  Returns (results by cookie,
    summary dict, stderr)."""
    port = sink_or_port if isinstance(sink_or_port, int) else \
        sink_or_port.port
    cmd = [SEND, "--host", host, "--port", str(port), "--tls", tls,
           "--ca", os.path.join(CA, ca + ".pem"),
           "--from", "sender@example.org", "--count", str(count)]
    cmd += [str(a) for a in args]
    if debug:
        cmd.append("--debug")
    r = subprocess.run(cmd, capture_output=True, text=True,
                       timeout=timeout * SLOW, env=env)
    assert r.returncode == 0, "smtpsend exited %d:\n%s" % (r.returncode,
                                                          r.stderr[-3000:])
    lines = r.stdout.splitlines()
    assert lines, r.stderr
    m = re.match(r"sent (\d+) tempfail (\d+) permfail (\d+) bounced (\d+)"
                 r" in ([0-9.]+) s", lines[-1])
    assert m, lines[-1]
    summary = {"sent": int(m.group(1)), "tempfail": int(m.group(2)),
               "permfail": int(m.group(3)), "bounced": int(m.group(4)),
               "secs": float(m.group(5))}
    res = {}
    for x in lines[:-1]:
        j = json.loads(x)
        assert j["cookie"] not in res, "reported twice: %s" % x
        assert "@" not in j["text"], "address in a text: %s" % x
        assert not re.search(r"[\x00-\x1f\x7f]", j["text"]), x
        res[j["cookie"]] = j
    assert sorted(res) == list(range(count)), sorted(res)
    assert "@" not in r.stderr, "address in the log:\n%s" % r.stderr
    return res, summary, r.stderr


def results(res):
    out = {}
    for j in res.values():
        out[j["result"]] = out.get(j["result"], 0) + 1
    return out


def reads(sink):
    """The commands of each read, per connection, in order."""
    return [(e["conn"], e.get("cmds", []), e.get("data_end", 0))
            for e in sink.events("read")]


def has_run(cmds, run):
    n = len(run)
    return any(cmds[i:i + n] == run for i in range(len(cmds) - n + 1))


# ---- pipelining and the body ----

def test_pipelining_when_offered():
    with Sink() as s:
        res, summ, _ = send(s, 6, "--connections", 1, "--size", 3000)
        assert summ["sent"] == 6, res
        rd = reads(s)
        assert any(has_run(c, ["MAIL", "RCPT", "DATA"]) for _, c, _ in rd), rd
        # After the 354: the body, its dot and the next envelope in one
        # write.
        assert any(d and c == ["MAIL", "RCPT", "DATA"] for _, c, d in rd), rd
        assert len(s.messages()) == 6
        assert len(s.events("quit")) == 1


def test_no_pipelining_one_command_per_read():
    with Sink(extra=["--no-pipelining"]) as s:
        res, summ, _ = send(s, 4, "--connections", 1)
        assert summ["sent"] == 4, res
        for _, c, _ in reads(s):
            assert len([x for x in c if x in ("MAIL", "RCPT", "DATA")]) \
                <= 1, c
        assert len(s.messages()) == 4


def test_dot_lines_arrive_intact():
    body = (b"Subject: dots\r\n\r\n.hidden\r\n..double\r\n.\r\n"
            b". space\r\nmiddle . dot\r\n\r\n.\r\n.end")
    p = os.path.join(TMP, "dots.eml")
    with open(p, "wb") as f:
        f.write(body)
    for extra in ([], ["--no-pipelining"]):
        with Sink(extra=extra) as s:
            res, summ, _ = send(s, 2, "--body-file", p)
            assert summ["sent"] == 2, res
            for m in s.messages():
                assert s.eml(m["n"]) == body + b"\r\n"
                assert m["bare_lf"] is False


def test_bare_lf_body_sent_as_crlf():
    body = b"Subject: lf\n\nline one\n.\nline three\r\n"
    p = os.path.join(TMP, "lf.eml")
    with open(p, "wb") as f:
        f.write(body)
    with Sink() as s:
        res, summ, _ = send(s, 1, "--body-file", p)
        assert summ["sent"] == 1, res
        m = s.messages()[0]
        assert m["bare_lf"] is False
        assert s.eml(m["n"]) == \
            b"Subject: lf\r\n\r\nline one\r\n.\r\nline three\r\n"


def test_8bitmime_only_for_8bit_bodies():
    p = os.path.join(TMP, "utf8.eml")
    with open(p, "wb") as f:
        f.write("Subject: x\r\n\r\nGrüße\r\n".encode())
    with Sink() as s:
        send(s, 1, "--body-file", p)
        send(s, 1, "--size", 500)
        ms = s.messages()
        assert "BODY=8BITMIME" in ms[0]["params"], ms[0]
        assert "BODY=" not in ms[1]["params"], ms[1]


# ---- STARTTLS ----

def test_no_starttls_nothing_sent():
    with Sink(extra=["--no-starttls"]) as s:
        res, summ, _ = send(s, 3)
        assert summ["tempfail"] == 3, res
        for j in res.values():
            assert j["text"] == "relay1: relay does not offer STARTTLS", j
        assert s.messages() == []
        assert not any("MAIL" in c for _, c, _ in reads(s))


def test_greeting_injection_not_read_after_tls():
    inj = "250-PIPELINING\\r\\n250 injected\\r\\n220 fake"
    for mode in ("starttls", "tls"):
        with Sink(mode=mode, extra=["--greeting-extra", inj]) as s:
            res, summ, err = send(s, 5, "--connections", 2, tls=mode)
            assert summ["sent"] == 5, (mode, res, err)
            assert len(s.messages()) == 5
            assert "discarded" in err, err


def test_implicit_tls():
    with Sink(mode="tls") as s:
        res, summ, _ = send(s, 4, tls="tls")
        assert summ["sent"] == 4, res
        ms = s.messages()
        assert len(ms) == 4 and all(m["tls"] for m in ms)
        # TLS comes first: no plaintext command on any connection.
        seen_tls = set(e["conn"] for e in s.events("tls"))
        for e in s.events():
            if e["ev"] == "read":
                assert e["conn"] in seen_tls, e


def test_starttls_messages_over_tls():
    with Sink() as s:
        send(s, 3)
        assert all(m["tls"] for m in s.messages())


# ---- AUTH ----

def cred(user, pw):
    p = os.path.join(TMP, "cred-%s-%s" % (user, pw))
    with open(p, "w") as f:
        f.write("%s\n%s\n" % (user, pw))
    return p


def test_auth_only_after_tls():
    with Sink(extra=["--auth", "alice:s3cret", "--require-auth"]) as s:
        res, summ, err = send(s, 3, "--credential", cred("alice", "s3cret"),
                              debug=True)
        assert summ["sent"] == 3, res
        assert s.events("auth_before_tls") == []
        auths = s.events("auth")
        assert auths and all(a["ok"] for a in auths), auths
        tls_at = {}
        for i, e in enumerate(s.events()):
            if e["ev"] == "tls":
                tls_at[e["conn"]] = i
            if e["ev"] == "auth":
                assert e["conn"] in tls_at, e
        assert all(m["auth"] == "alice" for m in s.messages())
        assert "s3cret" not in err


def test_auth_login():
    # A relay offering LOGIN only (implicit TLS: one EHLO per connection).
    script = "EHLO reply 250 localhost\\nPIPELINING\\nAUTH LOGIN\n"
    with Sink(mode="tls", script=script,
              extra=["--auth", "bob:pw0rd"]) as s:
        res, summ, _ = send(s, 2, "--credential", cred("bob", "pw0rd"),
                            tls="tls")
        assert summ["sent"] == 2, res
        assert all(a["mech"] == "LOGIN" and a["ok"]
                   for a in s.events("auth")), s.events("auth")


def test_auth_failure_tempfail():
    with Sink(extra=["--auth", "alice:s3cret", "--require-auth"]) as s:
        res, summ, err = send(s, 3, "--credential", cred("alice", "wrong"))
        assert summ["tempfail"] == 3, res
        for j in res.values():
            assert j["text"].startswith("relay1: authentication failed:"
                                        " 535"), j
        assert s.messages() == []
        assert "wrong" not in err


# ---- reply classes ----

def test_451_at_end_then_second_run_sends():
    with Sink(script="END times 1 reply 451 4.3.0 try again later\n") as s:
        res, summ, _ = send(s, 1)
        assert summ["tempfail"] == 1, res
        assert res[0]["text"] == \
            "relay1: end of data: 451 4.3.0 try again later", res
        res, summ, _ = send(s, 1)
        assert summ["sent"] == 1, res
        assert len(s.messages()) == 1


def test_550_permfail_redacted():
    script = ("END reply 554 5.7.1 <sender@example.org> message from"
              " user@example.org refused\n")
    with Sink(script=script) as s:
        res, summ, err = send(s, 2, debug=True)
        assert summ["permfail"] == 2, res
        t = res[0]["text"]
        assert t == ("relay1: end of data: 554 5.7.1 <redacted> message"
                     " from redacted refused"), t
    with Sink(script="MAIL reply 550 5.7.1 sender <a@b.example> denied\n") \
            as s:
        res, summ, _ = send(s, 2, "--connections", 1)
        assert summ["permfail"] == 2, res
        assert "MAIL FROM: 550 5.7.1 sender <redacted> denied" in \
            res[1]["text"], res
        assert s.messages() == []


def test_rcpt_550_511_bounced_then_rset():
    script = "RCPT match ^<bounce@ reply 550 5.1.1 <bounce@example.org>:" \
        " no such user\n"
    for extra in ([], ["--no-pipelining"]):
        with Sink(script=script, extra=extra) as s:
            res, summ, err = send(s, 6, "--connections", 1,
                                  "--rcpt", "bounce@example.org",
                                  "--rcpt", "ok@example.org", debug=True)
            assert summ["bounced"] == 3 and summ["sent"] == 3, res
            for c in (0, 2, 4):
                assert res[c]["result"] == "bounced", res[c]
                assert res[c]["text"] == ("relay1: RCPT TO: 550 5.1.1"
                                          " <redacted>: no such user")
            ms = s.messages()
            assert len(ms) == 3 and all(m["rcpt"] == ["ok@example.org"]
                                        for m in ms)
            assert len(s.events("rset")) >= 3


def test_rcpt_other_5xx_permfail_4xx_tempfail():
    script = ("RCPT match ^<perm@ reply 550 5.7.1 policy\n"
              "RCPT match ^<temp@ reply 450 4.2.1 busy\n")
    with Sink(script=script) as s:
        res, summ, _ = send(s, 3, "--connections", 1, "--rcpt",
                            "perm@example.org", "--rcpt", "temp@example.org",
                            "--rcpt", "ok@example.org")
        assert [res[i]["result"] for i in range(3)] == \
            ["permfail", "tempfail", "sent"], res


def test_body_drop_tempfail_no_loss():
    # Without pipelining exactly the message whose body was cut fails; the
    # rest go on a new connection.
    with Sink(script="BODY times 1 drop\n", extra=["--no-pipelining"]) as s:
        res, summ, _ = send(s, 3, "--connections", 1)
        assert summ["tempfail"] == 1 and summ["sent"] == 2, res
        assert res[0]["result"] == "tempfail"
        assert "connection closed by the relay" in res[0]["text"], res[0]
        assert len(s.messages()) == 2
    # With pipelining the next envelope may have gone out too: whatever
    # was sent is received, nothing else.
    with Sink(script="BODY times 1 drop\n") as s:
        res, summ, _ = send(s, 5, "--connections", 1)
        assert summ["tempfail"] >= 1 and \
            summ["tempfail"] + summ["sent"] == 5, res
        assert len(s.messages()) == summ["sent"]


def test_reply_timeout():
    with Sink(script="RCPT times 1 delay %d\n" % (3000 * SLOW)) as s:
        res, summ, _ = send(s, 1, "--timeout", 500 * SLOW)
        assert summ["tempfail"] == 1, res
        assert res[0]["text"] == \
            "relay1: timeout waiting for the reply to RCPT TO", res


def test_size_limit_permfail_without_sending():
    with Sink(extra=["--size", "5000"]) as s:
        res, summ, _ = send(s, 2, "--size", 8000)
        assert summ["permfail"] == 2, res
        assert "exceeds the relay's SIZE limit of 5000 bytes" in \
            res[0]["text"], res
        assert not any("MAIL" in c for _, c, _ in reads(s))
        res, summ, _ = send(s, 2, "--size", 3000)
        assert summ["sent"] == 2, res
        assert all(re.search(r"\bSIZE=\d+", m["params"])
                   for m in s.messages()), s.messages()


# ---- connections and TLS failures ----

def test_relay_by_address_and_by_name():
    """An address literal is used at once; a name is looked up with
    getaddrinfo_a while the loop goes on, then verified as the host."""
    with Sink() as s:
        res, summ, err = send(s, 2, host="127.0.0.1", debug=True)
        assert summ["sent"] == 2, res
        assert "looking up" not in err, err
        res, summ, err = send(s, 2, debug=True)
        assert summ["sent"] == 2, res
        assert "relay1: looking up localhost" in err, err
        assert len(s.messages()) == 4


def test_unresolvable_relay_tempfail():
    # Bounded even where the DNS server does not answer.
    env = dict(os.environ, RES_OPTIONS="timeout:1 attempts:1")
    res, summ, _ = send(1, 2, host="relay.example.invalid", env=env)
    assert summ["tempfail"] == 2, res
    for j in res.values():
        assert j["text"].startswith("relay1: cannot resolve"
                                    " relay.example.invalid: "), j


def test_connection_refused():
    so = socket.socket()
    so.bind(("127.0.0.1", 0))
    port = so.getsockname()[1]
    so.close()
    res, summ, _ = send(port, 3)
    assert summ["tempfail"] == 3, res
    assert "relay1: cannot connect to localhost port %d" % port in \
        res[0]["text"], res


def test_certificate_failures():
    cases = [("wronghost", ["host name mismatch"]),
             ("unknown", ["unknown certificate authority",
                          "self-signed certificate"]),
             ("expired", ["certificate has expired"])]
    for cert, why in cases:
        for mode in ("starttls", "tls"):
            with Sink(mode=mode, cert=cert) as s:
                res, summ, _ = send(s, 3, tls=mode)
                assert summ["tempfail"] == 3, (cert, res)
                for j in res.values():
                    assert j["text"].startswith("relay1 (localhost): TLS: "), j
                    assert any(w in j["text"] for w in why), (cert, j)
                assert s.messages() == []
                assert s.events("message") == []
                assert not any("MAIL" in c for _, c, _ in reads(s))


def test_pool_and_per_connection_limit():
    with Sink() as s:
        res, summ, _ = send(s, 200, "--connections", 3,
                            "--per-connection", 20, "--size", 1500)
        assert summ["sent"] == 200, summ
        ms = s.messages()
        assert len(ms) == 200
        per = {}
        for m in ms:
            per[m["conn"]] = per.get(m["conn"], 0) + 1
        assert max(per.values()) <= 20, per
        assert len(per) >= 10, per
        # Open at once (connected, not yet QUIT): never more than 3.
        open_, peak = set(), 0
        for e in s.events():
            if e["ev"] == "connect":
                open_.add(e["conn"])
            elif e["ev"] in ("quit", "close"):
                open_.discard(e["conn"])
            peak = max(peak, len(open_))
        assert peak <= 3, peak


def test_rate_limit():
    with Sink() as s:
        res, summ, _ = send(s, 60, "--rate", 40, "--connections", 4)
        assert summ["sent"] == 60, summ
        # 60 messages at 40/s with a burst of 4: about 1.4 s.
        assert summ["secs"] >= 1.2, summ
        assert summ["secs"] <= 4.0 * SLOW, summ


def test_large_messages():
    # Bodies far beyond a socket buffer: partial and repeated TLS writes.
    with Sink() as s:
        res, summ, _ = send(s, 3, "--connections", 2, "--size", 6000000)
        assert summ["sent"] == 3, res
        ms = s.messages()
        assert len(ms) == 3
        assert all(abs(m["size"] - 6000000) <= 2 for m in ms), ms


def test_greeting_refused():
    with Sink(script="CONNECT reply 554 5.3.2 no service for"
              " <x@example.org>\n") as s:
        res, summ, _ = send(s, 2)
        assert summ["tempfail"] == 2, res
        assert res[0]["text"] == ("relay1: relay refused the session:"
                                  " 554 5.3.2 no service for <redacted>"), res
        assert s.messages() == []


def test_421_mid_session():
    # The relay answers MAIL with 421 and closes: that message is
    # TEMPFAIL with the reply, the others go on a new connection.
    with Sink(script="MAIL times 1 reply 421 4.7.0 shutting down\n") as s:
        res, summ, _ = send(s, 4, "--connections", 1)
        assert res[0]["result"] == "tempfail", res
        assert res[0]["text"] == \
            "relay1: MAIL FROM: 421 4.7.0 shutting down", res
        assert summ["sent"] == 3, res
        assert len(s.messages()) == 3


def test_many_mixed():
    script = ("RCPT match ^<bounce reply 550 5.1.1 unknown\n"
              "RCPT match ^<temp reply 451 4.3.0 later\n")
    with Sink(script=script) as s:
        res, summ, _ = send(s, 3000, "--connections", 4,
                            "--per-connection", 250, "--rcpt",
                            "a@example.org", "--rcpt", "bounce@example.org",
                            "--rcpt", "temp@example.org", "--size", 2000)
        assert summ["sent"] == 1000 and summ["bounced"] == 1000 and \
            summ["tempfail"] == 1000, summ
        for c, j in res.items():
            assert j["result"] == ["sent", "bounced", "tempfail"][c % 3], j
        assert len(s.messages()) == 1000


def test_quit_on_close():
    with Sink() as s:
        send(s, 8, "--connections", 2)
        conns = set(e["conn"] for e in s.events("connect"))
        quits = set(e["conn"] for e in s.events("quit"))
        assert conns == quits, (conns, quits)


if __name__ == "__main__":
    try:
        run_tests(collect(globals()))
    finally:
        subprocess.run(["rm", "-rf", TMP])
