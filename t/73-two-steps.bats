# Where one atomic script became two steps (doc/redis.md, "Two steps"): the
# process is killed between them (FAULT_POINT, doc/testing.md) and what is
# left must neither lose a reply, run one twice, nor lock a user out.

load helpers/stack

setup_file() {
	# a user may stream one reply at a time, so a reservation left behind
	# would refuse the next one (429) for STREAM_STALE_MS (an hour)
	export STREAMS_PER_USER=1 FAULT_POINT="chat-fcgi:after-admit@cut-1 chat-fcgi:after-enqueue@ready-1 ai-streamer:after-finish@end-1"
	stack_up --token-delay-ms 1 --relays 1 --streamers 1
}
teardown_file() { stack_down; }

chat_status() {
	curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		-d "{\"session_id\":\"$1\",\"message\":\"hello there\",\"user_id\":\"$2\"}" "$API/api/chat"
}
admitted() { [ "$(chat_status "$1" "$2")" = 202 ]; }
# once a second, so that the tries stay far below CHAT_PER_MIN
admitted_within() {
	local i
	for ((i = 0; i < $1; i++)); do
		admitted "$2" "$3" && return 0
		sleep 1
	done
	return 1
}

@test "chat-fcgi killed between admit.lua and enqueue.lua: no reply, no job, and the user is not locked out" {
	run chat_status cut-1 carol
	[ "$output" != 202 ]   # the client never got a message id
	# the reservation is there, and nothing else of the message
	mapfile -t held < <(rcli zrange 'streams:user:{carol}' 0 -1)
	[ "${#held[@]}" -eq 1 ]
	[ "$(rcli exists "$(key stream:meta: "${held[0]}")")" = 0 ]
	[ "$(rcli exists "$(key chat:history: cut-1)" "$(key stream:session: cut-1)")" = 0 ]
	[ "$(jobs_total)" = 0 ]
	# carol's next message waits at most the reservation's grace, then streams
	admitted_within 20 cut-2 carol
	mid=$(rcli hget "$(key stream:session: cut-2)" messageId)
	wait_for 15 bash -c "[ \"\$(redis-cli -p $REDIS_PORT hget '$(key stream:meta: "$mid")' status)\" = complete ]"
	[ "$(rcli zscore 'streams:user:{carol}' "${held[0]}")" = "" ]
	# the lost message never ran: one job in all, one reply in the history
	[ "$(jobs_total)" = 1 ]
	[ "$(rcli exists "$(key stream:meta: "${held[0]}")")" = 0 ]
}

@test "chat-fcgi killed between enqueue.lua and its jobs:ready entry: the reply streams anyway, once (the workers' sweep)" {
	announced=$(rcli xlen jobs:ready)
	run chat_status ready-1 gina
	[ "$output" != 202 ]   # chat-fcgi died before answering
	mid=$(rcli hget "$(key stream:session: ready-1)" messageId)
	[ -n "$mid" ]
	# the job is on its partition's stream and nothing announced it
	[ "$(rcli xlen "$(message_jobs_key "$mid")")" -ge 1 ]
	[ "$(rcli xlen jobs:ready)" = "$announced" ]
	wait_for 15 bash -c "[ \"\$(redis-cli -p $REDIS_PORT hget '$(key stream:meta: "$mid")' status)\" = complete ]"
	[ "$(rcli xlen jobs:ready)" = "$announced" ]
	want=$(TOKEN_DELAY_MS=0 ai-streamer --once "hello there")
	[ "$(curl -sf "$API/api/stream/$mid?user_id=gina" | jq -j '.chunks[].content')" = "$want" ]
	n=$(rcli --raw lrange "$(key chat:history: ready-1)" 0 -1 | jq -r .message_id | grep -c "^$mid$")
	[ "$n" = 1 ]
	wait_for 10 bash -c "[ -z \"\$(redis-cli -p $REDIS_PORT zrange 'streams:user:{gina}' 0 -1)\" ]"
}

@test "a reply refused by enqueue.lua gives its reservation back" {
	admitted own-1 dave
	wait_for 15 bash -c "[ -z \"\$(redis-cli -p $REDIS_PORT zrange 'streams:user:{dave}' 0 -1)\" ]"
	# erin may not write in dave's session: 403, and erin holds nothing
	[ "$(chat_status own-1 erin)" = 403 ]
	[ "$(rcli zcard 'streams:user:{erin}')" = 0 ]
	admitted own-2 erin
}

@test "a worker killed between finish.lua and its ZREM: the reply ended once, and the user is not locked out" {
	admitted end-1 frank
	mid=$(rcli hget "$(key stream:session: end-1)" messageId)
	wait_for 15 bash -c "[ \"\$(redis-cli -p $REDIS_PORT hget '$(key stream:meta: "$mid")' status)\" = complete ]"
	# the worker is gone before its ZREM: frank's set still names the reply
	wait_for 10 grep -q 'fault point reached' "$STACK_DIR"/log/ai-streamer*
	[ "$(rcli zscore 'streams:user:{frank}' "$mid")" != "" ]
	# STREAMS_PER_USER=1: the ended reply must not refuse the next one
	admitted end-2 frank
	[ "$(rcli zscore 'streams:user:{frank}' "$mid")" = "" ]
	# its job, never acknowledged, is let go by recoverd (requeue.lua:
	# finished) without running again: in the history once, whole
	total=$(rcli hget "$(key stream:meta: "$mid")" total_chunks)
	no_pending() { [ "$(jobs_pending)" = 0 ]; }
	wait_for 40 no_pending
	n=$(rcli --raw lrange "$(key chat:history: end-1)" 0 -1 | jq -r .message_id | grep -c "^$mid$")
	[ "$n" = 1 ]
	[ "$(rcli hget "$(key stream:meta: "$mid")" total_chunks)" = "$total" ]
	[ "$(rcli hget "$(key stream:meta: "$mid")" status)" = complete ]
}
