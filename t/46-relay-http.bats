# A relay's plain HTTP routes answer every method, with or without a body,
# with a status and a JSON error, and the connection goes on (or is closed
# when the body is not worth reading); no relay process dies.

load helpers/stack

setup_file() {
	stack_up --relays 1 --streamers 1
	relay_pid >"$BATS_FILE_TMPDIR/pid"
	[ -s "$BATS_FILE_TMPDIR/pid" ]
}
teardown_file() { stack_down; }

relay_pid() { sctl status | awk '/ws-relay/ && /RUNNING/ {print $4}' | tr -d ,; }
# seq REQUEST...: the answers, one JSON line each (see t/helpers/http-seq.py)
seq_http() { python3 "$ROOT/t/helpers/http-seq.py" 127.0.0.1 "$RELAY_BASE" "$@"; }
answer() { sed -n "${1}p" <<<"$output"; }

@test "a request with a body gets its JSON error, and the same connection takes a GET after it" {
	run seq_http "POST /health body=hello" "PUT /metrics body=x" "DELETE /health body=abc" \
		"POST /stream/m_1 body=x" "PATCH /stream/session/s1 body=y" "POST /nope body=zz" \
		"GET /health"
	assert_success
	[ "$(echo "$output" | wc -l)" -eq 7 ]
	for i in 1 2 3 4 5; do
		[ "$(answer $i | jq -r .status)" = 405 ]
		[ "$(answer $i | jq -r .body | jq -r .error.code)" = method_not_allowed ]
		answer $i | jq -r .headers.allow | grep -q '^GET'
		[ "$(answer $i | jq -r '.headers.connection // "keep-alive"')" = keep-alive ]
	done
	[ "$(answer 6 | jq -r .status)" = 404 ]
	[ "$(answer 6 | jq -r .body | jq -r .error.code)" = not_found ]
	[ "$(answer 7 | jq -r .status)" = 200 ]
	[ "$(answer 7 | jq -r .body | jq -r .status)" = ok ]
}

@test "curl's POST with a body gets 405 with Allow, and curl reuses the connection" {
	run curl -s -m 10 -o /dev/null -w '%{http_code} %header{allow}\n' -X POST -d x \
		"http://127.0.0.1:$RELAY_BASE/health" --next -s -m 10 -o /dev/null \
		-w '%{http_code} %{num_connects}\n' "http://127.0.0.1:$RELAY_BASE/health"
	assert_success
	assert_line --index 0 "405 GET, HEAD, OPTIONS"
	assert_line --index 1 "200 0"
}

@test "a GET with a body, or a stream asked with HEAD, is refused without touching the stream" {
	run seq_http "GET /stream/m_1 body=x" "HEAD /stream/m_1" "GET /health body=x" "GET /health"
	assert_success
	[ "$(answer 1 | jq -r .status)" = 400 ]
	[ "$(answer 1 | jq -r .body | jq -r .error.code)" = invalid_request ]
	[ "$(answer 2 | jq -r .status)" = 405 ]
	[ "$(answer 2 | jq -r .body)" = "" ]
	[ "$(answer 3 | jq -r .status)" = 400 ]
	[ "$(answer 4 | jq -r .status)" = 200 ]
}

@test "HEAD answers the headers alone and OPTIONS names the methods" {
	run seq_http "HEAD /health" "HEAD /nope" "OPTIONS /metrics" "OPTIONS /stream/m_1" "GET /health"
	assert_success
	[ "$(echo "$output" | wc -l)" -eq 5 ]
	[ "$(answer 1 | jq -r .status)" = 200 ]
	[ "$(answer 1 | jq -r '.headers["content-length"]')" -gt 0 ]
	[ "$(answer 2 | jq -r .status)" = 404 ]
	[ "$(answer 3 | jq -r .status)" = 204 ]
	[ "$(answer 3 | jq -r .headers.allow)" = "GET, HEAD, OPTIONS" ]
	[ "$(answer 4 | jq -r .headers.allow)" = "GET, OPTIONS" ]
	[ "$(answer 5 | jq -r .body | jq -r .status)" = ok ]
}

@test "a body too long to read, chunked or of no stated length gets the answer, then the connection closes" {
	for req in "POST /health length=10000000000 send=65536" "POST /stream/m_1 length=70000 send=70000" \
		"POST /health nolength send=100"; do
		run seq_http "$req" "GET /health"
		assert_success
		[ "$(answer 1 | jq -r .status)" = 405 ]
		[ "$(answer 1 | jq -r .headers.connection)" = close ]
		[ "$(answer 2)" = '{"end": "closed"}' ]
	done
	run bash -c "head -c 5000000 /dev/zero | curl -s -m 20 -o /dev/null -w '%{http_code}' \
		-H 'Transfer-Encoding: chunked' --data-binary @- http://127.0.0.1:$RELAY_BASE/metrics"
	assert_success
	assert_output 405
}

@test "the relay survived it all and still answers" {
	[ "$(relay_pid)" = "$(cat "$BATS_FILE_TMPDIR/pid")" ]
	run curl -sf -m 10 "http://127.0.0.1:$RELAY_BASE/health"
	assert_success
	[ "$(jq -r .status <<<"$output")" = ok ]
	run chat-cli --url "$API" --session rh1 "still streaming"
	assert_success
}

# streams_open: the relay's count of HTTP streams
streams_open() { curl -sf "http://127.0.0.1:$RELAY_BASE/health" | jq -r .streams; }
no_streams() { [ "$(streams_open)" = 0 ]; }

@test "streams whose client hung up right after its request are closed, not left spinning the relay" {
	local mid i
	mid=$(post_chat rh-gone "$(words 10)")
	[ -n "$mid" ]
	# the request and at once a close, as nginx does when its client leaves:
	# the relay writes the headers to a socket that is gone
	for i in $(seq 1 10); do
		timeout 10 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(("GET /stream/%s?user_id=tester HTTP/1.1\r\nHost: r\r\n\r\n" % sys.argv[2]).encode())
s.close()' "$RELAY_BASE" "$mid"
	done
	# the reply ends meanwhile; each of those streams is closed by then
	wait_for 30 no_streams || { echo "streams still open: $(streams_open)"; false; }
	# and the relay still streams
	run curl -s --max-time 20 "http://127.0.0.1:$RELAY_BASE/stream/$mid?user_id=tester"
	assert_output --partial '"status":"complete"'
	kill -0 "$(cat "$BATS_FILE_TMPDIR/pid")"
}
