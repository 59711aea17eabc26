# Resuming clients run in the background and checked against the history,
# for the tests that break a node under them (t/60, t/67). Needs stack.bash.

# start_clients N PREFIX WORDS TIMEOUT_S: n clients (sessions PREFIX1..n)
# that each post a message of WORDS words, odd ones resuming by URL and even
# ones by the reconnect frame; their pids go to $clients.
start_clients() {
	local n=$1 prefix=$2 nwords=$3 timeout=$4 i mode
	clients=()
	for ((i = 1; i <= n; i++)); do
		mode=url; ((i % 2)) || mode=frame
		chat-cli --url "$API" --session "$prefix$i" --resume $mode --stats --timeout "$timeout" \
			"$(words "$nwords")" >"$BATS_TEST_TMPDIR/$prefix$i.out" 2>"$BATS_TEST_TMPDIR/$prefix$i.err" &
		clients+=($!)
	done
}

# check_clients N PREFIX: every client exited 0 (chat-cli exits 3 on a gap,
# a repeat, or for the URL way a chunk out of order) and printed exactly the
# reply the history holds, complete.
check_clients() {
	local n=$1 prefix=$2 i fails=0 text hist
	for ((i = 1; i <= n; i++)); do
		wait "${clients[$((i - 1))]}" || { fails=$((fails + 1)); tail -3 "$BATS_TEST_TMPDIR/$prefix$i.err" >&3; }
	done
	[ "$fails" -eq 0 ]
	for ((i = 1; i <= n; i++)); do
		text=$(cat "$BATS_TEST_TMPDIR/$prefix$i.out")
		hist=$(curl -sf "$API/api/history/$prefix$i?user_id=tester")
		[ "$text" = "$(echo "$hist" | jq -j '.messages[-1].content')" ] ||
			{ echo "client $prefix$i: text differs from history" >&3; return 1; }
		[ "$(echo "$hist" | jq -r '.messages[-1].status')" = complete ]
	done
}
