# Redis Cluster configurations that cannot work, each refused or reported
# clearly without a stack: chatctl's --redis-cluster checks (before it
# starts anything), a cluster URL naming a Redis that is no cluster node (one
# line, exit 100), and a cluster none of whose nodes answers (the program
# keeps retrying, unhealthy). The running cluster: t/57.

load helpers/stack

teardown() { [ -z "${RUN_DIR:-}" ] || chatctl down --dir "$RUN_DIR" >/dev/null 2>&1 || true; }

@test "chatctl up --redis-cluster: fewer than 3 primaries, or with --redis-sentinel, is refused before anything starts" {
	RUN_DIR=$BATS_TEST_TMPDIR/run
	run chatctl up --dir "$RUN_DIR" --redis-cluster 2
	[ "$status" -eq 111 ]
	assert_output --partial "--redis-cluster needs 3 or more primaries"
	run chatctl up --dir "$RUN_DIR" --redis-cluster x
	[ "$status" -eq 100 ]
	run chatctl up --dir "$RUN_DIR" --redis-cluster 3 --redis-sentinel
	[ "$status" -eq 111 ]
	assert_output --partial "--redis-sentinel and --redis-cluster: choose one"
	[ ! -e "$RUN_DIR/supervisord.pid" ]
}

@test "chatctl up --redis-cluster 3 checks every node's port and cluster bus port first, naming the one in use" {
	RUN_DIR=$BATS_TEST_TMPDIR/run
	base=$(free_ports 16)
	# a listener where node 6's cluster bus would be (R + 2N + 5 = R + 11)
	python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(60)' \
		$((base + 4 + 11)) 3>&- &
	holder=$!
	wait_for 10 bash -c "ss -Htln 'sport = :$((base + 15))' | grep -q ."
	run chatctl up --dir "$RUN_DIR" --http-port "$base" --relay-port-base $((base + 1)) --redis-port $((base + 4)) \
		--no-archive --redis-cluster 3
	kill "$holder"
	[ "$status" -eq 111 ]
	assert_output --partial "port $((base + 15)) is in use (Redis-cluster-bus"
	[ ! -e "$RUN_DIR/supervisord.pid" ]
}

@test "a redis+cluster:// URL naming a Redis that is no cluster node: one line, exit code 100, not a hang" {
	port=$(free_ports 1)
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
		--pidfile "$BATS_TEST_TMPDIR/plain.pid" --logfile "$BATS_TEST_TMPDIR/plain.log" >/dev/null
	wait_for 10 bash -c "[ \"\$(redis-cli -p $port ping)\" = PONG ]"
	for prog in recoverd ws-relay; do
		run env REDIS_URL="redis+cluster://127.0.0.1:$port" SHARE_DIR="$ROOT/share" NODE_ID=probe \
			PORT=$(free_ports 1) timeout 30 "$prog"
		[ "$status" -eq 100 ]
		# one line says why (beside the "started" log line)
		[ "$(echo "$output" | grep -c 'fatal')" -eq 1 ]
		assert_output --partial "$prog: fatal: REDIS_URL: 127.0.0.1:$port is not a Redis Cluster node"
		[ "$(echo "$output" | grep -vc 'msg="started"\|msg="development mode')" -eq 1 ]
	done
	kill "$(cat "$BATS_TEST_TMPDIR/plain.pid")"
}

# probe_relay SEEDS...: a relay on a free port, its REDIS_URL naming SEEDS;
# sets probe (its pid) and probe_port
probe_relay() {
	local hosts="" p
	for p in "$@"; do hosts+="${hosts:+,}127.0.0.1:$p"; done
	probe_port=$(free_ports 1)
	REDIS_URL="redis+cluster://$hosts" SHARE_DIR="$ROOT/share" NODE_ID=ws-probe PORT=$probe_port ws-relay \
		>"$BATS_TEST_TMPDIR/probe.log" 2>&1 3>&- &
	probe=$!
}
probe_health() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$probe_port/health"; }

@test "a cluster with no node reachable: the relay keeps retrying, unhealthy, as with one Redis down" {
	base=$(free_ports 2)
	probe_relay "$base" $((base + 1))
	wait_for 10 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$probe_port/health)\" = 503 ]"
	sleep 3
	kill -0 "$probe"   # still retrying, not gone
	[ "$(probe_health)" = 503 ]
	kill "$probe"
	wait "$probe" || true
}

@test "a cluster with no node reachable: recoverd and the relay each log why, as with one Redis down" {
	base=$(free_ports 2)
	REDIS_URL="redis+cluster://127.0.0.1:$base,127.0.0.1:$((base + 1))" SHARE_DIR="$ROOT/share" \
		NODE_ID=rec-probe recoverd >"$BATS_TEST_TMPDIR/rec.log" 2>&1 3>&- &
	rec=$!
	probe_relay "$base" $((base + 1))
	wait_for 10 grep -q "redis unavailable.*cluster seed nodes.*Connection refused" "$BATS_TEST_TMPDIR/rec.log"
	wait_for 10 grep -q "Connection refused" "$BATS_TEST_TMPDIR/probe.log" ||
		{ echo "# the relay says nothing about the unreachable nodes:" >&3; cat "$BATS_TEST_TMPDIR/probe.log" >&3; false; }
	kill "$rec" "$probe"
	wait "$rec" "$probe" || true
}
