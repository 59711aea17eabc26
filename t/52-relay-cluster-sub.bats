# The relay's subscriber (src/ws-relay/subscriber.c) on sharded pub/sub:
# build/relay-sub subscribes one session's channel through it, as ws-relay
# does, and appends a chunk every 100 ms with append.lua loaded as the
# programs load it for the URL's topology. On a Redis Cluster the script
# SPUBLISHes and the subscriber SSUBSCRIBEs on the primary of the session's
# slot; when that slot moves or that primary dies the channel is reported
# lost, subscribed again, and the frames after the new subscription arrive,
# while the chunk list holds every chunk (what the relay fills a socket's
# gap from). On one Redis the script PUBLISHes and the subscriber
# SUBSCRIBEs, as before.

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'
load helpers/redis-cluster

ROOT=$(cd "$(dirname "${BATS_TEST_FILENAME}")/.." && pwd)
PW=relaypw
SID=sess52

setup() {
	[[ "$BATS_TEST_DESCRIPTION" == cluster:* ]] || return 0
	local dir
	dir=$(mktemp -d "${STREAMCHAT_TEST_ROOT:-/tmp}/cluster.XXXXXX")
	cluster_up "$dir" "$PW" || { cluster_down; rm -rf "$dir"; return 1; }
	URL="redis+cluster://:$PW@$CLUSTER_SEEDS"
}
teardown() {
	[ -z "${SUB_PID:-}" ] || kill "$SUB_PID" 2>/dev/null || true
	[ -z "${SOLO_DIR:-}" ] || { kill -9 "$(cat "$SOLO_DIR/redis.pid")" 2>/dev/null || true; rm -rf "$SOLO_DIR"; }
	[ -z "${CLUSTER_DIR:-}" ] || { cluster_down; rm -rf "$CLUSTER_DIR"; }
}

count() { sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" <<<"$2" | tail -n 1; }

start_sub() {  # start_sub URL
	rm -f "$BATS_TEST_TMPDIR/stop"
	timeout 150 "$ROOT/build/relay-sub" "$1" "$SID" "$BATS_TEST_TMPDIR/stop" \
		>"$BATS_TEST_TMPDIR/sub" 2>&1 3>&- &
	SUB_PID=$!
	cluster_wait 30 grep -qx ready "$BATS_TEST_TMPDIR/sub"
	SLOT=$(sed -n 's/^slot=//p' "$BATS_TEST_TMPDIR/sub")
	[ -n "$SLOT" ]
}

# stop_sub: frames after the last subscription, the chunk list checked;
# the counts in $output
stop_sub() {
	touch "$BATS_TEST_TMPDIR/stop"
	local rc=0
	wait "$SUB_PID" || rc=$?
	SUB_PID=
	run cat "$BATS_TEST_TMPDIR/sub"
	echo "# ${output//$'\n'/ | }" >&3
	assert_equal "$rc" 0
	assert_equal "$(count list_ok "$output")" 1
	[ "$(count since_sub "$output")" -ge 5 ]
}

# frames arriving: at least N appended chunks, judged from the list's length
chunks_at_least() {  # chunks_at_least PORT N
	local key
	key=$(ccli "$1" CLUSTER GETKEYSINSLOT "$SLOT" 10 | grep '^stream:chunks:' | head -n 1)
	[ -n "$key" ] && [ "$(ccli "$1" LLEN "$key")" -ge "$2" ]
}

# moves SLOT from the primary on port $2 to the one on $3 by hand, its keys
# with it, while the appends go on (ASK, TRYAGAIN meanwhile)
move_slot() {  # move_slot SLOT FROM TO
	local slot=$1 src=$2 dst=$3 sid did keys p i
	sid=$(cluster_node_id "$src")
	did=$(cluster_node_id "$dst")
	ccli "$dst" CLUSTER SETSLOT "$slot" IMPORTING "$sid" >/dev/null
	ccli "$src" CLUSTER SETSLOT "$slot" MIGRATING "$did" >/dev/null
	for ((i = 0; i < 100; i++)); do
		keys=$(ccli "$src" CLUSTER GETKEYSINSLOT "$slot" 100)
		[ -n "$keys" ] || break
		# shellcheck disable=SC2086 # one argument a key
		ccli "$src" MIGRATE 127.0.0.1 "$dst" "" 0 5000 AUTH "$PW" KEYS $keys >/dev/null
	done
	ccli "$dst" CLUSTER SETSLOT "$slot" NODE "$did" >/dev/null
	ccli "$src" CLUSTER SETSLOT "$slot" NODE "$did" >/dev/null
	for p in $CLUSTER_PORTS; do ccli "$p" CLUSTER SETSLOT "$slot" NODE "$did" >/dev/null 2>&1 || true; done
}

slot_elsewhere() {
	local now
	now=$(cluster_primary_of_slot "$SLOT")
	[ -n "$now" ] && [ "$now" != "$VICTIM" ]
}

@test "one Redis: append.lua PUBLISHes, the subscriber SUBSCRIBEs, every chunk arrives" {
	SOLO_DIR=$(mktemp -d "${STREAMCHAT_TEST_ROOT:-/tmp}/solo.XXXXXX")
	local port
	port=$(free_ports 1)
	redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --dir "$SOLO_DIR" --save '' \
		--pidfile "$SOLO_DIR/redis.pid" --logfile "$SOLO_DIR/redis.log" >/dev/null
	cluster_wait 10 redis-cli -p "$port" PING
	start_sub "redis://127.0.0.1:$port"
	# the script run is the file's own text: its SHA is the file's
	run redis-cli -p "$port" SCRIPT EXISTS "$(sha1sum <"$ROOT/share/lua/append.lua" | cut -d' ' -f1)"
	assert_output 1
	sleep 1
	stop_sub
	assert_equal "$(count missing "$output")" 0
	assert_equal "$(count lost_all "$output")" 0
}

@test "ai-streamer --pipe publishes as the scripts do: SPUBLISH for a cluster URL, PUBLISH otherwise" {
	run bash -c "REDIS_URL='redis+cluster://127.0.0.1:7000,127.0.0.1:7001' '$ROOT/bin/ai-streamer' --pipe --session s52 --user u52 hi 2>/dev/null | tr -d '\r' | grep -cx SPUBLISH"
	[ "$output" -ge 2 ]
	run bash -c "REDIS_URL=redis://127.0.0.1:7000 '$ROOT/bin/ai-streamer' --pipe --session s52 --user u52 hi 2>/dev/null | tr -d '\r' | grep -cx SPUBLISH"
	assert_output 0
	run bash -c "REDIS_URL=redis://127.0.0.1:7000 '$ROOT/bin/ai-streamer' --pipe --session s52 --user u52 hi 2>/dev/null | tr -d '\r' | grep -cx PUBLISH"
	[ "$output" -ge 2 ]
}

@test "cluster: append.lua SPUBLISHes on the session's shard, the relay's subscriber gets every chunk" {
	start_sub "$URL"
	local owner
	owner=$(cluster_primary_of_slot "$SLOT")
	# the script run is the text with SPUBLISH: its SHA differs from the file's
	run ccli "$owner" SCRIPT EXISTS "$(sed "s/redis.call('PUBLISH',/redis.call('SPUBLISH',/" \
		"$ROOT/share/lua/append.lua" | sha1sum | cut -d' ' -f1)"
	assert_output 1
	cluster_wait 30 chunks_at_least "$owner" 10
	stop_sub
	assert_equal "$(count missing "$output")" 0
	assert_equal "$(count lost_moved "$output")" 0
	assert_equal "$(count lost_disconnected "$output")" 0
}

@test "cluster: the session's slot moves: lost (moved), subscribed again on the new owner, frames after it" {
	start_sub "$URL"
	local src dst p
	src=$(cluster_primary_of_slot "$SLOT")
	for p in $CLUSTER_PORTS; do
		[ "$p" != "$src" ] || continue
		ccli "$p" ROLE | head -n 1 | grep -q master && { dst=$p; break; }
	done
	cluster_wait 30 chunks_at_least "$src" 5
	move_slot "$SLOT" "$src" "$dst"
	assert_equal "$(cluster_primary_of_slot "$SLOT")" "$dst"
	cluster_wait 30 grep -qx "lost moved" "$BATS_TEST_TMPDIR/sub"
	cluster_wait 30 grep -qx subscribed "$BATS_TEST_TMPDIR/sub"
	stop_sub
	[ "$(count lost_moved "$output")" -ge 1 ]
	[ "$(count subscribes "$output")" -ge 2 ]
}

@test "cluster: kill -9 of the session's primary: lost (disconnected), subscribed again on its replica, frames after it" {
	start_sub "$URL"
	local victim
	victim=$(cluster_primary_of_slot "$SLOT")
	cluster_wait 30 chunks_at_least "$victim" 5
	kill -9 "$(cat "$CLUSTER_DIR/$victim/redis.pid")"
	VICTIM=$victim cluster_wait 30 slot_elsewhere
	cluster_wait 30 grep -qx "lost disconnected" "$BATS_TEST_TMPDIR/sub"
	cluster_wait 30 grep -qx subscribed "$BATS_TEST_TMPDIR/sub"
	stop_sub
	[ "$(count lost_disconnected "$output")" -ge 1 ]
	[ "$(count subscribes "$output")" -ge 2 ]
}
