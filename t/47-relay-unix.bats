#!/usr/bin/env bats
# ws-relay's Unix socket (UNIX_SOCKET) against what happens to its file and
# its listener: a live relay's socket is not taken over, a stale one is, a
# relay that stops removes only its own, the file is never open to others
# whatever the umask, and a flood of connects beyond the relay's descriptors
# leaves it serving. Relays here are bare processes on one Redis of the file.

load 'helpers/stack'

setup_file() {
	REDIS_PORT=$(free_ports 1)
	export REDIS_PORT
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
		>"$BATS_FILE_TMPDIR/redis.log" 2>&1 3>&- &
	echo $! >"$BATS_FILE_TMPDIR/redis.pid"
	wait_for 10 redis-cli -p "$REDIS_PORT" ping
}

teardown_file() {
	kill "$(cat "$BATS_FILE_TMPDIR/redis.pid")" 2>/dev/null || true
}

teardown() {
	local p
	for p in $RELAY_PIDS; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}

# relay NAME SOCKET: a relay on a free port and SOCKET, NODE_ID ws-NAME; its
# pid is appended to RELAY_PIDS, its log is $BATS_TEST_TMPDIR/NAME.log.
relay() {
	local port
	port=$(free_ports 1)
	REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0 UNIX_SOCKET=$2 NODE_ID=ws-$1 \
		ws-relay --port "$port" >"$BATS_TEST_TMPDIR/$1.log" 2>&1 3>&- &
	LAST_PID=$!
	RELAY_PIDS="$RELAY_PIDS $LAST_PID"
	LAST_PORT=$port
}

# which relay answers on socket $1 (its node id), or nothing
answers_on() { curl -s --max-time 5 --unix-socket "$1" http://relay/health | sed -n 's/.*"node":"\([^"]*\)".*/\1/p'; }
serves() { [ "$(answers_on "$1")" = "$2" ]; }
stopped() { ! kill -0 "$1" 2>/dev/null; }

@test "a relay refuses a socket that another relay listens on, and leaves it to it" {
	local sock=$BATS_TEST_TMPDIR/r.sock
	relay a "$sock"
	local a=$LAST_PID
	wait_for 10 serves "$sock" ws-a
	relay b "$sock"
	local b=$LAST_PID
	# b gives up (not taking a's socket from under it) ...
	wait_for 10 stopped "$b"
	run wait "$b"
	[ "$status" = 111 ]
	grep -q 'UNIX_SOCKET is in use' "$BATS_TEST_TMPDIR/b.log"
	# ... and a still answers on it
	serves "$sock" ws-a
	kill -0 "$a"
}

@test "a dead relay's socket file is replaced at start" {
	local sock=$BATS_TEST_TMPDIR/stale.sock
	# a socket file nothing listens on any more (what kill -9 leaves)
	python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$sock"
	[ -S "$sock" ]
	relay c "$sock"
	wait_for 10 serves "$sock" ws-c
}

@test "a relay that stops removes its own socket file, not a newer relay's on the same path" {
	local sock=$BATS_TEST_TMPDIR/r.sock
	relay old "$sock"
	local old=$LAST_PID
	wait_for 10 serves "$sock" ws-old
	# the path is taken by a new relay meanwhile (the old file removed by hand)
	rm "$sock"
	relay new "$sock"
	wait_for 10 serves "$sock" ws-new
	kill "$old"
	wait_for 10 stopped "$old"
	serves "$sock" ws-new
	# and the new one removes its own when it stops
	kill "$LAST_PID"
	wait_for 10 stopped "$LAST_PID"
	[ ! -e "$sock" ]
}

@test "the socket file is closed to others whatever the umask" {
	local sock=$BATS_TEST_TMPDIR/open.sock
	umask 000
	relay d "$sock"
	umask 022
	wait_for 10 serves "$sock" ws-d
	local mode
	mode=$(stat -c %a "$sock")
	echo "mode $mode"
	# no permission bit for others, and nothing beyond owner's and group's rw
	[ $((8#$mode & 8#117)) = 0 ]
}

@test "connects beyond the relay's descriptors wait in the backlog, without the relay spinning, and it serves after" {
	command -v strace >/dev/null || skip "strace is not installed"
	local sock=$BATS_TEST_TMPDIR/flood.sock port
	port=$(free_ports 1)
	# 64 descriptors: the flood runs the relay out of them (accept: EMFILE)
	(
		ulimit -n 64
		exec env REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0 UNIX_SOCKET=$sock NODE_ID=ws-f \
			strace -f -qq -e trace=accept4 -o "$BATS_TEST_TMPDIR/accept.trace" \
			ws-relay --port "$port" >"$BATS_TEST_TMPDIR/f.log" 2>&1 3>&-
	) &
	local tracer=$!
	RELAY_PIDS="$RELAY_PIDS $tracer"
	wait_for 20 serves "$sock" ws-f
	# the relay itself (strace's child) goes first, so that strace ends with it
	RELAY_PIDS="$(pgrep -P "$tracer") $RELAY_PIDS"
	# 150 connections held open for 2 s (bounded: 20 s), then all closed
	timeout 20 python3 - "$sock" <<-'EOF'
		import socket, sys, time
		held = []
		for _ in range(150):
		    s = socket.socket(socket.AF_UNIX)
		    s.settimeout(2)
		    try:
		        s.connect(sys.argv[1])
		    except OSError:
		        break
		    held.append(s)
		time.sleep(2)
		for s in held:
		    s.close()
	EOF
	wait_for 20 serves "$sock" ws-f
	grep -q 'cannot accept on UNIX_SOCKET: pausing' "$BATS_TEST_TMPDIR/f.log"
	# out of descriptors, the relay waits between attempts (100 ms) rather
	# than trying again at once: tens of thousands of failed accepts a
	# second when it spins, about ten a second when it waits
	run grep -c 'EMFILE' "$BATS_TEST_TMPDIR/accept.trace"
	echo "accepts failed with EMFILE: $output"
	[ "$output" -ge 1 ]
	[ "$output" -lt 1000 ]
}

@test "on the socket, a client that never sends or stops mid-header is hung up on, and a cut request harms nothing" {
	local sock=$BATS_TEST_TMPDIR/idle.sock
	relay e "$sock"
	wait_for 10 serves "$sock" ws-e
	# silent, half a request line, half the headers: each must be cut by the
	# relay (lws's 10 s for a request), well within 30 s
	run timeout 40 python3 - "$sock" <<-'EOF'
		import socket, sys, time
		starts = [b"", b"GET /hea", b"GET /health HTTP/1.1\r\nHost: r\r\nX-A: "]
		conns = []
		for data in starts:
		    s = socket.socket(socket.AF_UNIX)
		    s.connect(sys.argv[1])
		    s.sendall(data)
		    s.settimeout(30)
		    conns.append(s)
		t0 = time.time()
		for s in conns:
		    try:
		        while s.recv(4096):
		            pass
		    except socket.timeout:
		        print("still open after", round(time.time() - t0), "s")
		        sys.exit(1)
		    except ConnectionResetError:
		        pass
		# cut half-way: a request and a close at once, a reset mid-header
		for data in [b"GET /health HTTP/1.1\r\nHost: r\r\n\r\n", b"GET /stream/x HTTP/1.1\r\nHo"]:
		    s = socket.socket(socket.AF_UNIX)
		    s.connect(sys.argv[1])
		    s.sendall(data)
		    s.close()
		print("all cut")
	EOF
	echo "$output"
	assert_success
	serves "$sock" ws-e
}
