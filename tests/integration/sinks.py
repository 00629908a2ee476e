"""sinks.py - the project's TLS sinks and throwaway CA for integration
tests, the demo and the benchmark.

make_ca(dir) runs tests/tools/mkca; SmtpSink and HttpSink start
$BUILD/tools/smtpsink and $BUILD/tools/httpsink on 127.0.0.1 with an
ephemeral port, wait for their "ready PORT" line and stop them (SIGTERM,
exit 0 expected).  Messages and requests are read back from their --out
files.  Runs under /usr/bin/python3.
"""
import base64
import email
import email.policy
import hashlib
import hmac
import json
import os
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
TOOLS = os.path.join(BUILD, "tools")
MKCA = os.path.join(ROOT, "tests", "tools", "mkca")


def make_ca(d):
    """A throwaway PKI in d (ca.pem, server.pem/key for localhost, 127.0.0.1
    and ::1, expired, wronghost, unknown, client)."""
    subprocess.run([MKCA, d], check=True)
    return d


class _Sink:
    binary = None

    def __init__(self, args, workdir, name):
        self.dir = workdir
        self.stderr_path = os.path.join(workdir, name + ".stderr")
        self.errf = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen([os.path.join(TOOLS, self.binary),
                                      "--listen", "127.0.0.1:0"] + args,
                                     stdout=subprocess.PIPE,
                                     stderr=self.errf)
        line = self.proc.stdout.readline().decode().split()
        if len(line) != 2 or line[0] != "ready":
            self.proc.kill()
            raise AssertionError("%s did not start: %r\n%s" %
                                 (self.binary, line, self.stderr()))
        self.port = int(line[1])

    def stderr(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def received(self):
        """What the sink has taken so far, asked with SIGUSR1 (costs the
        daemon nothing): its "messages N" / "requests N" count."""
        import re
        import signal
        before = len(self.stderr())
        self.proc.send_signal(signal.SIGUSR1)
        for _ in range(200):
            text = self.stderr()[before:]
            m = re.search(r"(?:messages|requests) (\d+)", text)
            if m and text.endswith("\n"):
                return int(m.group(1))
            time.sleep(0.002)
        raise AssertionError("%s did not answer SIGUSR1" % self.binary)

    def stop(self):
        if self.proc is None:
            return 0
        self.proc.terminate()
        try:
            rc = self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = -9
        self.proc.stdout.close()
        self.errf.close()
        self.proc = None
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                       "runtime error:"):
            if marker in self.stderr():
                raise AssertionError("sanitizer report in %s:\n%s" %
                                     (self.binary, self.stderr()[-4000:]))
        return rc


class SmtpSink(_Sink):
    binary = "smtpsink"

    def __init__(self, workdir, ca, name="smtp", mode="starttls",
                 cert="server", extra=(), script=None, out=True):
        self.out = os.path.join(workdir, name + "-out")
        self.logfile = os.path.join(workdir, name + ".log")
        self.script = script or os.path.join(workdir, name + ".script")
        if not os.path.exists(self.script):
            open(self.script, "w").close()
        args = ["--mode", mode, "--cert", os.path.join(ca, cert + ".pem"),
                "--key", os.path.join(ca, cert + ".key"),
                "--log", self.logfile, "--script", self.script]
        if out:
            os.makedirs(self.out, exist_ok=True)
            args += ["--out", self.out]
        else:
            args += ["--discard"]
        super().__init__(args + list(extra), workdir, name)

    def set_script(self, text):
        # A new mtime even within the same second.
        tmp = self.script + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.script)
        st = os.stat(self.script)
        os.utime(self.script, ns=(st.st_atime_ns, time.time_ns()))
        time.sleep(0.25)

    def messages(self):
        """[(meta, email.message.EmailMessage)] in arrival order."""
        path = os.path.join(self.out, "messages.jsonl")
        out = []
        if not os.path.exists(path):
            return out
        with open(path) as f:
            for line in f:
                meta = json.loads(line)
                with open(os.path.join(self.out, "%08d.eml" % meta["n"]),
                          "rb") as m:
                    raw = m.read()
                meta["raw"] = raw
                out.append((meta, email.message_from_bytes(
                    raw, policy=email.policy.default)))
        return out

    def count(self):
        path = os.path.join(self.out, "messages.jsonl")
        if not os.path.exists(path):
            return 0
        with open(path) as f:
            return sum(1 for _ in f)

    def events(self):
        out = []
        if os.path.exists(self.logfile):
            with open(self.logfile) as f:
                for line in f:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
        return out


class HttpSink(_Sink):
    binary = "httpsink"

    def __init__(self, workdir, ca, name="http", secrets=(), cert="server",
                 script=None, out=True, extra=()):
        self.outfile = os.path.join(workdir, name + ".jsonl")
        self.script = script or os.path.join(workdir, name + ".script")
        if not os.path.exists(self.script):
            open(self.script, "w").close()
        args = ["--cert", os.path.join(ca, cert + ".pem"),
                "--key", os.path.join(ca, cert + ".key"),
                "--script", self.script]
        for s in secrets:
            args += ["--secret", s]
        args += ["--out", self.outfile] if out else ["--discard"]
        super().__init__(args + list(extra), workdir, name)

    set_script = SmtpSink.set_script

    def requests(self):
        out = []
        if os.path.exists(self.outfile):
            with open(self.outfile) as f:
                for line in f:
                    out.append(json.loads(line))
        return out


def verify_webhook(secret, headers, body):
    """Standard Webhooks verification, independent of the daemon's and the
    sink's code: True when one v1 signature matches."""
    key = base64.b64decode(secret[len("whsec_"):])
    signed = "%s.%s.%s" % (headers["webhook-id"],
                           headers["webhook-timestamp"], body)
    want = base64.b64encode(hmac.new(key, signed.encode(),
                                     hashlib.sha256).digest()).decode()
    for sig in headers.get("webhook-signature", "").split():
        ver, _, val = sig.partition(",")
        if ver == "v1" and hmac.compare_digest(val, want):
            return True
    return False
