#!/usr/bin/env python3
"""slow_clients.py — hostile HTTP clients for `wavegate serve`'s limits.

usage: slow_clients.py PORT MODE
  perip     open 8 idle connections from 127.0.0.2 (per-IP limit 4 in the test config): count
            how many the server keeps open after a moment; a request from 127.0.0.1 must still
            be served. Prints "kept=N served=CODE".
  slowloris open 4 connections from 127.0.0.3 that send one header byte every 0.5 s; prints
            the seconds until the server closed each (connection_timeout is an idle timeout,
            so trickling keeps a slot; the per-IP cap bounds how many one peer can hold) and
            whether 127.0.0.1 was served meanwhile. Prints "served=CODE".
  junk      send malformed requests; prints one status line (or "closed") per case.
"""
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
