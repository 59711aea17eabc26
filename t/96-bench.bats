# make bench in its quick mode: chat-bench's workloads run against a
# fresh stack and report figures, with no gap and no duplicate. (Speed is
# measured by make bench, not asserted here.)

ROOT=$(cd "$(dirname "$BATS_TEST_FILENAME")/.." && pwd)

@test "make bench QUICK=1: idle, relay (and its bare baseline), relay on WebSocket and SSE subscribers, 3 readers a session, time to first token, and chat each print their table, with no gap or duplicate" {
	run env QUICK=1 "$ROOT/t/bench/run"
	echo "$output"  # shown if the test fails
	[ "$status" -eq 0 ]
	echo "$output" | grep -E '^(==|chunks delivered|latency|gaps|POST|ws-relay|relay CPU|bare|WebSocket|SSE|  )' | sed 's/^/# /' >&3
	[ "$(echo "$output" | grep -c '^workload ')" = 11 ]
	[ "$(echo "$output" | grep -c '^gaps 0  duplicates 0')" = 10 ]
	# --readers 3: each kind with 1 reader, then 3, and what an extra reader costs
	echo "$output" | grep -q '^sessions            20 x 3 readers (60 sockets connected, 0 closed by the server)'
	echo "$output" | grep -qE '^WebSocket +relay CPU per published chunk: 1 reader [0-9.]+ us, 3 readers [0-9.]+ us; per extra reader per chunk -?[0-9.]+ us'
	echo "$output" | grep -qE '^SSE \(GET /stream\) relay CPU per published chunk: 1 reader [0-9.]+ us, 3 readers'
	# ttft: the first token's p50 and p99, and every hop seen in the traced pass
	echo "$output" | grep -q 'session.s open socket, 20 chats one at a time (20 with a first chunk)'
	echo "$output" | grep -qE '^  first chunk frame +p50 +[0-9.]+  p99 +[0-9.]+ ms'
	echo "$output" | grep -qE '^  XADD -> start.lua .* p50 +[0-9.]+  p99'
	echo "$output" | grep -qE '^  PUBLISH -> at a subscriber .* p50 +-?[0-9.]+  p99'
	! echo "$output" | grep -q 'not seen$' || false
	# the SSE mode: WebSocket and SSE subscribers side by side
	echo "$output" | grep -qE '^WebSocket +relay CPU per chunk [0-9.]+ us, latency p99 [0-9.]+ ms'
	echo "$output" | grep -qE '^SSE \(GET /stream\) relay CPU per chunk [0-9.]+ us, latency p99 [0-9.]+ ms'
	echo "$output" | grep -q '^sessions            100 (100 connected, 0 closed by the server)' 
	echo "$output" | grep -qE '^bare forwarder CPU per chunk [0-9.]+ us \([0-9]+ forwarded, 0 not'
	echo "$output" | grep -qE '^while all 50 replies streamed'
	echo "$output" | grep -q '^sessions            200 (200 connected, 0 closed by the server)'
	echo "$output" | grep -q 'replies ended 50$'
	echo "$output" | grep -q '^POST /api/chat      50 ok, 0 failed'
	echo "$output" | grep -qE '^latency publish->receipt  p50 [0-9.]+  p90 [0-9.]+  p99 [0-9.]+'
	echo "$output" | grep -qE 'KB/session'
	# the relays' own count of the bench's sockets (the chat run: 50 through nginx)
	echo "$output" | grep -qE '^sockets per relay +ws-[0-9]+ [0-9]+ \(50 sessions\); busiest / mean [0-9.]+$'
	! echo "$output" | grep -q 'chat-bench exited' || false
}
