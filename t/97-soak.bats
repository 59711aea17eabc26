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
