#!/bin/sh
# B4 ingest: SMTP accept rate with fsync before every 250. Postfix's
# smtp-source (-s 20 -m 5000 -l 4000 by default) against skywave and against
# a private Postfix on loopback that holds everything in its queue
# (header_checks HOLD), in the same run, alternating, ROUNDS times each.
#
# skywave side: skywaved --config (when it answers SMTP on the configured
# listener); otherwise bench_ingest, the same SMTP front end and queue in a
# small process (the JSON says which one ran).
#
# Environment: SKYWAVE_BUILD (default build/), INGEST_SESSIONS,
# INGEST_MESSAGES, INGEST_SIZE, INGEST_ROUNDS (default 2).
# Needs: smtp-source and postfix (Debian package postfix), python3; root
# for the private Postfix instance (its directories belong to postfix).
set -eu
: "${SKYWAVE_BUILD:=$PWD/build}"
SESSIONS="${INGEST_SESSIONS:-20}"
MESSAGES="${INGEST_MESSAGES:-5000}"
SIZE="${INGEST_SIZE:-4000}"
ROUNDS="${INGEST_ROUNDS:-2}"
SKYWAVED="$SKYWAVE_BUILD/gateway/skywaved"
INGEST="$SKYWAVE_BUILD/bench/bench_ingest"
SMTP_SOURCE="$(command -v smtp-source || echo /usr/sbin/smtp-source)"
POSTFIX="$(command -v postfix || echo /usr/sbin/postfix)"
[ -x "$SMTP_SOURCE" ] || { echo "ingest: smtp-source missing (apt-get install postfix)" >&2; exit 1; }
mkdir -p bench/results
WORK="$(mktemp -d /tmp/skywave-ingest-XXXXXX)"
chmod 755 "$WORK" # the postfix user must reach its queue
SKY_PID=""
PF_STARTED=""

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_smtp PORT: until something answers 220 on 127.0.0.1:PORT (10 s).
wait_smtp() {
	python3 - "$1" <<'EOF'
import socket, sys, time
deadline = time.time() + 10
while time.time() < deadline:
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)
        ok = s.recv(512).startswith(b"220")
        s.sendall(b"QUIT\r\n")
        s.close()
        if ok:
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit(1)
EOF
}

pf_conf_dir_add() {
	cur="$(postconf -h alternate_config_directories 2>/dev/null || true)"
	postconf -e "alternate_config_directories = $cur $1"
}

pf_conf_dir_remove() {
	cur="$(postconf -h alternate_config_directories 2>/dev/null || true)"
	new="$(echo "$cur" | tr ' ,' '\n\n' | grep -v -x -F "$1" | tr '\n' ' ')"
	postconf -e "alternate_config_directories = $new"
}

cleanup() {
	if [ -n "$SKY_PID" ]; then kill -TERM "$SKY_PID" 2>/dev/null || true; wait "$SKY_PID" 2>/dev/null || true; fi
	if [ -n "$PF_STARTED" ]; then
		"$POSTFIX" -c "$WORK/pf/etc" stop >/dev/null 2>&1 || true
		pf_conf_dir_remove "$WORK/pf/etc"
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# ---- skywave ------------------------------------------------------------
start_skywave() {
	rm -rf "$WORK/sky"; mkdir -p "$WORK/sky"
	SKY_PORT="$(free_port)"
	SKY_KIND=""
	if [ -x "$SKYWAVED" ]; then
		cat > "$WORK/sky/skywave.conf" <<EOF
[gateway]
hostname = ingest.test
listen = 127.0.0.1:$SKY_PORT
data_dir = $WORK/sky
log_level = warn
max_sessions_per_client = 1000

[policy]
trusted_networks = 127.0.0.0/8, ::1/128

# onward delivery to a closed port: mail stays deferred in the queue (as
# Postfix holds it), and no bounce traffic competes with the ingest
[route]
* = smtp:127.0.0.1:9
EOF
		"$SKYWAVED" --config "$WORK/sky/skywave.conf" --foreground \
		    >"$WORK/sky/log" 2>&1 &
		SKY_PID=$!
		if wait_smtp "$SKY_PORT"; then
			SKY_KIND="skywaved"
			return 0
		fi
		kill -TERM "$SKY_PID" 2>/dev/null || true
		wait "$SKY_PID" 2>/dev/null || true
		SKY_PID=""
	fi
	[ -x "$INGEST" ] || { echo "ingest: build bench_ingest or skywaved first" >&2; exit 1; }
	"$INGEST" "$WORK/sky" "$WORK/sky/port" "$SKY_PORT" >"$WORK/sky/out" 2>"$WORK/sky/log" &
	SKY_PID=$!
	wait_smtp "$SKY_PORT" || { echo "ingest: bench_ingest did not start" >&2; cat "$WORK/sky/log" >&2; exit 1; }
	SKY_KIND="bench_ingest"
}

stop_skywave() {
	kill -TERM "$SKY_PID"
	wait "$SKY_PID" || true
	SKY_PID=""
}

# ---- postfix (private instance, holds everything) -----------------------
start_postfix() {
	PF="$WORK/pf"
	PF_PORT="$(free_port)"
	mkdir -p "$PF/etc" "$PF/spool" "$PF/data"
	chown postfix "$PF/data"
	echo '/^/ HOLD' > "$PF/etc/hold"
	cat > "$PF/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $PF/spool
data_directory = $PF/data
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = pf-ingest.test
mydestination =
relay_domains = static:ALL
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
alias_maps =
alias_database =
header_checks = regexp:$PF/etc/hold
maillog_file = $PF/maillog
maillog_file_prefixes = $PF
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
default_process_limit = 200
EOF
	sed -e "s|^smtp\( *\)inet\( *\)n\( *\)-\( *\)y|127.0.0.1:$PF_PORT\1inet\2n\3-\4n|" \
	    /etc/postfix/master.cf > "$PF/etc/master.cf"
	grep -q "^127.0.0.1:$PF_PORT" "$PF/etc/master.cf" || { echo "ingest: could not edit master.cf" >&2; exit 1; }
	pf_conf_dir_add "$PF/etc"
	PF_STARTED=1
	"$POSTFIX" -c "$PF/etc" post-install create-missing >/dev/null 2>&1
	"$POSTFIX" -c "$PF/etc" start >"$WORK/pf-start.log" 2>&1 || { cat "$WORK/pf-start.log" >&2; exit 1; }
	wait_smtp "$PF_PORT" || { echo "ingest: postfix did not start" >&2; exit 1; }
}

# run_source PORT -> seconds elapsed for MESSAGES messages
run_source() {
	python3 - "$SMTP_SOURCE" "$1" "$SESSIONS" "$MESSAGES" "$SIZE" <<'EOF'
import subprocess, sys, time
src, port, s, m, l = sys.argv[1:]
t0 = time.monotonic()
subprocess.run([src, "-s", s, "-m", m, "-l", l, "-f", "bench@x.test",
                "-t", "sink@y.test", "127.0.0.1:" + port], check=True,
               timeout=1800)
print("%.3f" % (time.monotonic() - t0))
EOF
}

count_postfix_held() {
	find "$WORK/pf/spool/hold" -type f 2>/dev/null | wc -l
}

count_skywave() {
	python3 - "$WORK/sky/queue.db" <<'EOF'
import sqlite3, sys
try:
    con = sqlite3.connect(sys.argv[1])
    print(con.execute("SELECT count(*) FROM message").fetchone()[0])
except Exception:
    print(-1)
EOF
}

start_postfix
SKY_T=0; PF_T=0; SKY_N=0; PF_N=0
r=1
while [ "$r" -le "$ROUNDS" ]; do
	start_skywave
	t="$(run_source "$SKY_PORT")"
	stop_skywave
	n="$(count_skywave)"
	SKY_T="$(python3 -c "print($SKY_T + $t)")"; SKY_N=$((SKY_N + MESSAGES))
	echo "round $r skywave ($SKY_KIND): $MESSAGES messages in ${t}s, stored $n"
	before="$(count_postfix_held)"
	t="$(run_source "$PF_PORT")"
	# Postfix's 250 comes after its own fsync; wait for the hold count
	sleep 1
	after="$(count_postfix_held)"
	PF_T="$(python3 -c "print($PF_T + $t)")"; PF_N=$((PF_N + MESSAGES))
	echo "round $r postfix: $MESSAGES messages in ${t}s, held $((after - before))"
	r=$((r + 1))
done

python3 - "$SKY_N" "$SKY_T" "$PF_N" "$PF_T" "$SKY_KIND" "$SESSIONS" "$MESSAGES" "$SIZE" <<'EOF'
import json, sys
sn, st, pn, pt, kind, s, m, l = sys.argv[1:]
sky = int(sn) / float(st)
pf = int(pn) / float(pt)
res = {"skywave_msgs_per_s": round(sky, 1), "postfix_msgs_per_s": round(pf, 1),
       "ratio": round(sky / pf, 2), "skywave_server": kind,
       "sessions": int(s), "messages": int(m), "size": int(l)}
print("%-10s %12s" % ("server", "msgs/s"))
print("%-10s %12.1f" % ("skywave", sky))
print("%-10s %12.1f" % ("postfix", pf))
print("%-10s %12.2f  (goal >= 2.0)" % ("ratio", sky / pf))
with open("bench/results/ingest.json", "w") as f:
    json.dump(res, f)
    f.write("\n")
EOF
echo "wrote bench/results/ingest.json"
