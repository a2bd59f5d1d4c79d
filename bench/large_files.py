"""bench/run --large: large files in bounded memory.

Two files of --large-mib MiB (default 64): text like the other benchmark files
(about 5 % of its bytes escape to two), and control characters (every byte
escapes to the six of \\u00XX, so the reply is six times the file). filer runs
with limits.max_file_size at that size and limits.max_reply_size at 512 MiB (or
eight times the file, if more); the C servers get the same file limit. Each
server has its usual workers; one client asks for each file in turn and checks
the reply byte for byte.

For the worker that answered: its peak RSS while serving (VmHWM from
/proc/PID/status, reset beforehand through /proc/PID/clear_refs), as a multiple
of the file size; and its USS (smaps_rollup) when idle before, and after the
reply: the first reading within twice the idle USS (read every 0.25 s), or
the one --large-settle seconds (default 3) after the reply. The master's peak
RSS is context: the reply passes through it.
"""
import json
import os
import time

import zmq

import harness as H
from harness import Server, SetupError, log

DEFAULT_SERVERS = ["filer", "min", "ref"]
QUICK_SERVERS = ["filer"]
# targets from issue 13
T_TEXT = 2.2     # peak worker RSS / file size, text
T_CONTROL = 7.5  # peak worker RSS / file size, control characters
T_AFTER = 2.0    # worker USS after / idle

CONTROL = bytes(c for c in range(0x20) if c not in b"\b\t\n\f\r")  # each escapes to \u00XX


def make_large(root, size):
    text_path, ctl_path = os.path.join(root, "large.txt"), os.path.join(root, "large.ctl")
    with open(os.path.join(root, "f_64k.txt"), "rb") as f:
        chunk = f.read()
    with open(text_path, "wb") as f:
        for i in range(0, size, len(chunk)):
            f.write(chunk[: min(len(chunk), size - i)])
    unit = CONTROL * (65536 // len(CONTROL) + 1)
    with open(ctl_path, "wb") as f:
        for i in range(0, size, 65536):
            f.write(unit[: min(65536, size - i)])
    return {"text": "large.txt", "control": "large.ctl"}


def fetch(ctx, endpoint, name, want, timeout=300.0):
    """Asks for `name`; checks the reply against `want`. Returns (reply size, pid that answered)."""
    sock = ctx.socket(zmq.REQ)
    sock.linger = 0
    sock.rcvhwm = 0
    sock.connect(endpoint)
    try:
        sock.send(json.dumps({"path": name}).encode())
        if not sock.poll(int(timeout * 1000)):
            raise SetupError(f"no reply for {name} within {timeout:.0f} s")
        raw = sock.recv(copy=False)
        size = len(raw)
        reply = json.loads(raw.bytes)
        del raw
        if "content" not in reply:
            raise SetupError(f"{name}: {json.dumps(reply)[:300]}")
        got = reply["content"].encode("utf-8")
        if got != want:
            raise SetupError(f"{name} came back different ({len(got)} vs {len(want)} bytes)")
        return size, reply["pid"]
    finally:
        sock.close()


def run(args, ctx, tmp, rundir, filer_bin):
    kinds = args.mode_servers or (QUICK_SERVERS if args.quick else DEFAULT_SERVERS)
    mib = 4 if args.quick else args.large_mib
    size = mib << 20
    settle = args.large_settle
    root = os.path.join(tmp, "root")
    files = make_large(root, size)
    reply_limit = max(512 << 20, 8 * size)
    rows, bad, out = [], [], {}
    for kind in kinds:
        srv = Server(kind, args.workers, tmp, filer_bin, rundir, max_file_size=size,
                     filer_config={"limits": {"max_reply_size": H.size_text(reply_limit)}})
        try:
            srv.start(ctx, ["1k"])
            time.sleep(1.0)  # idle, as a worker is between bursts
            workers = srv.worker_pids()
            idle = {p: H.smaps(p)["uss_kib"] for p in workers}
            idle_rss = {p: H.proc_status(p)["VmRSS"] for p in workers}
            for what, name in files.items():
                with open(os.path.join(root, name), "rb") as f:
                    want = f.read()
                for p in workers + [srv.pid]:
                    if not H.reset_peak_rss(p):
                        raise SetupError(f"cannot reset the peak RSS of {p} (/proc/PID/clear_refs): run as root "
                                         f"or as the servers' owner")
                t = time.monotonic()
                reply_size, pid = fetch(ctx, srv.endpoint, name, want)
                took = time.monotonic() - t
                del want
                if pid not in idle:
                    raise SetupError(f"{kind}: the reply came from {pid}, not a worker of {sorted(idle)}")
                peak = H.proc_status(pid)["VmHWM"]
                master_peak = H.proc_status(srv.pid)["VmHWM"]
                t = time.monotonic()
                while True:
                    time.sleep(0.25)
                    after = H.smaps(pid)["uss_kib"]
                    returned = time.monotonic() - t
                    if after <= T_AFTER * idle[pid] or returned >= settle:
                        break
                if after > T_AFTER * idle[pid]:
                    returned = None
                row = {"server": kind, "file": what, "size_kib": size >> 10, "reply_kib": reply_size >> 10,
                       "seconds": took, "worker_peak_kib": peak, "worker_idle_rss_kib": idle_rss[pid],
                       "worker_idle_uss_kib": idle[pid],
                       "worker_after_uss_kib": after, "returned_s": returned, "master_peak_kib": master_peak}
                rows.append(row)
                log(f"large {kind} {what}: reply {reply_size >> 20} MiB in {took:.2f} s, worker peak "
                    f"{peak >> 10} MiB ({peak / (size >> 10):.2f}x), USS {idle[pid] >> 10} -> {after >> 10} MiB")
                if srv.proc.poll() is not None:
                    raise SetupError(f"{kind} died serving {name}")
        finally:
            srv.stop()
    out["rows"] = rows
    lines = [f"Large files: {mib} MiB of text and {mib} MiB of control characters, one request each; "
             f"{args.workers} workers; filer with limits.max_reply_size {H.size_text(reply_limit)}. Peak = VmHWM of "
             f"the worker that answered, reset before the request; USS after = the first reading within {T_AFTER:g}× "
             f"the idle USS (every 0.25 s), or the one {settle:g} s after the reply.", "",
             "| server | file | reply MiB | s | worker peak RSS MiB | peak ÷ file | (peak − idle RSS) ÷ file "
             "| worker USS idle MiB | USS after MiB | after ÷ idle | back within s | master peak RSS MiB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        target = (T_TEXT if r["file"] == "text" else T_CONTROL) if r["server"] == "filer" else None
        lines.append(f"| {r['server']} | {r['file']} | {r['reply_kib'] / 1024:.0f} | {r['seconds']:.2f} | "
                     f"{H.mib(r['worker_peak_kib'])} | "
                     f"{H.fmt_ratio(r['worker_peak_kib'] / r['size_kib'], target, False)} | "
                     f"{(r['worker_peak_kib'] - r['worker_idle_rss_kib']) / r['size_kib']:.2f} | "
                     f"{H.mib(r['worker_idle_uss_kib'])} | {H.mib(r['worker_after_uss_kib'])} | "
                     f"{H.fmt_ratio(r['worker_after_uss_kib'] / r['worker_idle_uss_kib'], T_AFTER if target else None, False)} | "
                     f"{'%.2f' % r['returned_s'] if r['returned_s'] is not None else '—'} | "
                     f"{H.mib(r['master_peak_kib'])} |")
    lines += ["", f"Targets (filer): peak worker RSS ≤ {T_TEXT}× the file for text, ≤ {T_CONTROL}× for control "
                  f"characters; USS after ≤ {T_AFTER}× idle; ✗ = missed."]
    return "\n".join(lines), out, bad
