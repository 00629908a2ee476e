"""deliver.py - the delivery benchmark (issue 5), run by `make bench`.

Publish -> delivered at the sink, over verified TLS (a throwaway CA), each
notice rendered for its own contact:
  (a) one event to N e-mail contacts through one STARTTLS relay;
  (b) the same with N webhook contacts;
  (c) a critical alert to 1 contact, 200 times: publish -> delivered.
In the same run, the ceilings it is compared with: the SMTP sink's own
with the pipelining load generator (bench/smtpload.c), and
`curl --parallel --parallel-max 8` against the HTTPS sink, at the sizes
the daemon sends; and for (b) the floor, tools/hooksend: the daemon's
webhook sender alone, with no scheduler, rendering or journal.  After one fan-out not measured (the relay's
connections open, the caches warm), each daemon run is followed by a
reference run, and a share is the median of the pairs' ratios; each
figure is the median of RUNS runs.  The daemon's CPU seconds and peak RSS come
from /proc.  Environment: BENCH_CONTACTS (10000), BENCH_RUNS (5),
BENCH_ALERTS (200), BENCH_CONNECTIONS (16: the relay's connections and
smtpload's, and the webhook connections per host), BUILD.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from harness import BUILD, Daemon, event, wait_for  # noqa: E402
from sinks import HttpSink, SmtpSink, make_ca  # noqa: E402

N = int(os.environ.get("BENCH_CONTACTS", "10000"))
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
ALERTS = int(os.environ.get("BENCH_ALERTS", "200"))
CONNS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / TICK


def proc_hwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def smtp_ceiling_once(sink, ca, size):
    """One smtpload run against sink: msgs/s."""
    out = subprocess.run(
        [os.path.join(BUILD, "bench", "smtpload"), "--connect",
         "127.0.0.1:%d" % sink.port, "--ca", os.path.join(ca, "ca.pem"),
         "--starttls", "--connections", str(CONNS), "--messages", str(N),
         "--size", str(size)],
        capture_output=True, text=True, check=True).stdout
    # "smtpload: N messages in S s: R msgs/s"
    return float(out.split(":")[-1].split()[0])


def curl_ceiling_once(sink, ca, body):
    """One `curl --parallel --parallel-max 8` run of N POSTs of the file
    body against sink: requests/s.  One glob URL: curl's own loop, 8
    transfers at a time, keep-alive."""
    url = "https://127.0.0.1:%d/hook/[1-%d]" % (sink.port, N)
    t0 = time.monotonic()
    subprocess.run(["curl", "--silent", "--show-error", "--fail",
                    "--no-progress-meter", "--parallel",
                    "--parallel-max", "8",
                    "--cacert", os.path.join(ca, "ca.pem"),
                    "-H", "Content-Type: application/json",
                    "--data-binary", "@" + body, url],
                   check=True, stdout=subprocess.DEVNULL)
    return N / (time.monotonic() - t0)


def hooksend_once(sink, ca, body, secfile):
    """One run of tools/hooksend (the daemon's webhook sender alone:
    libcurl multi and the signing, in the daemon's loop, with no
    scheduler, rendering or journal) of N signed POSTs of the file body
    over CONNS connections to sink: requests/s.  What the daemon's
    webhook path could reach if everything but the sending cost
    nothing."""
    url = "https://127.0.0.1:%d/hook/floor" % sink.port
    t0 = time.monotonic()
    out = subprocess.run(
        [os.path.join(BUILD, "tools", "hooksend"), "--secret-file", secfile,
         "--count", str(N), "--url", url, "--ca", os.path.join(ca, "ca.pem"),
         "--allow-loopback", "--connections", str(CONNS),
         "--body-file", body, "--quiet"],
        capture_output=True, text=True, check=True).stdout
    elapsed = time.monotonic() - t0
    # "sent N retry N failed N gone N not_sent N in S s (R req/s)"
    sent = int(out.split()[1])
    assert sent == N, out
    return N / elapsed


def daemon_world(work, ca, smtp_port, http_port, name):
    secfile = os.path.join(work, name + ".secrets")
    with open(secfile, "w") as f:
        f.write(SECRET + "\n")
    os.chmod(secfile, 0o600)
    cfg = """
tls: { ca_file = "%s/ca.pem"; };
smtp: { relays = ( { name = "sink"; host = "127.0.0.1"; port = %d;
  max_connections = %d; max_messages_per_connection = 100000; } ); };
webhooks: { secret_file = "%s"; allow_loopback = true;
  max_connections_per_host = %d; };
""" % (ca, smtp_port, CONNS, secfile, CONNS)
    d = Daemon(name, extra_config=cfg, log_level="notice")
    d.start()
    return d


def import_contacts(d, work, kind, http_port, n, name="c"):
    path = os.path.join(work, "%s-%s.csv" % (kind, name))
    with open(path, "w") as f:
        f.write("id,name,email,webhook_url,languages,country,city,"
                "subscriptions\n")
        for i in range(n):
            cid = "%s-%s-%06d" % (name, kind, i)
            if kind == "smtp":
                f.write("%s,Person %d,p%d@example.org,,en;fr,DE,Berlin,"
                        "embassy.ph.berlin.\n" % (cid, i, i))
            else:
                f.write("%s,Org %d,,https://127.0.0.1:%d/hook/%d,en,DE,"
                        "Berlin,embassy.ph.berlin.\n" % (cid, i, http_port, i))
    r = d.ctl("contacts", "import", path)
    assert r.returncode == 0, r.stderr


def publish(d, eid, **kw):
    p = d.publisher()
    try:
        reply = p.request("embassy.ph.berlin.town-hall",
                          event(eid, body="Doors open at 17:30.", **kw))
    finally:
        p.close()
    assert reply and reply.get("status") == "accepted", reply
    return reply


def run_fanout(d, sink, eid, n):
    """Publish one event to n contacts; time until the sink has them all
    (asked with SIGUSR1, which costs the daemon nothing), then check the
    daemon recorded every one sent."""
    pid = d.proc.pid
    base = sink.received()
    cpu0 = proc_cpu(pid)
    t0 = time.monotonic()
    publish(d, eid)
    while sink.received() - base < n:
        if time.monotonic() - t0 > 600:
            raise AssertionError("event %s not delivered" % eid)
        time.sleep(0.01)
    elapsed = time.monotonic() - t0
    cpu = proc_cpu(pid) - cpu0

    def done():
        per = d.ctl_request({"cmd": "event", "id": eid})["event"]["deliveries"]
        return per.get("sent", 0) >= n and per
    per = wait_for(done, 60, "event %s recorded" % eid)
    assert per.get("sent") == n, per
    return n / elapsed, elapsed, cpu


def bench_channel(work, ca, kind, size):
    """RUNS fan-outs of one event to N contacts of kind, each followed by
    a run of the reference on its own sink (smtpload for e-mail, curl for
    webhooks): the VM's speed drifts by a third within minutes, so each
    daemon run is compared with a reference run made right after it."""
    smtp = SmtpSink(work, ca, name="smtp-" + kind, out=False)
    http = HttpSink(work, ca, name="http-" + kind, secrets=(SECRET,),
                    out=False)
    if kind == "smtp":
        ref = SmtpSink(work, ca, name="ceiling", out=False)
    else:
        ref = HttpSink(work, ca, name="curlsink", secrets=(SECRET,),
                       out=False)
        bodyfile = os.path.join(work, "body.json")
        with open(bodyfile, "w") as f:
            f.write('{"pad":"%s"}' % ("x" * max(0, size - 10)))
    d = daemon_world(work, ca, smtp.port, http.port, "bench-" + kind)
    try:
        import_contacts(d, work, kind, http.port, N)
        # One fan-out not measured: connections open and caches warm, as
        # in a daemon that has been running (smtpload and curl open their
        # connections within their runs, which last as long).
        run_fanout(d, smtp if kind == "smtp" else http, kind + "-warm-up", N)
        rates, times, cpus, refs, ratios = [], [], [], [], []
        floors, fratios = [], []
        for i in range(RUNS):
            rate, el, cpu = run_fanout(d, smtp if kind == "smtp" else http,
                                       "%s-run-%d" % (kind, i), N)
            if kind == "smtp":
                r = smtp_ceiling_once(ref, ca, size)
            else:
                r = curl_ceiling_once(ref, ca, bodyfile)
                f = hooksend_once(ref, ca, bodyfile,
                                  os.path.join(work, "bench-webhook.secrets"))
                floors.append(f)
                fratios.append(f / r)
            rates.append(rate)
            times.append(el)
            cpus.append(cpu)
            refs.append(r)
            ratios.append(rate / r)
        hwm = proc_hwm_kib(d.proc.pid)
        med = statistics.median
        return {"rate": med(rates), "time": med(times), "cpu": med(cpus),
                "ref": med(refs), "ratio": med(ratios), "hwm": hwm,
                "pairs": list(zip(rates, refs)),
                "floor": med(floors) if floors else None,
                "floor_ratio": med(fratios) if fratios else None,
                "floor_pairs": list(zip(floors, refs))}
    finally:
        d.stop()
        shutil.rmtree(d.dir, ignore_errors=True)
        smtp.stop()
        http.stop()
        ref.stop()


def bench_alerts(work, ca):
    # A fresh spool: the latencies are read off its messages.jsonl.
    shutil.rmtree(os.path.join(work, "smtp-alert-out"), ignore_errors=True)
    smtp = SmtpSink(work, ca, name="smtp-alert", out=True)
    http = HttpSink(work, ca, name="http-alert", secrets=(SECRET,),
                    out=False)
    d = daemon_world(work, ca, smtp.port, http.port, "bench-alert")
    lat = []
    try:
        import_contacts(d, work, "smtp", http.port, 1, name="alert")
        p = d.publisher()
        path = os.path.join(smtp.out, "messages.jsonl")
        seen = 0
        for i in range(ALERTS):
            t0 = time.time()
            p.send("embassy.ph.berlin.crisis",
                   event("alert-%d" % i, type="crisis", priority="critical",
                         title={"en": "Alert %d" % i}))
            reply = p.recv()
            assert reply and reply.get("status") == "accepted", reply

            def arrived():
                if not os.path.exists(path):
                    return None
                with open(path) as f:
                    lines = f.read().splitlines()
                return lines[seen] if len(lines) > seen else None
            line = wait_for(arrived, 10, "alert %d at the sink" % i)
            seen += 1
            lat.append((json.loads(line)["time"] - t0) * 1000)
            time.sleep(0.01)
        p.close()
        hwm = proc_hwm_kib(d.proc.pid)
    finally:
        d.stop()
        shutil.rmtree(d.dir, ignore_errors=True)
        smtp.stop()
        http.stop()
    lat.sort()
    return lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))], hwm


def probe_sizes(work, ca):
    """The sizes of what the daemon sends one e-mail contact (the
    message as the sink stores it) and one webhook contact (the body),
    so smtpload and curl send the same sizes."""
    smtp = SmtpSink(work, ca, name="smtp-probe")
    http = HttpSink(work, ca, name="http-probe", secrets=(SECRET,))
    d = daemon_world(work, ca, smtp.port, http.port, "bench-probe")
    try:
        import_contacts(d, work, "smtp", http.port, 1, name="probe")
        import_contacts(d, work, "webhook", http.port, 1, name="probe")
        publish(d, "probe-1")
        reqs = wait_for(http.requests, 10, "the probe webhook")
        msgs = wait_for(smtp.messages, 10, "the probe e-mail")
        return len(msgs[0][0]["raw"]), len(reqs[0]["body"].encode())
    finally:
        d.stop()
        shutil.rmtree(d.dir, ignore_errors=True)
        smtp.stop()
        http.stop()


def main():
    work = tempfile.mkdtemp(prefix="outreach-bench-deliver-")
    ca = make_ca(os.path.join(work, "ca"))
    try:
        print("delivery benchmark: %d contacts, %d runs each (medians), "
              "%d connections, %s" % (N, RUNS, CONNS,
                                      os.uname().machine), flush=True)
        mail, body = probe_sizes(work, ca)
        a = bench_channel(work, ca, "smtp", mail)
        b = bench_channel(work, ca, "webhook", body)
        c = bench_alerts(work, ca)
        pairs = lambda x: ", ".join("%.0f/%.0f" % p for p in x["pairs"])
        print("(a) runs, daemon/smtpload msgs/s: %s" % pairs(a))
        print("(b) runs, daemon/curl req/s: %s" % pairs(b))
        print("(b) runs, hooksend/curl req/s: %s" % ", ".join(
            "%.0f/%.0f" % p for p in b["floor_pairs"]))
        print()
        print("| measure | value | target |")
        print("| --- | --- | --- |")
        print("| (a) e-mail, 1 STARTTLS relay: notices/s | %.0f | >= 70%% of "
              "sink ceiling and >= 10,000 |" % a["rate"])
        print("| (a) time to last delivery | %.2f s | |" % a["time"])
        print("| (a) daemon CPU | %.2f s | |" % a["cpu"])
        print("| (a) sink ceiling, smtpload %d conns pipelined, %d-byte "
              "messages | %.0f msgs/s | |" % (CONNS, mail, a["ref"]))
        print("| (a) share of the sink's ceiling (median of run pairs) | "
              "%.0f %% | >= 70 %% |" % (100 * a["ratio"]))
        print("| (b) webhooks: notices/s | %.0f | >= 1.5 x curl and "
              ">= 20,000 |" % b["rate"])
        print("| (b) time to last delivery | %.2f s | |" % b["time"])
        print("| (b) daemon CPU | %.2f s | |" % b["cpu"])
        print("| (b) curl --parallel --parallel-max 8, %d-byte bodies | "
              "%.0f req/s | |" % (body, b["ref"]))
        print("| (b) ratio to curl (median of run pairs) | %.2f x | "
              ">= 1.5 x |" % b["ratio"])
        print("| (b) floor: the webhook sender alone (tools/hooksend, %d "
              "conns) | %.0f req/s, %.2f x curl | |"
              % (CONNS, b["floor"], b["floor_ratio"]))
        print("| (c) critical alert, 1 contact x %d: p50 | %.1f ms | |"
              % (ALERTS, c[0]))
        print("| (c) p99 | %.1f ms | <= 20 ms |" % c[1])
        print("| peak RSS (a, b, c) | %.1f / %.1f / %.1f MiB | <= 50 MiB |"
              % (a["hwm"] / 1024, b["hwm"] / 1024, c[2] / 1024))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
