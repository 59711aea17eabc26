# Several readers per session (a user's tabs, a shared conversation): every
# socket of a session, WebSocket or HTTP stream, gets each chunk exactly
# once; and a stream whose client hung up costs the relay nothing while it
# waits to be found gone.

load helpers/stack

# heartbeats far apart: a hung-up stream is found gone only by a write
setup_file() { STREAM_HEARTBEAT_S=120 stack_up --relays 1; }
teardown_file() { stack_down; }

bench() { chat-bench --redis "redis://127.0.0.1:$REDIS_PORT/0" --relay "127.0.0.1:$RELAY_BASE" "$@"; }
relay_pid() { sctl pid "ws-relay:ws-relay-$RELAY_BASE"; }
# CPU ticks (1/100 s on Linux) a process has used
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# The figure of the run after the line "-- <phase>" ($1) on the line that starts with $2.
phase_field() { awk -v ph="$1" -v key="$2" '/^-- / { on = index($0, ph) > 0 } on && index($0, key) == 1 { print; exit }' <<<"$output"; }

@test "3 readers per session, on WebSocket and on SSE: every socket gets every published chunk exactly once" {
	run bench --workload relay --transport both --readers 3 --sessions 20 --rate 500 --seconds 2
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^gaps 0  duplicates 0' <<<"$output")" = 4 ]
	local kind published delivered
	for kind in "WebSocket, 3 readers" "SSE, 3 readers"; do
		phase_field "$kind" "sessions " | grep -q '20 x 3 readers (60 sockets connected, 0 closed by the server)'
		published=$(phase_field "$kind" "chunks published" | awk '{print $3}')
		delivered=$(phase_field "$kind" "chunks delivered" | awk '{print $3}')
		[ "$published" -gt 100 ]
		[ "$delivered" = $((3 * published)) ]
	done
	grep -qE '^WebSocket +relay CPU per published chunk: 1 reader [0-9.]+ us, 3 readers [0-9.]+ us; per extra reader per chunk -?[0-9.]+ us' <<<"$output"
	grep -qE '^SSE \(GET /stream\) relay CPU per published chunk: 1 reader [0-9.]+ us, 3 readers' <<<"$output"
}

@test "3 readers of real replies: each of the 3 sockets of a session gets the whole reply once, and its end" {
	run bench --workload chat --readers 3 --sessions 10 --seconds 60 --prompt-words 5 --api "127.0.0.1:$HTTP_PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q '^sessions            10 x 3 readers (30 sockets connected, 0 closed by the server)' <<<"$output"
	grep -q '^gaps 0  duplicates 0  replies ended 30$' <<<"$output"
	# 10 replies of 8 + 2 * 5 tokens, each to 3 sockets
	grep -qE '^chunks delivered    540 in' <<<"$output"
}

@test "SSE clients that hung up mid-reply leave the relay idle (it spun on their open ends until a write found them gone)" {
	run bench --workload relay --transport sse --sessions 20 --rate 200 --seconds 1
	[ "$status" -eq 0 ]
	local pid before
	pid=$(relay_pid)
	# the 20 streams are cut with no end; the relay holds them until it writes
	wait_for 10 test "$(curl -s "http://127.0.0.1:$RELAY_BASE/health" | jq -r '.streams // 0')" -ge 1
	before=$(cpu_ticks "$pid")
	sleep 3
	echo "relay CPU over 3 s: $(($(cpu_ticks "$pid") - before)) ticks"
	# idle it takes about none; spinning on 20 hung-up streams, most of a core
	[ $(($(cpu_ticks "$pid") - before)) -lt 60 ]
}

@test "streams of one reply in sse, ui and openai at once, two of each: each gets its own format, whole and once (sse and ui share each chunk's event)" {
	local mid f k d=$BATS_TEST_TMPDIR pids=()
	mid=$(post_chat mixed "$(words 40)")
	for f in sse ui openai; do
		for k in 1 2; do
			curl -sN --max-time 60 "http://127.0.0.1:$RELAY_BASE/stream/$mid?user_id=tester&format=$f" >"$d/$f$k" &
			pids+=($!)
		done
	done
	wait "${pids[@]}"
	local text n
	text=$(curl -sf "$API/api/history/mixed?user_id=tester" | jq -j '.messages[-1].content')
	n=$(rcli hget "$(key stream:meta: "$mid")" total_chunks)
	[ "$n" -gt 80 ]
	for k in 1 2; do
		# sse: every index once, in order, and the text
		[ "$(sed -n 's/^data: \({"index".*}\)$/\1/p' "$d/sse$k" | jq -r .index | tr '\n' ' ')" = "$(seq -s ' ' 0 $((n - 1))) " ]
		[ "$(sed -n 's/^data: \({"index".*}\)$/\1/p' "$d/sse$k" | jq -j .content)" = "$text" ]
		# ui: its deltas name the message's text part and make the text
		[ "$(sed -n 's/^data: \({.*\)$/\1/p' "$d/ui$k" | jq -r 'select(.type=="text-delta").id' | sort -u)" = "text-$mid" ]
		[ "$(sed -n 's/^data: \({.*\)$/\1/p' "$d/ui$k" | jq -j 'select(.type=="text-delta").delta')" = "$text" ]
		[ "$(grep -c '^id: ' "$d/ui$k")" = "$n" ]
		# openai: the role in its first delta only
		[ "$(sed -n 's/^data: \({.*\)$/\1/p' "$d/openai$k" | jq -r '.choices[0].delta.role // empty')" = assistant ]
		[ "$(sed -n 's/^data: \({.*\)$/\1/p' "$d/openai$k" | jq -j '.choices[0].delta.content // empty')" = "$text" ]
	done
	# a stream that began later than another still gets the same events
	cmp "$d/sse1" "$d/sse2"
	cmp "$d/ui1" "$d/ui2"
}
