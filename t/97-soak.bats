# The chaos soak (t/soak, make soak) for 60 seconds: three relays, three
# workers (one on a stand-in OpenAI server) and recoverd under a mix of
# clients, with relays, workers, recoverd, Redis, the upstream and TCP
# connections failing at random from a seed it prints; then the checker
# judges every socket and every reply. A failure prints the seed, the event
# log around the first violation, and how to replay it (make soak SEED=...).

load helpers/stack

@test "a 60-second chaos soak: every socket and every reply keeps every invariant" {
	run "$ROOT/t/soak/run" --seconds "${SOAK_TEST_S:-60}" \
		--dir "$(mktemp -d "${STREAMCHAT_TEST_ROOT:-/tmp}/soak.XXXXXX")"
	# the summary (seed, counts, faults) whatever the outcome; all of it on failure
	if [ "$status" -eq 0 ]; then
		echo "$output" | grep -E '^(soak: seed|check: [0-9]|faults:)' >&3
	else
		echo "$output" >&3
	fi
	assert_success
}

# check.py on a made-up run (t/soak/fixture.py): one socket, one reply of 4
# chunks whose history text reached chunk 2, the client holding 0..1.
check_case() {
	local d=$BATS_TEST_TMPDIR/$1
	python3 "$ROOT/t/soak/fixture.py" "$d" "$1"
	python3 "$ROOT/t/soak/check.py" "$d"
}

@test "the checker: an end frame the relay sent before it read a reconnect frame is no hole; one the replay leaves short is" {
	# the end frame, then the replay, then recovery_status: no violation
	run check_case end-before-replay
	assert_success
	assert_output --partial 'check: seed=1: no violation'
	# the replay ends (recovery_status) with chunk 2 still missing
	run check_case replay-short
	assert_failure
	assert_output --partial 'came before the replay, and by its recovery_status chunks [2, 3]'
	# an end frame past what even the history text gave
	run check_case end-past-text
	assert_failure
	assert_output --partial '[hole] end frame of M1 (complete, 4 chunks) but chunks [2, 3]'
	# no reconnect frame: an end frame before the last chunk
	run check_case end-before-chunk
	assert_failure
	assert_output --partial '[hole] end frame of M1 (complete, 4 chunks) but chunks [3]'
}

@test "the checker: a reservation whose enqueue never ran expires with STREAM_STALE_MS and is no leak; one of an ended reply is" {
	# Redis went away between admit.lua and enqueue.lua: no meta, a TTL
	run check_case reservation-never-enqueued
	assert_success
	assert_output --partial 'check: seed=1: no violation'
	run check_case reservation-without-ttl
	assert_failure
	assert_output --partial "holds reservations never enqueued ['M9'] with TTL -1 ms"
	# the reply ended: its caller should have taken it out
	run check_case reservation-of-ended-reply
	assert_failure
	assert_output --partial '[leak] streams:user:{U1} outlived its last socket or reply'
}
