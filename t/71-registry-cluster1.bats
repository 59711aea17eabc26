#!/usr/bin/env bats
# The relay's registry and claims on a one-node Redis Cluster (issue 16):
# every script and multi-key command of the socket paths that do not post
# (claim, the limits on new sockets, join, leave, a relay stopping,
# recoverd's cleanup of a dead relay) names keys of one hash slot, or Redis
# refuses it with CROSSSLOT.

load helpers/stack
load helpers/cluster1

setup_file() {
	export WS_PER_MIN_USER=5 CLAIM_TTL_S=600 RELAY_DEAD_MS=3000
	cluster1_up --relays 2
}
teardown_file() { stack_down; }

wsc() { python3 "$ROOT/t/helpers/wsc.py" "$@"; }
# a listener straight on relay $1 (0 or 1) of session $2 for user $3, $4 seconds
listen() { wsc --for "$4" "ws://127.0.0.1:$((RELAY_BASE + $1))/ws/chat?session_id=$2&user_id=$3"; }
# every key given is absent (one EXISTS each: keys of several slots in one
# command are CROSSSLOT here)
absent() { local k; for k in "$@"; do [ "$(rcli exists "$k")" = 0 ] || { echo "$k exists" >&2; return 1; }; done; }
relays_of() { rcli smembers "$(key sessions:relays: "$1")" | sort | tr '\n' ' '; }

@test "the Redis is a cluster: keys of two slots in one script are refused" {
	run rcli cluster info
	assert_output --partial cluster_state:ok
	run rcli eval "return 1" 2 "$(key stream:session: s)" 'sessions:node:{ws-1}'
	assert_output --partial CROSSSLOT
}

@test "two relays join and leave one session: the claim goes with the last socket, nothing CROSSSLOT" {
	listen 0 two1 ann 4 >/dev/null 3>&- &
	a=$!
	listen 1 two1 ann 2 >/dev/null 3>&- &
	wait_for 10 bash -c "[ \$(redis-cli -p $REDIS_PORT scard '$(key sessions:relays: two1)') = 2 ]"
	[ "$(rcli hget "sessions:node:{ws-$RELAY_BASE}" two1)" = ann ]
	[ "$(rcli hget "sessions:node:{ws-$((RELAY_BASE + 1))}" two1)" = ann ]
	[ "$(rcli hget "$(key stream:session: two1)" userId)" = ann ]
	# the second relay's socket leaves first: the session is still held
	wait_for 10 bash -c "[ \$(redis-cli -p $REDIS_PORT scard '$(key sessions:relays: two1)') = 1 ]"
	[ "$(relays_of two1)" = "ws-$RELAY_BASE " ]
	[ "$(rcli hget "$(key stream:session: two1)" userId)" = ann ]
	[ "$(rcli hexists "sessions:node:{ws-$((RELAY_BASE + 1))}" two1)" = 0 ]
	wait "$a" || true
	wait_for 10 bash -c "[ \$(redis-cli -p $REDIS_PORT exists '$(key sessions:relays: two1)') = 0 ]"
	[ "$(rcli exists "$(key stream:session: two1)")" = 0 ]
	[ "$(rcli hexists "sessions:node:{ws-$RELAY_BASE}" two1)" = 0 ]
	[ -z "$(crossslot_lines)" ]
}

@test "many sockets joining and leaving sessions on both relays at once leave no entry behind" {
	for i in $(seq 1 20); do
		listen $((i % 2)) "race$((i % 4))" bo 0.$((i % 7 + 2)) >/dev/null 3>&- &
	done
	wait
	wait_for 10 bash -c "[ -z \"\$(redis-cli -p $REDIS_PORT --scan --pattern 'sessions:relays:{*}race*')\" ]"
	wait_for 10 bash -c "[ -z \"\$(redis-cli -p $REDIS_PORT --scan --pattern 'stream:session:{*}race*')\" ]"
	[ -z "$(rcli hkeys "sessions:node:{ws-$RELAY_BASE}" | grep race)" ]
	[ -z "$(rcli hkeys "sessions:node:{ws-$((RELAY_BASE + 1))}" | grep race)" ]
	[ -z "$(crossslot_lines)" ]
}

@test "new sockets past WS_PER_MIN_USER are closed 4429 and claim nothing" {
	local s
	s=$(date +%-S)
	[ "$s" -lt 45 ] || sleep $((61 - s))
	for i in 1 2 3 4 5; do
		run listen 0 "lim$i" lim 0.3
		assert_output --partial '"type":"welcome"'
	done
	run listen 1 lim6 lim 2
	assert_output --regexp 'close 4429'
	[ "$(rcli exists "$(key stream:session: lim6)")" = 0 ]
	[ -z "$(crossslot_lines)" ]
}

@test "recoverd cleans a dead relay's entries, also one killed between its two writes" {
	listen 0 d3 dee 20 >/dev/null 3>&- &
	l=$!
	wait_for 10 bash -c "[ \$(redis-cli -p $REDIS_PORT scard '$(key sessions:relays: d3)') = 1 ]"
	# ws-gone died with: d1 in its hash only (killed between the hash and
	# the session's set, or between the leave and the hash), d2 in both, d3
	# also held by a live relay; its heartbeat, long past, comes last so
	# that recoverd sees all of it at once
	rcli hset 'sessions:node:{ws-gone}' d1 dee d2 dee d3 dee >/dev/null
	rcli hset "$(key stream:session: d1)" userId dee >/dev/null
	rcli hset "$(key stream:session: d2)" userId dee >/dev/null
	rcli sadd "$(key sessions:relays: d2)" ws-gone >/dev/null
	rcli sadd "$(key sessions:relays: d3)" ws-gone >/dev/null
	rcli zadd nodes:ws 1 ws-gone >/dev/null
	wait_for 20 bash -c "[ \$(redis-cli -p $REDIS_PORT exists 'sessions:node:{ws-gone}') = 0 ]"
	absent "$(key stream:session: d1)" "$(key stream:session: d2)" "$(key sessions:relays: d2)"
	# d3 is still held by the live relay: its claim stays
	[ "$(relays_of d3)" = "ws-$RELAY_BASE " ]
	[ "$(rcli hget "$(key stream:session: d3)" userId)" = dee ]
	grep -q 'msg="forgot the sessions of a silent relay".*relay=ws-gone sessions_gone=2' "$STACK_DIR/log/recoverd.log"
	kill "$l"
	[ -z "$(crossslot_lines)" ]
}

@test "a relay frozen past RELAY_DEAD_MS loses its sessions to recoverd, then registers them again" {
	listen 1 fz2 fay 30 >/dev/null 3>&- &
	l=$!
	node=ws-$((RELAY_BASE + 1))
	wait_for 10 bash -c "[ \"\$(redis-cli -p $REDIS_PORT hget 'sessions:node:{$node}' fz2)\" = fay ]"
	pid=$(sctl pid "ws-relay:ws-relay-$((RELAY_BASE + 1))")
	kill -STOP "$pid"
	wait_for 20 bash -c "[ \$(redis-cli -p $REDIS_PORT exists '$(key sessions:relays: fz2)') = 0 ]"
	[ "$(rcli exists "$(key stream:session: fz2)")" = 0 ]
	kill -CONT "$pid"
	wait_for 10 bash -c "[ \"\$(redis-cli -p $REDIS_PORT smembers '$(key sessions:relays: fz2)')\" = $node ]"
	[ "$(rcli hget "sessions:node:{$node}" fz2)" = fay ]
	[ "$(rcli hget "$(key stream:session: fz2)" userId)" = fay ]
	kill "$l"
	[ -z "$(crossslot_lines)" ]
}

@test "a relay stopping leaves every session and its hash; started again it is empty" {
	listen 1 st1 sam 30 >/dev/null 3>&- &
	l=$!
	node=ws-$((RELAY_BASE + 1))
	wait_for 10 bash -c "[ \$(redis-cli -p $REDIS_PORT exists '$(key sessions:relays: st1)') = 1 ]"
	sctl stop "ws-relay:ws-relay-$((RELAY_BASE + 1))" >/dev/null
	absent "sessions:node:{$node}" "$(key sessions:relays: st1)" "$(key stream:session: st1)" "node:ws:{$node}"
	sctl start "ws-relay:ws-relay-$((RELAY_BASE + 1))" >/dev/null
	kill "$l" 2>/dev/null || true
	[ -z "$(crossslot_lines)" ]
}
