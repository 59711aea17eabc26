# Hardening of the stack chatctl runs (issue 20) against local users and
# hostile HTTP clients: the FastCGI socket is nginx's alone, a stack with
# AUTH_SECRET always has a Redis password, tokens stay out of the access
# log, nothing runs as root, and every answer nginx makes itself is JSON
# with the security headers. Local attackers are run as nobody.

load helpers/stack

SECRET=the-hardening-test-secret-of-t87

setup_file() {
	[ "$(id -u)" -eq 0 ] || skip "these tests start the stack as root and attack it as nobody"
	unset REDIS_PASSWORD REDISCLI_AUTH
	export AUTH_SECRET=$SECRET LIMIT_CONN_PER_IP=256 API_RATE_PER_S=20 API_BURST=100
	stack_up --token-delay-ms 5
	export ALICE
	ALICE=$(chatctl token alice --dir "$STACK_DIR")
	export RUN_USER
	RUN_USER=$(sed -n 's/^RUN_USER=//p' "$STACK_DIR/stack.env")
}

teardown_file() { stack_down; }

as_nobody() { runuser -u nobody -- "$@"; }

# open_path DIR: lets every user traverse DIR and the directories above it,
# as a run directory under /srv or /var/lib could be; remembers the modes.
open_path() {
	local d=$1
	: >"$BATS_TEST_TMPDIR/modes"
	while [ "$d" != / ]; do
		echo "$(stat -c %a "$d") $d" >>"$BATS_TEST_TMPDIR/modes"
		chmod o+x "$d"
		d=$(dirname "$d")
	done
}
restore_path() {
	local mode d
	while read -r mode d; do chmod "$mode" "$d"; done <"$BATS_TEST_TMPDIR/modes"
}

@test "the FastCGI socket is nginx's workers' alone: nobody gets permission denied even through an open path" {
	local sock=$STACK_DIR/chat-fcgi.sock
	open_path "$STACK_DIR"
	run as_nobody curl -sv --max-time 3 --unix-socket "$sock" http://x/api/health
	restore_path
	echo "$output"
	[ "$status" -eq 7 ]
	[[ $output == *"Permission denied"* ]]
	[ "$(stat -c %a "$sock")" = 600 ]
	[ "$(stat -c %U "$sock")" = streamchat ]
	# nginx still reaches it
	run curl -s -o /dev/null -w '%{http_code}' "$API/api/health"
	[ "$output" = 200 ]
}

@test "without REDIS_PASSWORD a stack with AUTH_SECRET gets one: nobody's redis-cli meets NOAUTH, the stack works" {
	local pwfile=$STACK_DIR/etc/redis.password
	[ -s "$pwfile" ]
	[ "$(stat -c '%a %U' "$pwfile")" = "600 root" ]
	[ "$(head -c 64 "$pwfile" | wc -c)" -ge 24 ]
	# alice chats; nobody tries to read her history and take her session
	run chat-cli --url "$API" --token "$ALICE" --session alice-t87 "w1 w2"
	assert_success
	run as_nobody env -u REDISCLI_AUTH redis-cli -p "$REDIS_PORT" lrange "$(key chat:history: "alice-t87")" 0 -1
	[[ $output == *NOAUTH* ]]
	run as_nobody env -u REDISCLI_AUTH redis-cli -p "$REDIS_PORT" hset "$(key stream:session: "alice-t87")" userId nobody
	[[ $output == *NOAUTH* ]]
	[ "$(rcli hget "$(key stream:session: "alice-t87")" userId)" = alice ]
	run curl -s -H "Authorization: Bearer $ALICE" "$API/api/history/alice-t87"
	echo "$output" | jq -e '.messages | length == 2'
	# the password is in no file but root's and the programs' user's
	run as_nobody cat "$pwfile"
	assert_failure
	[ "$(stat -c '%a %G' "$STACK_DIR/etc/redis.conf")" = "640 $RUN_USER" ]
}

@test "tokens in query strings do not reach the access log, which is 0640 in a 0750 directory" {
	local secret=SECRET-OF-T87-$$
	curl -s -o /dev/null "$API/?token=$secret"
	curl -s -o /dev/null "$API/?session_id=s&token=$secret-a&token=$secret-b"
	curl -s -o /dev/null -e "http://127.0.0.1:$HTTP_PORT/?token=$secret-ref" "$API/api/health"
	# a client that still puts its WebSocket token on the URL (chat-cli and
	# the page send it as a header or a subprotocol)
	run python3 "$ROOT/t/helpers/wsc.py" --for 1 "ws://127.0.0.1:$HTTP_PORT/ws/chat?session_id=alice-t87&token=$ALICE"
	assert_line --partial '"type":"welcome"'
	wait_for 10 grep -q "token=\*\*\* HTTP" "$STACK_DIR/log/nginx-access.log"
	wait_for 10 grep -q 'GET /ws/chat?.*token=\*\*\*' "$STACK_DIR/log/nginx-access.log"
	wait_for 10 grep -q 'token=\*\*\*" "curl' "$STACK_DIR/log/nginx-access.log"
	run grep -c -e "$secret" -e "$ALICE" "$STACK_DIR/log/nginx-access.log"
	[ "$output" = 0 ]
	[ "$(stat -c %a "$STACK_DIR/log/nginx-access.log")" = 640 ]
	[ "$(stat -c %a "$STACK_DIR/log/nginx-error.log")" = 640 ]
	[ "$(stat -c %a "$STACK_DIR/log")" = 750 ]
	# every log is the same
	[ -z "$(find "$STACK_DIR/log" -type f -perm /027)" ]
	[ "$(stat -c %a "$STACK_DIR")" = 750 ]
}

@test "as root, every program, Redis and nginx's workers run as the unprivileged user" {
	local name state rest pid n=0 RUN_USER=streamchat
	while read -r name state rest; do
		[ "$state" = RUNNING ] || { echo "$name is $state"; false; }
		pid=$(sctl pid "$name")
		if [ "$name" = nginx ]; then
			local worker
			for worker in $(pgrep -P "$pid"); do
				[ "$(ps -o user= -p "$worker")" = "$RUN_USER" ] || { ps -o user=,cmd= -p "$worker"; false; }
				n=$((n + 1))
			done
		else
			[ "$(ps -o user= -p "$pid")" = "$RUN_USER" ] || { echo "$name"; ps -o user=,cmd= -p "$pid"; false; }
			n=$((n + 1))
		fi
	done < <(sctl status)
	# redis, 4 chat-fcgi, 3 relays, 2 workers, recoverd, at least one nginx worker
	[ "$n" -ge 12 ]
	# the secret is theirs to read and no one else's
	[ "$(stat -c '%a %G' "$STACK_DIR/etc/auth.secret")" = "640 $RUN_USER" ]
	run as_nobody cat "$STACK_DIR/etc/auth.secret"
	assert_failure
	run chat-cli --url "$API" --token "$ALICE" --session alice-user "still works"
	assert_success
}

# raw REQUEST: sends bytes curl would not, prints the answer
raw() { printf "$1" | /usr/bin/python3 "$ROOT/t/helpers/raw-http.py" 127.0.0.1 "$HTTP_PORT" >"$BATS_TEST_TMPDIR/answer"; }

# answer_is STATUS: the answer in $BATS_TEST_TMPDIR/answer has the status,
# JSON with an error code as its body and type, and the security headers
answer_is() {
	local a=$BATS_TEST_TMPDIR/answer head body
	head=$(sed '/^\r$/q' "$a")
	body=$(sed '1,/^\r$/d' "$a")
	echo "$head" | head -n 1 | grep -q "^HTTP/1.1 $1 " || { echo "want $1: $(head -n 1 "$a")"; return 1; }
	echo "$head" | grep -qi '^Content-Type: application/json' || { echo "not JSON: $head"; return 1; }
	echo "$body" | jq -e '.error.code | strings' >/dev/null || { echo "body: $body"; return 1; }
	local h
	for h in "Content-Security-Policy: default-src 'self'" "X-Content-Type-Options: nosniff" \
		 "Referrer-Policy: no-referrer" "X-Frame-Options: DENY"; do
		[ "$(echo "$head" | grep -ci "^$h")" = 1 ] || { echo "no single '$h': $head"; return 1; }
	done
}

@test "every error nginx answers itself is JSON with the security headers" {
	local long
	long=$(head -c 9000 /dev/zero | tr '\0' a)
	local -a cases=(
		"400|POST /api/chat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
		"400|POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"
		"400|POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
		"400|get /api/health HTTP/1.1\r\nHost: x\r\n\r\n"
		"400|post /api/chat HTTP/1.1\r\nHost: x\r\n\r\n"
		"405|TRACE / HTTP/1.1\r\nHost: x\r\n\r\n"
		"400|CONNECT 127.0.0.1:80 HTTP/1.1\r\nHost: x\r\n\r\n"
		"414|GET /api/health?x=$long HTTP/1.1\r\nHost: x\r\n\r\n"
		"400|GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: $long\r\n\r\n"
		"400|GET /api/health HTTP/1.1\r\n\r\n"
		"501|POST /api/chat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"
		"505|GET / HTTP/2.0\r\nHost: x\r\n\r\n"
		"404|GET /api HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
		"404|GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
		"404|GET /nothing-here.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
		"404|GET /nothing-here.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
		"400|GET /x/../index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
		"404|GET /_error/400 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	)
	local c failed=0
	for c in "${cases[@]}"; do
		raw "${c#*|}"
		answer_is "${c%%|*}" || { echo "  for: ${c#*|}" | cut -c1-120; failed=$((failed + 1)); }
	done
	[ "$failed" = 0 ]
	# the page itself keeps its types, and a Range gets the whole page
	run curl -s -D - -o /dev/null -H 'Range: bytes=99999-' "$API/app.css"
	echo "$output" | grep -q '^HTTP/1.1 200'
	echo "$output" | grep -qi '^Content-Type: text/css'
	# and the answers of the API (as chat-fcgi gave them) are not rewritten
	run curl -s -w ' %{http_code}' "$API/api/nothing"
	[[ $output == *'"not_found"'*' 404' ]]
	run curl -s "$API/api/health"
	echo "$output" | jq -e '.status == "ok"'
}

@test "nginx's 429 keeps the security headers and says Retry-After" {
	local i code
	# a burst of 100 from one process on one connection, then the answer
	# looked at: a loop of one curl each is too slow on a loaded machine
	# to pass the limit
	local -a burst
	for ((i = 0; i < 100; i++)); do burst+=("$API/api/health"); done
	for ((i = 0; i < 20; i++)); do
		curl -s -o /dev/null "${burst[@]}"
		code=$(curl -s -D "$BATS_TEST_TMPDIR/head" -o "$BATS_TEST_TMPDIR/body" -w '%{http_code}' "$API/api/health")
		[ "$code" = 429 ] && break
	done
	[ "$code" = 429 ]
	{ cat "$BATS_TEST_TMPDIR/head"; cat "$BATS_TEST_TMPDIR/body"; } >"$BATS_TEST_TMPDIR/answer"
	answer_is 429
	grep -qi '^Retry-After: 1' "$BATS_TEST_TMPDIR/head"
	wait_for 15 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $API/api/health)\" = 200 ]"
}

@test "the next up of the same run directory reuses its Redis password, and history survives" {
	local before
	before=$(cat "$STACK_DIR/etc/redis.password")
	chatctl down --dir "$STACK_DIR" >/dev/null
	chatctl up --dir "$STACK_DIR" --http-port "$HTTP_PORT" --redis-port "$REDIS_PORT" \
		--relay-port-base "$RELAY_BASE" --token-delay-ms 5 >"$STACK_DIR/up2.log" 2>&1 ||
		{ cat "$STACK_DIR/up2.log"; false; }
	[ "$(cat "$STACK_DIR/etc/redis.password")" = "$before" ]
	[ "$(grep -c '^requirepass' "$STACK_DIR/etc/redis.conf")" = 1 ]
	run curl -s -H "Authorization: Bearer $ALICE" "$API/api/history/alice-t87"
	echo "$output" | jq -e '.messages | length == 2'
	run as_nobody env -u REDISCLI_AUTH redis-cli -p "$REDIS_PORT" ping
	[[ $output == *NOAUTH* ]]
}

# a second, small stack for the tests below: its ports and directory
other_stack() {
	local base
	base=$(free_ports 4) || return 1
	OTHER_PORTS=(--http-port "$base" --redis-port $((base + 1)) --relay-port-base $((base + 2)) --relays 1 --streamers 1)
	OTHER_API=http://127.0.0.1:$base OTHER_RELAY=$((base + 2))
}

# tree_users PID: the users of PID and of all its descendants, one each
tree_users() {
	local p=$1 c
	ps -o user= -p "$p"
	for c in $(pgrep -P "$p"); do tree_users "$c"; done
}

@test "run by another user than root, chatctl runs everything as that user, as before" {
	as_nobody test -x "$ROOT/bin/ws-relay" || skip "nobody cannot read $ROOT"
	other_stack
	local dir
	dir=$(mktemp -d /tmp/t87-nobody.XXXXXX)
	chown nobody "$dir"
	run as_nobody env -u AUTH_SECRET HOME="$dir" "$ROOT/bin/chatctl" up --dir "$dir/run" "${OTHER_PORTS[@]}"
	echo "$output"
	local ok=$status
	local users n
	users=$(tree_users "$(cat "$dir/run/supervisord.pid")" | sort -u)
	n=$(tree_users "$(cat "$dir/run/supervisord.pid")" | wc -l)
	as_nobody "$ROOT/bin/chatctl" down --dir "$dir/run" >/dev/null
	rm -rf "$dir"
	[ "$ok" = 0 ]
	[ "$users" = nobody ]
	# supervisord, redis, chat-fcgi, a relay, a worker, recoverd, nginx and its worker
	[ "$n" -ge 8 ]
}

@test "a repository the programs' user cannot read is copied into the run directory" {
	other_stack
	local repo=$BATS_TEST_TMPDIR/hidden/repo dir
	mkdir -p "$repo/bin" "$repo/etc"
	chmod 700 "$BATS_TEST_TMPDIR/hidden"
	cp -R "$ROOT/share" "$repo/"
	cp "$ROOT"/bin/{chatctl,chat-fcgi,ws-relay,ai-streamer,recoverd,archiver,chat-cli} "$repo/bin/"
	cp "$ROOT"/etc/* "$repo/etc/"
	cp "$ROOT/nginx.conf" "$repo/"
	dir=$(mktemp -d "${STREAMCHAT_TEST_ROOT:-/tmp}/copied.XXXXXX")
	run "$repo/bin/chatctl" up --dir "$dir" "${OTHER_PORTS[@]}"
	echo "$output"
	local ok=$status relay_exe
	relay_exe=$(readlink "/proc/$(supervisorctl -c "$dir/etc/supervisord.conf" pid "ws-relay:ws-relay-$OTHER_RELAY")/exe" || true)
	local page
	page=$(curl -s "$OTHER_API/" | grep -c '<html' || true)
	"$repo/bin/chatctl" down --dir "$dir" >/dev/null
	rm -rf "$dir/redis" "$dir/nginx"
	[ "$ok" = 0 ]
	[[ $output == *"copy in $dir/bin"* ]]
	[ "$relay_exe" = "$dir/bin/ws-relay" ]
	[ "$page" -ge 1 ]
}

@test "compose's nginx (etc/nginx.compose.conf) masks tokens and answers errors as JSON with the headers" {
	local port d=$BATS_TEST_TMPDIR/compose-nginx
	port=$(free_ports 1)
	mkdir -p "$d/logs"
	cp "$ROOT"/etc/nginx.{log,headers,errors}.conf "$d/"
	# the services' names resolve only in compose: point them at a closed port
	sed -e 's/chat-fcgi:9000/127.0.0.1:1/g' -e 's/ws-relay:8081/127.0.0.1:1/' \
	    -e "s/listen 8080;/listen 127.0.0.1:$port;/" -e "s|/var/log/nginx/access.log|$d/logs/access.log|" \
	    -e 's/worker_connections 65536/worker_connections 512/' \
	    "$ROOT/etc/nginx.compose.conf" >"$d/nginx.conf"
	nginx -p "$d" -e "$d/logs/error.log" -c "$d/nginx.conf" -g "pid $d/nginx.pid;"
	HTTP_PORT=$port raw "get / HTTP/1.1\r\nHost: x\r\n\r\n"
	local a1=0 a2=0
	answer_is 400 || a1=1
	HTTP_PORT=$port raw "GET /api/health?session_id=s&token=SECRET-COMPOSE HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	answer_is 503 || a2=1
	local pid
	pid=$(cat "$d/nginx.pid")
	kill -QUIT "$pid"
	wait_for 10 bash -c "! kill -0 $pid 2>/dev/null"
	[ "$a1" = 0 ]
	[ "$a2" = 0 ]
	grep -q 'token=\*\*\*' "$d/logs/access.log"
	! grep -q SECRET-COMPOSE "$d/logs/access.log" || false
}
