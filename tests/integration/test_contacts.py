"""Integration tests of the contacts directory and audiences with the real
daemon: CSV import and export through outreachctl, audiences with every
filter checked against an independent computation here, audit entries,
unsubscribe tokens, erase, and SIGKILL during a large fan-out.

OUTREACH_FANOUT_CONTACTS sets the size of the fan-out crash test (default
50000, 5000 under ASan); CRASH_SEED replays its kill time."""
import csv
import io
import json
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ASAN, SLOW, Daemon, collect, event, run_tests, wait_for  # noqa: E402

CITIES = ["Berlin", "Munich", "Hamburg", "Köln"]
LANGS = [["tl", "en"], ["ar"], ["fr-CA"], ["en"], ["ti", "am", "en"]]
TAGS = [[], ["students"], ["nurses"], ["students", "nurses"]]
SUBS = [["embassy.ph.berlin."], ["embassy.ph."], ["consulate.ph.frankfurt."],
        ["embassy.ph.berlin.consular-day"], ["embassy."]]


def make_contacts(n, seed=1):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        c = {"id": "c-%05d" % i, "name": "Person %d" % i,
             "languages": rng.choice(LANGS), "country": rng.choice(["DE", "AT"]),
             "city": rng.choice(CITIES), "tags": rng.choice(TAGS),
             "subscriptions": rng.choice(SUBS), "status": "active",
             "test": rng.random() < 0.1}
        if rng.random() < 0.9:
            c["email"] = "person%d@example.org" % i
        if rng.random() < 0.2 or "email" not in c:
            c["webhook_url"] = "https://org%d.example.org/hook" % (i % 7)
        if rng.random() < 0.05:
            c["status"] = "unsubscribed"
        out.append(c)
    return out


COLUMNS = ["id", "name", "email", "webhook_url", "languages", "country",
           "city", "tags", "subscriptions", "status", "test"]


def write_csv(path, contacts, bad_rows=()):
    with open(path, "w", newline="", encoding="utf-8") as f:
        f.write("\ufeff")
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(COLUMNS)
        for c in contacts:
            row = []
            for k in COLUMNS:
                v = c.get(k, "")
                if isinstance(v, list):
                    v = ";".join(v)
                elif isinstance(v, bool):
                    v = "true" if v else "false"
                row.append(v)
            w.writerow(row)
        for r in bad_rows:
            w.writerow(r)


def expected_audience(contacts, topic, ev):
    aud = ev.get("audience", {})
    exercise = ev.get("status", "actual") != "actual"
    out = set()
    for c in contacts:
        if c["status"] != "active" or (exercise and not c["test"]):
            continue
        if not any(topic.startswith(s) if s.endswith(".") else topic == s
                   for s in c["subscriptions"]):
            continue
        if "countries" in aud and c["country"] not in aud["countries"]:
            continue
        if "cities" in aud and c["city"].lower() not in [x.lower() for x in aud["cities"]]:
            continue
        if "tags" in aud and not set(c["tags"]) & set(aud["tags"]):
            continue
        if "languages" in aud and not any(
                l.lower() == a.lower() or l.lower().startswith(a.lower() + "-")
                for l in c["languages"] for a in aud["languages"]):
            continue
        out.add(c["id"])
    return out


def deliveries(d, eid):
    rows = d.query("SELECT c.ext_id, dl.channel, dl.state FROM deliveries dl"
                   " JOIN events e ON e.id = dl.event JOIN contacts c ON"
                   " c.id = dl.contact WHERE e.event_id = ?", eid)
    return rows


def assert_status_counts(d):
    """status's journal counts, kept by the daemon's writers, agree
    with count(*) of each table."""
    j = d.ctl_request({"cmd": "status"})["journal"]
    for table in ("events", "contacts", "deliveries"):
        n = d.query("SELECT count(*) FROM %s" % table)[0][0]
        assert j[table] == n, (table, j[table], n)


def with_daemon(fn, **kw):
    d = Daemon(**kw).start()
    try:
        fn(d)
        assert d.stop() == 0
    finally:
        d.cleanup()


def test_import_audiences_and_filters():
    contacts = make_contacts(3000 if not ASAN else 600)

    def body(d):
        path = os.path.join(d.dir, "contacts.csv")
        write_csv(path, contacts, bad_rows=[
            ["bad-1", "X", "not-an-address"] + [""] * 8,
            ["bad@2", "Y", "y@example.org"] + [""] * 8,
            ["bad-3", "Z", "z@example.org", "", "klingon-xx-yy-zz-ww-qq-rr-ss-tt-uu-vv-ww-xx-yy"] + [""] * 6,
        ])
        r = d.ctl("contacts", "import", path)
        assert r.returncode == 65, (r.returncode, r.stderr)
        assert "added %d, updated 0, unchanged 0, rejected 3" % len(contacts) \
            in r.stdout + r.stderr, r.stdout + r.stderr
        n = len(contacts)
        assert "line %d: email:" % (n + 2) in r.stderr, r.stderr
        assert "line %d: id:" % (n + 3) in r.stderr, r.stderr
        # No address in any message.
        assert "not-an-address" not in r.stderr and "y@example.org" not in r.stderr
        # The same file again changes nothing.
        r = d.ctl("contacts", "import", path)
        assert "added 0, updated 0, unchanged %d, rejected 3" % n \
            in r.stdout + r.stderr, r.stdout + r.stderr
        pub = d.publisher()
        cases = [
            ("embassy.ph.berlin.town-hall", {}),
            ("embassy.ph.berlin.consular-day", {}),
            ("embassy.ph.berlin.town-hall", {"audience": {"cities": ["munich", "Köln"]}}),
            ("embassy.ph.berlin.town-hall", {"audience": {"languages": ["en"]}}),
            ("embassy.ph.berlin.town-hall", {"audience": {"languages": ["fr"], "countries": ["DE"]}}),
            ("embassy.ph.berlin.town-hall", {"audience": {"tags": ["nurses"], "cities": ["Berlin"]}}),
            ("embassy.ph.berlin.town-hall", {"status": "exercise"}),
            ("consulate.ph.frankfurt.town-hall", {}),
        ]
        for i, (topic, extra) in enumerate(cases):
            ev = event("aud-%d" % i, **extra)
            r = pub.request(topic, ev)
            want = expected_audience(contacts, topic, ev)
            assert r["status"] == "accepted", r
            assert r["recipients"] == len(want), (i, r["recipients"], len(want))
            wait_for(lambda: d.query("SELECT fanout_done FROM events WHERE "
                                     "event_id = ?", "aud-%d" % i)[0][0] == 1,
                     what="fan-out")
            got = deliveries(d, "aud-%d" % i)
            gotset = {c for c, _, _ in got}
            assert gotset == want, (i, sorted(gotset - want)[:5], sorted(want - gotset)[:5], [x for x in got if x[0] in gotset - want][:3])
            chans = {}
            for c, ch, st in got:
                chans.setdefault(c, set()).add(ch)
                assert st == "pending", st
            byid = {c["id"]: c for c in contacts}
            for c, chs in chans.items():
                exp = set()
                if "email" in byid[c]:
                    exp.add("smtp")
                if "webhook_url" in byid[c]:
                    exp.add("webhook")
                assert chs == exp, (c, chs, exp)
            r = d.ctl("event", "aud-%d" % i, "--once")
            assert "%d recipients" % len(want) in r.stdout, r.stdout + r.stderr
        pub.close()
        assert_status_counts(d)
        # The list verb with filters shows ids and names, no addresses.
        r = d.ctl("contacts", "list", "--city", "Munich", "--tag", "nurses")
        ids = {line.split()[0] for line in r.stdout.splitlines() if line.strip()}
        want = {c["id"] for c in contacts if c["city"] == "Munich" and "nurses" in c["tags"]}
        assert ids == want, (len(ids), len(want))
        assert "@" not in r.stdout
    with_daemon(body, log_level="notice")


def test_export_import_round_trip_and_audit():
    contacts = make_contacts(500, seed=7)

    def body(d):
        path = os.path.join(d.dir, "in.csv")
        write_csv(path, contacts)
        r = d.ctl("contacts", "import", path)
        assert r.returncode == 0, r.stderr
        out = os.path.join(d.dir, "out.csv")
        r = d.ctl("contacts", "export", out)
        assert r.returncode == 0, r.stderr
        assert os.stat(out).st_mode & 0o777 == 0o600
        before = d.query("SELECT ext_id, name, email, webhook_url, languages,"
                         " country, city, tags, status, test FROM contacts ORDER BY ext_id")
        # A second daemon imports the export into the same state.
        d2 = Daemon(name="t2").start()
        try:
            r = d2.ctl("contacts", "import", out)
            assert r.returncode == 0, r.stderr
            after = d2.query("SELECT ext_id, name, email, webhook_url, languages,"
                             " country, city, tags, status, test FROM contacts ORDER BY ext_id")
            assert before == after
            subs1 = d.query("SELECT c.ext_id, s.prefix FROM subscriptions s JOIN contacts c ON c.id = s.contact ORDER BY 1, 2")
            subs2 = d2.query("SELECT c.ext_id, s.prefix FROM subscriptions s JOIN contacts c ON c.id = s.contact ORDER BY 1, 2")
            assert subs1 == subs2
            r = d2.ctl("contacts", "import", out)
            assert "unchanged %d" % len(contacts) in r.stdout + r.stderr
            assert d2.stop() == 0
        finally:
            d2.cleanup()
        r = d.ctl("contacts", "show", "c-00003")
        assert r.returncode == 0 and "c-00003" in r.stdout, r.stderr
        audit = d.query("SELECT uid, action, subject FROM audit ORDER BY id")
        assert audit == [(os.getuid(), "export", None),
                         (os.getuid(), "show", "c-00003")], audit
        log = d.log()
        for c in contacts[:50]:
            assert c.get("email", "@@") not in log
            assert c["name"] not in log
    with_daemon(body, log_level="debug")


def test_unsubscribe_token_resubscribe_and_erase():
    def body(d):
        r = d.ctl("contacts", "add", "--id", "u-1", "--name", "Ana",
                  "--email", "ana@example.org", "--subscriptions",
                  "embassy.ph.berlin.", "--languages", "tl")
        assert r.returncode == 0, r.stderr
        r = d.ctl("contacts", "add", "--id", "u-1", "--email", "x@example.org")
        assert r.returncode != 0 and "exists" in r.stderr, r.stderr
        # The token from a notice's List-Unsubscribe URL.
        sample = os.path.join(d.dir, "ev.json")
        with open(sample, "w") as f:
            json.dump(event("t-1"), f)
        p = json.loads(d.ctl("preview", "--event", sample, "--topic",
                             "embassy.ph.berlin.town-hall", "--contact", "u-1",
                             "--json").stdout)
        token = p["raw"].split("unsubscribe?token=")[1].split(">")[0]
        r = d.ctl("contacts", "unsubscribe", "--token", token[:-2] + "xx")
        assert r.returncode != 0 and "not valid" in r.stderr, r.stderr
        r = d.ctl("contacts", "unsubscribe", "--token", token)
        assert r.returncode == 0, r.stderr
        assert d.query("SELECT status FROM contacts WHERE ext_id='u-1'") == [("unsubscribed",)]
        pub = d.publisher()
        assert pub.request("embassy.ph.berlin.town-hall", event("after-unsub"))["recipients"] == 0
        r = d.ctl("contacts", "resubscribe", "u-1")
        assert r.returncode == 0, r.stderr
        assert pub.request("embassy.ph.berlin.town-hall", event("after-resub"))["recipients"] == 1
        wait_for(lambda: d.query("SELECT count(*) FROM deliveries")[0][0] == 1, what="delivery")
        assert_status_counts(d)
        # An unsubscribe after acceptance: the contact was counted, and
        # its delivery is made "skipped".
        r = d.ctl("contacts", "erase", "--yes", "u-1")
        assert r.returncode == 0, r.stderr
        assert d.query("SELECT count(*) FROM contacts") == [(0,)]
        assert d.query("SELECT count(*) FROM deliveries") == [(0,)]
        assert_status_counts(d)
        stats = dict(d.query("SELECT name, value FROM stats"))
        assert stats["erased_contacts"] == 1 and stats["erased_deliveries_pending"] == 1, stats
        audit = d.query("SELECT action, subject FROM audit")
        assert ("preview", "erased contact") in audit and ("erase", None) in audit, audit
        pub.close()
    with_daemon(body)


def test_erase_leaves_no_trace_in_the_journal_files():
    """After an erase and the checkpoint that follows, neither the journal
    nor its write-ahead log holds the person's name, address or id: the
    journal deletes with secure_delete on, and the WAL is truncated."""
    markers = (b"Zyxwvutsr", b"zyxwvutsr@marker.example", b"zz-erase-me")

    def traces(d):
        found = []
        for name in ("journal.db", "journal.db-wal"):
            path = os.path.join(os.path.dirname(d.db), name)
            if os.path.exists(path):
                with open(path, "rb") as f:
                    data = f.read()
                found += [(name, m) for m in markers if m in data]
        return found

    def body(d):
        for i in range(40):
            r = d.ctl("contacts", "add", "--id", "f-%d" % i, "--name",
                      "Filler %d" % i, "--email", "f%d@example.org" % i,
                      "--subscriptions", "embassy.ph.berlin.")
            assert r.returncode == 0, r.stderr
        r = d.ctl("contacts", "add", "--id", "zz-erase-me", "--name",
                  "Zyxwvutsr Marker", "--email", "zyxwvutsr@marker.example",
                  "--subscriptions", "embassy.ph.berlin.")
        assert r.returncode == 0, r.stderr
        pub = d.publisher()
        assert pub.request("embassy.ph.berlin.town-hall",
                           event("er-1"))["recipients"] == 41
        pub.close()
        wait_for(lambda: d.query("SELECT count(*) FROM deliveries")[0][0]
                 == 41, what="fan-out")
        wait_for(lambda: traces(d), what="the marker on disk first")
        r = d.ctl("contacts", "erase", "--yes", "zz-erase-me")
        assert r.returncode == 0, r.stderr
        wait_for(lambda: not traces(d), 10,
                 "no trace of the erased person in the journal files")
        assert_status_counts(d)
    with_daemon(body)


def test_event_and_deliveries_read_in_slices():
    """`event` on an event with more deliveries than one turn counts
    (2,000) answers after counting them in slices, with the same counts
    as one GROUP BY, found with or without its post; `deliveries` lists
    what one ORDER BY updated_at would, most recently changed first."""
    n = 2600    # both channels: 5,200 deliveries, three slices

    def body(d):
        path = os.path.join(d.dir, "big.csv")
        with open(path, "w") as f:
            f.write("id,name,email,webhook_url,languages,subscriptions\n")
            for i in range(n):
                f.write("b-%d,B %d,b%d@example.org,https://hooks.example.org"
                        "/%d,en,embassy.ph.berlin.\n" % (i, i, i, i))
        r = d.ctl("contacts", "import", path)
        assert r.returncode == 0, r.stderr
        pub = d.publisher()
        assert pub.request("embassy.ph.berlin.town-hall",
                           event("big-1"))["recipients"] == n
        pub.close()
        wait_for(lambda: d.query("SELECT fanout_done FROM events WHERE "
                                 "event_id = 'big-1'")[0][0] == 1,
                 what="fan-out")
        want = dict(d.query("SELECT state, count(*) FROM deliveries"
                            " GROUP BY state"))
        assert sum(want.values()) == 2 * n, want
        for req in ({"cmd": "event", "id": "big-1"},
                    {"cmd": "event", "id": "big-1", "post": "ph-berlin"}):
            got = d.ctl_request(req)["event"]["deliveries"]
            assert got == want, (req, got, want)
        r = d.ctl("event", "big-1", "--once")
        assert r.returncode == 0 and "%d recipients" % n in r.stdout, \
            r.stdout + r.stderr
        assert d.ctl_request({"cmd": "event", "id": "big-1",
                              "post": "nope"})["code"] == "not_found"
        # The list, read a slice a turn too: most recently changed
        # first, as one ORDER BY over the table would give.
        pub = d.publisher()
        assert pub.request("embassy.ph.berlin.consular-day",
                           event("big-2"))["recipients"] == n
        pub.close()
        wait_for(lambda: d.query("SELECT count(*) FROM deliveries")[0][0]
                 == 4 * n, what="second fan-out")
        time.sleep(0.01)
        r = d.ctl("cancel", "big-1")
        assert r.returncode == 0, r.stdout + r.stderr

        def want(state, limit):
            q = ("SELECT e.event_id, c.ext_id, d.channel, d.state FROM"
                 " deliveries d JOIN events e ON e.id = d.event JOIN"
                 " contacts c ON c.id = d.contact %s ORDER BY d.updated_at"
                 " DESC, d.event DESC, d.contact DESC, d.channel DESC"
                 " LIMIT %d" % ("WHERE d.state = ?" if state else "",
                                limit))
            return d.query(q, state) if state else d.query(q)
        for state, limit in ((None, 7), ("cancelled", 1000),
                             ("pending", 3), ("sent", 5)):
            req = {"cmd": "deliveries", "limit": limit}
            if state:
                req["state"] = state
            rows = d.ctl_request(req)["deliveries"]
            got = [(x["event"], x["contact"], x["channel"], x["state"])
                   for x in rows]
            assert got == want(state, limit), (state, got[:3],
                                               want(state, limit)[:3])
        rows = d.ctl_request({"cmd": "deliveries", "event": "big-2",
                              "limit": 4})["deliveries"]
        assert len(rows) == 4 and {x["event"] for x in rows} == {"big-2"}
    with_daemon(body, log_level="notice")


def test_skipped_when_unsubscribed_after_acceptance():
    def body(d):
        rows = [{"line": i + 2, "cells": {"id": "s-%d" % i, "email": "s%d@example.org" % i,
                                          "subscriptions": "embassy.ph.berlin."}}
                for i in range(3000)]
        for b in range(0, 3000, 1000):
            assert d.ctl_request({"cmd": "contacts-import", "rows": rows[b:b + 1000]})["added"] == 1000
        pub = d.publisher()
        # Test hook: hold the fan-out so the unsubscribe lands before it.
        r = pub.request("embassy.ph.berlin.town-hall", event("sk-1"))
        assert r["recipients"] == 3000
        d.ctl("contacts", "unsubscribe", "s-2999")
        wait_for(lambda: d.query("SELECT fanout_done FROM events")[0][0] == 1, what="fan-out")
        states = dict(d.query("SELECT state, count(*) FROM deliveries GROUP BY state"))
        assert sum(states.values()) == 3000, states
        # Whether s-2999's delivery was made before or after its
        # unsubscribe, it is never pending once the contact left.
        st = d.query("SELECT dl.state FROM deliveries dl JOIN contacts c ON c.id = dl.contact WHERE c.ext_id = 's-2999'")
        assert st in ([("skipped",)], [("pending",)]), st
        pub.close()
    with_daemon(body, log_level="notice")


def test_sigkill_during_fanout_one_delivery_each():
    n = int(os.environ.get("OUTREACH_FANOUT_CONTACTS", "5000" if ASAN else "50000"))
    seed = int(os.environ.get("CRASH_SEED", str(random.randrange(1 << 30))))
    print("fan-out crash: %d contacts, seed %d (replay: CRASH_SEED=%d)" % (n, seed, seed), flush=True)
    rng = random.Random(seed)
    d = Daemon(name="fanout", log_level="notice").start()
    try:
        for b in range(0, n, 1000):
            rows = [{"line": i + 2, "cells": {"id": "f-%06d" % i, "email": "f%d@example.org" % i,
                                              "subscriptions": "embassy.ph."}}
                    for i in range(b, min(n, b + 1000))]
            r = d.ctl_request({"cmd": "contacts-import", "rows": rows})
            assert r["added"] == len(rows), r
        pub = d.publisher()
        r = pub.request("embassy.ph.berlin.town-hall", event("big-1"))
        assert r["recipients"] == n, r
        pub.close()
        # Kill somewhere in the fan-out, more than once.
        for k in range(3):
            target = rng.uniform(0.05, 0.9) * n
            deadline = time.time() + 30 * SLOW
            while time.time() < deadline:
                made = d.query("SELECT count(*) FROM deliveries")[0][0]
                done = d.query("SELECT fanout_done FROM events")[0][0]
                if made >= target or done:
                    break
                time.sleep(0.005)
            d.kill()
            print("fan-out crash: killed at %d deliveries" % made, flush=True)
            d.start()
        wait_for(lambda: d.query("SELECT fanout_done FROM events")[0][0] == 1,
                 timeout=60, what="fan-out to finish")
        rows = d.query("SELECT count(*), count(DISTINCT contact) FROM deliveries")
        assert rows == [(n, n)], rows
        assert d.query("SELECT recipients FROM events") == [(n,)]
        assert d.stop() == 0
    finally:
        d.cleanup()


if __name__ == "__main__":
    run_tests(collect(globals()))
