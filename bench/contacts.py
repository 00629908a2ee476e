#!/usr/bin/python3
"""bench/contacts.py - the contacts benchmark (make bench): import rate of
100,000 contacts through `outreachctl contacts import` (CSV), fan-out rate
of an event reaching all of them (deliveries made per second), and the ack
latency of a second publisher (bench/ackload, 1 event in flight) while that
fan-out runs, against the same publisher on an idle daemon.  Each figure is
the median of BENCH_REPS runs (default 3), each on a fresh daemon.  The
daemon's main thread's CPU time during the fan-out is shown too: on a
shared machine it moves less than the wall clock.
BENCH_CONTACTS changes the size (default 100000).  Runs the real daemon
through the integration tests' harness; prints one table."""
import csv
import os
import platform
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from harness import BUILD, Daemon, event  # noqa: E402

N = int(os.environ.get("BENCH_CONTACTS", "100000"))
REPS = int(os.environ.get("BENCH_REPS", "3"))
ACKLOAD = os.path.join(BUILD, "bench", "ackload")


def write_csv(path, n):
    langs = ["tl;en", "ar", "fr", "en", "ti;am;en"]
    cities = ["Berlin", "Munich", "Hamburg", "Köln"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(["id", "name", "email", "languages", "country", "city",
                    "tags", "subscriptions"])
        for i in range(n):
            w.writerow(["b-%06d" % i, "Person %d" % i,
                        "person%d@example.org" % i, langs[i % 5], "DE",
                        cities[i % 4], "students" if i % 3 else "",
                        "embassy.ph.berlin."])


def ackload(d, seconds, run):
    out = subprocess.run([ACKLOAD, "-e", d.endpoint, "-S", d.server_public,
                          "-k", d.keyfile("berlin"), "-p", "1", "-w", "1",
                          "-d", str(seconds), "-t",
                          "embassy.ph.bonn.general", "-r", run],
                         capture_output=True, text=True, timeout=120)
    kv = dict(re.findall(r"(\w+)=([0-9.]+)", out.stdout))
    return float(kv.get("p50_ms", "nan")), float(kv.get("p99_ms", "nan")), \
        int(float(kv.get("events", "0")))


def main_cpu_s(pid):
    """CPU seconds the daemon's main (loop) thread has run."""
    with open("/proc/%d/schedstat" % pid) as f:
        return int(f.read().split()[0]) / 1e9


def one_run(rep, csvpath):
    d = Daemon(name="bench", log_level="warning",
               publishers={"berlin": (["embassy.ph."], "critical",
                                      (1000000, 1))})
    d.start()
    try:
        t0 = time.monotonic()
        r = d.ctl("contacts", "import", "--batch", "1000", csvpath)
        t_import = time.monotonic() - t0
        if r.returncode != 0:
            raise SystemExit("import failed: " + r.stderr[-500:])
        idle = ackload(d, 2, "idle%d" % rep)
        # The second publisher runs while the big event fans out.
        p = subprocess.Popen([ACKLOAD, "-e", d.endpoint, "-S",
                              d.server_public, "-k", d.keyfile("berlin"),
                              "-p", "1", "-w", "1", "-d", "4", "-t",
                              "embassy.ph.bonn.general", "-r",
                              "busy%d" % rep], stdout=subprocess.PIPE,
                             text=True)
        time.sleep(0.6)		# past ackload's warm-up
        pub = d.publisher()
        cpu0 = main_cpu_s(d.proc.pid)
        t0 = time.monotonic()
        reply = pub.request("embassy.ph.berlin.town-hall",
                            event("bench-%d" % rep), timeout_ms=60000)
        t_ack = time.monotonic() - t0
        assert reply["recipients"] == N, reply
        while d.query("SELECT fanout_done FROM events WHERE event_id = ?",
                      "bench-%d" % rep)[0][0] == 0:
            time.sleep(0.005)
        t_fan = time.monotonic() - t0
        cpu_fan = main_cpu_s(d.proc.pid) - cpu0
        out, _ = p.communicate(timeout=120)
        kv = dict(re.findall(r"(\w+)=([0-9.]+)", out))
        busy = (float(kv.get("p50_ms", "nan")), float(kv.get("p99_ms", "nan")),
                int(float(kv.get("events", "0"))))
        made = d.query("SELECT count(*) FROM deliveries")[0][0]
        pub.close()
        d.stop()
        return {"import": N / t_import, "fanout": made / t_fan,
                "fan_cpu": made / cpu_fan,
                "big_ack_ms": t_ack * 1000, "idle": idle, "busy": busy,
                "fan_s": t_fan}
    finally:
        d.cleanup()


def main():
    csvpath = "/tmp/outreach-bench-contacts-%d.csv" % os.getpid()
    write_csv(csvpath, N)
    try:
        runs = []
        for rep in range(REPS):
            r = one_run(rep, csvpath)
            print("run %d: import %.0f rows/s, fan-out %.0f deliveries/s "
                  "(%.2f s; %.0f per main-thread CPU second), big event "
                  "ack %.0f ms, second publisher p50/p99 idle %.2f/%.2f ms, "
                  "during fan-out %.2f/%.2f ms"
                  % (rep + 1, r["import"], r["fanout"], r["fan_s"],
                     r["fan_cpu"],
                     r["big_ack_ms"], r["idle"][0], r["idle"][1],
                     r["busy"][0], r["busy"][1]), file=sys.stderr)
            runs.append(r)
    finally:
        os.unlink(csvpath)
    med = lambda f: statistics.median(f(r) for r in runs)  # noqa: E731
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = re.search(r"model name\s*:\s*(.*)", f.read()).group(1)
    except (OSError, AttributeError):
        pass
    print("outreachd contacts benchmark on %s, %d cores, %s; %d contacts, "
          "median of %d runs" % (platform.node(), os.cpu_count(), cpu, N,
                                 len(runs)))
    print("%-52s %12s  %s" % ("figure", "median", "target"))
    print("%-52s %12.0f  >= 20,000" % ("import (outreachctl contacts import), rows/s",
                                       med(lambda r: r["import"])))
    print("%-52s %12.0f  >= 200,000" % ("fan-out, deliveries created/s",
                                        med(lambda r: r["fanout"])))
    print("%-52s %12.0f" % ("fan-out, deliveries per main-thread CPU second",
                            med(lambda r: r["fan_cpu"])))
    print("%-52s %12.0f" % ("ack of the %d-recipient event itself, ms" % N,
                            med(lambda r: r["big_ack_ms"])))
    print("%-52s %6.2f/%-5.2f" % ("2nd publisher ack p50/p99, idle daemon, ms",
                                  med(lambda r: r["idle"][0]),
                                  med(lambda r: r["idle"][1])))
    print("%-52s %6.2f/%-5.2f  p99 <= 20" % (
        "2nd publisher ack p50/p99 during fan-out, ms",
        med(lambda r: r["busy"][0]), med(lambda r: r["busy"][1])))
    print("checkpoints: passive, after a commit when checkpoint_interval_ms "
          "(here 500 ms) passed and something was written; never inside a "
          "turn's commit")


if __name__ == "__main__":
    main()
