"""test_smtpsink.py - the SMTP test tools themselves: tests/tools/mkca makes
a throwaway PKI, $BUILD/tools/smtpsink is driven by Python's smtplib and ssl
(an independent client) and by raw sockets where exact bytes matter, and
$BUILD/bench/smtpload (when built) runs a short load.  Prints "ok - name" /
"FAIL - name" / "skip - name" per test and "N passed, N failed, N skipped";
exits non-zero on a failure.  Runs under /usr/bin/python3.
"""
import json
import os
import shutil
import signal
import smtplib
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
SMTPSINK = os.path.join(BUILD, "tools", "smtpsink")
SMTPLOAD = os.path.join(BUILD, "bench", "smtpload")
MKCA = os.path.join(ROOT, "tests", "tools", "mkca")
ASAN = os.environ.get("OUTREACH_ASAN") == "1"
SLOW = 4 if ASAN else 1

TMP = tempfile.mkdtemp(prefix="outreach-smtpsink.")
PKI = os.path.join(TMP, "pki")


class Skip(Exception):
    pass


def pki(name):
    return os.path.join(PKI, name)


def client_ctx(cafile=None):
    return ssl.create_default_context(cafile=cafile or pki("ca.pem"))


class Sink:
    """One smtpsink process in its own directory; stop() checks its exit."""

    def __init__(self, *args, mode="starttls", cert="server", script=None,
                 out=True, log=True, listen="127.0.0.1:0"):
        self.dir = tempfile.mkdtemp(dir=TMP, prefix="sink.")
        self.out = os.path.join(self.dir, "out")
        self.log = os.path.join(self.dir, "log.jsonl")
        self.script = os.path.join(self.dir, "script")
        cmd = [SMTPSINK, "--listen", listen, "--mode", mode,
               "--port-file", os.path.join(self.dir, "port")]
        if mode != "plain":
            cmd += ["--cert", pki(cert + ".pem"), "--key", pki(cert + ".key")]
        if out:
            cmd += ["--out", self.out]
        if log:
            cmd += ["--log", self.log]
        if script is not None:
            self.write_script(script)
            cmd += ["--script", self.script]
        cmd += list(args)
        self.errf = open(os.path.join(self.dir, "stderr"), "w+")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=self.errf, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("ready "):
            self.proc.wait(5)
            raise AssertionError("smtpsink did not start: %r %s" %
                                 (line, self.stderr()))
        self.port = int(line.split()[1])
        with open(os.path.join(self.dir, "port")) as f:
            assert int(f.read()) == self.port

    def write_script(self, text):
        tmp = self.script + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.script)

    def stderr(self):
        self.errf.seek(0)
        return self.errf.read()

    def events(self, ev=None):
        out = []
        if os.path.exists(self.log):
            with open(self.log) as f:
                for line in f:
                    e = json.loads(line)
                    if ev is None or e["ev"] == ev:
                        out.append(e)
        return out

    def wait_event(self, ev, n=1, timeout=5):
        end = time.time() + timeout * SLOW
        while time.time() < end:
            got = self.events(ev)
            if len(got) >= n:
                return got
            time.sleep(0.02)
        raise AssertionError("no %d %r events: %s" % (n, ev, self.events()))

    def messages(self):
        path = os.path.join(self.out, "messages.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f]

    def eml(self, n):
        with open(os.path.join(self.out, "%08d.eml" % n), "rb") as f:
            return f.read()

    def stop(self):
        """SIGTERM; returns the stderr text after checking the exit."""
        if self.errf.closed:
            return self.err
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(20 * SLOW)
        err = self.stderr()
        self.proc.stdout.close()
        self.errf.close()
        self.err = err
        assert "Sanitizer" not in err and "runtime error" not in err, err
        assert rc == 0, "smtpsink exited %d: %s" % (rc, err)
        return err

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is None:
            self.stop()
        elif self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Raw:
    """A line-level client for exact bytes: plain, then TLS if asked."""

    def __init__(self, port, host="127.0.0.1", implicit=False):
        self.sock = socket.create_connection((host, port), timeout=10 * SLOW)
        if implicit:
            self.sock = client_ctx().wrap_socket(self.sock,
                                                 server_hostname="localhost")
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def reply(self):
        """One reply: (code, [texts])."""
        texts = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError("connection closed; have %r" % self.buf)
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            texts.append(line[4:].decode())
            if line[3:4] != b"-":
                return int(line[:3]), texts

    def expect(self, code):
        got, texts = self.reply()
        assert got == code, "expected %d, got %d %s" % (code, got, texts)
        return texts

    def starttls(self):
        self.send(b"EHLO raw.test\r\n")
        assert "STARTTLS" in self.expect(250)
        self.send(b"STARTTLS\r\n")
        self.expect(220)
        assert self.buf == b""
        self.sock = client_ctx().wrap_socket(self.sock,
                                             server_hostname="localhost")
        self.send(b"EHLO raw.test\r\n")
        return self.expect(250)

    def closed(self):
        try:
            return self.sock.recv(1) == b""
        except (ConnectionError, ssl.SSLError):
            return True

    def close(self):
        self.sock.close()


MSG = (b"From: a@example.org\r\nTo: b@example.net\r\nSubject: dots\r\n\r\n"
       b".starts with a dot\r\n..two dots\r\n.\r\nlast line\r\n")


def send_smtplib(port, msg=MSG, rcpts=("b@example.net",), tls=True,
                 login=None):
    with smtplib.SMTP("localhost", port, timeout=10 * SLOW) as s:
        if tls:
            s.starttls(context=client_ctx())
        if login:
            s.login(*login)
        return s.sendmail("a@example.org", list(rcpts), msg)


# ---- mkca ----

def test_mkca_outputs():
    for name in ("ca", "server", "expired", "wronghost", "client",
                 "unknown-ca", "unknown"):
        for ext in (".pem", ".key"):
            assert os.path.getsize(pki(name + ext)) > 0, name + ext
        assert os.stat(pki(name + ".key")).st_mode & 0o077 == 0
    # Idempotent and quiet: a second run changes nothing.
    before = os.stat(pki("ca.pem")).st_mtime_ns
    r = subprocess.run([MKCA, PKI], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r
    assert os.stat(pki("ca.pem")).st_mtime_ns == before

    def verify(leaf, ca="ca.pem", extra=()):
        return subprocess.run(["openssl", "verify", "-CAfile", pki(ca)] +
                              list(extra) + [pki(leaf)],
                              capture_output=True, text=True)
    assert verify("server.pem", extra=["-verify_hostname", "localhost",
                                       "-verify_ip", "127.0.0.1"]).returncode == 0
    assert verify("server.pem", extra=["-verify_ip", "::1"]).returncode == 0
    assert verify("client.pem", extra=["-purpose", "sslclient"]).returncode == 0
    assert "expired" in verify("expired.pem").stdout + verify("expired.pem").stderr
    r = verify("wronghost.pem", extra=["-verify_hostname", "localhost"])
    assert r.returncode != 0
    assert verify("unknown.pem").returncode != 0
    assert verify("unknown.pem", ca="unknown-ca.pem").returncode == 0


def test_mkca_fails_loudly():
    blocker = os.path.join(TMP, "afile")
    open(blocker, "w").close()
    r = subprocess.run([MKCA, os.path.join(blocker, "sub")],
                       capture_output=True, text=True)
    assert r.returncode != 0 and r.stderr != ""
    r = subprocess.run([MKCA], capture_output=True, text=True)
    assert r.returncode == 2 and "usage" in r.stderr


def test_client_rejects_bad_certificates():
    # unknown.pem carries its own CA: "self-signed certificate in
    # certificate chain".
    for cert, why in (("expired", "expired"), ("wronghost", "mismatch"),
                      ("unknown", "self-signed certificate in certificate chain")):
        with Sink(cert=cert) as sink:
            try:
                send_smtplib(sink.port)
            except ssl.SSLCertVerificationError as e:
                assert why in str(e), (cert, str(e))
            else:
                raise AssertionError("%s certificate accepted" % cert)
            sink.wait_event("tls_error")
            assert not sink.messages()


# ---- smtpsink ----

def test_starttls_session_and_dots():
    with Sink() as sink:
        refused = send_smtplib(sink.port, rcpts=("b@example.net", "c@example.net"))
        assert refused == {}
        msgs = sink.messages()
        assert len(msgs) == 1
        m = msgs[0]
        assert m["n"] == 1 and m["from"] == "a@example.org"
        assert m["rcpt"] == ["b@example.net", "c@example.net"]
        assert m["tls"] is True and m["auth"] is None and m["conn"] == 1
        assert m["size"] == len(MSG) and m["bare_lf"] is False
        assert sink.eml(1) == MSG
        assert not [f for f in os.listdir(sink.out) if f.startswith(".")]
        tls = sink.events("tls")
        assert len(tls) == 1 and tls[0]["version"] in ("TLSv1.3", "TLSv1.2")
        sink.wait_event("close")
        evs = [e["ev"] for e in sink.events()]
        assert evs[0] == "connect" and "quit" in evs and evs[-1] == "close"
        err = sink.stop()
        assert "messages 1" in err


def test_implicit_tls_and_ipv6():
    with Sink(mode="tls") as sink:
        with smtplib.SMTP_SSL("localhost", sink.port, timeout=10 * SLOW,
                              context=client_ctx()) as s:
            code, text = s.ehlo()
            assert code == 250 and b"STARTTLS" not in text
            s.sendmail("a@example.org", ["b@example.net"], MSG)
        assert sink.messages()[0]["tls"] is True
        assert sink.eml(1) == MSG
    if not socket.has_ipv6:
        return
    try:
        with Sink("--no-starttls", mode="plain", listen="[::1]:0") as sink:
            r = Raw(sink.port, host="::1")
            r.expect(220)
            r.send(b"QUIT\r\n")
            r.expect(221)
    except AssertionError as e:
        if "Cannot assign" in str(e) or "Address family" in str(e):
            return
        raise


def test_raw_exact_bytes_and_bare_lf():
    with Sink(mode="plain") as sink:
        r = Raw(sink.port)
        r.expect(220)
        r.send(b"EHLO raw\r\n")
        texts = r.expect(250)
        assert "8BITMIME" in texts and "ENHANCEDSTATUSCODES" in texts
        assert "PIPELINING" in texts and "STARTTLS" not in texts
        # A bare LF does not make the dot a line of its own.
        body = b"x\n.\r\nmore\r\n..\r\n.\r\n"
        r.send(b"MAIL FROM:<> SIZE=20 BODY=8BITMIME\r\nRCPT TO:<b@x>\r\nDATA\r\n")
        r.expect(250), r.expect(250), r.expect(354)
        r.send(body)
        assert r.expect(250)[0].startswith("2.0.0")
        assert sink.eml(1) == b"x\n.\r\nmore\r\n.\r\n"
        m = sink.messages()[0]
        assert m["bare_lf"] is True and m["from"] == "" and m["tls"] is False
        assert m["params"] == "SIZE=20 BODY=8BITMIME"
        # The end of data split across writes, a byte at a time.
        r.send(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n")
        r.expect(250), r.expect(250), r.expect(354)
        for ch in b"a\r\n..b\r\n.\r\n":
            r.send(bytes([ch]))
            time.sleep(0.005)
        r.expect(250)
        assert sink.eml(2) == b"a\r\n.b\r\n"
        r.close()


def test_sequence_and_syntax_errors():
    with Sink(mode="plain") as sink:
        r = Raw(sink.port)
        r.expect(220)
        for cmd, code in ((b"MAIL FROM:<a@x>", 503), (b"EHLO", 501),
                          (b"HELO h", 250), (b"RCPT TO:<b@x>", 503),
                          (b"DATA", 503), (b"MAIL FROM:a@x", 501),
                          (b"MAIL FROM:<a@x> FOO=1", 555),
                          (b"MAIL FROM:<a@x>", 250),
                          (b"MAIL FROM:<a@x>", 503), (b"DATA", 554),
                          (b"RSET", 250), (b"NOOP", 250), (b"BOGUS", 500),
                          (b"X" * 1200, 500), (b"NOOP", 250),
                          (b"STARTTLS", 502), (b"AUTH PLAIN", 530),
                          (b"QUIT", 221)):
            r.send(cmd + b"\r\n")
            r.expect(code)
        assert r.closed()
        r.close()
        sink.wait_event("close")
        assert sink.events("rset") and sink.events("quit")
        assert sink.events("auth_before_tls")


def test_long_data_line_rejected():
    with Sink(mode="plain") as sink:
        r = Raw(sink.port)
        r.expect(220)
        r.send(b"EHLO h\r\n")
        r.expect(250)
        r.send(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n")
        r.expect(250), r.expect(250), r.expect(354)
        r.send(b"a" * 998 + b"\r\n" + b"b" * 999 + b"\r\n.\r\n")
        r.expect(500)
        r.send(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n")
        r.expect(250), r.expect(250), r.expect(354)
        r.send(b"a" * 998 + b"\r\n.\r\n")
        r.expect(250)
        assert [m["n"] for m in sink.messages()] == [1]


def test_size_limit():
    with Sink("--size", "100") as sink:
        with smtplib.SMTP("localhost", sink.port, timeout=10 * SLOW) as s:
            s.starttls(context=client_ctx())
            s.ehlo()
            assert s.esmtp_features.get("size") == "100"
            code, _ = s.mail("a@example.org", ["SIZE=101"])
            assert code == 552
            s.rset()
            try:
                s.sendmail("a@example.org", ["b@example.net"], b"x" * 200)
            except smtplib.SMTPSenderRefused as e:
                assert e.smtp_code == 552     # smtplib sends SIZE=
            s.docmd("RSET")
            s.esmtp_features.pop("size")  # now without SIZE=
            try:
                s.sendmail("a@example.org", ["b@example.net"], b"x" * 200)
            except smtplib.SMTPDataError as e:
                assert e.smtp_code == 552
            else:
                raise AssertionError("oversized message accepted")
            s.sendmail("a@example.org", ["b@example.net"], b"x" * 50)
        assert [m["size"] for m in sink.messages()] == [52]


def test_script_rules():
    script = """# comments and blank lines are fine

RCPT match ^<bounce@ reply 550 5.1.1 <bounce@example.org>: no such user
END times 1 reply 451 4.3.0 try again later
BODY times 1 drop
"""
    with Sink(script=script) as sink:
        try:
            send_smtplib(sink.port, rcpts=["bounce@example.org"])
        except smtplib.SMTPRecipientsRefused as e:
            code, text = e.recipients["bounce@example.org"]
            assert code == 550 and text.startswith(b"5.1.1 <bounce@")
        else:
            raise AssertionError("bounce accepted")
        # The first message with data meets BODY (mid-data) before END.
        both = ["bounce@example.org", "ok@example.org"]
        try:
            send_smtplib(sink.port, rcpts=both)
        except smtplib.SMTPServerDisconnected:
            pass
        else:
            raise AssertionError("BODY drop did not close")
        try:
            send_smtplib(sink.port, rcpts=both)
        except smtplib.SMTPDataError as e:
            assert e.smtp_code == 451
        else:
            raise AssertionError("END 451 not seen")
        refused = send_smtplib(sink.port, rcpts=both)
        assert list(refused) == ["bounce@example.org"]
        msgs = sink.messages()
        assert len(msgs) == 1 and msgs[0]["rcpt"] == ["ok@example.org"]
        assert msgs[0]["n"] == 1 and msgs[0]["conn"] == 4
        assert sorted(os.listdir(sink.out)) == ["00000001.eml",
                                                "messages.jsonl"]
        codes = [(e["cmd"], e["code"]) for e in sink.events("reply")]
        assert codes == [("RCPT", 550), ("RCPT", 550), ("RCPT", 550),
                         ("END", 451), ("RCPT", 550)], codes


def test_script_drop_then_451_then_ok():
    script = ("END times 1 reply 451 4.3.0 try again later\n"
              "BODY times 1 drop\n")
    with Sink(script=script) as sink:
        try:
            send_smtplib(sink.port)
        except smtplib.SMTPServerDisconnected:
            pass
        else:
            raise AssertionError("BODY drop did not close")
        try:
            send_smtplib(sink.port)
        except smtplib.SMTPDataError as e:
            assert e.smtp_code == 451 and e.smtp_error.startswith(b"4.3.0")
        else:
            raise AssertionError("451 not seen")
        assert send_smtplib(sink.port) == {}
        msgs = sink.messages()
        assert [m["n"] for m in msgs] == [1] and msgs[0]["conn"] == 3
        replies = [(e["cmd"], e["code"]) for e in sink.events("reply")]
        assert replies == [("END", 451)], replies
        assert [e["stage"] for e in sink.events("drop")] == ["BODY"]


def test_script_mail_data_connect_ehlo_and_reload():
    with Sink(script="CONNECT times 1 reply 421 4.3.2 busy\n") as sink:
        try:
            send_smtplib(sink.port)
        except (smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected) as e:
            assert "421" in str(e) or "busy" in str(e), e
        else:
            raise AssertionError("421 greeting not seen")
        assert send_smtplib(sink.port) == {}
        # The script is re-read when it changes.
        sink.write_script("MAIL match ^<a@ times 1 reply 553 5.1.8 bad sender\n"
                          "DATA times 1 reply 554 5.6.0 no data today\n"
                          "EHLO match ^evil reply 550 5.7.1 go away\n")
        try:
            send_smtplib(sink.port)
        except smtplib.SMTPSenderRefused as e:
            assert e.smtp_code == 553
        try:
            send_smtplib(sink.port)
        except smtplib.SMTPDataError as e:
            assert e.smtp_code == 554
        else:
            raise AssertionError("DATA 554 not seen")
        assert send_smtplib(sink.port) == {}
        r = Raw(sink.port)
        r.expect(220)
        r.send(b"EHLO evil.example\r\n")
        r.expect(550)
        r.send(b"QUIT\r\n")
        r.expect(221)
        # SIGHUP also re-reads (and restarts the counts).
        sink.write_script("RCPT reply 421 4.4.5 shutting down\n")
        sink.proc.send_signal(signal.SIGHUP)
        time.sleep(0.2)
        r = Raw(sink.port)
        r.expect(220)
        r.send(b"EHLO h\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\n")
        r.expect(250), r.expect(250), r.expect(421)
        assert r.closed()
        assert len(sink.messages()) == 2


def test_script_delay_and_multiline():
    script = ("RCPT times 1 delay 300\n"
              "END times 1 delay 200 reply 250 2.0.0 slow\\nbut fine\n")
    with Sink(script=script, mode="plain") as sink:
        r = Raw(sink.port)
        r.expect(220)
        t0 = time.time()
        r.send(b"EHLO h\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n")
        r.expect(250), r.expect(250)
        t1 = time.time()
        r.expect(250)
        assert time.time() - t0 >= 0.29, time.time() - t0
        r.expect(354)
        r.send(b"hi\r\n.\r\n")
        t2 = time.time()
        code, texts = r.reply()
        assert code == 250 and texts == ["2.0.0 slow", "but fine"], texts
        assert time.time() - t2 >= 0.19
        assert t1 - t0 < 0.25
        assert sink.eml(1) == b"hi\r\n"
        assert [e["stage"] for e in sink.events("delay")] == ["RCPT", "END"]


def test_client_reset_during_delay():
    # A reset while a delay holds the reply ends the connection at once
    # (and does not make the loop spin until the delay is over).
    with Sink(script="RCPT delay 5000\n", mode="plain") as sink:
        s = socket.create_connection(("127.0.0.1", sink.port))
        s.recv(100)
        s.sendall(b"EHLO a\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n")
        sink.wait_event("delay")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     struct.pack("ii", 1, 0))
        s.close()
        t0 = time.time()
        sink.wait_event("close", timeout=2)
        assert time.time() - t0 < 2 * SLOW
        with open("/proc/%d/stat" % sink.proc.pid) as f:
            before = sum(int(x) for x in f.read().rsplit(")", 1)[1].split()[11:13])
        time.sleep(0.5)
        with open("/proc/%d/stat" % sink.proc.pid) as f:
            after = sum(int(x) for x in f.read().rsplit(")", 1)[1].split()[11:13])
        assert after - before < 10, "smtpsink busy while idle"


def test_bad_script_refused():
    d = tempfile.mkdtemp(dir=TMP)
    path = os.path.join(d, "s")
    for text, why in (("RCPT frobnicate\n", "unknown word"),
                      ("BOGUS reply 250 x\n", "unknown stage"),
                      ("RCPT match ( reply 550 x\n", "bad REGEX"),
                      ("BODY reply 550 x\n", "BODY takes"),
                      ("RCPT reply 99 x\n", "CODE"),
                      ("RCPT times 0 drop\n", "times")):
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([SMTPSINK, "--mode", "plain", "--script", path],
                           capture_output=True, text=True, timeout=10 * SLOW)
        assert r.returncode == 2 and why in r.stderr and ":1:" in r.stderr, \
            (text, r.stderr)


def test_no_starttls():
    with Sink("--no-starttls") as sink:
        with smtplib.SMTP("localhost", sink.port, timeout=10 * SLOW) as s:
            s.ehlo()
            assert not s.has_extn("starttls")
            code, _ = s.docmd("STARTTLS")
            assert code == 502


def test_greeting_extra():
    extra = "250-PIPELINING\\r\\n250 AUTH PLAIN"
    with Sink("--greeting-extra", extra) as sink:
        s = socket.create_connection(("127.0.0.1", sink.port), timeout=5)
        data = b""
        end = time.time() + 5
        while data.count(b"\r\n") < 3 and time.time() < end:
            data += s.recv(4096)
        assert data == (b"220 localhost ESMTP smtpsink\r\n250-PIPELINING\r\n"
                        b"250 AUTH PLAIN\r\n"), data
        s.close()
    # Real line ends in the argument work too.
    with Sink("--greeting-extra", "250 X\r\n250 Y", mode="plain") as sink:
        r = Raw(sink.port)
        assert r.reply() == (220, ["localhost ESMTP smtpsink"])
        assert r.reply() == (250, ["X"]) and r.reply() == (250, ["Y"])


def test_pipelined_reads_logged():
    with Sink() as sink:
        r = Raw(sink.port)
        r.expect(220)
        r.starttls()
        body = b"Subject: p\r\n\r\n.hello\r\n.\r\n"
        env = b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\nDATA\r\n"
        r.send(env)
        for code in (250, 250, 250, 354):
            r.expect(code)
        r.send(body + env)
        for code in (250, 250, 250, 250, 354):
            r.expect(code)
        r.send(body + b"QUIT\r\n")
        r.expect(250), r.expect(221)
        reads = [e for e in sink.events("read")]
        cmds = [e["cmds"] for e in reads]
        assert ["MAIL", "RCPT", "RCPT", "DATA"] in cmds, cmds
        batch = [e for e in reads if e.get("data_end") == 1 and
                 e["cmds"] == ["MAIL", "RCPT", "RCPT", "DATA"]]
        assert len(batch) == 1, reads
        assert [e for e in reads if e["cmds"] == ["QUIT"] and
                e.get("data_end") == 1]
        assert sink.eml(1) == sink.eml(2) == b"Subject: p\r\n\r\nhello\r\n"


def test_starttls_discards_pipelined_plaintext():
    with Sink() as sink:
        r = Raw(sink.port)
        r.expect(220)
        r.send(b"EHLO h\r\n")
        r.expect(250)
        r.send(b"STARTTLS\r\nMAIL FROM:<inject@x>\r\n")
        r.expect(220)
        r.sock = client_ctx().wrap_socket(r.sock, server_hostname="localhost")
        r.send(b"MAIL FROM:<a@x>\r\n")
        r.expect(503)   # EHLO again first: the state was reset
        r.send(b"EHLO h\r\n")
        r.expect(250)
        ev = sink.wait_event("starttls_discard")
        assert ev[0]["bytes"] == len(b"MAIL FROM:<inject@x>\r\n")
        r.close()


def test_auth():
    with Sink("--auth", "user:secret", "--require-auth") as sink:
        with smtplib.SMTP("localhost", sink.port, timeout=10 * SLOW) as s:
            s.ehlo()
            assert not s.has_extn("auth")
            code, _ = s.docmd("AUTH", "PLAIN AHVzZXIAc2VjcmV0")
            assert code == 530
            code, _ = s.mail("a@x")
            assert code == 530
            s.starttls(context=client_ctx())
            s.ehlo()
            assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
            try:
                s.login("user", "wrong")
            except smtplib.SMTPAuthenticationError as e:
                assert e.smtp_code == 535
            s.login("user", "secret")
            s.sendmail("a@x", ["b@x"], b"authed\r\n")
        # AUTH LOGIN, step by step.
        with smtplib.SMTP("localhost", sink.port, timeout=10 * SLOW) as s:
            s.starttls(context=client_ctx())
            s.ehlo()
            s.user, s.password = "user", "secret"
            code, _ = s.auth("LOGIN", s.auth_login)
            assert code == 235
            s.sendmail("a@x", ["b@x"], b"login\r\n")
        msgs = sink.messages()
        assert [m["auth"] for m in msgs] == ["user", "user"]
        assert len(sink.events("auth_before_tls")) == 1
        oks = [(e["ok"], e["mech"]) for e in sink.events("auth")]
        assert (True, "PLAIN") in oks and (True, "LOGIN") in oks
        assert (False, "PLAIN") in oks or (False, "LOGIN") in oks


def test_no_pipelining_advertised():
    with Sink("--no-pipelining", mode="plain") as sink:
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=10 * SLOW) as s:
            s.ehlo()
            assert not s.has_extn("pipelining")
            assert s.has_extn("enhancedstatuscodes")


def test_client_certificate():
    with Sink("--client-ca", pki("ca.pem")) as sink:
        ctx = client_ctx()
        ctx.load_cert_chain(pki("client.pem"), pki("client.key"))
        with smtplib.SMTP("localhost", sink.port, timeout=10 * SLOW) as s:
            s.starttls(context=ctx)
            s.sendmail("a@x", ["b@x"], b"cert\r\n")
        assert sink.events("tls")[0]["client_cert"] == "outreachd test client"
        try:
            send_smtplib(sink.port)
        except (ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionError):
            pass
        else:
            raise AssertionError("no client certificate, yet accepted")
        assert len(sink.messages()) == 1


def test_many_connections_and_vanishing_clients():
    with Sink("--discard", mode="plain", out=False, log=False) as sink:
        socks = []
        for i in range(300):
            s = socket.create_connection(("127.0.0.1", sink.port))
            socks.append(s)
        for i, s in enumerate(socks):
            # Vanish at different points, some mid-DATA.
            if i % 3 == 0:
                s.sendall(b"EHLO h\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\n"
                          b"DATA\r\npartial body")
            elif i % 3 == 1:
                s.sendall(b"EHLO h\r\nMAI")
            s.close()
        assert send_smtplib(sink.port, tls=False) == {}
        sink.proc.send_signal(signal.SIGUSR1)
        time.sleep(0.3)
        assert "messages 1 connections 301" in sink.stderr()


def test_sigterm_exits_zero():
    sink = Sink(mode="plain")
    send_smtplib(sink.port, tls=False)
    send_smtplib(sink.port, tls=False)
    # A connection still open at the end is fine.
    s = socket.create_connection(("127.0.0.1", sink.port))
    s.recv(100)
    sink.proc.send_signal(signal.SIGINT)
    err = sink.stop()
    assert err.strip().splitlines()[-1] == "messages 2", err
    s.close()


def test_smtpload_against_sink():
    if not os.path.exists(SMTPLOAD):
        raise Skip("%s not built" % SMTPLOAD)
    with Sink("--discard", out=False, log=False) as sink:
        for host in ("localhost", "127.0.0.1"):
            r = subprocess.run([SMTPLOAD, "--connect", "%s:%d" % (host, sink.port),
                                "--ca", pki("ca.pem"), "--connections", "3",
                                "--messages", "200", "--size", "2000"],
                               capture_output=True, text=True, timeout=60 * SLOW)
            assert r.returncode == 0, r.stderr
            assert r.stdout.startswith("smtpload: 200 messages in "), r.stdout
            assert r.stdout.rstrip().endswith(" msgs/s")
        # Verification is real: the wrong CA fails.
        r = subprocess.run([SMTPLOAD, "--connect", "localhost:%d" % sink.port,
                            "--ca", pki("unknown-ca.pem"), "--connections", "1",
                            "--messages", "1"],
                           capture_output=True, text=True, timeout=60 * SLOW)
        assert r.returncode == 1 and "TLS" in r.stderr, r.stderr
        sink.proc.send_signal(signal.SIGUSR1)
        time.sleep(0.3)
        assert "messages 400" in sink.stderr()
    with Sink("--discard", "--no-pipelining", mode="tls", out=False,
              log=False) as sink:
        r = subprocess.run([SMTPLOAD, "--connect", "127.0.0.1:%d" % sink.port,
                            "--ca", pki("ca.pem"), "--tls", "--connections", "2",
                            "--messages", "20"],
                           capture_output=True, text=True, timeout=60 * SLOW)
        assert r.returncode == 0, r.stderr


def main():
    if not os.access(SMTPSINK, os.X_OK):
        print("skip - smtpsink: %s not built" % SMTPSINK)
        print("0 passed, 0 failed, 1 skipped")
        return 77
    r = subprocess.run([MKCA, PKI], capture_output=True, text=True)
    if r.returncode != 0:
        print("FAIL - mkca: %s" % r.stderr)
        print("0 passed, 1 failed")
        return 1
    tests = [(n, f) for n, f in globals().items()
             if n.startswith("test_") and callable(f)]
    only = os.environ.get("ONLY")
    passed = failed = skipped = 0
    for name, fn in tests:
        if only and only not in name:
            continue
        t0 = time.time()
        try:
            fn()
            passed += 1
            print("ok - %s (%.1fs)" % (name, time.time() - t0), flush=True)
        except Skip as e:
            skipped += 1
            print("skip - %s: %s" % (name, e), flush=True)
        except Exception:
            failed += 1
            print("FAIL - %s" % name, flush=True)
            traceback.print_exc()
            sys.stdout.flush()
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    if failed == 0 and os.environ.get("KEEP_TMP") != "1":
        shutil.rmtree(TMP, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
