# The shell scripts that turn pipefail on (chatctl, t/run, the benchmarks)
# hold no pipeline whose reader may stop before its writer is done
# (t/helpers/pipecheck.py). No stack is started.

load helpers/stack

CHECK=$ROOT/t/helpers/pipecheck.py

@test "no script under pipefail pipes into a reader that stops early (grep -q, grep -m, head)" {
	cd "$ROOT"
	local files
	files=$(grep -rlE --exclude-dir=node_modules --exclude-dir=build 'set -[a-z]*o pipefail' bin t .ci)
	# chatctl is among them, so the check reads what it is meant to
	[[ $files == *bin/chatctl* ]]
	run python3 "$CHECK" $files
	assert_success
}

@test "the check finds such a pipeline, joined lines too, and leaves here-strings and scripts without pipefail alone" {
	local d
	d=$(mktemp -d "${STREAMCHAT_TEST_ROOT:-/tmp}/pipecheck.XXXXXX")
	printf '%s\n' '#!/bin/bash' 'set -euo pipefail' 'ok=$(grep -q x <<<"$m" && echo y)' \
		'bad=$(echo "$m" | grep -q x && echo y)' 'first=$(ss -tln |' '	head -n 1)' \
		'curl -s http://x/ \' '	| grep -m1 ok || true' 'a || grep -q x f' >"$d/under"
	printf '%s\n' '#!/bin/bash' 'set -e' 'echo "$m" | grep -q x' >"$d/without"
	run python3 "$CHECK" "$d/under" "$d/without"
	rm -rf "$d"
	assert_failure
	assert_line --partial "/under:4: bad="
	assert_line --partial "/under:5: first="
	assert_line --partial "/under:7: curl"
	[ "${#lines[@]}" = 3 ]
}
