"""Integration tests of delivery with the real daemon over verified TLS on
loopback: the project's SMTP sink (STARTTLS, PIPELINING, scriptable per
command) and HTTPS sink (verifies Standard Webhooks signatures), a
throwaway CA made here.  Covers the happy path (audience, languages,
parsed e-mails, signatures checked independently, a body line starting
with "."), retries and permanent failures on both channels, bounces, 410,
Retry-After, TLS failures, expiry, replaces, cancel, pause/resume,
priorities, exercises, SIGTERM and SIGKILL.

OUTREACH_DELIVERY_CRASH_CONTACTS sets the size of the crash test (default
3000, 600 under ASan); CRASH_SEED replays its kill point."""
import collections
import csv
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ASAN, SLOW, Daemon, collect, event, keygen,  # noqa: E402
                     run_tests, wait_for)
from sinks import HttpSink, SmtpSink, make_ca, verify_webhook  # noqa: E402

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SECRET2 = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="
TOPIC = "embassy.ph.berlin.town-hall"
CA_DIR = tempfile.mkdtemp(prefix="outreach-ca-")
make_ca(CA_DIR)

COLUMNS = ["id", "name", "email", "webhook_url", "languages", "country",
           "city", "tags", "subscriptions", "status", "test"]


class World:
    """A daemon wired to its own SMTP and HTTPS sinks."""

    def __init__(self, name, smtp_args=(), smtp_cert="server",
                 http_cert="server", relay_extra="", delivery="",
                 secrets=(SECRET,), smtp_mode="starttls", daemon_extra="",
                 smtp_out=True, http_out=True):
        self.work = tempfile.mkdtemp(prefix="outreach-dw-%s-" % name)
        self.smtp = SmtpSink(self.work, CA_DIR, mode=smtp_mode,
                             cert=smtp_cert, extra=smtp_args, out=smtp_out)
        self.http = HttpSink(self.work, CA_DIR, secrets=(SECRET,),
                             cert=http_cert, out=http_out)
        secfile = os.path.join(self.work, "webhook.secrets")
        with open(secfile, "w") as f:
            f.write("# current first, then the one being retired\n")
            for s in secrets:
                f.write(s + "\n")
        os.chmod(secfile, 0o600)
        retry = delivery or """
  retry_first_ms = { low = 200; normal = 200; high = 200; critical = 100; };
  retry_max_ms = { low = 1000; normal = 1000; high = 1000; critical = 500; };"""
        cfg = """
tls: { ca_file = "%(ca)s/ca.pem"; };
smtp: { relays = ( { name = "sink"; host = "127.0.0.1"; port = %(sp)d;
  tls = "%(mode)s"; max_connections = 4; timeout_ms = 5000; %(rx)s } ); };
webhooks: { secret_file = "%(sec)s"; allow_loopback = true;
  max_connections_per_host = 4; retry_after_max_s = 5; timeout_ms = 5000; };
delivery: { %(retry)s };
""" % {"ca": CA_DIR, "sp": self.smtp.port, "sec": secfile, "retry": retry,
            "rx": relay_extra, "mode": smtp_mode}
        self.d = Daemon(name, extra_config=cfg, extra_daemon=daemon_extra)

    def hook_url(self, cid):
        return "https://127.0.0.1:%d/hook/%s" % (self.http.port, cid)

    def import_contacts(self, contacts):
        path = os.path.join(self.work, "contacts.csv")
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\r\n")
            w.writerow(COLUMNS)
            for c in contacts:
                w.writerow([";".join(c[k]) if isinstance(c.get(k), list)
                            else str(c.get(k, "")).lower()
                            if isinstance(c.get(k), bool) else c.get(k, "")
                            for k in COLUMNS])
        r = self.d.ctl("contacts", "import", path)
        assert r.returncode == 0, r.stdout + r.stderr

    def publish(self, ev, topic=TOPIC):
        p = self.d.publisher()
        try:
            reply = p.request(topic, ev)
        finally:
            p.close()
        assert reply and reply.get("status") == "accepted", reply
        return reply

    def info(self, eid):
        r = self.d.ctl_request({"cmd": "event", "id": eid})
        assert r.get("ok"), r
        return r["event"]

    def counts(self, eid):
        return self.info(eid)["deliveries"]

    def wait_done(self, eid, timeout=20):
        def done():
            ev = self.info(eid)
            per = ev["deliveries"]
            return ev["fanout_done"] and not any(
                per.get(s, 0) for s in ("pending", "sending", "deferred"))
        wait_for(done, timeout, "event %s to finish" % eid)
        return self.counts(eid)

    def deliveries(self, **kw):
        req = {"cmd": "deliveries", "limit": 1000}
        req.update(kw)
        r = self.d.ctl_request(req)
        assert r.get("ok"), r
        return r["deliveries"]

    def close(self):
        try:
            self.d.cleanup()
        finally:
            self.smtp.stop()
            self.http.stop()
            if os.environ.get("KEEP_TMP") != "1":
                shutil.rmtree(self.work, ignore_errors=True)


def person(i, **kw):
    c = {"id": "p-%03d" % i, "name": "Person %d" % i,
         "email": "p%03d@example.org" % i, "languages": ["en"],
         "country": "DE", "city": "Berlin",
         "subscriptions": ["embassy.ph.berlin."]}
    c.update(kw)
    return c


def town_hall(eid, **kw):
    ev = event(eid, body="Doors open at 17:30.\n.a line that starts with a dot\n"
               "From the embassy, with thanks.", **kw)
    return ev


def world(name, **kw):
    w = World(name, **kw)
    w.d.start()
    return w


def test_happy_path_audience_languages_signatures():
    w = world("happy")
    try:
        contacts = [
            person(1, languages=["en"]),
            person(2, languages=["fr"], name="Amélie Dubois"),
            person(3, languages=["ar"], name="سلمى"),
            person(4, languages=["ti", "am", "en"]),
            person(5, webhook_url=None, email=None),
            person(6, languages=["tl", "en"]),
            person(7, subscriptions=["embassy.ph.paris."]),    # outside
            person(8, country="AT"),                           # filtered out
            person(9, status="unsubscribed"),                  # not active
        ]
        contacts[4]["webhook_url"] = w.hook_url("p-005")
        del contacts[4]["email"]
        contacts[5]["webhook_url"] = w.hook_url("p-006")   # both channels
        w.import_contacts(contacts)
        ev = town_hall("happy-1", title={"en": "Town hall", "fr": "Réunion",
                                         "ar": "اجتماع", "am": "ስብሰባ"},
                       audience={"countries": ["DE"]})
        reply = w.publish(ev)
        assert reply["recipients"] == 6, reply
        per = w.wait_done("happy-1")
        assert per.get("sent") == 7, per          # 5 e-mails + 2 webhooks
        msgs = w.smtp.messages()
        rcpts = sorted(m["rcpt"][0] for m, _ in msgs)
        assert rcpts == ["p%03d@example.org" % i for i in (1, 2, 3, 4, 6)], rcpts
        ids = set()
        for meta, m in msgs:
            assert meta["tls"] is True
            assert m["From"].addresses[0].addr_spec == \
                "noreply@outreach.example.org"
            assert m["Message-ID"] not in ids
            ids.add(m["Message-ID"])
            lang = m["Content-Language"]
            to = m["To"].addresses[0].addr_spec
            if to.startswith("p002"):
                assert lang.startswith("fr"), lang
                assert "Réunion" in str(m["Subject"])
            if to.startswith("p003"):
                assert lang.startswith("ar"), lang
                html = m.get_body(("html",)).get_content()
                assert 'dir="rtl"' in html
            if to.startswith("p004"):
                assert lang.split(",")[0].strip() in ("am", "en"), lang
            text = m.get_body(("plain",)).get_content().replace("\r\n", "\n")
            assert "\n.a line that starts with a dot\n" in text, text
            assert "From the embassy, with thanks." in text
            assert "List-Unsubscribe" in m
        reqs = w.http.requests()
        assert sorted(r["path"] for r in reqs) == ["/hook/p-005",
                                                    "/hook/p-006"], reqs
        for r in reqs:
            assert r["sig_ok"] is True, r
            assert verify_webhook(SECRET, r["headers"], r["body"]), r
            body = json.loads(r["body"])
            assert body["type"] == "outreach.notice"
            assert body["data"]["contact"] in ("p-005", "p-006")
            assert body["data"]["event"]["id"] == "happy-1"
            assert body["data"]["notice"]["subject"]
            assert "@" not in json.dumps(body["data"]["contact"])
        st = w.d.status()["delivery"]
        assert st["since_start"]["smtp"]["sent"] == 5, st
        assert st["since_start"]["webhook"]["sent"] == 2, st
        assert st["queue"]["sending"] == {"smtp": 0, "webhook": 0}, st
        assert st["relays"][0]["sent"] == 5 and st["relays"][0]["pipelining"]
        out = w.d.ctl("status").stdout
        assert "since start sent 5/2" in out, out
        # Pipelined: the sink saw MAIL, RCPT and DATA in one read.
        reads = [e["cmds"] for e in w.smtp.events() if e.get("ev") == "read"]
        assert any(c[:3] == ["MAIL", "RCPT", "DATA"] for c in reads), reads
    finally:
        w.close()


def test_two_secrets_give_two_signatures():
    w = World("twosec", secrets=(SECRET2, SECRET))
    w.d.start()
    try:
        c = person(1)
        del c["email"]
        c["webhook_url"] = w.hook_url("p-001")
        w.import_contacts([c])
        w.publish(town_hall("twosec-1"))
        w.wait_done("twosec-1")
        (r,) = w.http.requests()
        sigs = r["headers"]["webhook-signature"].split()
        assert len(sigs) == 2 and all(s.startswith("v1,") for s in sigs), sigs
        assert verify_webhook(SECRET, r["headers"], r["body"])
        assert verify_webhook(SECRET2, r["headers"], r["body"])
    finally:
        w.close()


def test_smtp_4xx_then_accepted_and_drop_mid_data():
    w = world("retry")
    try:
        w.smtp.set_script("END times 1 reply 451 4.3.0 try again later\n"
                          "BODY times 1 drop\n")
        w.import_contacts([person(1), person(2)])
        w.publish(town_hall("retry-1"))
        per = w.wait_done("retry-1", timeout=30)
        assert per.get("sent") == 2, per
        rows = w.deliveries(event="retry-1")
        assert max(r["attempts"] for r in rows) >= 2, rows
        assert sorted(m["rcpt"][0] for m, _ in w.smtp.messages()) == \
            ["p001@example.org", "p002@example.org"]
    finally:
        w.close()


def test_smtp_5xx_failed_redacted_and_bounce():
    w = world("perm")
    try:
        w.smtp.set_script(
            "RCPT match ^<p002@ reply 550 5.1.1 <p002@example.org>: no such user\n"
            "RCPT match ^<p003@ reply 553 5.7.1 p003@example.org refused by policy\n")
        w.import_contacts([person(1), person(2), person(3)])
        w.publish(town_hall("perm-1"))
        per = w.wait_done("perm-1")
        assert per.get("sent") == 1 and per.get("failed") == 2, per
        rows = {r["contact"]: r for r in w.deliveries(event="perm-1")}
        for cid in ("p-002", "p-003"):
            err = rows[cid]["last_error"]
            assert "@" not in err and "example.org" not in err, err
            assert rows[cid]["attempts"] == 1, rows[cid]
        assert "5.1.1" in rows["p-002"]["last_error"]
        show = json.loads(w.d.ctl("--json", "contacts", "show", "p-002").stdout)
        assert show.get("status", show.get("contact", {}).get("status")) \
            == "bounced", show
        show = json.loads(w.d.ctl("--json", "contacts", "show", "p-003").stdout)
        assert show.get("status", show.get("contact", {}).get("status")) \
            == "active", show
        assert "p002@example.org" not in w.d.log()
    finally:
        w.close()


def test_webhook_429_retry_after_410_and_500():
    w = world("hooks")
    try:
        w.http.set_script("match /hook/p-001 times 1 status 429 retry-after 1\n"
                          "match /hook/p-002 status 410\n"
                          "match /hook/p-003 times 1 status 500\n"
                          "match /hook/p-004 status 404\n")
        cs = []
        for i in range(1, 5):
            c = person(i)
            del c["email"]
            c["webhook_url"] = w.hook_url("p-%03d" % i)
            cs.append(c)
        w.import_contacts(cs)
        w.publish(town_hall("hooks-1"))
        per = w.wait_done("hooks-1", timeout=30)
        assert per.get("sent") == 2 and per.get("failed") == 2, per
        reqs = w.http.requests()
        t429 = [r for r in reqs if r["path"] == "/hook/p-001"]
        assert [r["status"] for r in t429] == [429, 200], t429
        assert t429[0]["headers"]["webhook-id"] == t429[1]["headers"]["webhook-id"]
        assert int(t429[1]["headers"]["webhook-timestamp"]) >= \
            int(t429[0]["headers"]["webhook-timestamp"]) + 1, t429
        assert [r["status"] for r in reqs if r["path"] == "/hook/p-003"] == \
            [500, 200]
        rows = {r["contact"]: r for r in w.deliveries(event="hooks-1")}
        assert "410" in rows["p-002"]["last_error"], rows["p-002"]
        assert "404" in rows["p-004"]["last_error"], rows["p-004"]
        assert "/hook" not in rows["p-004"]["last_error"]
        # The 410 endpoint is disabled: the next event skips it.
        w.publish(town_hall("hooks-2"))
        w.wait_done("hooks-2", timeout=30)
        rows = {r["contact"]: r for r in w.deliveries(event="hooks-2")}
        assert rows["p-002"]["state"] == "skipped", rows["p-002"]
        assert len([r for r in w.http.requests()
                    if r["path"] == "/hook/p-002"]) == 1
        show = json.loads(w.d.ctl("--json", "contacts", "show",
                                  "p-002").stdout)
        assert show.get("webhook_disabled") is True, show
        # A new URL is a new endpoint: delivered again.
        c = person(2)
        del c["email"]
        c["webhook_url"] = w.hook_url("moved-002")
        w.import_contacts([c])
        show = json.loads(w.d.ctl("--json", "contacts", "show",
                                  "p-002").stdout)
        assert "webhook_disabled" not in show, show
        w.publish(town_hall("hooks-3"))
        w.wait_done("hooks-3", timeout=30)
        rows = {r["contact"]: r for r in w.deliveries(event="hooks-3")}
        assert rows["p-002"]["state"] == "sent", rows["p-002"]
    finally:
        w.close()


def tls_case(cert, reason):
    w = world("tls-" + cert, smtp_cert=cert, http_cert=cert)
    try:
        c1 = person(1)
        c2 = person(2)
        del c2["email"]
        c2["webhook_url"] = w.hook_url("p-002")
        w.import_contacts([c1, c2])
        w.publish(town_hall("tls-1"))

        def both_deferred():
            rows = w.deliveries(event="tls-1")
            return len(rows) == 2 and all(r["state"] == "deferred" and
                                          r.get("last_error") for r in rows) \
                and rows
        rows = wait_for(both_deferred, 15, "TLS failures recorded")
        for r in rows:
            assert reason in r["last_error"], r
            assert "127.0.0.1" in r["last_error"], r
        assert w.smtp.count() == 0
        assert w.http.requests() == []
    finally:
        w.close()


def test_tls_unknown_ca():
    tls_case("unknown", "unknown certificate authority")


def test_tls_expired():
    tls_case("expired", "certificate has expired")


def test_tls_wrong_host():
    tls_case("wronghost", "mismatch")


def test_no_starttls_no_mail():
    w = world("nostarttls", smtp_args=["--no-starttls"])
    try:
        w.import_contacts([person(1)])
        w.publish(town_hall("nost-1"))
        rows = wait_for(lambda: [r for r in w.deliveries(event="nost-1")
                                 if r["state"] == "deferred"], 15,
                        "deferred without STARTTLS")
        assert "STARTTLS" in rows[0]["last_error"], rows
        assert w.smtp.count() == 0
        assert not any(e.get("ev") == "auth_before_tls"
                       for e in w.smtp.events())
    finally:
        w.close()


def test_pause_resume_expiry_replaces_cancel():
    w = world("pause")
    try:
        w.import_contacts([person(i) for i in range(1, 6)])
        r = w.d.ctl("pause")
        assert r.returncode == 0 and "paused" in r.stdout, r.stdout + r.stderr
        now = time.time()
        exp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 2))
        w.publish(town_hall("exp-1", expires_at=exp))
        w.publish(town_hall("old-1"))
        w.publish(town_hall("new-1", replaces="old-1"))
        w.publish(town_hall("cxl-1"))
        r = w.d.ctl("cancel", "cxl-1")
        assert r.returncode == 0, r.stderr
        st = w.d.status()["delivery"]
        assert st["paused"] is True
        time.sleep(2.5)
        assert w.smtp.count() == 0
        # The pause survives a restart.
        w.d.stop()
        w.d.start()
        assert w.d.status()["delivery"]["paused"] is True
        r = w.d.ctl("resume")
        assert r.returncode == 0, r.stderr
        assert w.wait_done("new-1").get("sent") == 5
        assert w.wait_done("exp-1").get("expired") == 5
        assert w.counts("old-1").get("cancelled") == 5
        assert w.counts("cxl-1").get("cancelled") == 5
        assert w.smtp.count() == 5
    finally:
        w.close()


def test_event_of_a_removed_post_fails_expiry_first():
    """The scheduler caches each event with its times and whether it
    still validates: an event whose post a reload removed fails with
    why, and one that expired meanwhile says expired, not failed."""
    w = World("gonepost")
    w.d.publishers["frankfurt"] = (["consulate.ph.frankfurt."], "critical",
                                   (100000, 1))
    w.d.keys["frankfurt"] = keygen(os.path.join(w.d.dir, "frankfurt"))
    w.d.write_allow_list()
    w.d.start()
    try:
        w.import_contacts([person(i, subscriptions=["consulate.ph."])
                           for i in range(1, 4)])
        assert w.d.ctl("pause").returncode == 0
        exp = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                            time.gmtime(time.time() + 2))
        pub = w.d.publisher("frankfurt")
        for eid, kw in (("fra-1", {}), ("fra-exp", {"expires_at": exp})):
            r = pub.request("consulate.ph.frankfurt.town-hall",
                            town_hall(eid, **kw))
            assert r and r.get("status") == "accepted", r
        pub.close()
        wait_for(lambda: all(w.info(e)["fanout_done"]
                             for e in ("fra-1", "fra-exp")), 10, "fan-out")
        del w.d.publishers["frankfurt"]
        w.d.write_allow_list()
        w.d.POSTS = """posts = (
  { id = "ph-berlin"; name = "Embassy of the Philippines in Berlin"; lang = "en"; }
);
"""
        w.d.write_config()
        w.d.sig(signal.SIGHUP)
        wait_for(lambda: w.d.status()["reloads"] == 1, 10, "reload")
        time.sleep(2.5)
        assert w.d.ctl("resume").returncode == 0
        assert w.wait_done("fra-1").get("failed") == 3, w.counts("fra-1")
        assert w.wait_done("fra-exp").get("expired") == 3, \
            w.counts("fra-exp")
        errs = {d.get("last_error") for d in w.deliveries(event="fra-1")}
        assert errs == {"post ph-frankfurt is no longer configured"}, errs
        assert w.smtp.count() == 0
    finally:
        w.close()


def test_in_flight_reads_as_sending():
    """A delivery handed to a sender stays due on disk until its
    transaction is about to commit (most are sent by then); one still in
    flight is 'sending' on disk from that commit on, and to any command
    at once."""
    w = world("inflight")
    try:
        w.import_contacts([person(i) for i in range(1, 4)])
        w.smtp.set_script("END delay 2000\n")
        w.publish(town_hall("slow-1"))
        wait_for(lambda: w.counts("slow-1").get("sending") == 3, 5,
                 "three in flight")
        rows = w.deliveries(state="sending", event="slow-1")
        assert len(rows) == 3, rows
        assert w.deliveries(state="pending", event="slow-1") == []
        st = w.d.status()["delivery"]
        assert st["queue"]["sending"]["smtp"] == 3, st
        assert st["queue"].get("pending", {}).get("smtp", 0) == 0, st
        wait_for(lambda: w.d.query("SELECT count(*) FROM deliveries WHERE"
                                   " state = 'sending'")[0][0] == 3, 2,
                 "'sending' committed")
        assert w.wait_done("slow-1").get("sent") == 3
        assert w.smtp.count() == 3
    finally:
        w.close()


def test_failed_commits_send_nothing_twice():
    """Commits that fail (the journal full or unavailable) lose no
    outcome and send no notice twice: the scheduler takes nothing new
    until its outcomes are committed again."""
    n = 80 if ASAN else 300
    w = World("cfail")
    w.d.env["OUTREACHD_TEST_HOOKS"] = "1"
    w.d.start()
    try:
        w.import_contacts([person(i) for i in range(1, n + 1)])
        w.smtp.set_script("END delay 10\n")
        w.publish(town_hall("cf-1"))
        wait_for(lambda: w.smtp.count() >= n // 5, 30, "a fifth sent")
        r = w.d.ctl_request({"cmd": "test-fault", "commit_failures": 4})
        assert r.get("ok"), r
        try:
            w.wait_done("cf-1", timeout=30)
        except AssertionError:
            raise AssertionError("stuck: %s sink %d\n%s" % (
                w.counts("cf-1"), w.smtp.count(), w.d.log()[-3000:]))
        assert w.counts("cf-1").get("sent") == n, w.counts("cf-1")
        got = collections.Counter(m["rcpt"][0] for m, _ in
                                  w.smtp.messages())
        assert len(got) == n, len(got)
        twice = [a for a, k in got.items() if k > 1]
        assert twice == [], "%d sent more than once: %s" % (
            len(twice), got.most_common(3))
        log = w.d.log()
        assert "commit failed: injected fault" in log, log[-2000:]
        assert "outcomes stored again; sending resumes" in log, log[-2000:]
    finally:
        w.close()


def test_event_whose_commit_failed_sends_nothing():
    """An event whose storing commit fails is rejected, and nothing of it
    goes out: its deliveries, made in the same transaction, are not
    claimed before the commit.  Nothing was in flight, so sending is not
    held either.  Sent again, it reaches each contact once."""
    w = World("cfail2")
    w.d.env["OUTREACHD_TEST_HOOKS"] = "1"
    w.d.start()
    try:
        w.import_contacts([person(i) for i in range(1, 4)])
        r = w.d.ctl_request({"cmd": "test-fault", "commit_failures": 1})
        assert r.get("ok"), r
        p = w.d.publisher()
        try:
            r = p.request("embassy.ph.berlin.town-hall", town_hall("cf2-1"))
            assert r and r.get("status") == "rejected" and \
                r["error"]["code"] == "overloaded", r
            time.sleep(0.5)
            assert w.smtp.count() == 0, w.smtp.count()
            r = p.request("embassy.ph.berlin.town-hall", town_hall("cf2-1"))
            assert r and r.get("status") == "accepted", r
        finally:
            p.close()
        w.wait_done("cf2-1", timeout=30)
        got = collections.Counter(m["rcpt"][0] for m, _ in
                                  w.smtp.messages())
        assert len(got) == 3 and set(got.values()) == {1}, got
        log = w.d.log()
        assert "commit failed: injected fault" in log, log[-2000:]
        assert "deliver: a commit failed" not in log, log[-2000:]
    finally:
        w.close()


def test_critical_overtakes_bulk():
    n = 60 if ASAN else 200
    w = world("prio")
    try:
        w.import_contacts([person(i) for i in range(1, n + 1)])
        w.d.ctl("pause")
        w.publish(town_hall("bulk-1", priority="low",
                            title={"en": "Bulk low"}))
        w.publish(town_hall("bulk-2", priority="normal",
                            title={"en": "Bulk normal"}))
        w.publish(town_hall("alert-1", type="crisis", priority="critical",
                            title={"en": "Alert critical"}),
                  topic="embassy.ph.berlin.crisis")
        wait_for(lambda: all(w.info(e)["fanout_done"] for e in
                             ("bulk-1", "bulk-2", "alert-1")), 10, "fan-out")
        w.d.ctl("resume")
        for e in ("alert-1", "bulk-2", "bulk-1"):
            w.wait_done(e, timeout=60)
        order = []
        for _, m in w.smtp.messages():
            subj = str(m["Subject"])
            order.append("crit" if "Alert critical" in subj else
                         "normal" if "Bulk normal" in subj else
                         "low" if "Bulk low" in subj else subj)
        assert len(order) == 3 * n, (len(order), set(order))
        crit = [i for i, k in enumerate(order) if k == "crit"]
        norm = [i for i, k in enumerate(order) if k == "normal"]
        low = [i for i, k in enumerate(order) if k == "low"]
        assert len(crit) == n and len(norm) == n and len(low) == n
        # Critical first (the senders start on it at once), then normal,
        # then low: medians in that order, and the alert wholly ahead.
        assert max(crit) < n + 16, crit[-5:]
        assert norm[n // 2] < low[n // 2], (norm[n // 2], low[n // 2])
    finally:
        w.close()


def test_exercise_reaches_only_test_contacts():
    w = world("exercise")
    try:
        w.import_contacts([person(1, test=True), person(2), person(3, test=True)])
        w.publish(town_hall("ex-1", status="exercise"))
        per = w.wait_done("ex-1")
        assert per.get("sent") == 2, per
        assert sorted(m["rcpt"][0] for m, _ in w.smtp.messages()) == \
            ["p001@example.org", "p003@example.org"]
    finally:
        w.close()


def test_sigterm_lets_in_flight_finish():
    n = 100 if ASAN else 400
    w = world("term")
    try:
        w.import_contacts([person(i) for i in range(1, n + 1)])
        w.publish(town_hall("term-1"))
        wait_for(lambda: w.smtp.count() > 10, 20, "some sent")
        rc = w.d.stop()
        assert rc == 0, w.d.log()[-3000:]
        assert w.d.query("SELECT count(*) FROM deliveries WHERE state ="
                         " 'sending'")[0][0] == 0
        sent = w.d.query("SELECT count(*) FROM deliveries WHERE state ="
                         " 'sent'")[0][0]
        assert sent <= w.smtp.count(), (sent, w.smtp.count())
        w.d.start()
        w.wait_done("term-1", timeout=60)
        assert len({m["rcpt"][0] for m, _ in w.smtp.messages()}) == n
    finally:
        w.close()


def test_sigkill_during_delivery_every_contact_once_or_same_id():
    n = int(os.environ.get("OUTREACH_DELIVERY_CRASH_CONTACTS",
                           600 if ASAN else 3000))
    seed = int(os.environ.get("CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    print("# delivery crash test: contacts=%d CRASH_SEED=%d" % (n, seed))
    w = world("kill")
    try:
        w.import_contacts([person(i) for i in range(1, n + 1)])
        w.publish(town_hall("kill-1"))
        target = int(n * rng.uniform(0.1, 0.7))
        wait_for(lambda: w.smtp.count() >= target, 60, "%d sent" % target)
        w.d.kill()
        w.d.start()
        w.wait_done("kill-1", timeout=120)
        w.d.stop()
        by_rcpt = {}
        for meta, m in w.smtp.messages():
            by_rcpt.setdefault(meta["rcpt"][0], set()).add(m["Message-ID"])
        assert len(by_rcpt) == n, (len(by_rcpt), n)
        for rcpt, mids in by_rcpt.items():
            assert len(mids) == 1, (rcpt, mids)     # duplicates: same ID
        dups = w.smtp.count() - n
        # Only deliveries in flight at the kill may arrive twice.
        assert dups <= 1024, dups
        print("# crash: %d delivered, %d duplicates" % (n, dups))
    finally:
        w.close()


if __name__ == "__main__":
    try:
        run_tests(collect(globals()))
    finally:
        shutil.rmtree(CA_DIR, ignore_errors=True)
