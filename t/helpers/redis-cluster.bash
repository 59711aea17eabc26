# A real Redis Cluster for a test: 3 primaries with one replica each on
# free ports under a directory of the test's, made with redis-cli --cluster
# create. cluster-node-timeout is small so that a replica takes over a
# killed primary within a few seconds.
#
# cluster_up DIR [PASSWORD]: exports CLUSTER_DIR CLUSTER_PORTS (6, space
#   separated) CLUSTER_SEEDS (h:p,h:p,h:p of the first three) CLUSTER_PASSWORD
# cluster_down: stops every node it started and removes their data
# ccli PORT ARGS...: redis-cli on one node, with the password

# shellcheck source=t/helpers/ports.bash
. "$(dirname "${BASH_SOURCE[0]}")/ports.bash"

ccli() {
	local port=$1
	shift
	# bounded: a node under test may be frozen
	REDISCLI_AUTH=${CLUSTER_PASSWORD:-} timeout 10 redis-cli --no-auth-warning -h 127.0.0.1 -p "$port" "$@"
}

cluster_node_start() {  # cluster_node_start PORT
	local d=$CLUSTER_DIR/$1
	mkdir -p "$d"
	redis-server --port "$1" --bind 127.0.0.1 --daemonize yes --dir "$d" \
		--pidfile "$d/redis.pid" --logfile "$d/redis.log" --save '' --appendonly no \
		--cluster-enabled yes --cluster-config-file "$d/nodes.conf" \
		--cluster-node-timeout 1000 --cluster-replica-validity-factor 0 \
		${CLUSTER_PASSWORD:+--requirepass "$CLUSTER_PASSWORD" --masterauth "$CLUSTER_PASSWORD"} \
		>/dev/null
}

cluster_up() {
	local base p i
	export CLUSTER_DIR=$1 CLUSTER_PASSWORD=${2:-}
	base=$(free_ports 6) || return 1
	CLUSTER_PORTS=""
	for ((i = 0; i < 6; i++)); do CLUSTER_PORTS="$CLUSTER_PORTS $((base + i))"; done
	export CLUSTER_PORTS=${CLUSTER_PORTS# }
	export CLUSTER_SEEDS=127.0.0.1:$base,127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))
	for p in $CLUSTER_PORTS; do cluster_node_start "$p" || return 1; done
	for p in $CLUSTER_PORTS; do
		cluster_wait 10 ccli "$p" PING || return 1
	done
	local nodes=()
	for p in $CLUSTER_PORTS; do nodes+=("127.0.0.1:$p"); done
	REDISCLI_AUTH=$CLUSTER_PASSWORD redis-cli --no-auth-warning --cluster create "${nodes[@]}" \
		--cluster-replicas 1 --cluster-yes >"$CLUSTER_DIR/create.log" 2>&1 || {
		cat "$CLUSTER_DIR/create.log" >&2
		return 1
	}
	for p in $CLUSTER_PORTS; do
		cluster_wait 30 cluster_node_ok "$p" || { echo "node $p never saw the cluster ok" >&2; return 1; }
	done
	cluster_wait 30 cluster_replicas_synced || { echo "replicas never synced" >&2; return 1; }
}

cluster_node_ok() {
	ccli "$1" CLUSTER INFO | grep -q '^cluster_state:ok' &&
		[ "$(ccli "$1" CLUSTER SLOTS | grep -c .)" -gt 0 ]
}

# every replica's link to its primary up
cluster_replicas_synced() {
	local p n=0
	for p in $CLUSTER_PORTS; do
		if ccli "$p" ROLE | head -n 1 | grep -q slave; then
			ccli "$p" INFO replication | grep -q 'master_link_status:up' || return 1
			n=$((n + 1))
		fi
	done
	[ "$n" -eq 3 ]
}

# cluster_wait SECONDS COMMAND...: retries the command every 0.2 s
cluster_wait() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

# the port of the primary that serves slot $1, as a live node sees it
cluster_primary_of_slot() {
	local p
	for p in $CLUSTER_PORTS; do
		ccli "$p" PING >/dev/null 2>&1 || continue
		ccli "$p" CLUSTER NODES | awk -v s="$1" '
			$3 ~ /master/ && $3 !~ /fail/ {
				for (i = 9; i <= NF; i++) {
					if ($i ~ /^\[/) continue      # [slot->-id] migrations
					n = split($i, r, "-")
					if (n == 1) r[2] = r[1]
					if (s >= r[1] + 0 && s <= r[2] + 0) {
						split($2, a, "[:@]")
						print a[2]
						exit
					}
				}
			}'
		return
	done
}

# the node id of the node on port $1
cluster_node_id() { ccli "$1" CLUSTER MYID; }

cluster_down() {
	local p pid
	[ -n "${CLUSTER_DIR:-}" ] || return 0
	for p in $CLUSTER_PORTS; do
		pid=$(cat "$CLUSTER_DIR/$p/redis.pid" 2>/dev/null) || continue
		kill -9 "$pid" 2>/dev/null || true
	done
	for p in $CLUSTER_PORTS; do rm -rf "${CLUSTER_DIR:?}/$p/dump.rdb"; done
}
