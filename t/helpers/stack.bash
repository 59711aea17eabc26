# Helpers for integration tests: each test file starts its own stack with
# bin/chatctl on free ports in a temporary directory and tears it down.
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

ROOT=$(cd "$(dirname "${BATS_TEST_FILENAME}")/.." && pwd)
PATH=$ROOT/bin:$PATH
export USER=tester
# the built-in generator's text with quotes, backslashes and non-ASCII words, so
# that every reply exercises the escaping paths
export GENERATOR=${GENERATOR:-hostile}
# The suite's own load (100 chats at once, from one address and one user)
# would meet the limits a deployment wants; t/85 tests those at their defaults.
export CHAT_PER_MIN=${CHAT_PER_MIN:-1000000} STREAMS_PER_USER=${STREAMS_PER_USER:-100000}
export LIMIT_CONN_PER_IP=${LIMIT_CONN_PER_IP:-60000} API_RATE_PER_S=${API_RATE_PER_S:-100000}
export API_BURST=${API_BURST:-100000}
export WS_PER_MIN_USER=${WS_PER_MIN_USER:-1000000} WS_PER_MIN_ADDR=${WS_PER_MIN_ADDR:-1000000}

# shellcheck source=t/helpers/ports.bash
. "$ROOT/t/helpers/ports.bash"
# key KIND ID: a session's or a message's key with its partition's tag
# shellcheck source=t/helpers/keys.bash
. "$ROOT/t/helpers/keys.bash"
# shellcheck source=t/helpers/cluster1.bash
. "$ROOT/t/helpers/cluster1.bash"

# stack_up [chatctl up options]: exports STACK_DIR HTTP_PORT REDIS_PORT RELAY_BASE API.
# STACK_ARCHIVE=1: with the archive (a PostgreSQL of the stack's own, or
# STACK_DATABASE_URL's, and an archiver; DATABASE_URL exported), which costs
# about a second a stack, so the other tests go without (--no-archive).
# STACK_REDIS=sentinel: Redis as a primary, a replica and three sentinels
# (chatctl up --redis-sentinel), on REDIS_PORT..REDIS_PORT+4; rcli follows
# the primary.
# STACK_REDIS=cluster: a Redis Cluster of 3 primaries with a replica each
# (chatctl up --redis-cluster 3, CLUSTER_NODE_TIMEOUT_MS 1000 unless given),
# nodes on REDIS_PORT..REDIS_PORT+5; rcli follows MOVED from a live node,
# rkeys scans every primary.
# STACK_REDIS=cluster1: a one-node cluster-enabled Redis (every slot on it,
# reached with redis://), so that any call naming keys of two slots is
# refused CROSSSLOT (t/helpers/cluster1.bash).
stack_up() {
	local base
	if [ "${STACK_REDIS:-single}" = sentinel ]; then
		base=$(free_ports 11) || return 1
		export HTTP_PORT=$base RELAY_BASE=$((base + 1)) REDIS_PORT=$((base + 6))
		set -- --redis-sentinel "$@"
	elif [ "${STACK_REDIS:-single}" = cluster ]; then
		# the HTTP port, 3 relays, 6 nodes and their 6 cluster bus ports
		base=$(free_ports 16) || return 1
		export HTTP_PORT=$base RELAY_BASE=$((base + 1)) REDIS_PORT=$((base + 4))
		export CLUSTER_NODE_TIMEOUT_MS=${CLUSTER_NODE_TIMEOUT_MS:-1000}
		set -- --redis-cluster 3 "$@"
	else
		base=$(free_ports 6) || return 1
		export HTTP_PORT=$base REDIS_PORT=$((base + 1)) RELAY_BASE=$((base + 2))
	fi
	export STACK_DIR
	STACK_DIR=$(mktemp -d "${STREAMCHAT_TEST_ROOT:-/tmp}/stack.XXXXXX")
	export API=http://127.0.0.1:$HTTP_PORT
	DATABASE_URL=${STACK_DATABASE_URL:-} chatctl up --dir "$STACK_DIR" --http-port "$HTTP_PORT" --redis-port "$REDIS_PORT" \
		--relay-port-base "$RELAY_BASE" $([ "${STACK_ARCHIVE:-0}" = 1 ] || echo --no-archive) \
		"$@" >"$STACK_DIR/up.log" 2>&1 || {
		cat "$STACK_DIR/up.log" >&2
		return 1
	}
	if [ "${STACK_ARCHIVE:-0}" = 1 ]; then
		DATABASE_URL=$(. "$STACK_DIR/stack.env" && echo "$DATABASE_URL")
		export DATABASE_URL
	fi
	# a stack with AUTH_SECRET has a Redis password even when none was given
	local pwfile
	pwfile=$(sed -n 's/^REDIS_PASSWORD_FILE=//p' "$STACK_DIR/stack.env")
	if [ -n "$pwfile" ]; then
		REDISCLI_AUTH=$(head -n 1 "$pwfile")
		export REDISCLI_AUTH
	fi
	[ "${STACK_REDIS:-single}" != cluster1 ] || cluster1_convert
	export STACK_REDIS_URL
	STACK_REDIS_URL=$(stack_redis_url)
}

# The URL a program a test starts itself takes to reach the stack's Redis.
stack_redis_url() {
	local creds="" i hosts=""
	[ -z "${REDISCLI_AUTH:-}" ] || creds=":$(jq -rn --arg p "$REDISCLI_AUTH" '$p|@uri')@"
	case ${STACK_REDIS:-single} in
	cluster)
		for i in 0 1 2 3 4 5; do hosts+="${hosts:+,}127.0.0.1:$((REDIS_PORT + i))"; done
		echo "redis+cluster://$creds$hosts/" ;;
	sentinel)
		for i in 2 3 4; do hosts+="${hosts:+,}127.0.0.1:$((REDIS_PORT + i))"; done
		echo "redis+sentinel://$creds$hosts/streamchat" ;;
	*) echo "redis://${creds}127.0.0.1:$REDIS_PORT/0" ;;
	esac
}

# Under STACK_REDIS=cluster1 it fails (so does the file's teardown) when a
# program's log shows a call refused CROSSSLOT.
stack_down() {
	[ -n "${STACK_DIR:-}" ] || return 0
	chatctl down --dir "$STACK_DIR" >/dev/null 2>&1 || true
	rm -rf "$STACK_DIR/redis" "$STACK_DIR/nginx" "$STACK_DIR/postgres"
	[ "${STACK_REDIS:-single}" != cluster1 ] || [ -z "$(crossslot_lines)" ] ||
		{ crossslot_lines | head -n 5 >&2; return 1; }
}

# On a cluster rcli follows MOVED and ASK (-c) from a live node: a test's
# command naming keys of two slots is refused CROSSSLOT there, a test bug.
rcli() {
	if [ "${STACK_REDIS:-single}" = cluster ]; then
		redis-cli -c -p "$(redis_primary_port)" "$@"
	else
		redis-cli -p "$(redis_primary_port)" "$@"
	fi
}
# rkeys PATTERN: the keys matching PATTERN (SCAN), on a cluster every primary's
rkeys() {
	local p
	if [ "${STACK_REDIS:-single}" != cluster ]; then
		rcli --scan --pattern "$1"
		return
	fi
	for p in $(cluster_primary_ports); do redis-cli -p "$p" --scan --pattern "$1"; done
}
# the ports of the cluster's primaries now, as a live node sees them
cluster_primary_ports() {
	redis-cli -p "$(redis_primary_port)" cluster nodes |
		awk '$3 ~ /master/ && $3 !~ /fail/ && $8 == "connected" && NF >= 9 { split($2, a, "[:@]"); print a[2] }'
}
# The primary's port: REDIS_PORT, under Sentinel the one the sentinels name,
# on a cluster the first node that answers (rcli -c goes on from there).
redis_primary_port() {
	local i port
	if [ "${STACK_REDIS:-single}" = cluster ]; then
		for i in 0 1 2 3 4 5; do
			[ "$(redis-cli -p $((REDIS_PORT + i)) ping 2>/dev/null)" != PONG ] || { echo $((REDIS_PORT + i)); return; }
		done
		echo "$REDIS_PORT"
		return
	fi
	[ "${STACK_REDIS:-single}" = sentinel ] || { echo "$REDIS_PORT"; return; }
	for i in 2 3 4; do
		port=$(redis-cli -p $((REDIS_PORT + i)) --raw sentinel get-master-addr-by-name streamchat 2>/dev/null |
			sed -n 2p)
		[ -n "$port" ] && { echo "$port"; return; }
	done
	echo "$REDIS_PORT"
}
# replica_back: under Sentinel, once the data node killed in a failover has
# been started again, waits until the two data nodes are a primary and its
# replica again: the one the sentinels name, and the other replicating from
# it. Usually the node started again is the replica (the sentinels send it
# REPLICAOF after it has reported itself a primary for 8 s), but they may
# pick it back (doc/configuration.md, --redis-sentinel). 120 s: a sentinel
# whose timer ran 2 s late (a loaded machine) does nothing for 30 s (TILT).
# On a timeout it prints what the sentinels logged.
replica_pair() {
	local primary other
	primary=$(redis_primary_port)
	other=$((REDIS_PORT + (primary == REDIS_PORT)))
	redis-cli -p "$other" --raw role 2>/dev/null | head -n 3 | paste -sd' ' - | grep -q "^slave 127.0.0.1 $primary$"
}
replica_back() {
	local t0=$SECONDS
	if wait_for 120 replica_pair; then
		echo "a primary ($(redis_primary_port)) and its replica again $((SECONDS - t0)) s after the start" >&3
		return
	fi
	echo "the sentinels name $(redis_primary_port); roles: $(redis-cli -p "$REDIS_PORT" role | head -n 1), $(redis-cli -p $((REDIS_PORT + 1)) role | head -n 1)" >&3
	grep -hE 'tilt|convert-to-slave|slave-reconf|switch-master|odown' "$STACK_DIR"/log/sentinel-*.log >&3 || true
	return 1
}
# exported, so that `wait_for N bash -c "... rcli ..."` finds them
export STACK_REDIS
export -f rcli rkeys cluster_primary_ports redis_primary_port
# psql against the stack's archive (STACK_ARCHIVE=1): unaligned, tuples only
pg() { psql "$DATABASE_URL" -X -q -At -v ON_ERROR_STOP=1 "$@"; }
sctl() { supervisorctl -c "$STACK_DIR/etc/supervisord.conf" "$@"; }

# post_chat SESSION MESSAGE [USER]: the message id on stdout
post_chat() {
	local body
	body=$(jq -cn --arg s "$1" --arg m "$2" --arg u "${3:-tester}" \
		'{session_id: $s, message: $m, user_id: $u}')
	curl -sf -X POST -H 'Content-Type: application/json' -d "$body" "$API/api/chat" |
		jq -r .message_id
}

# api METHOD PATH [BODY]: prints "STATUS BODY"
api() {
	local out
	out=$(curl -s -o "$BATS_TEST_TMPDIR/body" -w '%{http_code}' -X "$1" \
		-H 'Content-Type: application/json' ${3:+--data-binary "$3"} "$API$2")
	echo "$out $(cat "$BATS_TEST_TMPDIR/body")"
}

# wait_for SECONDS COMMAND...: retries until the command succeeds
wait_for() {
	local limit=$1 t=0
	shift
	until "$@"; do
		t=$((t + 1))
		[ $t -lt $((limit * 10)) ] || return 1
		sleep 0.1
	done
}

# A prompt of n words: the built-in generator replies with 8 + 2n tokens.
words() { local i; for ((i = 0; i < $1; i++)); do printf 'w%d ' "$i"; done; }

# jobs_total / archive_total: entries in every partition's job (archive)
# stream; jobs_pending: entries of the job streams read and not acknowledged
jobs_total() { local p n=0; for ((p = 0; p < 16; p++)); do n=$((n + $(rcli xlen "$(jobs_key "$p")"))); done; echo "$n"; }
archive_total() { local p n=0; for ((p = 0; p < 16; p++)); do n=$((n + $(rcli xlen "$(archive_key "$p")"))); done; echo "$n"; }
# one redis-cli for all 16: a scan of one call each took long enough on a
# loaded machine for a job to end and the next to start within it, so that
# both were counted (t/79 saw 3 held by a worker of concurrency 2)
jobs_pending() {
	local p cmds=""
	for ((p = 0; p < 16; p++)); do cmds+="XPENDING $(jobs_key "$p") ai-streamers"$'\n'; done
	printf '%s' "$cmds" | rcli --json 2>/dev/null | grep '^\[' | jq -s 'map(.[0]) | add // 0'
}

# chunks_written SESSION: how many chunks the session's current reply has so far.
chunks_written() {
	local mid
	mid=$(rcli hget "$(key stream:session: "$1")" messageId)
	[ -n "$mid" ] || { echo 0; return; }
	rcli llen "$(key stream:chunks: "$mid")"
}
chunks_past() { [ "$(chunks_written "$1")" -gt "$2" ]; }

# worker_pids: "NODE PID" a line for each running worker (ai-0 1234), once
# both run. A test that signals a worker mid-reply reads it before the reply
# starts: supervisorctl can take seconds on a loaded machine, as long as the
# rest of a short reply. pid_of PIDS NODE: NODE's pid in such a table.
worker_pids() {
	local table
	for _ in $(seq 300); do
		table=$(sctl status 'ai-streamer:*' | awk '$2 == "RUNNING" {
			sub(/.*:ai-streamer-/, "ai-", $1); sub(/,/, "", $4); print $1, $4 }')
		[ "$(echo "$table" | grep -c .)" -lt 2 ] || { echo "$table"; return; }
		sleep 0.1
	done
	return 1
}
pid_of() { awk -v n="$2" '$1 == n { print $2 }' <<<"$1"; }
