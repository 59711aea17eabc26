# doc/protocol.md, guarantee 4: a client that stops reading is closed with 4408 once
# its bounded send queue is full, while the other sockets of the relay go on
# at full speed; it then reconnects and recovers what it missed.

load helpers/stack

setup_file() {
	# a small queue, so that the test does not need megabytes of frames;
	# 4 ms a token: the slow reply (5,000 tokens, 20 s) outlasts the 20
	# others even where they start 9 s after it (seen under ASan, with
	# another file running, at 2 ms a token)
	SEND_QUEUE_FRAMES=256 SOCKET_SNDBUF=16384 AI_MAX_TOKENS=20000 stack_up --token-delay-ms 4 --relays 1
}
teardown_file() { stack_down; }

@test "a client that stops reading is closed with 4408; 20 others on the relay finish meanwhile" {
	relay=ws://127.0.0.1:$RELAY_BASE/ws/chat
	# it stops reading after its third frame, for 6 s, with a small socket buffer
	chat-cli --url "$API" --ws-url "$relay" --session slow --stall-after 3 --stall 6 --rcvbuf 4096 \
		--stats --timeout 60 "$(words 2500)" >"$BATS_TEST_TMPDIR/slow.out" 2>"$BATS_TEST_TMPDIR/slow.err" &
	slow=$!
	wait_for 10 chunks_past slow 100
	pids=()
	for i in $(seq 1 20); do
		chat-cli --url "$API" --ws-url "$relay" --session "fast$i" --timeout 60 "$(words 300)" \
			>"$BATS_TEST_TMPDIR/fast$i.out" 2>"$BATS_TEST_TMPDIR/fast$i.err" &
		pids+=($!)
	done
	fails=0
	for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
	[ "$fails" -eq 0 ] || { cat "$BATS_TEST_TMPDIR"/fast*.err >&3; false; }
	# all 20 were served while the slow one was still not reading
	kill -0 "$slow"
	for i in $(seq 1 20); do
		[ "$(cat "$BATS_TEST_TMPDIR/fast$i.out")" = "$(curl -sf "$API/api/history/fast$i?user_id=tester" | jq -j '.messages[-1].content')" ]
	done
	wait "$slow"
	grep -q 'connection closed (4408 too slow' "$BATS_TEST_TMPDIR/slow.err"
	grep -q 'reconnects=1 ' "$BATS_TEST_TMPDIR/slow.err"
	# and it recovered everything
	[ "$(cat "$BATS_TEST_TMPDIR/slow.out")" = "$(curl -sf "$API/api/history/slow?user_id=tester" | jq -j '.messages[-1].content')" ]
	[ "$(curl -s "http://127.0.0.1:$RELAY_BASE/health" | jq .connections)" = 0 ]
	[ "$(rcli hget "node:ws:{ws-$RELAY_BASE}" slow_closes)" -ge 1 ]
}
