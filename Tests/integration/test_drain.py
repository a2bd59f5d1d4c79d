"""A broker's drain endpoint (the port after a tcp:// backend): worker hosts pause the
broker while one of their workers leaves. Here on loopback, driven by hand: a pause holds
clients' requests and is confirmed, a resume lets them through, a lease that runs out
ends the pause by itself, and garbage or floods cost the broker nothing."""

from __future__ import annotations

import zmq

from filerproc import free_port, request_json, wait_until


def drain_socket(port: int) -> zmq.Socket:
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, 3000)
    s.connect(f"tcp://127.0.0.1:{port + 1}")
    return s


def broker(daemons):
    port = free_port(count=2)  # the backend's, and its drain endpoint's after it
    d = daemons.start(workers=1, config={"backend": f"tcp://127.0.0.1:{port}"})
    return d, port


def answered(d, timeout: float) -> bool:
    try:
        raw, _ = request_json(d.endpoint, {"path": "hello.txt"}, timeout=timeout)
        return b'"content"' in raw
    except Exception:
        return False


def test_a_pause_holds_requests_until_resumed(daemons):
    d, port = broker(daemons)
    s = drain_socket(port)
    s.send(b"pause test-1 30")
    assert s.recv() == b"paused test-1", "the pause is confirmed once the proxy has stopped"
    ctx = zmq.Context.instance()
    client = ctx.socket(zmq.REQ)
    client.setsockopt(zmq.LINGER, 0)
    client.connect(d.endpoint)
    client.send_json({"path": "hello.txt"})
    assert not client.poll(1000), "a request was served during the pause"
    s.send(b"resume test-1")
    assert s.recv() == b"resumed test-1"
    assert client.poll(3000), "the request held during the pause was not answered after it"
    assert b'"content"' in client.recv()
    client.close()
    s.close()


def test_a_lease_that_runs_out_ends_the_pause(daemons):
    d, port = broker(daemons)
    s = drain_socket(port)
    s.send(b"pause forgotten 1")
    assert s.recv() == b"paused forgotten"
    assert wait_until(lambda: answered(d, 1.0), 5), "the broker stayed paused past the lease"
    assert d.wait_log(rb"ran out before it said it was done", timeout=3)
    s.close()


def test_garbage_and_floods_on_the_drain_endpoint_cost_nothing(daemons):
    d, port = broker(daemons)
    s = drain_socket(port)
    s.send(b"make me a sandwich")
    assert s.recv().startswith(b"error: expected")
    s.send(b"pause x notanumber")
    assert s.recv().startswith(b"error: expected")
    # Longer than any command, short enough to pass the socket (a CURVE handshake must):
    # answered as garbage.
    s.send(b"pause " + b"x" * 300 + b" 5")
    assert s.recv().startswith(b"error: expected")
    # Over the size of any frame a worker host sends: the connection is cut, the broker goes on.
    big = drain_socket(port)
    big.send(b"pause " + b"x" * 4096 + b" 5")
    assert not big.poll(1000)
    for i in range(2000):
        s.send(b"resume nothing-%d" % i)
    assert answered(d, 3.0), "a flood of commands stalled the broker"
    assert d.proc.poll() is None
    big.close()
    s.close()
