# REDIS_WAIT_REPLICAS (doc/redis.md, "Redis Sentinel, and durability across
# a failover"): a worker publishes a chunk only once a replica has it, so a
# primary that dies cannot take back a chunk a client saw. Under Sentinel,
# with the replica stopped while a reply streams (its data stuck behind a
# filler too big for the socket buffers), then the primary killed and the
# replica promoted: fenced, every chunk the client saw is on the promoted
# replica and the reply ends whole and once; unfenced, the client saw
# chunks the new primary lacks.

load helpers/stack

setup() { export STACK_REDIS=sentinel; }
teardown() {
	[ -z "${client:-}" ] || kill "$client" 2>/dev/null || true
	stack_down
}

sentinel_port() { echo $((REDIS_PORT + 2 + $1)); }
named_primary() { redis-cli -p "$(sentinel_port 0)" --raw sentinel get-master-addr-by-name streamchat | sed -n 2p; }

# The reply's chunks on the primary now, joined.
chunks_joined() {
	local mid
	mid=$(rcli hget "$(key stream:session: "$1")" messageId)
	rcli --raw lrange "$(key stream:chunks: "$mid")" 0 -1 | tr -d '\n'
}
# The reply's text as the client printed it (chunk contents hold no newline).
client_text() { tr -d '\n' <"$BATS_TEST_TMPDIR/$1.out"; }

# fail_over SESSION: a reply streams to a client; the replica is stopped,
# the primary gets a write too big to sit in a socket buffer (the worker
# paused meanwhile), the stream goes on (or is held) for a while; the primary is killed, the replica let go and
# promoted. Leaves $client (chat-cli's pid), $seen (what it had printed
# when the primary died) and $promoted (the promoted replica's chunks, read
# before anything else could write them).
fail_over() {
	local s=$1 old
	chat-cli --url "$API" --session "$s" --stats --timeout 300 "$(words 300)" \
		>"$BATS_TEST_TMPDIR/$s.out" 2>"$BATS_TEST_TMPDIR/$s.err" &
	client=$!
	wait_for 60 chunks_past "$s" 10
	old=$(redis_primary_port)
	[ "$old" = "$REDIS_PORT" ]
	# the worker paused first, so that its next chunk is written after the
	# filler; what it sent before has been answered meanwhile
	worker=$(sctl pid ai-streamer:ai-streamer-0)
	kill -STOP "$worker"
	sleep 1
	kill -STOP "$(sctl pid redis-2)"
	# 40 MB: more than the loopback socket buffers hold, so that what the
	# primary writes after it stays in the primary's memory, and dies with it
	head -c 40000000 /dev/zero | tr '\0' x | redis-cli -p "$old" -x set wait16:filler >/dev/null
	kill -CONT "$worker"
	sleep 3
	seen=$(client_text "$s")
	kill -9 "$(sctl pid redis)"
	kill -CONT "$(sctl pid redis-2)"
	wait_for 90 bash -c "[ \"\$(redis-cli -p $(sentinel_port 0) --raw sentinel get-master-addr-by-name streamchat | sed -n 2p)\" = $((REDIS_PORT + 1)) ]"
	promoted=$(chunks_joined "$s")
	echo "client had ${#seen} bytes when the primary died; the promoted replica ${#promoted}" >&3
}

@test "fenced (chatctl's REDIS_WAIT_REPLICAS=1): no chunk a client saw is lost in a failover; the reply ends whole and once" {
	LEASE_MS=30000 stack_up --relays 1 --streamers 1 --token-delay-ms 50
	pid=$(sctl pid ai-streamer:ai-streamer-0)
	tr '\0' '\n' <"/proc/$pid/environ" | grep -qx REDIS_WAIT_REPLICAS=1
	fail_over f1
	# the client saw nothing the promoted replica lacks
	[ -n "$seen" ]
	[ "${promoted:0:${#seen}}" = "$seen" ]
	grep -q 'frames held: too few replicas have them' "$STACK_DIR"/log/ai-streamer*.log
	# the chunk held when the primary died was not on the replica: the
	# worker wrote it again, at the same index, from the token it kept
	wait_for 60 grep -q 'held chunk appended again.*outcome=written' "$STACK_DIR"/log/ai-streamer*.log
	# the new primary has no replica until the old one comes back as one (or
	# the sentinels pick the old one back, and the other becomes its replica);
	# then the held chunks go out and the reply ends
	sctl start redis
	replica_back
	wait "$client"
	client=
	hist=$(curl -sf "$API/api/history/f1?user_id=tester")
	[ "$(echo "$hist" | jq -r '.messages[-1].status')" = complete ]
	[ "$(client_text f1)" = "$(echo "$hist" | jq -j '.messages[-1].content' | tr -d '\n')" ]
	grep -q 'stats .* chunks=[1-9][0-9]* .*out_of_order=0 repeats=0 .*exit=0' "$BATS_TEST_TMPDIR/f1.err" ||
		{ cat "$BATS_TEST_TMPDIR/f1.err" >&3; false; }
}

@test "unfenced (REDIS_WAIT_REPLICAS=0): the client saw chunks that the promoted replica lacks" {
	REDIS_WAIT_REPLICAS=0 LEASE_MS=30000 stack_up --relays 1 --streamers 1 --token-delay-ms 50
	fail_over u1
	[ -n "$seen" ]
	[ "${#promoted}" -lt "${#seen}" ]
	[ "${promoted}" = "${seen:0:${#promoted}}" ]
}
