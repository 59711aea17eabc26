# Operating a stack (issue 8): Prometheus metrics that move, logs that follow
# one reply across programs, chatctl status, logs and a rolling restart of
# the relays under live streams.

load helpers/stack

setup_file() { stack_up --token-delay-ms 20; }
teardown_file() { stack_down; }

promcheck() { awk -f "$ROOT/t/helpers/promcheck.awk"; }
# sample NAME_WITH_LABELS < metrics: the value, or 0
sample() { awk -v m="$1" '$1 == m { print $2; f = 1 } END { if (!f) print 0 }'; }
relay_metrics() { curl -sf "http://127.0.0.1:$1/metrics"; }

@test "each relay's /metrics is Prometheus text, and its counters move when a reply streams" {
	local port before after
	for ((port = RELAY_BASE; port < RELAY_BASE + 3; port++)); do
		run bash -c "curl -sf http://127.0.0.1:$port/metrics | awk -f $ROOT/t/helpers/promcheck.awk"
		assert_success
	done
	curl -sfI "http://127.0.0.1:$RELAY_BASE/metrics" | grep -qi '^Content-Type: text/plain; version=0.0.4'
	chat-cli --ws-url "ws://127.0.0.1:$RELAY_BASE/ws/chat" --url "$API" --session met1 --watch \
		--timeout 30 >"$BATS_TEST_TMPDIR/watch" 2>&1 3>&- &
	local p=$!
	wait_for 5 bash -c "curl -sf http://127.0.0.1:$RELAY_BASE/metrics | grep -q '^streamchat_relay_connections 1'"
	before=$(relay_metrics "$RELAY_BASE")
	post_chat met1 "$(words 20)" >/dev/null
	wait "$p"
	after=$(relay_metrics "$RELAY_BASE")
	echo "$after" | promcheck
	local chunks=$((8 + 2 * 20))
	# every chunk and the end frame went out on this relay, with their bytes
	[ $(( $(echo "$after" | sample streamchat_relay_frames_sent_total) - $(echo "$before" | sample streamchat_relay_frames_sent_total) )) -ge $((chunks + 1)) ]
	[ "$(echo "$after" | sample streamchat_relay_bytes_sent_total)" -gt "$(echo "$before" | sample streamchat_relay_bytes_sent_total)" ]
	[ $(( $(echo "$after" | sample streamchat_relay_replies_ended_total) - $(echo "$before" | sample streamchat_relay_replies_ended_total) )) -eq 1 ]
	# each live chunk's publish-to-send latency was observed
	[ $(( $(echo "$after" | sample streamchat_relay_publish_to_send_seconds_count) - $(echo "$before" | sample streamchat_relay_publish_to_send_seconds_count) )) -eq "$chunks" ]
	[ "$(echo "$after" | sample streamchat_relay_subscribes_total)" -ge 1 ]
	[ "$(echo "$after" | sample streamchat_relay_redis_up)" = 1 ]
	# a resume is counted by outcome
	run chat-cli --ws-url "ws://127.0.0.1:$RELAY_BASE/ws/chat" --url "$API" --session met1 --watch \
		--message nosuchmessage --after 3 --timeout 10
	[ "$(relay_metrics "$RELAY_BASE" | sample 'streamchat_relay_recoveries_total{outcome="not_found"}')" -ge 1 ]
}

@test "/api/metrics adds up the API's processes and shows each worker and recoverd; it moves with chats" {
	run bash -c "curl -sf $API/api/metrics | awk -f $ROOT/t/helpers/promcheck.awk"
	assert_success
	local before after
	before=$(curl -sf "$API/api/metrics")
	for i in 1 2 3 4; do post_chat "met-api-$i" "hello $i" >/dev/null; done
	curl -s "$API/api/nothing" >/dev/null
	wait_for 10 bash -c "[ \"\$(redis-cli -p $REDIS_PORT hget '$(key stream:session: "met-api-4")' status)\" = complete ]"
	sleep 3  # the workers' next heartbeat
	after=$(curl -sf "$API/api/metrics")
	echo "$after" | promcheck
	# two chat-fcgi processes served these; the sum has them all
	[ "$(echo "$after" | sample streamchat_api_processes)" -ge 1 ]
	[ $(( $(echo "$after" | sample 'streamchat_api_requests_total{route="chat",status="202"}') - $(echo "$before" | sample 'streamchat_api_requests_total{route="chat",status="202"}') )) -eq 4 ]
	[ "$(echo "$after" | sample 'streamchat_api_requests_total{route="unknown",status="404"}')" -ge 1 ]
	[ "$(echo "$after" | sample 'streamchat_api_request_duration_seconds_count{route="chat"}')" -ge 4 ]
	local chunks_before chunks_after
	chunks_before=$(echo "$before" | awk '/^streamchat_worker_chunks_total/ { s += $2 } END { print s + 0 }')
	chunks_after=$(echo "$after" | awk '/^streamchat_worker_chunks_total/ { s += $2 } END { print s + 0 }')
	[ $((chunks_after - chunks_before)) -ge $((4 * 10)) ]
	[ "$(echo "$after" | grep -c '^streamchat_worker_up{node=.*} 1$')" = 2 ]
	echo "$after" | grep -q '^streamchat_worker_first_token_seconds_count{node='
	echo "$after" | grep -q '^streamchat_recoverd_requeued_total{node='
}

@test "metrics and nginx's stub_status answer on loopback" {
	run curl -sf "$API/nginx_status"
	assert_success
	assert_output --partial 'Active connections:'
	# (from elsewhere nginx answers 403; loopback is all a test can be)
	grep -q 'deny all' "$STACK_DIR/etc/nginx.site.conf"
}

@test "one grep on a message id follows the reply through chat-fcgi, ai-streamer and ws-relay" {
	chat-cli --url "$API" --session grep1 --raw "follow me" >"$BATS_TEST_TMPDIR/out"
	mid=$(jq -r 'select(.type == "complete") | .messageId' "$BATS_TEST_TMPDIR/out")
	[ -n "$mid" ]
	wait_for 5 bash -c "grep -h 'message=$mid' $STACK_DIR/log/ws-relay-*.log | grep -q 'reply ended'"
	run grep -h "message=$mid" "$STACK_DIR"/log/*.log
	echo "$output" | grep -q 'prog=chat-fcgi .*msg="chat enqueued"'
	echo "$output" | grep -q 'prog=ai-streamer .*msg="job started".* job='
	echo "$output" | grep -q 'prog=ai-streamer .*msg="job done"'
	echo "$output" | grep -q 'prog=ws-relay .*msg="reply ended"'
	# every line has the fields of the format
	echo "$output" | while read -r line; do
		[[ $line =~ ^ts=[0-9T:.Z-]+\ level=[a-z]+\ prog=[a-z-]+\ node=[^\ ]+\ msg=\" ]]
	done
}

@test "chatctl status shows each process with pid, uptime, health and counters; chatctl logs follows them" {
	run chatctl status --dir "$STACK_DIR"
	assert_success
	for p in redis nginx chat-fcgi ai-streamer recoverd "ws-relay:ws-relay-$RELAY_BASE"; do
		echo "$output" | grep -E "^$p[^ ]* +RUNNING +[0-9]+ +[0-9:]+ +ok" >/dev/null ||
			{ echo "no healthy line for $p"; echo "$output"; false; }
	done
	echo "$output" | grep -E "^ws-relay:.*connections=[0-9]+ sessions=[0-9]+" >/dev/null
	echo "$output" | grep -E "^ai-streamer:.*jobs=[0-9]+ chunks=[0-9]+" >/dev/null
	run timeout 2 chatctl logs ws-relay --dir "$STACK_DIR"
	assert_output --partial 'prog=ws-relay'
	refute_output --partial 'prog=chat-fcgi'
	run chatctl logs nosuchprogram --dir "$STACK_DIR"
	assert_failure
	# a stopped worker shows, and status says so
	sctl stop ai-streamer:ai-streamer-0 >/dev/null
	run chatctl status --dir "$STACK_DIR"
	assert_failure
	echo "$output" | grep -E '^ai-streamer:ai-streamer-0 +STOPPED' >/dev/null
	sctl start ai-streamer:ai-streamer-0 >/dev/null
	wait_for 10 chatctl status --dir "$STACK_DIR"
}

@test "chatctl restart ws-relay during 30 live streams: every relay restarts, no chunk lost or repeated" {
	local i pids=() prompt
	prompt=$(words 250)   # 508 tokens, about 10 s: the streams outlast the restart even on a loaded machine
	for i in $(seq 1 30); do
		chat-cli --url "$API" --session "roll$i" --user "roller$i" --stats "$prompt" --timeout 60 \
			>"$BATS_TEST_TMPDIR/roll$i.out" 2>"$BATS_TEST_TMPDIR/roll$i.err" 3>&- &
		pids+=($!)
	done
	wait_for 10 chunks_past roll30 5
	local before
	before=$(for ((p = RELAY_BASE; p < RELAY_BASE + 3; p++)); do sctl pid "ws-relay:ws-relay-$p"; done)
	run chatctl restart ws-relay --dir "$STACK_DIR"
	assert_success
	echo "$output" | sed 's/^/# /' >&3
	local after
	after=$(for ((p = RELAY_BASE; p < RELAY_BASE + 3; p++)); do sctl pid "ws-relay:ws-relay-$p"; done)
	# each relay is a new process
	[ "$(comm -12 <(echo "$before" | sort) <(echo "$after" | sort) | wc -l)" = 0 ]
	local want failed=0 moved=0
	want=$(TOKEN_DELAY_MS=0 ai-streamer --once "$prompt")
	for i in $(seq 1 30); do
		wait "${pids[$((i - 1))]}" || { failed=$((failed + 1)); cat "$BATS_TEST_TMPDIR/roll$i.err"; }
		[ "$(cat "$BATS_TEST_TMPDIR/roll$i.out")" = "$want" ] || failed=$((failed + 1))
		grep -q 'reconnects=[1-9]' "$BATS_TEST_TMPDIR/roll$i.err" && moved=$((moved + 1))
	done
	echo "# 30 streams: $moved reconnected during the restart, $failed failed" >&3
	[ "$failed" = 0 ]
	[ "$moved" -ge 1 ]
	run chatctl status --dir "$STACK_DIR"
	assert_success
}

@test "HEARTBEAT_FILE is touched by ai-streamer and recoverd once their heartbeat reaches Redis (compose healthchecks)" {
	export REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0 SHARE_DIR=$ROOT/share
	for prog in recoverd ai-streamer; do
		rm -f "$BATS_TEST_TMPDIR/hb"
		HEARTBEAT_FILE=$BATS_TEST_TMPDIR/hb NODE_ID=hb-$prog "$prog" >"$BATS_TEST_TMPDIR/$prog.log" 2>&1 3>&- &
		local p=$!
		wait_for 5 test -f "$BATS_TEST_TMPDIR/hb"
		kill "$p"
		wait "$p" || true
		# the same test as the compose healthcheck
		[ -n "$(find "$BATS_TEST_TMPDIR/hb" -newermt '-15 seconds')" ]
	done
	# and not by a program that cannot reach Redis
	rm -f "$BATS_TEST_TMPDIR/hb"
	REDIS_URL=redis://127.0.0.1:1/0 HEARTBEAT_FILE=$BATS_TEST_TMPDIR/hb recoverd >/dev/null 2>&1 3>&- &
	local q=$!
	sleep 2
	kill "$q"
	wait "$q" || true
	[ ! -e "$BATS_TEST_TMPDIR/hb" ]
}
