#!/usr/bin/python3
"""mime_check.py DIR - check the messages test_mime wrote (NAME.eml with the
expected values in NAME.json) with an independent parser: Python's email
package under policy.strict (any defect raises), plus raw checks on line
ends, line lengths, folding and encoded-words.  Exit 0 when all pass."""

import base64
import datetime
import email
import email.header
import glob
import json
import os
import re
import sys
from email import policy

EW = re.compile(rb"=\?([^?\s]*)\?([BbQq])\?([^?\s]*)\?=")
Q_PHRASE = re.compile(rb"^[A-Za-z0-9!*+\-/=_]*$")


def norm_body(s):
    """The body as the writer promises it: line ends CRLF, a final line
    end when missing; returned with LF for comparison."""
    s = s.replace("\r\n", "\n").replace("\r", "\n")
    if s and not s.endswith("\n"):
        s += "\n"
    return s


def header_fields(raw_head):
    """Split the raw header block into fields, each a list of lines."""
    fields = []
    for line in raw_head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if not fields:
                raise AssertionError("continuation line before any field")
            fields[-1].append(line)
        else:
            fields.append([line])
    return fields


def check_fold(field, errors, where):
    """No line over 998; over 78 only when no whitespace allowed a fold
    earlier on that line."""
    name = field[0].split(b":", 1)[0]
    for i, line in enumerate(field):
        if len(line) > 998:
            errors.append(f"{where}: {name!r} line of {len(line)} > 998")
        if len(line) <= 78:
            continue
        if i == 0:
            start = len(name) + 1
        else:
            start = 0
        while start < len(line) and line[start] in b" \t":
            start += 1
        if any(c in b" \t" for c in line[start:79]):
            errors.append(f"{where}: {name!r} line of {len(line)} > 78 "
                          "although whitespace allowed a fold")
        if i > 0 and not line.strip():
            errors.append(f"{where}: {name!r} whitespace-only line")


def check_encoded_words(field, errors, where):
    """Each encoded-word <= 75 octets, UTF-8, and whole characters alone
    (split only at UTF-8 boundaries)."""
    for line in field:
        for m in EW.finditer(line):
            word = m.group(0)
            if len(word) > 75:
                errors.append(f"{where}: encoded-word of {len(word)} > 75")
            if m.group(1).lower() != b"utf-8":
                errors.append(f"{where}: charset {m.group(1)!r}")
            text = m.group(3)
            if m.group(2) in b"Bb":
                data = base64.b64decode(text, validate=True)
            else:
                if not Q_PHRASE.match(text):
                    errors.append(f"{where}: Q word outside phrase set")
                data = re.sub(rb"=([0-9A-F]{2})",
                              lambda x: bytes([int(x.group(1), 16)]),
                              text.replace(b"_", b" "))
            try:
                data.decode("utf-8", errors="strict")
            except UnicodeDecodeError:
                errors.append(f"{where}: encoded-word splits a UTF-8 "
                              "character")


def check_part_raw(part_bytes, cte, boundary, errors, where):
    """Raw body of one part: line lengths and the encoding's rules."""
    lines = part_bytes.split(b"\r\n")
    for ln in lines:
        if cte == "7bit":
            if len(ln) > 998 or any(c >= 0x80 for c in ln):
                errors.append(f"{where}: 7bit line not 7bit/<= 998")
        elif cte == "quoted-printable":
            if len(ln) > 76:
                errors.append(f"{where}: QP line of {len(ln)} > 76")
            if ln[-1:] in (b" ", b"\t"):
                errors.append(f"{where}: QP line ends in whitespace")
            if ln.startswith(b".") or ln.startswith(b"From "):
                errors.append(f"{where}: QP line starts with . or From")
        elif cte == "base64":
            if len(ln) > 76:
                errors.append(f"{where}: base64 line of {len(ln)} > 76")
    if boundary is not None and boundary.encode() in part_bytes:
        errors.append(f"{where}: boundary occurs inside a part")


def has_gh128110():
    """CPython gh-128110 (fixed by python/cpython PR 130749): the modern
    address parser keeps the whitespace between adjacent encoded-words of a
    display name, which RFC 2047 6.2 says to ignore.  Debian 12's 3.11 has
    it; there, display names holding encoded-words are checked with the
    legacy email.header.decode_header, which follows 6.2."""
    m = email.message_from_bytes(b"To: =?UTF-8?Q?a?= =?UTF-8?Q?b?= <x@y.z>"
                                 b"\r\n\r\nx\r\n", policy=policy.strict)
    return m["To"].addresses[0].display_name != "ab"


PHRASE_BUG = has_gh128110()


def raw_value(fields, name):
    """The unfolded raw value of the one field called name."""
    for f in fields:
        n, _, v = f[0].partition(b":")
        if n.lower() == name.lower().encode():
            return (v + b"".join(f[1:])).strip(b" ").decode("ascii")
    return None


def check_one(jpath):
    errors = []
    exp = json.load(open(jpath, encoding="utf-8"))
    where = exp["name"]
    path = os.path.join(os.path.dirname(jpath), exp["name"] + ".eml")
    data = open(path, "rb").read()

    # Line ends: CRLF only.
    if re.search(rb"\r(?!\n)", data) or re.search(rb"(?<!\r)\n", data):
        errors.append(f"{where}: bare CR or LF")
    if not data.endswith(b"\r\n"):
        errors.append(f"{where}: does not end with CRLF")

    head, sep, _ = data.partition(b"\r\n\r\n")
    if not sep:
        return [f"{where}: no end of header"]
    fields = header_fields(head)
    for f in fields:
        check_fold(f, errors, where)
        check_encoded_words(f, errors, where)

    try:
        msg = email.message_from_bytes(data, policy=policy.strict)
    except Exception as e:  # strict raises on any defect
        return errors + [f"{where}: parse failed under policy.strict: {e!r}"]

    def hdr(name):
        h = msg[name]
        if h is not None and h.defects:
            errors.append(f"{where}: {name} defects {h.defects}")
        return h

    def want(cond, text):
        if not cond:
            errors.append(f"{where}: {text}")

    missing = False
    for name in ("From", "To", "Subject", "Date", "Message-ID",
                 "MIME-Version", "Auto-Submitted", "Content-Type"):
        want(hdr(name) is not None, f"{name} missing")
        want(len(msg.get_all(name) or []) <= 1, f"{name} repeated")
        missing = missing or msg[name] is None
    if missing:
        return errors

    want(str(hdr("Subject")) == exp["subject"],
         f"Subject {str(msg['Subject'])!r} != {exp['subject']!r}")
    for who in ("from", "to"):
        h = hdr(who.capitalize())
        addrs = h.addresses
        want(len(addrs) == 1, f"{who}: {len(addrs)} addresses")
        if len(addrs) == 1:
            a = addrs[0]
            want(a.addr_spec == exp[who + "_addr"],
                 f"{who} addr {a.addr_spec!r}")
            name = a.display_name
            raw = raw_value(fields, who)
            if PHRASE_BUG and "=?" in raw:
                phrase = raw.rsplit(" <", 1)[0]
                name = str(email.header.make_header(
                    email.header.decode_header(phrase)))
                want("".join(a.display_name.split()) ==
                     "".join(name.split()), f"{who} name (modern parser) "
                     f"{a.display_name!r}")
            want(name == (exp[who + "_name"] or ""),
                 f"{who} name {name!r} != {exp[who + '_name']!r}")
    d = hdr("Date").datetime
    want(d.tzinfo is not None and d.utcoffset() == datetime.timedelta(0),
         "Date not UTC")
    want(int(d.timestamp()) == exp["date"], f"Date {d} != {exp['date']}")
    want(str(hdr("Message-ID")) == exp["message_id"], "Message-ID")
    want(str(hdr("MIME-Version")) == "1.0", "MIME-Version")
    want(str(hdr("Auto-Submitted")) == exp["auto_submitted"],
         "Auto-Submitted")

    cl = hdr("Content-Language")
    if exp["content_language"] is None:
        want(cl is None, "Content-Language present")
    else:
        want(cl is not None and str(cl) == exp["content_language"],
             f"Content-Language {cl!r}")

    lu = hdr("List-Unsubscribe")
    urls = [u for u in (exp["https"], exp["mailto"]) if u]
    if urls:
        want(lu is not None and
             str(lu) == ", ".join("<%s>" % u for u in urls),
             f"List-Unsubscribe {str(lu)!r}")
    else:
        want(lu is None, "List-Unsubscribe present")
    lup = hdr("List-Unsubscribe-Post")
    if exp["https"]:
        want(lup is not None and str(lup) == "List-Unsubscribe=One-Click",
             "List-Unsubscribe-Post missing or wrong")
    else:
        want(lup is None, "List-Unsubscribe-Post without an https URL")

    # Structure and bodies.
    want(not msg.defects, f"message defects {msg.defects}")
    boundary = None
    if exp["html"] is None:
        want(msg.get_content_type() == "text/plain", "not text/plain")
        parts = [(msg, exp["text"])]
    else:
        want(msg.get_content_type() == "multipart/alternative",
             "not multipart/alternative")
        boundary = msg.get_boundary()
        want(boundary is not None and boundary.startswith("=_"),
             "boundary")
        sub = list(msg.iter_parts())
        want(len(sub) == 2, f"{len(sub)} parts")
        if len(sub) != 2:
            return errors
        want(sub[0].get_content_type() == "text/plain", "part 1 type")
        want(sub[1].get_content_type() == "text/html", "part 2 type")
        parts = [(sub[0], exp["text"]), (sub[1], exp["html"])]
    for part, text in parts:
        want(not part.defects, f"part defects {part.defects}")
        want(part.get_content_charset() == "utf-8", "charset")
        cte = part.get("Content-Transfer-Encoding", "7bit").lower()
        want(cte in ("7bit", "quoted-printable", "base64"), f"cte {cte}")
        body = part.get_content()
        want(norm_body(body) == norm_body(text) and
             body.replace("\r\n", "\n") == norm_body(text),
             f"{part.get_content_type()} body differs ({cte})")
        raw = part.get_payload(decode=False)
        check_part_raw(raw.encode("ascii", "surrogateescape")
                       if isinstance(raw, str) else raw,
                       cte, boundary, errors, where)
    return errors


def main():
    if len(sys.argv) != 2:
        print("usage: mime_check.py DIR", file=sys.stderr)
        return 2
    files = sorted(glob.glob(os.path.join(sys.argv[1], "*.json")))
    if not files:
        print("mime_check: no cases in " + sys.argv[1], file=sys.stderr)
        return 1
    if PHRASE_BUG:
        print("mime_check: note: this Python keeps spaces between encoded-"
              "words in display names (CPython gh-128110); those names are "
              "decoded with email.header.decode_header", file=sys.stderr)
    failed = 0
    for f in files:
        try:
            errs = check_one(f)
        except Exception as e:  # a malformed message must fail, not crash
            errs = [f"{os.path.basename(f)}: {e!r}"]
        for e in errs:
            print("mime_check: " + e, file=sys.stderr)
        failed += bool(errs)
    print(f"mime_check: {len(files) - failed}/{len(files)} messages pass "
          "(email, policy.strict)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
