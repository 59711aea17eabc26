# Hardening of the API against local and network attackers (issue 20): a
# hostile peer of the FastCGI socket, a history read that would make Redis
# copy a whole session, the owner check in development mode, and a Redis
# password with reserved characters that must never be printed.

load helpers/stack

POKE=$ROOT/t/helpers/fcgi-poke.py

setup_file() {
	stack_up --token-delay-ms 5
	export SOCK
	SOCK=$(sed -n 's|^socket=unix://||p' "$STACK_DIR/etc/supervisord.conf")
	[ -S "$SOCK" ]
}

teardown_file() { stack_down; }

# a Redis a test started of its own, if that test failed before it stopped it
teardown() {
	[ ! -f "$BATS_TEST_TMPDIR/redis.pid" ] || kill "$(cat "$BATS_TEST_TMPDIR/redis.pid")" 2>/dev/null || true
}

# peer ARGS...: fcgi-poke.py as an unprivileged user when that user can reach
# the socket (the stack's directory may keep it out), else as root
peer() {
	if runuser -u nobody -- python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' "$SOCK" 2>/dev/null; then
		runuser -u nobody -- python3 "$POKE" "$SOCK" "$@"
	else
		python3 "$POKE" "$SOCK" "$@"
	fi
}

fcgi_pids() { sctl status 'chat-fcgi:*' | awk '/RUNNING/ { print $4 }' | tr -d , | sort | tr '\n' ' '; }

@test "a well-formed raw FastCGI request is answered" {
	run peer get 10
	assert_output 'Status: 200 OK'
}

@test "PARAMS announcing a name of 2 GB: every chat-fcgi stays up, allocates nothing, /api answers" {
	local before i
	before=$(fcgi_pids)
	[ "$(echo $before | wc -w)" -ge 2 ]
	# Debian 12's libfcgi aborts on this one (a failed malloc) ...
	for i in 1 2 3 4 5 6; do
		run peer bigname 10
		assert_output --regexp '^closed after'
	done
	assert_equal "$(fcgi_pids)" "$before"
	! grep -q 'Assertion' "$STACK_DIR/log/chat-fcgi.log" || false
	# ... and allocates 2 GB for this one, then waits for them to arrive
	run peer bigalloc 20
	assert_output --regexp '^closed after [0-9]\.'
	assert_equal "$(fcgi_pids)" "$before"
	run curl -s -m 10 -o /dev/null -w '%{http_code}' "$API/api/health"
	assert_output 200
}

@test "four peers that stall mid-body do not keep /api from answering" {
	local i t0 t1
	for i in 1 2 3 4; do
		peer stall 40 >"$BATS_TEST_TMPDIR/stall-$i" 2>&1 &
	done
	sleep 1
	t0=$(date +%s)
	run curl -s -m 25 -o /dev/null -w '%{http_code}' "$API/api/health"
	t1=$(date +%s)
	assert_output 200
	[ $((t1 - t0)) -le 15 ]
	wait
	for i in 1 2 3 4; do
		run cat "$BATS_TEST_TMPDIR/stall-$i"
		assert_output --regexp '^closed after'
	done
}

# fill_history SESSION N BYTES: N stored messages of BYTES bytes each, tester's
fill_history() {
	rcli eval "
		local pad = string.rep('x', tonumber(ARGV[2]))
		for i = 1, tonumber(ARGV[1]) do
			redis.call('RPUSH', KEYS[1], string.format(
				'{\"message_id\":\"%012x%020d\",\"role\":\"user\",\"content\":\"%s\",\"status\":\"complete\",\"created_at\":%d}',
				i, i, pad, i))
		end
		redis.call('HSET', KEYS[2], 'userId', 'tester')
		return redis.call('LLEN', KEYS[1])" 2 "$(key chat:history: "$1")" "$(key stream:session: "$1")" "$2" "$3"
}
redis_bytes_out() { rcli info stats | tr -d '\r' | sed -n 's/^total_net_output_bytes://p'; }

@test "history?limit=1 of 1,000 messages of 16 KB costs Redis one message, not the session" {
	local before after i
	run fill_history big 1000 16000
	assert_output 1000
	before=$(redis_bytes_out)
	for i in 1 2 3 4 5; do
		run curl -sf "$API/api/history/big?user_id=tester&limit=1"
		assert_success
		[ "$(echo "$output" | jq -r '[.messages[].message_id] | join(",")')" = "$(printf '%012x%020d' 1000 1000)" ]
	done
	after=$(redis_bytes_out)
	echo "Redis sent $((after - before)) bytes for 5 requests" >&3
	# the whole history would be 16 MB a request
	[ $((after - before)) -lt $((1024 * 1024)) ]
}

# page_all SESSION LIMIT: the ids of every page read back with before, oldest first
page_all() {
	local pages=0 before="" page out=""
	while [ $pages -lt 1000 ]; do
		page=$(curl -sf "$API/api/history/$1?user_id=tester&limit=$2${before:+&before=$before}" |
			jq -r '.messages[].message_id') || return 1
		[ -n "$page" ] || break
		out=$page${out:+$'\n'$out}
		before=$(echo "$page" | head -1)
		pages=$((pages + 1))
	done
	echo "$out"
}

@test "paging back with before returns exactly the stored messages, in order, at any limit" {
	local expected limit
	run fill_history pg 200 100
	assert_output 200
	expected=$(rcli lrange "$(key chat:history: "pg")" 0 -1 | jq -r .message_id)
	for limit in 1 7 55 56 57 63 64 65 100 199 200 1000; do
		run page_all pg $limit
		assert_success
		assert_equal "$output" "$expected"
	done
	# a page that ends at the 70th message, whatever the step it is found in
	run curl -sf "$API/api/history/pg?user_id=tester&limit=3&before=$(printf '%012x%020d' 70 70)"
	assert_equal "$(echo "$output" | jq -r '[.messages[].created_at] | join(",")')" 67,68,69
	# before the first message: nothing; a message not in the history: the newest page, as ever
	run curl -sf "$API/api/history/pg?user_id=tester&limit=3&before=$(printf '%012x%020d' 1 1)"
	assert_equal "$(echo "$output" | jq -c .messages)" '[]'
	run curl -sf "$API/api/history/pg?user_id=tester&limit=3&before=0123456789abcdef0123456789abcdef"
	assert_equal "$(echo "$output" | jq -r '[.messages[].created_at] | join(",")')" 198,199,200
}

@test "development mode: history, stream and cancel need user_id (400), and another's get 403" {
	local mid
	mid=$(post_chat own1 "$(words 150)" alice)
	[ -n "$mid" ] && [ "$mid" != null ]
	run api GET /api/history/own1
	assert_output --regexp '^400 .*"code":"invalid_request".*user_id is required'
	run api GET "/api/stream/$mid"
	assert_output --regexp '^400 .*user_id is required'
	run api POST /api/cancel '{"session_id":"own1","message_id":"'"$mid"'"}'
	assert_output --regexp '^400 .*user_id is required'
	run api GET /api/history/own1?user_id=bob
	assert_output --regexp '^403 '
	run api GET "/api/stream/$mid?user_id=bob"
	assert_output --regexp '^403 '
	run api POST /api/cancel '{"session_id":"own1","user_id":"bob","message_id":"'"$mid"'"}'
	assert_output --regexp '^403 '
	run api GET "/api/history/own1?user_id=alice"
	assert_output --regexp '^200 '
	# nothing was cancelled: the reply runs to its end
	wait_for 30 bash -c "[ \"\$(redis-cli -p $REDIS_PORT hget '$(key stream:meta: "$mid")' status)\" = complete ]"
}

# A Redis of its own with a password that holds '/', '@' and ':'.
start_redis_with_password() {
	export PW_PORT
	PW_PORT=$(free_ports 1)
	redis-server --port "$PW_PORT" --bind 127.0.0.1 --save '' --appendonly no \
		--requirepass 'se/cr@t:pw-86' --daemonize yes --pidfile "$BATS_TEST_TMPDIR/redis.pid" \
		--logfile "$BATS_TEST_TMPDIR/redis.log" 3>&-
	wait_for 10 redis-cli -p "$PW_PORT" --no-auth-warning -a 'se/cr@t:pw-86' ping
}

@test "a Redis password with '/', '@' and ':', as it is or escaped, gets the programs in" {
	local url sock pid
	start_redis_with_password
	for url in "redis://:se/cr@t:pw-86@127.0.0.1:$PW_PORT/0" \
		   "redis://:se%2Fcr%40t%3Apw-86@127.0.0.1:$PW_PORT/0"; do
		sock=$BATS_TEST_TMPDIR/api.sock
		REDIS_URL=$url chat-fcgi --listen "$sock" 2>"$BATS_TEST_TMPDIR/fcgi.log" 3>&- &
		pid=$!
		wait_for 10 test -S "$sock"
		run python3 "$POKE" "$sock" get 10
		kill "$pid"
		wait "$pid" || true
		assert_output 'Status: 200 OK'
		! grep -q 'se/cr\|pw-86' "$BATS_TEST_TMPDIR/fcgi.log" || false
	done
}

@test "a REDIS_URL that does not parse is named in the fatal line with its password masked" {
	local p
	for p in chat-fcgi ws-relay ai-streamer recoverd; do
		REDIS_URL='redis://app:hunter2%zz/x@127.0.0.1:1/0' run timeout 10 "$p"
		assert_failure 100
		assert_output --partial 'REDIS_URL=redis://app:***@127.0.0.1:1/0'
		refute_output --partial hunter2
		REDIS_URL='redis://:hunter2/x@127.0.0.1:99999/0' run timeout 10 "$p"
		assert_failure 100
		assert_output --partial 'port must be'
		refute_output --partial hunter2
	done
}
