"""Integration tests of intake: the real outreachd on loopback, publishing
with outreachctl and with an independent python3-zmq CURVE publisher."""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ASAN, OUTREACHD, SLOW, Daemon, Publisher, collect,  # noqa: E402
                     event, free_port, keygen, run_tests, wait_for)

T_BERLIN = "embassy.ph.berlin.town-hall"
EX_DATAERR, EX_UNAVAILABLE, EX_TEMPFAIL, EX_PROTOCOL, EX_NOPERM = 65, 69, 75, 76, 77


def with_daemon(fn, **kw):
    d = Daemon(**kw).start()
    try:
        fn(d)
    finally:
        try:
            d.stop()
        finally:
            d.cleanup()


def write_event(d, ev, name="ev.json"):
    p = os.path.join(d.dir, name)
    with open(p, "w") as f:
        f.write(ev if isinstance(ev, str) else json.dumps(ev))
    return p


def test_publish_accepted_duplicate_conflict():
    def body(d):
        p = write_event(d, event("th-1", starts_at="2026-12-01T18:00:00+01:00"))
        r = d.publish(T_BERLIN, p)
        assert r.returncode == 0, r.stderr
        assert "accepted" in r.stdout and "0 recipients" in r.stdout, r.stdout
        r = d.publish(T_BERLIN, p)
        assert r.returncode == 0 and "duplicate" in r.stdout, r.stdout + r.stderr
        p2 = write_event(d, event("th-1", title="Other"), "ev2.json")
        r = d.publish(T_BERLIN, p2, "--json")
        assert r.returncode == EX_DATAERR, (r.returncode, r.stdout, r.stderr)
        reply = json.loads(r.stdout)
        assert reply["status"] == "rejected"
        assert reply["error"]["code"] == "id_conflict", reply
        r = d.ctl("event", "th-1")
        assert r.returncode == 0, r.stderr
        assert "embassy.ph.berlin.town-hall" in r.stdout, r.stdout
        assert "0 recipients" in r.stdout and "0/0 done" in r.stdout, r.stdout
        r = d.ctl("event", "--watch", "--json", "th-1")
        info = json.loads(r.stdout.splitlines()[-1])
        assert info["id"] == "th-1" and info["deliveries"] == {}, info
        r = d.ctl("event", "no-such-event")
        assert r.returncode != 0 and "no event" in r.stderr, r.stderr
        rows = d.query("SELECT post, event_id, topic FROM events")
        assert rows == [("ph-berlin", "th-1", T_BERLIN)], rows
        st = d.status()
        assert st["ingest"]["accepted"] == 1 and st["ingest"]["duplicate"] == 1
        assert st["ingest"]["rejected_by_code"]["id_conflict"] == 1
    with_daemon(body)


def test_publish_from_flags_and_stdin():
    def body(d):
        r = d.publish(T_BERLIN, "--type", "town-hall", "--title",
                      "Town hall at the embassy", "--priority", "high",
                      "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["status"] == "accepted"
        r = d.publish(T_BERLIN, "-", input=json.dumps(event("stdin-1")))
        assert r.returncode == 0 and "accepted" in r.stdout, r.stderr
        assert d.query("SELECT count(*) FROM events")[0][0] == 2
    with_daemon(body)


BAD = [
    # (topic, raw event bytes or dict, code)
    ("embassy.PH.berlin.town-hall", event("b1"), "bad_topic"),
    ("embassy.ph.berlin", event("b2"), "bad_topic"),
    ("embassy.ph.berlin.town-hall.x", event("b3"), "bad_topic"),
    (T_BERLIN, b"{not json", "bad_json"),
    (T_BERLIN, b'{"v":1,"id":"d","id":"e","type":"town-hall","title":"x"}', "bad_json"),
    (T_BERLIN, b'["an array"]', "bad_json"),
    (T_BERLIN, b'{"v":1,"id":"u1","type":"town-hall","title":"caf\xc3"}', "bad_utf8"),
    (T_BERLIN, b'{"v":1,"id":"u2","type":"town-hall","title":"\xc0\xaf"}', "bad_utf8"),
    (T_BERLIN, {"v": 1, "type": "town-hall", "title": "x"}, "missing_field"),
    (T_BERLIN, {"v": 1, "id": "m2", "type": "town-hall"}, "missing_field"),
    (T_BERLIN, event("i1", v=2), "invalid_field"),
    (T_BERLIN, event("i2", priority="urgent"), "invalid_field"),
    (T_BERLIN, event("i3", starts_at="2026-12-01 18:00"), "invalid_field"),
    (T_BERLIN, event("i4", title="line\nbreak"), "invalid_field"),
    (T_BERLIN, event("i5", links=[{"label": "x", "url": "http://a.example"}]), "invalid_field"),
    (T_BERLIN, event("i6", colour="red"), "invalid_field"),
    (T_BERLIN, event("i7", summary="bell\u0007"), "invalid_field"),
    (T_BERLIN, event("t1", type="karaoke"), "unknown_type"),
    ("embassy.ph.munich.town-hall", event("f1"), "forbidden_topic"),
    ("consulate.ph.munich.town-hall", event("f1b", type="town-hall"), None),
    (T_BERLIN, event("x1", expires_at="2020-01-01T00:00:00Z"), "expired"),
]


def test_every_bad_input_class_gets_its_code():
    def body(d):
        pub = d.publisher()
        for i, (topic, ev, code) in enumerate(BAD):
            r = pub.request(topic, ev)
            assert r is not None, "no reply for case %d" % i
            if code is None:
                assert r["status"] == "accepted", (i, r)
                continue
            assert r["status"] == "rejected", (i, r)
            assert r["error"]["code"] == code, (i, code, r)
            assert r["error"]["message"], r
        big = event("big1", body="x" * 70000)
        r = pub.request(T_BERLIN, big)
        assert r["error"]["code"] == "too_large", r
        # The daemon still serves after all of it.
        r = pub.request(T_BERLIN, event("after-bad"))
        assert r["status"] == "accepted", r
        pub.close()
        st = d.status()["ingest"]
        assert st["rejected"] == len([b for b in BAD if b[2]]) + 1, st
    with_daemon(body)


def test_wrong_frame_count_and_req_client():
    def body(d):
        pub = d.publisher()
        pub.sock.send_multipart([b"only-one-frame"])
        r = pub.recv()
        assert r["status"] == "rejected" and r["error"]["code"] == "bad_json", r
        pub.close()
        # A REQ client: the empty delimiter is repeated in the reply.
        req = d.publisher(kind=zmq.REQ)
        r = req.request(T_BERLIN, event("req-1"))
        assert r == {"id": "req-1", "status": "accepted", "recipients": 0}, r
        r = req.request(T_BERLIN, event("req-1"))
        assert r["status"] == "duplicate", r
        req.close()
    with_daemon(body)


def test_independent_publisher_many_in_flight():
    def body(d):
        pub = d.publisher()
        n = 2000
        for i in range(n):
            pub.send(T_BERLIN, event("fl-%d" % i))
        replies = {}
        while len(replies) < n:
            r = pub.recv(10000)
            assert r is not None, "missing replies: %d of %d" % (len(replies), n)
            replies[r["id"]] = r["status"]
        assert set(replies.values()) == {"accepted"}, set(replies.values())
        # Retry half of them: all duplicates, nothing stored twice.
        for i in range(0, n, 2):
            pub.send(T_BERLIN, event("fl-%d" % i))
        for i in range(0, n, 2):
            r = pub.recv(10000)
            assert r["status"] == "duplicate", r
        pub.close()
        assert d.query("SELECT count(*) FROM events")[0][0] == n
    with_daemon(body)


def test_unknown_key_refused_at_handshake():
    def body(d):
        keygen(os.path.join(d.dir, "stranger"))
        p = write_event(d, event("s-1"))
        r = d.publish(T_BERLIN, p, key="stranger")
        assert r.returncode == EX_NOPERM, (r.returncode, r.stderr)
        assert "refused our key" in r.stderr, r.stderr
        assert d.query("SELECT count(*) FROM events")[0][0] == 0
        assert d.status()["ingest"]["handshakes_refused"] >= 1
    with_daemon(body)


def test_unreachable_endpoint_exits_69():
    d = Daemon()
    try:
        p = write_event(d, event("u-1"))
        r = d.ctl("publish", "-e", "tcp://127.0.0.1:%d" % free_port(),
                  "-k", d.keyfile("berlin"), "-S", d.server_public,
                  "-t", T_BERLIN, "--timeout", "300", "--retries", "1", p)
        assert r.returncode == EX_UNAVAILABLE, (r.returncode, r.stderr)
        assert "cannot reach" in r.stderr, r.stderr
    finally:
        d.cleanup()


def test_acl_prefix_priority_quota():
    pubs = {
        "berlin": (["embassy.ph.berlin."], "normal", (3, 3600)),
    }

    def body(d):
        pub = d.publisher()
        r = pub.request("embassy.ph.bonn.town-hall", event("a1"))
        assert r["error"]["code"] == "forbidden_topic", r
        r = pub.request(T_BERLIN, event("a2", priority="high"))
        assert r["error"]["code"] == "forbidden_priority", r
        # Quota: 3 events per hour, the two refusals above spent none.
        for i in range(3):
            r = pub.request(T_BERLIN, event("q-%d" % i))
            assert r["status"] == "accepted", r
        r = pub.request(T_BERLIN, event("q-3"))
        assert r["error"]["code"] == "quota", r
        pub.close()
        p = write_event(d, event("a3", priority="critical"))
        r = d.publish(T_BERLIN, p)
        assert r.returncode == EX_NOPERM, (r.returncode, r.stderr)
    with_daemon(body, publishers=pubs)


def test_daemon_prefixes_forbid_topic():
    def body(d):
        pub = d.publisher()
        r = pub.request("consulate.ph.berlin.town-hall", event("p1"))
        assert r["error"]["code"] == "forbidden_topic", r
        pub.close()
    with_daemon(body, extra_ingest='prefixes = [ "embassy." ];')


def test_key_removed_by_sighup_gets_unauthorized():
    pubs = {
        "berlin": (["embassy.ph.berlin."], "critical", (1000, 1)),
        "frankfurt": (["consulate.ph.frankfurt."], "critical", (1000, 1)),
    }

    def body(d):
        pub = d.publisher("frankfurt")
        r = pub.request("consulate.ph.frankfurt.town-hall", event("k1"))
        assert r["status"] == "accepted", r
        d.write_allow_list({"berlin": pubs["berlin"]})
        d.sig(signal.SIGHUP)
        wait_for(lambda: d.status()["reloads"] == 1, what="reload")
        r = pub.request("consulate.ph.frankfurt.town-hall", event("k2"))
        assert r["status"] == "rejected", r
        assert r["error"]["code"] == "unauthorized", r
        pub.close()
        assert d.query("SELECT event_id FROM events") == [("k1",)]
    with_daemon(body, publishers=pubs)


def test_no_zap_handler_nobody_gets_in():
    def body(d):
        pub = d.publisher()
        r = pub.request(T_BERLIN, event("z1"), timeout_ms=1500)
        assert r is None, r
        pub.close()
        p = write_event(d, event("z2"))
        r = d.ctl("publish", "-e", d.endpoint, "-k", d.keyfile("berlin"),
                  "-S", d.server_public, "-t", T_BERLIN, "--timeout", "700",
                  "--retries", "1", p)
        # No handler: libzmq closes the handshake (ZAP_ENFORCE_DOMAIN).
        assert r.returncode in (EX_NOPERM, EX_PROTOCOL), (r.returncode, r.stderr)
        assert d.query("SELECT count(*) FROM events")[0][0] == 0
    with_daemon(body, env={"OUTREACHD_TEST_NO_ZAP": "1"})


def test_pub_feed_stored_and_gap_counted():
    ctx = zmq.Context.instance()
    pubsock = ctx.socket(zmq.PUB)
    pubsock.setsockopt(zmq.LINGER, 0)
    port = free_port()
    pubsock.bind("tcp://127.0.0.1:%d" % port)
    feed = ('{ name = "berlin-cms"; connect = "tcp://127.0.0.1:%d"; '
            'post = "ph-berlin"; security = "none"; }' % port)

    def body(d):
        # Slow joiner: send a probe until one arrives.
        def probe():
            pubsock.send_multipart([T_BERLIN.encode(),
                                    json.dumps(event("probe", seq=1)).encode()])
            return d.query("SELECT count(*) FROM events WHERE event_id='probe'")[0][0]
        wait_for(probe, timeout=10, what="feed to connect")
        for seq in (2, 3, 6, 7):
            pubsock.send_multipart([T_BERLIN.encode(),
                                    json.dumps(event("f-%d" % seq, seq=seq)).encode()])
        pubsock.send_multipart([b"embassy.ph.munich.town-hall",
                                json.dumps(event("f-x", seq=8)).encode()])
        wait_for(lambda: d.query("SELECT count(*) FROM events")[0][0] == 5,
                 what="feed events stored")
        rows = d.query("SELECT post, source FROM events WHERE event_id='f-6'")
        assert rows == [("ph-berlin", "feed:berlin-cms")], rows
        st = wait_for(lambda: (lambda s: s if s["ingest"]["gaps"] == 2 else None)(d.status()),
                      what="gap counted")
        assert st["ingest"]["feeds"][0]["last_seq"] == 7, st
        assert st["ingest"]["feed_rejected"] >= 1, st
    try:
        with_daemon(body, feeds=feed)
    finally:
        pubsock.close(0)


def test_sighup_with_broken_config_keeps_old():
    def body(d):
        good = d.config_text()
        d.write_config(good + "\nbogus_key = 1;\n")
        d.sig(signal.SIGHUP)
        wait_for(lambda: d.status()["reload_failures"] == 1, what="failed reload")
        assert "bogus_key" in d.log(), d.log()
        pub = d.publisher()
        r = pub.request(T_BERLIN, event("after-broken"))
        assert r["status"] == "accepted", r
        pub.close()
        r = d.ctl("reload")
        assert r.returncode != 0 and "bogus_key" in r.stderr, r.stderr
        d.write_config(good)
        r = d.ctl("reload")
        assert r.returncode == 0, r.stderr
    with_daemon(body)


def test_check_mode_good_and_bad():
    d = Daemon()
    try:
        r = subprocess.run([OUTREACHD, "-n", "-f", d.config],
                           capture_output=True, text=True)
        assert r.returncode == 0 and "ok" in r.stdout, r.stdout + r.stderr
        d.write_config(d.config_text().replace("max_priority", "x"))
        with open(os.path.join(d.dir, "publishers.conf")) as f:
            acl = f.read()
        with open(os.path.join(d.dir, "publishers.conf"), "w") as f:
            f.write(acl.replace('"critical"', '"apocalyptic"'))
        r = subprocess.run([OUTREACHD, "-n", "-f", d.config],
                           capture_output=True, text=True)
        assert r.returncode == 1, r.stdout
        assert "publishers.conf" in r.stderr and "max_priority" in r.stderr, r.stderr
        r = subprocess.run([OUTREACHD, "-n", "-f", "/nonexistent.conf"],
                           capture_output=True, text=True)
        assert r.returncode == 1 and "nonexistent" in r.stderr, r.stderr
        r = subprocess.run([OUTREACHD, "--version"], capture_output=True,
                           text=True)
        assert r.returncode == 0 and r.stdout.startswith("outreachd "), r.stdout
    finally:
        d.cleanup()


def test_failed_commit_sends_no_ack():
    def body(d):
        pub = d.publisher()
        r = d.ctl_request({"cmd": "test-fault", "commit_failures": 1})
        assert r["ok"], r
        r = pub.request(T_BERLIN, event("cf-1"))
        assert r["status"] == "rejected", r
        assert r["error"]["code"] == "overloaded", r
        assert d.query("SELECT count(*) FROM events")[0][0] == 0
        r = pub.request(T_BERLIN, event("cf-1"))
        assert r["status"] == "accepted", r
        pub.close()
    with_daemon(body, env={"OUTREACHD_TEST_HOOKS": "1"})


def test_test_hooks_refused_without_env():
    def body(d):
        r = d.ctl_request({"cmd": "test-fault", "commit_failures": 1})
        assert not r["ok"] and r["code"] == "unknown_command", r
    with_daemon(body)


def test_full_journal_answers_overloaded_and_recovers():
    def body(d):
        pub = d.publisher()
        filler = "y" * 60000
        full = None
        for i in range(200):
            r = pub.request(T_BERLIN, event("full-%d" % i, body=filler))
            if r["status"] != "accepted":
                full = r
                break
        assert full is not None, "journal never filled"
        assert full["error"]["code"] == "overloaded", full
        assert "full" in full["error"]["message"], full
        stored = d.query("SELECT count(*) FROM events")[0][0]
        # Still alive and answering.
        assert d.status()["ok"]
        # Space returns: a larger cap through a reload.
        d.extra_journal = "max_size = 67108864;"
        d.write_config()
        d.sig(signal.SIGHUP)
        wait_for(lambda: d.status()["reloads"] == 1, what="reload")
        r = pub.request(T_BERLIN, event("full-%d" % i, body=filler))
        assert r["status"] == "accepted", r
        assert d.query("SELECT count(*) FROM events")[0][0] == stored + 1
        pub.close()
    with_daemon(body, extra_journal="max_size = 1048576;",
                extra_ingest="max_event_bytes = 65536;")


def test_notify_socket_ready_reloading_stopping():
    path = os.path.join(tempfile.mkdtemp(prefix="outreach-notify-"), "notify")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(10 * SLOW)
    d = Daemon(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"})
    try:
        d.start()
        msgs = []

        def expect(word):
            while True:
                m = s.recv(4096).decode()
                msgs.append(m)
                if word in m:
                    return m
        expect("READY=1")
        expect("WATCHDOG=1")
        d.sig(signal.SIGHUP)
        m = expect("RELOADING=1")
        assert "MONOTONIC_USEC=" in m, m
        expect("READY=1")
        d.sig(signal.SIGTERM)
        expect("STOPPING=1")
        assert d.stop() == 0
    finally:
        s.close()
        d.cleanup()


def test_sigterm_exits_zero_and_backup_is_consistent():
    def body(d):
        pub = d.publisher()
        for i in range(50):
            assert pub.request(T_BERLIN, event("bk-%d" % i))["status"] == "accepted"
        pub.close()
        out = os.path.join(d.dir, "backup.db")
        r = d.ctl("backup", out)
        assert r.returncode == 0, r.stderr
        import sqlite3
        con = sqlite3.connect(out)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 50
        con.close()
        r = d.ctl("backup", out)
        assert r.returncode != 0 and "exists" in r.stderr, r.stderr
        r = d.ctl("status")
        assert r.returncode == 0 and "synchronous full" in r.stdout, r.stdout
        assert "mode wal" in r.stdout, r.stdout
        r = d.ctl("status", "--json")
        assert json.loads(r.stdout)["journal"]["events"] == 50
        assert d.stop() == 0
        assert "stopped" in d.log()
    with_daemon(body)


def test_state_dir_and_secret_modes():
    def body(d):
        st = os.stat(os.path.join(d.dir, "state"))
        assert st.st_mode & 0o777 == 0o700, oct(st.st_mode)
        st = os.stat(os.path.join(d.dir, "state", "installation.key"))
        assert st.st_mode & 0o777 == 0o600 and st.st_size == 32
        st = os.stat(d.control)
        assert st.st_mode & 0o777 == 0o660, oct(st.st_mode)
        assert d.query("PRAGMA journal_mode")[0][0] == "wal"
    with_daemon(body)


def test_second_daemon_refuses_same_control_socket():
    def body(d):
        r = subprocess.run([OUTREACHD, "-f", d.config], capture_output=True,
                           text=True, timeout=30 * SLOW)
        assert r.returncode == 1, r.returncode
        assert "another outreachd is running" in r.stderr or \
            "Address already in use" in r.stderr, r.stderr
        assert d.status()["ok"]
    with_daemon(body)


def test_logs_never_carry_event_bodies():
    def body(d):
        pub = d.publisher()
        pub.request(T_BERLIN, event("priv-1", body="SECRET-BODY-TEXT"))
        pub.request(T_BERLIN, event("priv-2", title="line\nSECRET-TITLE"))
        pub.close()
        log = d.log()
        assert "SECRET-BODY-TEXT" not in log and "SECRET-TITLE" not in log, log
    with_daemon(body)


if __name__ == "__main__":
    run_tests(collect(globals()))
