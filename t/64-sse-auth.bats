# HTTP streams with AUTH_SECRET set (doc/protocol.md, "Streams over HTTP"):
# the same token checks as the WebSocket, the token as a bearer header or
# token= on the URL, and a stream closed once its token expires.

load helpers/stack

setup_file() {
	export AUTH_SECRET=this-is-the-test-secret-of-t64 AUTH_LEEWAY_S=1 STREAM_HEARTBEAT_S=1
	stack_up --token-delay-ms 20 --relays 1
}
teardown_file() { stack_down; }

tok() { chatctl token "$1" --ttl "$2" --dir "$STACK_DIR"; }

# post_as TOKEN SESSION MESSAGE: the message id
post_as() {
	curl -sf -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
		-d "{\"session_id\":\"$2\",\"message\":\"$3\"}" "$API/api/chat" | jq -r .message_id
}

@test "a stream needs a valid token of the message's owner, as a bearer header or token=" {
	alice=$(tok alice 600)
	bob=$(tok bob 600)
	mid=$(post_as "$alice" sa1 "w1 w2 w3")
	sse=(-H 'Accept: text/event-stream' --max-time 30)
	run curl -s -w ' %{http_code}' "${sse[@]}" "$API/api/stream/$mid"
	assert_output --partial '"code":"unauthorized"'
	assert_output --partial ' 401'
	run curl -s -w ' %{http_code}' "${sse[@]}" -H "Authorization: Bearer not.a.token" "$API/api/stream/$mid"
	assert_output --partial ' 401'
	run curl -s -w ' %{http_code}' "${sse[@]}" -H "Authorization: Bearer $bob" "$API/api/stream/$mid"
	assert_output --partial '"code":"forbidden"'
	assert_output --partial ' 403'
	run curl -s -w ' %{http_code}' "${sse[@]}" -H "Authorization: Bearer $alice" "$API/api/stream/$mid?user_id=bob"
	assert_output --partial ' 403'
	run curl -s "${sse[@]}" -H "Authorization: Bearer $alice" "$API/api/stream/$mid"
	assert_output --partial 'event: end'
	assert_output --partial '"status":"complete"'
	run curl -s "${sse[@]}" "$API/api/stream/$mid?token=$alice"
	assert_output --partial 'event: end'
	run curl -s -o /dev/null -w '%{http_code}' "$API/api/ui/chat/sa1/stream?token=$bob"
	assert_output 403
}

@test "a stream is closed once its token expires (checked every half second)" {
	alice=$(tok alice 600)
	short=$(tok alice 2)
	# 8 + 2*600 chunks at 20 ms: longer than the token
	mid=$(post_as "$alice" sa2 "$(words 600)")
	start=$(date +%s)
	run curl -s --max-time 30 -H 'Accept: text/event-stream' -H "Authorization: Bearer $short" \
		"$API/api/stream/$mid"
	took=$(($(date +%s) - start))
	# cut after expiry plus leeway, without an end event, well before the reply ends
	assert_output --partial '"index":0'
	refute_output --partial 'event: end'
	[ "$took" -le 10 ]
	[ "$(rcli hget "$(key stream:meta: "$mid")" status)" = streaming ]
}
