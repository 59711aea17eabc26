# The shell scripts that turn pipefail on (chatctl and what it sources,
# t/run, the benchmarks) hold no pipeline whose reader may stop before its
# writer is done (t/helpers/pipecheck.py). No stack is started.

load helpers/stack

CHECK=$ROOT/t/helpers/pipecheck.py

@test "no script under pipefail, nor a file it sources, pipes into a reader that stops early" {
	cd "$ROOT"
	local files
	files=$(grep -rl --exclude-dir=node_modules --exclude-dir=build pipefail bin t .ci share)
	[[ $files == *bin/chatctl* ]]
	run python3 "$CHECK" $files
	assert_success
	# chatctl's sourced files are read: one made to fail names itself
	local d
	d=$(mktemp -d "${STREAMCHAT_TEST_ROOT:-/tmp}/pipecheck.XXXXXX")
	mkdir -p "$d/share/chatctl"
	printf '%s\n' 'set -euo pipefail' '. "$ROOT/share/chatctl/x.bash"' >"$d/chatctl"
	printf '%s\n' 'ok() { curl -s x | grep -q y; }' >"$d/share/chatctl/x.bash"
	run python3 "$CHECK" --root "$d" "$d/chatctl"
	rm -rf "$d"
	assert_failure
	assert_output --partial "share/chatctl/x.bash:1: ok() { curl -s x | grep -q y; }"
}

@test "the check finds each reader that stops early, and leaves the others and scripts without pipefail alone" {
	local d
	d=$(mktemp -d "${STREAMCHAT_TEST_ROOT:-/tmp}/pipecheck.XXXXXX")
	# the lines that must be found say so; the others must not be
	# (the set line written apart, so that this file does not turn pipefail on)
	printf '#!/bin/bash\nset -Eeuo %s\n' pipefail >"$d/under"
	cat >>"$d/under" <<-'SH'
		ok=$(grep -q x <<<"$m" && echo y)
		found=$(echo "$m" | grep -q x && echo y)
		found=$(ss -tln |
			head -n 1)
		curl -s http://x/ \
			| grep -m1 ok || true
		a || grep -q x f
		found |& grep -E -q x
		found | LC_ALL=C command grep x -e y --quiet
		found | grep -A 1 -l x
		found | sed -n '/x/{p;q}'
		found | awk '/x/ { print; exit }'
		found | cmp -s - f
		echo "a|head" | grep -c x; sed -n 's/q/x/p' f | tail -n 1
		ss | awk '$1 == "x" { n++ } END { exit !n }' | sort
		found | # a comment between
			head -c 5
		[[ $x =~ ^a|b$ ]] && grep -l x f
	SH
	printf '%s\n' '#!/bin/bash' 'set -e' 'echo "$m" | grep -q x' >"$d/without"
	run python3 "$CHECK" "$d/under" "$d/without"
	local want
	want=$(grep -n '^found\|[=(]found\|curl' "$d/under" | cut -d: -f1 | tr '\n' ' ')
	rm -rf "$d"
	assert_failure
	local got
	got=$(echo "$output" | sed -n 's/^[^:]*under:\([0-9]*\):.*/\1/p' | tr '\n' ' ')
	echo "found at: $got; expected at: $want"
	[ "$got" = "$want" ]
}
