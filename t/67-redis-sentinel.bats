# Redis Sentinel (chatctl up --redis-sentinel): a primary, a replica and
# three sentinels; every program reaches the primary through the sentinels
# (REDIS_URL=redis+sentinel://...). A kill -9 of the primary mid-stream
# costs a pause, never a chunk: every client ends whole and once.

load helpers/stack
load helpers/resume-clients

setup_file() {
	export STACK_REDIS=sentinel
	AI_MAX_TOKENS=2000 RELAY_DEAD_MS=3000 LEASE_MS=3000 stack_up --relays 2 --streamers 2 --token-delay-ms 20
}
teardown_file() { stack_down; }

sentinel_port() { echo $((REDIS_PORT + 2 + $1)); }

@test "chatctl status shows both data nodes' roles and what each sentinel names" {
	run chatctl status --dir "$STACK_DIR"
	assert_success
	assert_output --regexp "redis +RUNNING .* role=master port=$REDIS_PORT"
	assert_output --regexp "redis-2 +RUNNING .* role=slave port=$((REDIS_PORT + 1))"
	[ "$(echo "$output" | grep -c "^sentinel-[123] .*primary=127.0.0.1:$REDIS_PORT")" -eq 3 ]
	# the programs were given the sentinels, not a node
	pid=$(sctl pid ws-relay:ws-relay-$RELAY_BASE)
	tr '\0' '\n' <"/proc/$pid/environ" | grep -q "^REDIS_URL=redis+sentinel://127.0.0.1:$(sentinel_port 0),"
	# and the API's first line names them too, not a node it never reaches
	grep -q "msg=\"started\" .*redis=redis+sentinel://127.0.0.1:$(sentinel_port 0),.*/streamchat " "$STACK_DIR/log/chat-fcgi.log"
	run chat-cli --url "$API" --session s1 "through the sentinels"
	assert_success
}

@test "kill -9 of the primary mid-stream: 30 replies through 2 relays and 2 workers end whole, once, as the history says" {
	start_clients 30 f 150 120
	wait_for 30 bash -c "[ \$(redis-cli -p $REDIS_PORT --scan --pattern 'sessions:relays:*' | wc -l) -ge 30 ]"
	wait_for 30 chunks_past f30 20
	old=$(redis_primary_port)
	[ "$old" = "$REDIS_PORT" ]
	killed=$(date +%s%N)
	kill -9 "$(sctl pid redis)"
	# the sentinels promote the replica
	wait_for 60 bash -c "[ \"\$(redis-cli -p $(sentinel_port 0) --raw sentinel get-master-addr-by-name streamchat | sed -n 2p)\" = $((REDIS_PORT + 1)) ]"
	wait_for 60 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $API/api/health)\" = 200 ]"
	pause_ms=$((($(date +%s%N) - killed) / 1000000))
	# with no replica, the new primary's chunks are held (REDIS_WAIT_REPLICAS=1,
	# t/51): the old primary, started again, rejoins as its replica
	sctl start redis
	check_clients 30 f
	echo "the API answered again ${pause_ms} ms after the kill; $(grep -l 'reconnects=[1-9]' "$BATS_TEST_TMPDIR"/f*.err | wc -l) clients reconnected" >&3
	# every program followed the switch
	grep -q 'sentinel switched the primary' "$STACK_DIR"/log/ws-relay-*.log
	grep -q 'sentinel switched the primary' "$STACK_DIR"/log/ai-streamer*.log
	run chatctl status --dir "$STACK_DIR"
	assert_output --regexp "redis-2 +RUNNING .* role=master"
}

@test "the old primary started again: a primary and its replica again (the old one rejoins, or is picked back), and new replies stream" {
	replica_back
	run chat-cli --url "$API" --session after1 "after the failover"
	assert_success
	[ "$output" = "$(TOKEN_DELAY_MS=0 ai-streamer --once 'after the failover')" ]
	run chatctl backup "$BATS_TEST_TMPDIR/b.rdb" --dir "$STACK_DIR"
	assert_success
}

relay_health() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$RELAY_BASE/health"; }

@test "a primary demoted under the programs (READONLY, connections kept): they drop it, refuse it while a replica, come back" {
	p=$(redis_primary_port)
	[ "$(relay_health)" = 200 ]
	# pointed at nothing, the primary turns replica and keeps its data; Redis
	# keeps its clients' connections, and their writes get READONLY
	redis-cli -p "$p" replicaof 127.0.0.1 1
	# a socket makes the relay run claim.lua inside MULTI/EXEC: READONLY in EXEC's answer
	chat-cli --ws-url "ws://127.0.0.1:$RELAY_BASE/ws/chat" --session dm1 --watch --timeout 3 >/dev/null 2>&1 || true
	wait_for 10 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$RELAY_BASE/health)\" = 503 ]"
	grep -q 'msg="redis primary demoted"' "$STACK_DIR/log/ws-relay-$RELAY_BASE.log"
	grep -q 'ROLE: the node is a slave, not the primary' "$STACK_DIR/log/ws-relay-$RELAY_BASE.log"
	# every API process too: its own writes (the request counters) met READONLY
	wait_for 20 bash -c "for i in 1 2 3 4 5 6 7 8; do [ \"\$(curl -s -o /dev/null -w '%{http_code}' $API/api/health)\" = 503 ] || exit 1; done"
	grep -q 'ROLE: the node is a slave, not the primary' "$STACK_DIR"/log/chat-fcgi*.log
	redis-cli -p "$p" replicaof no one
	wait_for 30 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$RELAY_BASE/health)\" = 200 ]"
	# the workers, whose heartbeats met READONLY too, are back
	wait_for 30 bash -c "curl -s $API/api/ai-health | jq -e '.healthy_nodes == 2' >/dev/null"
	run chat-cli --url "$API" --session dm2 "after the demotion"
	assert_success
}

@test "a sentinel that does not know MASTERNAME: the program retries, logs exactly why and is unhealthy" {
	base=$(free_ports 1)
	REDIS_URL="redis+sentinel://127.0.0.1:$(sentinel_port 0),127.0.0.1:$(sentinel_port 1)/nosuch" \
		SHARE_DIR="$ROOT/share" NODE_ID=ws-probe PORT=$base ws-relay \
		>"$BATS_TEST_TMPDIR/probe.log" 2>&1 3>&- &
	probe=$!
	wait_for 10 grep -q 'no sentinel knows master nosuch' "$BATS_TEST_TMPDIR/probe.log"
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$base/health")" = 503 ]
	kill -0 "$probe"   # still retrying, not gone
	kill "$probe"
	wait "$probe" || true
}

@test "no sentinel reachable: said so, one line per try, retrying" {
	base=$(free_ports 2)
	REDIS_URL="redis+sentinel://127.0.0.1:$base,127.0.0.1:$((base + 1))/streamchat" SHARE_DIR="$ROOT/share" \
		NODE_ID=rec-probe recoverd >"$BATS_TEST_TMPDIR/rec.log" 2>&1 3>&- &
	probe=$!
	wait_for 10 grep -q "no sentinel reachable (127.0.0.1:$base: Connection refused; 127.0.0.1:$((base + 1)): Connection refused)" "$BATS_TEST_TMPDIR/rec.log"
	kill -0 "$probe"
	kill "$probe"
	wait "$probe" || true
}

@test "a redis+cluster:// URL with a database: a clear one-line error and exit code 100, not a hang" {
	# (every program runs on a cluster: t/53-cluster-programs.bats)
	run env REDIS_URL=redis+cluster://127.0.0.1:7000,127.0.0.1:7001/1 SHARE_DIR="$ROOT/share" recoverd
	[ "$status" -eq 100 ]
	assert_output --partial "REDIS_URL=redis+cluster://127.0.0.1:7000,127.0.0.1:7001/1: redis+cluster:// takes no database"
	[ "$(echo "$output" | wc -l)" -eq 1 ]
}
