# Replies as HTTP streams from the relays (doc/protocol.md, "Streams over
# HTTP"): Server-Sent Events through nginx, resumed by Last-Event-ID on any
# relay, the AI SDK's UI message stream and OpenAI's chunks, and bad input
# answered with a JSON error.

load helpers/stack

# AI_MAX_TOKENS: the workers cut a reply at 512 tokens by default, and the
# replies the relay tests stop mid-way must outlast a slow stop (ASan)
setup_file() { AI_MAX_TOKENS=2000 STREAM_HEARTBEAT_S=1 stack_up --relays 2; }
teardown_file() { stack_down; }

workers() { for w in $(sctl status | awk '/^ai-streamer:/ {print $1}'); do sctl pid "$w"; done; }
# workers paused by a failed test must not outlive it
teardown() { kill -CONT $(workers) 2>/dev/null || true; }

# sse_get OUT PATH [curl args]: streams $API PATH into OUT (60 s at most);
# run in the background, its pid is curl's.
sse_get() {
	local out=$1 path=$2
	shift 2
	exec curl -sN --max-time 60 -H 'Accept: text/event-stream' "$@" "$API$path" >"$out"
}

# The chunk events' indices, one a line, and their texts joined.
sse_indices() { sed -n 's/^data: \({"index".*}\)$/\1/p' "$@" | jq -r .index; }
sse_text() { sed -n 's/^data: \({"index".*}\)$/\1/p' "$@" | jq -j .content; }
history_text() { curl -sf "$API/api/history/$1?user_id=tester" | jq -j '.messages[-1].content'; }
history_status() { curl -sf "$API/api/history/$1?user_id=tester" | jq -r '.messages[-1].status'; }
meta_total() { rcli hget "$(key stream:meta: "$1")" total_chunks; }

# Every index 0..n-1 exactly once, in order, in the files given.
indices_whole() {
	local n=$1
	shift
	[ "$(sse_indices "$@" | tr '\n' ' ')" = "$(seq -s ' ' 0 $((n - 1))) " ]
}

# The relay holding session S's HTTP stream now (nginx picks a stream's
# relay by its message: another test's stream may be on the other one).
streaming_relay() {
	local p
	for ((p = RELAY_BASE; p < RELAY_BASE + 2; p++)); do
		[ "$(rcli hexists "sessions:node:{ws-$p}" "$1")" = 1 ] &&
			[ "$(curl -s "http://127.0.0.1:$p/health" | jq -r '.streams // 0')" -gt 0 ] && { echo "$p"; return 0; }
	done
	return 1
}

# A long reply of session $1 streamed into a in the background (pid) until
# chunk 20 has come; victim: the relay serving it. 608 tokens, 12 s: with
# 308 a relay stopped under ASan on a slow machine after the reply's end.
stream_a_until_20() {
	mid=$(post_chat "$1" "$(words 300)")
	sse_get "$BATS_TEST_TMPDIR/a" "/api/stream/$mid?user_id=tester" &
	pid=$!
	wait_for 20 grep -q '^id: 20$' "$BATS_TEST_TMPDIR/a"
	victim=$(streaming_relay "$1")
}

# Stream a was cut (no end event; `|| false`, as a bare `! cmd` fails no
# test): resumed into b by Last-Event-ID, together they hold every chunk
# once and session $1's final text.
resume_a_whole() {
	! grep -q '^event: end' "$BATS_TEST_TMPDIR/a" || false
	last=$(sse_indices "$BATS_TEST_TMPDIR/a" | tail -n 1)
	(sse_get "$BATS_TEST_TMPDIR/b" "/api/stream/$mid?user_id=tester" -H "Last-Event-ID: $last")
	grep -qx 'event: end' "$BATS_TEST_TMPDIR/b"
	indices_whole "$(meta_total "$mid")" "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
	[ "$(sse_text "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b")" = "$(history_text "$1")" ]
}

@test "curl -N through nginx: the first chunk arrives while the reply streams, then all of it once and the end event" {
	mid=$(post_chat sse1 "$(words 100)")
	sse_get "$BATS_TEST_TMPDIR/out" "/api/stream/$mid?user_id=tester" -D "$BATS_TEST_TMPDIR/head" &
	pid=$!
	wait_for 20 grep -q '^id: 0$' "$BATS_TEST_TMPDIR/out"
	# 208 chunks 20 ms apart: nginx does not hold the first back until the end
	[ "$(rcli hget "$(key stream:meta: "$mid")" status)" = streaming ]
	wait "$pid"
	grep -qi '^content-type: text/event-stream' "$BATS_TEST_TMPDIR/head"
	grep -qi "^x-message-id: $mid" "$BATS_TEST_TMPDIR/head"
	n=$(meta_total "$mid")
	[ "$n" -gt 100 ]
	indices_whole "$n" "$BATS_TEST_TMPDIR/out"
	[ "$(sse_text "$BATS_TEST_TMPDIR/out")" = "$(history_text sse1)" ]
	tail -n 3 "$BATS_TEST_TMPDIR/out" | grep -qx 'event: end'
	end=$(sed -n 's/^data: \({"message_id".*\)$/\1/p' "$BATS_TEST_TMPDIR/out")
	[ "$(jq -r .status <<<"$end")" = complete ]
	[ "$(jq -r .total_chunks <<<"$end")" = "$n" ]
	# other Accept values keep chat-fcgi's JSON
	[ "$(curl -sf "$API/api/stream/$mid?user_id=tester" | jq -r .total_chunks)" = "$n" ]
}

@test "a stream cut mid-reply resumes by Last-Event-ID: every chunk exactly once, in order" {
	mid=$(post_chat sse2 "$(words 100)")
	sse_get "$BATS_TEST_TMPDIR/a" "/api/stream/$mid?user_id=tester" &
	pid=$!
	wait_for 20 grep -q '^id: 30$' "$BATS_TEST_TMPDIR/a"
	kill "$pid"
	wait "$pid" || true
	last=$(sse_indices "$BATS_TEST_TMPDIR/a" | tail -n 1)
	[ "$(history_status sse2)" = streaming ]
	# from=0 is what the first request said: Last-Event-ID wins, as for a reconnecting EventSource
	(sse_get "$BATS_TEST_TMPDIR/b" "/api/stream/$mid?user_id=tester&from=0" -H "Last-Event-ID: $last")
	n=$(meta_total "$mid")
	indices_whole "$n" "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
	[ "$(sse_text "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b")" = "$(history_text sse2)" ]
	# a finished reply replays from the chunk cache: from=N the same way
	(sse_get "$BATS_TEST_TMPDIR/c" "/api/stream/$mid?user_id=tester&from=5")
	[ "$(sse_indices "$BATS_TEST_TMPDIR/c" | head -n 1)" = 5 ]
	[ "$(sse_indices "$BATS_TEST_TMPDIR/c" | wc -l)" = $((n - 5)) ]
	grep -qx 'event: end' "$BATS_TEST_TMPDIR/c"
}

@test "kill -9 of the relay serving a stream: it resumes on the other relay by Last-Event-ID, whole and once" {
	stream_a_until_20 sse3
	kill -9 "$(sctl pid "ws-relay:ws-relay-$victim")"
	wait "$pid" || true
	resume_a_whole sse3
	wait_for 15 bash -c "curl -sf http://127.0.0.1:$victim/health >/dev/null"
}

@test "SIGTERM drains the relay serving a stream: it is closed without an end, and resumes on the other, whole and once" {
	stream_a_until_20 sse5
	sctl stop "ws-relay:ws-relay-$victim"
	wait "$pid" || true
	resume_a_whole sse5
	sctl start "ws-relay:ws-relay-$victim"
}

@test "an idle stream gets heartbeat comments and stays open until its reply goes on" {
	paused=$(workers)
	mid=$(post_chat sse4 "$(words 200)")
	sse_get "$BATS_TEST_TMPDIR/out" "/api/stream/$mid?user_id=tester" &
	pid=$!
	wait_for 20 grep -q '^id: 3$' "$BATS_TEST_TMPDIR/out"
	kill -STOP $paused
	! grep -q '^event: end' "$BATS_TEST_TMPDIR/out" || false
	# STREAM_HEARTBEAT_S=1: a ping within a few seconds of silence
	wait_for 10 grep -q '^: ping$' "$BATS_TEST_TMPDIR/out"
	kill -CONT $paused
	wait "$pid"
	indices_whole "$(meta_total "$mid")" "$BATS_TEST_TMPDIR/out"
	[ "$(sse_text "$BATS_TEST_TMPDIR/out")" = "$(history_text sse4)" ]
}

@test "the AI SDK's UI message stream: resume of the session's reply, 204 once it has ended, abort on cancel" {
	mid=$(post_chat ui1 "$(words 100)")
	curl -sN --max-time 60 -D "$BATS_TEST_TMPDIR/head" "$API/api/ui/chat/ui1/stream?user_id=tester" \
		>"$BATS_TEST_TMPDIR/out" &
	pid=$!
	wait_for 20 grep -q '^id: 10$' "$BATS_TEST_TMPDIR/out"
	api POST /api/cancel "{\"session_id\":\"ui1\",\"message_id\":\"$mid\",\"user_id\":\"tester\"}"
	wait "$pid"
	grep -qi '^x-vercel-ai-ui-message-stream: v1' "$BATS_TEST_TMPDIR/head"
	parts=$(sed -n 's/^data: \({.*\)$/\1/p' "$BATS_TEST_TMPDIR/out")
	[ "$(jq -r .type <<<"$parts" | head -n 2 | tr '\n' ' ')" = "start text-start " ]
	[ "$(jq -r 'select(.type=="start").messageId' <<<"$parts")" = "$mid" ]
	[ "$(jq -r .type <<<"$parts" | tail -n 2 | tr '\n' ' ')" = "text-end abort " ]
	tail -n 2 "$BATS_TEST_TMPDIR/out" | grep -qx 'data: \[DONE\]'
	[ "$(jq -j 'select(.type=="text-delta").delta' <<<"$parts")" = "$(history_text ui1)" ]
	[ "$(history_status ui1)" = cancelled ]
	# nothing in progress: 204; another user's session: 403
	run curl -s -o /dev/null -w '%{http_code}' "$API/api/ui/chat/ui1/stream?user_id=tester"
	assert_output 204
	run curl -s -w ' %{http_code}' "$API/api/ui/chat/ui1/stream?user_id=mallory"
	assert_output --partial '"code":"forbidden"'
	assert_output --partial ' 403'
}

@test "OpenAI chunks through nginx, resumed by from=, and the whole object on the relay" {
	mid=$(post_chat oa1 "$(words 20)")
	curl -sN --max-time 60 "$API/v1/chat/completions/$mid/stream?user_id=tester" >"$BATS_TEST_TMPDIR/out"
	objs=$(sed -n 's/^data: \({.*\)$/\1/p' "$BATS_TEST_TMPDIR/out")
	[ "$(jq -r .object <<<"$objs" | sort -u)" = chat.completion.chunk ]
	[ "$(jq -r .id <<<"$objs" | sort -u)" = "chatcmpl-$mid" ]
	[ "$(head -n 1 <<<"$objs" | jq -r .choices[0].delta.role)" = assistant ]
	[ "$(tail -n 1 <<<"$objs" | jq -r .choices[0].finish_reason)" = stop ]
	tail -n 2 "$BATS_TEST_TMPDIR/out" | grep -qx 'data: \[DONE\]'
	[ "$(jq -j '.choices[0].delta.content // empty' <<<"$objs")" = "$(history_text oa1)" ]
	curl -sN --max-time 60 "$API/v1/chat/completions/$mid/stream?user_id=tester&from=4" >"$BATS_TEST_TMPDIR/b"
	[ "$(grep -m1 '^id: ' "$BATS_TEST_TMPDIR/b")" = "id: 4" ]
	whole=$(curl -sf "http://127.0.0.1:$RELAY_BASE/stream/$mid?user_id=tester&format=openai-json")
	[ "$(jq -r .object <<<"$whole")" = chat.completion ]
	[ "$(jq -j .choices[0].message.content <<<"$whole")" = "$(history_text oa1)" ]
	# the internal location is not reachable from outside
	run curl -s -o /dev/null -w '%{http_code}' "$API/internal/stream/$mid?user_id=tester"
	assert_output 404
}

@test "bad input gets a clear JSON error, never a hang, and the relays stay up" {
	mid=$(post_chat bad1 "$(words 5)")
	chat-cli --url "$API" --session bad1 --watch --message "$mid" >/dev/null
	relay=http://127.0.0.1:$RELAY_BASE
	check() {  # check STATUS CODE URL [curl args]
		local want=$1 code=$2 url=$3
		shift 3
		run curl -s --max-time 10 -w ' %{http_code}' "$@" "$url"
		assert_output --partial "\"code\":\"$code\""
		assert_output --partial " $want"
	}
	sse=(-H 'Accept: text/event-stream')
	check 400 invalid_request "$API/api/stream/$mid?user_id=tester" "${sse[@]}" -H 'Last-Event-ID: abc'
	check 400 invalid_request "$API/api/stream/$mid?user_id=tester" "${sse[@]}" -H 'Last-Event-ID: -7'
	check 400 invalid_request "$API/api/stream/$mid?user_id=tester" "${sse[@]}" -H 'Last-Event-ID: 99999'
	check 400 invalid_request "$API/api/stream/$mid?user_id=tester&from=x" "${sse[@]}"
	check 400 invalid_request "$API/api/stream/$mid?user_id=tester&from=99999" "${sse[@]}"
	check 400 invalid_request "$API/api/stream/$mid" "${sse[@]}"
	check 403 forbidden "$API/api/stream/$mid?user_id=mallory" "${sse[@]}"
	check 404 not_found "$API/api/stream/0123456789abcdef0123456789abcdef?user_id=tester" "${sse[@]}"
	check 404 not_found "$API/v1/chat/completions/0123456789abcdef0123456789abcdef/stream?user_id=tester"
	check 400 invalid_request "$relay/stream/$mid?user_id=tester&format=xml"
	check 400 invalid_request "$relay/stream/$mid?user_id=tester&model=a%20b"
	check 400 invalid_request "$relay/stream/not%20an%20id?user_id=tester"
	check 400 invalid_request "$relay/stream/session/?user_id=tester"
	check 400 invalid_request "$relay/stream/$mid?user_id=tester&from=$(printf '1%.0s' {1..3000})"
	check 405 method_not_allowed "$relay/stream/$mid?user_id=tester" -X DELETE
	check 405 method_not_allowed "$API/api/ui/chat/bad1/stream?user_id=tester" -X POST
	check 405 method_not_allowed "$API/v1/chat/completions/$mid/stream?user_id=tester" -X POST
	# a POST asking for events stays with chat-fcgi, which has no such route
	run curl -s -o /dev/null -w '%{http_code}' -X POST -d '{}' "${sse[@]}" "$API/api/stream/$mid?user_id=tester"
	[ "$output" -ge 400 ]
	[ "$output" -lt 500 ]
	# past the end by one is the end itself: just the end event
	run curl -s --max-time 10 "$API/api/stream/$mid?user_id=tester&from=$(meta_total "$mid")" "${sse[@]}"
	assert_output --partial 'event: end'
	refute_output --partial '"index"'
	# expired chunks: 404 like the JSON form, unless the session is named:
	# then its history answers, the whole text in one piece and the end
	rcli del "$(key stream:meta: "$mid")" "$(key stream:chunks: "$mid")" >/dev/null
	check 404 not_found "$API/api/stream/$mid?user_id=tester" "${sse[@]}"
	check 404 not_found "$API/api/stream/$mid?user_id=tester&session_id=bad1&from=2" "${sse[@]}"
	check 403 forbidden "$API/api/stream/$mid?user_id=mallory&session_id=bad1" "${sse[@]}"
	check 404 not_found "$API/api/stream/$mid?user_id=tester&session_id=nosuch" "${sse[@]}"
	run curl -s --max-time 10 "${sse[@]}" "$API/api/stream/$mid?user_id=tester&session_id=bad1"
	assert_success
	[ "$(sed -n 's/^data: \({"content".*\)$/\1/p' <<<"$output" | jq -j .content)" = "$(history_text bad1)" ]
	[ "$(sed -n 's/^data: \({"message_id".*\)$/\1/p' <<<"$output" | jq -r .status)" = complete ]
	whole=$(curl -sf "$API/v1/chat/completions/$mid/stream?user_id=tester&session_id=bad1" |
		sed -n 's/^data: \({"id".*\)$/\1/p' | jq -j '.choices[0].delta.content // empty')
	[ "$whole" = "$(history_text bad1)" ]
	for ((p = RELAY_BASE; p < RELAY_BASE + 2; p++)); do
		curl -sf "http://127.0.0.1:$p/health" >/dev/null
	done
}

@test "a browser's EventSource (chromium) reconnects by itself with Last-Event-ID after its relay is killed: whole, once" {
	run env API="$API" STACK_DIR="$STACK_DIR" RELAY_BASE="$RELAY_BASE" RELAYS=2 \
		node "$ROOT/t/browser/eventsource.mjs"
	echo "$output" | grep '^# ' >&3 || true
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}
