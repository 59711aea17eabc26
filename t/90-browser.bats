# The web page (share/www) in a real browser: playwright-core drives Debian's
# chromium, headless, against a whole stack. Screenshots go to
# $STREAMCHAT_TEST_ROOT/screenshots (mid-stream, after, phone).

load helpers/stack

setup_file() {
	stack_up --token-delay-ms 20
	export SHOTS=${STREAMCHAT_TEST_ROOT:-/tmp}/screenshots
}

teardown_file() { stack_down; }

browser() {
	run env API="$API" STACK_DIR="$STACK_DIR" ROOT="$ROOT" SHOTS="$SHOTS" \
		node "$ROOT/t/browser/chat.mjs" "$1"
	echo "$output" | grep '^# ' >&3 || true
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}

@test "type a message, press Enter: the reply streams in and the stop button returns to send" { browser stream; }
@test "a reload in the middle of a reply shows the whole reply afterwards, once" { browser reload; }
@test "kill -9 of the relay serving the page mid-reply: reconnecting, then the whole reply, no hole or repeat" { browser kill; }
@test "stop a reply: it ends, marked stopped, and the history agrees" { browser stop; }
@test "a message with <script> and <img onerror> is shown as text" { browser markup; }
@test "new chat, the list of conversations, switching back, and a phone-sized screen" { browser conversations; }

@test "the screenshots were saved" {
	for f in mid-stream after phone phone-chats; do [ -s "$SHOTS/$f.png" ]; done
	echo "# screenshots in $SHOTS" >&3
}
