# A relay's races: reconnect frames early or naming an older reply, sockets
# that close before their session's subscription is confirmed, a listener
# refused 4403, and Redis reads in flight while the subscriber connection
# comes back. Every socket gets every chunk frame at most once, and a
# session leaves nothing behind in the relay or in Redis.

load helpers/stack

setup_file() {
	stack_up --relays 2
	# the third relay talks to Redis through redis-hold.py (see its test)
	export RACE_RELAY=$((RELAY_BASE + 2)) HOLD_PORT=$((RELAY_BASE + 3))
}
teardown_file() {
	[ -z "${STACK_DIR:-}" ] || for f in "$STACK_DIR"/race-*.pid; do
		[ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	stack_down
}

# recorders a failed test left running
teardown() {
	local f
	for f in "$BATS_TEST_TMPDIR"/*.pid; do
		[ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	return 0
}

# rec NAME PORT QUERY UNTIL [TEXT...]: records every frame of one socket
# (ws-poke record) into $BATS_TEST_TMPDIR/NAME.out; `say NAME LINE` sends
# LINE on it, `rec_wait NAME` waits for it to end.
rec() {
	local name=$1 port=$2 q=$3 until=$4 fd
	shift 4
	mkfifo "$BATS_TEST_TMPDIR/$name.in"
	"$ROOT/build/ws-poke" 127.0.0.1 "$port" "/ws/chat?$q" record "$until" "$@" \
		<"$BATS_TEST_TMPDIR/$name.in" >"$BATS_TEST_TMPDIR/$name.out" 2>&1 3>&- &
	echo $! >"$BATS_TEST_TMPDIR/$name.pid"
	exec {fd}>"$BATS_TEST_TMPDIR/$name.in"
	echo "$fd" >"$BATS_TEST_TMPDIR/$name.fd"
}
say() { echo "$2" >&"$(cat "$BATS_TEST_TMPDIR/$1.fd")"; }
rec_wait() {
	local fd
	fd=$(cat "$BATS_TEST_TMPDIR/$1.fd")
	exec {fd}>&-
	wait "$(cat "$BATS_TEST_TMPDIR/$1.pid")"
}
out() { echo "$BATS_TEST_TMPDIR/$1.out"; }

# Chunk frames of message $2 in recording $1: one index a line, in order.
chunk_indexes() { grep '^{"type":"chunk"' "$1" | jq -r --arg m "$2" 'select(.messageId == $m) | .index'; }
# Chunk frames that went out twice on the socket of recording $1.
repeats() { grep '^{"type":"chunk"' "$1" | jq -r '"\(.messageId) \(.index)"' | sort | uniq -d; }
# How far the history frame of recording $1 carried message $2 as text.
hist_last() {
	grep -m1 '^{"type":"history"' "$1" |
		jq -r --arg m "$2" '[.messages[] | select(.message_id == $m)][0] | if . == null then -2
			elif .status == "streaming" then .lastChunkIndex else 1e9 end'
}
# seq A B, as the lines that chunk_indexes prints for a whole range
range() { [ "$2" -ge "$1" ] && seq "$1" "$2" || true; }
total_of() { rcli hget "stream:meta:{$1}" total_chunks; }
line_of() { grep -n -m1 -- "$2" "$1" | cut -d: -f1; }
ended() { [ "$(rcli hget "stream:session:{$1}" status)" = complete ]; }

# The third relay, which reaches Redis through redis-hold.py.
race_relay_up() {
	[ -e "$STACK_DIR/race-hold.pid" ] && return 0
	python3 "$ROOT/t/helpers/redis-hold.py" "$HOLD_PORT" "$REDIS_PORT" \
		>"$STACK_DIR/log/redis-hold.log" 2>&1 3>&- &
	echo $! >"$STACK_DIR/race-hold.pid"
	wait_for 5 grep -q listening "$STACK_DIR/log/redis-hold.log"
	NODE_ID=ws-race PORT=$RACE_RELAY REDIS_URL=redis://127.0.0.1:$HOLD_PORT/0 LISTEN_IFACE=lo \
		SHARE_DIR=$ROOT/share "$ROOT/bin/ws-relay" >"$STACK_DIR/log/ws-relay-race.log" 2>&1 3>&- &
	echo $! >"$STACK_DIR/race-relay.pid"
	wait_for 10 curl -sf "http://127.0.0.1:$RACE_RELAY/health" >/dev/null
}
hold_events() { grep -c "^$1" "$STACK_DIR/log/redis-hold.log" || true; }
# hold_signal SIGNAL EVENT: signals the proxy and waits for its next EVENT line
hold_signal() {
	local n
	n=$(hold_events "$2")
	kill "-$1" "$(cat "$STACK_DIR/race-hold.pid")"
	wait_for 10 bash -c "[ \$(grep -c '^$2' $STACK_DIR/log/redis-hold.log) -gt $n ]"
}
lranges() { rcli info commandstats | awk -F'[=,:]' '/^cmdstat_lrange:/ {print $3}'; }
# Whether recording $1 has reply $2 whole: as an ended item of the history
# frame, or as its end frame.
has_reply() {
	grep -q "\"type\":\"complete\",\"sessionId\":\"[^\"]*\",\"messageId\":\"$2\"" "$1" ||
		grep -m1 '^{"type":"history"' "$1" |
		jq -e --arg m "$2" 'any(.messages[]; .message_id == $m and .status == "complete")' >/dev/null
}

# A session with a short reply A that has ended and a long reply B that is
# streaming (its chunk 10 written): sets A and B.
older_and_newer() {
	A=$(post_chat "$1" "$(words 5)")
	wait_for 20 ended "$1"
	B=$(post_chat "$1" "$(words 200)")
	wait_for 20 chunks_past "$1" 10
}

@test "sockets that upgrade and close in one write leave no session, subscription or registry entry" {
	run python3 "$ROOT/t/helpers/cut-conn.py" 127.0.0.1 "$RELAY_BASE" upgrade-closeframe 300
	assert_success
	health() { curl -s "http://127.0.0.1:$RELAY_BASE/health"; }
	wait_for 10 bash -c "[ \"\$(curl -s http://127.0.0.1:$RELAY_BASE/health | jq -c '[.connections, .sessions]')\" = '[0,0]' ]" ||
		{ health >&3; false; }
	wait_for 10 bash -c "[ -z \"\$(redis-cli -p $REDIS_PORT pubsub channels '*cutf*')\" ]"
	[ -z "$(rcli hkeys sessions:active | grep cutf)" ]
	[ -z "$(rcli smembers "sessions:node:{ws-$RELAY_BASE}" | grep cutf)" ]
	[ -z "$(rcli keys 'sessions:user:{cut}')" ]
}

@test "a listener refused 4403 writes nothing into the session registry" {
	rec own "$RELAY_BASE" "session_id=own1&user_id=alice" never-comes
	wait_for 10 bash -c "[ \"\$(redis-cli -p $REDIS_PORT hget sessions:active own1)\" = alice ]"
	run "$ROOT/build/ws-poke" 127.0.0.1 "$((RELAY_BASE + 1))" "/ws/chat?session_id=own1&user_id=mallory" \
		text '{"type":"ping"}'
	[[ $output == "close 4403"* ]]
	sleep 0.5
	[ "$(rcli hget sessions:active own1)" = alice ]
	[ "$(rcli exists 'sessions:user:{mallory}')" = 0 ]
	[ "$(rcli sismember "sessions:node:{ws-$((RELAY_BASE + 1))}" own1)" = 0 ]
}
