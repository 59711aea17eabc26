# chatctl's PostgreSQL, sourced by bin/chatctl: the archive's database for
# `chatctl up`. DATABASE_URL given: that one, and no PostgreSQL of our own.
# Else one in DIR/postgres run by supervisord as the programs' user,
# listening only on a Unix socket in that 0700 directory (so "trust" lets
# in only that user and root), database and superuser `streamchat`.
# `--no-archive` (t/helpers/stack.bash's default) starts neither it nor the
# archiver.
#
# initdb costs more than a second, so the first up makes a template (initdb
# plus the database, made in single-user mode without starting a server)
# and keeps a copy in PG_TEMPLATE_DIR; later ups copy it (a few hundred ms).

PG_DB=streamchat

pg_bindir() {
	local d
	d=${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
	[ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/postgres" ] ||
		die "PostgreSQL is not installed (make deps installs postgresql-15), or set DATABASE_URL"
	echo "$d"
}

# A fresh cluster in $1 (absent), as the programs' user.
pg_initdb() {
	local bindir=$1 data=$2 log=$DIR/log/initdb.log
	mkdir -p "$data"
	[ "$(id -u)" -ne 0 ] || chown "$RUN_USER:$RUN_GROUP" "$data"
	chmod 700 "$data"
	as_run_user "$bindir/initdb" -D "$data" -U "$PG_DB" --auth=trust -E UTF8 --locale=C.UTF-8 \
		>"$log" 2>&1 || die "initdb failed (see $log)"
	echo "CREATE DATABASE $PG_DB" | as_run_user "$bindir/postgres" --single -D "$data" postgres \
		>>"$log" 2>&1 || die "creating the database failed (see $log)"
}

# DIR/postgres: kept from an earlier up, else a copy of the template, else
# made (and then kept as the template).
pg_data_dir() {
	local bindir=$1 data=$DIR/postgres
	local template=${PG_TEMPLATE_DIR:-$ROOT/build/pg-template-$RUN_USER}
	[ -f "$data/PG_VERSION" ] && return 0
	rm -rf "$data"
	if [ -f "$template/PG_VERSION" ] && cp -a "$template" "$data" 2>/dev/null; then
		[ "$(id -u)" -ne 0 ] || chown -R "$RUN_USER:$RUN_GROUP" "$data"
		chmod 700 "$data"
		return 0
	fi
	rm -rf "$data"
	pg_initdb "$bindir" "$data"
	# two ups at once may both make it: the second mv finds the first's
	local tmp
	tmp=$template.tmp.$$
	mkdir -p "$(dirname "$template")" 2>/dev/null &&
		cp -a "$data" "$tmp" 2>/dev/null && mv -T "$tmp" "$template" 2>/dev/null || true
	rm -rf "$tmp"
}

# Sets PG_MODE (none, external, local), PG_COMMAND and DATABASE_URL.
pg_setup() {
	PG_MODE=none PG_COMMAND=""
	[ "$ARCHIVE" = 1 ] || return 0
	if [ -n "${DATABASE_URL:-}" ]; then
		PG_MODE=external
		return 0
	fi
	local bindir
	bindir=$(pg_bindir)
	pg_data_dir "$bindir"
	PG_MODE=local
	PG_COMMAND="$bindir/postgres -D $DIR/postgres -k $DIR/postgres -c listen_addresses="
	export DATABASE_URL="postgresql:///$PG_DB?host=$DIR/postgres&user=$PG_DB"
}

# The supervisord configuration without the programs this stack does not run.
pg_strip_conf() {
	local drop=""
	case $PG_MODE in
	none) drop="postgres archiver" ;;
	external) drop="postgres" ;;
	esac
	awk -v drop=" $drop " '
		/^\[program:/ { name = $0; sub(/^\[program:/, "", name); sub(/\].*/, "", name)
			skip = index(drop, " " name " ") > 0 }
		/^\[/ && !/^\[program:/ { skip = 0 }
		!skip' "$1"
}

# After up: the archiver connected (so the schema is there for whoever
# reads the archive), or a warning; Redis serves either way.
pg_wait_archiver() {
	[ "$PG_MODE" != none ] || return 0
	local t
	for ((t = 0; t < 75; t++)); do
		grep -q '^streamchat_archiver_pg_up{node="archiver-1"} 1$' <<<"$(site_get /api/metrics)" &&
			return 0
		sleep 0.2
	done
	echo "$PROG: warning: the archiver has no PostgreSQL yet (see $DIR/log/archiver.log); chat works, messages wait in Redis" >&2
}
