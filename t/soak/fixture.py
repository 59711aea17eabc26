#!/usr/bin/env python3
"""A made-up run directory for check.py: one session S1 whose reply M1 has
the chunks a, b, c, d and ended complete, no fault, nothing left over;
the events of one socket come from the case named (t/97-soak.bats).

  fixture.py DIR CASE"""
import json
import os
import sys

T0 = 1_000_000_000_000.0


def ev(t, **kw):
    kw.setdefault("c", "frame0a")
    kw.setdefault("s", "frame0a#1")
    kw["t"] = T0 + t
    return kw


def f(t, ty, **kw):
    return ev(t, e="f", ty=ty, **kw)


def chunk(t, i):
    return f(t, "chunk", m="M1", i=i, x="abcd"[i])


OPEN = [ev(0, e="open", sess="S1", via="relay:1", resume=None), f(1, "welcome", node="ws-1")]
# the history gives the reply in progress through chunk 2 as text; the
# client holds only 0..1 and says so in a reconnect frame
HIST = [f(2, "history", items=[["M1", "streaming", 2, "abc"]]), ev(3, e="send", what="reconnect", m="M1", last=1)]
END = f(4, "end", st="complete", m="M1", n=4)
CASES = {
    # the relay sent the end frame (after the text through 2 and the live
    # chunk 3) before it read the reconnect frame; the replay follows
    "end-before-replay": OPEN + HIST[:1] + [chunk(3, 3)] + HIST[1:] + [END, chunk(5, 2),
                          f(6, "recovery", m="M1", st="recovered", n=1)],
    # the same, but the replay left chunk 2 out
    "replay-short": OPEN + HIST[:1] + [chunk(3, 3)] + HIST[1:] + [END, f(6, "recovery", m="M1", st="recovered", n=0)],
    # an end frame past what even the history text gave, before the replay
    "end-past-text": OPEN + HIST + [END, chunk(5, 2), chunk(6, 3), f(7, "recovery", m="M1", st="recovered", n=2)],
    # no reconnect frame: the end frame before the last chunk
    "end-before-chunk": OPEN + HIST[:1] + [END, chunk(5, 3)],
}
# a plain run, with a user's streams:user:{U} left over holding...
PLAIN = OPEN + [chunk(2 + i, i) for i in range(4)] + [f(6, "end", st="complete", m="M1", n=4)]
LEFT = {
    # ...a reservation whose enqueue.lua never ran (Redis went away between
    # the two steps): no meta, and the key expires with STREAM_STALE_MS
    "reservation-never-enqueued": {"value": ["M9", "1000000000002"], "pttl": 3600000},
    # ...the same with no TTL
    "reservation-without-ttl": {"value": ["M9", "1000000000002"], "pttl": -1},
    # ...the reply M1, which ended
    "reservation-of-ended-reply": {"value": ["M1", "1000000000002"], "pttl": 3600000},
}
CASES.update({name: PLAIN for name in LEFT})


def main(d, case):
    os.makedirs(d, exist_ok=True)
    events = [ev(-1, e="start", c=None, s=None)] + CASES[case] + [ev(9, e="close", code=1000, reason="", by="client")]
    with open(os.path.join(d, "clients.jsonl"), "w") as out:
        out.writelines(json.dumps(e) + "\n" for e in events)
    for name in ("faults.jsonl", "rss.jsonl"):
        open(os.path.join(d, name), "w").close()
    meta = {"seed": "1", "seconds": 1, "end_bound_s": 45, "settle_s": 0, "san": False,
            "env": {"CHUNK_TTL_S": "3600"}, "chaos_start": T0, "quiet_at": T0 + 10, "settled": T0 + 20}
    with open(os.path.join(d, "meta.json"), "w") as out:
        json.dump(meta, out)
    keys = {
        "stream:chunks:{1}M1": {"type": "list", "value": list("abcd"), "pttl": 3600000},
        "stream:meta:{1}M1": {"type": "hash", "pttl": 3600000, "value": {
            "status": "complete", "total_chunks": "4", "session_id": "S1", "updated_at": str(int(T0 + 5))}},
        "chat:history:{1}S1": {"type": "list", "pttl": -1, "value": [json.dumps(
            {"message_id": "M1", "role": "assistant", "content": "abcd", "status": "complete"})]},
    }
    if case in LEFT:
        keys["streams:user:{U1}"] = dict(type="zset", **LEFT[case])
    with open(os.path.join(d, "scan.json"), "w") as out:
        json.dump({"keys": keys, "relays": {}, "pubsub": {}, "pending": 0}, out)


if __name__ == "__main__":
    main(*sys.argv[1:])
