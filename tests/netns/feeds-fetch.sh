#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# `ztsegctl feeds fetch`, the unprivileged fetcher, against a local HTTP(S)
# server (python3 http.server) on the loopback of a namespace of its own:
# a 200 is written atomically with its validators; the next fetch sends
# If-None-Match / If-Modified-Since and a 304 keeps the copy (its age starts
# again); a 500, a slow server and a server that sends too much each fail
# with a precise message and leave the last copy and no temporary file; a
# self-signed https server is refused (TLS verification is on) unless its
# CA is given; it runs as nobody; and ztsegd picks the fetched file up.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || zt_skip "python3 is not installed"
command -v setpriv >/dev/null || zt_skip "setpriv (util-linux) is not installed"
command -v openssl >/dev/null || zt_skip "openssl is not installed (the https case)"

zt_init
zt_ns_add web
chmod 0711 "$ZT_TMP"
D=$ZT_TMP/feeds-dir
mkdir -m 0755 "$D" "$ZT_TMP/www" "$ZT_TMP/run"
chown 65534:65534 "$D"

# The server: /ok (ETag "v1", Last-Modified; 304 when either validator
# matches), /fail (500), /slow (a few bytes, then silence), /huge (endless).
cat >"$ZT_TMP/server.py" <<'EOF'
import http.server, ssl, sys, time
LOG = open(sys.argv[2], "a", buffering=1)
BODY = b"# test feed\n192.0.2.20\n2001:db8:ee::20\n198.51.100.0/24 ; SBL1\n"
LM = "Sat, 05 Dec 2026 10:00:00 GMT"
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        LOG.write("%s inm=%s ims=%s\n" % (self.path, self.headers.get("If-None-Match"),
                                          self.headers.get("If-Modified-Since")))
        if self.path == "/ok":
            if self.headers.get("If-None-Match") == '"v1"' or self.headers.get("If-Modified-Since") == LM:
                self.send_response(304); self.send_header("ETag", '"v1"'); self.end_headers(); return
            self.send_response(200); self.send_header("ETag", '"v1"'); self.send_header("Last-Modified", LM)
            self.send_header("Content-Length", str(len(BODY))); self.end_headers(); self.wfile.write(BODY)
        elif self.path == "/fail":
            self.send_response(500); self.send_header("Content-Length", "0"); self.end_headers()
        elif self.path == "/slow":
            self.send_response(200); self.send_header("Content-Length", "100000"); self.end_headers()
            self.wfile.write(b"192.0.2.30\n"); self.wfile.flush(); time.sleep(30)
        elif self.path == "/huge":
            self.send_response(200); self.end_headers()
            try:
                while True: self.wfile.write(b"192.0.2.40\n" * 1000)
            except Exception: pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
s.daemon_threads = True
if len(sys.argv) > 3:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[3], sys.argv[4])
    s.socket = ctx.wrap_socket(s.socket, server_side=True)
s.serve_forever()
EOF
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	-keyout "$ZT_TMP/key.pem" -out "$ZT_TMP/cert.pem" >/dev/null 2>&1 || zt_die "openssl could not make a certificate"
chmod 0644 "$ZT_TMP/cert.pem"
zt_bg web "$ZT_TMP/server.log" python3 "$ZT_TMP/server.py" 8080 "$ZT_TMP/requests"
zt_bg web "$ZT_TMP/server-tls.log" python3 "$ZT_TMP/server.py" 8443 "$ZT_TMP/requests" "$ZT_TMP/cert.pem" "$ZT_TMP/key.pem"
zt_wait_for 5000 zt_x web python3 -c "import socket; socket.create_connection(('127.0.0.1', 8080), 1); socket.create_connection(('127.0.0.1', 8443), 1)" 2>/dev/null ||
	zt_die "the test servers did not start"

POL=$ZT_TMP/pol
mkdir -m 0755 "$POL"
cat >"$POL/ztseg.yaml" <<EOF
version: 1
hub:
  default: drop
  protect-host: false
segments:
  db: { interfaces: ["vdb*"], addresses: [198.51.100.64/27] }
threats:
  blocklists:
    - { name: ok, url: "http://127.0.0.1:8080/ok", max-age: 1h }
    - { name: fail, url: "http://127.0.0.1:8080/fail" }
    - { name: slow, url: "http://127.0.0.1:8080/slow" }
    - { name: huge, url: "http://127.0.0.1:8080/huge", max-size: 1M }
    - { name: tls, url: "https://127.0.0.1:8443/ok" }
EOF
chmod 0644 "$POL/ztseg.yaml"

# fetch ARGS...: ztsegctl feeds fetch as nobody in the server's namespace.
fetch() {
	zt_x web setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$ZT_CTL" feeds fetch --config "$POL" --feeds-dir "$D" --timeout 3 "$@"
}
# failed_with RC TEXT: the fetch failed (exit 1) and said TEXT (an extended regex).
failed_with() { [ "$rc" -eq "$1" ] && grep -qiE -- "$2" <<<"$out"; }
notmp() { ! ls -A "$D" | grep -qE '^\.[a-z]+\.[A-Za-z0-9]{6}$'; }
for n in fail slow huge; do printf '192.0.2.99\n' >"$D/$n"; chown 65534 "$D/$n"; done

# ---- 200, then 304 ------------------------------------------------------------------
out=$(fetch --feed ok 2>&1) && rc=0 || rc=$?
zt_check "200: fetched (exit 0)" [ "$rc" -eq 0 ]
zt_check "200: says how much" grep -q "feed 'ok': fetched 62 bytes" <<<"$out"
zt_check "200: the file holds the body" grep -qx '198.51.100.0/24 ; SBL1' "$D/ok"
zt_check "200: the file is the fetcher's, 0644" [ "$(stat -c '%u %a' "$D/ok")" == "65534 644" ]
zt_check "200: the validators are kept" grep -q 'etag: "v1"' "$D/.ok.meta"
touch -d '2020-01-01' "$D/ok"
out=$(fetch --feed ok 2>&1) && rc=0 || rc=$?
zt_check "304: not modified (exit 0)" [ "$rc" -eq 0 ] 
zt_check "304: said so" grep -q "feed 'ok': not modified (304)" <<<"$out"
zt_check "304: the request carried If-None-Match and If-Modified-Since" \
	grep -q '^/ok inm="v1" ims=Sat, 05 Dec 2026 10:00:00 GMT' "$ZT_TMP/requests"
zt_check "304: the copy is kept and its age starts again" \
	[ "$(stat -c %Y "$D/ok")" -gt "$(date -d '2025-01-01' +%s)" -a -s "$D/ok" ]

# ---- 500, slow, too much --------------------------------------------------------------
out=$(fetch --feed fail 2>&1) && rc=0 || rc=$?
zt_check "500: fails (exit 1) saying the status" failed_with 1 "feed 'fail': HTTP status 500: the last copy stays"
zt_check "500: the last copy stays" grep -qx 192.0.2.99 "$D/fail"
t0=$(zt_now_ms)
out=$(fetch --feed slow 2>&1) && rc=0 || rc=$?
t=$(($(zt_now_ms) - t0))
zt_check "slow: fails within the time limit (${t} ms for --timeout 3)" [ "$rc" -eq 1 -a "$t" -lt 8000 ]
zt_check "slow: says it timed out" grep -qi "feed 'slow': timeout" <<<"$out"
zt_check "slow: the last copy stays" grep -qx 192.0.2.99 "$D/slow"
out=$(fetch --feed huge 2>&1) && rc=0 || rc=$?
zt_check "too much: fails saying so" failed_with 1 "feed 'huge': refused: the server sent more than 1048576 bytes"
zt_check "too much: the last copy stays" grep -qx 192.0.2.99 "$D/huge"
zt_check "no temporary file is left behind" notmp

# ---- TLS verification -------------------------------------------------------------------
out=$(fetch --feed tls 2>&1) && rc=0 || rc=$?
zt_check "https with a certificate nobody vouches for: refused" failed_with 1 "feed 'tls': .*(certificate|SSL)"
zt_check "https: nothing written" [ ! -e "$D/tls" ]
out=$(fetch --feed tls --ca-file "$ZT_TMP/cert.pem" 2>&1) && rc=0 || rc=$?
zt_check "https with its CA given: fetched" failed_with 0 "feed 'tls': fetched 62 bytes"
out=$(fetch 2>&1) && rc=0 || rc=$?
zt_check "all feeds at once: exit 1 when any failed" [ "$rc" -eq 1 ]

# ---- ztsegd picks the fetched file up -----------------------------------------------------
# This host has no user ztseg-feeds: the file the daemon should take is
# given to root; the one nobody owns is refused.
chown 0 "$D/ok"
zt_bg web "$ZT_TMP/daemon.log" "$ZT_D" --config "$POL" --state-dir "$ZT_TMP/state" --feeds-dir "$D" \
	--socket "$ZT_TMP/run/ztsegd.sock" --log-level info
DPID=$ZT_BG_PID
zt_wait_for 20000 grep -q "feeds applied" "$ZT_TMP/daemon.log" || { sed 's/^/#   /' "$ZT_TMP/daemon.log"; zt_die "ztsegd did not load the feeds"; }
st=$(zt_x web "$ZT_CTL" --socket "$ZT_TMP/run/ztsegd.sock" feeds --json)
zt_check "ztsegd enforces the fetched feed (3 entries)" \
	[ "$(python3 -c 'import json,sys; j=json.load(sys.stdin); print([f["entries"] for f in j["feeds"] if f["name"] == "ok"][0])' <<<"$st")" == 3 ]
zt_check "a feed file owned by another user (not root, ztsegd or ztseg-feeds) is refused" \
	grep -q "feed 'tls': .*owned by uid 65534" "$ZT_TMP/daemon.log"
kill -TERM "$DPID"; wait "$DPID" || true
zt_finish
