# A dead AI backend does not look healthy: the workers probe their endpoints
# (GET /models, AI_PROBE_MS), and /api/ai-health, /api/metrics, the logs and
# a chat's error say that the AI model is unavailable, naming the endpoint
# where operators read it, never with the user:password its URL carries.
# The stack starts against a working stand-in (t/helpers/fake-openai.c),
# which is then stopped: its port is closed.

load helpers/stack

setup_file() {
	export FAKE_DIR FAKE_PORT URL
	FAKE_DIR=$(mktemp -d "${STREAMCHAT_TEST_ROOT:-/tmp}/fake.XXXXXX")
	printf '%s\n' '"Hello"' '" from"' '" the"' '" model."' >"$FAKE_DIR/tokens"
	echo ok >"$FAKE_DIR/mode"
	FAKE_PORT=$(free_ports 1)
	URL=http://127.0.0.1:$FAKE_PORT/v1
	fake_start
	AI_BACKEND=openai AI_API_KEY=sk-probe-83 AI_PROBE_MS=1000 AI_TIMEOUT_MS=2000 \
		AI_BASE_URLS="http://proxyuser:pw-in-url-83@127.0.0.1:$FAKE_PORT/v1" \
		stack_up --relays 1 --streamers 2
}

teardown_file() {
	stack_down
	fake_stop
	rm -rf "$FAKE_DIR"
}

fake_start() {
	"$ROOT/build/fake-openai" --port "$FAKE_PORT" --log "$FAKE_DIR/log" --tokens "$FAKE_DIR/tokens" \
		--mode-file "$FAKE_DIR/mode" --probe-log "$FAKE_DIR/probes" >/dev/null 2>&1 3>&- &
	echo $! >"$FAKE_DIR/pid"
}

fake_stop() {
	[ -s "$FAKE_DIR/pid" ] || return 0
	pkill -P "$(cat "$FAKE_DIR/pid")" 2>/dev/null || true
	kill "$(cat "$FAKE_DIR/pid")" 2>/dev/null || true
	: >"$FAKE_DIR/pid"
}

health() { curl -s -o "$BATS_TEST_TMPDIR/health" -w '%{http_code}' "$API/api/ai-health"; }
# ai_health_is CODE STATUS: /api/ai-health answers CODE with .status STATUS
ai_health_is() { [ "$(health)" = "$1" ] && [ "$(jq -r .status "$BATS_TEST_TMPDIR/health")" = "$2" ]; }
refused_errors() {
	curl -s "$API/api/metrics" |
		awk '/^streamchat_worker_upstream_errors_total\{.*code="refused"/ {s += $2} END {print s + 0}'
}
failures() {
	curl -s "$API/api/metrics" | awk '/^streamchat_worker_failures_total\{/ {s += $2} END {print s + 0}'
}

backends_up() {
	ai_health_is 200 healthy &&
		[ "$(jq -r '[.nodes[].backend_state] | unique | join(",")' "$BATS_TEST_TMPDIR/health")" = up ]
}

@test "workers probe their AI server with the key: healthy, backend_state up" {
	# unknown until the first probe answers
	wait_for 20 backends_up
	h=$BATS_TEST_TMPDIR/health
	[ "$(jq -r '.serving_nodes' "$h")" = 2 ]
	[ "$(jq -r '[.nodes[].backend] | unique | join(",")' "$h")" = openai ]
	grep -q '^=== probe' "$FAKE_DIR/probes"
	grep -q '^GET /v1/models ' "$FAKE_DIR/probes"
	grep -q '^Authorization: Bearer sk-probe-83' "$FAKE_DIR/probes"
}

@test "the AI server gone: degraded (503) within a probe interval, naming the URL and the error" {
	wait_for 20 backends_up
	errors_before=$(refused_errors)
	fake_stop
	# one probe interval is 1 s; the bound is generous for a loaded machine
	wait_for 20 ai_health_is 503 degraded
	h=$BATS_TEST_TMPDIR/health
	cat "$h"
	[ "$(jq -r '.serving_nodes' "$h")" = 0 ]
	[ "$(jq -r '.healthy_nodes' "$h")" = 2 ]
	wait_for 10 bash -c "curl -s $API/api/ai-health | jq -e '[.nodes[] | .backend_state == \"down\" and .last_error.url == \"$URL\" and .last_error.code == \"refused\" and (.last_error.message | length > 0) and .last_error.at_ms > 0] | all' >/dev/null"
	# the workers' counters: errors by kind, before anyone chats
	wait_for 10 bash -c "[ \$(curl -s $API/api/metrics | awk '/^streamchat_worker_upstream_errors_total\\{.*code=\"refused\"/ {s += \$2} END {print s + 0}') -gt $errors_before ]"
	run bash -c "curl -sf $API/api/metrics | awk -f $ROOT/t/helpers/promcheck.awk"
	assert_success
	# the logs name the endpoint; neither they nor ai-health show its password
	grep -h 'AI endpoint unreachable' "$STACK_DIR"/log/ai-streamer-*.log | grep -q "endpoint=$URL "
	run grep -l pw-in-url-83 "$h" "$STACK_DIR"/log/ai-streamer-*.log
	[ "$status" -eq 1 ]
}

@test "a chat while the model is down: the error frame and the history say the model is unavailable" {
	fake_stop
	wait_for 20 ai_health_is 503 degraded
	failed_before=$(failures)
	run chat-cli --url "$API" --session ah1 "anyone there?"
	[ "$status" -eq 5 ]
	assert_output --partial "the AI model is unavailable"
	refute_output --partial "Couldn't connect"
	item=$(curl -sf "$API/api/history/ah1?user_id=tester" | jq -c '.messages[-1]')
	[ "$(jq -r .status <<<"$item")" = error ]
	[ "$(jq -r .error.code <<<"$item")" = refused ]
	[[ $(jq -r .error.message <<<"$item") == "the AI model is unavailable"* ]]
	# the failed reply counts, and its log line names the endpoint and the model
	wait_for 10 bash -c "[ \$(curl -s $API/api/metrics | awk '/^streamchat_worker_failures_total\\{/ {s += \$2} END {print s + 0}') -gt $failed_before ]"
	grep -h 'AI request failed' "$STACK_DIR"/log/ai-streamer-*.log | grep "endpoint=$URL " | grep -q 'model=gpt-4o-mini'
}

@test "an AI server answering 500 is degraded too, counted as http_5xx" {
	fake_stop
	echo fail >"$FAKE_DIR/mode"
	fake_start
	wait_for 20 bash -c "curl -s $API/api/ai-health | jq -e '[.nodes[] | .last_error.code == \"http_500\"] | all' >/dev/null"
	ai_health_is 503 degraded
	curl -s "$API/api/metrics" | grep -q '^streamchat_worker_upstream_errors_total{.*code="http_5xx"} [1-9]'
}

@test "the AI server back: healthy again within a probe interval, and chats work" {
	fake_stop
	echo ok >"$FAKE_DIR/mode"
	fake_start
	wait_for 20 backends_up
	run chat-cli --url "$API" --session ah2 "hello again"
	assert_success
	[ "$output" = "Hello from the model." ]
}

@test "chatctl up against an AI server nobody answers: up, but exit 3 and a warning naming it" {
	local dir base closed
	dir=$(mktemp -d "${STREAMCHAT_TEST_ROOT:-/tmp}/stack.XXXXXX")
	base=$(free_ports 6)
	closed=$(free_ports 1)
	run env AI_BACKEND=openai AI_PROBE_MS=1000 AI_TIMEOUT_MS=2000 \
		AI_BASE_URLS="http://127.0.0.1:$closed/v1" \
		timeout 60 chatctl up --dir "$dir" --http-port "$base" --redis-port $((base + 1)) \
		--relay-port-base $((base + 2)) --relays 1 --streamers 1
	chatctl down --dir "$dir" >/dev/null 2>&1 || true
	rm -rf "$dir"
	[ "$status" -eq 3 ]
	assert_output --partial "streamchat is up"
	assert_output --partial "warning: the AI model is unavailable: http://127.0.0.1:$closed/v1"
}
