# Free TCP ports on loopback, for stacks that must not collide.
port_free() { [ -z "$(ss -Htln "sport = :$1" 2>/dev/null)" ]; }

# Echoes a base port with $1 free ports from it.
free_ports() {
	local n=$1 base i ok
	for _ in $(seq 1 200); do
		base=$((12000 + RANDOM % 20000))  # below the ephemeral range
		ok=1
		for ((i = 0; i < n; i++)); do port_free $((base + i)) || { ok=0; break; }; done
		[ $ok = 1 ] && { echo "$base"; return 0; }
	done
	return 1
}
