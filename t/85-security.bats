# Authentication, ownership, limits and hostile input (issue 6), on a stack
# with AUTH_SECRET, a Redis password, an Origin allow-list and the
# production limits: nothing gets in where it does not belong, bad input is
# refused with a clear error and hurts only its own request or socket.

load helpers/stack

SECRET=this-is-the-test-secret-of-t85

setup_file() {
	export AUTH_SECRET=$SECRET REDIS_PASSWORD=t85-redis-password ALLOWED_ORIGINS=http://allowed.example
	export CHAT_PER_MIN=10 STREAMS_PER_USER=3 LIMIT_CONN_PER_IP=256 API_RATE_PER_S=20 API_BURST=100
	stack_up --token-delay-ms 20
	export REDISCLI_AUTH=$REDIS_PASSWORD
	export ALICE BOB
	ALICE=$(chatctl token alice --dir "$STACK_DIR")
	BOB=$(chatctl token bob --dir "$STACK_DIR")
	# alice's conversation, which bob will try to reach
	body='{"session_id":"alice-s","message":"w1 w2 w3"}'
	run curl -sf -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' -d "$body" "$API/api/chat"
	export ALICE_MID
	ALICE_MID=$(echo "$output" | jq -r .message_id)
	[ -n "$ALICE_MID" ] && [ "$ALICE_MID" != null ]
}

teardown_file() { stack_down; }

# as TOKEN METHOD PATH [BODY]: "STATUS BODY", with the token as bearer (none if empty)
as() {
	local out tok=$1
	shift
	out=$(curl -s -o "$BATS_TEST_TMPDIR/body" -D "$BATS_TEST_TMPDIR/head" -w '%{http_code}' -X "$1" \
		${tok:+-H "Authorization: Bearer $tok"} -H 'Content-Type: application/json' \
		${3:+--data-binary "$3"} "$API$2")
	echo "$out $(cat "$BATS_TEST_TMPDIR/body")"
}

b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
# a token signed with KEY over the given header and claims, as a JWT library would
forge() {
	local h p s
	h=$(printf '%s' "$1" | b64url)
	p=$(printf '%s' "$2" | b64url)
	s=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -hmac "$3" -binary | b64url)
	echo "$h.$p.$s"
}

ws_url() { echo "ws://127.0.0.1:$HTTP_PORT/ws/chat"; }

@test "the programs say they require tokens in their first log line" {
	grep -q 'msg="started".*auth=jwt-hs256' "$STACK_DIR/log/chat-fcgi.log"
	grep -q 'msg="started".*auth=jwt-hs256' "$STACK_DIR/log/ws-relay-$RELAY_BASE.log"
	! grep -q 'development mode' "$STACK_DIR/log/chat-fcgi.log" || false
}

@test "no token, a wrong signature, alg none and an expired token all get 401 on every /api route" {
	local exp=$(( $(date +%s) + 3600 ))
	local wrong none expired
	wrong=$(forge '{"alg":"HS256","typ":"JWT"}' '{"sub":"alice","exp":'$exp'}' not-the-secret-at-all)
	none="$(printf '{"alg":"none","typ":"JWT"}' | b64url).$(printf '{"sub":"alice","exp":%s}' $exp | b64url)."
	expired=$(chatctl token alice --ttl -120 --dir "$STACK_DIR")
	for tok in "" "$wrong" "$none" "$expired" "garbage"; do
		for req in "POST /api/chat {\"session_id\":\"alice-s\",\"message\":\"hi\"}" \
			   "GET /api/history/alice-s" "GET /api/stream/$ALICE_MID" \
			   "POST /api/cancel {\"session_id\":\"alice-s\",\"message_id\":\"$ALICE_MID\"}"; do
			set -- $req
			run as "$tok" "$1" "$2" "${3:-}"
			[[ $output == "401 "* ]] || { echo "token '$tok' $req: $output"; false; }
			echo "${output#401 }" | jq -e '.error.code == "unauthorized"' >/dev/null
			grep -qi '^WWW-Authenticate: Bearer' "$BATS_TEST_TMPDIR/head"
		done
	done
	# the health checks stay open to load balancers
	run as "" GET /api/health
	[[ $output == "200 "* ]]
	# a token forged with the right secret by an independent signer is accepted
	run as "$(forge '{"alg":"HS256","typ":"JWT"}' '{"sub":"alice","exp":'$exp'}' "$SECRET")" \
		GET /api/history/alice-s
	[[ $output == "200 "* ]]
	# and none of the refused requests changed anything
	[ "$(rcli llen "$(key chat:history: "alice-s")")" -le 2 ]
}

@test "the WebSocket closes 4401 without a valid token" {
	local exp=$(( $(date +%s) + 3600 ))
	local none="$(printf '{"alg":"none"}' | b64url).$(printf '{"sub":"alice","exp":%s}' $exp | b64url)."
	for tok in "$none" "$(chatctl token alice --ttl -120 --dir "$STACK_DIR")" \
		   "$(forge '{"alg":"HS256"}' '{"sub":"alice","exp":'$exp'}' wrong-secret-wrong-secret)"; do
		run chat-cli --url "$API" --token "$tok" --session alice-s --watch --no-reconnect --timeout 5
		[ "$status" -eq 7 ] && [[ $output == *"4401"* ]] || { echo "$output"; false; }
	done
	run chat-cli --url "$API" --session alice-s --user alice --watch --no-reconnect --timeout 5
	[ "$status" -eq 7 ] && [[ $output == *"4401"* ]]
}

@test "another user's session gets 403 on history, stream, chat and cancel, and 4403 on the WebSocket" {
	run as "$BOB" GET /api/history/alice-s
	[[ $output == "403 "* ]]
	run as "$BOB" GET "/api/stream/$ALICE_MID"
	[[ $output == "403 "* ]]
	run as "$BOB" POST /api/chat '{"session_id":"alice-s","message":"let me in"}'
	[[ $output == "403 "* ]]
	run as "$BOB" POST /api/cancel '{"session_id":"alice-s","message_id":"'"$ALICE_MID"'"}'
	[[ $output == "403 "* ]]
	# naming alice in the body or the query does not help bob
	run as "$BOB" POST /api/chat '{"session_id":"alice-s","user_id":"alice","message":"me"}'
	[[ $output == "403 "* ]]
	run as "$BOB" GET "/api/history/alice-s?user_id=alice"
	[[ $output == "403 "* ]]
	run chat-cli --url "$API" --token "$BOB" --session alice-s --watch --no-reconnect --timeout 5 --raw
	[ "$status" -eq 7 ] && [[ $output == *"4403"* ]]
	# bob saw no frame of alice's (not even welcome)
	! echo "$output" | grep -q '"type"' || false
	# alice herself reads it all
	run as "$ALICE" GET /api/history/alice-s
	[[ $output == "200 "* ]]
	[ "$(rcli hget "$(key stream:session: "alice-s")" userId)" = alice ]
}

@test "a listener who opens an empty session first owns it: another user cannot stream into it" {
	chat-cli --url "$API" --token "$BOB" --session bob-first --watch --timeout 20 --raw \
		>"$BATS_TEST_TMPDIR/bob.out" 2>&1 3>&- &
	local p=$!
	wait_for 5 bash -c "[ \"\$(REDISCLI_AUTH=$REDIS_PASSWORD rcli hget '$(key stream:session: "bob-first")' userId)\" = bob ]"
	run as "$ALICE" POST /api/chat '{"session_id":"bob-first","message":"for bob?"}'
	[[ $output == "403 "* ]]
	kill "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	! grep -q '"chunk"' "$BATS_TEST_TMPDIR/bob.out" || false
}

@test "a body over 1 MB gets 413 as JSON, and a message over the limit too" {
	head -c 2000000 /dev/zero | tr '\0' a > "$BATS_TEST_TMPDIR/huge"
	status=$(curl -s -o "$BATS_TEST_TMPDIR/b" -w '%{http_code}' -X POST -H "Authorization: Bearer $ALICE" \
		--data-binary @"$BATS_TEST_TMPDIR/huge" "$API/api/chat")
	[ "$status" = 413 ]
	jq -e '.error.code == "too_large"' "$BATS_TEST_TMPDIR/b"
	big=$(head -c 20000 /dev/zero | tr '\0' a)
	run as "$ALICE" POST /api/chat '{"session_id":"alice-big","message":"'"$big"'"}'
	[[ $output == "413 "* ]]
	[ "$(rcli exists "$(key chat:history: "alice-big")")" = 0 ]
}

@test "path tricks in ids get 400" {
	for p in "/api/history/..%2F..%2Fetc%2Fpasswd" "/api/history/a%00b" "/api/history/a%20b" \
		 "/api/stream/..%2Fx" "/api/stream/a.b" "/api/history/$(printf 'x%.0s' {1..65})"; do
		run as "$ALICE" GET "$p"
		[[ $output == "400 "* ]] || { echo "$p: $output"; false; }
	done
	run as "$ALICE" POST /api/chat '{"session_id":"../alice-s","message":"hi"}'
	[[ $output == "400 "* ]]
	run as "$ALICE" POST /api/cancel '{"session_id":"alice-s","message_id":"../../x"}'
	[[ $output == "400 "* ]]
	run build_poke "/ws/chat?session_id=..%2Fx&token=$ALICE" text '{"type":"ping"}'
	[[ $output == "close 4400"* ]]
}

build_poke() { "$ROOT/build/ws-poke" 127.0.0.1 "$HTTP_PORT" "$@"; }

@test "non-JSON, binary, truncated, fragmented-huge and 3 MB frames, and floods, close only their own socket" {
	chat-cli --url "$API" --token "$ALICE" --session alice-watch "$(words 60)" --timeout 30 \
		>"$BATS_TEST_TMPDIR/bystander" 2>&1 3>&- &
	local p=$!
	local path="/ws/chat?session_id=poke&token=$ALICE"
	run build_poke "$path" text 'not json at all'
	[[ $output == "close 4400"* ]]
	run build_poke "$path" text '{"type":"ping"'
	[[ $output == "close 4400"* ]]
	run build_poke "$path" text '{"type":"reconnect","messageId":"../x","lastChunkIndex":1}'
	[[ $output == "close 4400"* ]]
	run build_poke "$path" text $'{"type":"ping","x":"\xff\xfe"}'
	[[ $output == "close 1007"* || $output == "close 4400"* ]]
	run build_poke "$path" binary
	[[ $output == "close 4400"* ]]
	# past the limit the relay closes while the client still writes: its
	# close frame may be lost to the reset that the unread bytes cause
	run build_poke "$path" fragments 100
	[[ $output == "close 1009"* || $output == "close 1006"* ]]
	run build_poke "$path" big 3000000
	[[ $output == "close 1009"* || $output == "close 1006"* ]]
	run build_poke "$path" flood 200
	[[ $output == "close 1008"* ]]
	# an unknown type is answered, not punished
	run build_poke "$path" text '{"type":"dance"}'
	[ "$output" = open ]
	# the chat on another socket of the same user went on untouched
	wait "$p"
	[ "$(cat "$BATS_TEST_TMPDIR/bystander")" = "$(TOKEN_DELAY_MS=0 ai-streamer --once "$(words 60)")" ]
}

@test "a burst of chats from one user meets 429 with Retry-After: streams at once, then per minute" {
	local ALICE BOB
	ALICE=$(chatctl token carol --dir "$STACK_DIR")  # a user with nothing streaming
	BOB=$(chatctl token dave --dir "$STACK_DIR")
	# three long replies stream; a fourth is refused until one ends
	for i in 1 2 3; do
		run as "$ALICE" POST /api/chat '{"session_id":"burst-'$i'","message":"'"$(words 200)"'"}'
		[[ $output == "202 "* ]] || { echo "$output"; false; }
	done
	run as "$ALICE" POST /api/chat '{"session_id":"burst-4","message":"one too many"}'
	[[ $output == "429 "* ]]
	echo "${output#429 }" | jq -e '.error.code == "rate_limited"'
	grep -qi '^Retry-After: [0-9]' "$BATS_TEST_TMPDIR/head"
	# bob is not alice: his chat goes through
	run as "$BOB" POST /api/chat '{"session_id":"bob-1","message":"hi"}'
	[[ $output == "202 "* ]]
	for i in 1 2 3; do
		run as "$ALICE" POST /api/cancel '{"session_id":"burst-'$i'","message_id":"'"$(rcli hget "$(key stream:session: "burst-$i")" messageId)"'"}'
	done
	# CHAT_PER_MIN=10: within any 21 requests in a minute at most 20 pass
	# (two fixed windows), so the burst must meet 429
	local ok=0 limited=0
	for i in $(seq 1 21); do
		run as "$ALICE" POST /api/chat '{"session_id":"rate-'$i'","message":"hi"}'
		case $output in
		"202 "*) ok=$((ok + 1)); wait_for 10 bash -c "[ \"\$(REDISCLI_AUTH=$REDIS_PASSWORD rcli hget '$(key stream:session: "rate-$i")' status)\" = complete ]" ;;
		"429 "*) limited=$((limited + 1))
			 grep -qi '^Retry-After: [1-9]' "$BATS_TEST_TMPDIR/head"
			 echo "${output#429 }" | jq -e '.error.message | test("minute")' >/dev/null ;;
		*) echo "unexpected: $output"; false ;;
		esac
	done
	echo "# $ok accepted, $limited limited" >&3
	[ "$limited" -ge 1 ] && [ "$ok" -le 20 ]
	# refused requests wrote nothing
	for i in $(seq 1 21); do
		[ "$(rcli exists "$(key chat:history: "rate-$i")")" = 1 ] || [ "$(rcli exists "$(key stream:session: "rate-$i")")" = 0 ]
	done
}

@test "a WebSocket from a foreign Origin is refused; the allowed one and the page's own are not" {
	local q="session_id=origin&token=$ALICE"
	upgrade() {
		curl -s -o /dev/null -w '%{http_code}' --max-time 3 -H "Origin: $1" -H 'Connection: Upgrade' \
			-H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
			-H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$API/ws/chat?$q" || true
	}
	[ "$(upgrade http://evil.example)" = 403 ]
	[ "$(upgrade "http://127.0.0.1:$HTTP_PORT.evil.example")" = 403 ]
	[ "$(upgrade http://allowed.example)" = 101 ]
	[ "$(upgrade "http://127.0.0.1:$HTTP_PORT")" = 101 ]
}

@test "the page is served with a CSP without inline script, nosniff and a referrer policy" {
	run curl -s -D - -o /dev/null "$API/"
	echo "$output" | grep -i '^Content-Security-Policy:' | grep -q "script-src 'self';"
	! echo "$output" | grep -i '^Content-Security-Policy:' | grep -q "unsafe-inline" || false
	echo "$output" | grep -qi '^X-Content-Type-Options: nosniff'
	echo "$output" | grep -qi '^Referrer-Policy: no-referrer'
}

@test "Redis refuses clients without the password, and listens on loopback only" {
	run env -u REDISCLI_AUTH redis-cli -p "$REDIS_PORT" get x
	[[ $output == *NOAUTH* ]]
	run ss -Htln "sport = :$REDIS_PORT"
	! echo "$output" | grep -vq '127.0.0.1\|\[::1\]' || false
}

@test "nginx answers a flood from one address with 429 as JSON" {
	urls=()
	for i in $(seq 1 300); do urls+=("$API/api/health"); done
	run curl -s -w '\n%{http_code}\n' "${urls[@]}"
	echo "$output" | grep -q '^429$'
	echo "$output" | grep -q '"code":"rate_limited"'
	# the bucket refills at 20/s
	wait_for 10 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $API/api/health)\" = 200 ]"
}

@test "after all of it the stack is healthy and alice's chat works" {
	wait_for 10 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $API/api/health)\" = 200 ]"
	# one request through is one token back in a bucket the flood left full:
	# let it drain (100 at 20/s) before a chat that makes several requests
	sleep 5
	run chat-cli --url "$API" --token "$ALICE" --session alice-after "still fine"
	assert_success
	run chatctl status --dir "$STACK_DIR"
	assert_success
}
