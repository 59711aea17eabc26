# docker-compose.yml describes the same stack; Debian's docker-compose checks
# it offline (no Docker engine runs here).

load helpers/stack

@test "docker-compose config -q accepts docker-compose.yml" {
	cd "$ROOT"
	run docker-compose -f docker-compose.yml config -q
	assert_success
}

@test "the compose file has every program, three relays, two streamers, only nginx published" {
	cd "$ROOT"
	cfg=$(docker-compose -f docker-compose.yml config)
	for s in redis chat-fcgi ws-relay-1 ws-relay-2 ws-relay-3 ai-streamer-1 ai-streamer-2 recoverd nginx; do
		echo "$cfg" | grep -q "^  $s:$"
	done
	[ "$(echo "$cfg" | grep -c 'ports:')" -eq 1 ]
}

@test "a broken compose file is refused, so the check above means something" {
	sed 's/^services:/servicez:/' "$ROOT/docker-compose.yml" > "$BATS_TEST_TMPDIR/bad.yml"
	run docker-compose -f "$BATS_TEST_TMPDIR/bad.yml" config -q
	assert_failure
}
