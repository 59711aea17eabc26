# A WebSocket lives no longer than its token (issue 20): closed 4401 at
# expiry plus leeway unless the client sends a fresh token on the socket;
# the token may come as a subprotocol, which no access log records.

load helpers/stack

setup_file() {
	export AUTH_SECRET=this-is-the-test-secret-of-t88 AUTH_LEEWAY_S=1
	stack_up --token-delay-ms 20 --relays 1
}
teardown_file() { stack_down; }

wsc() { python3 "$ROOT/t/helpers/wsc.py" "$@"; }
url() { echo "ws://127.0.0.1:$HTTP_PORT/ws/chat?session_id=$1${2:+&token=$2}"; }
tok() { chatctl token "$1" --ttl "$2" --dir "$STACK_DIR"; }

@test "a socket opened with a 3-second token is closed 4401 once it expires" {
	t=$(tok alice 3)
	run wsc --for 12 "$(url tk1 "$t")"
	assert_line --index 0 "open -"
	assert_line --partial '"type":"welcome"'
	assert_line --regexp '^close 4401 token expired'
	# a reply posted after expiry never reaches it
	refute_line --partial '"type":"chunk"'
}

@test "a fresh token sent on the socket keeps it open past the first one's expiry" {
	t=$(tok alice 3)
	fresh=$(tok alice 60)
	run wsc --for 8 --send-at "1:{\"type\":\"auth\",\"token\":\"$fresh\"}" "$(url tk2 "$t")"
	assert_line --regexp '^frame \{"type":"auth_ok","validUntil":[0-9]+\}$'
	assert_line "open-after 8"
	# and the socket still carries replies after the first token's expiry
	t=$(tok alice 3)
	wsc --for 12 --send-at "1:{\"type\":\"auth\",\"token\":\"$fresh\"}" "$(url tk3 "$t")" \
		>"$BATS_TEST_TMPDIR/late" &
	local p=$!
	sleep 6
	run curl -sf -H "Authorization: Bearer $fresh" -H 'Content-Type: application/json' \
		-d '{"session_id":"tk3","message":"after the first token"}' "$API/api/chat"
	assert_success
	wait "$p"
	grep -q '"type":"complete"' "$BATS_TEST_TMPDIR/late" || { cut -c1-150 "$BATS_TEST_TMPDIR/late"; false; }
}

@test "an auth frame with a bad token closes 4401; with another user's token 4403; without one 4400" {
	t=$(tok alice 60)
	run wsc --for 5 --send-at '0.5:{"type":"auth","token":"not.a.jwt"}' "$(url tk4 "$t")"
	assert_line --regexp '^close 4401'
	run wsc --for 5 --send-at "0.5:{\"type\":\"auth\",\"token\":\"$(tok bob 60)\"}" "$(url tk4 "$t")"
	assert_line --regexp '^close 4403'
	run wsc --for 5 --send-at '0.5:{"type":"auth"}' "$(url tk4 "$t")"
	assert_line --regexp '^close 4400'
	run wsc --for 5 --send-at "0.5:{\"type\":\"auth\",\"token\":\"$(tok alice -120)\"}" "$(url tk4 "$t")"
	assert_line --regexp '^close 4401 token expired'
}

@test "the token may come as the subprotocol bearer.TOKEN beside chat, and stays out of the access log" {
	t=$(tok alice 60)
	run wsc --for 2 --protocol chat --protocol "bearer.$t" "$(url tk5)"
	assert_line --index 0 "open chat"
	assert_line --partial '"type":"welcome"'
	assert_line "open-after 2"
	# a bad one there is refused like a bad token= would be
	run wsc --for 3 --protocol chat --protocol "bearer.x.y.z" "$(url tk5)"
	assert_line --regexp '^close 4401'
	# no token anywhere
	run wsc --for 3 --protocol chat "$(url tk5)"
	assert_line --regexp '^close 4401'
	sleep 1.5  # nginx flushes its access log each second
	! grep -qF "$t" "$STACK_DIR"/log/nginx-access*.log || false
}

@test "chat-cli sends its token as a header: a whole chat leaves no token in the access log" {
	t=$(tok alice 60)
	run chat-cli --url "$API" --token "$t" --session tk6 "w1 w2"
	assert_success
	sleep 1.5
	! grep -qF "$t" "$STACK_DIR"/log/nginx-access*.log || false
	grep -q 'GET /ws/chat?session_id=tk6 ' "$STACK_DIR"/log/nginx-access*.log
}
