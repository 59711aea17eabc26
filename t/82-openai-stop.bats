# ai-streamer's openai backend stops an AI server when it should: a cancel
# reaches a server that says nothing, AI_MAX_TOKENS cuts a server that never
# stops, a server faster than Redis is paused rather than buffered, an error
# body of any bytes makes a valid frame and one log line, and a worker
# stopped with SIGTERM hands its replies over instead of holding its leases.
# Timeouts and leases are long here (30 s, 20 s), so that none of this can
# pass by waiting for them.

load helpers/stack

setup_file() {
	export FAKE_DIR
	FAKE_DIR=$(mktemp -d "${STREAMCHAT_TEST_ROOT:-/tmp}/fake.XXXXXX")
	printf '%s\n' '"Hello"' '", w\u00f6rld"' '" and"' '" more"' '" of"' '" it"' '" now."' \
		>"$FAKE_DIR/tokens"
	echo ok >"$FAKE_DIR/mode"
	export FAKE_PORT
	FAKE_PORT=$(free_ports 1)
	"$ROOT/build/fake-openai" --port "$FAKE_PORT" --log "$FAKE_DIR/log" --tokens "$FAKE_DIR/tokens" \
		--mode-file "$FAKE_DIR/mode" >/dev/null 2>&1 3>&- &
	echo $! >"$FAKE_DIR/pid"
	AI_BACKEND=openai AI_TIMEOUT_MS=30000 LEASE_MS=20000 AI_MAX_TOKENS=50 DRAIN_MS=1000 \
		AI_BASE_URLS="http://127.0.0.1:$FAKE_PORT/v1" stack_up --relays 1
}

teardown_file() {
	stack_down
	pkill -P "$(cat "$FAKE_DIR/pid")" 2>/dev/null || true
	kill "$(cat "$FAKE_DIR/pid")" 2>/dev/null || true
	rm -rf "$FAKE_DIR"
}

mode() { echo "$*" >"$FAKE_DIR/mode"; }
requests() { grep -c '^=== request' "$FAKE_DIR/log" 2>/dev/null || echo 0; }
last_request() { awk '/^=== request/{body=""; next} /^\{/{body=$0} END{print body}' "$FAKE_DIR/log"; }
cancel() { api POST /api/cancel "{\"session_id\":\"$1\",\"message_id\":\"$2\",\"user_id\":\"tester\"}"; }
ms() { date +%s%3N; }

@test "a cancel stops a reply whose AI server says nothing, at once, not at AI_TIMEOUT_MS" {
	mode stall
	before=$(requests)
	chat-cli --url "$API" --session sc1 --timeout 60 "anyone there?" >"$BATS_TEST_TMPDIR/out" 2>&1 &
	client=$!
	wait_for 10 bash -c "[ \$(grep -c '^=== request' '$FAKE_DIR/log') -gt $before ]"
	mid=$(rcli hget "$(key stream:session: "sc1")" messageId)
	t0=$(ms)
	run cancel sc1 "$mid"
	assert_output --regexp '^200 '
	rc=0
	wait "$client" || rc=$?
	took=$(($(ms) - t0))
	echo "cancelled ${took} ms after the cancel (AI_TIMEOUT_MS=30000)" >&3
	[ "$rc" -eq 4 ] || { cat "$BATS_TEST_TMPDIR/out" >&3; false; }
	[ "$took" -lt 8000 ]
	[ "$(curl -sf "$API/api/history/sc1?user_id=tester" | jq -r '.messages[-1].status')" = cancelled ]
	# the request was closed, not left to the server's silence
	wait_for 5 grep -q 'closed by client during a stall' "$FAKE_DIR/log"
}

@test "AI_MAX_TOKENS is sent as max_tokens, and a server that streams forever is cut there" {
	mode endless
	run chat-cli --url "$API" --session mt1 --timeout 30 "never stop"
	assert_success
	mid=$(rcli hget "$(key stream:session: "mt1")" messageId)
	[ "$(rcli hget "$(key stream:meta: "$mid")" total_chunks)" = 50 ]
	[ "$(rcli hget "$(key stream:meta: "$mid")" status)" = complete ]
	[ "$(last_request | jq .max_tokens)" = 50 ]
	wait_for 10 grep -q 'closed by client during an endless stream' "$FAKE_DIR/log"
}

# the stack's workers back, after a test that ran its own
teardown() {
	[ -n "${fast:-}" ] || return 0
	kill -9 "$fast" 2>/dev/null || true
	wait "$fast" 2>/dev/null || true
	sctl start 'ai-streamer:*' >/dev/null
	wait_for 10 curl -sf -o /dev/null "$API/api/ai-health"
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

@test "a server faster than Redis is paused: the worker's memory does not grow while Redis stalls" {
	mode endless 5   # 64 KB of events every 5 ms, about 180,000 tokens a second
	sctl stop 'ai-streamer:*' >/dev/null
	AI_BACKEND=openai AI_BASE_URLS="http://127.0.0.1:$FAKE_PORT/v1" AI_MAX_TOKENS=1000000 \
		REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" NODE_ID=ai-fast SHARE_DIR="$ROOT/share" \
		ai-streamer >"$BATS_TEST_TMPDIR/fast.log" 2>&1 3>&- &
	fast=$!
	wait_for 10 bash -c "redis-cli -p $REDIS_PORT exists 'node:ai:{ai-fast}' | grep -q 1"
	mid=$(post_chat qb1 "as fast as you can")
	wait_for 20 chunks_past qb1 100
	# Redis answers nothing for 3 s; meanwhile the server could send
	# hundreds of thousands of tokens (tens of MB queued)
	rcli client pause 3000 ALL >/dev/null
	sleep 0.5
	a=$(rss_kb "$fast")
	sleep 2
	b=$(rss_kb "$fast")
	echo "the worker's RSS went from $a kB to $b kB while Redis was paused" >&3
	wait_for 10 bash -c "redis-cli -p $REDIS_PORT ping | grep -q PONG"
	run cancel qb1 "$mid"
	assert_output --regexp '^200 '
	wait_for 10 bash -c "[ \"\$(redis-cli -p $REDIS_PORT hget '$(key stream:meta: "$mid")' status)\" = cancelled ]"
	[ $((b - a)) -lt 4096 ]
}

@test "an error body with a newline and a character across the cut makes a valid frame and one log line" {
	# a newline that would start a forged log line, then 3-byte characters
	# from byte 148 on, so that cuts at 150 bytes or at 200 fall inside one
	{
		printf 'line one\nts=2000-01-01T00:00:00.000Z level=error prog=forged'
		head -c $((148 - 68)) /dev/zero | tr '\0' x
		for i in $(seq 40); do printf '\xe2\x82\xac'; done
	} >"$FAKE_DIR/body"
	[ "$(head -c 68 "$FAKE_DIR/body" | wc -c)" = 68 ]
	mode "http-error:$FAKE_DIR/body"
	run chat-cli --url "$API" --session eb1 --raw "fail with style"
	[ "$status" -eq 5 ]
	echo "$output" | grep -a '"type":"error"' >"$BATS_TEST_TMPDIR/frame"
	[ -s "$BATS_TEST_TMPDIR/frame" ]
	iconv -f UTF-8 -t UTF-8 "$BATS_TEST_TMPDIR/frame" >/dev/null
	msg=$(jq -r .message "$BATS_TEST_TMPDIR/frame")
	echo "$msg" >&3
	[ "$(jq -r .code "$BATS_TEST_TMPDIR/frame")" = http_500 ]
	[[ $msg == "the AI server answered 500: line one ts=2000-01-01"* ]]
	[ "$(printf '%s' "$msg" | wc -l)" = 0 ]
	[[ $msg == *€ ]]
	# every log line is the logger's own
	! grep -h '^ts=2000-01-01' "$STACK_DIR"/log/ai-streamer-*.log || false
	grep -q 'error="the AI server answered 500: line one ts=2000-01-01' "$STACK_DIR"/log/ai-streamer-*.log
	mode ok
}

@test "SIGTERM mid-reply: after DRAIN_MS the reply is handed over and ends interrupted at once, not after LEASE_MS" {
	mode ok 1000   # 7 tokens, one a second
	workers=$(worker_pids)
	chat-cli --url "$API" --session dr1 --timeout 60 "slowly" >"$BATS_TEST_TMPDIR/out" 2>&1 &
	client=$!
	wait_for 10 chunks_past dr1 0
	mid=$(rcli hget "$(key stream:session: "dr1")" messageId)
	owner=$(rcli get "$(key stream:lock: "$mid")")
	node=${owner%%:*}
	t0=$(ms)
	kill -TERM "$(pid_of "$workers" "$node")"
	rc=0
	wait "$client" || rc=$?
	took=$(($(ms) - t0))
	echo "the reply ended ${took} ms after SIGTERM (DRAIN_MS=1000, LEASE_MS=20000)" >&3
	sctl start "ai-streamer:ai-streamer-${node#ai-}" >/dev/null
	wait_for 10 curl -sf -o /dev/null "$API/api/ai-health"
	[ "$rc" -eq 5 ]
	grep -q 'error interrupted' "$BATS_TEST_TMPDIR/out"
	[ "$took" -lt 10000 ]
	[ "$(rcli hget "$(key stream:meta: "$mid")" handovers)" = 1 ]
	n=$(rcli hget "$(key stream:meta: "$mid")" total_chunks)
	[ "$(curl -sf "$API/api/history/dr1?user_id=tester" | jq -j '.messages[-1].content')" = "$(head -"$n" "$FAKE_DIR/tokens" | jq -rj .)" ]
	mode ok
}
