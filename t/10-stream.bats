# A whole stack on one machine: a message comes back as a token stream.

load helpers/stack

setup_file() { stack_up --token-delay-ms 5; }
teardown_file() { stack_down; }

@test "chatctl status lists every process running and healthy" {
	run chatctl status --dir "$STACK_DIR"
	assert_success
	assert_output --partial "ws-relay:ws-relay-$RELAY_BASE"
	assert_output --partial "health: ok"
	# redis, nginx, recoverd, 3 relays, 2 workers and chatctl's 4 chat-fcgi;
	# STACK_REDIS=sentinel: also a replica and three sentinels; cluster:
	# five more Redis nodes
	want=12; [ "${STACK_REDIS:-single}" != sentinel ] || want=16
	[ "${STACK_REDIS:-single}" != cluster ] || want=17
	[ "$(echo "$output" | grep -c RUNNING)" -eq "$want" ]
	[ "$(echo "$output" | grep -c '^chat-fcgi:.* RUNNING')" -eq 4 ]
}

@test "a message streams back as chunks 0..n-1 then complete with totalChunks n" {
	run chat-cli --url "$API" --session s1 --raw "hello streaming world"
	assert_success
	indices=$(echo "$output" | jq -r 'select(.type=="chunk") | .index' | tr '\n' ' ')
	n=$(echo "$output" | jq -r 'select(.type=="chunk")' | jq -s length)
	[ "$indices" = "$(seq 0 $((n - 1)) | tr '\n' ' ')" ]
	[ "$(echo "$output" | jq -r 'select(.type=="complete") | .totalChunks')" -eq "$n" ]
	# 8 + 2 tokens per word of the prompt
	[ "$n" -eq 14 ]
}

@test "the history holds the user message and the reply equal to the chunks joined" {
	run chat-cli --url "$API" --session s2 "what is in the history"
	assert_success
	reply=$output
	hist=$(curl -sf "$API/api/history/s2?user_id=tester")
	[ "$(echo "$hist" | jq -r '.messages | length')" -eq 2 ]
	[ "$(echo "$hist" | jq -r '.messages[0].role')" = user ]
	[ "$(echo "$hist" | jq -r '.messages[0].content')" = "what is in the history" ]
	[ "$(echo "$hist" | jq -r '.messages[1].role')" = assistant ]
	[ "$(echo "$hist" | jq -r '.messages[1].status')" = complete ]
	[ "$(echo "$hist" | jq -r '.messages[1].content')" = "$reply" ]
	mid=$(echo "$hist" | jq -r '.messages[1].message_id')
	joined=$(curl -sf "$API/api/stream/$mid?user_id=tester" | jq -j '.chunks[].content')
	[ "$joined" = "$reply" ]
}

@test "the reply is the built-in generator's, the same as ai-streamer --once" {
	run chat-cli --url "$API" --session s3 "deterministic please"
	assert_success
	[ "$output" = "$(TOKEN_DELAY_MS=0 ai-streamer --once 'deterministic please')" ]
}

@test "GET /api/stream/{id}?from=3 starts at index 3" {
	mid=$(post_chat s4 "$(words 5)")
	wait_for 10 bash -c "curl -sf '$API/api/stream/$mid?user_id=tester' | jq -e '.status == \"complete\"' >/dev/null"
	run curl -sf "$API/api/stream/$mid?from=3&user_id=tester"
	assert_success
	[ "$(echo "$output" | jq '.chunks[0].index')" -eq 3 ]
	[ "$(echo "$output" | jq '.total_chunks')" -eq 18 ]
	[ "$(echo "$output" | jq '.chunks | length')" -eq 15 ]
	[ "$(echo "$output" | jq '[.chunks[].index] == [range(3;18)]')" = true ]
	all=$(curl -sf "$API/api/stream/$mid?user_id=tester" | jq -j '.chunks[3:][].content')
	[ "$(echo "$output" | jq -j '.chunks[].content')" = "$all" ]
}

@test "a second message while a reply streams gets 409, and works after it ends" {
	mid=$(post_chat s5 "$(words 30)")
	run api POST /api/chat '{"session_id":"s5","user_id":"tester","message":"again"}'
	assert_output --regexp '^409 .*"code":"stream_in_progress"'
	run chat-cli --url "$API" --session s5 --watch --message "$mid"
	assert_success
	run chat-cli --url "$API" --session s5 "now it works"
	assert_success
}

@test "another user's session is refused with 403" {
	post_chat s6 "mine" alice >/dev/null
	run api POST /api/chat '{"session_id":"s6","user_id":"mallory","message":"let me in"}'
	assert_output --regexp '^403 .*"code":"forbidden"'
	run api GET "/api/history/s6?user_id=mallory"
	assert_output --regexp '^403 '
}

@test "two workers serve 100 concurrent replies, each at its own pace" {
	# sample how many replies each worker streams at once while they run
	( for _ in $(seq 1 100); do
		echo "$(rcli hget 'node:ai:{ai-0}' active_jobs) $(rcli hget 'node:ai:{ai-1}' active_jobs)"
		sleep 0.1
	  done ) > "$BATS_TEST_TMPDIR/active" &
	sampler=$!
	start=$(date +%s)
	pids=()
	for i in $(seq 1 100); do
		chat-cli --url "$API" --session "c$i" --timeout 60 "$(words $((i % 7 + 60)))" \
			>"$BATS_TEST_TMPDIR/c$i.out" 2>&1 &
		pids+=($!)
	done
	fails=0
	for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
	elapsed=$(($(date +%s) - start))
	kill "$sampler" 2>/dev/null || true
	max0=$(awk '$1 > m { m = $1 } END { print m + 0 }' "$BATS_TEST_TMPDIR/active")
	max1=$(awk '$2 > m { m = $2 } END { print m + 0 }' "$BATS_TEST_TMPDIR/active")
	echo "100 replies in ${elapsed}s, $fails failed; most at once: ai-0 $max0, ai-1 $max1" >&3
	if [ "$fails" -ne 0 ]; then
		# say how the failures ended, so a CI log is enough to diagnose them
		grep -h -i -E 'error|refused|timeout|closed|gap' "$BATS_TEST_TMPDIR"/c*.out | sort | uniq -c | head -20 >&3
		false
	fi
	# interleaved, not one after another: each worker streamed many replies at once
	[ "$max0" -gt 2 ]
	[ "$max1" -gt 2 ]
	for i in 1 2 3; do
		[ "$(cat "$BATS_TEST_TMPDIR/c$i.out")" = "$(TOKEN_DELAY_MS=0 ai-streamer --once "$(words $((i % 7 + 60)))")" ]
	done
}

@test "a bad session id on the WebSocket is closed with 4400" {
	run chat-cli --ws-url "ws://127.0.0.1:$RELAY_BASE/ws/chat" --session 'ok' --user 'bad user' --watch
	[ "$status" -eq 2 ]   # chat-cli refuses it before sending
	run bash -c "exec 3<>/dev/tcp/127.0.0.1/$RELAY_BASE; printf 'GET /ws/chat?session_id=a%%2Fb&user_id=u HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n' >&3; timeout 2 cat <&3 | od -An -tx1 | tr -d ' \n'"
	# 101, then a close frame (0x88) with code 4400 (0x1130)
	assert_output --partial "0d0a0d0a88"
	assert_output --partial "1130"
}

@test "the relays answer /health" {
	for i in 0 1 2; do
		run curl -sf "http://127.0.0.1:$((RELAY_BASE + i))/health"
		assert_success
		assert_output --partial '"redis":"ok"'
	done
}

@test "chatctl down stops every process it started" {
	chatctl down --dir "$STACK_DIR"
	run pgrep -f "$STACK_DIR"
	assert_failure
	run pgrep -f "ws-relay --port $RELAY_BASE"
	assert_failure
	run curl -s --max-time 1 "$API/api/health"
	assert_failure
}
