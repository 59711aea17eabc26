# Sockets cannot grow Redis or flood the relays (issue 20): a session that
# a listener claimed and never used is removed when its last socket leaves,
# and new WebSockets are limited per user and per client address (4429).

load helpers/stack

setup_file() {
	export WS_PER_MIN_USER=5 WS_PER_MIN_ADDR=12 CLAIM_TTL_S=600
	stack_up --token-delay-ms 5 --relays 2
}
teardown_file() { stack_down; }

wsc() { python3 "$ROOT/t/helpers/wsc.py" "$@"; }
url() { echo "ws://127.0.0.1:$HTTP_PORT/ws/chat?session_id=$1&user_id=$2"; }
# straight to a relay, as if nginx had seen the client at address $3
# (a documentation address: only a header, no traffic goes there)
from() { wsc --header "X-Forwarded-For: $3" --for "$4" "ws://127.0.0.1:$RELAY_BASE/ws/chat?session_id=$1&user_id=$2"; }
# the limits count per minute: start a test with time left in this one
fresh_minute() { local s; s=$(date +%-S); [ "$s" -lt 40 ] || sleep $((61 - s)); }

@test "sessions claimed by sockets that never posted are gone once their sockets leave" {
	fresh_minute
	for u in 1 2; do
		for i in 1 2 3 4; do
			wsc --for 0.3 "$(url "claim-$u-$i" "claimer$u")" >/dev/null &
		done
	done
	wait
	wait_for 10 bash -c "[ \$(redis-cli -p $REDIS_PORT --scan --pattern 'stream:session:{*}claim-*' | wc -l) = 0 ]"
	# a session that got a message keeps its owner after its socket leaves
	run wsc --for 0.3 "$(url claim-used claimer3)"
	mid=$(post_chat claim-used "w1" claimer3)
	wait_for 10 bash -c "[ \"\$(redis-cli -p $REDIS_PORT hget '$(key stream:session: "claim-used")' status)\" = complete ]"
	[ "$(rcli hget "$(key stream:session: "claim-used")" userId)" = claimer3 ]
	[ "$(rcli ttl "$(key stream:session: "claim-used")")" = -1 ]
	# and another user still gets 403 there
	run api POST /api/chat '{"session_id":"claim-used","user_id":"intruder","message":"hi"}'
	assert_output --regexp '^403 '
	[ -n "$mid" ]
}

@test "a claim always lapses (CLAIM_TTL_S), even if no relay is left to remove it, and is exclusive while held" {
	wsc --for 4 "$(url claim-ttl owner1)" >/dev/null 3>&- &
	local p=$!
	wait_for 5 bash -c "[ \$(redis-cli -p $REDIS_PORT exists '$(key stream:session: "claim-ttl")') = 1 ]"
	ttl=$(rcli pttl "$(key stream:session: "claim-ttl")")
	[ "$ttl" -gt 590000 ]
	[ "$ttl" -le 600000 ]
	run api POST /api/chat '{"session_id":"claim-ttl","user_id":"other","message":"hi"}'
	assert_output --regexp '^403 '
	wait "$p"
}

@test "new WebSockets past WS_PER_MIN_USER per user, then WS_PER_MIN_ADDR per address, are closed 4429" {
	fresh_minute
	for i in 1 2 3 4 5; do
		run from "rl-a-$i" rl-alice 192.0.2.7 0.5
		assert_line --partial '"type":"welcome"'
	done
	run from rl-a-6 rl-alice 192.0.2.7 3
	assert_line --regexp '^close 4429 too many new connections'
	[ "$(rcli exists "$(key stream:session: "rl-a-6")")" = 0 ]
	# the same user from elsewhere is over its own limit too
	run from rl-a-7 rl-alice 192.0.2.8 3
	assert_line --regexp '^close 4429'
	# another user from the same address still gets in, until the address's limit
	for i in 1 2 3 4; do
		run from "rl-b-$i" rl-bob 192.0.2.7 0.5
		assert_line --partial '"type":"welcome"'
	done
	for i in 1 2 3; do
		run from "rl-c-$i" rl-carol 192.0.2.7 0.5
		assert_line --partial '"type":"welcome"'
	done
	run from rl-c-4 rl-carol 192.0.2.7 3
	assert_line --regexp '^close 4429'
	# carol from another address is still welcome
	run from rl-c-5 rl-carol 192.0.2.9 0.5
	assert_line --partial '"type":"welcome"'
	run curl -s "http://127.0.0.1:$RELAY_BASE/metrics"
	assert_output --regexp 'streamchat_relay_rate_limited_total [1-9]'
}
