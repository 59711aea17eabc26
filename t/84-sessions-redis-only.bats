# The sessions endpoints without an archive (no DATABASE_URL, as every other
# test stack runs): history is Redis's as before, the server keeps no list of
# a user's conversations (and says so without an error, so that the page's
# console stays clean: t/90), and a delete is Redis's alone.

load helpers/stack

setup_file() { stack_up --relays 1 --streamers 1 --token-delay-ms 1; }
teardown_file() { stack_down; }

reply_ended() { [ "$(rcli hget "$(key stream:meta: "$1")" status)" = complete ]; }

@test "without DATABASE_URL: GET /api/sessions says there is no list (sessions null, archive none), and is no error" {
	run api GET "/api/sessions?user_id=tester"
	assert_output '200 {"sessions":null,"next_cursor":null,"archive":"none"}'
	run api GET "/api/sessions"
	assert_output --regexp '^400 .*user_id is required'
}

@test "without DATABASE_URL: history is Redis's as before, and DELETE deletes the session from Redis for its owner" {
	local mid
	mid=$(post_chat solo-1 "hello" tester)
	wait_for 30 reply_ended "$mid"
	# a before that Redis does not hold gives the newest page, as ever
	run api GET "/api/history/solo-1?user_id=tester&before=0123456789abcdef0123456789abcdef"
	assert_output --regexp '^200 '
	[ "$(jq '.messages | length' <<<"${output#* }")" = 2 ]
	run api DELETE "/api/sessions/solo-1?user_id=mallory"
	assert_output --regexp '^403 \{"error":\{"code":"forbidden"'
	[ "$(rcli llen "$(key chat:history: "solo-1")")" = 2 ]
	run api DELETE "/api/sessions/solo-1?user_id=tester"
	assert_output '200 {"session_id":"solo-1","status":"deleted"}'
	[ "$(rcli exists "$(key stream:session: "solo-1")" "$(key chat:history: "solo-1")" "$(key stream:meta: "$mid")" "$(key stream:chunks: "$mid")")" = 0 ]
	run api DELETE "/api/sessions/solo-1?user_id=tester"
	assert_output '404 {"error":{"code":"not_found","message":"no such conversation"}}'
	# the session is free again: anyone may start it anew
	mid=$(post_chat solo-1 "again" mallory)
	[ -n "$mid" ]
}
