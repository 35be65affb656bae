#!/usr/bin/python3
"""A candidate of the real Python client (kubernetes.leaderelection), for
mixed pools, interop tests, the demo and the benchmarks.

It speaks the same contract as examples/candidate: flags --kubeconfig,
--namespace, --name, --identity, --lease-duration, --renew-deadline,
--retry-period (seconds, as Python takes them), and on stdout one JSON object
per line per event: started_leading, stopped_leading, new_leader. The Python
client has no new-leader callback and never releases; this script only wraps
it and changes none of its behaviour, except that SIGTERM/SIGINT exit 0.

Run it with the system python3 (Debian's python3-kubernetes).
"""
import argparse
import datetime
import json
import logging
import os
import signal
import socket
import sys
import threading

from kubernetes import config as kconfig
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.configmaplock import ConfigMapLock

_out = threading.Lock()


def emit(event, identity, leader=None):
    obj = {"event": event, "identity": identity}
    if leader is not None:
        obj["leader"] = leader
    obj["time"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
    with _out:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG", ""))
    p.add_argument("--namespace", default="default")
    p.add_argument("--name", required=True)
    p.add_argument("--identity", default=socket.gethostname())
    p.add_argument("--lease-duration", type=float, default=15)
    p.add_argument("--renew-deadline", type=float, default=10)
    p.add_argument("--retry-period", type=float, default=2)
    a = p.parse_args()

    # Logs go to stderr, events to stdout.
    logging.getLogger().handlers[:] = [logging.StreamHandler(sys.stderr)]
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))

    kconfig.load_kube_config(config_file=a.kubeconfig or None)

    def whole(x):
        # Python writes str(lease_duration): pass ints where the value is whole.
        return int(x) if float(x).is_integer() else x

    def started():
        emit("started_leading", a.identity)

    def stopped():
        emit("stopped_leading", a.identity)

    cfg = electionconfig.Config(
        ConfigMapLock(a.name, a.namespace, a.identity),
        lease_duration=whole(a.lease_duration),
        renew_deadline=whole(a.renew_deadline),
        retry_period=whole(a.retry_period),
        onstarted_leading=started,
        onstopped_leading=stopped,
    )
    leaderelection.LeaderElection(cfg).run()
    # Leadership lost: Python's run() returns; the leader's thread would go on.
    os._exit(1)


if __name__ == "__main__":
    main()
