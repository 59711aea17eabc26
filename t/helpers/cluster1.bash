# A stack whose Redis is a ONE-node Redis Cluster: cluster-enabled, every
# slot on that node, reached with the plain redis:// URL. No routing is
# needed, but Redis refuses any script or multi-key command whose keys span
# slots (CROSSSLOT): the proof that a path is single-slot.
#
# cluster1_up [chatctl up options]: stack_up with STACK_REDIS=cluster1
#   (t/helpers/stack.bash), which runs cluster1_convert: the stack's Redis
#   restarted with cluster-enabled and all slots added, and the programs
#   started again. The stack's own Redis is reconfigured rather than chatctl
#   changed.

cluster1_up() { STACK_REDIS=cluster1 stack_up "$@"; }

cluster1_convert() {
	# the cluster bus on a port found free, not Redis's default port + 10000
	local bus
	bus=$(free_ports 1) || return 1
	printf 'cluster-enabled yes
cluster-config-file %s/redis/nodes.conf
cluster-port %s
' \
		"$STACK_DIR" "$bus" >>"$STACK_DIR/etc/redis.conf"
	sctl stop all >/dev/null
	# a node with keys takes their slots itself, so it starts empty (the
	# programs write their heartbeats again)
	rm -rf "$STACK_DIR"/redis/appendonlydir "$STACK_DIR"/redis/*.aof "$STACK_DIR"/redis/dump.rdb
	for _ in 1 2 3; do  # once in a while the first start gives up (exit 7)
		sctl start redis >/dev/null && break
		sleep 1
	done
	sctl status redis | grep -q RUNNING || { tail -n 20 "$STACK_DIR/log/redis.log" >&2; return 1; }
	wait_for 10 bash -c "redis-cli -p $REDIS_PORT ping | grep -q PONG" || return 1
	rcli cluster addslotsrange 0 16383 >/dev/null
	wait_for 10 bash -c "redis-cli -p $REDIS_PORT cluster info | grep -q cluster_state:ok" || return 1
	sctl start all >/dev/null
	wait_for 30 chatctl status --dir "$STACK_DIR" >/dev/null
}

# What the programs' logs say about keys of several slots in one call.
crossslot_lines() { grep -h 'CROSSSLOT' "$STACK_DIR"/log/*.log 2>/dev/null || true; }
