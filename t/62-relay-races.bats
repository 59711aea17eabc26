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
total_of() { rcli hget "$(key stream:meta: "$1")" total_chunks; }
line_of() { grep -n -m1 -- "$2" "$1" | cut -d: -f1; }
ended() { [ "$(rcli hget "$(key stream:session: "$1")" status)" = complete ]; }

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

@test "a reconnect frame naming an older reply while a newer one streams: no chunk frame twice" {
	older_and_newer old1
	rec r "$RELAY_BASE" "session_id=old1&user_id=tester" "\"messageId\":\"$B\",\"totalChunks\""
	wait_for 20 bash -c "[ \$(grep -c '\"messageId\":\"$B\",\"index\"' $(out r)) -ge 3 ]"
	say r '{"type":"reconnect","messageId":"'"$A"'","lastChunkIndex":2}'
	wait_for 20 grep -q '"type":"recovery_status"' "$(out r)"
	# once more: this socket has sent all of A above 2 by now
	say r '{"type":"reconnect","messageId":"'"$A"'","lastChunkIndex":2}'
	rec_wait r
	[ -z "$(repeats "$(out r)")" ] || { repeats "$(out r)" | head >&3; false; }
	# A: chunks 3.. once, its end frame, and two recovery_status frames
	[ "$(chunk_indexes "$(out r)" "$A")" = "$(range 3 $(($(total_of "$A") - 1)))" ]
	[ "$(grep -c '"recovery_status","messageId":"'"$A"'","status":"recovered"' "$(out r)")" = 2 ]
	grep -q '"chunksRecovered":0' "$(out r)"
	[ "$(grep -c '"type":"complete","sessionId":"old1","messageId":"'"$A"'"' "$(out r)")" = 1 ]
	# B: what the history did not carry, once each, and its end
	h=$(hist_last "$(out r)" "$B")
	[ "$(chunk_indexes "$(out r)" "$B")" = "$(range $((h + 1)) $(($(total_of "$B") - 1)))" ]
}

@test "the URL form naming an older reply while a newer one streams: no chunk the history carried" {
	older_and_newer old2
	rec u "$RELAY_BASE" "session_id=old2&user_id=tester&messageId=$A&lastChunkIndex=1" \
		"\"messageId\":\"$B\",\"totalChunks\""
	rec_wait u
	[ -z "$(repeats "$(out u)")" ]
	[ "$(chunk_indexes "$(out u)" "$A")" = "$(range 2 $(($(total_of "$A") - 1)))" ]
	[ "$(grep -c '"type":"complete","sessionId":"old2","messageId":"'"$A"'"' "$(out u)")" = 1 ]
	h=$(hist_last "$(out u)" "$B")
	[ "$h" -ge 10 ]
	[ "$(chunk_indexes "$(out u)" "$B")" = "$(range $((h + 1)) $(($(total_of "$B") - 1)))" ]
	# A's replay, its end and recovery_status come before any live frame of B
	status=$(line_of "$(out u)" '"type":"recovery_status"')
	first_b=$(line_of "$(out u)" "\"messageId\":\"$B\",\"index\"")
	[ "$status" -lt "$first_b" ]
}

@test "a reconnect frame sent as the socket opens is acted on once the socket is in sync" {
	race_relay_up
	post_chat early1 "$(words 100)" >/dev/null
	wait_for 20 chunks_past early1 20
	B=$(rcli hget "$(key stream:session: "early1")" messageId)
	# Redis answers nothing to the relay until the frame is in: the socket
	# is still waiting for its subscription when the frame arrives
	hold_signal USR1 hold
	# before the welcome, as a browser's onopen does
	rec e "$RACE_RELAY" "session_id=early1&user_id=tester" "\"messageId\":\"$B\",\"totalChunks\"" \
		'{"type":"reconnect","messageId":"'"$B"'","lastChunkIndex":4}'
	wait_for 10 grep -q '^held SUBSCRIBE' "$STACK_DIR/log/redis-hold.log"
	sleep 0.5
	hold_signal USR2 'released subscribe'
	rec_wait e
	[ -z "$(grep '"type":"error"' "$(out e)")" ]
	grep -q '"type":"recovery_status","messageId":"'"$B"'","status":"recovered"' "$(out e)"
	[ -z "$(repeats "$(out e)")" ]
	# chunks 5.. once each: the replay of what the history carried, then live
	[ "$(chunk_indexes "$(out e)" "$B" | sort -n)" = "$(range 5 $(($(total_of "$B") - 1)))" ]
	# the welcome and history come first
	[ "$(line_of "$(out e)" '"type":"history"')" = 2 ]
}

@test "a reconnect frame read after the reply's end frame went out: the replay follows the end, whole by recovery_status" {
	B=$(post_chat late1 "$(words 200)")
	wait_for 20 chunks_past late1 10
	rec l "$RELAY_BASE" "session_id=late1&user_id=tester" '"type":"recovery_status"'
	wait_for 20 grep -q '^{"type":"history"' "$(out l)"
	# the history carried the reply in progress as text, through h
	h=$(hist_last "$(out l)" "$B")
	[ "$h" -ge 10 ] && [ "$h" -lt 1000 ]
	end='"type":"complete","sessionId":"late1","messageId":"'"$B"'"'
	wait_for 30 grep -q "$end" "$(out l)"
	# then the client says it holds only 0..5 (chat-cli resuming by frame
	# after its own drop does not count the history text)
	say l '{"type":"reconnect","messageId":"'"$B"'","lastChunkIndex":5}'
	rec_wait l
	grep -q '"type":"recovery_status","messageId":"'"$B"'","status":"recovered"' "$(out l)"
	[ -z "$(repeats "$(out l)")" ]
	# every chunk above 5 once: live ones above h, then the replay of 6..h
	[ "$(chunk_indexes "$(out l)" "$B" | sort -n)" = "$(range 6 $(($(total_of "$B") - 1)))" ]
	# the end frame is not sent again: it came before the replay, which a
	# client places by index, and the reply is whole by recovery_status
	[ "$(grep -c "$end" "$(out l)")" = 1 ]
	[ "$(line_of "$(out l)" "$end")" -lt "$(line_of "$(out l)" "\"messageId\":\"$B\",\"index\":6,")" ]
	[ "$(line_of "$(out l)" "\"messageId\":\"$B\",\"index\":$h,")" -lt "$(line_of "$(out l)" '"type":"recovery_status"')" ]
}

@test "sockets that upgrade and close in one write leave no session, subscription or registry entry" {
	run python3 "$ROOT/t/helpers/cut-conn.py" 127.0.0.1 "$RELAY_BASE" upgrade-closeframe 300
	assert_success
	# and with resumes waiting, by the URL and by a frame, when they close
	run python3 "$ROOT/t/helpers/cut-conn.py" 127.0.0.1 "$RELAY_BASE" upgrade-resume-closeframe 100
	assert_success
	health() { curl -s "http://127.0.0.1:$RELAY_BASE/health"; }
	wait_for 10 bash -c "[ \"\$(curl -s http://127.0.0.1:$RELAY_BASE/health | jq -c '[.connections, .sessions]')\" = '[0,0]' ]" ||
		{ health >&3; false; }
	wait_for 10 bash -c "[ -z \"\$(redis-cli -p $REDIS_PORT pubsub channels '*cutf*')\" ]"
	[ -z "$(rcli --scan --pattern 'sessions:relays:*cutf*')" ]
	[ -z "$(rcli hkeys "sessions:node:{ws-$RELAY_BASE}" | grep cutf)" ]
}

@test "a listener refused 4403 writes nothing into the session registry" {
	rec own "$RELAY_BASE" "session_id=own1&user_id=alice" never-comes
	wait_for 10 bash -c "[ \"\$(redis-cli -p $REDIS_PORT hget 'sessions:node:{ws-$RELAY_BASE}' own1)\" = alice ]"
	run "$ROOT/build/ws-poke" 127.0.0.1 "$((RELAY_BASE + 1))" "/ws/chat?session_id=own1&user_id=mallory" \
		text '{"type":"ping"}'
	[[ $output == "close 4403"* ]]
	sleep 0.5
	[ "$(rcli hget "sessions:node:{ws-$RELAY_BASE}" own1)" = alice ]
	[ "$(rcli smembers "$(key sessions:relays: own1)")" = "ws-$RELAY_BASE" ]
	[ "$(rcli hexists "sessions:node:{ws-$((RELAY_BASE + 1))}" own1)" = 0 ]
}

@test "the subscriber reconnects while reads are in flight: every socket syncs again, a resume keeps its order" {
	race_relay_up
	# rr1: a long reply streaming, which socket a follows from its middle
	post_chat rr1 "$(words 200)" >/dev/null
	wait_for 20 chunks_past rr1 30
	M=$(rcli hget "$(key stream:session: "rr1")" messageId)
	rec a "$RACE_RELAY" "session_id=rr1&user_id=tester" "\"messageId\":\"$M\",\"totalChunks\""
	# nn1: nothing streaming yet; socket b0 listens
	rec b0 "$RACE_RELAY" "session_id=nn1&user_id=tester" '"totalChunks"'
	wait_for 10 grep -q '"type":"history"' "$(out a)"
	wait_for 10 grep -q '"type":"history"' "$(out b0)"
	h=$(hist_last "$(out a)" "$M")
	[ "$h" -ge 20 ]
	# Redis answers nothing to the relay now; in flight: b's snapshot, and
	# a's resume of chunks the history carried as text
	hold_signal USR1 hold
	n=$(lranges)
	rec b "$RACE_RELAY" "session_id=nn1&user_id=tester" '"type":"history"'
	say a '{"type":"reconnect","messageId":"'"$M"'","lastChunkIndex":2}'
	wait_for 10 bash -c "[ \$(redis-cli -p $REDIS_PORT info commandstats | awk -F'[=,:]' '/^cmdstat_lrange:/ {print \$3}') -ge $((n + 2)) ]"
	# the subscriber connection drops and comes back; its SUBSCRIBE is held
	rcli client kill type pubsub >/dev/null
	wait_for 10 grep -q '^held SUBSCRIBE' "$STACK_DIR/log/redis-hold.log"
	# a reply on nn1 starts and ends while the relay is not subscribed
	N=$(post_chat nn1 "hi")
	wait_for 20 ended nn1
	# the replies come first, the subscription after them
	hold_signal USR2 'released subscribe'
	rec_wait a
	rec_wait b0
	rec_wait b
	for r in a b0 b; do
		[ -z "$(repeats "$(out $r)")" ] || { echo "$r repeats a chunk" >&3; false; }
	done
	# a: every chunk above 2 once, the replay of 3..h before its recovery_status
	[ "$(chunk_indexes "$(out a)" "$M" | sort -n)" = "$(range 3 $(($(total_of "$M") - 1)))" ]
	[ "$(line_of "$(out a)" '"type":"recovery_status"')" -gt "$(line_of "$(out a)" "\"messageId\":\"$M\",\"index\":$h,")" ]
	grep -q "\"type\":\"complete\",\"sessionId\":\"rr1\",\"messageId\":\"$M\"" "$(out a)"
	# b0 and b: nn1's reply, which went out while the relay was not subscribed
	[ "$(chunk_indexes "$(out b0)" "$N")" = "$(range 0 $(($(total_of "$N") - 1)))" ]
	has_reply "$(out b0)" "$N"
	has_reply "$(out b)" "$N" || { cat "$(out b)" >&3; false; }
}

@test "replies stream and resume while Redis drops the relays' subscriber connections: every chunk once" {
	local clients=() i mode p fails=0
	for i in $(seq 1 12); do
		mode=url; ((i % 2)) || mode=frame
		chat-cli --url "$API" --session "kp$i" --resume $mode --drop-every 40 --stats --timeout 60 \
			"$(words 150)" >"$BATS_TEST_TMPDIR/kp$i.out" 2>"$BATS_TEST_TMPDIR/kp$i.err" 3>&- &
		clients+=($!)
	done
	wait_for 20 chunks_past kp12 10
	for i in 1 2 3 4 5 6; do
		rcli client kill type pubsub >/dev/null
		sleep 0.7
	done
	for p in "${clients[@]}"; do wait "$p" || fails=$((fails + 1)); done
	[ "$fails" -eq 0 ] || { tail -qn 2 "$BATS_TEST_TMPDIR"/kp*.err >&3; false; }
	for i in $(seq 1 12); do
		[ "$(cat "$BATS_TEST_TMPDIR/kp$i.out")" = "$(curl -sf "$API/api/history/kp$i?user_id=tester" | jq -j '.messages[-1].content')" ]
	done
}
