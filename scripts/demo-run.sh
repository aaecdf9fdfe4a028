#!/bin/sh
# demo-run.sh BUILD_DIR [--selftest]
#
# Two skywave gateways on one machine, joined by a simulated 2400 bit/s
# half-duplex HF link:
#
#   SMTP :2525 -> alpha.example --[skywave-sim hf-2400-hd]--> bravo.example
#                                                  -> Maildir var/demo/bravo/mail
#   and the other way: SMTP :2526 -> bravo.example --> alpha's Maildir.
#
# Each gateway has its own configuration, SQLite queue and SMTP port under
# var/demo/. With --selftest it sends one message, waits for it in the far
# Maildir, checks it and stops (used by the test suite). SKYWAVE_DEMO_PORT
# sets the first SMTP port (default 2525; "auto": two free ports), and
# SKYWAVE_DEMO_DIR the working directory (default var/demo).
set -eu
build=$1
selftest=${2:-}
top=$(cd "$(dirname "$0")/.." && pwd)
port_a=${SKYWAVE_DEMO_PORT:-2525}
if [ "$port_a" != auto ]; then
	port_b=$((port_a + 1))
else # two free loopback ports (tests)
	set -- $(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
	port_a=$1
	port_b=$2
fi
dir=${SKYWAVE_DEMO_DIR:-$top/var/demo}
rm -rf "$dir"
mkdir -p "$dir/alpha" "$dir/bravo"

pids=""
sim=""
# Ctrl-C: the gateways first (each finishes its shutdown and logs
# event=stopped), then the simulator, so no gateway loses its modem while
# it stops.
cleanup() {
	trap - INT TERM EXIT
	for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	if [ -n "$sim" ]; then
		kill -TERM "$sim" 2>/dev/null || true
		wait "$sim" 2>/dev/null || true
	fi
}
trap cleanup INT TERM EXIT

# in a session of its own, so a Ctrl-C at the terminal reaches the
# gateways only; cleanup stops the simulator after them
setsid "$build/hw-sim/skywave-sim" --profile hf-2400-hd --dir "$dir" --seed 1 \
	>"$dir/sim.out" 2>"$dir/sim.log" &
sim=$!
i=0
while [ ! -e "$dir/b0" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -e "$dir/b0" ] || { echo "demo: skywave-sim did not start" >&2; exit 1; }

gateway() { # name peer port device
	cat >"$dir/$1/skywave.conf" <<CONF
[gateway]
hostname = $1.example
listen = 127.0.0.1:$3
data_dir = $dir/$1

[link hf]
driver = pty
device = $4
profile = hf-2400-hd
peer = $2.example

[route]
$2.example = link:hf
$1.example = maildir:$dir/$1/mail
CONF
	"$build/gateway/skywaved" --foreground --config "$dir/$1/skywave.conf" \
		2>"$dir/$1/skywaved.log" &
	pids="$pids $!"
}
gateway alpha bravo "$port_a" "$dir/a0"
gateway bravo alpha "$port_b" "$dir/b0"

i=0
until grep -q "event=session_up" "$dir/alpha/skywaved.log" 2>/dev/null &&
    grep -q "event=started" "$dir/bravo/skywaved.log" 2>/dev/null; do
	sleep 0.2
	i=$((i + 1))
	if [ $i -gt 150 ]; then
		echo "demo: gateways did not come up; logs in $dir" >&2
		exit 1
	fi
done

if [ "$selftest" = "--selftest" ]; then
	python3 - "$port_a" <<'PY'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
s.sendmail("ops@alpha.example", ["chief@bravo.example"],
           "Subject: demo self-test\r\nMT-Priority: 4\r\n\r\nAcross the HF link.\r\n",
           mail_options=["BY=600;N"])
s.quit()
PY
	i=0
	while [ $i -lt 600 ]; do
		f=$(ls "$dir/bravo/mail/new/" 2>/dev/null | head -n 1)
		if [ -n "$f" ]; then
			grep -q "Across the HF link." "$dir/bravo/mail/new/$f"
			grep -q "^Subject: demo self-test" "$dir/bravo/mail/new/$f"
			echo "demo: delivered to $dir/bravo/mail/new/$f"
			exit 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
	echo "demo: message did not arrive; logs in $dir" >&2
	tail -n 20 "$dir/alpha/skywaved.log" "$dir/bravo/skywaved.log" >&2
	exit 1
fi

cat <<MSG

skywave demo: two gateways over a simulated 2400 bit/s half-duplex HF link.

  alpha.example  SMTP 127.0.0.1:$port_a  queue $dir/alpha/queue.db
  bravo.example  SMTP 127.0.0.1:$port_b  queue $dir/bravo/queue.db
  radio link     skywave-sim hf-2400-hd: $(tr '\n' ' ' <"$dir/sim.out")

Send a message from alpha to bravo (one line):

  swaks --server 127.0.0.1:$port_a --from ops@alpha.example --to chief@bravo.example

It arrives (after a few seconds of simulated airtime) in
  $dir/bravo/mail/new/
Logs: $dir/alpha/skywaved.log, $dir/bravo/skywaved.log
Console: ./build/gateway/skywave console --socket $dir/alpha/control.sock

Ctrl-C stops both gateways and the simulator.
MSG
wait
