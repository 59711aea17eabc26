# A short run of each libFuzzer target over its corpus (make fuzz runs them
# longer): no crash, no sanitizer report, no invalid UTF-8 token.

ROOT=$(cd "$(dirname "$BATS_TEST_FILENAME")/.." && pwd)

@test "the event-stream parser survives 15 s of libFuzzer" {
	make -C "$ROOT" --no-print-directory build/fuzz/sse >/dev/null
	mkdir -p "$BATS_TEST_TMPDIR/corpus"
	run "$ROOT/build/fuzz/sse" -max_total_time=15 "$BATS_TEST_TMPDIR/corpus" "$ROOT/t/fuzz/corpus/sse"
	[ "$status" -eq 0 ] || { echo "$output" | tail -30 >&3; false; }
	echo "$output" | grep -E '^Done [0-9]+ runs' >&3
}
