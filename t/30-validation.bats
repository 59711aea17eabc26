# Bad input gets a clear JSON error and changes nothing.

load helpers/stack

setup_file() { stack_up --token-delay-ms 0 --relays 1 --streamers 1; }
teardown_file() { stack_down; }

# expect_rejected STATUS METHOD PATH [BODY]: the status, a JSON error, nothing enqueued
expect_rejected() {
	local want=$1 before after
	shift
	before=$(jobs_total)
	run api "$@"
	echo "$output"
	[ "${output%% *}" = "$want" ]
	echo "${output#* }" | jq -e '.error.code and .error.message' >/dev/null
	after=$(jobs_total)
	[ "$before" = "$after" ]
}

# post_bytes N: POST /api/chat a body of N bytes ('a'); prints the status,
# leaves the response in $BATS_TEST_TMPDIR/b
post_bytes() {
	head -c "$1" /dev/zero | tr '\0' a > "$BATS_TEST_TMPDIR/body-$1"
	curl -s -o "$BATS_TEST_TMPDIR/b" -w '%{http_code}' -X POST \
		--data-binary @"$BATS_TEST_TMPDIR/body-$1" "$API/api/chat"
}

@test "invalid JSON is 400 and enqueues nothing" {
	expect_rejected 400 POST /api/chat '{"session_id": "v1", "user_id": "u", "message": '
	expect_rejected 400 POST /api/chat 'hello'
	expect_rejected 400 POST /api/chat ''
	expect_rejected 400 POST /api/chat '[]'
	expect_rejected 400 POST /api/chat '{"session_id":"v1","user_id":"u","message":"a",}'
}

@test "wrong types are 400 and enqueue nothing" {
	expect_rejected 400 POST /api/chat '{"session_id":1,"user_id":"u","message":"hi"}'
	expect_rejected 400 POST /api/chat '{"session_id":"v1","user_id":["u"],"message":"hi"}'
	expect_rejected 400 POST /api/chat '{"session_id":"v1","user_id":"u","message":{"a":1}}'
	expect_rejected 400 POST /api/chat '{"session_id":"v1","user_id":"u","message":null}'
	expect_rejected 400 POST /api/chat '{"session_id":"v1","user_id":"u","message":"hi","model":7}'
}

@test "bad ids are 400 and enqueue nothing" {
	expect_rejected 400 POST /api/chat '{"session_id":"../etc","user_id":"u","message":"hi"}'
	expect_rejected 400 POST /api/chat '{"session_id":"","user_id":"u","message":"hi"}'
	expect_rejected 400 POST /api/chat '{"session_id":"a b","user_id":"u","message":"hi"}'
	long=$(printf 'x%.0s' $(seq 1 65))
	expect_rejected 400 POST /api/chat '{"session_id":"'"$long"'","user_id":"u","message":"hi"}'
	expect_rejected 400 POST /api/chat '{"session_id":"v1","user_id":"u\u0000","message":"hi"}'
	expect_rejected 400 GET '/api/history/a%2F..%2Fb'
	expect_rejected 400 GET '/api/stream/m.1'
	expect_rejected 400 GET '/api/history/ok?limit=-1'
	expect_rejected 400 GET '/api/stream/m1?from=x'
}

@test "invalid UTF-8 is 400 and enqueues nothing" {
	before=$(jobs_total)
	status=$(printf '{"session_id":"v1","user_id":"u","message":"bad \xff\xfe"}' |
		curl -s -o "$BATS_TEST_TMPDIR/b" -w '%{http_code}' -X POST --data-binary @- "$API/api/chat")
	[ "$status" = 400 ]
	jq -e '.error.code == "invalid_request"' "$BATS_TEST_TMPDIR/b"
	[ "$(jobs_total)" = "$before" ]
	[ "$(rcli exists "$(key chat:history: "v1")")" = 0 ]
}

@test "a message over the limit is 413, a body over 1 MB is refused by nginx" {
	big=$(head -c 20000 /dev/zero | tr '\0' a)
	expect_rejected 413 POST /api/chat '{"session_id":"v1","user_id":"u","message":"'"$big"'"}'
	status=$(post_bytes 2000000)
	[ "$status" = 413 ]
	jq -e '.error.code == "too_large"' "$BATS_TEST_TMPDIR/b"
}

@test "a body chat-fcgi refuses unread gets its 413 whole: the connection is not closed under nginx" {
	# over MAX_BODY_BYTES (64 KB), under nginx's 1 MB: chat-fcgi answers
	# before reading it, so it must not close while nginx is still sending
	for i in 1 2 3 4 5; do
		status=$(post_bytes 900000)
		echo "$i: $status $(cat "$BATS_TEST_TMPDIR/b")"
		[ "$status" = 413 ]
		jq -e '.error.message | test("larger than 65536")' "$BATS_TEST_TMPDIR/b"
	done
	run api GET /api/health
	[ "${output%% *}" = 200 ]
}

@test "unknown paths are 404 and wrong methods 405, as JSON" {
	expect_rejected 404 GET /api/nothing
	expect_rejected 405 GET /api/chat
	expect_rejected 405 POST /api/history/v1
	expect_rejected 404 GET /api/stream/nosuchmessage
}

@test "after all of it the stack is healthy and a chat works" {
	run chat-cli --url "$API" --session v-after "still fine"
	assert_success
	[ "$(rcli exists "$(key chat:history: "v1")")" = 0 ]
	run chatctl status --dir "$STACK_DIR"
	assert_success
}
