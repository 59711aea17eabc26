# Each program's configuration agrees in three places: the variables its
# sources read, its --help, and doc/configuration.md (t/helpers/configcheck.py).
# No stack is started.

load helpers/stack

CHECK=$ROOT/t/helpers/configcheck.py

copy_tree() {
	tmp=$(mktemp -d "${STREAMCHAT_TEST_ROOT:-/tmp}/config.XXXXXX")
	cp -r "$ROOT/src" "$ROOT/doc" "$tmp/"
}

@test "every variable a program reads is in its --help, and every knob of --help in doc/configuration.md with its default" {
	run python3 "$CHECK"
	assert_success
	# and it looked: the knobs that had drifted, each with the programs that read it
	run python3 "$CHECK" --list
	for knob in 'chat-fcgi	STREAM_STALE_MS	3600000' 'ai-streamer	AI_BASE_URL	unset' \
		'ai-streamer	HEARTBEAT_FILE	unset' 'recoverd	HEARTBEAT_FILE	unset' \
		'ws-relay	SHARE_DIR	BINDIR/../share' 'chat-cli	CHAT_TOKEN	unset' \
		'chat-cli	AUTH_SECRET	unset' 'chat-bench	REDIS_URL	redis://127.0.0.1:6379/0'; do
		echo "$output" | cut -f1-3 | grep -qxF -- "$knob" || { echo "not listed: $knob"; false; }
	done
	# a common file is counted only for the programs that link it
	! echo "$output" | grep -q '^chat-fcgi	HEARTBEAT_FILE' || false
	! echo "$output" | grep -q '^chat-bench	NODE_ID' || false
}

@test "a variable read in a program's sources, or in a common file it links, and not in its --help fails the check" {
	copy_tree
	run python3 "$CHECK" --root "$tmp"
	assert_success
	echo 'static const char *planted(void) { return getenv("PLANTED_FCGI"); }' >>"$tmp/src/chat-fcgi/api.c"
	echo 'static long planted(void) { return env_long("PLANTED_AUTH", 1, 0, 2); }' >>"$tmp/src/common/auth.c"
	echo 'static long planted(void) { return config_int(&relay_knobs, "PLANTED_RELAY"); }' \
		>>"$tmp/src/ws-relay/conn.c"
	echo 'static const char *planted(const char *n) { return getenv(n); }' >>"$tmp/src/recoverd/registry.c"
	run python3 "$CHECK" --root "$tmp"
	rm -rf "$tmp"
	assert_failure
	assert_output --partial "chat-fcgi reads PLANTED_FCGI (src/chat-fcgi/api.c:"
	assert_output --partial "ws-relay reads PLANTED_RELAY (src/ws-relay/conn.c:"
	# auth.c is linked by chat-fcgi, ws-relay and chat-cli, not by recoverd
	assert_output --partial "chat-fcgi reads PLANTED_AUTH (src/common/auth.c:"
	assert_output --partial "ws-relay reads PLANTED_AUTH (src/common/auth.c:"
	assert_output --partial "chat-cli reads PLANTED_AUTH (src/common/auth.c:"
	refute_output --partial "recoverd reads PLANTED_AUTH"
	assert_output --regexp "recoverd: src/recoverd/registry.c:[0-9]+ reads a variable whose name is not a literal"
}

@test "a knob missing from doc/configuration.md, with another default there, or there and not in --help fails the check" {
	copy_tree
	doc=$tmp/doc/configuration.md
	sed -i '/^| STREAM_STALE_MS |/d' "$doc"
	sed -i 's/^| PORT | 8081 |/| PORT | 8080 |/' "$doc"
	sed -i 's/^\(| AUTH_SECRET_FILE | unset | chat-fcgi, ws-relay\), chat-cli |/\1 |/' "$doc"
	sed -i 's/^| INTERVAL_MS |.*/&\n| PLANTED_DOC | 1 | a knob recoverd does not have |/' "$doc"
	! cmp -s "$doc" "$ROOT/doc/configuration.md" || false
	run python3 "$CHECK" --root "$tmp"
	rm -rf "$tmp"
	assert_failure
	assert_output --partial "chat-fcgi --help names STREAM_STALE_MS, missing from doc/configuration.md"
	assert_output --regexp "ws-relay: PORT defaults to 8081 in --help but to 8080 in doc/configuration.md \(line [0-9]+\)"
	assert_output --partial "chat-cli --help names AUTH_SECRET_FILE, missing from doc/configuration.md"
	assert_output --regexp "doc/configuration.md \(line [0-9]+\) lists PLANTED_DOC for recoverd, whose --help does not name it"
	[ "$(echo "$output" | wc -l)" -eq 4 ] || { echo "expected 4 problems"; false; }
}

@test "an integer knob out of its bounds stops the program with its name and bounds" {
	run env TOKEN_DELAY_MS=60001 "$ROOT/bin/ai-streamer" --once hi
	[ "$status" -eq 100 ]
	assert_output --partial "TOKEN_DELAY_MS=60001: expected an integer from 0 to 60000"
	run env TOKEN_DELAY_MS= AI_MAX_TOKENS=3 "$ROOT/bin/ai-streamer" --once hi
	assert_success
}
