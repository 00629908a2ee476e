"""harness.py - run the real outreachd on loopback for integration tests.

A Daemon gets its own temporary directory with fresh CURVE keys (made by
outreachctl keygen), a config, an allow-list and a state directory; it starts
build/outreachd (or $BUILD/outreachd) and waits until the control socket
answers.  Tests are plain functions collected by run_tests(), which prints
"ok - name" / "FAIL - name" per test and a last line "N passed, N failed".
Runs under /usr/bin/python3 (Debian's python3-zmq).
"""
import json
import os
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import traceback

import zmq

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
OUTREACHD = os.path.join(BUILD, "outreachd")
OUTREACHCTL = os.path.join(BUILD, "outreachctl")
ASAN = os.environ.get("OUTREACH_ASAN") == "1"
# Under sanitizers everything is slower; waits scale with this.
SLOW = 4 if ASAN else 1


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def keygen(path):
    """Make path.key / path.pub with outreachctl; return the public key."""
    out = subprocess.run([OUTREACHCTL, "--json", "keygen", path], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)["public"]


def read_keyfile(path):
    keys = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                keys[k.strip()] = v.strip().strip(";").strip().strip('"')
    return keys


class Publisher:
    """An independent CURVE publisher (DEALER), no project code."""

    def __init__(self, endpoint, server_public, keyfile=None, ctx=None,
                 kind=zmq.DEALER, curve=True):
        self.ctx = ctx or zmq.Context.instance()
        self.sock = self.ctx.socket(kind)
        self.sock.setsockopt(zmq.LINGER, 0)
        if curve:
            if keyfile:
                k = read_keyfile(keyfile)
                pub, sec = k["public"].encode(), k["secret"].encode()
            else:
                pub, sec = zmq.curve_keypair()
            self.public = pub.decode()
            self.sock.curve_serverkey = server_public.encode()
            self.sock.curve_publickey = pub
            self.sock.curve_secretkey = sec
        self.kind = kind
        self.sock.connect(endpoint)

    def send(self, topic, event):
        body = event if isinstance(event, (bytes, bytearray)) else \
            json.dumps(event).encode()
        if self.kind == zmq.REQ:
            self.sock.send_multipart([topic.encode(), body])
        else:
            self.sock.send_multipart([topic.encode(), body])

    def recv(self, timeout_ms=5000):
        if not self.sock.poll(timeout_ms * SLOW):
            return None
        frames = self.sock.recv_multipart()
        return json.loads(frames[-1])

    def request(self, topic, event, timeout_ms=5000):
        self.send(topic, event)
        return self.recv(timeout_ms)

    def close(self):
        self.sock.close(0)


def event(eid, **kw):
    ev = {"v": 1, "id": eid, "type": "town-hall",
          "title": {"en": "Town hall", "tl": "Pulong-bayan"}}
    ev.update(kw)
    return ev


class Daemon:
    POSTS = """posts = (
  { id = "ph-berlin"; name = "Embassy of the Philippines in Berlin"; lang = "en"; },
  { id = "ph-frankfurt"; name = "Consulate General in Frankfurt"; lang = "en"; }
);
"""

    def __init__(self, name="t", publishers=None, extra_ingest="",
                 extra_journal="", endpoints=None, feeds="", env=None,
                 log_level="info", extra_config="", extra_daemon=""):
        self.dir = tempfile.mkdtemp(prefix="outreach-%s-" % name)
        self.port = free_port()
        self.endpoint = "tcp://127.0.0.1:%d" % self.port
        self.server_public = keygen(os.path.join(self.dir, "server"))
        self.keys = {}
        self.proc = None
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.log_path = os.path.join(self.dir, "outreachd.log")
        self.control = os.path.join(self.dir, "run", "control.sock")
        self.extra_ingest = extra_ingest
        self.extra_journal = extra_journal
        self.extra_config = extra_config
        self.extra_daemon = extra_daemon
        self.endpoints = endpoints
        self.feeds = feeds
        self.log_level = log_level
        self.templates = os.path.join(ROOT, "conf", "templates")
        # name -> (prefixes, max_priority, quota)
        self.publishers = publishers if publishers is not None else {
            "berlin": (["embassy.ph.berlin.", "consulate.ph."], "critical",
                       (100000, 1)),
        }
        for pname in self.publishers:
            self.keys[pname] = keygen(os.path.join(self.dir, pname))
        self.write_allow_list()
        self.write_config()

    def keyfile(self, pname):
        return os.path.join(self.dir, pname + ".key")

    def write_allow_list(self, publishers=None):
        pubs = publishers if publishers is not None else self.publishers
        lines = ["publishers = ("]
        entries = []
        for pname, (prefixes, prio, quota) in pubs.items():
            post = "ph-frankfurt" if pname.startswith("frankfurt") else "ph-berlin"
            entries.append(
                '  { key = "%s"; post = "%s"; prefixes = [ %s ]; '
                'max_priority = "%s"; quota = { events = %d; seconds = %d; }; }'
                % (self.keys[pname], post,
                   ", ".join('"%s"' % p for p in prefixes), prio,
                   quota[0], quota[1]))
        lines.append(",\n".join(entries))
        lines.append(");")
        with open(os.path.join(self.dir, "publishers.conf"), "w") as f:
            f.write("\n".join(lines) + "\n")

    def config_text(self):
        eps = self.endpoints or [
            '{ bind = "%s"; security = "curve"; }' % self.endpoint]
        feeds = ("feeds = ( %s );" % self.feeds) if self.feeds else ""
        return """daemon: {
  state_dir = "%(dir)s/state";
  runtime_dir = "%(dir)s/run";
  log_level = "%(log)s";
  shutdown_timeout_ms = 5000;
  %(extrad)s
};
ingest: {
  curve_secret_file = "%(dir)s/server.key";
  allow_list = "%(dir)s/publishers.conf";
  endpoints = ( %(eps)s );
  %(feeds)s
  %(extra)s
};
journal: {
  checkpoint_interval_ms = 500;
  %(extraj)s
};
notices: {
  templates_dir = "%(templates)s";
  from = "noreply@outreach.example.org";
  unsubscribe_url = "https://outreach.example.org/unsubscribe?token=";
  unsubscribe_mailto = "unsubscribe@outreach.example.org";
};
%(posts)s
%(extrac)s""" % {"extrac": self.extra_config, "extrad": self.extra_daemon,"dir": self.dir, "eps": ", ".join(eps), "feeds": feeds,
                 "extra": self.extra_ingest, "extraj": self.extra_journal,
                 "posts": self.POSTS, "log": self.log_level,
                 "templates": self.templates}

    def write_config(self, text=None):
        self.config = os.path.join(self.dir, "outreachd.conf")
        with open(self.config, "w") as f:
            f.write(text if text is not None else self.config_text())

    @property
    def db(self):
        return os.path.join(self.dir, "state", "journal.db")

    def start(self, wait=True, extra_args=()):
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([OUTREACHD, "-f", self.config] +
                                     list(extra_args),
                                     stdout=self.logf, stderr=self.logf,
                                     env=self.env)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=10):
        deadline = time.time() + timeout * SLOW
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("outreachd exited %d:\n%s" %
                                     (self.proc.returncode, self.log()))
            try:
                self.ctl_request({"cmd": "status"})
                return
            except OSError:
                time.sleep(0.02)
        raise AssertionError("outreachd not ready:\n" + self.log())

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def ctl_request(self, req):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30 * SLOW)
        try:
            s.connect(self.control)
            data = json.dumps(req).encode()
            s.sendall(struct.pack(">I", len(data)) + data)
            hdr = b""
            while len(hdr) < 4:
                chunk = s.recv(4 - len(hdr))
                if not chunk:
                    raise OSError("control socket closed")
                hdr += chunk
            n = struct.unpack(">I", hdr)[0]
            body = b""
            while len(body) < n:
                chunk = s.recv(n - len(body))
                if not chunk:
                    raise OSError("control socket closed")
                body += chunk
            return json.loads(body)
        finally:
            s.close()

    def ctl(self, *args, check=False, input=None, env=None):
        e = dict(os.environ)
        e.update(env or {})
        return subprocess.run([OUTREACHCTL, "-s", self.control] + list(args),
                              capture_output=True, text=True, input=input,
                              env=e, check=check, timeout=120 * SLOW)

    def publish(self, topic, *args, key="berlin", input=None):
        return self.ctl("publish", "-e", self.endpoint, "-k",
                        self.keyfile(key), "-S", self.server_public,
                        "-t", topic, "--timeout", str(2000 * SLOW), *args,
                        input=input)

    def publisher(self, key="berlin", kind=zmq.DEALER):
        return Publisher(self.endpoint, self.server_public,
                         self.keyfile(key) if key else None, kind=kind)

    def status(self):
        return self.ctl_request({"cmd": "status"})

    def sig(self, signum):
        self.proc.send_signal(signum)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("outreachd did not stop:\n" + self.log())
        self.logf.close()
        rc = self.proc.returncode
        self.proc = None
        self.check_sanitizers()
        return rc

    def check_sanitizers_quietly(self):
        try:
            self.check_sanitizers()
        except AssertionError:
            if os.environ.get("KEEP_TMP") != "1":
                shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def check_sanitizers(self):
        """Sanitizer reports in the daemon's log fail the test."""
        log = self.log()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                       "runtime error:"):
            if marker in log:
                raise AssertionError("sanitizer report in outreachd log:\n"
                                     + log[-6000:])

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc is not None:
            self.logf.close()
        self.proc = None

    def query(self, sql, *params):
        con = sqlite3.connect(self.db, timeout=30)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def cleanup(self):
        self.kill()
        self.check_sanitizers_quietly()
        if os.environ.get("KEEP_TMP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)


def wait_for(pred, timeout=5.0, what="condition"):
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


def run_tests(tests):
    """Run (name, fn) pairs; print per-test lines and the summary."""
    passed = failed = 0
    only = os.environ.get("ONLY")
    for name, fn in tests:
        if only and only not in name:
            continue
        t0 = time.time()
        try:
            fn()
            passed += 1
            print("ok - %s (%.1fs)" % (name, time.time() - t0), flush=True)
        except Exception:
            failed += 1
            print("FAIL - %s" % name, flush=True)
            traceback.print_exc()
            sys.stdout.flush()
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


def collect(module_globals):
    return [(n, f) for n, f in module_globals.items()
            if n.startswith("test_") and callable(f)]
