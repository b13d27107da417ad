#!/usr/bin/env python3
# liar-backup - an HTTPS "backup" that lies to the agent, for the tests
#
#   liar-backup.py PORT CERT KEY MODE COUNTFILE [SERIAL]
#
# Every POST /v1/push is read whole and answered according to MODE:
#   409      409 {"error": ..., "serial": SERIAL} (default 9007199254740990):
#            a bare claim of a huge serial, no signed manifest
#   409sig   the same with a "manifest"/"signature" pair that is not signed
#            by the agent's key (a manifest made up by the backup)
#   200stale 200 {"serial": SERIAL, "state_hash": <the pushed one>} (default
#            serial 1): an acknowledgement of something else
#   200hash  200 with the pushed serial and a wrong state hash
#   409held  409 with the manifest and signature of the file SERIAL names
#            (the two header lines "tool-mksnap --headers" prints): a
#            manifest that really is signed, by whatever key made it
# COUNTFILE gets the number of pushes received after each one.  Listens on
# 127.0.0.1 only; stops on SIGTERM.
import base64
import http.server
import json
import os
import signal
import ssl
import sys

port, cert, key, mode, countfile = sys.argv[1:6]
held = {}
if mode == "409held":
    with open(sys.argv[6]) as f:
        for line in f:
            name, _, value = line.strip().partition(": ")
            held[name.lower()] = value
    serial = json.loads(base64.b64decode(held["x-mxsync-manifest"]))["serial"]
else:
    serial = int(sys.argv[6]) if len(sys.argv) > 6 else (
        1 if mode.startswith("200") else 9007199254740990)
count = 0


class Liar(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        global count
        n = int(self.headers.get("Content-Length", "0"))
        remaining = n
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 65536))
            if not chunk:
                break
            remaining -= len(chunk)
        count += 1
        with open(countfile + ".tmp", "w") as f:
            f.write("%d\n" % count)
        os.replace(countfile + ".tmp", countfile)
        m = json.loads(base64.b64decode(self.headers.get("X-Mxsync-Manifest", "")
                                        or "e30="))
        if mode == "409":
            code, body = 409, {"error": "serial is not above the current serial",
                               "serial": serial}
        elif mode == "409sig":
            fake = dict(m)
            fake["serial"] = serial
            mj = json.dumps(fake, separators=(",", ":")).encode()
            code, body = 409, {"error": "serial is not above the current serial",
                               "serial": serial,
                               "manifest": base64.b64encode(mj).decode(),
                               "signature": base64.b64encode(b"\0" * 64).decode()}
        elif mode == "409held":
            code, body = 409, {"error": "serial is not above the current serial",
                               "serial": serial,
                               "manifest": held["x-mxsync-manifest"],
                               "signature": held["x-mxsync-signature"]}
        elif mode == "200stale":
            code, body = 200, {"serial": serial,
                               "state_hash": m.get("state_hash", "")}
        else:
            code, body = 200, {"serial": m.get("serial", 0),
                               "state_hash": "00" * 32}
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def stop(*_):
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), Liar)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(countfile, "w") as f:
    f.write("0\n")
srv.serve_forever()
