# A worker stopped with SIGTERM hands its replies over at once: another
# worker resumes each at the next chunk, with nothing lost or repeated, long
# before the lease (20 s here) would have run out.

load helpers/stack

setup_file() { LEASE_MS=20000 stack_up --relays 1; }
teardown_file() { stack_down; }

holder_node() {
	local owner
	owner=$(rcli get "$(key stream:lock: "$1")")
	echo "${owner%%:*}"
}

@test "SIGTERM mid-reply: the other worker takes the reply over at once; every chunk arrives once" {
	prompt=$(words 250)   # 508 tokens, about 10 s at 20 ms each
	workers=$(worker_pids)
	chat-cli --url "$API" --session ho1 --timeout 60 --stats "$prompt" >"$BATS_TEST_TMPDIR/out" \
		2>"$BATS_TEST_TMPDIR/err" &
	client=$!
	wait_for 10 chunks_past ho1 20
	mid=$(rcli hget "$(key stream:session: "ho1")" messageId)
	node=$(holder_node "$mid")
	pid=$(pid_of "$workers" "$node")
	kill -TERM "$pid"
	# the other worker holds the lease within seconds (not DRAIN_MS + LEASE_MS)
	wait_for 4 bash -c "owner=\$(redis-cli -p $REDIS_PORT get '$(key stream:lock: "$mid")'); [ -n \"\$owner\" ] && [ \"\${owner%%:*}\" != $node ]"
	# and the stopped one is gone, its replies handed over
	wait_for 5 bash -c "! kill -0 $pid 2>/dev/null"
	at=$(chunks_written ho1)
	wait "$client"
	sctl start "ai-streamer:ai-streamer-${node#ai-}" >/dev/null
	echo "handed over at about chunk $at; $(cat "$BATS_TEST_TMPDIR/err")" >&3
	want=$(TOKEN_DELAY_MS=0 ai-streamer --once "$prompt")
	[ "$(cat "$BATS_TEST_TMPDIR/out")" = "$want" ]
	[ "$(curl -sf "$API/api/history/ho1?user_id=tester" | jq -j '.messages[-1].content')" = "$want" ]
	# each index once, in order, and nothing for recoverd to do
	run curl -sf "$API/api/stream/$mid?user_id=tester"
	[ "$(echo "$output" | jq '[.chunks[].index] == [range(0; 508)]')" = true ]
	[ "$(rcli hget "$(key stream:meta: "$mid")" handovers)" = 1 ]
	[ -z "$(rcli hget "$(key stream:meta: "$mid")" requeues)" ]
	grep -q "msg=\"job handed over\" message=$mid .*outcome=released" "$STACK_DIR/log/ai-streamer-${node#ai-}.log"
	grep -q 'repeats=0' "$BATS_TEST_TMPDIR/err"
}

@test "both workers stopped: the replies wait in the stream and go on when a worker starts" {
	prompt=$(words 250)   # 508 tokens: more than DRAIN_MS (5 s) can finish
	chat-cli --url "$API" --session ho2 --timeout 60 "$prompt" >"$BATS_TEST_TMPDIR/out" 2>&1 &
	client=$!
	wait_for 10 chunks_past ho2 10
	mid=$(rcli hget "$(key stream:session: "ho2")" messageId)
	sctl stop 'ai-streamer:*' >/dev/null
	# no lease is left behind: nothing waits for LEASE_MS
	[ "$(rcli exists "$(key stream:lock: "$mid")")" = 0 ]
	sctl start 'ai-streamer:*' >/dev/null
	wait "$client"
	[ "$(cat "$BATS_TEST_TMPDIR/out")" = "$(TOKEN_DELAY_MS=0 ai-streamer --once "$prompt")" ]
	[ -z "$(rcli hget "$(key stream:meta: "$mid")" requeues)" ]
}
