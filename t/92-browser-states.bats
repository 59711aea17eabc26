# The page's states in Chromium (t/browser/states.mjs): the hint of an empty
# conversation, a second tab that shows the question with the reply, an AI
# model that is unavailable (said so live and after a reload), and the
# stack stopped ("server unreachable" after a few failed reconnects). The
# workers use the openai backend against t/helpers/fake-openai.c, which one
# test stops so that its port is closed.

load helpers/stack

setup_file() {
	export FAKE_DIR FAKE_PORT SHOTS
	SHOTS=${STREAMCHAT_TEST_ROOT:-/tmp}/screenshots
	FAKE_DIR=$(mktemp -d "${STREAMCHAT_TEST_ROOT:-/tmp}/fake.XXXXXX")
	printf '%s\n' '"A"' '" reply"' '" from"' '" the"' '" model."' >"$FAKE_DIR/tokens"
	echo "ok 60" >"$FAKE_DIR/mode"
	FAKE_PORT=$(free_ports 1)
	fake_start
	AI_BACKEND=openai AI_PROBE_MS=1000 AI_TIMEOUT_MS=3000 \
		AI_BASE_URLS="http://127.0.0.1:$FAKE_PORT/v1" stack_up --relays 2
}

teardown_file() {
	stack_down
	fake_stop
	rm -rf "$FAKE_DIR"
}

fake_start() {
	"$ROOT/build/fake-openai" --port "$FAKE_PORT" --log "$FAKE_DIR/log" --tokens "$FAKE_DIR/tokens" \
		--mode-file "$FAKE_DIR/mode" >/dev/null 2>&1 3>&- &
	echo $! >"$FAKE_DIR/pid"
}

fake_stop() {
	[ -s "$FAKE_DIR/pid" ] || return 0
	pkill -P "$(cat "$FAKE_DIR/pid")" 2>/dev/null || true
	kill "$(cat "$FAKE_DIR/pid")" 2>/dev/null || true
	: >"$FAKE_DIR/pid"
}

browser() {
	run env API="$API" STACK_DIR="$STACK_DIR" ROOT="$ROOT" SHOTS="$SHOTS" \
		node "$ROOT/t/browser/states.mjs" "$1"
	echo "$output" | grep '^# ' >&3 || true
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}


@test "an empty conversation shows a hint, which goes with the first message" { browser hint; }
@test "a second tab on the conversation shows the question before the reply, once" { browser tabs; }

@test "the AI server down: the page says the AI model is unavailable, live and reloaded" {
	fake_stop
	wait_for 20 bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' $API/api/ai-health) = 503 ]"
	browser unavailable
	fake_start
	wait_for 20 bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' $API/api/ai-health) = 200 ]"
}

@test "chatctl down: the indicator says server unreachable, not reconnecting for ever" { browser offline; }
