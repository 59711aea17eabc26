# chatctl up --redis-sentinel: the stack's Redis as a primary, a replica and
# three sentinels (quorum 2) in the run directory, and every program given
# the redis+sentinel:// URL. Sourced by bin/chatctl.
#
# Ports: the primary on --redis-port R, the replica on R+1, the sentinels
# on R+2, R+3, R+4. The data nodes are supervisord's "redis" and "redis-2";
# which of them is the primary changes with each failover (chatctl status
# shows each one's role). A data node that dies is not restarted by
# supervisord: the sentinels, not a quick restart, decide who the primary is;
# started again (supervisorctl start), it rejoins as a replica.

SENTINEL_MASTER=streamchat
SENTINEL_DOWN_AFTER_MS=${SENTINEL_DOWN_AFTER_MS:-1000}
SENTINEL_FAILOVER_TIMEOUT_MS=${SENTINEL_FAILOVER_TIMEOUT_MS:-10000}

sentinel_port() { echo $((REDIS_PORT + 2 + $1)); }

# The ports beyond R, as stack_ports lists them.
sentinel_stack_ports() {
	echo "$((REDIS_PORT + 1)) Redis-replica --redis-port(+1)"
	local i
	for i in 0 1 2; do echo "$(sentinel_port $i) Sentinel --redis-port(+$((i + 2)))"; done
}

# redis+sentinel://[:password@]127.0.0.1:S1,S2,S3/streamchat
sentinel_url() {
	local creds="" hosts="" i
	if [ -n "${REDIS_PASSWORD:-}" ]; then
		creds=":$(jq -rn --arg p "$REDIS_PASSWORD" '$p|@uri')@"
	fi
	for i in 0 1 2; do hosts+="${hosts:+,}127.0.0.1:$(sentinel_port $i)"; done
	echo "redis+sentinel://$creds$hosts/$SENTINEL_MASTER"
}

# The data nodes' and sentinels' configurations. The sentinels rewrite
# theirs, so they live in DIR/redis, which is the programs' user's.
sentinel_setup() {
	local pw=${REDIS_PASSWORD:-} i sdir
	# a demoted primary authenticates to the new one
	[ -z "$pw" ] || printf 'masterauth "%s"\n' "$pw" >> "$DIR/etc/redis.conf"
	mkdir -p "$DIR/redis/node-2"
	sed -e "s|^port .*|port $((REDIS_PORT + 1))|" -e "s|^dir .*|dir $DIR/redis/node-2|" \
		"$DIR/etc/redis.conf" > "$DIR/etc/redis-2.conf"
	echo "replicaof 127.0.0.1 $REDIS_PORT" >> "$DIR/etc/redis-2.conf"
	protect "$DIR/etc/redis-2.conf"
	for i in 1 2 3; do
		sdir=$DIR/redis/sentinel-$i
		mkdir -p "$sdir"
		{
			echo "port $(sentinel_port $((i - 1)))"
			echo "bind 127.0.0.1"
			echo "dir $sdir"
			echo "sentinel monitor $SENTINEL_MASTER 127.0.0.1 $REDIS_PORT 2"
			echo "sentinel down-after-milliseconds $SENTINEL_MASTER $SENTINEL_DOWN_AFTER_MS"
			echo "sentinel failover-timeout $SENTINEL_MASTER $SENTINEL_FAILOVER_TIMEOUT_MS"
			echo "sentinel parallel-syncs $SENTINEL_MASTER 1"
			# known from the start: found by the sentinels' own INFO it
			# could take 10 s, and a failover before that finds no replica
			echo "sentinel known-replica $SENTINEL_MASTER 127.0.0.1 $((REDIS_PORT + 1))"
			[ -z "$pw" ] || echo "sentinel auth-pass $SENTINEL_MASTER $pw"
		} > "$sdir/sentinel.conf"
		chmod 600 "$sdir/sentinel.conf"
	done
	[ "$(id -u)" -ne 0 ] || chown -R "$RUN_USER:$RUN_GROUP" "$DIR/redis"
}

# supervisord's sections for the replica and the sentinels, and no restart
# for either data node (see above).
sentinel_conf() {
	awk '{ print } $0 == "[program:redis]" { print "autorestart=false" }' "$1"
	local redis i
	redis=$(find_bin redis-server)
	redis_program redis-2 1 no "$redis $DIR/etc/redis-2.conf"
	for i in 1 2 3; do
		redis_program "sentinel-$i" 2 yes "$redis $DIR/redis/sentinel-$i/sentinel.conf --sentinel"
	done
}

# 0 when every sentinel sees the primary, the replica and the two other
# sentinels: only then can a failover happen.
sentinel_ready() {
	local i
	for i in 0 1 2; do
		redis-cli -p "$(sentinel_port $i)" --raw sentinel master "$SENTINEL_MASTER" 2>/dev/null |
			paste - - | awk -F'\t' '$1 == "num-slaves" && $2 >= 1 { s = 1 }
				$1 == "num-other-sentinels" && $2 >= 2 { o = 1 }
				$1 == "flags" && $2 == "master" { m = 1 } END { exit !(s && o && m) }' || return 1
	done
}

# The port of the primary the sentinels name now (the first that answers).
sentinel_primary_port() {
	local i ans
	for i in 0 1 2; do
		ans=$(redis-cli -p "$(sentinel_port $i)" --raw sentinel get-master-addr-by-name \
			"$SENTINEL_MASTER" 2>/dev/null | sed -n 2p) || true
		[ -n "$ans" ] && { echo "$ans"; return 0; }
	done
	return 1
}

# status's health and details of a data node or a sentinel.
# shellcheck disable=SC2034  # health and details are the caller's (status)
sentinel_status() {  # NAME -> sets health and details
	local port role
	redis_auth
	case $1 in
	redis) port=$REDIS_PORT ;;
	redis-2) port=$((REDIS_PORT + 1)) ;;
	sentinel-*)
		port=$(sentinel_port $((${1#sentinel-} - 1)))
		local primary
		primary=$(redis-cli -p "$port" --raw sentinel get-master-addr-by-name "$SENTINEL_MASTER" 2>/dev/null |
			paste -sd: -) || true
		health=$([ -n "$primary" ] && echo ok || echo failing)
		details="primary=${primary:--}"
		return 0
		;;
	esac
	role=$(redis-cli -p "$port" --raw role 2>/dev/null | awk 'NR == 1') || true
	health=$([ -n "$role" ] && echo ok || echo failing)
	details="role=${role:-down} port=$port"
}
