# Reading the archive (issue 22): GET /api/history pages on from Redis into
# PostgreSQL, GET /api/sessions lists a user's conversations on any device,
# DELETE /api/sessions/{S} deletes one everywhere. A real PostgreSQL (the
# stack's own, STACK_ARCHIVE=1), HISTORY_MAX=10 so that Redis keeps only the
# newest ten messages of a session, and tokens, so that ownership is the
# token's.

load helpers/stack

setup_file() {
	export STACK_ARCHIVE=1 HISTORY_MAX=10 AUTH_SECRET=the-sessions-test-secret-of-t84
	stack_up --relays 1 --streamers 2 --token-delay-ms 1
	ALICE=$(chatctl token alice --dir "$STACK_DIR")
	BOB=$(chatctl token bob --dir "$STACK_DIR")
	export ALICE BOB
}
teardown_file() { stack_down; }
# a test that failed half-way leaves the next one its PostgreSQL
teardown() { sctl start postgres >/dev/null 2>&1 || true; }

# as TOKEN METHOD PATH [BODY]: prints "STATUS BODY"
as() {
	local code
	code=$(curl -s -o "$BATS_TEST_TMPDIR/body" -D "$BATS_TEST_TMPDIR/head" -w '%{http_code}' \
		-X "$2" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
		${4:+--data-binary "$4"} "$API$3")
	echo "$code $(cat "$BATS_TEST_TMPDIR/body")"
}

reply_ended() { [ "$(rcli hget "$(key stream:meta: "$1")" status)" = "$2" ]; }
reply_over() { [[ $(rcli hget "$(key stream:meta: "$1")" status) =~ ^(cancelled|complete)$ ]]; }

# exchange TOKEN SESSION MESSAGE: posts, waits for the reply to end, prints
# its id. A 503 (no worker whose heartbeat is fresh, on a machine busy with
# other tests) is tried again, for up to 20 s.
exchange() {
	local r mid try
	for ((try = 0; try < 40; try++)); do
		r=$(as "$1" POST /api/chat "$(jq -cn --arg s "$2" --arg m "$3" '{session_id: $s, message: $m}')")
		[ "${r%% *}" = 503 ] || break
		sleep 0.5
	done
	[ "${r%% *}" = 202 ] || { echo "chat: $r" >&2; return 1; }
	mid=$(jq -r .message_id <<<"${r#* }")
	wait_for 30 reply_ended "$mid" complete || return 1
	echo "$mid"
}

stored() { pg -c "SELECT count(*) FROM messages WHERE session_id = '$1'"; }
stored_is() { [ "$(stored "$1")" = "$2" ]; }
stored_at_least() { [ "$(stored "$1")" -ge "$2" ]; }

# walk TOKEN SESSION LIMIT: the whole session through GET /api/history,
# walking back with before= until an empty page; one [id, role, content]
# per line, oldest first. Fails on an error, a page marked partial, or past
# 200 pages.
walk() {
	local before="" page n pages=0 out=""
	while :; do
		pages=$((pages + 1))
		[ "$pages" -le 200 ] || { echo "more than 200 pages" >&2; return 1; }
		page=$(curl -sf -H "Authorization: Bearer $1" \
			"$API/api/history/$2?limit=$3${before:+&before=$before}") || {
			echo "page after ${before:-the end} failed" >&2
			return 1
		}
		[ "$(jq -r '.archive // "whole"' <<<"$page")" = whole ] || return 1
		n=$(jq '.messages | length' <<<"$page")
		[ "$n" -gt 0 ] || break
		out="$(jq -c '.messages[] | [.message_id, .role, .content]' <<<"$page")${out:+$'\n'$out}"
		before=$(jq -r '.messages[0].message_id' <<<"$page")
	done
	printf '%s\n' "$out"
}

@test "with HISTORY_MAX=10, 30 exchanges in a session are all readable through GET /api/history paging, in order" {
	local i mids=() limit
	for ((i = 1; i <= 30; i++)); do
		mids+=("$(exchange "$ALICE" long-1 "question $i")")
		[ -n "${mids[-1]}" ]
	done
	[ "$(rcli llen "$(key chat:history: "long-1")")" = 10 ]
	wait_for 30 stored_is long-1 60
	# what the walk must give: the user's questions in order, each followed
	# by its reply, every message once
	local want_roles want_questions want_replies
	want_roles=$(for ((i = 1; i <= 30; i++)); do printf 'user\nassistant\n'; done)
	want_questions=$(for ((i = 1; i <= 30; i++)); do echo "question $i"; done)
	want_replies=$(printf '%s\n' "${mids[@]}")
	local first=""
	for limit in 1 3 7 10 11 50 1000; do
		run walk "$ALICE" long-1 "$limit"
		assert_success
		[ "$(wc -l <<<"$output")" -eq 60 ] || { echo "limit $limit: $(wc -l <<<"$output") messages"; false; }
		diff <(jq -r '.[1]' <<<"$output") <(echo "$want_roles")
		diff <(jq -r 'select(.[1] == "user") | .[2]' <<<"$output") <(echo "$want_questions")
		diff <(jq -r 'select(.[1] == "assistant") | .[0]' <<<"$output") <(echo "$want_replies")
		[ "$(jq -r '.[0]' <<<"$output" | sort -u | wc -l)" -eq 60 ]
		# the archive's order is the same, and every page size gives one answer
		diff <(jq -r '.[0]' <<<"$output") \
			<(pg -c "SELECT message_id FROM messages WHERE session_id = 'long-1' ORDER BY seq")
		[ -n "$first" ] || first=$output
		[ "$output" = "$first" ]
	done
	# a page deep in the archive reads one item of Redis's list, not the
	# whole list again
	rcli config resetstat >/dev/null
	run as "$ALICE" GET "/api/history/long-1?limit=5&before=${mids[5]}"
	assert_output --regexp '^200 '
	[ "$(jq -r '[.messages[].content] | .[0]' <<<"${output#* }")" = "question 4" ]
	run rcli info commandstats
	refute_output --partial 'cmdstat_lrange:'
	assert_output --partial 'cmdstat_lindex:calls=1,'
	# the newest page is Redis's, the reply texts the same in both stores
	run as "$ALICE" GET "/api/history/long-1?limit=2"
	assert_output --partial "\"message_id\":\"${mids[29]}\""
	[ "$(jq -r 'select(.[0] == "'"${mids[0]}"'") | .[2]' <<<"$first")" = \
		"$(pg -c "SELECT content FROM messages WHERE message_id = '${mids[0]}'")" ]
}

@test "walking back while the conversation grows (and Redis's list moves): nothing missing or doubled where Redis ends" {
	wait_for 30 stored_is long-1 60
	local i
	(for ((i = 1; i <= 12; i++)); do
		exchange "$ALICE" long-1 "meanwhile $i" >/dev/null 2>"$BATS_TEST_TMPDIR/writer.err" || {
			echo "# writer: $(cat "$BATS_TEST_TMPDIR/writer.err")" >&3
			exit 1
		}
	done) &
	local writer=$!
	wait_for 30 stored_at_least long-1 62  # the writer is under way
	run walk "$ALICE" long-1 1
	wait "$writer"
	assert_success
	local n
	n=$(wc -l <<<"$output")
	echo "# the walk saw $n messages" >&3
	[ "$n" -ge 62 ]
	wait_for 30 stored_is long-1 84
	# the walk is the conversation as it was when it began: the archive's
	# first n messages, in the same order
	diff <(jq -r '.[0]' <<<"$output") \
		<(pg -c "SELECT message_id FROM messages WHERE session_id = 'long-1' ORDER BY seq LIMIT $n")
}

@test "PostgreSQL stopped: recent pages answer, an older one is 503 with Retry-After, and it comes back" {
	wait_for 30 stored_is long-1 84
	local oldest
	oldest=$(curl -sf -H "Authorization: Bearer $ALICE" "$API/api/history/long-1?limit=10" |
		jq -r '.messages[0].message_id')
	[ -n "$oldest" ]
	sctl stop postgres
	run as "$ALICE" GET "/api/history/long-1?limit=5"
	assert_output --regexp '^200 '
	[ "$(jq '.messages | length' <<<"${output#* }")" = 5 ]
	# within Redis, with before: still Redis's
	local fifth
	fifth=$(jq -r '.messages[0].message_id' <<<"${output#* }")
	run as "$ALICE" GET "/api/history/long-1?limit=3&before=$fifth"
	assert_output --regexp '^200 '
	[ "$(jq '.messages | length' <<<"${output#* }")" = 3 ]
	# the page past Redis's oldest message needs the archive
	run as "$ALICE" GET "/api/history/long-1?limit=5&before=$oldest"
	assert_output --regexp '^503 \{"error":\{"code":"unavailable"'
	grep -qi '^Retry-After: 1' "$BATS_TEST_TMPDIR/head"
	# a page that starts in Redis and ends in the archive: Redis's part, marked
	run as "$ALICE" GET "/api/history/long-1?limit=20"
	assert_output --regexp '^200 '
	[ "$(jq '.messages | length' <<<"${output#* }")" = 10 ]
	[ "$(jq -r .archive <<<"${output#* }")" = unavailable ]
	run as "$ALICE" GET "/api/sessions"
	assert_output --regexp '^503 \{"error":\{"code":"unavailable"'
	# a delete while the archive cannot be reached deletes nothing
	run as "$ALICE" DELETE "/api/sessions/long-1"
	assert_output --regexp '^503 '
	[ "$(rcli llen "$(key chat:history: "long-1")")" = 10 ]
	# a new exchange still works, and is archived once PostgreSQL is back
	run exchange "$ALICE" long-1 "while the archive is down"
	assert_success
	sctl start postgres
	wait_for 60 stored_is long-1 86
	run walk "$ALICE" long-1 9
	assert_success
	[ "$(wc -l <<<"$output")" -eq 86 ]
	[ "$(jq -rs '.[84][2]' <<<"$output")" = "while the archive is down" ]
}

listed() { as "$1" GET "/api/sessions" | sed 's/^[0-9]* //' | jq -r '.sessions[].session_id' | paste -sd' '; }
listed_is() { [ "$(listed "$1")" = "$2" ]; }

@test "GET /api/sessions: the caller's conversations, newest first, titled, paged by cursor; nobody else's" {
	exchange "$ALICE" list-a "first of a" >/dev/null
	exchange "$ALICE" list-b "first of b" >/dev/null
	exchange "$ALICE" list-c "first of c" >/dev/null
	exchange "$ALICE" list-b "second of b" >/dev/null
	exchange "$BOB" list-bob "bob's own" >/dev/null
	wait_for 30 listed_is "$ALICE" "list-b list-c list-a long-1"
	# the archiver reads the 16 partitions' streams in turn, not in one
	# global order: Bob's exchange can land after Alice's last one
	wait_for 30 listed_is "$BOB" "list-bob"
	run as "$ALICE" GET "/api/sessions?limit=2"
	assert_output --regexp '^200 '
	local body=${output#* } cursor
	[ "$(jq -r '[.sessions[].session_id] | join(" ")' <<<"$body")" = "list-b list-c" ]
	[ "$(jq -r '.sessions[0].title' <<<"$body")" = "first of b" ]
	[ "$(jq -r '.sessions[0].updated_at > .sessions[1].updated_at' <<<"$body")" = true ]
	[ "$(jq -r '.sessions[0].created_at < .sessions[0].updated_at' <<<"$body")" = true ]
	cursor=$(jq -r .next_cursor <<<"$body")
	[[ $cursor =~ ^[0-9]+:list-c$ ]]
	run as "$ALICE" GET "/api/sessions?limit=2&before=$cursor"
	[ "$(jq -r '[.sessions[].session_id] | join(" ")' <<<"${output#* }")" = "list-a long-1" ]
	[ "$(jq -r .next_cursor <<<"${output#* }")" = null ]
	cursor=$(jq -r '.sessions[1] | "\(.updated_at):\(.session_id)"' <<<"${output#* }")
	run as "$ALICE" GET "/api/sessions?limit=2&before=$cursor"
	assert_output '200 {"sessions":[],"next_cursor":null}'
}

@test "the new endpoints refuse bad input with JSON errors and change nothing" {
	local bad
	for bad in "limit=0" "limit=201" "limit=x" "limit=" "before=" "before=x" "before=123" \
		"before=abc:list-a" "before=123:bad%20id" "before=1:" "before=%zz" \
		"before=$(printf '1%.0s' {1..30}):x" "user_id=bad%20id"; do
		run as "$ALICE" GET "/api/sessions?$bad"
		assert_output --regexp '^400 \{"error":\{"code":"invalid_request","message":'
	done
	run as "$ALICE" GET "/api/sessions?user_id=bob"
	assert_output --regexp '^403 \{"error":\{"code":"forbidden"'
	run curl -s -w ' %{http_code}' "$API/api/sessions"
	assert_output --regexp '"code":"unauthorized".* 401$'
	run as "$ALICE" DELETE "/api/sessions/bad%20id"
	assert_output --regexp '^400 \{"error":\{"code":"invalid_request"'
	run as "$ALICE" DELETE "/api/sessions/$(printf 'x%.0s' {1..65})"
	assert_output --regexp '^400 \{"error":\{"code":"invalid_request"'
	run as "$ALICE" DELETE "/api/sessions"
	assert_output --regexp '^405 \{"error":\{"code":"method_not_allowed"'
	run as "$ALICE" GET "/api/sessions/list-a"
	assert_output --regexp '^405 '
	grep -qi '^Allow: DELETE' "$BATS_TEST_TMPDIR/head"
	run as "$ALICE" DELETE "/api/sessions/never-was"
	assert_output '404 {"error":{"code":"not_found","message":"no such conversation"}}'
	run as "$ALICE" DELETE "/api/sessions/list-a?user_id=bob"
	assert_output --regexp '^403 '
	# history: a before of the right form that neither store holds, bad
	# forms, limits, another user's conversation (recent and archived pages)
	run as "$ALICE" GET "/api/history/long-1?before=0123456789abcdef0123456789abcdef"
	assert_output '404 {"error":{"code":"not_found","message":"no such message in this conversation"}}'
	for bad in "before=a.b" "before=" "limit=0" "limit=1001" "limit=-1"; do
		run as "$ALICE" GET "/api/history/long-1?$bad"
		assert_output --regexp '^400 \{"error":\{"code":"invalid_request"'
	done
	local archived
	archived=$(pg -c "SELECT message_id FROM messages WHERE session_id = 'long-1' ORDER BY seq LIMIT 1 OFFSET 5")
	run as "$BOB" GET "/api/history/long-1?before=$archived"
	assert_output --regexp '^403 \{"error":\{"code":"forbidden"'
	run as "$BOB" GET "/api/history/long-1"
	assert_output --regexp '^403 '
	# nothing changed
	run listed "$ALICE"
	assert_output "list-b list-c list-a long-1"
	[ "$(stored list-a)" = 2 ]
}

@test "DELETE /api/sessions/{S}: another user's is 403, a streaming one 409, the owner's goes from both stores for good" {
	local mid
	mid=$(exchange "$ALICE" del-1 "to be deleted")
	exchange "$ALICE" del-1 "and this too" >/dev/null
	wait_for 30 stored_is del-1 4
	run as "$BOB" DELETE "/api/sessions/del-1"
	assert_output '403 {"error":{"code":"forbidden","message":"this conversation belongs to another user"}}'
	[ "$(rcli llen "$(key chat:history: "del-1")")" = 4 ]
	[ "$(stored del-1)" = 4 ]
	# a reply still streaming (about half a second): refused, nothing
	# deleted; the session's key named beforehand, so the cancel comes in time
	local ksess
	ksess=$(key stream:session: "del-1")
	run as "$ALICE" POST /api/chat "$(jq -cn --arg m "$(words 2000)" '{session_id: "del-1", message: $m}')"
	assert_output --regexp '^202 '
	local long
	long=$(jq -r .message_id <<<"${output#* }")
	run as "$ALICE" DELETE "/api/sessions/del-1"
	assert_output --regexp '^409 \{"error":\{"code":"stream_in_progress"'
	[ "$(rcli exists "$ksess")" = 1 ]
	run as "$ALICE" POST /api/cancel "$(jq -cn --arg m "$long" '{session_id: "del-1", message_id: $m}')"
	# on a loaded machine the reply may end before the cancel reaches it
	wait_for 30 reply_over "$long"
	wait_for 30 stored_is del-1 6
	# the owner: gone from Redis (the session, its history, its replies' keys)
	run as "$ALICE" DELETE "/api/sessions/del-1"
	assert_output '200 {"session_id":"del-1","status":"deleted"}'
	[ "$(rcli exists "$(key stream:session: "del-1")" "$(key chat:history: "del-1")" "$(key stream:meta: "$mid")" \
		"$(key stream:chunks: "$mid")" "$(key stream:meta: "$long")")" = 0 ]
	# and from the archive, with a tombstone the archiver keeps to
	[ "$(stored del-1)" = 0 ]
	[ "$(pg -c "SELECT count(*) FROM sessions WHERE session_id = 'del-1'")" = 0 ]
	[ "$(pg -c "SELECT user_id FROM deleted_sessions WHERE session_id = 'del-1'")" = alice ]
	run as "$ALICE" GET "/api/history/del-1"
	assert_output '200 {"session_id":"del-1","messages":[]}'
	run as "$ALICE" DELETE "/api/sessions/del-1"
	assert_output --regexp '^404 '
	run listed "$ALICE"
	refute_output --partial del-1
	# the archive stream has drained and brought nothing back
	wait_for 30 eval '[ "$(archive_total)" = 0 ]'
	[ "$(stored del-1)" = 0 ]
	# a new message afterwards starts the conversation anew
	exchange "$ALICE" del-1 "a new start" >/dev/null
	wait_for 30 stored_is del-1 2
}

@test "the page's sidebar comes from /api/sessions: a second device (a fresh browser) shows the conversations and deletes one" {
	run env API="$API" STACK_DIR="$STACK_DIR" ROOT="$ROOT" \
		TOKEN="$(chatctl token dave --dir "$STACK_DIR")" \
		node "$ROOT/t/browser/sessions.mjs"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}
