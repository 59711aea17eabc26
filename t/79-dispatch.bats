# How workers take jobs (doc/redis.md, "Two steps"): a worker blocks on the
# dispatch stream jobs:ready alone and reads one job per entry, so it never
# holds more jobs than AI_CONCURRENCY, however many partitions have jobs
# waiting when it reads.

load helpers/stack

setup_file() { AI_CONCURRENCY=2 stack_up --relays 1 --streamers 1; }
teardown_file() { stack_down; }

@test "jobs waiting in 8 partitions: a worker of concurrency 2 takes 2 at a time, and serves them all" {
	sctl stop ai-streamer:ai-streamer-0 >/dev/null
	# chat-fcgi refuses chats when no worker lives (503): a heartbeat of a
	# worker that does not exist lets the jobs queue up meanwhile
	rcli zadd nodes:ai "$(($(date +%s%3N) + 60000))" ai-ghost >/dev/null
	local p sessions=()
	for p in 0 2 4 6 8 10 12 14; do
		sessions+=("$(session_in_partition "$p" dp)")
		post_chat "${sessions[-1]}" "$(words 60)" "u$p" >/dev/null
	done
	[ "$(jobs_total)" = 8 ]
	rcli zrem nodes:ai ai-ghost >/dev/null
	sctl start ai-streamer:ai-streamer-0 >/dev/null
	# the jobs it holds (read, not acknowledged) while the replies stream
	local most=0 n i s mid done_all
	for ((i = 0; i < 100; i++)); do
		n=$(jobs_pending)
		[ "$n" -le "$most" ] || most=$n
		done_all=1
		for s in "${sessions[@]}"; do
			mid=$(rcli hget "$(key stream:session: "$s")" messageId)
			[ "$(rcli hget "$(key stream:meta: "$mid")" status)" = complete ] || { done_all=0; break; }
		done
		[ "$done_all" = 0 ] || break
		sleep 0.3
	done
	echo "at most $most jobs held at once" >&3
	[ "$most" -ge 1 ]
	[ "$most" -le 2 ]
	for s in "${sessions[@]}"; do
		mid=$(rcli hget "$(key stream:session: "$s")" messageId)
		wait_for 60 bash -c "[ \"\$(redis-cli -p $REDIS_PORT hget '$(key stream:meta: "$mid")' status)\" = complete ]"
	done
}
