# Every script runs on the keys of one hash slot (doc/redis.md,
# "Partitions"), proven on a real cluster-enabled Redis: one node that
# serves all 16384 slots, so nothing is routed but Redis refuses any
# command whose keys span slots (CROSSSLOT). The scripts are run as the
# programs call them, on keys named by t/helpers/keys.bash.

load helpers/stack

setup_file() {
	export CPORT CDIR
	CPORT=$(free_ports 1)
	CDIR=$(mktemp -d "${STREAMCHAT_TEST_ROOT:-/tmp}/cluster1.XXXXXX")
	redis-server --port "$CPORT" --bind 127.0.0.1 --cluster-enabled yes \
		--cluster-config-file "$CDIR/nodes.conf" --dir "$CDIR" --save '' --appendonly no \
		--daemonize yes --pidfile "$CDIR/redis.pid" --logfile "$CDIR/redis.log"
	wait_for 30 bash -c "[ \"\$(redis-cli -p $CPORT ping 2>/dev/null)\" = PONG ]" ||
		{ cat "$CDIR/redis.log" >&2; false; }
	redis-cli -p "$CPORT" cluster addslotsrange 0 16383 >/dev/null
	wait_for 10 bash -c "redis-cli -p $CPORT cluster info | grep -q '^cluster_state:ok'"
}
teardown_file() {
	redis-cli -p "$CPORT" shutdown nosave >/dev/null 2>&1 || true
	rm -rf "$CDIR"
}

c() { redis-cli -p "$CPORT" "$@"; }
# evalsha SCRIPT NKEYS KEYS... ARGS...: the script's answer, as the programs call it
evalsha() {
	local sha
	sha=$(c script load "$(cat "$ROOT/share/lua/$1.lua")")
	shift
	c evalsha "$sha" "$@"
}
# a message id of partition $1, as new_message_id makes them
mid_of() { printf '%012x%x%019d' "$(date +%s%3N)" "$1" "$RANDOM"; }

@test "the node is a cluster that refuses keys of two slots (CROSSSLOT)" {
	run c eval 'return 1' 2 'a{x}' 'b{y}'
	assert_output --partial CROSSSLOT
}

@test "the old layout's enqueue.lua keys would have been refused" {
	run c eval 'return 1' 8 'stream:session:{s1}' 'chat:history:{s1}' 'stream:meta:{m1}' jobs \
		nodes:ai 'ratelimit:chat:{u1}:1' 'streams:user:{u1}' archive
	assert_output --partial CROSSSLOT
}

@test "a reply's life, script by script, each on one slot: admit, enqueue, cancel, start, append, renew, finish, requeue, release, orphan" {
	S=slot-s1 U=slot-u1
	p=$(partition_of stream:session: "$S")
	M=$(mid_of "$p")
	now=$(date +%s%3N)
	run evalsha admit 2 "ratelimit:chat:{$U}:1" "streams:user:{$U}" "$M" "$now" 30 60000 4 3600000 1
	assert_output "$(printf 'ok\n%s' "$M")"
	item="{\"message_id\":\"$(mid_of "$p")\",\"role\":\"user\",\"content\":\"hi\",\"status\":\"complete\",\"created_at\":$now}"
	run evalsha enqueue 5 "$(key stream:session: "$S")" "$(key chat:history: "$S")" \
		"$(key stream:meta: "$M")" "$(jobs_key "$p")" "$(archive_key "$p")" \
		"$S" "$U" "$M" "$item" model hi "$now" 1000 100000 "$(mid_of "$p")" 1000000
	assert_output "$(printf 'ok\n%s' "$M")"
	[ "$(c xlen "$(jobs_key "$p")")" = 1 ]
	run evalsha start 4 "$(key stream:meta: "$M")" "$(key stream:lock: "$M")" \
		"$(key stream:cancel: "$M")" "$(key stream:chunks: "$M")" w1:1 600000 "$now"
	assert_line --index 0 ok
	run evalsha append 2 "$(key stream:chunks: "$M")" "$(key stream:lock: "$M")" \
		w1:1 0 hello "$(key stream:channel: "$S")" '{"type":"chunk"}'
	refute_output --partial CROSSSLOT
	assert_output 1
	run evalsha renew 1 "$(key stream:lock: "$M")" 600000 w1:1
	assert_output 1
	run evalsha cancel 4 "$(key stream:session: "$S")" "$(key stream:meta: "$M")" \
		"$(key stream:cancel: "$M")" "$(key stream:lock: "$M")" "$S" "$U" 300
	assert_line --index 0 ok
	run evalsha finish 7 "$(key stream:chunks: "$M")" "$(key stream:meta: "$M")" \
		"$(key stream:lock: "$M")" "$(key stream:cancel: "$M")" "$(key chat:history: "$S")" \
		"$(key stream:session: "$S")" "$(archive_key "$p")" \
		w1:1 cancelled "$(key stream:channel: "$S")" '{"type":"end"}' 300 "$now" 1000 "$M" 1 1000000
	assert_output 1
	[ "$(c xlen "$(archive_key "$p")")" = 2 ]
	# the scripts that put a job back, on an ended reply: they answer, not CROSSSLOT
	run evalsha requeue 4 "$(jobs_key "$p")" "$(key stream:meta: "$M")" "$(key stream:lock: "$M")" \
		"$(key stream:chunks: "$M")" ai-streamers 0-1 "$M" "$S" "$U" model hi
	refute_output --partial ERR
	run evalsha release 4 "$(jobs_key "$p")" "$(key stream:meta: "$M")" "$(key stream:lock: "$M")" \
		"$(key stream:chunks: "$M")" ai-streamers 0-1 w1:1 "$M" "$S" "$U" model hi
	refute_output --partial ERR
	run evalsha orphan 5 "$(jobs_key "$p")" "$(key stream:meta: "$M")" "$(key stream:lock: "$M")" \
		"$(key stream:chunks: "$M")" "$(key chat:history: "$S")" "$M" recoverd:lost 10000
	refute_output --partial ERR
}
