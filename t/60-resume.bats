# Zero loss across reconnects, node switches and node death (doc/protocol.md,
# guarantees 2 and 3): clients resume through nginx on another relay, by the
# URL position or by the reconnect frame, and end with every chunk once.

load helpers/stack
load helpers/resume-clients

setup_file() { AI_MAX_TOKENS=2000 RELAY_DEAD_MS=3000 stack_up --relays 3; }
teardown_file() { stack_down; }

# The relay holding the most sockets (nginx spreads sessions over the three).
busiest_relay() {
	local p best=-1 port n
	for ((p = RELAY_BASE; p < RELAY_BASE + 3; p++)); do
		n=$(curl -s "http://127.0.0.1:$p/health" | jq -r '.connections // 0')
		[ "$n" -gt "$best" ] && { best=$n; port=$p; }
	done
	echo "$port"
}

relay_conns() { curl -s "http://127.0.0.1:$1/health" | jq -r '.connections // 0'; }

# The relay that holds session S.
relay_of() {
	local p
	for ((p = RELAY_BASE; p < RELAY_BASE + 3; p++)); do
		[ "$(rcli hexists "sessions:node:{ws-$p}" "$1")" = 1 ] && { echo "$p"; return; }
	done
}

# Waits until the clients are connected and the replies are under way.
wait_streaming() {
	wait_for 20 bash -c "[ \$(rkeys 'sessions:relays:*' | wc -l) -ge $1 ]"
	wait_for 20 chunks_past "$2$1" 20
}

reconnected() { grep -l 'reconnects=[1-9]' "$BATS_TEST_TMPDIR"/$1*.err | wc -l; }

@test "kill -9 of the relay serving 50 streams: every client resumes on another relay, whole and once" {
	# 1,208 tokens, 24 s: on a slow machine the 50 posts spread over
	# seconds, and with 12 s replies the first ended by the kill (on a
	# cluster: 21 held, 19 reconnected)
	start_clients 50 k 600 90
	wait_streaming 50 k
	victim=$(busiest_relay)
	# the pid first: supervisorctl takes a second or more on a loaded machine
	vpid=$(sctl pid "ws-relay:ws-relay-$victim")
	held=$(relay_conns "$victim")
	kill -9 "$vpid"
	check_clients 50 k
	echo "$held clients were on ws-$victim; $(reconnected k) reconnected" >&3
	# the busiest of three holds at least a third of the 50
	[ "$held" -ge 17 ]
	[ "$(reconnected k)" -ge "$held" ]
	# both ways of resuming were used (odd clients one, even the other;
	# nginx spreads sessions by id, so look at all of them)
	local odd=() even=() i
	for ((i = 1; i <= 50; i += 2)); do
		odd+=("$BATS_TEST_TMPDIR/k$i.err")
		even+=("$BATS_TEST_TMPDIR/k$((i + 1)).err")
	done
	grep -l 'reconnects=[1-9]' "${odd[@]}" >/dev/null
	grep -l 'reconnects=[1-9]' "${even[@]}" >/dev/null
	# the URL way delivers in index order: chat-cli would have exited 3
	! grep -q 'out_of_order=[1-9]' "${odd[@]}" || false
	# supervisord brings the relay back, and the registry forgets its dead sockets
	wait_for 15 bash -c "curl -sf http://127.0.0.1:$victim/health >/dev/null"
	wait_for 5 bash -c "[ \$(rcli hlen 'sessions:node:{ws-$victim}') = 0 ]"
}

@test "SIGTERM drains a relay: its 50 clients get 1001 and resume elsewhere, whole and once" {
	start_clients 50 d 600 90   # 24 s replies, as above
	wait_streaming 50 d
	victim=$(busiest_relay)
	held=$(relay_conns "$victim")
	start=$(date +%s)
	sctl stop "ws-relay:ws-relay-$victim"
	stopped_in=$(($(date +%s) - start))
	check_clients 50 d
	echo "$held clients were on ws-$victim, which stopped in ${stopped_in}s" >&3
	[ "$held" -ge 17 ]
	[ "$stopped_in" -le 5 ]
	got=$(grep -l 'connection closed (1001' "$BATS_TEST_TMPDIR"/d*.err | wc -l)
	if [ "$got" -lt "$held" ]; then
		echo "only $got clients got 1001 of $held; the others' closings:" >&2
		for f in $(grep -L 'connection closed (1001' "$BATS_TEST_TMPDIR"/d*.err); do
			echo "$f: $(grep -i 'closed\|reconnect\|error' "$f" | head -3 | paste -sd '|')" >&2
		done
		false
	fi
	# it left the registries as it went
	[ "$(rcli hlen "sessions:node:{ws-$victim}")" = 0 ]
	[ "$(rcli exists "node:ws:{ws-$victim}")" = 0 ]
	sctl start "ws-relay:ws-relay-$victim"
}

@test "a client that drops its connection three times in one stream gets it whole, either way" {
	for mode in url frame; do
		# 8 + 2*60 = 128 chunks: drops after 40, 80 and 120
		chat-cli --url "$API" --session "r3$mode" --resume $mode --drop-every 40 --stats "$(words 60)" \
			>"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err"
		grep -q "reconnects=3 " "$BATS_TEST_TMPDIR/err"
		[ "$(cat "$BATS_TEST_TMPDIR/out")" = "$(curl -sf "$API/api/history/r3$mode?user_id=tester" | jq -j '.messages[-1].content')" ]
	done
}

@test "resuming a message whose chunks expired says not_found and the history has its text" {
	run chat-cli --url "$API" --session ex1 "$(words 10)"
	assert_success
	mid=$(curl -sf "$API/api/history/ex1?user_id=tester" | jq -r '.messages[-1].message_id')
	# let the chunk cache expire now rather than after CHUNK_TTL_S
	rcli pexpire "$(key stream:chunks: "$mid")" 1 >/dev/null
	rcli pexpire "$(key stream:meta: "$mid")" 1 >/dev/null
	sleep 0.1
	for mode in url frame; do
		run chat-cli --url "$API" --session ex1 --watch --message "$mid" --after 3 --resume $mode --raw
		assert_success
		assert_output --partial '{"type":"recovery_status","messageId":"'"$mid"'","status":"not_found"'
		refute_output --partial '"type":"chunk"'
	done
	# unknown, and another session's message: not_found as well, and nothing of it is sent
	other=$(post_chat ex2 "secret words")
	chat-cli --url "$API" --session ex2 --watch --message "$other" >/dev/null
	for m in 0123456789abcdef0123456789abcdef "$other"; do
		run chat-cli --url "$API" --session ex1 --watch --message "$m" --after -1 --raw --timeout 5
		assert_output --partial '"status":"not_found"'
		refute_output --partial '"type":"chunk"'
	done
}

@test "the registry lists connected sessions by relay (with their users), and forgets them when they leave" {
	chat-cli --url "$API" --session reg1 --user ann --watch --timeout 30 >/dev/null 2>&1 &
	w1=$!
	chat-cli --url "$API" --session reg2 --user ann --watch --timeout 30 >/dev/null 2>&1 &
	w2=$!
	# one EXISTS a key: two sessions' keys are of two slots
	wait_for 10 bash -c "[ \$(rcli exists '$(key sessions:relays: reg1)') = 1 ] && [ \$(rcli exists '$(key sessions:relays: reg2)') = 1 ]"
	node=$(relay_of reg2)
	[ -n "$node" ]
	[ "$(rcli smembers "$(key sessions:relays: reg2)")" = "ws-$node" ]
	[ "$(rcli hget "sessions:node:{ws-$node}" reg2)" = ann ]
	n1=$(relay_of reg1)
	[ "$(rcli hget "sessions:node:{ws-$n1}" reg1)" = ann ]
	# the heartbeat carries the relay's counters
	for f in connections frames_sent recoveries slow_closes; do
		[ -n "$(rcli hget "node:ws:{ws-$node}" $f)" ]
	done
	kill "$w1"
	wait_for 10 bash -c "[ \$(rcli exists '$(key sessions:relays: reg1)') = 0 ]"
	[ -z "$(rcli hget "sessions:node:{ws-$n1}" reg1)" ]
	# the last socket took the unused claim with it
	[ "$(rcli exists "$(key stream:session: reg1)")" = 0 ]
	kill "$w2"
	wait_for 10 bash -c "[ \$(rcli exists '$(key sessions:relays: reg2)') = 0 ]"
	[ "$(rcli hexists "sessions:node:{ws-$node}" reg2)" = 0 ]
}

@test "recoverd drops the sessions of a relay that stopped heartbeating; awake, it registers them again" {
	chat-cli --url "$API" --session fz1 --user fay --watch --timeout 60 >/dev/null 2>&1 &
	w=$!
	wait_for 10 bash -c "[ \$(rcli exists '$(key sessions:relays: fz1)') = 1 ]"
	node=$(relay_of fz1)
	[ "$(rcli hget "sessions:node:{ws-$node}" fz1)" = fay ]
	pid=$(sctl pid "ws-relay:ws-relay-$node")
	kill -STOP "$pid"
	wait_for 15 bash -c "[ \$(rcli exists 'sessions:node:{ws-$node}') = 0 ]"
	[ "$(rcli exists "$(key sessions:relays: fz1)")" = 0 ]
	[ "$(rcli exists "$(key stream:session: fz1)")" = 0 ]
	kill -CONT "$pid"
	wait_for 10 bash -c "[ \"\$(rcli hget 'sessions:node:{ws-$node}' fz1)\" = fay ]"
	wait_for 5 bash -c "[ \"\$(rcli smembers '$(key sessions:relays: fz1)')\" = ws-$node ]"
	# joining again claims the session again for its listener
	[ "$(rcli hget "$(key stream:session: fz1)" userId)" = fay ]
	kill "$w"
}

@test "Redis restarted mid-stream: no process exits, the streams end whole, history and new chats work" {
	pids=$(sctl status | awk '/RUNNING/ && !/redis/ {print $4}' | tr -d , | sort)
	start_clients 10 rr 300 90
	wait_streaming 10 rr
	sctl restart redis
	# Redis answers LOADING while it reads the AOF back: 503 with Retry-After
	wait_for 15 bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' $API/api/health) = 200 ]"
	check_clients 10 rr
	[ "$(sctl status | awk '/RUNNING/ && !/redis/ {print $4}' | tr -d , | sort)" = "$pids" ]
	[ "$(curl -sf "$API/api/history/k1?user_id=tester" | jq '.messages | length')" = 2 ]
	run chat-cli --url "$API" --session rr-after "after the restart"
	assert_success
}
