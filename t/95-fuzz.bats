# A short run of each libFuzzer target over its corpus (make fuzz runs them
# longer): no crash, no sanitizer report, no broken invariant. Each target
# runs FUZZ_TEST_SECONDS (15).

ROOT=$(cd "$(dirname "$BATS_TEST_FILENAME")/.." && pwd)

fuzz() {
	make -C "$ROOT" --no-print-directory "build/fuzz/$1" >/dev/null
	mkdir -p "$BATS_TEST_TMPDIR/corpus"
	run "$ROOT/build/fuzz/$1" -max_total_time="${FUZZ_TEST_SECONDS:-15}" "$BATS_TEST_TMPDIR/corpus" \
		"$ROOT/t/fuzz/corpus/$1"
	[ "$status" -eq 0 ] || { echo "$output" | tail -30 >&3; false; }
	echo "$output" | grep -E '^Done [0-9]+ runs' | sed "s/^/# $1: /" >&3
}

@test "the event-stream parser of ai-streamer survives libFuzzer" { fuzz sse; }
@test "chat-fcgi's request parsing and validation survive libFuzzer" { fuzz request; }
@test "the AI SDK and OpenAI bodies of chat-fcgi survive libFuzzer" { fuzz front; }
@test "ws-relay's reading of client frames survives libFuzzer" { fuzz client_frame; }
@test "the JWT check survives libFuzzer" { fuzz jwt; }
