# doc/protocol.md, guarantee 1: a client that connects while a reply streams gets the
# text so far in the history frame, then every later chunk: no gap, no repeat.

load helpers/stack

setup_file() { AI_MAX_TOKENS=5000 stack_up --token-delay-ms 0 --streamers 1; }
teardown_file() { stack_down; }

@test "connecting while chunks are published at full speed never gives a gap or a duplicate (200 times)" {
	prompt=$(words 1500)   # 3008 tokens, written as fast as Redis takes them
	midstream=0
	for i in $(seq 1 200); do
		mid=$(post_chat "race$i" "$prompt")
		[ -n "$mid" ]
		# chat-cli exits 3 on any gap or duplicate, and checks totalChunks
		run chat-cli --url "$API" --session "race$i" --watch --message "$mid" --raw --timeout 20
		assert_success
		echo "$output" > "$BATS_TEST_TMPDIR/frames"
		hist=$(jq -c 'select(.type=="history") | .messages[] | select(.message_id=="'"$mid"'")' "$BATS_TEST_TMPDIR/frames")
		if [ "$(echo "$hist" | jq -r .status)" = streaming ]; then
			midstream=$((midstream + 1))
			k=$(echo "$hist" | jq -r .lastChunkIndex)
			first=$(jq -r 'select(.type=="chunk") | .index' "$BATS_TEST_TMPDIR/frames" | head -1)
			[ -z "$first" ] || [ "$first" -eq $((k + 1)) ]
			# one substitution: the text so far may end in a newline
			text=$(echo "$hist" | jq -j .content; jq -j 'select(.type=="chunk") | .content' "$BATS_TEST_TMPDIR/frames")
			final=$(curl -sf "$API/api/history/race$i?user_id=tester" | jq -j '.messages[-1].content')
			[ "$text" = "$final" ]
		fi
	done
	echo "$midstream of 200 connected mid-stream" >&3
	# the race is only tested if it happened often enough
	[ "$midstream" -ge 20 ]
}
