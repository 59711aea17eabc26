# The documents describe the code that is here: the repository refers to no
# file outside itself, doc/redis.md names every key, field, status word and
# script answer the scripts and programs use, and the documents' links
# resolve. No stack is started.

load helpers/stack

CHECK=$ROOT/t/helpers/doccheck.py

# Spelled in two pieces so that this file does not match itself.
OUTSIDE='shared''/\|DESIGN''\.md'

@test "nothing in the repository refers to the design file outside it" {
	cd "$ROOT"
	run grep -rn --exclude-dir=node_modules "$OUTSIDE" src t share bin etc ./*.md doc
	[ -z "$output" ] || { echo "$output"; false; }
}

@test "the reference check finds such a reference when there is one" {
	tmp=$(mktemp -d "${STREAMCHAT_TEST_ROOT:-/tmp}/docs.XXXXXX")
	printf '/* see ../%s/%s */\n' shared "DESIGN"".md" >"$tmp/x.c"
	run grep -rn "$OUTSIDE" "$tmp"
	rm -rf "$tmp"
	assert_success
}

@test "doc/redis.md names every key, field, status and answer of share/lua and src" {
	run python3 "$CHECK"
	assert_success
	# and it found them: keys.c's keys, the meta's fields, the statuses
	run python3 "$CHECK" --list
	for name in 'stream:meta:{*}' 'ratelimit:wsaddr:{%s}:%lld' total_chunks handovers \
		ft_b11 'req:%s:%d' resume_from queued streaming no_prompt '#cancelled'; do
		echo "$output" | cut -f2 | grep -qxF -- "$name" || { echo "not found in the sources: $name"; false; }
	done
}

# doc/redis.md with every backticked mention of one name made plain text
without() {
	sed "s/\`$(printf '%s' "$1" | sed 's/[][\.*^$/]/\\&/g')\`/$1/g" "$ROOT/doc/redis.md" >"$2"
}

@test "removing a key, a field, a job field, a status or an answer from doc/redis.md fails the check" {
	tmp=$(mktemp -d "${STREAMCHAT_TEST_ROOT:-/tmp}/docs.XXXXXX")
	for name in 'streams:user:{U}' handovers resume_from queued too_many_streams ft_b7 \
		'ratelimit:ws:{U}:<window>' 'req:<route>:other'; do
		without "$name" "$tmp/redis.md"
		! cmp -s "$tmp/redis.md" "$ROOT/doc/redis.md" || { echo "no mention of $name to remove"; false; }
		run python3 "$CHECK" --doc "$tmp/redis.md"
		assert_failure
		assert_output --partial "missing from"
	done
	rm -rf "$tmp"
}

@test "a field, a key or a status the code starts using and doc/redis.md does not name fails the check" {
	tmp=$(mktemp -d "${STREAMCHAT_TEST_ROOT:-/tmp}/docs.XXXXXX")
	cp -r "$ROOT/src" "$ROOT/share" "$ROOT/doc" "$tmp/"
	echo "redis.call('HSET', KEYS[2], 'finished_by', ARGV[1])" >>"$tmp/share/lua/finish.lua"
	echo 'char *key_audit(char *o, const char *m) { return name(o, "stream:audit:", m); }' \
		>>"$tmp/src/common/keys.c"
	echo "if status == 'paused' then return {'paused', 0} end" >>"$tmp/share/lua/start.lua"
	run python3 "$CHECK" --root "$tmp"
	rm -rf "$tmp"
	assert_failure
	assert_output --partial "field \`finished_by\`"
	assert_output --partial "key \`stream:audit:{*}\`"
	assert_output --partial "status \`paused\`"
	assert_output --partial "answer \`paused\`"
}

@test "the links of README.md and doc/*.md name files that exist, the screenshot included" {
	run python3 "$CHECK" --links
	assert_success
	grep -q '](share/doc/chat.png)' "$ROOT/README.md"
	[ -f "$ROOT/share/doc/chat.png" ]
}

@test "the link check finds a link to a file that is not there" {
	tmp=$(mktemp -d "${STREAMCHAT_TEST_ROOT:-/tmp}/docs.XXXXXX")
	mkdir "$tmp/doc"
	printf 'See [the protocol](doc/protocol.md).\n' >"$tmp/README.md"
	run python3 "$CHECK" --links --root "$tmp"
	rm -rf "$tmp"
	assert_failure
	assert_output --partial "link to doc/protocol.md"
}

@test "README.md is the front door: at most 260 lines, and it points at each document" {
	[ "$(wc -l <"$ROOT/README.md")" -le 260 ]
	for d in "$ROOT"/doc/*.md; do
		grep -q "](doc/$(basename "$d"))" "$ROOT/README.md" || { echo "README does not link $d"; false; }
	done
}
