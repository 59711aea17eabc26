# Peers that behave as no client should: connections that end before their
# request is whole, straight to a relay and through nginx. No process dies.

load helpers/stack

setup_file() { stack_up --token-delay-ms 5 --relays 2; }
teardown_file() { stack_down; }

cut() { python3 "$ROOT/t/helpers/cut-conn.py" 127.0.0.1 "$@"; }
relay_pids() { sctl status | awk '/ws-relay/ && /RUNNING/ {print $4}' | tr -d , | sort; }

@test "connections that close or reset before a whole request leave every relay running" {
	before=$(relay_pids)
	[ "$(echo "$before" | wc -l)" -eq 2 ]
	for mode in close reset health-reset upgrade-reset upgrade-close partial; do
		run cut "$RELAY_BASE" "$mode" 5
		assert_success
		run cut "$((RELAY_BASE + 1))" "$mode" 5
		assert_success
	done
	sleep 0.5
	[ "$(relay_pids)" = "$before" ]
	run curl -sf "http://127.0.0.1:$RELAY_BASE/health"
	assert_success
	run chat-cli --url "$API" --session hp1 "still here"
	assert_success
}

@test "an upgrade through nginx cut before the 101 leaves the relays running" {
	before=$(relay_pids)
	run cut "$HTTP_PORT" upgrade-reset 10
	assert_success
	run cut "$HTTP_PORT" upgrade-close 10
	assert_success
	sleep 0.5
	[ "$(relay_pids)" = "$before" ]
	run chat-cli --url "$API" --session hp2 "still streaming"
	assert_success
}
