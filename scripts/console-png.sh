#!/bin/sh
# console-png.sh BUILD_DIR OUT.png
#
# Render one screen of the operator's console to a PNG for the README: runs
# the demo (two gateways over skywave-sim, scripts/demo-run.sh) in a
# scratch directory, sends a mixed-priority batch with deadlines and an
# alternate recipient, opens `skywave console` in a detached tmux at
# 132x40, captures the screen and draws it with ImageMagick (Debian's
# `imagemagick`, font DejaVu Sans Mono).
set -eu
build=$(cd "$1" && pwd)
out=$2
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/skywave-png.XXXXXX)
sock="skywave-png-$$"
convert=/usr/bin/convert
[ -x "$convert" ] || convert=convert

SKYWAVE_DEMO_DIR="$work/demo" SKYWAVE_DEMO_PORT=auto \
	"$top/scripts/demo-run.sh" "$build" >"$work/demo.out" 2>&1 &
demo=$!
stop() {
	tmux -L "$sock" kill-server 2>/dev/null || true
	kill -TERM "$demo" 2>/dev/null || true
	wait "$demo" 2>/dev/null || true
	rm -rf "$work"
}
trap stop EXIT INT TERM
i=0
until grep -q "alpha.example  SMTP" "$work/demo.out" 2>/dev/null; do
	sleep 0.2
	i=$((i + 1))
	[ $i -lt 300 ] || { echo "console-png: demo did not start" >&2; exit 1; }
done
port=$(sed -n 's/.*alpha.example  SMTP 127.0.0.1:\([0-9]*\).*/\1/p' \
	"$work/demo.out")
python3 - "$port" <<'PY'
import os, random, smtplib, sys
rnd = random.Random(7)
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
plan = [(6, 9000, [], []), (4, 3000, ["BY=240;R"], []),
        (4, 20000, [], []), (2, 6000, ["BY=120;N"], []),
        (2, 1500, [], []), (0, 30000, ["BY=90;R"],
                            ["ARCPT=rfc822;duty@alpha.example"]),
        (0, 2500, [], []), (-2, 12000, [], []), (-4, 40000, [], [])]
for prio, size, mo, ro in plan:
    body = "".join(os.urandom(30).hex() + "\r\n" for _ in range(size // 62))
    s.sendmail("ops@alpha.example", ["chief@bravo.example"],
               "Subject: demo %d\r\n\r\n%s" % (prio, body),
               mail_options=["MT-PRIORITY=%d" % prio] + mo, rcpt_options=ro)
s.quit()
PY
sleep 8
tmux -L "$sock" -f /dev/null new-session -d -s main -x 132 -y 40 \
	-e LANG=C.UTF-8 "$build/gateway/skywave console --socket \
$work/demo/alpha/control.sock"
sleep 4
tmux -L "$sock" capture-pane -p -t main >"$work/screen.txt"
grep -q "ON AIR" "$work/screen.txt" ||
	{ echo "console-png: no console on the screen" >&2; exit 1; }
# label:@FILE is refused by Debian's ImageMagick policy: pass the text
# itself, with its % escapes doubled
# One label per row, stacked (a single multi-line label trips the size
# limits of Debian's ImageMagick policy); label:@FILE is refused by that
# policy, so the text is passed itself, its % escapes doubled.
set --
while IFS= read -r line; do
	# spaces as no-break spaces: a label drops leading blanks
	line=$(printf '%s' "$line" | sed 's/%/%%/g; s/ /\xc2\xa0/g')
	set -- "$@" label:"${line:- }"
done <"$work/screen.txt"
"$convert" -background '#101418' -fill '#d8dee4' \
	-font DejaVu-Sans-Mono -pointsize 13 "$@" -append \
	-bordercolor '#101418' -border 12 "$out"
echo "console-png: wrote $out"
