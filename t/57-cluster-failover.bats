# Redis Cluster (chatctl up --redis-cluster 3): 3 primaries with a replica
# each, cluster-node-timeout 1 s; every program routes its commands by slot
# (REDIS_URL=redis+cluster://...). A primary killed mid-stream, or the slots
# of live sessions moved to another primary mid-stream, cost a pause, never
# a chunk: every client ends whole and once, as the history says. (Bad
# cluster configurations: t/54.)

load helpers/stack
load helpers/resume-clients

setup_file() {
	export STACK_REDIS=cluster CLUSTER_NODE_TIMEOUT_MS=1000
	AI_MAX_TOKENS=2000 RELAY_DEAD_MS=3000 LEASE_MS=3000 stack_up --relays 2 --streamers 2 --token-delay-ms 20
}
teardown_file() { stack_down; }

node_port() { echo $((REDIS_PORT + $1)); }
# supervisord's name of the node on PORT: redis, redis-2 .. redis-6
node_name() {
	local i=$(($1 - REDIS_PORT))
	if [ "$i" = 0 ]; then echo redis; else echo "redis-$((i + 1))"; fi
}
cli() { local p=$1; shift; timeout 10 redis-cli -p "$p" "$@"; }

# The port of the primary serving SLOT, as a live node sees it now.
primary_of_slot() {
	rcli cluster nodes | awk -v s="$1" '$3 ~ /master/ && $3 !~ /fail/ {
		for (i = 9; i <= NF; i++) {
			if ($i ~ /^\[/) continue
			n = split($i, r, "-"); if (n == 1) r[2] = r[1]
			if (s >= r[1] + 0 && s <= r[2] + 0) { split($2, a, "[:@]"); print a[2]; exit }
		} }'
}
# The slot of session S's keys (its partition's tag).
session_slot() { rcli cluster keyslot "$(key stream:session: "$1")"; }
# "PORT COUNT" a line: how many of sessions PREFIX1..N each primary serves.
sessions_per_primary() {
	local i
	for ((i = 1; i <= $2; i++)); do primary_of_slot "$(session_slot "$1$i")"; done | sort | uniq -c |
		awk '{ print $2, $1 }' | sort -k2,2nr
}
# the slots of sessions PREFIX1..N that primary PORT serves, each once
slots_on() {
	local i s
	for ((i = 1; i <= $3; i++)); do
		s=$(session_slot "$2$i")
		[ "$(primary_of_slot "$s")" != "$1" ] || echo "$s"
	done | sort -un
}
# SLOT served by a live primary other than PORT
slot_served_off() {
	local p
	p=$(primary_of_slot "$1")
	[ -n "$p" ] && [ "$p" != "$2" ]
}
every_slot_served() { rcli cluster info | tr -d '\r' | grep -qx cluster_state:ok; }
cluster_ok_on() { cli "$1" cluster info | tr -d '\r' | grep -qx cluster_state:ok; }
api_health() { curl -s -o /dev/null -w '%{http_code}' "$API/api/health"; }

@test "chatctl status shows every node's role and slots; the programs were given the cluster, the workers the fence" {
	run chatctl status --dir "$STACK_DIR"
	assert_success
	[ "$(echo "$output" | grep -cE '^redis(-[2-6])? +RUNNING .* role=master .*cluster_state=ok slots=[1-9]')" -eq 3 ]
	[ "$(echo "$output" | grep -cE '^redis(-[2-6])? +RUNNING .* role=slave .*cluster_state=ok slots=0')" -eq 3 ]
	pid=$(sctl pid ws-relay:ws-relay-$RELAY_BASE)
	tr '\0' '\n' <"/proc/$pid/environ" | grep -q "^REDIS_URL=redis+cluster://127.0.0.1:$REDIS_PORT,127.0.0.1:$((REDIS_PORT + 1)),"
	# a chunk is shown once a replica has it, here as under Sentinel (t/51):
	# the failover and the migration below run fenced
	pid=$(sctl pid ai-streamer:ai-streamer-0)
	tr '\0' '\n' <"/proc/$pid/environ" | grep -qx REDIS_WAIT_REPLICAS=1
	# no node's cluster bus on Redis's default port + 10000
	for ((i = 0; i < 6; i++)); do
		grep -qx "cluster-port $((REDIS_PORT + 6 + i))" "$STACK_DIR/etc/$(node_name "$(node_port $i)").conf"
	done
	run chat-cli --url "$API" --session s1 "through the cluster"
	assert_success
	[ "$output" = "$(TOKEN_DELAY_MS=0 ai-streamer --once 'through the cluster')" ]
}

@test "kill -9 of the primary serving the most replies: 30 replies through 2 relays and 2 workers end whole, once, as the history says" {
	# which primary serves which session is known before the replies start,
	# so that the kill comes while they stream
	sessions_per_primary f 30 >"$BATS_TEST_TMPDIR/owners"
	read -r victim served <"$BATS_TEST_TMPDIR/owners"
	slot=$(slots_on "$victim" f 30 | head -n 1)
	for ((i = 1; i <= 30; i++)); do [ "$(session_slot "f$i")" != "$slot" ] || break; done
	start_clients 30 f 150 120
	wait_for 30 bash -c "[ \$(rkeys 'sessions:relays:*' | wc -l) -ge 30 ]"
	wait_for 30 chunks_past f30 20
	echo "# sessions per primary: $(tr '\n' ' ' <"$BATS_TEST_TMPDIR/owners"); killing $victim ($served)" >&3
	[[ $(rcli hget "$(key stream:session: "f$i")" status) == @(queued|streaming) ]]
	killed=$(date +%s%N)
	kill -9 "$(sctl pid "$(node_name "$victim")")"
	# its replica takes its slots over, and the cluster serves every slot again
	wait_for 60 slot_served_off "$slot" "$victim"
	wait_for 60 every_slot_served
	wait_for 60 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $API/api/health)\" = 200 ]"
	pause_ms=$((($(date +%s%N) - killed) / 1000000))
	# fenced, the new primary's chunks wait for a replica: the old primary,
	# started again, rejoins as its replica
	sctl start "$(node_name "$victim")"
	wait_for 60 bash -c "[ \"\$(redis-cli -p $victim --raw role | head -n 1)\" = slave ]"
	check_clients 30 f
	echo "# the API answered again ${pause_ms} ms after the kill; $(grep -l 'reconnects=[1-9]' "$BATS_TEST_TMPDIR"/f*.err | wc -l) clients reconnected" >&3
	# the fence held frames while the new primary had no replica
	grep -q "frames held: too few replicas have them" "$STACK_DIR"/log/ai-streamer-*.log
	run chatctl status --dir "$STACK_DIR"
	[ "$(echo "$output" | grep -cE '^redis(-[2-6])? +RUNNING .* role=master .*cluster_state=ok')" -eq 3 ]
	echo "$victim" >"$BATS_FILE_TMPDIR/victim"
}

@test "the killed primary, started again, serves as a replica, and new replies stream" {
	victim=$(cat "$BATS_FILE_TMPDIR/victim")
	wait_for 60 cluster_ok_on "$victim"
	run chatctl status --dir "$STACK_DIR"
	assert_output --regexp "$(node_name "$victim") +RUNNING .* role=slave "
	run chat-cli --url "$API" --session after1 "after the failover"
	assert_success
	[ "$output" = "$(TOKEN_DELAY_MS=0 ai-streamer --once 'after the failover')" ]
}

# migrate_slot SLOT FROM TO: the slot's keys moved by MIGRATE while
# the programs write to them (new keys go to TO through ASK, a script
# whose keys are split between the two gets TRYAGAIN), then the slot given
# to TO on every primary.
migrate_slot() {
	local slot=$1 src=$2 dst=$3 src_id dst_id keys p
	src_id=$(cli "$src" cluster myid) dst_id=$(cli "$dst" cluster myid)
	cli "$dst" cluster setslot "$slot" importing "$src_id" >/dev/null
	cli "$src" cluster setslot "$slot" migrating "$dst_id" >/dev/null
	for _ in $(seq 200); do
		keys=$(cli "$src" cluster getkeysinslot "$slot" 100)
		[ -n "$keys" ] || break
		# shellcheck disable=SC2086  # the keys are words without blanks
		cli "$src" migrate 127.0.0.1 "$dst" "" 0 5000 ${REDISCLI_AUTH:+AUTH "$REDISCLI_AUTH"} keys $keys >/dev/null
	done
	[ -z "$(cli "$src" cluster getkeysinslot "$slot" 1)" ]
	cli "$dst" cluster setslot "$slot" node "$dst_id" >/dev/null
	cli "$src" cluster setslot "$slot" node "$dst_id" >/dev/null
	for p in $(cluster_primary_ports); do cli "$p" cluster setslot "$slot" node "$dst_id" >/dev/null 2>&1 || true; done
}

@test "the slots of live sessions moved to another primary mid-stream: 30 replies end whole, once, as the history says" {
	start_clients 30 m 150 120
	wait_for 30 bash -c "[ \$(rkeys 'sessions:relays:*' | wc -l) -ge 30 ]"
	wait_for 30 chunks_past m30 20
	sessions_per_primary m 30 >"$BATS_TEST_TMPDIR/owners"
	read -r src served <"$BATS_TEST_TMPDIR/owners"
	dst=$(cluster_primary_ports | grep -vx "$src" | head -n 1)
	[ -n "$dst" ]
	slots=$(slots_on "$src" m 30)
	echo "# moving slots $(echo $slots) ($served live sessions) from $src to $dst mid-stream" >&3
	for s in $slots; do migrate_slot "$s" "$src" "$dst"; done
	for s in $slots; do [ "$(primary_of_slot "$s")" = "$dst" ]; done
	check_clients 30 m
	# the programs followed MOVED and ASK, none of them gave up
	[ "$(sctl status | grep -v '^redis' | grep -vc RUNNING)" -eq 0 ]
	[ "$(api_health)" = 200 ]
}
