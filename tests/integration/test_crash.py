"""Crash safety of intake: several publishers send continuously while the
daemon is killed with SIGKILL at random moments and restarted; afterwards
every acknowledged event is in the journal exactly once.

OUTREACH_CRASH_LOOPS sets the number of kills (default 20, 5 under ASan);
CRASH_SEED replays a run (the seed is printed)."""
import json
import os
import random
import sys
import threading
import time

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ASAN, SLOW, Daemon, Publisher, collect, event, run_tests  # noqa: E402

TOPIC = "embassy.ph.berlin.town-hall"


class Sender(threading.Thread):
    def __init__(self, d, name, window=32):
        super().__init__(daemon=True)
        self.d = d
        self.name_ = name
        self.window = window
        self.acked = set()
        self.pending = {}
        self.stop_sending = False
        self.done = False
        self.error = None
        self.resends = 0

    def run(self):
        try:
            self._run()
        except Exception as e:  # reported by the test
            self.error = e

    def _run(self):
        pub = Publisher(self.d.endpoint, self.d.server_public,
                        self.d.keyfile("berlin"), ctx=zmq.Context())
        n = 0
        while not (self.stop_sending and not self.pending):
            now = time.time()
            while not self.stop_sending and len(self.pending) < self.window:
                eid = "%s-%d" % (self.name_, n)
                n += 1
                pub.send(TOPIC, event(eid, summary="crash test " + eid))
                self.pending[eid] = now
            if pub.sock.poll(50):
                while True:
                    try:
                        frames = pub.sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    r = json.loads(frames[-1])
                    if r.get("status") in ("accepted", "duplicate"):
                        self.acked.add(r["id"])
                        self.pending.pop(r["id"], None)
                    elif r.get("error", {}).get("code") != "overloaded":
                        raise AssertionError("unexpected reply %r" % r)
            # Resend what got no answer: the daemon may have died with it.
            for eid, t in list(self.pending.items()):
                if now - t > 1.0 * SLOW:
                    pub.send(TOPIC, event(eid, summary="crash test " + eid))
                    self.pending[eid] = now
                    self.resends += 1
        pub.close()
        self.done = True


def test_sigkill_loses_no_acknowledged_event():
    loops = int(os.environ.get("OUTREACH_CRASH_LOOPS", "5" if ASAN else "20"))
    seed = int(os.environ.get("CRASH_SEED", str(random.randrange(1 << 30))))
    print("crash test: seed %d, %d kills (replay: CRASH_SEED=%d)" %
          (seed, loops, seed), flush=True)
    rng = random.Random(seed)
    d = Daemon(name="crash", log_level="notice")
    try:
        d.start()
        senders = [Sender(d, "p%d" % i) for i in range(3)]
        for s in senders:
            s.start()
        for k in range(loops):
            time.sleep(rng.uniform(0.05, 0.6) * SLOW)
            d.kill()
            time.sleep(rng.uniform(0.0, 0.2))
            d.start()
        for s in senders:
            s.stop_sending = True
        deadline = time.time() + 60 * SLOW
        for s in senders:
            s.join(max(0.1, deadline - time.time()))
            assert s.error is None, s.error
            assert s.done, "sender %s still has %d unacknowledged" % (
                s.name_, len(s.pending))
        assert d.stop() == 0
        acked = set().union(*(s.acked for s in senders))
        rows = d.query("SELECT event_id, count(*) FROM events GROUP BY post, event_id")
        stored = {eid: c for eid, c in rows}
        missing = [e for e in acked if e not in stored]
        doubled = [e for e, c in stored.items() if c != 1]
        print("crash test: %d acknowledged, %d stored, %d resends" %
              (len(acked), len(stored), sum(s.resends for s in senders)),
              flush=True)
        assert not missing, "acknowledged but lost: %r" % missing[:10]
        assert not doubled, "stored twice: %r" % doubled[:10]
        assert len(acked) > loops * 10, "too few events to mean anything"
        integrity = d.query("PRAGMA integrity_check")[0][0]
        assert integrity == "ok", integrity
    finally:
        d.cleanup()


if __name__ == "__main__":
    run_tests(collect(globals()))
