"""bench/run --crowd and --churn: many clients.

--crowd, a crowd that stays: --crowd-peers (default 10,000) idle peers, each a TCP
connection that has completed the ZMTP handshake and answers heartbeats
(bench/crowd.c), beside --crowd-clients (default 32) active closed-loop clients.
For each round and server: the active load alone, and with the crowd connected
(the order alternates between rounds); throughput and p99 with the crowd as
ratios to without it, and the master's RSS per idle peer. The driver raises its
open-file limit, which the servers inherit (filer's master raises its soft limit
to the hard one and stops accepting at limits.max_connections, by default what
that limit allows less a reserve).

--churn, a crowd that churns: clients that connect, send one request and close
(loadgen -C), --churn-clients (default 8 and 32) at once, interleaved between the
servers; and, on each server from a fresh start, the master's RSS and open
descriptors before and after --churn-connections (default 100,000) such
connections.
"""
import json
import os
import select
import statistics
import subprocess
import time

import harness as H
from harness import FILES, Server, SetupError, fmt_ratio, log

# targets from issue 13
T_CROWD_RPS = 0.9    # with the crowd / without, throughput
T_CROWD_P99 = 1.5    # with the crowd / without, p99
T_CHURN_REF = 0.95   # filer's churn rate / the C reference's
T_LEAK = 1.10        # master RSS and descriptors after the churn / before

CROWD_SERVERS = ["filer", "ref"]
CHURN_SERVERS = ["filer", "min", "ref"]
# --quick: one cheap pass
QUICK_CROWD_SERVERS = ["filer"]
QUICK_CHURN_SERVERS = ["filer", "ref"]


# ------------------------------------------------------------------ the crowd that stays

class Crowd:
    """bench/bin/crowd holding `peers` idle peers on `endpoint`; it ends when its stdin closes."""

    def __init__(self, endpoint, peers, timeout=120.0):
        self.proc = subprocess.Popen([os.path.join(H.BIN, "crowd"), "-e", endpoint, "-n", str(peers),
                                      "-H", str(timeout)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.peers = peers
        line = self._readline(timeout + 10)
        if not line.startswith("ready "):
            self.close()
            raise SetupError(f"crowd: {line!r} {self.proc.stderr.read() if self.proc.poll() is not None else ''}")
        self.ready = dict(kv.split("=") for kv in line.split()[1:])
        self.handshaken = int(self.ready["handshaken"])

    def _readline(self, timeout):
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return self.proc.stdout.readline().strip() if r else ""

    def close(self):
        """Ends the crowd (end of its stdin); returns its final counts."""
        try:
            out, _ = self.proc.communicate(timeout=30)  # closes its stdin first
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        lines = [l for l in out.splitlines() if l.startswith("{")]
        return json.loads(lines[-1]) if lines else {}


def master_reading(srv):
    st = H.proc_status(srv.pid) or {}
    return {"rss_kib": st.get("VmRSS"), "fds": H.fd_count(srv.pid)}


def wait_fds(srv, at_most, timeout):
    """Seconds until the master holds at most `at_most` descriptors (None: not within `timeout`)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        fds = H.fd_count(srv.pid)
        if fds is None or fds <= at_most:
            return time.monotonic() - t0
        time.sleep(0.05)
    return None


def run_crowd(args, ctx, tmp, rundir, filer_bin):
    kinds = args.mode_servers or (QUICK_CROWD_SERVERS if args.quick else CROWD_SERVERS)
    peers = 300 if args.quick else args.crowd_peers
    clients = args.crowd_clients
    rounds = 1 if args.quick else args.rounds
    seconds = args.seconds
    fname = FILES[args.crowd_file][0]
    # peers and clients in the master, the crowd and the load generator, each with room to spare
    limit = H.raise_nofile(peers + clients + 1024)
    log(f"crowd: open-file limit {limit} for {peers} idle peers")
    servers = {k: Server(k, args.workers, tmp, filer_bin, rundir) for k in kinds}
    for srv in servers.values():
        srv.start(ctx, [args.crowd_file])
    runs = {k: {"without": [], "with": [], "rss_before": [], "rss_with": [], "fds_with": [], "lost": 0,
                "handshaken": [], "arrival_s": [], "departure_s": []} for k in kinds}
    bad = []
    for rnd in range(rounds):
        order = kinds[rnd % len(kinds):] + kinds[:rnd % len(kinds)]
        for k in order:
            srv, r = servers[k], runs[k]
            with_first = rnd % 2 == 1
            if not with_first:
                r["without"].append(H.run_load(srv, fname, clients, seconds, args.warmup))
            before = master_reading(srv)
            t0 = time.monotonic()
            crowd = Crowd(srv.endpoint, peers)
            try:
                r["arrival_s"].append(time.monotonic() - t0)
                time.sleep(0.5)  # let the master finish with the last handshakes
                during = master_reading(srv)
                r["handshaken"].append(crowd.handshaken)
                if crowd.handshaken != peers:
                    bad.append(f"crowd {k}: only {crowd.handshaken}/{peers} peers completed the handshake")
                r["with"].append(H.run_load(srv, fname, clients, seconds, args.warmup))
            finally:
                end = crowd.close()
            # The crowd leaves at once: how long until the master has closed its connections
            # (the next measurement waits for that, at most 60 s).
            gone = wait_fds(srv, before["fds"] + 8, 60)
            r["departure_s"].append(gone if gone is not None else float("nan"))
            if gone is None:
                bad.append(f"crowd {k}: the master still held {H.fd_count(srv.pid)} descriptors 60 s after "
                           f"the crowd left ({before['fds']} before)")
            r["lost"] += end.get("lost", 0)
            if end.get("lost"):
                bad.append(f"crowd {k}: the server dropped {end['lost']} idle peers")
            r["rss_before"].append(before["rss_kib"])
            r["rss_with"].append(during["rss_kib"])
            r["fds_with"].append(during["fds"])
            if with_first:
                r["without"].append(H.run_load(srv, fname, clients, seconds, args.warmup))
            for res in r["without"][-1:] + r["with"][-1:]:
                if H.failures(res) or not res["requests"]:
                    bad.append(f"crowd {k}: {res['errors']} errors, {res['timeouts']} timeouts, "
                               f"{res['requests']} requests")
    for srv in servers.values():
        srv.stop()

    med = statistics.median
    lines = [f"A crowd that stays: {peers} idle peers (ZMTP handshake done, heartbeats answered; bench/crowd.c) "
             f"beside {clients} active clients asking for {args.crowd_file}; {args.workers} workers, "
             f"{seconds:g} s × {rounds} round(s), medians; RSS of the master from /proc/PID/status.", "",
             "| server | req/s without | req/s with | with/without | p99 µs without | p99 µs with | p99 with/without "
             "| master RSS MiB before | with the crowd | KiB per idle peer | master fds with the crowd | peers dropped "
             "| crowd arrives s | crowd leaves s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    out = {}
    for k in kinds:
        r = runs[k]
        rps_wo, rps_w = med(x["rps"] for x in r["without"]), med(x["rps"] for x in r["with"])
        p99_wo, p99_w = med(x["p99_us"] for x in r["without"]), med(x["p99_us"] for x in r["with"])
        per_peer = med((w - b) / peers for w, b in zip(r["rss_with"], r["rss_before"]))
        target = k == "filer"
        lines.append(f"| {k} | {rps_wo:.0f} | {rps_w:.0f} | "
                     f"{fmt_ratio(H.ratio(rps_w, rps_wo), T_CROWD_RPS if target else None)} | "
                     f"{p99_wo:.0f} | {p99_w:.0f} | "
                     f"{fmt_ratio(H.ratio(p99_w, p99_wo), T_CROWD_P99 if target else None, False)} | "
                     f"{H.mib(med(r['rss_before']))} | {H.mib(med(r['rss_with']))} | {per_peer:.1f} | "
                     f"{med(r['fds_with']):.0f} | {r['lost']} | {med(r['arrival_s']):.1f} | "
                     f"{max(r['departure_s']):.1f} |")
        out[k] = {**r, "rps_without": rps_wo, "rps_with": rps_w, "p99_without": p99_wo, "p99_with": p99_w,
                  "kib_per_peer": per_peer}
    lines += ["", f"Targets (filer): throughput with the crowd ≥ {T_CROWD_RPS}× and p99 ≤ {T_CROWD_P99}× "
                  f"of the same load without it; ✗ = missed. Open-file limit: {limit}. Crowd arrives = from the "
                  f"first connection to the last handshake (median); crowd leaves = from the crowd closing every "
                  f"connection at once until the master holds its earlier descriptors again (the longest); the "
                  f"load without the crowd is measured only after that."]
    return "\n".join(lines), {"peers": peers, "servers": out, "nofile": limit}, bad


# ------------------------------------------------------------------ the crowd that churns

def settle(srv, before_fds, timeout=5.0):
    """Waits (bounded) until the master's descriptors are back to `before_fds`, then reads it."""
    deadline = time.monotonic() + timeout
    reading = master_reading(srv)
    while reading["fds"] is not None and reading["fds"] > before_fds and time.monotonic() < deadline:
        time.sleep(0.1)
        reading = master_reading(srv)
    return reading


def run_churn(args, ctx, tmp, rundir, filer_bin):
    kinds = args.mode_servers or (QUICK_CHURN_SERVERS if args.quick else CHURN_SERVERS)
    quick = args.quick
    client_counts = [8] if quick else args.churn_clients
    connections = 2000 if quick else args.churn_connections
    rounds = 1 if quick else args.rounds
    fname = FILES[args.churn_file][0]
    H.raise_nofile(4096)
    servers = {k: Server(k, args.workers, tmp, filer_bin, rundir) for k in kinds}
    for srv in servers.values():
        srv.start(ctx, [args.churn_file])
    bad = []

    def check(k, res, what):
        if H.failures(res) or not res["requests"]:
            bad.append(f"churn {k} {what}: {res['errors']} errors, {res['timeouts']} timeouts, "
                       f"{res['requests']} requests (first: {res['first_error']!r})")

    # ---- leak check, on each server from a fresh start: warm up, before, N connections, after
    leak = {}
    for k in kinds:
        srv = servers[k]
        idle = master_reading(srv)
        check(k, H.run_load(srv, fname, 32, 60, 0, count=1000, churn=True, quiet=True), "warm-up")
        before = settle(srv, idle["fds"])
        res = H.run_load(srv, fname, 32, 600, 0, count=connections, churn=True)
        check(k, res, f"{connections} connections")
        after = settle(srv, before["fds"])
        leak[k] = {"idle": idle, "before": before, "after": after, "rate": res["rps"],
                   "connections": res["connections"]}
        log(f"churn {k}: master RSS {before['rss_kib']} -> {after['rss_kib']} KiB, "
            f"fds {before['fds']} -> {after['fds']} over {res['connections']} connections")

    # ---- the rates, interleaved
    cells = []
    i = 0
    for c in client_counts:
        cell = {"clients": c, "runs": {k: [] for k in kinds}}
        for _ in range(rounds):
            order = kinds[i % len(kinds):] + kinds[:i % len(kinds)]
            i += 1
            for k in order:
                res = H.run_load(servers[k], fname, c, args.seconds, args.warmup, churn=True)
                check(k, res, f"c={c}")
                cell["runs"][k].append(res)
        cell["agg"] = {k: {"rps": statistics.median(r["rps"] for r in runs),
                           "p99_us": statistics.median(r["p99_us"] for r in runs)}
                       for k, runs in cell["runs"].items()}
        cells.append(cell)
    for srv in servers.values():
        srv.stop()

    pairs = [(a, b) for a, b in (("filer", "ref"), ("filer", "min")) if a in kinds and b in kinds]
    lines = [f"A crowd that churns: each client connects, sends one request for {args.churn_file}, reads the reply "
             f"and closes (loadgen -C); {args.workers} workers, {args.seconds:g} s × {rounds} round(s), medians; "
             f"latency includes the connection and the handshake.", ""]
    hdr = ["clients"] + [f"{k} req/s" for k in kinds] + [f"{a}/{b}" for a, b in pairs] + [f"{k} p99 µs" for k in kinds]
    lines.append("| " + " | ".join(hdr) + " |")
    lines.append("|---|" + "---:|" * (len(hdr) - 1))
    for cell in cells:
        agg = cell["agg"]
        row = [str(cell["clients"])] + [f"{agg[k]['rps']:.0f}" for k in kinds]
        row += [fmt_ratio(H.ratio(agg[a]["rps"], agg[b]["rps"]), T_CHURN_REF if b == "ref" else None) for a, b in pairs]
        row += [f"{agg[k]['p99_us']:.0f}" for k in kinds]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", f"The master over {connections} connections at 32 clients, from a fresh start after 1,000 "
                  f"connections of warm-up (RSS from /proc/PID/status, descriptors from /proc/PID/fd; after = once "
                  f"its descriptors are back, at most 5 s):", "",
              "| server | RSS MiB idle | before | after | after/before | fds idle | before | after | after/before | req/s |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for k in kinds:
        lk = leak[k]
        b, a = lk["before"], lk["after"]
        target = T_LEAK if k == "filer" else None
        lines.append(f"| {k} | {H.mib(lk['idle']['rss_kib'])} | {H.mib(b['rss_kib'])} | {H.mib(a['rss_kib'])} | "
                     f"{fmt_ratio(H.ratio(a['rss_kib'], b['rss_kib']), target, False)} | {lk['idle']['fds']} | "
                     f"{b['fds']} | {a['fds']} | {fmt_ratio(H.ratio(a['fds'], b['fds']), target, False)} | "
                     f"{lk['rate']:.0f} |")
    lines += ["", f"Targets (filer): churn rate ≥ {T_CHURN_REF}× the C reference's; the master's RSS and descriptors "
                  f"after the connections within {T_LEAK - 1:.0%} of before; ✗ = missed."]
    return "\n".join(lines), {"cells": cells, "leak": leak, "connections": connections}, bad
