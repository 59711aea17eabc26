# chatctl up as an operator meets it (issue 21): it fails loudly and fast
# (ports checked before anything starts, a program that cannot start named
# with its one fatal line, nothing left behind), status tells its own stack
# from another on its ports, a stack once locked stays locked, and nginx can
# listen elsewhere, speak TLS (HTTPS and WSS) and see clients behind proxies.

load helpers/stack

setup_file() {
	unset AUTH_SECRET AUTH_SECRET_FILE REDIS_PASSWORD REDISCLI_AUTH
	stack_up --relays 1 --streamers 1
}

teardown_file() {
	stack_down
	local d
	for d in "${STREAMCHAT_TEST_ROOT:-/tmp}"/t76.*; do
		[ -d "$d/run" ] && chatctl down --dir "$d/run" >/dev/null 2>&1
		[ -d "$d/run2" ] && chatctl down --dir "$d/run2" >/dev/null 2>&1
		rm -rf "$d"
	done
	return 0
}

wsc() { python3 "$ROOT/t/helpers/wsc.py" "$@"; }

# A directory for another stack and free ports for it: exports T (the
# directory, with run/ in it), P (HTTP), R (Redis), Q (the one relay), S
# (HTTPS) and PORTS, the options that give them.
other() {
	local base
	base=$(free_ports 4) || return 1
	T=$(mktemp -d "${STREAMCHAT_TEST_ROOT:-/tmp}/t76.XXXXXX")
	P=$base R=$((base + 1)) Q=$((base + 2)) S=$((base + 3))
	PORTS=(--http-port "$P" --redis-port "$R" --relay-port-base "$Q" --relays 1 --streamers 1)
}

# up_timed DIR OPTIONS...: chatctl up; sets status, output and took (seconds)
up_timed() {
	local dir=$1 t0
	shift
	t0=$(date +%s%N)
	run chatctl up --dir "$dir" "$@"
	took=$((($(date +%s%N) - t0) / 1000000000))
	echo "$output (rc $status, ${took} s)"
}

# nothing of a stack in DIR is left running
nothing_left() {
	[ ! -e "$1/supervisord.pid" ]
	! pgrep -f "$1/" >/dev/null || false
}

@test "a port in use (HTTP, Redis, a relay) fails up within 10 s, naming the port, and starts nothing" {
	other
	local what port
	for what in http redis relay; do
		case $what in
		http) port=$HTTP_PORT; up_timed "$T/run" "${PORTS[@]}" --http-port "$port" ;;
		redis) port=$REDIS_PORT; up_timed "$T/run" "${PORTS[@]}" --redis-port "$port" ;;
		relay) port=$RELAY_BASE; up_timed "$T/run" "${PORTS[@]}" --relay-port-base "$port" ;;
		esac
		[ "$status" -ne 0 ]
		[[ $output == *"port $port is in use"* ]]
		[ "$took" -lt 10 ]
		nothing_left "$T/run"
	done
	# the stack that holds them was not touched
	run chatctl status --dir "$STACK_DIR"
	assert_success
}

@test "a program that cannot start (AUTH_SECRET too short) fails up in seconds with its one fatal line, and stops the rest" {
	other
	AUTH_SECRET=too-short up_timed "$T/run" "${PORTS[@]}"
	[ "$status" -ne 0 ]
	[[ $output == *"could not start"*"at least 16 bytes"* ]]
	# the line that says why, not a status table or pages of logs
	[ "$(echo "$output" | wc -l)" -le 3 ]
	[ "$took" -lt 40 ]   # about 9 s alone, 20 on a loaded machine; up gives up at 30 s
	nothing_left "$T/run"
	# and the ports are free again for the next try (with a secret: the
	# stack was asked to require tokens, so it does not come back without)
	AUTH_SECRET=a-long-enough-secret-of-t76 up_timed "$T/run" "${PORTS[@]}"
	assert_success
	chatctl down --dir "$T/run" >/dev/null
}

@test "status fails, naming the port, when another stack answers on its HTTP port" {
	other
	chatctl up --dir "$T/run" "${PORTS[@]}" >/dev/null
	# its nginx goes; another stack takes its port; its nginx comes back and
	# cannot bind (it retries, RUNNING, in a loop)
	supervisorctl -c "$T/run/etc/supervisord.conf" stop nginx >/dev/null
	local base
	base=$(free_ports 3)
	chatctl up --dir "$T/run2" --http-port "$P" --redis-port "$base" \
		--relay-port-base $((base + 1)) --relays 1 --streamers 1 >/dev/null
	supervisorctl -c "$T/run/etc/supervisord.conf" start nginx >/dev/null || true
	run chatctl status --dir "$T/run"
	chatctl down --dir "$T/run2" >/dev/null
	chatctl down --dir "$T/run" >/dev/null
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"port $P (HTTP) is answered by pid "*", not by this stack"* ]]
}

# a history read as alice in development mode: its HTTP status
dev_read() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P/api/history/kept-t76?user_id=alice"; }

@test "a stack started with AUTH_SECRET and restarted without it stays locked; development mode only with --insecure-dev-mode" {
	other
	AUTH_SECRET=the-kept-secret-of-t76-up up_timed "$T/run" "${PORTS[@]}"
	assert_success
	local first=$output alice
	alice=$(chatctl token alice --dir "$T/run")
	run chat-cli --url "http://127.0.0.1:$P" --token "$alice" --session kept-t76 "w1 w2"
	assert_success
	chatctl down --dir "$T/run" >/dev/null
	# the same command without the secret
	up_timed "$T/run" "${PORTS[@]}"
	assert_success
	[ "$(dev_read)" = 401 ]
	[[ $first == *"up in secure mode"* ]]
	[[ $output == *"up in secure mode"* ]]
	run curl -s -H "Authorization: Bearer $alice" "http://127.0.0.1:$P/api/history/kept-t76"
	echo "$output" | jq -e '.messages | length == 2'
	# the kept secret is no one else's to read, and Redis stayed locked too
	local owner="600 $(id -un)"
	[ "$(id -u)" -ne 0 ] || owner="640 root"
	[ "$(stat -c '%a %U' "$T/run/etc/auth.secret")" = "$owner" ]
	run env -u REDISCLI_AUTH redis-cli -p "$R" get x
	[[ $output == *NOAUTH* ]]
	chatctl down --dir "$T/run" >/dev/null
	# development mode again only when asked for by name, and the up line says so
	up_timed "$T/run" "${PORTS[@]}" --insecure-dev-mode
	assert_success
	[[ $output == *"up in DEVELOPMENT mode"* ]]
	[ "$(dev_read)" = 200 ]
	[ ! -e "$T/run/etc/auth.secret" ]
	chatctl down --dir "$T/run" >/dev/null
}

@test "a stack started with REDIS_PASSWORD and restarted without it keeps its Redis locked" {
	other
	REDIS_PASSWORD=the-redis-password-of-t76 up_timed "$T/run" "${PORTS[@]}"
	assert_success
	chatctl down --dir "$T/run" >/dev/null
	up_timed "$T/run" "${PORTS[@]}"
	assert_success
	run env -u REDISCLI_AUTH redis-cli -p "$R" get x
	[[ $output == *NOAUTH* ]]
	run env REDISCLI_AUTH=the-redis-password-of-t76 redis-cli -p "$R" ping
	[ "$output" = PONG ]
	[ "$(stat -c %a "$T/run/etc/redis.password")" = 600 ]
	# and the stack works with it
	run curl -s "http://127.0.0.1:$P/api/health"
	echo "$output" | jq -e '.status == "ok"'
	chatctl down --dir "$T/run" >/dev/null
}

# A self-signed certificate for 127.0.0.1 and localhost, in $T.
make_cert() {
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
		-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
		-keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
}

@test "TLS: HTTPS and WSS on the HTTPS port, plain HTTP redirected there; a busy HTTPS port fails up" {
	other
	make_cert
	# the HTTPS port is checked like the others
	up_timed "$T/run" "${PORTS[@]}" --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" --https-port "$HTTP_PORT"
	[ "$status" -ne 0 ]
	[[ $output == *"port $HTTP_PORT is in use (HTTPS"* ]]
	up_timed "$T/run" "${PORTS[@]}" --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" --https-port "$S"
	assert_success
	[[ $output == *"https://127.0.0.1:$S/"* ]]
	run curl -s --cacert "$T/cert.pem" "https://127.0.0.1:$S/api/health"
	echo "$output" | jq -e '.status == "ok"'
	run curl -s --cacert "$T/cert.pem" "https://localhost:$S/"
	[[ $output == *"<html"* ]]
	# plain HTTP: a redirect to the same path over HTTPS, and nothing else
	run curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "http://127.0.0.1:$P/api/history/x?user_id=bob"
	[ "$output" = "301 https://127.0.0.1:$S/api/history/x?user_id=bob" ]
	# a chat whose reply streams over WSS
	local mid
	mid=$(curl -sf --cacert "$T/cert.pem" -X POST -H 'Content-Type: application/json' \
		-d '{"session_id":"tls-t76","message":"w1","user_id":"bob"}' "https://127.0.0.1:$S/api/chat" | jq -r .message_id)
	[ -n "$mid" ]
	run wsc --cafile "$T/cert.pem" --for 5 "wss://127.0.0.1:$S/ws/chat?session_id=tls-t76&user_id=bob"
	[[ ${lines[0]} == "open "* ]]
	[[ $output == *'"type":"history"'* ]]
	[[ $output == *"$mid"* ]]
	# an untrusted certificate is refused: it is TLS, not plain text on another port
	run wsc --for 2 "wss://127.0.0.1:$S/ws/chat?session_id=tls-t76&user_id=bob"
	[ "$status" -ne 0 ]
	run chatctl status --dir "$T/run"
	assert_success
	chatctl down --dir "$T/run" >/dev/null
}

@test "trusted proxies: clients behind them get their own per-address limits; a client's own X-Forwarded-For is ignored" {
	other
	# deployment limits; chatctl's own checks come from 127.0.0.1, the proxy is 127.0.0.2
	LIMIT_CONN_PER_IP=256 API_RATE_PER_S=20 API_BURST=100 WS_PER_MIN_ADDR=1000 \
		up_timed "$T/run" "${PORTS[@]}" --trusted-proxy 127.0.0.2/32
	assert_success
	local url=http://127.0.0.1:$P/api/health i urls=()
	for ((i = 0; i < 400; i++)); do urls+=("$url"); done
	# client A, through the proxy, until nginx limits it (bounded: 400 requests)
	run curl -s --interface 127.0.0.2 -H 'X-Forwarded-For: 198.51.100.1' -o /dev/null -w '%{http_code}\n' "${urls[@]}"
	[[ $output == *429* ]]
	# client B through the same proxy is another address: not limited
	run curl -s --interface 127.0.0.2 -H 'X-Forwarded-For: 198.51.100.2' -o /dev/null -w '%{http_code}' "$url"
	[ "$output" = 200 ]
	# the relays' per-address limit sees the client too, not the proxy ...
	# (its counters live until the minute ends: start early in a minute, so
	# that both are still there when they are looked for)
	while [ "$(date +%-S)" -ge 50 ]; do sleep 1; done
	run wsc --source 127.0.0.2 --header 'X-Forwarded-For: 198.51.100.3' --for 1 \
		"ws://127.0.0.1:$P/ws/chat?session_id=proxy-t76&user_id=bob"
	[[ ${lines[0]} == "open "* ]]
	# ... and a client that is not a trusted proxy cannot choose its address
	run wsc --header 'X-Forwarded-For: 198.51.100.4' --for 1 \
		"ws://127.0.0.1:$P/ws/chat?session_id=proxy-t76&user_id=bob"
	[[ ${lines[0]} == "open "* ]]
	run redis-cli -p "$R" --scan --pattern 'ratelimit:wsaddr:*'
	echo "$output"
	[[ $output == *"{198.51.100.3}"* ]]
	[[ $output == *"{127.0.0.1}"* ]]
	[[ $output != *"198.51.100.4"* ]]
	# nginx's log names the client behind the proxy, and the spoofer as itself
	wait_for 5 grep -q '^198\.51\.100\.2 .*GET /api/health' "$T/run/log/nginx-access.log"
	! grep -q '^198\.51\.100\.4 ' "$T/run/log/nginx-access.log" || false
	chatctl down --dir "$T/run" >/dev/null
}

@test "--listen puts nginx on another address; the relays and Redis stay on loopback" {
	other
	up_timed "$T/run" "${PORTS[@]}" --listen 127.0.0.3
	assert_success
	[[ $output == *"http://127.0.0.3:$P/"* ]]
	run curl -s "http://127.0.0.3:$P/api/health"
	echo "$output" | jq -e '.status == "ok"'
	local port
	for port in "$Q" "$R"; do
		run ss -Htln "sport = :$port"
		echo "$output"
		echo "$output" | grep -Eq "127\.0\.0\.1\]?:$port "
		! echo "$output" | grep -Eq "(0\.0\.0\.0|\*|\[::\]|127\.0\.0\.3):$port " || false
	done
	run chatctl status --dir "$T/run"
	assert_success
	chatctl down --dir "$T/run" >/dev/null
	run chatctl up --dir "$T/run" "${PORTS[@]}" --listen example.org
	[ "$status" -ne 0 ]
	[[ $output == *"--listen example.org"* ]]
}
