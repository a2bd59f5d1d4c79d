"""bench/run --syscalls: system calls per request, by name, for one worker of each server.

Each server runs with one worker. After a warm-up, `strace -c -f -p WORKER` attaches
to that worker (all its threads: the worker's own and libzmq's I/O thread), one
closed-loop client sends a fixed number of requests (--syscall-requests, default
2,000, of --syscall-file, default 1k), strace detaches and its counts are divided by
the number of requests. What the master does is not counted.
"""
import os
import shutil
import signal
import subprocess
import time

import harness as H
from harness import FILES, Server, SetupError, log

DEFAULT_SERVERS = ["filer", "min", "ref"]
QUICK_REQUESTS = 200


def parse_strace_c(path):
    """{syscall: (calls, errors)} from the summary `strace -c -o PATH` writes."""
    counts = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            # % time  seconds  usecs/call  calls  [errors]  syscall
            if len(parts) < 5 or not parts[0][0].isdigit() or parts[-1] == "total":
                continue
            try:
                calls = int(parts[3])
                errors = int(parts[4]) if len(parts) == 6 else 0
            except ValueError:
                continue
            counts[parts[-1]] = (calls, errors)
    return counts


def traced(pid, tracer):
    """Whether every thread of `pid` is traced by `tracer`."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/status") as f:
                tp = next((int(l.split()[1]) for l in f if l.startswith("TracerPid:")), 0)
        except OSError:
            return False
        if tp != tracer:
            return False
    return True


def count_one(srv, fname, requests, rundir):
    pids = srv.worker_pids()
    if len(pids) != 1:
        raise SetupError(f"{srv.kind}: expected one worker, found {pids}")
    wpid = pids[0]
    out = os.path.join(rundir, f"strace-{srv.kind}.txt")
    tracer = subprocess.Popen(["strace", "-c", "-f", "-o", out, "-p", str(wpid)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not traced(wpid, tracer.pid):
            if tracer.poll() is not None or time.monotonic() > deadline:
                raise SetupError(f"strace could not attach to {srv.kind}'s worker {wpid}: "
                                 f"{tracer.stderr.read().decode(errors='replace').strip()}")
            time.sleep(0.02)
        res = H.run_load(srv, fname, 1, 120, 0, count=requests, timeout_ms=30000)
    finally:
        if tracer.poll() is None:
            tracer.send_signal(signal.SIGINT)  # detach and write the summary
            try:
                tracer.wait(20)
            except subprocess.TimeoutExpired:
                tracer.kill()
                tracer.wait()
    return res, parse_strace_c(out)


def run(args, ctx, tmp, rundir, filer_bin):
    if not shutil.which("strace"):
        raise SetupError("strace is not installed (scripts/setup installs it: apt-get install strace)")
    kinds = args.mode_servers or DEFAULT_SERVERS
    requests = QUICK_REQUESTS if args.quick else args.syscall_requests
    fname = FILES[args.syscall_file][0]
    per, totals, bad, raw = {}, {}, [], {}
    for kind in kinds:
        srv = Server(kind, 1, tmp, filer_bin, rundir)
        try:
            srv.start(ctx, [args.syscall_file])
            H.run_load(srv, fname, 1, 10, 0, count=min(requests, 500), quiet=True)  # warm-up, not counted
            time.sleep(0.2)
            res, counts = count_one(srv, fname, requests, rundir)
        finally:
            srv.stop()
        n = res["requests"]
        if H.failures(res) or n != requests:
            bad.append(f"syscalls {kind}: {n}/{requests} answered, {res['errors']} errors, "
                       f"{res['timeouts']} timeouts")
        if not n:
            continue
        raw[kind] = {"requests": n, "counts": counts, "rps_under_strace": res["rps"]}
        per[kind] = {name: calls / n for name, (calls, _) in counts.items()}
        totals[kind] = (sum(c for c, _ in counts.values()) / n, sum(e for _, e in counts.values()) / n)
        log(f"syscalls {kind}: {totals[kind][0]:.2f} per request over {n} requests")

    kinds = [k for k in kinds if k in per]
    names = sorted({nm for k in kinds for nm in per[k]}, key=lambda nm: -max(per[k].get(nm, 0) for k in kinds))
    lines = [f"System calls per request: one worker of each server under `strace -c -f -p`, "
             f"{requests} requests of {args.syscall_file} from one closed-loop client, after a warm-up "
             f"(all the worker's threads, libzmq's I/O thread included; the master not counted).", ""]
    hdr = ["syscall"] + kinds + [f"filer − {k}" for k in kinds if k != "filer" and "filer" in kinds]
    lines.append("| " + " | ".join(hdr) + " |")
    lines.append("|---|" + "---:|" * (len(hdr) - 1))

    def row(label, values):
        cells = [f"{values[k]:.2f}" if values.get(k) else "—" for k in kinds]
        if "filer" in values:
            cells += [f"{values.get('filer', 0) - values.get(k, 0):+.2f}" for k in kinds if k != "filer"]
        return "| " + " | ".join([label] + cells) + " |"
    for nm in names:
        lines.append(row(nm, {k: per[k].get(nm, 0) for k in kinds}))
    lines.append(row("**total**", {k: totals[k][0] for k in kinds}))
    lines.append(row("of which failed (EAGAIN, ...)", {k: totals[k][1] for k in kinds}))
    return "\n".join(lines), {"servers": raw}, bad
