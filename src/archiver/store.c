/* The PostgreSQL side of the archiver: the migrations of share/sql, and a
 * batch of messages stored in one transaction. Idempotent by message id
 * (ON CONFLICT DO NOTHING), so an entry stored and then read again (the
 * archiver killed between COMMIT and XACK) is stored once. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archiver.h"
#include "log.h"
#include "strbuf.h"
#include "xalloc.h"

/* Advisory lock keys (two int4 form): the migrations, and one session's
 * messages. A DELETE of a session takes the session's lock too,
 * pg_advisory_xact_lock(2202, hashtext(session_id)), before it records
 * deleted_sessions, so no batch stores a message of it after that. */
#define LOCK_MIGRATE "2201, 0"
#define LOCK_SESSION "2202"
#define TITLE_CHARS "80"

static void set_error(struct store *s, const char *what, const char *detail)
{
	char one[200];
	snprintf(one, sizeof one, "%s", detail ? detail : "");
	for (char *p = one; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '"')
			*p = *p == '"' ? '\'' : ' ';
	size_t n = strlen(one);
	while (n && one[n - 1] == ' ')
		one[--n] = 0;
	snprintf(s->error, sizeof s->error, "%s: %s", what, one);
}

/* A command's result checked: 0 when it did what was asked. */
static int ok(struct store *s, PGresult *r, const char *what)
{
	ExecStatusType st = PQresultStatus(r);
	int good = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
	if (!good)
		set_error(s, what, PQresultErrorMessage(r));
	return good ? 0 : -1;
}

static int exec(struct store *s, const char *sql, const char *what)
{
	PGresult *r = PQexec(s->pg, sql);
	int rc = ok(s, r, what);
	PQclear(r);
	return rc;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int sql_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return n > 4 && !strcmp(d->d_name + n - 4, ".sql");
}

static char *read_file(const char *path)
{
	struct strbuf sb = STRBUF_INIT;
	if (sb_add_file(&sb, path))
		return NULL;
	sb_addc(&sb, 0);
	return sb_detach(&sb, NULL);
}

/* One migration, in its own transaction, unless schema_migrations has it. */
static int migrate_one(struct store *s, const char *name)
{
	const char *params[] = { name };
	PGresult *r = PQexecParams(s->pg, "SELECT 1 FROM schema_migrations WHERE name = $1", 1,
				   NULL, params, NULL, NULL, 0);
	int have = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
	int rc = ok(s, r, "reading schema_migrations");
	PQclear(r);
	if (rc || have)
		return rc;
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", s->sql_dir, name);
	char *sql = read_file(path);
	if (!sql) {
		set_error(s, "cannot read", path);
		return -1;
	}
	rc = exec(s, "BEGIN", name) || exec(s, sql, name);
	free(sql);
	if (!rc) {
		r = PQexecParams(s->pg, "INSERT INTO schema_migrations (name, applied_at) "
			"VALUES ($1, (extract(epoch FROM now()) * 1000)::bigint)", 1, NULL, params,
			NULL, NULL, 0);
		rc = ok(s, r, name);
		PQclear(r);
	}
	rc = rc || exec(s, "COMMIT", name);
	if (rc) {
		PQclear(PQexec(s->pg, "ROLLBACK"));
		return -1;
	}
	log_info("schema migration applied", "file=%s", name);
	return 0;
}

/* Every share/sql file not yet applied, in name order, under a lock held
 * for the session, so that two archivers starting at once do not both
 * create the same tables. */
static int migrate(struct store *s)
{
	struct dirent **names;
	int n = scandir(s->sql_dir, &names, sql_file, by_name);
	if (n < 0) {
		set_error(s, "cannot list the migrations in", s->sql_dir);
		return -1;
	}
	int rc = exec(s, "SELECT pg_advisory_lock(" LOCK_MIGRATE ")", "locking the schema") ||
		 exec(s, "CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, "
		      "applied_at bigint NOT NULL)", "creating schema_migrations");
	for (int i = 0; i < n; i++) {
		if (!rc)
			rc = migrate_one(s, names[i]->d_name);
		free(names[i]);
	}
	free(names);
	if (PQstatus(s->pg) == CONNECTION_OK)
		PQclear(PQexec(s->pg, "SELECT pg_advisory_unlock(" LOCK_MIGRATE ")"));
	return rc;
}

/* PostgreSQL's notices ("relation ... already exists, skipping") as debug
 * lines rather than libpq's bare lines on stderr. */
static void on_notice(void *arg, const char *message)
{
	(void)arg;
	char one[200];
	size_t n = strcspn(message, "\n");
	snprintf(one, sizeof one, "%.*s", (int)(n < sizeof one ? n : sizeof one - 1), message);
	log_debug("postgres notice", "text=\"%s\"", one);
}

int store_open(struct store *s)
{
	store_close(s);
	/* a bounded wait for an unreachable host (the URL's own
	 * connect_timeout, coming later, wins) */
	const char *const keys[] = { "connect_timeout", "dbname", NULL };
	const char *const values[] = { "10", s->url, NULL };
	s->pg = PQconnectdbParams(keys, values, 1);
	if (PQstatus(s->pg) != CONNECTION_OK) {
		set_error(s, "cannot connect to PostgreSQL", PQerrorMessage(s->pg));
		store_close(s);
		return -1;
	}
	PQsetNoticeProcessor(s->pg, on_notice, NULL);
	if (migrate(s)) {
		store_close(s);
		return -1;
	}
	return 0;
}

int store_alive(struct store *s)
{
	if (s->pg && (!PQconsumeInput(s->pg) || PQstatus(s->pg) != CONNECTION_OK)) {
		set_error(s, "PostgreSQL connection lost", PQerrorMessage(s->pg));
		store_close(s);
	}
	return s->pg != NULL;
}

void store_close(struct store *s)
{
	if (s->pg)
		PQfinish(s->pg);
	s->pg = NULL;
}

/* A PostgreSQL text[] literal of the strings. */
static void array_add(struct strbuf *sb, const char *v)
{
	sb_addc(sb, sb->len ? ',' : '{');
	sb_addc(sb, '"');
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			sb_addc(sb, '\\');
		sb_addc(sb, *v);
	}
	sb_addc(sb, '"');
}

static const char *array_end(struct strbuf *sb)
{
	if (!sb->len)
		sb_addc(sb, '{');
	sb_adds(sb, "}");
	return sb->buf;
}

/* What one batch brings to a session. */
struct sess {
	const char *id, *user;
	long long first, last, deleted_at;  /* deleted_at -1: not deleted */
	int kept, has_user;
};

static struct sess *find_sess(struct sess *v, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].id, id))
			return &v[i];
	return NULL;
}

static size_t sessions_of(const struct batch *b, struct sess *v)
{
	size_t n = 0;
	for (size_t i = 0; i < b->n; i++) {
		const struct entry *e = &b->e[i];
		if (e->bad || find_sess(v, n, e->session_id))
			continue;
		v[n++] = (struct sess){ .id = e->session_id, .user = e->user_id, .first = e->created_at,
					.last = e->created_at, .deleted_at = -1 };
	}
	return n;
}

static int params_exec(struct store *s, const char *sql, int n, const char *const *p,
		       const char *what, PGresult **out)
{
	PGresult *r = PQexecParams(s->pg, sql, n, NULL, p, NULL, NULL, 0);
	int rc = ok(s, r, what);
	if (out && !rc)
		*out = r;
	else
		PQclear(r);
	return rc;
}

/* The sessions' locks, in one order for every archiver, then which of them
 * were deleted and when. */
static int lock_sessions(struct store *s, struct sess *v, size_t n, const char *ids)
{
	const char *p[] = { ids };
	if (params_exec(s, "SELECT count(pg_advisory_xact_lock(" LOCK_SESSION ", hashtext(sid))) "
			"FROM (SELECT DISTINCT sid FROM unnest($1::text[]) sid ORDER BY sid) q",
			1, p, "locking the sessions", NULL))
		return -1;
	PGresult *r;
	if (params_exec(s, "SELECT session_id, deleted_at FROM deleted_sessions "
			"WHERE session_id = ANY($1::text[])", 1, p, "reading deleted_sessions", &r))
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		struct sess *x = find_sess(v, n, PQgetvalue(r, i, 0));
		if (x)
			x->deleted_at = strtoll(PQgetvalue(r, i, 1), NULL, 10);
	}
	PQclear(r);
	return 0;
}

/* The kept messages in one INSERT; *stored: how many were new. */
static int insert_messages(struct store *s, const struct batch *b, struct sess *v, size_t nv,
			   long *stored)
{
	struct strbuf sql = STRBUF_INIT;
	const char **p = xcalloc(b->n * 7, sizeof *p);
	char (*nums)[2][24] = xcalloc(b->n, sizeof *nums);
	int np = 0;
	sb_adds(&sql, "INSERT INTO messages (message_id, session_id, seq, role, content, status, "
		"created_at) VALUES ");
	for (size_t i = 0; i < b->n; i++) {
		const struct entry *e = &b->e[i];
		struct sess *x = e->bad ? NULL : find_sess(v, nv, e->session_id);
		if (!x || (x->deleted_at >= 0 && e->created_at <= x->deleted_at))
			continue;
		x->kept = 1;
		x->has_user |= !strcmp(e->role, "user");
		if (e->created_at < x->first)
			x->first = e->created_at;
		if (e->created_at > x->last)
			x->last = e->created_at;
		snprintf(nums[i][0], 24, "%lld", e->seq);
		snprintf(nums[i][1], 24, "%lld", e->created_at);
		sb_addf(&sql, "%s($%d,$%d,$%d,$%d,$%d,$%d,$%d)", np ? "," : "", np + 1, np + 2,
			np + 3, np + 4, np + 5, np + 6, np + 7);
		const char *row[] = { e->message_id, e->session_id, nums[i][0], e->role, e->content,
				      e->status, nums[i][1] };
		memcpy(p + np, row, sizeof row);
		np += 7;
	}
	sb_adds(&sql, " ON CONFLICT (message_id) DO NOTHING");
	int rc = 0;
	*stored = 0;
	if (np) {
		PGresult *r;
		rc = params_exec(s, sql.buf, np, p, "storing messages", &r);
		if (!rc) {
			*stored = atol(PQcmdTuples(r));
			PQclear(r);
		}
	}
	sb_release(&sql);
	free(p);
	free(nums);
	return rc;
}

/* Each session with a kept message: created/updated times widened, and its
 * title the first user message's first TITLE_CHARS characters (PostgreSQL
 * counts characters), whitespace folded. */
static int upsert_sessions(struct store *s, const struct sess *v, size_t n)
{
	struct strbuf ids = STRBUF_INIT, users = STRBUF_INIT, firsts = STRBUF_INIT,
		lasts = STRBUF_INIT, titled = STRBUF_INIT;
	for (size_t i = 0; i < n; i++) {
		if (!v[i].kept)
			continue;
		char a[24], b[24];
		snprintf(a, sizeof a, "%lld", v[i].first);
		snprintf(b, sizeof b, "%lld", v[i].last);
		array_add(&ids, v[i].id);
		array_add(&users, v[i].user);
		array_add(&firsts, a);
		array_add(&lasts, b);
		if (v[i].has_user)
			array_add(&titled, v[i].id);
	}
	int rc = 0;
	if (ids.len) {
		const char *p[] = { array_end(&ids), array_end(&users), array_end(&firsts),
				    array_end(&lasts) };
		rc = params_exec(s, "INSERT INTO sessions (session_id, user_id, title, created_at, "
			"updated_at) SELECT * FROM unnest($1::text[], $2::text[], "
			"array_fill(''::text, ARRAY[cardinality($1::text[])]), $3::bigint[], $4::bigint[]) "
			"ON CONFLICT (session_id) DO UPDATE SET "
			"created_at = LEAST(sessions.created_at, EXCLUDED.created_at), "
			"updated_at = GREATEST(sessions.updated_at, EXCLUDED.updated_at)",
			4, p, "storing sessions", NULL);
	}
	if (!rc && titled.len) {
		const char *p[] = { array_end(&titled) };
		rc = params_exec(s, "UPDATE sessions s SET title = t.title FROM "
			"(SELECT u.sid, left(regexp_replace(btrim(m.content), '\\s+', ' ', 'g'), "
			TITLE_CHARS ") AS title FROM unnest($1::text[]) u(sid), LATERAL "
			"(SELECT content FROM messages WHERE session_id = u.sid AND role = 'user' "
			"ORDER BY seq LIMIT 1) m) t "
			"WHERE s.session_id = t.sid AND s.title IS DISTINCT FROM t.title",
			1, p, "titling sessions", NULL);
	}
	sb_release(&ids);
	sb_release(&users);
	sb_release(&firsts);
	sb_release(&lasts);
	sb_release(&titled);
	return rc;
}

int store_batch(struct store *s, const struct batch *b, long *stored)
{
	*stored = 0;
	if (!s->pg && store_open(s))
		return -1;
	struct sess *v = xcalloc(b->n ? b->n : 1, sizeof *v);
	size_t nv = sessions_of(b, v);
	int rc = 0;
	if (nv) {
		struct strbuf ids = STRBUF_INIT;
		for (size_t i = 0; i < nv; i++)
			array_add(&ids, v[i].id);
		rc = exec(s, "BEGIN", "BEGIN") || lock_sessions(s, v, nv, array_end(&ids)) ||
		     insert_messages(s, b, v, nv, stored) || upsert_sessions(s, v, nv) ||
		     exec(s, "COMMIT", "COMMIT");
		sb_release(&ids);
		if (rc && PQstatus(s->pg) == CONNECTION_OK)
			PQclear(PQexec(s->pg, "ROLLBACK"));
	}
	free(v);
	if (rc) {
		*stored = 0;
		if (PQstatus(s->pg) != CONNECTION_OK)
			store_close(s);
	}
	return rc;
}
