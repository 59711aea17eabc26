# Balancing by session (issue 19): nginx picks a relay by the session id,
# not by the client's address, so one address's many sessions spread over
# the relays, the sockets and streams of one session meet on one relay, and
# a relay that dies hands its sessions to the others.

load helpers/stack

setup_file() { AI_MAX_TOKENS=2000 stack_up --token-delay-ms 20; }
teardown_file() { stack_down; }

# connections PORT: the WebSockets relay PORT holds now
connections() {
	curl -sf "http://127.0.0.1:$1/metrics" | awk '$1 == "streamchat_relay_connections" { print $2 }'
}
all_connections() {
	local p n=0
	for ((p = RELAY_BASE; p < RELAY_BASE + 3; p++)); do n=$((n + $(connections "$p"))); done
	echo "$n"
}
# relays_holding S: how many relays hold session S (its sockets or streams)
relays_holding() {
	local p n=0
	for ((p = RELAY_BASE; p < RELAY_BASE + 3; p++)); do
		[ "$(rcli hexists "sessions:node:{ws-$p}" "$1")" = 1 ] && n=$((n + 1))
	done
	echo "$n"
}

@test "90 sessions from one address through nginx spread over the 3 relays" {
	chat-bench --workload idle --sessions 90 --seconds 20 --relay "127.0.0.1:$HTTP_PORT" \
		>"$BATS_TEST_TMPDIR/bench" 2>&1 3>&- &
	local p=$! port n counts=""
	local deadline=$((SECONDS + 15))
	while [ "$(all_connections)" -lt 90 ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
	for ((port = RELAY_BASE; port < RELAY_BASE + 3; port++)); do
		n=$(connections "$port")
		counts+="$port:$n "
	done
	kill "$p" 2>/dev/null || true
	wait "$p" || true
	echo "# sockets per relay: $counts" >&3
	# a third each on average; a loose bound: every relay holds some
	for n in $counts; do
		[ "${n#*:}" -ge 10 ]
	done
}

@test "two sockets of a session and the stream chat-fcgi hands to nginx meet on one relay" {
	local prompt s i n pids=()
	# 608 tokens at 20 ms (AI_MAX_TOKENS 2000): still streaming while we
	# look, even under ASan on a slow machine (6 s of 308 ended mid-look)
	prompt=$(words 300)
	for i in 1 2 3 4 5 6; do
		s=meet$i
		chat-cli --url "$API" --session "$s" --user meeter --watch --timeout 30 >/dev/null 2>&1 3>&- &
		pids+=($!)
		chat-cli --url "$API" --session "$s" --user meeter --watch --timeout 30 >/dev/null 2>&1 3>&- &
		pids+=($!)
	done
	local deadline=$((SECONDS + 15))
	while [ "$(all_connections)" -lt 12 ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
	for i in 1 2 3 4 5 6; do
		# the AI SDK's POST: chat-fcgi enqueues, X-Accel-Redirect hands the stream to a relay
		curl -s -N -m 30 -X POST "$API/api/ui/chat" -H 'Content-Type: application/json' \
			-d "{\"id\":\"meet$i\",\"user_id\":\"meeter\",\"messages\":[{\"id\":\"u$i\",\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"text\":\"$prompt\"}]}]}" \
			>"$BATS_TEST_TMPDIR/ui$i" 3>&- &
		pids+=($!)
	done
	wait_for 15 bash -c "grep -q '\"type\":\"text-delta\"' $BATS_TEST_TMPDIR/ui6"
	for i in 1 2 3 4 5 6; do
		n=$(relays_holding "meet$i")
		echo "# meet$i on $n relay(s)" >&3
		[ "$n" = 1 ]
	done
	for p in "${pids[@]}"; do wait "$p" || true; done
	grep -q '"type":"finish"' "$BATS_TEST_TMPDIR/ui1"
}

@test "kill -9 of a relay: its sessions reconnect through nginx to the others, every chunk exactly once" {
	local prompt i pids=() victim="" most=0 port n want
	prompt=$(words 250)   # 508 tokens, about 10 s at 20 ms
	for i in $(seq 1 24); do
		chat-cli --url "$API" --session "die$i" --user "dier$i" --stats "$prompt" --timeout 90 \
			>"$BATS_TEST_TMPDIR/die$i.out" 2>"$BATS_TEST_TMPDIR/die$i.err" 3>&- &
		pids+=($!)
	done
	wait_for 15 chunks_past die24 5
	for ((port = RELAY_BASE; port < RELAY_BASE + 3; port++)); do
		n=$(rcli hlen "sessions:node:{ws-$port}")
		if [ "$n" -gt "$most" ]; then most=$n victim=$port; fi
	done
	[ -n "$victim" ]
	local held
	held=$(rcli hkeys "sessions:node:{ws-$victim}" | grep '^die')
	echo "# killing ws-$victim, which holds $most of the 24 sessions" >&3
	kill -9 "$(sctl pid "ws-relay:ws-relay-$victim")"
	# keep it down (supervisord may have started it again already: then it drains)
	sctl stop "ws-relay:ws-relay-$victim" >/dev/null 2>&1 || true
	want=$(TOKEN_DELAY_MS=0 ai-streamer --once "$prompt")
	local failed=0 moved=0 s
	for i in $(seq 1 24); do
		wait "${pids[$((i - 1))]}" || { failed=$((failed + 1)); cat "$BATS_TEST_TMPDIR/die$i.err"; }
		[ "$(cat "$BATS_TEST_TMPDIR/die$i.out")" = "$want" ] || { failed=$((failed + 1)); echo "die$i: text differs"; }
		grep -q 'repeats=0 ' "$BATS_TEST_TMPDIR/die$i.err" || failed=$((failed + 1))
	done
	for s in $held; do
		i=${s#die}
		# it reconnected, and ended on a relay that is not the dead one
		grep -q 'reconnects=[1-9]' "$BATS_TEST_TMPDIR/die$i.err" || { failed=$((failed + 1)); echo "$s did not reconnect"; }
		sed -n 's/.*nodes=\([^ ]*\).*/\1/p' "$BATS_TEST_TMPDIR/die$i.err" | tr ',' '\n' | grep -v "^ws-$victim$" | grep -q . ||
			{ failed=$((failed + 1)); echo "$s stayed on ws-$victim"; }
		moved=$((moved + 1))
	done
	echo "# $moved sessions moved off ws-$victim, $failed failures" >&3
	[ "$failed" = 0 ]
	[ "$moved" -ge 1 ]
	sctl start "ws-relay:ws-relay-$victim" >/dev/null
	wait_for 10 curl -sf "http://127.0.0.1:$victim/health"
}

@test "nginx reaches the relays on their Unix sockets (UNIX_SOCKET); a path too long for one leaves the port" {
	local p
	[ "$(grep -c "server unix:$STACK_DIR/relays/[0-9]*\.sock" "$STACK_DIR/etc/nginx.conf")" = 3 ]
	for ((p = RELAY_BASE; p < RELAY_BASE + 3; p++)); do
		[ -S "$STACK_DIR/relays/$p.sock" ]
		run curl -sf --unix-socket "$STACK_DIR/relays/$p.sock" http://relay/health
		assert_success
		assert_output --partial "\"node\":\"ws-$p\""
	done
	# a socket's path holds at most 107 bytes: the relay warns and serves on its port
	local port long
	port=$(free_ports 1)
	long=$BATS_TEST_TMPDIR/$(printf 'x%.0s' $(seq 1 120)).sock
	REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0 UNIX_SOCKET=$long NODE_ID=ws-long \
		ws-relay --port "$port" >"$BATS_TEST_TMPDIR/long.log" 2>&1 3>&- &
	local pid=$!
	wait_for 10 curl -sf "http://127.0.0.1:$port/health"
	kill "$pid"
	wait "$pid" || true
	grep -q 'UNIX_SOCKET is too long' "$BATS_TEST_TMPDIR/long.log"
}
