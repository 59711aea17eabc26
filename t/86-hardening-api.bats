# Hardening of the API against local and network attackers (issue 20): a
# hostile peer of the FastCGI socket, a history read that would make Redis
# copy a whole session, the owner check in development mode, and a Redis
# password with reserved characters that must never be printed.

load helpers/stack

POKE=$ROOT/t/helpers/fcgi-poke.py

setup_file() {
	stack_up --token-delay-ms 5
	export SOCK
	SOCK=$(sed -n 's|^socket=unix://||p' "$STACK_DIR/etc/supervisord.conf")
	[ -S "$SOCK" ]
}

teardown_file() { stack_down; }

# peer ARGS...: fcgi-poke.py as an unprivileged user when that user can reach
# the socket (the stack's directory may keep it out), else as root
peer() {
	if runuser -u nobody -- python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' "$SOCK" 2>/dev/null; then
		runuser -u nobody -- python3 "$POKE" "$SOCK" "$@"
	else
		python3 "$POKE" "$SOCK" "$@"
	fi
}

fcgi_pids() { sctl status 'chat-fcgi:*' | awk '/RUNNING/ { print $4 }' | tr -d , | sort | tr '\n' ' '; }

@test "a well-formed raw FastCGI request is answered" {
	run peer get 10
	assert_output 'Status: 200 OK'
}

@test "PARAMS announcing a name of 2 GB: every chat-fcgi stays up, allocates nothing, /api answers" {
	local before i
	before=$(fcgi_pids)
	[ "$(echo $before | wc -w)" -ge 2 ]
	# Debian 12's libfcgi aborts on this one (a failed malloc) ...
	for i in 1 2 3 4 5 6; do
		run peer bigname 10
		assert_output --regexp '^closed after'
	done
	assert_equal "$(fcgi_pids)" "$before"
	! grep -q 'Assertion' "$STACK_DIR/log/chat-fcgi.log"
	# ... and allocates 2 GB for this one, then waits for them to arrive
	run peer bigalloc 20
	assert_output --regexp '^closed after [0-9]\.'
	assert_equal "$(fcgi_pids)" "$before"
	run curl -s -m 10 -o /dev/null -w '%{http_code}' "$API/api/health"
	assert_output 200
}

@test "four peers that stall mid-body do not keep /api from answering" {
	local i t0 t1
	for i in 1 2 3 4; do
		peer stall 40 >"$BATS_TEST_TMPDIR/stall-$i" 2>&1 &
	done
	sleep 1
	t0=$(date +%s)
	run curl -s -m 25 -o /dev/null -w '%{http_code}' "$API/api/health"
	t1=$(date +%s)
	assert_output 200
	[ $((t1 - t0)) -le 15 ]
	wait
	for i in 1 2 3 4; do
		run cat "$BATS_TEST_TMPDIR/stall-$i"
		assert_output --regexp '^closed after'
	done
}

