# /api/health and /api/ai-health tell the truth when Redis or a worker is gone,
# and nothing dies with them.

load helpers/stack

setup_file() { stack_up --token-delay-ms 5 --relays 2; }
teardown_file() { stack_down; }

code() { curl -s -o /dev/null -w '%{http_code}' "$1"; }

@test "with Redis down, /api/health and the relays answer 503; back up, 200 and history kept" {
	run chat-cli --url "$API" --session h1 "remember this"
	assert_success
	before=$(curl -sf "$API/api/history/h1?user_id=tester")
	pids=$(sctl status | awk '/RUNNING/ && !/redis/ {print $4}' | tr -d , | sort)
	sleep 1.2   # let appendfsync everysec reach the disk
	sctl stop redis
	wait_for 10 bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' $API/api/health) = 503 ]"
	run curl -s "$API/api/health"
	assert_output --partial '"redis":"down"'
	wait_for 10 bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$RELAY_BASE/health) = 503 ]"
	[ "$(code "$API/api/ai-health")" = 503 ]
	run api POST /api/chat '{"session_id":"h2","user_id":"tester","message":"while down"}'
	assert_output --regexp '^503 .*"code":"unavailable"'
	sctl start redis
	wait_for 15 bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' $API/api/health) = 200 ]"
	wait_for 15 bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$RELAY_BASE/health) = 200 ]"
	wait_for 15 bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' $API/api/ai-health) = 200 ]"
	# no process exited meanwhile
	[ "$(sctl status | awk '/RUNNING/ && !/redis/ {print $4}' | tr -d , | sort)" = "$pids" ]
	[ "$(curl -sf "$API/api/history/h1?user_id=tester")" = "$before" ]
	run chat-cli --url "$API" --session h3 "working again"
	assert_success
}

@test "a worker that stops heartbeating is reported; with none left, chats get 503" {
	run curl -sf "$API/api/ai-health"
	assert_success
	[ "$(echo "$output" | jq .healthy_nodes)" -eq 2 ]
	pid=$(sctl pid ai-streamer:ai-streamer-0)
	kill -STOP "$pid"
	wait_for 10 bash -c "curl -s $API/api/ai-health | jq -e '.healthy_nodes == 1' >/dev/null"
	run curl -s "$API/api/ai-health"
	[ "$(echo "$output" | jq -r '.nodes[] | select(.id=="ai-0") | .status')" != healthy ]
	# the other worker still serves
	run chat-cli --url "$API" --session h4 "one worker left"
	assert_success
	pid1=$(sctl pid ai-streamer:ai-streamer-1)
	kill -STOP "$pid1"
	wait_for 10 bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' $API/api/ai-health) = 503 ]"
	run api POST /api/chat '{"session_id":"h5","user_id":"tester","message":"anyone?"}'
	assert_output --regexp '^503 .*no AI worker'
	[ "$(rcli exists "$(key chat:history: "h5")")" = 0 ]
	kill -CONT "$pid" "$pid1"
	wait_for 10 bash -c "curl -s $API/api/ai-health | jq -e '.healthy_nodes == 2' >/dev/null"
}

@test "a worker killed with -9 is replaced and the suite keeps serving" {
	pid=$(sctl pid ai-streamer:ai-streamer-1)
	kill -9 "$pid"
	wait_for 10 bash -c "[ \"\$(supervisorctl -c $STACK_DIR/etc/supervisord.conf pid ai-streamer:ai-streamer-1)\" != $pid ]"
	wait_for 10 bash -c "curl -s $API/api/ai-health | jq -e '.healthy_nodes == 2' >/dev/null"
	run chat-cli --url "$API" --session h6 "after the kill"
	assert_success
}

@test "Redis freezing for 0.8 s at a time under 100 concurrent chats fails none of them" {
	pid=$(sctl pid redis)
	( for _ in 1 2 3 4 5; do kill -STOP "$pid"; sleep 0.8; kill -CONT "$pid"; sleep 0.2; done ) &
	freezer=$!
	pids=()
	for i in $(seq 1 100); do
		chat-cli --url "$API" --session "f$i" --timeout 60 "$(words 40)" >"$BATS_TEST_TMPDIR/f$i.out" 2>&1 &
		pids+=($!)
	done
	fails=0
	for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
	wait "$freezer"
	if [ "$fails" -ne 0 ]; then
		grep -h 'chat-cli:' "$BATS_TEST_TMPDIR"/f*.out | sort | uniq -c | head >&3
		false
	fi
}
