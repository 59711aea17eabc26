# Cancelling a reply, and recoverd: no stream is left hanging when its worker
# dies, and a worker that lost its lease cannot write another chunk.

load helpers/stack

setup_file() { LEASE_MS=2000 AI_MAX_TOKENS=2000 stack_up --relays 1; }
teardown_file() { stack_down; }

cancel() {
	api POST /api/cancel "{\"session_id\":\"$1\",\"message_id\":\"$2\"${3:+,\"user_id\":\"$3\"}}"
}

@test "cancel mid-stream: cancelled within one token, partial text kept in history as cancelled" {
	chat-cli --url "$API" --session cx1 --stats "$(words 200)" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
	client=$!
	wait_for 10 chunks_past cx1 10
	mid=$(rcli hget "$(key stream:session: "cx1")" messageId)
	run cancel cx1 "$mid" tester
	assert_output "200 {\"message_id\":\"$mid\",\"status\":\"cancelling\"}"
	at_cancel=$(chunks_written cx1)
	rc=0
	wait "$client" || rc=$?
	[ "$rc" -eq 4 ]   # chat-cli: cancelled
	hist=$(curl -sf "$API/api/history/cx1?user_id=tester" | jq -c '.messages[-1]')
	[ "$(echo "$hist" | jq -r .status)" = cancelled ]
	total=$(rcli hget "$(key stream:meta: "$mid")" total_chunks)
	echo "cancel answered at chunk $at_cancel, the stream ended at $total" >&3
	[ "$total" -le $((at_cancel + 1)) ]
	[ "$total" -lt 408 ]
	# the history keeps exactly what was streamed
	[ "$(echo "$hist" | jq -j .content)" = "$(cat "$BATS_TEST_TMPDIR/out")" ]
}

@test "cancel answers 409 for an ended message, 404 for an unknown one, 403 for another user, 400 for garbage" {
	run chat-cli --url "$API" --session cx2 "short"
	assert_success
	mid=$(curl -sf "$API/api/history/cx2?user_id=tester" | jq -r '.messages[-1].message_id')
	run cancel cx2 "$mid" tester
	assert_output --regexp '^409 .*"code":"not_streaming"'
	run cancel cx2 0123456789abcdef0123456789abcdef tester
	assert_output --regexp '^404 .*"code":"not_found"'
	run cancel nosuchsession "$mid" tester
	assert_output --regexp '^404 '
	run cancel cx2 "$mid" mallory
	assert_output --regexp '^403 .*"code":"forbidden"'
	run api POST /api/cancel '{"session_id":"cx2"}'
	assert_output --regexp '^400 .*message_id'
	run api POST /api/cancel 'nope'
	assert_output --regexp '^400 '
	# nothing changed
	[ "$(curl -sf "$API/api/history/cx2?user_id=tester" | jq -r '.messages[-1].status')" = complete ]
}

# kill_streamers PIDS: kill -9 of every worker in a worker_pids table
kill_streamers() {
	kill -9 "$(pid_of "$1" ai-0)" "$(pid_of "$1" ai-1)"
}

@test "kill -9 of every ai-streamer mid-stream: each reply resumes where it stopped and ends whole" {
	prompt=$(words 150)   # 308 tokens, about 6 s at 20 ms each
	workers=$(worker_pids)
	pids=()
	for i in 1 2 3 4 5 6; do
		chat-cli --url "$API" --session "kw$i" --timeout 60 "$prompt" >"$BATS_TEST_TMPDIR/kw$i.out" 2>&1 &
		pids+=($!)
	done
	wait_for 10 chunks_past kw6 20
	# a second recoverd competes with the stack's own: no job may be requeued twice
	REDIS_URL=$STACK_REDIS_URL NODE_ID=recoverd-2 LEASE_MS=2000 SHARE_DIR="$ROOT/share" \
		recoverd >"$BATS_TEST_TMPDIR/recoverd-2.log" 2>&1 3>&- &
	second=$!
	start=$(date +%s)
	kill_streamers "$workers"
	for p in "${pids[@]}"; do wait "$p"; done
	kill "$second"
	took=$(($(date +%s) - start))
	echo "the six replies ended ${took}s after every worker was killed (LEASE_MS=2000)" >&3
	# chat-cli saw no gap and no repeat; the text is the generator's, unbroken
	want=$(TOKEN_DELAY_MS=0 ai-streamer --once "$prompt")
	for i in 1 2 3 4 5 6; do
		[ "$(cat "$BATS_TEST_TMPDIR/kw$i.out")" = "$want" ]
		[ "$(curl -sf "$API/api/history/kw$i?user_id=tester" | jq -j '.messages[-1].content')" = "$want" ]
	done
	for i in 1 2 3 4 5 6; do
		[ "$(rcli hget "$(key stream:meta: "$(rcli hget "$(key stream:session: "kw$i")" messageId)")" requeues)" = 1 ]
	done
	echo "requeued by the second recoverd: $(grep -c 'job requeued' "$BATS_TEST_TMPDIR/recoverd-2.log")" >&3
	[ "$took" -le 30 ]
}

@test "a paused worker loses its lease: another resumes the reply and the old one cannot write again" {
	prompt=$(words 150)
	workers=$(worker_pids)
	chat-cli --url "$API" --session lz1 --timeout 60 "$prompt" >"$BATS_TEST_TMPDIR/out" 2>&1 &
	client=$!
	wait_for 10 chunks_past lz1 10
	mid=$(rcli hget "$(key stream:session: "lz1")" messageId)
	owner=$(rcli get "$(key stream:lock: "$mid")")
	node=${owner%%:*}   # ai-0 or ai-1
	pid=$(pid_of "$workers" "$node")
	kill -STOP "$pid"
	wait_for 15 bash -c "[ \"\$(rcli hget '$(key stream:meta: "$mid")' requeues)\" = 1 ]"
	wait_for 10 chunks_past lz1 $(($(chunks_written lz1) + 5))
	kill -CONT "$pid"
	wait "$client"
	[ "$(cat "$BATS_TEST_TMPDIR/out")" = "$(TOKEN_DELAY_MS=0 ai-streamer --once "$prompt")" ]
	wait_for 5 grep -q "message=$mid.*reason=\"lease\"" "$STACK_DIR/log/ai-streamer-${node#ai-}.log"
}

@test "a cancelled message whose worker died is not resumed: it ends as cancelled" {
	workers=$(worker_pids)
	chat-cli --url "$API" --session cd1 --timeout 60 "$(words 150)" >/dev/null 2>"$BATS_TEST_TMPDIR/err" &
	client=$!
	wait_for 10 chunks_past cd1 10
	mid=$(rcli hget "$(key stream:session: "cd1")" messageId)
	kill_streamers "$workers"
	run cancel cd1 "$mid" tester
	assert_output --regexp '^200 '
	rc=0
	wait "$client" || rc=$?
	[ "$rc" -eq 4 ] || { cat "$BATS_TEST_TMPDIR/err" >&3; grep "$mid" "$STACK_DIR"/log/*.log | grep -v debug >&3; false; }
	[ "$(curl -sf "$API/api/history/cd1?user_id=tester" | jq -r '.messages[-1].status')" = cancelled ]
}

@test "ai-streamer --pipe | redis-cli --pipe: the API, a watcher and a replay see a chatted message" {
	# redis-cli --pipe writes to one node; a cluster would refuse other slots' keys
	[ "${STACK_REDIS:-single}" != cluster ] || skip "redis-cli --pipe does not follow MOVED"
	chat-cli --url "$API" --session pp1 --watch --timeout 20 >"$BATS_TEST_TMPDIR/watch" 2>&1 &
	watcher=$!
	wait_for 10 bash -c "[ \$(rcli exists '$(key sessions:relays: pp1)') = 1 ]"
	ai-streamer --pipe --session pp1 "piped in from a script" 2>/dev/null |
		redis-cli -p "$REDIS_PORT" --pipe | grep -q 'errors: 0'
	want=$(ai-streamer --once "piped in from a script")
	wait "$watcher"
	[ "$(cat "$BATS_TEST_TMPDIR/watch")" = "$want" ]
	run curl -sf "$API/api/history/pp1?user_id=tester"
	[ "$(echo "$output" | jq -r '.messages[0].content')" = "piped in from a script" ]
	[ "$(echo "$output" | jq -j '.messages[1].content')" = "$want" ]
	mid=$(echo "$output" | jq -r '.messages[1].message_id')
	[ "$(curl -sf "$API/api/stream/$mid?user_id=tester" | jq -r .status)" = complete ]
	run chat-cli --url "$API" --session pp1 --watch --message "$mid" --after -1
	assert_success
	[ "$output" = "$want" ]
}

@test "append.lua: each message of a batch is fenced on its own; a repeated index is refused and leaves no trace" {
	# EVAL, not SCRIPT LOAD + EVALSHA: on a cluster the script would be
	# loaded on one node and called on its keys' node
	script=$(cat "$ROOT/share/lua/append.lua")
	# three messages and a session of partition 1, as a worker batches them
	# on a cluster-enabled Redis (one call's keys in one slot)
	ab1=000000000000100000000000000000a1 ab2=000000000000100000000000000000a2
	ab3=000000000000100000000000000000a3 abs=$(session_in_partition 1 abs)
	rcli set "$(key stream:lock: "$ab1")" owner-a px 60000 >/dev/null
	rcli set "$(key stream:lock: "$ab2")" owner-b px 60000 >/dev/null
	rcli set "$(key stream:lock: "$ab3")" 'owner-a#cancelled' px 60000 >/dev/null
	batch() {  # index of ab1, then the same token for ab2 and ab3 at 0
		rcli eval "$script" 6 "$(key stream:chunks: "$ab1")" "$(key stream:lock: "$ab1")" "$(key stream:chunks: "$ab2")" \
			"$(key stream:lock: "$ab2")" "$(key stream:chunks: "$ab3")" "$(key stream:lock: "$ab3")" \
			owner-a "$1" "t$1" "$(key stream:channel: "$abs")" "{\"index\":$1}" \
			owner-a 0 x "$(key stream:channel: "$abs")" '{}' owner-a 0 x "$(key stream:channel: "$abs")" '{}'
	}
	run batch 0
	assert_output "$(printf '1\nlease\ncancelled')"
	run batch 1
	assert_output "$(printf '2\nlease\ncancelled')"
	# a retry of index 1 (its reply was lost): refused, the list untouched
	run batch 1
	assert_output "$(printf 'index:2\nlease\ncancelled')"
	[ "$(rcli lrange "$(key stream:chunks: "$ab1")" 0 -1 | tr '\n' ' ')" = "t0 t1 " ]
	[ "$(rcli exists "$(key stream:chunks: "$ab2")" "$(key stream:chunks: "$ab3")")" = 0 ]
	# a key of the wrong type fails its own message only
	rcli set "$(key stream:chunks: "$ab2")" notalist >/dev/null
	rcli set "$(key stream:lock: "$ab2")" owner-a px 60000 >/dev/null
	run batch 2
	assert_line --index 0 3
	assert_line --index 1 --regexp '^error:.*WRONGTYPE'
	rcli del "$(key stream:lock: "$ab1")" "$(key stream:lock: "$ab2")" "$(key stream:lock: "$ab3")" "$(key stream:chunks: "$ab1")" \
		"$(key stream:chunks: "$ab2")" >/dev/null
}

@test "a reply paced slower than its lease keeps it: the worker renews leases on a timer, not per chunk" {
	sctl stop 'ai-streamer:*' >/dev/null
	# a token every 700 ms against a 300 ms lease: a lease that lived only
	# from one append to the next would be lost before every token
	LEASE_MS=300 TOKEN_DELAY_MS=700 AI_MAX_TOKENS=6 REDIS_URL="$STACK_REDIS_URL" \
		NODE_ID=ai-slow ai-streamer >"$BATS_TEST_TMPDIR/slow.log" 2>&1 3>&- &
	slow=$!
	# the stopped workers left the registry: wait for this one to be in it
	wait_for 10 curl -sf -o /dev/null "$API/api/ai-health"
	mid=$(post_chat ls1 "slow")
	# mid-stream, the API's count is the list's (total_chunks is written at the end)
	wait_for 10 chunks_past ls1 2
	run curl -sf "$API/api/stream/$mid?user_id=tester"
	[ "$(echo "$output" | jq '.total_chunks')" -eq "$(echo "$output" | jq '.chunks | length')" ]
	[ "$(echo "$output" | jq -r .status)" = streaming ]
	wait_for 15 bash -c "[ \"\$(rcli hget '$(key stream:meta: "$mid")' status)\" = complete ]"
	kill "$slow"
	wait "$slow" || true
	sctl start 'ai-streamer:*' >/dev/null
	[ "$(rcli hget "$(key stream:meta: "$mid")" total_chunks)" = 6 ]
	[ -z "$(rcli hget "$(key stream:meta: "$mid")" requeues)" ]
	run grep -c '"append refused\|finish refused' "$BATS_TEST_TMPDIR/slow.log"
	assert_output 0
	[ "$(curl -sf "$API/api/history/ls1?user_id=tester" | jq -j '.messages[1].content')" = \
		"$(AI_MAX_TOKENS=6 ai-streamer --once slow)" ]
}
