# One layout of a history item, whoever builds it: chat-fcgi (the user's
# message, frame.c's history_item), finish.lua (a reply, in Lua) and
# ai-streamer --pipe (both, in C) write items with the same fields in the
# same order, and each starts with the message id, where chat-fcgi looks
# for an item (doc/redis.md, "The history item").

load helpers/stack

setup_file() { stack_up --token-delay-ms 1 --relays 1 --streamers 1; }
teardown_file() { stack_down; }

items() { rcli --raw lrange "$(key chat:history: "$1")" 0 -1; }

@test "the history items of a chat and of ai-streamer --pipe have one layout" {
	prompt='w1 "quoted" <b>tag</b> back\slash / slash é 🙂'
	run chat-cli --url "$API" --session sch1 "$prompt"
	assert_success
	run bash -c "ai-streamer --pipe --session sch2 --user tester '$prompt' | redis-cli -p $REDIS_PORT --pipe"
	assert_success
	mapfile -t chat < <(items sch1)
	mapfile -t piped < <(items sch2)
	[ "${#chat[@]}" -eq 2 ]
	[ "${#piped[@]}" -eq 2 ]
	for i in 0 1; do
		# the same fields in the same order, with the same values but ids and times
		[ "$(jq -c 'keys_unsorted' <<<"${chat[$i]}")" = '["message_id","role","content","status","created_at"]' ]
		[ "$(jq -c 'keys_unsorted' <<<"${piped[$i]}")" = "$(jq -c 'keys_unsorted' <<<"${chat[$i]}")" ]
		[ "$(jq -c '[.role, .content, .status]' <<<"${piped[$i]}")" = \
			"$(jq -c '[.role, .content, .status]' <<<"${chat[$i]}")" ]
		jq -e '(.message_id | test("^[0-9a-f]{32}$")) and (.created_at | type == "number")' \
			<<<"${chat[$i]}${piped[$i]}" >/dev/null
		# chat-fcgi finds an item by this prefix
		mid=$(jq -r .message_id <<<"${chat[$i]}")
		[[ ${chat[$i]} == "{\"message_id\":\"$mid\","* ]]
		mid=$(jq -r .message_id <<<"${piped[$i]}")
		[[ ${piped[$i]} == "{\"message_id\":\"$mid\","* ]]
	done
	[ "$(jq -r .content <<<"${chat[0]}")" = "$prompt" ]
	# and the API finds the reply by its id in either session
	for s in sch1 sch2; do
		mid=$(items "$s" | tail -1 | jq -r .message_id)
		run curl -sf "$API/api/stream/$mid?user_id=tester"
		assert_success
		[ "$(jq -r .status <<<"$output")" = complete ]
	done
}
