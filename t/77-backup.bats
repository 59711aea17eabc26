# Backup and restore (issue 21): Redis runs with appendonly yes, so it
# ignores a dump.rdb at start; chatctl backup takes a snapshot and chatctl
# restore turns one into the AOF the stack's Redis starts from.

load helpers/stack

setup_file() { stack_up --token-delay-ms 1; }
teardown_file() { stack_down; }

history_has() {
	curl -sf "$API/api/history/$1?user_id=keeper" | jq -e --arg m "$2" 'any(.messages[]; .content == $m)' >/dev/null
}
complete() { [ "$(rcli hget "$(key stream:session: "$1")" status)" = complete ]; }

@test "backup, wipe, restore: the history is back, and still there after Redis restarts" {
	local i
	for i in 1 2 3; do post_chat "kept-$i" "remember me $i" keeper >/dev/null; done
	wait_for 20 complete kept-3
	history_has kept-2 "remember me 2"

	run chatctl backup "$BATS_TEST_TMPDIR/stack.rdb" --dir "$STACK_DIR"
	assert_success
	echo "$output"
	[ "$(head -c 5 "$BATS_TEST_TMPDIR/stack.rdb")" = REDIS ]

	# written after the backup: gone after the restore
	post_chat "later" "not in the backup" keeper >/dev/null
	wait_for 20 complete later
	rcli flushall >/dev/null
	run history_has kept-2 "remember me 2"
	assert_failure

	run chatctl restore "$BATS_TEST_TMPDIR/stack.rdb" --dir "$STACK_DIR"
	assert_success
	echo "$output"
	for i in 1 2 3; do history_has "kept-$i" "remember me $i"; done
	run history_has later "not in the backup"
	assert_failure
	# the restored data is Redis's AOF now, not a dump.rdb it would ignore
	sctl restart redis >/dev/null
	wait_for 20 history_has kept-1 "remember me 1"
	history_has kept-3 "remember me 3"
	# and the stack works on it
	post_chat kept-1 "and more" keeper >/dev/null
	wait_for 20 complete kept-1
	history_has kept-1 "and more"
	run chatctl status --dir "$STACK_DIR"
	assert_success
}

@test "restore refuses a file that is not a snapshot, and changes nothing" {
	echo "hello" >"$BATS_TEST_TMPDIR/not.rdb"
	run chatctl restore "$BATS_TEST_TMPDIR/not.rdb" --dir "$STACK_DIR"
	assert_failure
	assert_output --partial "not an RDB file"
	history_has kept-1 "remember me 1"
}
