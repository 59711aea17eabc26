# Every program on a real Redis Cluster (3 primaries with a replica each
# and a password, t/helpers/redis-cluster.bash), reached with
# REDIS_URL=redis+cluster://: chatctl up is given the URL, so chat-fcgi,
# recoverd, the workers and the relays' command connections route each
# command to the primary of its key's slot (src/common/redis_sync.c,
# aredis.c). The relays' subscriber is one plain connection to a seed node:
# the scripts' PUBLISH reaches every node of a cluster.

load helpers/stack
load helpers/redis-cluster

PW='cl pw/@:1'

setup_file() {
	local dir
	dir=$(mktemp -d "${STREAMCHAT_TEST_ROOT:-/tmp}/cluster53.XXXXXX")
	cluster_up "$dir" "$PW" || { cluster_down; rm -rf "$dir"; return 1; }
	echo "$CLUSTER_DIR $CLUSTER_PORTS" >"$BATS_FILE_TMPDIR/cluster"
	# the password percent-encoded in the URL
	SEEDS_URL="redis+cluster://:cl%20pw%2F%40%3A1@$CLUSTER_SEEDS"
	export SEEDS_URL
	REDIS_URL=$SEEDS_URL stack_up --relays 2 --streamers 2
}
teardown_file() {
	stack_down
	[ -e "$BATS_FILE_TMPDIR/cluster" ] || return 0
	load_cluster
	cluster_down
	rm -rf "$CLUSTER_DIR"
}
setup() { load_cluster; }

load_cluster() {
	local line
	line=$(cat "$BATS_FILE_TMPDIR/cluster")
	export CLUSTER_DIR=${line%% *} CLUSTER_PORTS=${line#* } CLUSTER_PASSWORD=$PW
}

# the primaries' ports, as the cluster says now
primaries() {
	local p
	for p in $CLUSTER_PORTS; do
		ccli "$p" ROLE | head -n 1 | grep -qx master && echo "$p"
	done
}
# the port of the primary holding key $1
primary_of_key() { cluster_primary_of_slot "$(ccli "${CLUSTER_PORTS%% *}" CLUSTER KEYSLOT "$1")"; }

# 10 session ids whose keys are spread over every primary (the first one
# found on each, then the next ids), into $BATS_TEST_TMPDIR/sessions as
# "SESSION PORT" lines
spread_sessions() {
	local i p s out=$BATS_TEST_TMPDIR/sessions
	: >"$out"
	for ((i = 0; i < 40; i++)); do
		s="cl53-$i"
		echo "$s $(primary_of_key "$(key stream:session: "$s")")"
	done >"$BATS_TEST_TMPDIR/candidates"
	for p in $(primaries); do
		grep -m 1 " $p\$" "$BATS_TEST_TMPDIR/candidates" >>"$out"
	done
	[ "$(wc -l <"$out")" -eq 3 ]
	grep -v -x -F -f "$out" "$BATS_TEST_TMPDIR/candidates" | head -n 7 >>"$out"
	[ "$(wc -l <"$out")" -eq 10 ]
}

# the lines of a failed start other than the log's "started" one
error_lines() { echo "$output" | grep -v 'msg="started"' | grep -c .; }

@test "every program runs on the cluster URL: routed connections, healthy" {
	wait_for 30 bash -c "curl -sf '$API/api/ai-health' | jq -e '.healthy_nodes == 2' >/dev/null"
	run curl -sf "$API/api/health"
	assert_output --partial '"redis":"ok"'
	[ "$(grep -l 'conn=commands topology=cluster primaries=3' "$STACK_DIR"/log/ai-streamer-*.log | wc -l)" -eq 2 ]
	[ "$(grep -l 'conn=jobs topology=cluster primaries=3' "$STACK_DIR"/log/ai-streamer-*.log | wc -l)" -eq 2 ]
	[ "$(grep -l 'conn=commands topology=cluster primaries=3' "$STACK_DIR"/log/ws-relay-*.log | wc -l)" -eq 2 ]
	# the heartbeats: each node's hash on the primary of its own slot
	wait_for 10 bash -c "[ \"\$(REDISCLI_AUTH='$PW' redis-cli --no-auth-warning -c -p ${CLUSTER_PORTS%% *} zcard nodes:ws)\" = 2 ]"
	run ccli "$(primary_of_key 'node:ai:{ai-0}')" hget 'node:ai:{ai-0}' status
	assert_output ok
	# the stack's own single Redis is left alone
	[ "$(rcli dbsize)" -eq 0 ]
}

@test "10 chats on sessions of all three primaries stream whole through 2 relays and 2 workers" {
	spread_sessions
	local pids=() s p i=0 fails=0
	while read -r s p; do
		i=$((i + 1))
		# every other one straight to the second relay
		if [ $((i % 2)) -eq 0 ]; then
			chat-cli --url "$API" --ws-url "ws://127.0.0.1:$((RELAY_BASE + 1))/ws/chat" --session "$s" \
				--timeout 60 "$(words $((i + 20)))" >"$BATS_TEST_TMPDIR/$s.out" 2>&1 &
		else
			chat-cli --url "$API" --session "$s" --timeout 60 "$(words $((i + 20)))" \
				>"$BATS_TEST_TMPDIR/$s.out" 2>&1 &
		fi
		pids+=($!)
	done <"$BATS_TEST_TMPDIR/sessions"
	for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
	[ "$fails" -eq 0 ]
	i=0
	while read -r s p; do
		i=$((i + 1))
		want=$(TOKEN_DELAY_MS=0 ai-streamer --once "$(words $((i + 20)))")
		[ "$(cat "$BATS_TEST_TMPDIR/$s.out")" = "$want" ]
		# the history's reply is the streamed one, and lives on that primary
		run curl -sf "$API/api/history/$s?user_id=tester"
		[ "$(echo "$output" | jq -r '.messages[-1].content')" = "$want" ]
		[ "$(ccli "$p" exists "$(key stream:session: "$s")")" -eq 1 ]
	done <"$BATS_TEST_TMPDIR/sessions"
	# both workers took jobs
	[ "$(grep -c 'job done' "$STACK_DIR/log/ai-streamer-0.log")" -gt 0 ]
	[ "$(grep -c 'job done' "$STACK_DIR/log/ai-streamer-1.log")" -gt 0 ]
	for p in $(primaries); do [ "$(ccli "$p" dbsize)" -gt 0 ]; done
}

@test "cancel, resume after drops (url and frame), GET /api/stream and delete on the cluster" {
	mid=$(post_chat cl53-cancel "$(words 150)")
	wait_for 20 bash -c "curl -sf '$API/api/stream/$mid?user_id=tester' | jq -e '(.chunks | length) > 3' >/dev/null"
	run api POST /api/cancel "{\"session_id\":\"cl53-cancel\",\"message_id\":\"$mid\",\"user_id\":\"tester\"}"
	assert_output --partial '200 {"message_id":"'
	wait_for 20 bash -c "curl -sf '$API/api/stream/$mid?user_id=tester' | jq -e '.status == \"cancelled\"' >/dev/null"
	run curl -sf "$API/api/stream/$mid?user_id=tester"
	n=$(echo "$output" | jq '.chunks | length')
	[ "$(echo "$output" | jq .total_chunks)" -eq "$n" ]
	[ "$(echo "$output" | jq '[.chunks[].index] == [range(0; '"$n"')]')" = true ]
	for mode in url frame; do
		chat-cli --url "$API" --session "cl53-resume-$mode" --resume "$mode" --drop-every 9 --stats \
			--timeout 60 "$(words 40)" >"$BATS_TEST_TMPDIR/$mode.out" 2>"$BATS_TEST_TMPDIR/$mode.err"
		grep -q 'reconnects=[1-9].* repeats=0 ' "$BATS_TEST_TMPDIR/$mode.err"
		grep -q 'out_of_order=0' "$BATS_TEST_TMPDIR/$mode.err"
		[ "$(cat "$BATS_TEST_TMPDIR/$mode.out")" = "$(TOKEN_DELAY_MS=0 ai-streamer --once "$(words 40)")" ]
	done
	# a finished reply followed from its chunk list
	mid=$(curl -sf "$API/api/history/cl53-resume-url?user_id=tester" | jq -r '.messages[-1].message_id')
	run chat-cli --url "$API" --session cl53-resume-url --watch --message "$mid" --after 4 --raw
	assert_success
	[ "$(echo "$output" | jq -r 'select(.type=="chunk") | .index' | head -n 1)" -eq 5 ]
	# the WATCH/MULTI delete, on the session's primary
	run api DELETE "/api/sessions/cl53-cancel?user_id=tester"
	assert_output --partial '"status":"deleted"'
	run api GET "/api/history/cl53-cancel?user_id=tester"
	assert_output --partial '"messages":[]'
}

@test "a worker killed mid-reply: recoverd requeues the job on the cluster and the reply ends whole, once" {
	chat-cli --url "$API" --session cl53-kill --timeout 90 --stats "$(words 150)" \
		>"$BATS_TEST_TMPDIR/kill.out" 2>"$BATS_TEST_TMPDIR/kill.err" &
	cli=$!
	wait_for 20 bash -c "grep -l 'job started.*session=cl53-kill' '$STACK_DIR'/log/ai-streamer-*.log >/dev/null"
	log=$(grep -l 'job started.*session=cl53-kill' "$STACK_DIR"/log/ai-streamer-*.log | head -n 1)
	n=${log##*-}
	n=${n%.log}
	kill -9 "$(sctl pid "ai-streamer:ai-streamer-$n")"
	wait "$cli"
	grep -q 'repeats=0' "$BATS_TEST_TMPDIR/kill.err"
	[ "$(cat "$BATS_TEST_TMPDIR/kill.out")" = "$(TOKEN_DELAY_MS=0 ai-streamer --once "$(words 150)")" ]
	grep -q 'job requeued.*session=cl53-kill' "$STACK_DIR/log/recoverd.log"
}

@test "no program met MOVED, ASK, CROSSSLOT or a lost cluster in its log" {
	run grep -h -E 'MOVED|ASK |CROSSSLOT|CLUSTERDOWN|no reply in|redis command failed|refused the slot map' \
		"$STACK_DIR"/log/chat-fcgi.log "$STACK_DIR"/log/ai-streamer-*.log "$STACK_DIR"/log/ws-relay-*.log \
		"$STACK_DIR"/log/recoverd.log
	assert_output ""
}

@test "bad cluster configuration: one line and exit code 100, or retrying while no seed answers" {
	# a cluster URL on a Redis without cluster support: the blocking and the
	# libuv programs alike
	for prog in recoverd ai-streamer; do
		run env REDIS_URL="redis+cluster://127.0.0.1:$REDIS_PORT" SHARE_DIR="$ROOT/share" \
			NODE_ID=probe timeout 20 "$prog"
		[ "$status" -eq 100 ]
		assert_output --partial "cluster support disabled"
		[ "$(error_lines)" -eq 1 ]
	done
	# a wrong password
	run env REDIS_URL="redis+cluster://:wrong@$CLUSTER_SEEDS" SHARE_DIR="$ROOT/share" NODE_ID=probe \
		timeout 20 recoverd
	[ "$status" -eq 100 ]
	assert_output --partial "AUTH"
	[ "$(error_lines)" -eq 1 ]
	# a database number
	run env REDIS_URL="redis+cluster://$CLUSTER_SEEDS/2" SHARE_DIR="$ROOT/share" timeout 20 recoverd
	[ "$status" -eq 100 ]
	assert_output --partial "db 0"
	# no seed answers: not a configuration error, the program waits for one
	port=$(free_ports 1)
	env REDIS_URL="redis+cluster://127.0.0.1:$port" SHARE_DIR="$ROOT/share" NODE_ID=probe recoverd \
		>"$BATS_TEST_TMPDIR/none.log" 2>&1 3>&- &
	probe=$!
	wait_for 10 grep -q "Connection refused" "$BATS_TEST_TMPDIR/none.log"
	kill -0 "$probe"
	kill "$probe"
	wait "$probe" || true
}
