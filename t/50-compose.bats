# docker-compose.yml describes the same stack; Debian's docker-compose checks
# it offline (no Docker engine runs here).

load helpers/stack

@test "docker-compose config -q accepts docker-compose.yml" {
	cd "$ROOT"
	run docker-compose -f docker-compose.yml config -q
	assert_success
}

# the block of one service in the normalized config
service() { awk -v s="  $1:" '$0 == s { on = 1; next } on && /^  [^ ]/ { on = 0 } on && /^[^ ]/ { on = 0 } on'; }

@test "the compose file has every program, each with a healthcheck and a restart policy; only nginx is published" {
	cd "$ROOT"
	cfg=$(docker-compose -f docker-compose.yml config)
	for s in redis chat-fcgi ws-relay ai-streamer recoverd postgres archiver nginx; do
		block=$(echo "$cfg" | service "$s")
		[ -n "$block" ] || { echo "no service $s"; false; }
		echo "$block" | grep -q '^    healthcheck:' || { echo "$s has no healthcheck"; false; }
		echo "$block" | grep -q '^    restart: unless-stopped' || { echo "$s has no restart policy"; false; }
	done
	[ "$(echo "$cfg" | grep -c '^    ports:')" -eq 1 ]
	echo "$cfg" | service nginx | grep -q '^    ports:'
	# the internal network is internal, and Redis keeps its AOF on a volume
	echo "$cfg" | awk '/^networks:/ { on = 1 } on' | grep -q 'internal: true'
	echo "$cfg" | service redis | grep -q 'appendonly'
	echo "$cfg" | service redis | grep -q 'redis-data'
	# and PostgreSQL its data
	echo "$cfg" | service postgres | grep -q 'postgres-data'
}

@test "relays and workers scale: replicas, no fixed node id or container name, one nginx upstream for all" {
	cd "$ROOT"
	cfg=$(docker-compose -f docker-compose.yml config)
	echo "$cfg" | service ws-relay | grep -q 'replicas: 3'
	echo "$cfg" | service ai-streamer | grep -q 'replicas: 2'
	for s in ws-relay ai-streamer; do
		! echo "$cfg" | service "$s" | grep -q 'NODE_ID\|container_name'
	done
	grep -q 'server ws-relay:8081' "$ROOT/etc/nginx.compose.conf"
	# the programs read their secrets from the environment, not the file
	! grep -qi 'password: [^$]' "$ROOT/docker-compose.yml"
}

@test "a broken compose file is refused, so the check above means something" {
	sed 's/^services:/servicez:/' "$ROOT/docker-compose.yml" > "$BATS_TEST_TMPDIR/bad.yml"
	run docker-compose -f "$BATS_TEST_TMPDIR/bad.yml" config -q
	assert_failure
}
