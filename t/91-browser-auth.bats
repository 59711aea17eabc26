# The web page against a stack with AUTH_SECRET: it asks for a token, takes
# one from the sign-in field or from ?token=, and says why a token was refused.

load helpers/stack

setup_file() {
	export AUTH_SECRET=the-browser-test-secret-of-t91
	stack_up --token-delay-ms 20 --relays 2
}

teardown_file() { stack_down; }

@test "the page signs in with a token from the field or the link, and says why an expired one fails" {
	run env API="$API" STACK_DIR="$STACK_DIR" ROOT="$ROOT" SHOTS="${STREAMCHAT_TEST_ROOT:-/tmp}/screenshots" \
		TOKEN="$(chatctl token carol --dir "$STACK_DIR")" \
		EXPIRED="$(chatctl token carol --ttl -300 --dir "$STACK_DIR")" \
		node "$ROOT/t/browser/chat.mjs" auth
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}
