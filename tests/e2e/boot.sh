#!/bin/sh
# boot.sh: runs INSIDE the e2e VM (started by the image's e2e-boot.service from the 9p share /mnt/host):
# installs the guardlet package, runs the scenarios (and the peers bench), and writes results and guardlet's
# journal back to the share. The VM powers off when this exits, whatever the outcome.
set -u
H=/mnt/host
R=$H/results
. $H/run.conf
exec >"$R/boot.log" 2>&1
echo "boot.sh: $(date -u +%FT%TZ), $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
echo "boot.sh: multi-user after $(cut -d' ' -f1 /proc/uptime) s of uptime"

# dpkg -i enables and starts guardlet (systemd is PID 1 here); --force-confold keeps any conffile as shipped.
if ! timeout -k 10 300 dpkg -i "$H/guardlet.deb"; then
	echo "FAIL install: dpkg -i guardlet.deb failed" >"$R/summary.txt"
	touch "$R/done"
	exit 1
fi
timeout 30 systemctl is-active guardlet || true

# A trace of the node every 5 s, for reading a failed run afterwards.
(while :; do
	echo "== $(date -u +%T) $(awk '/MemFree|MemAvailable|Inactive\(file\)/ {printf "%s %d MiB  ", $1, $2 / 1024}' /proc/meminfo)"
	head -1 /proc/pressure/memory
	sleep 5
done) >"$R/monitor.log" 2>&1 &
mon=$!
rc=0
if [ "$ONLY" != bench ]; then
	timeout -k 30 1500 python3 -u $H/scenarios/run_all.py --results "$R" --only "$ONLY" || rc=1
fi
if [ "$BENCH" = 1 ]; then
	timeout -k 30 900 python3 -u $H/scenarios/bench_peers.py --results "$R" || rc=1
fi

kill $mon
timeout 60 journalctl -u guardlet -o export >"$R/guardlet.journal.export"
timeout 60 journalctl -u guardlet -o json >"$R/guardlet.json"
timeout 60 journalctl -b -o short-monotonic --no-pager >"$R/journal-all.txt"
cp /proc/vmstat "$R/vmstat.txt"
touch "$R/done"
sync
echo "boot.sh: done at $(cut -d' ' -f1 /proc/uptime) s of uptime, rc $rc"
exit 0
