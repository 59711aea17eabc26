# The archive (issue 22): every finished message goes from the Redis stream
# `archive` into PostgreSQL through the archiver, exactly once, whatever
# happens to the archiver or to PostgreSQL. A real PostgreSQL: the stack's
# own (STACK_ARCHIVE=1).

load helpers/stack

setup_file() {
	export STACK_ARCHIVE=1 ARCHIVE_BATCH=20 ARCHIVE_CLAIM_IDLE_MS=2000
	stack_up --relays 1 --streamers 2 --token-delay-ms 1
}
teardown_file() { stack_down; }
# a test that failed half-way leaves the next one a whole stack
teardown() {
	sctl start postgres archiver >/dev/null 2>&1 || true
	pg -c "DROP TRIGGER IF EXISTS slow_row ON messages; DROP FUNCTION IF EXISTS slow_row()" 2>/dev/null || true
}

# pipe_burst PREFIX N: N finished messages (N/2 exchanges written as
# ai-streamer --pipe writes them) over 10 sessions PREFIX-0..9, in one go.
pipe_burst() {
	local i
	for ((i = 0; i < $2 / 2; i++)); do
		ai-streamer --pipe --session "$1-$((i % 10))" --user tester "burst $i of $1" 2>/dev/null || return 1
	done | redis-cli -p "$REDIS_PORT" --pipe >/dev/null
}

stored() { pg -c "SELECT count(*) FROM messages WHERE session_id LIKE '$1-%'"; }
stored_is() { [ "$(stored "$1")" = "$2" ]; }
backlog_is() { [ "$(archive_total)" = "$1" ]; }
# entries of every partition's archive stream read and not acknowledged
archive_pending() {
	local p n=0 c
	for ((p = 0; p < 16; p++)); do
		c=$(rcli xpending "$(archive_key "$p")" archivers | head -n 1)
		[[ $c =~ ^[0-9]+$ ]] && n=$((n + c))
	done
	echo "$n"
}
beat() { rcli hget "node:archiver:{$1}" "$2"; }
beat_is() { [ "$(beat "$1" "$2")" = "$3" ]; }

# Each session's messages in PostgreSQL by seq are its Redis history, in order.
same_order() {
	local s
	for s in $(pg -c "SELECT DISTINCT session_id FROM messages WHERE session_id LIKE '$1-%'"); do
		diff <(rcli --raw lrange "$(key chat:history: "$s")" 0 -1 | jq -r .message_id) \
			<(pg -c "SELECT message_id FROM messages WHERE session_id = '$s' ORDER BY seq") ||
			return 1
	done
}

archiver_pid() { sctl pid archiver; }
archiver_running() { sctl status archiver | grep -q RUNNING; }

@test "a chat's two messages reach PostgreSQL with the session, its owner and its title" {
	# chatctl up returned once the archiver was connected: the schema is there
	[ "$(pg -c 'SELECT count(*) FROM schema_migrations')" = 1 ]
	mid=$(post_chat ch-1 "  Hello,   archive: the first message names the session  ")
	[ -n "$mid" ]
	wait_for 30 stored_is ch 2
	run pg -c "SELECT role, status FROM messages WHERE session_id = 'ch-1' ORDER BY seq"
	assert_output $'user|complete\nassistant|complete'
	run pg -c "SELECT content FROM messages WHERE message_id = '$mid'"
	[ "$output" = "$(rcli --raw lrange "$(key chat:history: "ch-1")" -1 -1 | jq -r .content)" ]
	run pg -c "SELECT user_id, title, created_at <= updated_at FROM sessions WHERE session_id = 'ch-1'"
	assert_output "tester|Hello, archive: the first message names the session|t"
	same_order ch
	wait_for 10 backlog_is 0
	# the metrics show the archive and its archiver
	wait_for 10 beat_is archiver-1 pg_up 1
	run curl -sf "$API/api/metrics"
	assert_success
	assert_output --partial 'streamchat_archive_backlog 0'
	assert_output --partial 'streamchat_archiver_up{node="archiver-1"} 1'
	assert_output --partial 'streamchat_archiver_pg_up{node="archiver-1"} 1'
}

@test "a title is the first user message cut at 80 characters, never inside one" {
	long=$(printf 'é%.0s' {1..50})$(printf '日%.0s' {1..50})
	ai-streamer --pipe --session ti-1 --user tester "$long" | rcli --pipe >/dev/null
	ai-streamer --pipe --session ti-1 --user tester "second message" | rcli --pipe >/dev/null
	wait_for 30 stored_is ti 4
	run pg -c "SELECT title, char_length(title) FROM sessions WHERE session_id = 'ti-1'"
	assert_output "$(printf 'é%.0s' {1..50})$(printf '日%.0s' {1..30})|80"
}

@test "kill -9 of the archiver during a burst of 500 messages: each is stored exactly once" {
	# 4 ms a row, so that the archiver is inside a batch most of the time
	pg -c "CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS
		'BEGIN PERFORM pg_sleep(0.004); RETURN NEW; END';
		CREATE TRIGGER slow_row BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION slow_row()"
	pipe_burst kb 500 &
	burst=$!
	for i in 1 2 3 4; do
		wait_for 20 archiver_running
		pid=$(archiver_pid)
		sleep 0.$((RANDOM % 4 + 3))
		kill -9 "$pid"
		wait_for 20 bash -c "[ \"\$(supervisorctl -c '$STACK_DIR/etc/supervisord.conf' pid archiver)\" != $pid ]"
	done
	wait "$burst"
	wait_for 20 archiver_running
	wait_for 90 stored_is kb 500
	pg -c "DROP TRIGGER slow_row ON messages; DROP FUNCTION slow_row()"
	run pg -c "SELECT count(DISTINCT message_id), count(*) FROM messages WHERE session_id LIKE 'kb-%'"
	assert_output "500|500"
	# every message of the histories, none else, and in their order
	history_ids() {
		local i
		for i in {0..9}; do rcli --raw lrange "$(key chat:history: "kb-$i")" 0 -1; done |
			jq -r .message_id | sort
	}
	run history_ids
	[ "$output" = "$(pg -c "SELECT message_id FROM messages WHERE session_id LIKE 'kb-%' ORDER BY 1")" ]
	same_order kb
	wait_for 20 backlog_is 0
	[ "$(archive_pending)" = 0 ]
	grep -q 'msg="started"' "$STACK_DIR/log/archiver.log"
	[ "$(grep -c 'msg="started"' "$STACK_DIR/log/archiver.log")" -ge 5 ]
}

@test "PostgreSQL stopped for 20 s under load: the API answers throughout, nothing is lost, the backlog drains" {
	sctl stop postgres
	wait_for 20 beat_is archiver-1 pg_up 0
	[ -n "$(beat archiver-1 pg_error)" ]
	run chatctl status --dir "$STACK_DIR"
	assert_failure
	assert_line --regexp '^archiver +RUNNING .* failing +stored='
	posted=0 failed=0
	end=$((SECONDS + 20))
	while [ $SECONDS -lt $end ] && [ $posted -lt 400 ]; do
		mid=$(post_chat "pd-$posted" "while PostgreSQL is down, message $posted")
		if [ -n "$mid" ]; then posted=$((posted + 1)); else failed=$((failed + 1)); fi
		[ "$(curl -s -o /dev/null -w '%{http_code}' "$API/api/health")" = 200 ] || failed=$((failed + 1))
		sleep 0.05
	done
	echo "posted $posted, failed $failed" >&3
	[ "$failed" -eq 0 ]
	[ "$posted" -gt 20 ]
	run curl -sf "$API/api/metrics"
	assert_output --partial 'streamchat_archiver_pg_up{node="archiver-1"} 0'
	[ "$(echo "$output" | awk '$1 == "streamchat_archive_backlog" { print $2 }')" -gt 0 ]
	sctl start postgres
	wait_for 90 stored_is pd $((posted * 2))
	wait_for 30 backlog_is 0
	wait_for 10 beat_is archiver-1 pg_up 1
	grep -q 'msg="postgres available again"' "$STACK_DIR/log/archiver.log"
}

@test "two archivers at once, on an empty database: the schema once, each message once" {
	sctl stop archiver
	pg -c "DROP TABLE messages, sessions, deleted_sessions, schema_migrations"
	pids=()
	for n in a b; do
		NODE_ID=arc-$n ARCHIVE_BATCH=10 REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0 \
			SHARE_DIR=$ROOT/share archiver >"$BATS_TEST_TMPDIR/arc-$n.log" 2>&1 &
		pids+=($!)
	done
	pipe_burst tw 300
	wait_for 60 stored_is tw 300
	for n in a b; do
		wait_for 10 beat_is arc-$n pg_up 1
	done
	sleep 1.5  # a last heartbeat with the last counts
	sa=$(beat arc-a stored) sb=$(beat arc-b stored)
	echo "arc-a stored $sa, arc-b $sb" >&3
	[ $((sa + sb)) -eq 300 ]
	beat_is arc-a duplicates 0
	beat_is arc-b duplicates 0
	[ "$(pg -c 'SELECT count(*) FROM schema_migrations')" = 1 ]
	kill "${pids[@]}"
	wait "${pids[@]}" || true
	! grep -E 'level=(warn|error)' "$BATS_TEST_TMPDIR"/arc-*.log || false
	sctl start archiver
}

@test "messages of a deleted session are not archived again; later ones are" {
	sctl stop archiver
	ai-streamer --pipe --session dl-1 --user tester "before the delete" | rcli --pipe >/dev/null
	pg -c "INSERT INTO deleted_sessions VALUES ('dl-1', 'tester', $(date +%s%3N))"
	sleep 0.01
	sctl start archiver
	ai-streamer --pipe --session dl-1 --user tester "after the delete" | rcli --pipe >/dev/null
	wait_for 30 stored_is dl 2
	wait_for 10 backlog_is 0
	run pg -c "SELECT content FROM messages WHERE session_id = 'dl-1' AND role = 'user'"
	assert_output "after the delete"
	run pg -c "SELECT title FROM sessions WHERE session_id = 'dl-1'"
	assert_output "after the delete"
}

@test "DATABASE_URL unset or unparsable: one clear line and exit 100; unreachable: it retries and reports pg_up 0" {
	run env -u DATABASE_URL REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0 archiver
	[ "$status" -eq 100 ]
	[ "${#lines[@]}" -eq 1 ]
	assert_output --partial "DATABASE_URL is not set"
	run env DATABASE_URL='not a url' REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0 archiver
	[ "$status" -eq 100 ]
	[ "${#lines[@]}" -eq 1 ]
	assert_output --partial "DATABASE_URL does not parse"
	DATABASE_URL="postgresql:///x?host=$BATS_TEST_TMPDIR/nowhere" NODE_ID=arc-bad \
		ARCHIVE_RETRY_MAX_MS=200 REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0 SHARE_DIR=$ROOT/share \
		archiver >"$BATS_TEST_TMPDIR/bad.log" 2>&1 &
	pid=$!
	wait_for 10 beat_is arc-bad pg_up 0
	[[ "$(beat arc-bad pg_error)" == *"cannot connect to PostgreSQL"* ]]
	sleep 2
	kill -0 "$pid"
	# it waits between attempts rather than spinning: well under a second of CPU in 2 s
	ticks=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
	echo "CPU ticks while retrying: $ticks" >&3
	[ "$ticks" -lt "$(( $(getconf CLK_TCK) / 2 ))" ]
	run curl -sf "$API/api/metrics"
	assert_output --partial 'streamchat_archiver_pg_up{node="arc-bad"} 0'
	kill "$pid"
	wait "$pid" || true
	# one line for the failure, not one per attempt
	[ "$(grep -c 'msg="postgres unavailable"' "$BATS_TEST_TMPDIR/bad.log")" -eq 1 ]
	rcli del "node:archiver:{arc-bad}" >/dev/null
	rcli zrem nodes:archiver arc-bad >/dev/null
}

@test "entries a dead consumer read and never acknowledged are taken over (XAUTOCLAIM)" {
	sctl stop archiver
	ai-streamer --pipe --session gh-1 --user tester "read by a ghost" | rcli --pipe >/dev/null
	# a consumer that reads and dies before storing
	run rcli xreadgroup group archivers ghost count 100 streams \
		"$(archive_key "$(partition_of stream:session: gh-1)")" '>'
	assert_success
	[ "$(archive_pending)" = 2 ]
	sctl start archiver
	wait_for 30 stored_is gh 2
	wait_for 10 backlog_is 0
	grep -q 'msg="claimed archive entries of another consumer"' "$STACK_DIR/log/archiver.log"
}

@test "malformed entries are let go and counted; text that is not UTF-8 is stored repaired" {
	before=$(beat archiver-1 unusable)
	rcli xadd 'archive:{u0}' '*' message_id x session_id bad-1 >/dev/null
	rcli xadd 'archive:{u0}' '*' message_id 0123456789abcdef0123456789abcdef session_id 'bad/1' user_id u \
		role user content hi status complete created_at 1 >/dev/null
	rcli xadd 'archive:{u0}' '*' message_id 0123456789abcdef0123456789abcdee session_id bad-1 user_id u \
		role robot content hi status complete created_at 1 >/dev/null
	rcli xadd 'archive:{u0}' '*' message_id 0123456789abcdef0123456789abcded session_id bad-1 user_id u \
		role user content hi status complete created_at soon >/dev/null
	printf '*17\r\n$4\r\nXADD\r\n$12\r\narchive:{u0}\r\n$1\r\n*\r\n$10\r\nmessage_id\r\n$32\r\n0123456789abcdef0123456789abcdec\r\n$10\r\nsession_id\r\n$5\r\nbad-2\r\n$7\r\nuser_id\r\n$1\r\nu\r\n$4\r\nrole\r\n$4\r\nuser\r\n$7\r\ncontent\r\n$6\r\na\xff\x00b\xc3z\r\n$6\r\nstatus\r\n$8\r\ncomplete\r\n$10\r\ncreated_at\r\n$1\r\n5\r\n' |
		rcli --pipe >/dev/null
	wait_for 30 stored_is bad 1
	wait_for 10 backlog_is 0
	wait_for 10 beat_is archiver-1 unusable $((before + 4))
	run pg -c "SELECT content, session_id FROM messages WHERE session_id LIKE 'bad-%'"
	assert_output "a�"$'\xef\xbf\xbd'"b�z|bad-2"
	sctl status archiver | grep -q RUNNING
	[ "$(grep -c 'msg="archive entry unusable"' "$STACK_DIR/log/archiver.log")" -ge 4 ]
}

@test "the stack's PostgreSQL: the programs' user's, no TCP port, closed to other local users" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to act as another user"
	pid=$(sctl pid postgres)
	[ "$(ps -o user= -p "$pid")" = streamchat ]
	[ "$(stat -c '%U %a' "$STACK_DIR/postgres")" = "streamchat 700" ]
	! ss -ltnp | grep -q "pid=$pid," || false
	run runuser -u nobody -- psql "$DATABASE_URL" -X -c 'SELECT 1'
	assert_failure
	assert_output --partial "Permission denied"
}
