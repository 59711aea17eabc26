# docker-compose.yml describes the same stack; Debian's docker-compose checks
# it offline (no Docker engine runs here).

load helpers/stack

setup() {
	# the variables come from this file alone (not the shell, not a .env)
	ENVF=$BATS_TEST_TMPDIR/test.env
	printf 'REDIS_PASSWORD=redis-pw-for-tests\nAUTH_SECRET=0123456789abcdef-test\n' >"$ENVF"
}

compose() { env -i PATH="$PATH" HOME="$HOME" docker-compose --env-file "$ENVF" -f "$ROOT/docker-compose.yml" "$@"; }

# the block of one service in the normalized config
service() { awk -v s="  $1:" '$0 == s { on = 1; next } on && /^  [^ ]/ { on = 0 } on && /^[^ ]/ { on = 0 } on'; }
# the names of a service's networks
service_networks() { service "$1" | awk '/^    networks:/ { on = 1; next } on && /^    [^ ]/ { on = 0 } on && /^      [a-z]/ { sub(/:.*/, ""); print $1 }'; }
# the block of one top-level network
network() { awk '/^networks:/ { on = 1; next } on && /^[^ ]/ { on = 0 } on' | awk -v s="  $1:" '$0 == s || $0 == s " {}" { on = 1; print; next } on && /^  [^ ]/ { on = 0 } on'; }

@test "docker-compose config -q accepts docker-compose.yml" {
	run compose config -q
	assert_success
}

@test "the compose file has every program, each with a healthcheck and a restart policy; only nginx is published" {
	cfg=$(compose config)
	for s in redis chat-fcgi ws-relay ai-streamer recoverd postgres archiver nginx; do
		block=$(echo "$cfg" | service "$s")
		[ -n "$block" ] || { echo "no service $s"; false; }
		echo "$block" | grep -q '^    healthcheck:' || { echo "$s has no healthcheck"; false; }
		echo "$block" | grep -q '^    restart: unless-stopped' || { echo "$s has no restart policy"; false; }
	done
	[ "$(echo "$cfg" | grep -c '^    ports:')" -eq 1 ]
	echo "$cfg" | service nginx | grep -q '^    ports:'
	# the internal network is internal, and Redis keeps its AOF on a volume
	echo "$cfg" | network internal | grep -q 'internal: true'
	echo "$cfg" | service redis | grep -q 'appendonly'
	echo "$cfg" | service redis | grep -q 'redis-data'
	# and PostgreSQL its data
	echo "$cfg" | service postgres | grep -q 'postgres-data'
}

@test "relays, workers and responders scale: replicas, no fixed node id or container name, one nginx upstream each" {
	cfg=$(compose config)
	echo "$cfg" | service ws-relay | grep -q 'replicas: 3'
	echo "$cfg" | service ai-streamer | grep -q 'replicas: 2'
	echo "$cfg" | service chat-fcgi | grep -qE 'replicas: ([2-9]|[1-9][0-9])$'
	for s in ws-relay ai-streamer chat-fcgi; do
		run bash -c "echo \"\$1\" | awk -v s='  $s:' '\$0 == s { on = 1; next } on && /^  [^ ]/ { on = 0 } on' | grep 'NODE_ID\|container_name'" _ "$cfg"
		assert_failure
	done
	grep -q 'server ws-relay:8081' "$ROOT/etc/nginx.compose.conf"
	# /api/ over every chat-fcgi, a refused connection retried on the next
	grep -q 'server chat-fcgi:9000' "$ROOT/etc/nginx.compose.conf"
	local passes
	passes=$(grep -c 'fastcgi_pass ' "$ROOT/etc/nginx.compose.conf")
	[ "$passes" -ge 2 ]
	[ "$(grep -c 'fastcgi_pass api;' "$ROOT/etc/nginx.compose.conf")" = "$passes" ]
	[ "$(grep -c 'fastcgi_next_upstream error timeout;' "$ROOT/etc/nginx.compose.conf")" = "$passes" ]
	run grep -E 'fastcgi_pass chat-fcgi|non_idempotent' "$ROOT/etc/nginx.compose.conf"
	assert_failure
	# the programs read their secrets from the environment, not the file
	run grep -i 'password: [^$]' "$ROOT/docker-compose.yml"
	assert_failure
}

@test "ai-streamer can reach an AI server: a network of its own that is not internal, besides Redis's" {
	cfg=$(compose config)
	nets=$(echo "$cfg" | service_networks ai-streamer)
	echo "$nets"
	echo "$nets" | grep -qx internal
	local n egress=0
	for n in $nets; do
		echo "$cfg" | network "$n" | grep -q 'internal: true' || egress=1
	done
	[ "$egress" = 1 ]
	# the others stay inside
	for s in redis chat-fcgi ws-relay recoverd; do
		[ "$(echo "$cfg" | service_networks "$s")" = internal ]
	done
}

@test "without REDIS_PASSWORD or AUTH_SECRET compose refuses to start, naming the one missing" {
	printf 'AUTH_SECRET=0123456789abcdef-test\n' >"$ENVF"
	run compose config -q
	assert_failure
	assert_output --partial REDIS_PASSWORD
	printf 'REDIS_PASSWORD=redis-pw-for-tests\n' >"$ENVF"
	run compose config -q
	assert_failure
	assert_output --partial AUTH_SECRET
	printf 'REDIS_PASSWORD=\nAUTH_SECRET=0123456789abcdef-test\n' >"$ENVF"
	run compose config -q
	assert_failure
	# given, they reach Redis and the programs
	setup
	cfg=$(compose config)
	echo "$cfg" | service redis | grep -q 'redis-pw-for-tests'
	echo "$cfg" | service chat-fcgi | grep -q 'REDIS_URL: redis://:redis-pw-for-tests@redis:6379/0'
	echo "$cfg" | service ws-relay | grep -q 'AUTH_SECRET: 0123456789abcdef-test'
}

@test "nginx is published on 127.0.0.1 unless BIND_ADDR says otherwise" {
	compose config | service nginx | grep -A1 '^    ports:' >"$BATS_TEST_TMPDIR/ports"
	cat "$BATS_TEST_TMPDIR/ports"
	grep -qx -- '    - 127.0.0.1:8080:8080/tcp' "$BATS_TEST_TMPDIR/ports"
	printf 'BIND_ADDR=0.0.0.0\nHTTP_PORT=9090\n' >>"$ENVF"
	compose config | service nginx | grep -A1 '^    ports:' >"$BATS_TEST_TMPDIR/ports"
	grep -qx -- '    - 0.0.0.0:9090:8080/tcp' "$BATS_TEST_TMPDIR/ports"
}

@test "every knob of every program (doc/configuration.md) can be set from the environment" {
	# each variable the compose file reads, given a value of its own
	local v
	for v in $(grep -oE '\$\{[A-Z_]+' "$ROOT/docker-compose.yml" | cut -c3- | sort -u); do
		[[ $v =~ ^(BIND_ADDR|HTTP_PORT)$ ]] || echo "$v=from-$v" >>"$ENVF"
	done
	cfg=$(compose config)
	# set by the compose file itself, on purpose: one node id per replica,
	# the image's share/, the healthcheck's file, the port and interface in
	# the container, REDIS_URL from REDIS_PASSWORD, AUTH_SECRET instead of a
	# file, DATABASE_URL from POSTGRES_PASSWORD; USER is chat-cli's and --pipe's;
	# UNIX_SOCKET left unset: nginx reaches the relays' containers over the network;
	# FAULT_POINT is for tests only: a deployment must never pass it through
	local fixed=" NODE_ID SHARE_DIR HEARTBEAT_FILE PORT LISTEN_IFACE REDIS_URL AUTH_SECRET_FILE USER DATABASE_URL UNIX_SOCKET FAULT_POINT "
	local prog knob missing=""
	for prog in chat-fcgi ws-relay ai-streamer recoverd archiver; do
		local knobs
		knobs=$(awk -v s="## $prog" '$0 == s { on = 1; next } on && /^## / { on = 0 } on && /^\| [A-Z_]+ \|/ { print $2 }' "$ROOT/doc/configuration.md")
		knobs+=" $(awk -F' *\\| *' '/^## Common knobs/ { on = 1; next } on && /^## / { on = 0 } on && /^\| [A-Z_]+ \|/ && index($4, p) { print $2 }' p="$prog" "$ROOT/doc/configuration.md")"
		[ "$(echo "$knobs" | wc -w)" -ge 5 ]
		for knob in $knobs; do
			[[ $fixed == *" $knob "* ]] && continue
			echo "$cfg" | service "$prog" | grep -qE "^      $knob: from-[A-Z_]+$" || missing+=" $prog:$knob"
		done
	done
	echo "not passed on:$missing"
	[ -z "$missing" ]
}

@test ".env.example names every variable the compose file reads, and filled in it is accepted" {
	local v
	for v in $(grep -oE '\$\{[A-Z_]+' "$ROOT/docker-compose.yml" | cut -c3- | sort -u); do
		grep -q "^$v=" "$ROOT/.env.example" || { echo ".env.example lacks $v"; false; }
	done
	sed -e 's/^REDIS_PASSWORD=$/REDIS_PASSWORD=example-pw/' -e 's/^AUTH_SECRET=$/AUTH_SECRET=0123456789abcdef-x/' \
		"$ROOT/.env.example" >"$ENVF"
	run compose config -q
	assert_success
	# as it is, without the secrets, it is refused
	cp "$ROOT/.env.example" "$ENVF"
	run compose config -q
	assert_failure
}

@test "nginx.compose.conf is a valid nginx configuration" {
	local d=$BATS_TEST_TMPDIR/ngx
	mkdir -p "$d/logs"
	cp "$ROOT"/etc/nginx.log.conf "$ROOT"/etc/nginx.headers.conf "$ROOT"/etc/nginx.errors.conf "$d/"
	# the services' names as this machine's address; the log where nginx -t may write
	sed -e 's/\(ws-relay\|chat-fcgi\):/127.0.0.1:/' -e "s|/var/log/nginx/access.log|$d/logs/access.log|" \
		"$ROOT/etc/nginx.compose.conf" >"$d/nginx.conf"
	run nginx -t -p "$d" -c "$d/nginx.conf" -g "pid $d/nginx.pid; error_log $d/logs/error.log;"
	echo "$output"
	assert_success
}

@test "a broken compose file is refused, so the check above means something" {
	sed 's/^services:/servicez:/' "$ROOT/docker-compose.yml" > "$BATS_TEST_TMPDIR/bad.yml"
	run env -i PATH="$PATH" HOME="$HOME" docker-compose --env-file "$ENVF" -f "$BATS_TEST_TMPDIR/bad.yml" config -q
	assert_failure
}

@test "the sentinel profile adds a replica and three sentinels, and REDIS_SCHEME/REDIS_TARGET point the programs at them" {
	run compose --profile sentinel config -q
	assert_success
	cfg=$(compose config)
	# only with the profile (Debian's docker-compose lists them all in config)
	for s in redis-replica sentinel-1 sentinel-2 sentinel-3; do
		echo "$cfg" | service "$s" | grep -A1 '^    profiles:' | grep -q -- '- sentinel'
	done
	! echo "$cfg" | service redis | grep -q '^    profiles:' || false
	printf 'REDIS_SCHEME=redis+sentinel\nREDIS_TARGET=sentinel-1:26379,sentinel-2:26379/streamchat\n' >>"$ENVF"
	compose --profile sentinel config | service ws-relay |
		grep -q 'REDIS_URL: redis+sentinel://:redis-pw-for-tests@sentinel-1:26379,sentinel-2:26379/streamchat'
}

@test "the cluster profile adds six cluster nodes and the job that makes the cluster; REDIS_SCHEME/REDIS_TARGET point the programs at it" {
	run compose --profile cluster config -q
	assert_success
	cfg=$(compose config)
	for s in redis-cluster-1 redis-cluster-2 redis-cluster-3 redis-cluster-4 redis-cluster-5 redis-cluster-6 redis-cluster-init; do
		echo "$cfg" | service "$s" | grep -A1 '^    profiles:' | grep -q -- '- cluster'
	done
	# each node announces its own name, keeps its own data, and needs the password
	for i in 1 2 3 4 5 6; do
		echo "$cfg" | service "redis-cluster-$i" | grep -q "^    hostname: redis-cluster-$i$"
		echo "$cfg" | service "redis-cluster-$i" | grep -q -- "- redis-cluster-$i-data:/data"
		echo "$cfg" | service "redis-cluster-$i" | grep -q -- '--requirepass'
	done
	echo "$cfg" | service redis-cluster-init | grep -q -- '--cluster-replicas 1'
	printf 'REDIS_SCHEME=redis+cluster\nREDIS_TARGET=redis-cluster-1:6379,redis-cluster-2:6379,redis-cluster-3:6379/\n' >>"$ENVF"
	compose --profile cluster config | service ws-relay |
		grep -q 'REDIS_URL: redis+cluster://:redis-pw-for-tests@redis-cluster-1:6379,redis-cluster-2:6379,redis-cluster-3:6379/'
}
