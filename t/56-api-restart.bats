# Restarting the API (issue 21): chatctl restart chat-fcgi replaces its
# processes one at a time while requests keep coming, and /api/metrics stays
# valid Prometheus text whose counters go on across restarts.

load helpers/stack

setup_file() { API_PROCS=3 stack_up --token-delay-ms 5; }
teardown_file() { stack_down; }

promcheck() { awk -f "$ROOT/t/helpers/promcheck.awk"; }
sample() { awk -v m="$1" '$1 == m { print $2; f = 1 } END { if (!f) print 0 }'; }
api_pids() { sctl status 'chat-fcgi:*' | awk '{ print $4 }' | sort; }

# load NAME: GET history and POST /api/chat in turn until $BATS_TEST_TMPDIR/stop
# appears (at most 600 requests, 120 s); one "METHOD STATUS" line per request.
load_loop() {
	local i body code end=$((SECONDS + 120))
	for ((i = 0; i < 600 && SECONDS < end; i++)); do
		[ -e "$BATS_TEST_TMPDIR/stop" ] && break
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
			"$API/api/history/load-$1?user_id=loader")
		echo "GET $code"
		# a session of its own: a session streams one reply at a time (409)
		body=$(jq -cn --arg s "load-$1-$i" '{session_id: $s, message: "hi", user_id: "loader"}')
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST \
			-H 'Content-Type: application/json' -d "$body" "$API/api/chat")
		echo "POST $code"
	done
}

# under_load COMMAND...: runs it while three loops send requests; then
# $BATS_TEST_TMPDIR/codes holds the status of each request
under_load() {
	local pids=() i
	rm -f "$BATS_TEST_TMPDIR/stop"
	for i in 1 2 3; do
		load_loop "$i" >"$BATS_TEST_TMPDIR/load$i" &
		pids+=($!)
	done
	wait_for 20 bash -c "[ \$(cat $BATS_TEST_TMPDIR/load* | wc -l) -ge 30 ]"
	"$@"
	local rc=$?
	sleep 1  # more requests after the last responder came back
	touch "$BATS_TEST_TMPDIR/stop"
	wait "${pids[@]}"
	cat "$BATS_TEST_TMPDIR"/load[123] >"$BATS_TEST_TMPDIR/codes"
	return $rc
}

@test "chatctl restart chat-fcgi under GET and POST load: every process restarts, no request fails" {
	local before after
	before=$(api_pids)
	under_load chatctl restart chat-fcgi --dir "$STACK_DIR" >"$BATS_TEST_TMPDIR/restart.out" 2>&1
	cat "$BATS_TEST_TMPDIR/restart.out"
	after=$(api_pids)
	[ "$(echo "$after" | wc -l)" = 3 ]
	[ "$(comm -12 <(echo "$before") <(echo "$after") | wc -l)" = 0 ]
	local total failed
	total=$(wc -l <"$BATS_TEST_TMPDIR/codes")
	failed=$(grep -cvE '^(GET 200|POST 202)$' "$BATS_TEST_TMPDIR/codes" || true)
	echo "# $total requests during the restart, $failed failed" >&3
	grep -vE '^(GET 200|POST 202)$' "$BATS_TEST_TMPDIR/codes" | sort | uniq -c || true
	[ "$total" -ge 60 ]
	[ "$failed" = 0 ]
}

@test "/api/metrics after chat-fcgi restarts under load: valid histograms, requests_total goes on" {
	local before after posts m
	before=$(curl -sf "$API/api/metrics")
	echo "$before" | promcheck
	# all processes at once (supervisorctl), then one at a time (chatctl)
	under_load bash -c "supervisorctl -c $STACK_DIR/etc/supervisord.conf restart 'chat-fcgi:*' >/dev/null; sleep 1; chatctl restart chat-fcgi --dir $STACK_DIR >/dev/null"
	posts=$(grep -c '^POST 202$' "$BATS_TEST_TMPDIR/codes")
	[ "$posts" -ge 10 ]
	for m in 1 2 3; do
		after=$(curl -sf "$API/api/metrics")
		echo "$after" | promcheck
		chatctl restart chat-fcgi --dir "$STACK_DIR" >/dev/null
	done
	after=$(curl -sf "$API/api/metrics")
	echo "$after" | promcheck
	local b a
	b=$(echo "$before" | sample 'streamchat_api_requests_total{route="chat",status="202"}')
	a=$(echo "$after" | sample 'streamchat_api_requests_total{route="chat",status="202"}')
	echo "chat 202: $b before, $a after, $posts posted"
	[ $((a - b)) -eq "$posts" ]
	b=$(echo "$before" | sample 'streamchat_api_request_duration_seconds_count{route="history"}')
	a=$(echo "$after" | sample 'streamchat_api_request_duration_seconds_count{route="history"}')
	echo "history count: $b before, $a after, $(grep -c '^GET 200$' "$BATS_TEST_TMPDIR/codes") sent"
	[ $((a - b)) -ge "$(grep -c '^GET 200$' "$BATS_TEST_TMPDIR/codes")" ]
	# every counter of the API went up or stayed
	local name v
	while read -r name v; do
		[ "$v" -ge "$(echo "$before" | sample "$name")" ] || { echo "$name went down to $v"; false; }
	done < <(echo "$after" | grep '^streamchat_api_requests_total{')
}

@test "SIGTERM to responders busy with requests: each answers its request, then exits" {
	local before i pids=()
	before=$(api_pids)
	# Redis holds every command for 1.5 s (below REDIS_TIMEOUT_MS): each
	# responder is in the middle of a request when the signal comes
	rcli client pause 1500 all >/dev/null
	for i in 1 2 3; do
		curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 -X POST -H 'Content-Type: application/json' \
			-d "{\"session_id\":\"term-$i\",\"message\":\"hi\",\"user_id\":\"loader\"}" \
			"$API/api/chat" >"$BATS_TEST_TMPDIR/term$i" &
		pids+=($!)
	done
	sleep 0.5
	sctl signal TERM 'chat-fcgi:*' >/dev/null
	wait "${pids[@]}"
	cat "$BATS_TEST_TMPDIR"/term[123]
	[ "$(cat "$BATS_TEST_TMPDIR"/term[123] | grep -c '^202$')" = 3 ]
	# they stopped (exit 0, so supervisord leaves them stopped) after answering
	wait_for 10 bash -c "! supervisorctl -c $STACK_DIR/etc/supervisord.conf status 'chat-fcgi:*' | grep -q RUNNING"
	grep -q 'msg="stopped"' "$STACK_DIR/log/chat-fcgi.log"
	sctl start 'chat-fcgi:*' >/dev/null
	wait_for 10 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $API/api/health)\" = 200 ]"
	[ "$(comm -12 <(echo "$before") <(api_pids) | wc -l)" = 0 ]
}
