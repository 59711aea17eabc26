# Log rotation (issue 21): after the logs are moved away, chatctl
# reopen-logs makes nginx and supervisord (every program's log) write new
# files; nginx's open-files limit follows its worker_connections.

load helpers/stack

setup_file() { stack_up --token-delay-ms 1; }
teardown_file() { stack_down; }

has_lines() { [ -s "$1" ] && grep -q "$2" "$1"; }
# logged_anew SESSION: posts a chat and asks for its history; 0 once both
# logs have it in their new files
logged_anew() {
	post_chat "$1" "hello" >/dev/null
	curl -sf "$API/api/history/$1?user_id=tester" >/dev/null
	sleep 0.2
	has_lines "$STACK_DIR/log/nginx-access.log" "/api/history/$1" &&
		has_lines "$STACK_DIR/log/chat-fcgi.log" "session=$1"
}

@test "chatctl reopen-logs: moved logs stay as they were, new files get the new lines" {
	local log=$STACK_DIR/log
	curl -sf "$API/api/health" >/dev/null
	post_chat before-rotate "hello" >/dev/null
	wait_for 10 has_lines "$log/nginx-access.log" '/api/chat'
	wait_for 10 has_lines "$log/chat-fcgi.log" 'chat enqueued'
	mv "$log/nginx-access.log" "$log/nginx-access.log.1"
	mv "$log/chat-fcgi.log" "$log/chat-fcgi.log.1"
	mv "$log/ai-streamer-0.log" "$log/ai-streamer-0.log.1"
	run chatctl reopen-logs --dir "$STACK_DIR"
	assert_success
	# the processes reopen as they handle the signal: requests until the
	# new files have lines (bounded), then one more that must be there alone
	wait_for 20 logged_anew after-rotate
	post_chat marker "hello" >/dev/null
	curl -sf "$API/api/history/marker?user_id=tester" >/dev/null
	wait_for 10 has_lines "$log/nginx-access.log" '/api/history/marker'
	wait_for 10 has_lines "$log/chat-fcgi.log" 'session=marker'
	# the first worker's new log, whichever worker takes these replies
	wait_for 20 bash -c "curl -sf -X POST -H 'Content-Type: application/json' \
		-d '{\"session_id\":\"w-'\$RANDOM'\",\"message\":\"hi\",\"user_id\":\"tester\"}' \
		$API/api/chat >/dev/null; sleep 0.2; grep -q job $log/ai-streamer-0.log"
	run grep -c 'marker' "$log/nginx-access.log.1" "$log/chat-fcgi.log.1"
	refute_output --partial ':1'
	refute_output --partial ':2'
	# new logs are as closed as the old ones
	[ "$(stat -c %a "$log/nginx-access.log")" = 640 ]
	[ "$(stat -c %a "$log/chat-fcgi.log")" = 640 ]
	run chatctl status --dir "$STACK_DIR"
	assert_success
}

@test "nginx's workers may open two descriptors per connection, or as many as the hard limit allows" {
	local want=131072 worker
	(ulimit -Hn "$want") 2>/dev/null || want=$(ulimit -Hn)
	grep -q "^worker_rlimit_nofile $want;" "$STACK_DIR/etc/nginx.conf"
	worker=$(pgrep -P "$(cat "$STACK_DIR/nginx/nginx.pid")" | head -n 1)
	[ "$(awk '/^Max open files/ { print $4 }' "/proc/$worker/limits")" = "$want" ]
	run grep setrlimit "$STACK_DIR/log/nginx-error.log"
	assert_failure
}
