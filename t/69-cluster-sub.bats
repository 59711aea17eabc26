# Sharded pub/sub on a real Redis Cluster (src/common/cluster_sub.c):
# build/cluster-sub subscribes to 200 channels spread over the slots,
# publishes on each every 50 ms and counts what arrives. A reshard makes
# Redis push `sunsubscribe` for the channels of the slots that moved; a
# kill -9 of a primary drops its connection: either way the channels are
# reported lost, subscribed again on the slot's new primary, and a last
# message on every channel arrives; nothing arrives twice.

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'
load helpers/redis-cluster

ROOT=$(cd "$(dirname "${BATS_TEST_FILENAME}")/.." && pwd)
PW=subpw

setup() {
	local dir
	dir=$(mktemp -d "${STREAMCHAT_TEST_ROOT:-/tmp}/cluster.XXXXXX")
	cluster_up "$dir" "$PW" || { cluster_down; rm -rf "$dir"; return 1; }
}
teardown() {
	[ -z "${SUB_PID:-}" ] || kill "$SUB_PID" 2>/dev/null || true
	cluster_down
	rm -rf "$CLUSTER_DIR"
}

slot_8000_elsewhere() {
	local now
	now=$(cluster_primary_of_slot 8000)
	[ -n "$now" ] && [ "$now" != "$VICTIM" ]
}

count() { sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" <<<"$2" | tail -n 1; }

start_sub() {
	rm -f "$BATS_TEST_TMPDIR/stop"
	timeout 120 "$ROOT/build/cluster-sub" --seeds "$CLUSTER_SEEDS" --password "$PW" 200 \
		"$BATS_TEST_TMPDIR/stop" >"$BATS_TEST_TMPDIR/sub" 2>&1 3>&- &
	SUB_PID=$!
	cluster_wait 30 grep -q ready "$BATS_TEST_TMPDIR/sub"
}

# stop_sub: the last message on every channel, then the counts in $output
stop_sub() {
	touch "$BATS_TEST_TMPDIR/stop"
	local rc=0
	wait "$SUB_PID" || rc=$?
	SUB_PID=
	run cat "$BATS_TEST_TMPDIR/sub"
	echo "# $output" >&3
	assert_equal "$rc" 0
	assert_equal "$(count final "$output")" 200
	assert_equal "$(count duplicates "$output")" 0
	[ "$(count messages "$output")" -gt 0 ]
}

@test "sharded pub/sub: a reshard's sunsubscribe pushes, the channels subscribed again on the new primary" {
	start_sub
	local src dst
	src=$(cluster_primary_of_slot 16383)
	dst=$(cluster_primary_of_slot 0)
	# a third of the channels' slots move
	REDISCLI_AUTH=$PW timeout 100 redis-cli --no-auth-warning --cluster reshard "127.0.0.1:$src" \
		--cluster-from "$(cluster_node_id "$src")" --cluster-to "$(cluster_node_id "$dst")" \
		--cluster-slots 2000 --cluster-yes >"$BATS_TEST_TMPDIR/reshard.log" 2>&1
	stop_sub
	[ "$(count lost_moved "$output")" -gt 0 ]
	assert_equal "$(count lost_disconnected "$output")" 0
}

@test "sharded pub/sub: kill -9 of a primary, its channels lost and subscribed again on its replica" {
	start_sub
	local victim
	victim=$(cluster_primary_of_slot 8000)
	kill -9 "$(cat "$CLUSTER_DIR/$victim/redis.pid")"
	VICTIM=$victim cluster_wait 30 slot_8000_elsewhere
	stop_sub
	[ "$(count lost_disconnected "$output")" -gt 0 ]
}
