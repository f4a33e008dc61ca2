#!/usr/bin/env python3
"""slow_clients.py — hostile HTTP clients for `wavegate serve`'s limits.

usage: slow_clients.py PORT MODE
  perip     open 8 idle connections from 127.0.0.2 (per-IP limit 4 in the test config): count
            how many the server keeps open after a moment; a request from 127.0.0.1 must still
            be served. Prints "kept=N served=CODE".
  slowloris open 4 connections from 127.0.0.3 that send one header byte every 0.5 s; prints
            header bytes for 3 s (connection_timeout is an idle timeout, so trickling keeps
            a slot until request_timeout; the per-IP cap bounds how many one peer holds) and
            checks 127.0.0.1 is served meanwhile. Prints "served=CODE".
  junk      send malformed requests; prints one status line (or "closed") per case.
  trickle SECS
            one connection from 127.0.0.5 sending a header byte every 0.5 s (never idle long
            enough for connection_timeout); prints the seconds until the server closed it, or
            "open" after SECS.
  keepalive N
            one keep-alive connection making N GET /healthz, one every 0.5 s; prints
            "ok=K" (K answered 200 on that same connection).
  siege SECS NSLOW NADDR NFLOOD READYFILE
            slowloris from many addresses plus a connection flood, for SECS seconds: NSLOW
            connections spread over 127.0.0.2 .. 127.0.0.(1+NADDR) each trickle one header
            byte a second; NFLOOD connections from 127.0.1.x are opened and sent nothing.
            Every connection the server closes is opened again at once. READYFILE is written
            1.5 s in, when all were opened and have trickled. Prints "opened=N reopened=M".
  probe N   N sequential GET /healthz from 127.0.0.1, each on a new connection with a 5 s
            budget; prints "ok=K failed=F p50_ms=X p99_ms=Y max_ms=Z".
"""
import selectors
import socket
import sys
import time

PORT = int(sys.argv[1])
MODE = sys.argv[2]


def conn(src):
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", PORT))
    return s


def get(path, src="127.0.0.1"):
    s = conn(src)
    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except OSError:
        pass
    s.close()
    line = data.split(b"\r\n", 1)[0].decode(errors="replace")
    return line.split(" ")[1] if line.startswith("HTTP/") else "closed"


def alive(s):
    s.setblocking(False)
    try:
        b = s.recv(1)
        return b != b""  # data would be odd; b"" means closed
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        s.setblocking(True)


if MODE == "perip":
    socks = []
    for _ in range(8):
        try:
            socks.append(conn("127.0.0.2"))
        except OSError:
            pass
    deadline = time.time() + 3
    kept = sum(alive(s) for s in socks)
    while time.time() < deadline and kept > 4:
        time.sleep(0.05)
        kept = sum(alive(s) for s in socks)
    print(f"kept={kept} served={get('/healthz')}")
elif MODE == "slowloris":
    socks = [conn("127.0.0.3") for _ in range(4)]
    req = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 100
    for i in range(6):
        for s in socks:
            try:
                s.send(req[i:i + 1])
            except OSError:
                pass
        time.sleep(0.5)
    print(f"served={get('/healthz')}")
elif MODE == "junk":
    cases = [
        b"GARBAGE\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n",
        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /v1/gate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /v1/gate HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{\"wa\x00",
        b"GET /v1/gate?wave=%00%ff HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    for c in cases:
        s = conn("127.0.0.1")
        try:
            s.sendall(c)
            s.shutdown(socket.SHUT_WR)
            data = s.recv(200)
            line = data.split(b"\r\n", 1)[0].decode(errors="replace")
            print(line.split(" ")[1] if line.startswith("HTTP/") else "closed")
        except OSError:
            print("closed")
        s.close()
    print(f"after={get('/healthz')}")
elif MODE == "trickle":
    secs = float(sys.argv[3])
    s = conn("127.0.0.5")
    t0 = time.time()
    req = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 10000
    i = 0
    closed = None
    while time.time() - t0 < secs:
        try:
            s.send(req[i:i + 1])
            i += 1
        except OSError:
            closed = time.time() - t0
            break
        if not alive(s):
            closed = time.time() - t0
            break
        time.sleep(0.5)
    print(f"{closed:.1f}" if closed is not None else "open")
elif MODE == "keepalive":
    n = int(sys.argv[3])
    s = conn("127.0.0.6")
    f = s.makefile("rb")
    ok = 0
    for _ in range(n):
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            status = f.readline().split(b" ")[1]
            clen = 0
            while True:
                h = f.readline()
                if h in (b"\r\n", b""):
                    break
                if h.lower().startswith(b"content-length:"):
                    clen = int(h.split(b":")[1])
            f.read(clen)
            ok += status == b"200"
        except (OSError, IndexError):
            break
        time.sleep(0.5)
    print(f"ok={ok}")
elif MODE == "siege":
    secs, nslow, naddr, nflood = float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), \
        int(sys.argv[6])
    ready = sys.argv[7]
    sel = selectors.DefaultSelector()
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 100000
    opened = reopened = 0
    slots = [(f"127.0.0.{2 + i % naddr}", True) for i in range(nslow)] + \
        [(f"127.0.1.{1 + i % 40}", False) for i in range(nflood)]
    state = {}  # socket -> [slot index, bytes sent]

    def open_slot(k):
        global opened
        src, _ = slots[k]
        s = socket.socket()
        s.setblocking(False)
        try:
            s.bind((src, 0))
            s.connect_ex(("127.0.0.1", PORT))
        except OSError:
            s.close()
            return
        state[s] = [k, 0]
        sel.register(s, selectors.EVENT_READ)
        opened += 1

    for k in range(len(slots)):
        open_slot(k)
    t0 = time.time()
    next_tick = t0
    while time.time() - t0 < secs:
        if ready and time.time() - t0 >= 1.5:  # every slot taken and trickling by now
            with open(ready, "w") as fh:
                fh.write("ready\n")
            ready = None
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            try:
                gone = s.recv(4096) == b""
            except BlockingIOError:
                gone = False
            except OSError:
                gone = True
            if gone:  # closed by the server: come back at once
                k = state.pop(s)[0]
                sel.unregister(s)
                s.close()
                open_slot(k)
                reopened += 1
        if time.time() >= next_tick:  # one header byte a second on every slow connection
            next_tick += 1.0
            for s, st in list(state.items()):
                if slots[st[0]][1]:
                    try:
                        s.send(head[st[1]:st[1] + 1])
                        st[1] += 1
                    except OSError:
                        pass
    print(f"opened={opened} reopened={reopened}")
elif MODE == "probe":
    n = int(sys.argv[3])
    lat, failed = [], 0
    for _ in range(n):
        t = time.time()
        try:
            s = socket.socket()
            s.settimeout(5)
            s.connect(("127.0.0.1", PORT))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
            s.close()
            if data.startswith(b"HTTP/1.1 200"):
                lat.append((time.time() - t) * 1000)
            else:
                failed += 1
        except OSError:
            failed += 1
        time.sleep(0.05)
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else -1
    print(f"ok={len(lat)} failed={failed} p50_ms={pct(0.5):.1f} p99_ms={pct(0.99):.1f} "
          f"max_ms={(lat[-1] if lat else -1):.1f}")
