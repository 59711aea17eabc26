# The Redis Cluster routing layer against a real cluster: 3 primaries with
# a replica each and a password, made by t/helpers/redis-cluster.bash.
# build/cluster-rw writes and reads keys through the layer and prints what
# it met (moved=, ask=, conn_errors=...); each scenario runs through the
# blocking client (src/common/redis_cluster.c) and, with --async, through
# the libuv one (src/common/aredis_cluster.c). The tests run in order and
# change the cluster: slots migrated by hand, reshards, primaries killed.

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'
load helpers/redis-cluster

ROOT=$(cd "$(dirname "${BATS_TEST_FILENAME}")/.." && pwd)
PW='cl pw/@:1'

setup_file() {
	local dir
	dir=$(mktemp -d "${STREAMCHAT_TEST_ROOT:-/tmp}/cluster.XXXXXX")
	cluster_up "$dir" "$PW" || { cluster_down; rm -rf "$dir"; return 1; }
	echo "$CLUSTER_DIR $CLUSTER_PORTS" >"$BATS_FILE_TMPDIR/cluster"
}
teardown_file() {
	[ -e "$BATS_FILE_TMPDIR/cluster" ] || return 0
	load_cluster
	cluster_down
	rm -rf "$CLUSTER_DIR"
}
setup() { load_cluster; }
# a test that failed half way leaves no client running, no node frozen
teardown() {
	local pid
	for pid in ${BG_PIDS:-}; do kill "$pid" 2>/dev/null || true; done
	[ ! -e "$BATS_FILE_TMPDIR/frozen" ] ||
		kill -CONT "$(cat "$CLUSTER_DIR/$(cat "$BATS_FILE_TMPDIR/frozen")/redis.pid")" 2>/dev/null || true
}

load_cluster() {
	local line
	line=$(cat "$BATS_FILE_TMPDIR/cluster")
	export CLUSTER_DIR=${line%% *} CLUSTER_PORTS=${line#* } CLUSTER_PASSWORD=$PW
	set -- $CLUSTER_PORTS
	export CLUSTER_SEEDS=127.0.0.1:$1,127.0.0.1:$2,127.0.0.1:$3
}

# rw ARGS...: cluster-rw through the seeds with the password ($MODE: --async or none)
MODE=
rw() { timeout 120 "$ROOT/build/cluster-rw" --seeds "$CLUSTER_SEEDS" --password "$PW" $MODE "$@"; }
# bg_rw OUT ARGS...: the same in the background, output to OUT; BG_PID its pid
bg_rw() {
	local out=$1
	shift
	timeout 120 "$ROOT/build/cluster-rw" --seeds "$CLUSTER_SEEDS" --password "$PW" $MODE "$@" \
		>"$out" 2>&1 3>&- &
	BG_PID=$!
	BG_PIDS="${BG_PIDS:-} $BG_PID"
}

# count NAME OUTPUT: the value of NAME= in cluster-rw's counts line
count() { sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" <<<"$2" | tail -n 1; }

# another primary than $1
other_primary() {
	local p
	for p in $(primary_ports); do [ "$p" = "$1" ] || { echo "$p"; return; }; done
}
# a primary that has a replica, to kill
primary_with_replica() {
	local p
	for p in $(primary_ports); do
		ccli "$p" INFO replication | grep -q '^connected_slaves:[1-9]' && { echo "$p"; return; }
	done
}
primary_ports() {
	local p
	for p in $CLUSTER_PORTS; do
		ccli "$p" ROLE 2>/dev/null | head -n 1 | grep -qx master && echo "$p"
	done
}

every_slot() {
	run rw --every-slot write "es$MODE" 16384
	assert_success
	assert_equal "$(count written "$output")" 16384
	run rw --every-slot read "es$MODE" 16384
	assert_success
	assert_equal "$(count slots "$output")" 16384
	assert_equal "$(count mismatches "$output")" 0
	assert_equal "$(count moved "$output")" 0
}

ask_then_moved() {
	local key=ask:k$MODE slot src dst before
	set -- $CLUSTER_PORTS
	slot=$(ccli "$1" CLUSTER KEYSLOT "$key")
	src=$(cluster_primary_of_slot "$slot")
	dst=$(other_primary "$src")
	before=$(ccli "$src" CLUSTER COUNTKEYSINSLOT "$slot")
	ccli "$dst" CLUSTER SETSLOT "$slot" IMPORTING "$(cluster_node_id "$src")"
	ccli "$src" CLUSTER SETSLOT "$slot" MIGRATING "$(cluster_node_id "$dst")"
	# a new key of a migrating slot is created on the importing node
	run rw set "$key" v1
	assert_success
	assert_equal "$(count ask "$output")" 1
	assert_equal "$(count moved "$output")" 0
	assert_equal "$(ccli "$dst" CLUSTER COUNTKEYSINSLOT "$slot")" 1
	assert_equal "$(ccli "$src" CLUSTER COUNTKEYSINSLOT "$slot")" "$before"
	run rw get "$key"
	assert_success
	assert_line value=v1
	assert_equal "$(count ask "$output")" 1
	# the migration ends: the map of a client that read it before is stale
	rm -f "$BATS_TEST_TMPDIR/go"
	bg_rw "$BATS_TEST_TMPDIR/out" get-twice "$key" "$BATS_TEST_TMPDIR/go"
	local pid=$BG_PID k p
	cluster_wait 20 grep -q value= "$BATS_TEST_TMPDIR/out"
	for k in $(ccli "$src" CLUSTER GETKEYSINSLOT "$slot" 1000); do
		ccli "$src" MIGRATE 127.0.0.1 "$dst" "" 0 5000 AUTH "$PW" KEYS "$k"
	done
	for p in "$dst" "$src"; do ccli "$p" CLUSTER SETSLOT "$slot" NODE "$(cluster_node_id "$dst")"; done
	touch "$BATS_TEST_TMPDIR/go"
	local rc=0
	wait "$pid" || rc=$?
	assert_equal "$rc" 0
	run cat "$BATS_TEST_TMPDIR/out"
	assert_equal "$(grep -c value=v1 <<<"$output")" 2
	assert_equal "$(count moved "$output")" 1
}

reshard_under_load() {
	local src dst lo hi
	src=$(cluster_primary_of_slot 16383)
	dst=$(other_primary "$src")
	lo=$(ccli "$src" CLUSTER NODES | awk '/myself/ { split($9, r, "-"); print r[1] }')
	hi=$((lo + 499))
	# keys in the slots that move, so that the migration takes a while
	run rw --slots "$lo-$hi" write "rs$MODE" 10000
	assert_success
	rm -f "$BATS_TEST_TMPDIR/stop" "$BATS_TEST_TMPDIR/go"
	bg_rw "$BATS_TEST_TMPDIR/loop" --slots "$lo-$hi" --strict loop "rl$MODE" "$BATS_TEST_TMPDIR/stop" 100
	local pid=$BG_PID
	# a reader with the map from before the reshard, reading after it
	bg_rw "$BATS_TEST_TMPDIR/after" --slots "$lo-$hi" --start-file "$BATS_TEST_TMPDIR/go" read "rs$MODE" 10000
	local rpid=$BG_PID
	cluster_wait 30 grep -q ready "$BATS_TEST_TMPDIR/after"
	REDISCLI_AUTH=$PW timeout 100 redis-cli --no-auth-warning --cluster reshard "127.0.0.1:$src" \
		--cluster-from "$(cluster_node_id "$src")" --cluster-to "$(cluster_node_id "$dst")" \
		--cluster-slots 500 --cluster-yes >"$BATS_TEST_TMPDIR/reshard.log" 2>&1
	touch "$BATS_TEST_TMPDIR/stop"
	local rc=0
	wait "$pid" || rc=$?
	run cat "$BATS_TEST_TMPDIR/loop"
	echo "# during the reshard ($MODE): $output" >&3
	assert_equal "$rc" 0
	assert_equal "$(count mismatches "$output")" 0
	[ "$(count read "$output")" -gt 0 ]
	[ "$(cluster_primary_of_slot "$lo")" = "$dst" ]
	touch "$BATS_TEST_TMPDIR/go"
	rc=0
	wait "$rpid" || rc=$?
	run cat "$BATS_TEST_TMPDIR/after"
	echo "# after the reshard, with the map from before ($MODE): $output" >&3
	assert_equal "$rc" 0
	assert_equal "$(count read "$output")" 10000
	assert_equal "$(count mismatches "$output")" 0
	[ "$(count moved "$output")" -gt 0 ]
}

# The keys are written (and WAITed for) by the blocking client in both
# modes: a primary's acknowledgement alone does not survive its kill -9.
kill_a_primary() {
	local victim slot pid
	run "$ROOT/build/cluster-rw" --seeds "$CLUSTER_SEEDS" --password "$PW" \
		--every-slot write "kf$MODE" 16384
	assert_success
	victim=$(primary_with_replica)
	[ -n "$victim" ]
	slot=$(ccli "$victim" CLUSTER NODES | awk '/myself/ { split($9, r, "-"); print r[1] }')
	# the clients read the map while the victim serves, then it dies
	rm -f "$BATS_TEST_TMPDIR/stop" "$BATS_TEST_TMPDIR/go"
	bg_rw "$BATS_TEST_TMPDIR/loop" --retry-ms 30000 --start-file "$BATS_TEST_TMPDIR/go" \
		loop "kl$MODE" "$BATS_TEST_TMPDIR/stop" 100
	pid=$BG_PID
	bg_rw "$BATS_TEST_TMPDIR/read" --retry-ms 30000 --start-file "$BATS_TEST_TMPDIR/go" \
		--every-slot read "kf$MODE" 16384
	local rpid=$BG_PID
	cluster_wait 30 grep -q ready "$BATS_TEST_TMPDIR/loop"
	cluster_wait 30 grep -q ready "$BATS_TEST_TMPDIR/read"
	kill -9 "$(cat "$CLUSTER_DIR/$victim/redis.pid")"
	touch "$BATS_TEST_TMPDIR/go"
	local rrc=0
	wait "$rpid" || rrc=$?
	run cat "$BATS_TEST_TMPDIR/read"
	echo "# the read across the failover ($MODE): $output" >&3
	assert_equal "$rrc" 0
	assert_equal "$(count slots "$output")" 16384
	assert_equal "$(count mismatches "$output")" 0
	[ "$(count conn_errors "$output")" -gt 0 ]
	[ "$(count reloads "$output")" -gt 1 ]
	touch "$BATS_TEST_TMPDIR/stop"
	local rc=0
	wait "$pid" || rc=$?
	assert_equal "$rc" 0
	run cat "$BATS_TEST_TMPDIR/loop"
	echo "# the loop across the failover ($MODE): $output" >&3
	[ "$(count written "$output")" -gt 0 ]
	# the replica serves the victim's slots now
	local now
	now=$(cluster_primary_of_slot "$slot")
	[ -n "$now" ]
	[ "$now" != "$victim" ]
}

bad_seeds() {
	local port dir
	port=$(free_ports 1)
	dir=$(mktemp -d "${STREAMCHAT_TEST_ROOT:-/tmp}/plain.XXXXXX")
	redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --dir "$dir" \
		--pidfile "$dir/redis.pid" --save '' --appendonly no >/dev/null
	cluster_wait 10 redis-cli -p "$port" PING
	run timeout 20 "$ROOT/build/cluster-rw" $MODE --seeds "127.0.0.1:$port" get k
	kill "$(cat "$dir/redis.pid")"
	rm -rf "$dir"
	assert_equal "$status" 2
	assert_equal "${#lines[@]}" 1
	assert_output --partial "is not a Redis Cluster node"
	assert_output --partial "cluster support disabled"

	# the async client retries seeds it cannot reach; cluster-rw gives up
	# after --retry-ms
	run timeout 20 "$ROOT/build/cluster-rw" $MODE --retry-ms 2000 --seeds "127.0.0.1:1,127.0.0.1:2" get k
	assert_equal "$status" 2
	# the async client logs why it retries, as the programs log it (a
	# "redis unavailable" line); the answer itself is one line
	assert_equal "$(grep -vc 'msg="redis unavailable"' <<<"$output")" 1
	assert_output --partial "none of the 2 cluster seed nodes answered"

	run timeout 20 "$ROOT/build/cluster-rw" $MODE --seeds "$CLUSTER_SEEDS" --password wrong get k
	assert_equal "$status" 2
	assert_equal "${#lines[@]}" 1
	assert_output --partial "WRONGPASS"
}

@test "a key in each of the 16384 slots written and read back (blocking client)" { every_slot; }
@test "a key in each of the 16384 slots written and read back (async client)" { MODE=--async every_slot; }
@test "ASK during a slot's migration, then MOVED once it ends (blocking client)" { ask_then_moved; }
@test "ASK during a slot's migration, then MOVED once it ends (async client)" { MODE=--async ask_then_moved; }
@test "a reshard of 500 slots under a read/write loop: every answer right, MOVED followed (blocking client)" {
	reshard_under_load
}
@test "a reshard of 500 slots under a read/write loop: every answer right, MOVED followed (async client)" {
	MODE=--async reshard_under_load
}
@test "kill -9 of a primary: its replica takes over, every key read back, errors retried (blocking client)" {
	kill_a_primary
}
@test "kill -9 of a primary: its replica takes over, every key read back, errors retried (async client)" {
	MODE=--async kill_a_primary
}
@test "a non-cluster Redis, no reachable seed, a wrong password: one line, exit 2 (blocking client)" { bad_seeds; }
@test "a non-cluster Redis, no reachable seed, a wrong password: one line, exit 2 (async client)" {
	MODE=--async bad_seeds
}
# last: the cluster has no replica left to take over after it
@test "a primary frozen (SIGSTOP): both clients time out on it, then follow its replica" {
	local victim slot p
	# two of the first three nodes are dead by now: every node a seed
	CLUSTER_SEEDS=
	for p in $CLUSTER_PORTS; do CLUSTER_SEEDS=$CLUSTER_SEEDS${CLUSTER_SEEDS:+,}127.0.0.1:$p; done
	run "$ROOT/build/cluster-rw" --seeds "$CLUSTER_SEEDS" --password "$PW" --every-slot write fz 16384
	assert_success
	victim=$(primary_with_replica)
	[ -n "$victim" ]
	slot=$(ccli "$victim" CLUSTER NODES | awk '/myself/ { split($9, r, "-"); print r[1] }')
	echo "$victim" >"$BATS_FILE_TMPDIR/frozen"
	# both clients read the map while the victim serves, then it freezes:
	# its socket still accepts connections, only a timeout tells it is gone
	rm -f "$BATS_TEST_TMPDIR/go"
	MODE= bg_rw "$BATS_TEST_TMPDIR/sync" --retry-ms 30000 --start-file "$BATS_TEST_TMPDIR/go" \
		--every-slot read fz 16384
	local pid=$BG_PID
	MODE=--async bg_rw "$BATS_TEST_TMPDIR/async" --retry-ms 30000 --start-file "$BATS_TEST_TMPDIR/go" \
		--every-slot read fz 16384
	local apid=$BG_PID
	cluster_wait 30 grep -q ready "$BATS_TEST_TMPDIR/sync"
	cluster_wait 30 grep -q ready "$BATS_TEST_TMPDIR/async"
	kill -STOP "$(cat "$CLUSTER_DIR/$victim/redis.pid")"
	touch "$BATS_TEST_TMPDIR/go"
	local arc=0
	wait "$apid" || arc=$?
	run cat "$BATS_TEST_TMPDIR/async"
	echo "# the async read across the freeze: $output" >&3
	assert_equal "$arc" 0
	assert_equal "$(count slots "$output")" 16384
	assert_equal "$(count mismatches "$output")" 0
	[ "$(count conn_errors "$output")" -gt 0 ]
	local rc=0
	wait "$pid" || rc=$?
	run cat "$BATS_TEST_TMPDIR/sync"
	echo "# the blocking read across the freeze: $output" >&3
	assert_equal "$rc" 0
	assert_equal "$(count slots "$output")" 16384
	assert_equal "$(count mismatches "$output")" 0
	[ "$(count conn_errors "$output")" -gt 0 ]
	kill -CONT "$(cat "$CLUSTER_DIR/$victim/redis.pid")"
	rm -f "$BATS_FILE_TMPDIR/frozen"
	[ "$(cluster_primary_of_slot "$slot")" != "$victim" ]
}
