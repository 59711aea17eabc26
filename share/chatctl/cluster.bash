# chatctl up --redis-cluster N: the stack's Redis as a Redis Cluster of N
# primaries with one replica each in the run directory, made with
# `redis-cli --cluster create`, and every program given the
# redis+cluster:// URL. Sourced by bin/chatctl.
#
# Ports: the 2N data nodes on --redis-port R .. R+2N-1, and each node's
# cluster bus on R+2N .. R+4N-1 (checked free like every other port, not
# Redis's default port + 10000, which nothing would check). The nodes are
# supervisord's "redis" (R) and "redis-2" .. "redis-2N"; which of them are
# primaries changes with each failover (chatctl status shows each one's
# role). A node that dies is not restarted by supervisord: the cluster, not
# a quick restart, decides who serves its slots; started again
# (supervisorctl start), it rejoins as a replica.
#
# The programs are started only once the cluster serves every slot
# (cluster_state:ok), so none of them meets a half-made cluster.

CLUSTER_NODE_TIMEOUT_MS=${CLUSTER_NODE_TIMEOUT_MS:-5000}

cluster_nodes() { echo $((2 * CLUSTER_PRIMARIES)); }
cluster_node_port() { echo $((REDIS_PORT + $1)); }
cluster_bus_port() { echo $((REDIS_PORT + $(cluster_nodes) + $1)); }
# supervisord's name of node I (0-based): redis, redis-2, redis-3, ...
cluster_node_name() { if [ "$1" = 0 ]; then echo redis; else echo "redis-$(($1 + 1))"; fi; }

# The ports beyond R, as stack_ports lists them.
cluster_stack_ports() {
	local i n
	n=$(cluster_nodes)
	for ((i = 1; i < n; i++)); do echo "$(cluster_node_port "$i") Redis-node-$((i + 1)) --redis-port(+$i)"; done
	for ((i = 0; i < n; i++)); do echo "$(cluster_bus_port "$i") Redis-cluster-bus --redis-port(+$((n + i)))"; done
}

# redis+cluster://[:password@]127.0.0.1:R,127.0.0.1:R+1,.../ (every node a
# seed: the programs read the slot map from the first that answers)
cluster_url() {
	local creds="" hosts="" i
	if [ -n "${REDIS_PASSWORD:-}" ]; then
		creds=":$(jq -rn --arg p "$REDIS_PASSWORD" '$p|@uri')@"
	fi
	for ((i = 0; i < $(cluster_nodes); i++)); do hosts+="${hosts:+,}127.0.0.1:$(cluster_node_port "$i")"; done
	echo "redis+cluster://$creds$hosts/"
}

# The lines a node's configuration gets beyond the stack's redis.conf.
cluster_conf_lines() {  # I
	echo "cluster-enabled yes"
	echo "cluster-config-file nodes.conf"
	echo "cluster-port $(cluster_bus_port "$1")"
	echo "cluster-node-timeout $CLUSTER_NODE_TIMEOUT_MS"
	# a replica authenticates to its primary, a demoted primary to the new one
	[ -z "${REDIS_PASSWORD:-}" ] || printf 'masterauth "%s"\n' "$REDIS_PASSWORD"
}

# Each node's configuration (etc/redis.conf for node 0, etc/redis-K.conf)
# and data directory (DIR/redis, DIR/redis/node-K).
cluster_setup() {
	[[ $CLUSTER_PRIMARIES =~ ^[0-9]+$ ]] && [ "$CLUSTER_PRIMARIES" -ge 3 ] ||
		die "--redis-cluster needs 3 or more primaries (Redis Cluster's minimum), got '$CLUSTER_PRIMARIES'"
	[[ $CLUSTER_NODE_TIMEOUT_MS =~ ^[0-9]+$ ]] && [ "$CLUSTER_NODE_TIMEOUT_MS" -ge 100 ] ||
		die "CLUSTER_NODE_TIMEOUT_MS must be a number of milliseconds, 100 or more"
	local i name conf
	for ((i = 1; i < $(cluster_nodes); i++)); do
		name=$(cluster_node_name "$i")
		conf=$DIR/etc/$name.conf
		mkdir -p "$DIR/redis/node-$((i + 1))"
		sed -e "s|^port .*|port $(cluster_node_port "$i")|" -e "s|^dir .*|dir $DIR/redis/node-$((i + 1))|" \
			"$DIR/etc/redis.conf" > "$conf"
		cluster_conf_lines "$i" >> "$conf"
		protect "$conf"
	done
	cluster_conf_lines 0 >> "$DIR/etc/redis.conf"
	[ "$(id -u)" -ne 0 ] || chown -R "$RUN_USER:$RUN_GROUP" "$DIR/redis"
}

# supervisord's sections for the other nodes; no restart for any node (see
# above), and the programs held back until the cluster is made (cluster_start).
cluster_conf() {
	awk '/^\[/ { sect = $0 }
		{ print }
		$0 == "[program:redis]" { print "autorestart=false" }
		/^\[(fcgi-)?program:/ && sect !~ /:(redis|postgres)\]$/ { print "autostart=false" }' "$1"
	local redis i name
	redis=$(find_bin redis-server)
	for ((i = 1; i < $(cluster_nodes); i++)); do
		name=$(cluster_node_name "$i")
		redis_program "$name" 1 no "$redis $DIR/etc/$name.conf"
	done
}

ccli_node() {  # PORT ARGS...: redis-cli on one node, bounded (a node may hang)
	local port=$1
	shift
	timeout 10 redis-cli --no-auth-warning -h 127.0.0.1 -p "$port" "$@"
}

cluster_state_ok() {
	grep -qx 'cluster_state:ok' <<<"$(ccli_node "$1" cluster info 2>/dev/null | tr -d '\r')"
}

# How many nodes node PORT knows (itself included).
cluster_known_nodes() {
	ccli_node "$1" cluster info 2>/dev/null | tr -d '\r' | sed -n 's/^cluster_known_nodes://p'
}

# 0 when some live node sees the whole cluster serving every slot.
cluster_ready() {
	local i
	for ((i = 0; i < $(cluster_nodes); i++)); do
		cluster_state_ok "$(cluster_node_port "$i")" && return 0
	done
	return 1
}

# Once every node answers: the cluster made (unless an earlier up in this
# run directory made it: the nodes keep it in nodes.conf), every slot
# served, then the programs started.
cluster_start() {
	local i t port nodes=()
	redis_auth
	for ((i = 0; i < $(cluster_nodes); i++)); do
		port=$(cluster_node_port "$i")
		for ((t = 0; t < 150; t++)); do
			[ "$(ccli_node "$port" ping 2>/dev/null)" = PONG ] && break
			sleep 0.2
		done
		[ "$(ccli_node "$port" ping 2>/dev/null)" = PONG ] ||
			fail_up "Redis node $(cluster_node_name "$i") (port $port) did not answer in 30 s: $(first_fatal_line "$(cluster_node_name "$i")")"
		nodes+=("127.0.0.1:$port")
	done
	if [ "$(cluster_known_nodes "$REDIS_PORT")" = 1 ]; then
		redis-cli --no-auth-warning --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes \
			> "$DIR/log/cluster-create.log" 2>&1 ||
			fail_up "redis-cli --cluster create failed: $(grep -m 1 -E 'ERR|\[ERR\]' "$DIR/log/cluster-create.log" || tail -n 1 "$DIR/log/cluster-create.log")"
	fi
	for ((t = 0; t < 300; t++)); do
		cluster_ready && break
		sleep 0.2
	done
	cluster_ready || fail_up "the Redis Cluster did not reach cluster_state:ok in 60 s (see $DIR/log/cluster-create.log and $DIR/log/redis*.log)"
	ctl start all >/dev/null 2>&1 || true  # a program that cannot start: wait_up names it
}

# status's health and details of a node: its role, its port, the slots it
# serves and the cluster's state as it sees it.
# shellcheck disable=SC2034  # health and details are the caller's (status)
cluster_status() {  # NAME -> sets health and details
	local i port role state slots
	redis_auth
	if [ "$1" = redis ]; then i=0; else i=$((${1#redis-} - 1)); fi
	port=$(cluster_node_port "$i")
	role=$(ccli_node "$port" role 2>/dev/null | awk 'NR == 1') || true
	state=$(ccli_node "$port" cluster info 2>/dev/null | tr -d '\r' | sed -n 's/^cluster_state://p') || true
	slots=$(ccli_node "$port" cluster nodes 2>/dev/null |
		awk '$3 ~ /myself/ { n = 0; for (i = 9; i <= NF; i++) { if ($i ~ /^\[/) continue
			k = split($i, r, "-"); n += (k == 1) ? 1 : r[2] - r[1] + 1 } print n }') || true
	health=$([ -n "$role" ] && [ "$state" = ok ] && echo ok || echo failing)
	details="role=${role:-down} port=$port cluster_state=${state:--}${role:+ slots=${slots:-0}}"
}
