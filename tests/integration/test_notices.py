"""Integration tests of notices: outreachctl preview through the real daemon,
template checks by outreachd -n and on reload.  Messages are parsed with
Python's email package under its strict policy."""
import email
import email.policy
import json
import os
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import OUTREACHD, ROOT, Daemon, collect, run_tests, wait_for  # noqa: E402

T = "embassy.ph.berlin.town-hall"


def files(d, **kw):
    out = {}
    for name, obj in kw.items():
        p = os.path.join(d.dir, name + ".json")
        with open(p, "w") as f:
            json.dump(obj, f, ensure_ascii=False)
        out[name] = p
    return out


EVENT_AM = {"v": 1, "id": "pv-1", "type": "town-hall",
            "title": {"am": "የከተማ ስብሰባ", "en": "Town hall"},
            "summary": {"en": "Questions and answers"},
            "starts_at": "2026-12-12T18:00:00+01:00",
            "timezone": "Europe/Berlin"}


def with_daemon(fn, **kw):
    d = Daemon(**kw).start()
    try:
        fn(d)
        assert d.stop() == 0
    finally:
        d.cleanup()


def test_preview_language_chain_ti_am_en():
    def body(d):
        f = files(d, ev=EVENT_AM, c={"id": "c-ti", "name": "Tesfay",
                                     "languages": ["ti", "am", "en"]})
        r = d.ctl("preview", "--event", f["ev"], "--topic", T, "--sample",
                  f["c"], "--json")
        assert r.returncode == 0, r.stderr
        p = json.loads(r.stdout)
        assert p["lang"] == "en" and p["set"] == "town-hall", p
        assert p["content_language"] == "am, en", p
        assert "የከተማ ስብሰባ" in p["subject"], p["subject"]
        assert "Dear Tesfay" in p["text"], p["text"]
        msg = email.message_from_string(p["raw"], policy=email.policy.strict)
        assert msg["Content-Language"] == "am, en"
        assert "የከተማ ስብሰባ" in str(msg["Subject"])
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg["List-Unsubscribe"].startswith("<https://outreach.example.org/")
        assert "mailto:" in msg["List-Unsubscribe"]
        assert msg.get_content_type() == "multipart/alternative"
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        assert "Tesfay" in text and "Saturday" in text, text
        assert '<html lang="en" dir="ltr"' in html, html[:200]
        assert "<img" not in html.lower() and "<script" not in html.lower()
        for part in msg.walk():
            assert not part.defects, part.defects
        # The raw message names the sample's reserved address only.
        assert "sample@example.invalid" in p["raw"]
        r = d.ctl("preview", "--event", f["ev"], "--topic", T, "--sample",
                  f["c"], "--part", "subject")
        assert r.stdout == p["subject"], r.stdout
    with_daemon(body)


def test_preview_arabic_is_rtl_and_french_dates():
    def body(d):
        ev = dict(EVENT_AM, title={"ar": "اجتماع عام", "fr": "Assemblée",
                                   "en": "Town hall"})
        f = files(d, ev=ev, ar={"id": "c-ar", "languages": ["ar"]},
                  fr={"id": "c-fr", "languages": ["fr-CA"]})
        p = json.loads(d.ctl("preview", "--event", f["ev"], "--topic", T,
                             "--sample", f["ar"], "--json").stdout)
        assert p["lang"] == "ar" and p["rtl"] is True, p
        assert 'dir="rtl"' in p["html"], p["html"][:300]
        assert "اجتماع عام" in p["subject"]
        p = json.loads(d.ctl("preview", "--event", f["ev"], "--topic", T,
                             "--sample", f["fr"], "--json").stdout)
        assert p["lang"] == "fr" and p["rtl"] is False, p
        assert "samedi" in p["text"] and "décembre" in p["text"], p["text"]
    with_daemon(body)


def test_preview_real_contact_is_audited():
    def body(d):
        r = d.ctl_request({"cmd": "contacts-import", "rows": [
            {"line": 2, "cells": {"id": "c-1", "name": "Maria Santos",
                                  "email": "maria@example.org",
                                  "languages": "tl;en",
                                  "subscriptions": "embassy.ph.berlin."}}]})
        assert r["ok"] and r["added"] == 1, r
        f = files(d, ev=EVENT_AM)
        r = d.ctl("preview", "--event", f["ev"], "--topic", T, "--contact",
                  "c-1", "--part", "raw")
        assert r.returncode == 0, r.stderr
        msg = email.message_from_string(r.stdout, policy=email.policy.strict)
        assert msg["To"].addresses[0].addr_spec == "maria@example.org"
        assert msg["From"].addresses[0].display_name == \
            "Embassy of the Philippines in Berlin"
        audit = d.query("SELECT uid, action, subject FROM audit")
        assert audit == [(os.getuid(), "preview", "c-1")], audit
        # The address never reaches the log.
        assert "maria@example.org" not in d.log()
        r = d.ctl("preview", "--event", f["ev"], "--topic", T, "--contact",
                  "nobody")
        assert r.returncode != 0 and "no contact nobody" in r.stderr, r.stderr
    with_daemon(body)


def test_preview_refuses_bad_event():
    def body(d):
        f = files(d, ev={"v": 1, "id": "x", "type": "town-hall"},
                  c={"id": "c"})
        r = d.ctl("preview", "--event", f["ev"], "--topic", T, "--sample",
                  f["c"])
        assert r.returncode != 0 and "missing_field" in r.stderr, r.stderr
    with_daemon(body)


def broken_templates(d):
    tpl = os.path.join(d.dir, "templates")
    shutil.copytree(os.path.join(ROOT, "conf", "templates"), tpl)
    p = os.path.join(tpl, "town-hall", "en.txt")
    with open(p, "a") as f:
        f.write("\n{{#event.title}}never closed\n")
    return tpl, p


def test_check_mode_reports_template_error_with_position():
    d = Daemon()
    try:
        r = subprocess.run([OUTREACHD, "-n", "-f", d.config],
                           capture_output=True, text=True)
        assert r.returncode == 0 and "template sets" in r.stdout, r.stdout
        tpl, bad = broken_templates(d)
        d.templates = tpl
        d.write_config()
        r = subprocess.run([OUTREACHD, "-n", "-f", d.config],
                           capture_output=True, text=True)
        assert r.returncode == 1, r.stdout
        assert bad + ":" in r.stderr and "event.title" in r.stderr, r.stderr
    finally:
        d.cleanup()


def test_reload_with_broken_template_keeps_old_sets():
    def body(d):
        f = files(d, ev=EVENT_AM, c={"id": "c", "languages": ["en"]})
        tpl, bad = broken_templates(d)
        d.templates = tpl
        d.write_config()
        d.sig(signal.SIGHUP)
        wait_for(lambda: d.status()["reload_failures"] == 1, what="failed reload")
        assert bad in d.log(), d.log()
        r = d.ctl("preview", "--event", f["ev"], "--topic", T, "--sample",
                  f["c"])
        assert r.returncode == 0 and "TOWN HALL" in r.stdout.upper(), r.stderr
    with_daemon(body)


if __name__ == "__main__":
    run_tests(collect(globals()))
