#!/usr/bin/python3
"""Generate golden.json: the Python client's own annotation bytes.

Regenerate from the repository root with

    /usr/bin/python3 record/testdata/gen_golden.py

It needs the Python Kubernetes client (Debian: python3-kubernetes 22.6) and
the system zoneinfo. It runs itself once per time zone with TZ set in the
environment, because datetime.fromtimestamp reads the zone the process starts
with, and writes golden.json next to itself.

Each record is built exactly as leaderelection.py builds it,
LeaderElectionRecord(identity, str(lease_duration), str(now), str(now)) with
now = datetime.datetime.fromtimestamp(t), and serialised exactly as
ConfigMapLock does, json.dumps(lock.get_lock_dict(record)).
"""

import datetime
import json
import os
import subprocess
import sys

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]

DEFAULT_IDENTITY = "pod-a"
DEFAULT_LEASE = 15
# Instants as (unix seconds, microseconds): exact, whatever the float does.
DEFAULT_ACQUIRE = (1795342530, 250000)  # 2026-11-22 10:15:30.25 UTC
DEFAULT_RENEW = (1795342540, 0)

IDENTITIES = [
    ("ascii", "pod-a"),
    ("latin1", "leader-\u00e4"),
    ("cjk", "\u8282\u70b9-1"),
    ("emoji", "\U0001f600-pod"),
    ("quotes", 'say "hi"'),
    ("backslash", "back\\slash\\"),
    ("controls", "c\x00\x01\x1f\b\f\n\r\t"),
    ("del", "del\x7f"),
    ("slash", "ns/pod"),
    ("html", "<a&b>"),
    ("separators", "\u2028\u2029"),
    ("boundaries", "\x80\xff\u07ff\u0800\ud7ff\ue000\uffff\U00010000\U0010ffff"),
    ("mixed", 'x \u00e4\U0001f600"/\\\n\x7f'),
]

# Whole leases as Python ints ("15"), fractional ones as floats ("2.5"),
# which is what the Go encoder promises for whole and fractional durations.
LEASES = [15, 17, 1, 0, 86400, 2.5, 1.1, 3.75, 0.1, 0.0001, 1e-05, 1e-09,
          1234567.5, 86400.000000001]

TIMES = [
    ("whole", (1795342530, 0)),
    ("quarter", (1795342530, 250000)),
    ("one-micro", (1795342530, 1)),
    ("last-micro", (1795342530, 999999)),
    ("micros", (1795342530, 123456)),
    ("epoch", (0, 0)),
    ("before-epoch", (-1, 500000)),
    ("leap-day", (951868799, 999999)),
    ("after-2038", (2208988800, 42)),
    ("berlin-spring-before", (1774745999, 999999)),
    ("berlin-spring-after", (1774746000, 0)),
    ("berlin-autumn-first", (1792890000 - 1800, 500000)),
    ("berlin-autumn-second", (1792890000 + 1800, 500000)),
    ("newyork-autumn-first", (1793512800 - 1800, 0)),
    ("newyork-autumn-second", (1793512800 + 1800, 0)),
    ("chatham-autumn-first", (1775311200 - 1800, 7)),
    ("chatham-autumn-second", (1775311200 + 1800, 7)),
    ("chatham-spring", (1790431200 + 60, 0)),
]


def local(instant):
    """str(datetime.fromtimestamp(t)) for t as time.time() would give it."""
    sec, micros = instant
    dt = datetime.datetime.fromtimestamp(sec + micros / 1e6)
    # The float is within a fraction of a microsecond of the instant, and
    # fromtimestamp rounds to the nearest: check that it came out exact.
    exact = datetime.datetime.fromtimestamp(sec, datetime.timezone.utc) + \
        datetime.timedelta(microseconds=micros)
    assert dt.astimezone(datetime.timezone.utc) == exact, (instant, dt)
    # A wall time that occurs twice reads back as either instant.
    ambiguous = dt.replace(fold=0).timestamp() != dt.replace(fold=1).timestamp()
    return str(dt), ambiguous


def case(zone, name, identity, lease, acquire, renew):
    from kubernetes.leaderelection.leaderelectionrecord import LeaderElectionRecord
    from kubernetes.leaderelection.resourcelock.configmaplock import ConfigMapLock

    acquire_str, acquire_ambiguous = local(acquire)
    renew_str, renew_ambiguous = local(renew)
    record = LeaderElectionRecord(str(identity), str(lease), acquire_str, renew_str)
    # ConfigMapLock.__init__ would build an API client; set up only what
    # get_lock_dict uses, as __init__ sets it.
    lock = ConfigMapLock.__new__(ConfigMapLock)
    lock.lock_record = {
        'holderIdentity': None,
        'leaseDurationSeconds': None,
        'acquireTime': None,
        'renewTime': None,
    }
    return {
        "tz": zone,
        "name": name,
        "identity": identity,
        "leaseSeconds": lease,
        "acquire": {"unixSeconds": acquire[0], "micros": acquire[1]},
        "renew": {"unixSeconds": renew[0], "micros": renew[1]},
        "ambiguous": acquire_ambiguous or renew_ambiguous,
        "expected": json.dumps(lock.get_lock_dict(record)),
    }


def child(zone):
    cases = []
    for name, identity in IDENTITIES:
        cases.append(case(zone, "identity/" + name, identity, DEFAULT_LEASE,
                          DEFAULT_ACQUIRE, DEFAULT_RENEW))
    for lease in LEASES:
        cases.append(case(zone, "lease/" + repr(lease), DEFAULT_IDENTITY, lease,
                          DEFAULT_ACQUIRE, DEFAULT_RENEW))
    for name, instant in TIMES:
        # The leader keeps acquireTime and moves renewTime on.
        renew = (instant[0] + 10, instant[1])
        cases.append(case(zone, "time/" + name, DEFAULT_IDENTITY, DEFAULT_LEASE,
                          instant, renew))
    json.dump(cases, sys.stdout)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        assert os.environ.get("TZ") == sys.argv[2]
        child(sys.argv[2])
        return
    cases = []
    for zone in ZONES:
        env = dict(os.environ, TZ=zone)
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", zone],
                             env=env, check=True, stdout=subprocess.PIPE).stdout
        cases.extend(json.loads(out))
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.json")
    with open(path, "w", encoding="ascii") as f:
        # One case a line: small, and diffs show which cases changed.
        f.write("[\n" + ",\n".join(json.dumps(c, ensure_ascii=True) for c in cases) + "\n]\n")
    print("wrote %d cases to %s" % (len(cases), path))


if __name__ == "__main__":
    main()
