#include "archive_db.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "log.h"
#include "util.h"
#include "xalloc.h"

void db_init(struct db *a, const char *url, int timeout_ms)
{
	memset(a, 0, sizeof *a);
	a->url = url && *url ? url : NULL;
	a->timeout_ms = timeout_ms;
}

int db_enabled(const struct db *a)
{
	return a->url != NULL;
}

void db_close(struct db *a)
{
	if (a->conn)
		PQfinish(a->conn);
	a->conn = NULL;
}

/* The connection, reconnecting at most every 500 ms so that a PostgreSQL
 * that is down costs a request one failed connect, not a connect storm. */
static PGconn *connection(struct db *a)
{
	if (a->conn)
		return a->conn;
	if (!retry_due(&a->last_connect_us, 500000))
		return NULL;
	char timeout[16];
	/* libpq counts whole seconds, and takes 1 as 2 */
	snprintf(timeout, sizeof timeout, "%d", a->timeout_ms < 2000 ? 2 : a->timeout_ms / 1000);
	/* later entries win: DATABASE_URL's own connect_timeout overrides ours */
	const char *const keys[] = { "connect_timeout", "application_name", "dbname", NULL };
	const char *const vals[] = { timeout, "chat-fcgi", a->url, NULL };
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (!c || PQstatus(c) != CONNECTION_OK) {
		char err[200];
		snprintf(err, sizeof err, "%s", c ? PQerrorMessage(c) : "out of memory");
		err[strcspn(err, "\n")] = '\0';
		log_warn("postgresql unavailable", "error=\"%s\"", err);
		PQfinish(c);
		return NULL;
	}
	log_info("postgresql connected", NULL);
	a->conn = c;
	return c;
}

/* Waits for the query's result within the timeout; NULL when the time ran
 * out or the connection broke (then the connection is closed). */
static PGresult *wait_result(struct db *a)
{
	long long deadline = mono_us() + (long long)a->timeout_ms * 1000;
	while (PQisBusy(a->conn)) {
		long long left = deadline - mono_us();
		struct pollfd p = { .fd = PQsocket(a->conn), .events = POLLIN };
		int n = left > 0 ? poll(&p, 1, (int)(left / 1000) + 1) : 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_warn("postgresql query timed out", "timeout_ms=%d", a->timeout_ms);
			db_close(a);
			return NULL;
		}
		if (!PQconsumeInput(a->conn))
			break;
	}
	PGresult *last = NULL, *r;
	while ((r = PQgetResult(a->conn)) != NULL) {
		PQclear(last);
		last = r;
	}
	return last;
}

/* One statement with text parameters. NULL when it failed; a broken
 * connection is closed, and when retry is set and the connection was an
 * old one (PostgreSQL may have restarted since), tried once on a new one. */
static PGresult *run(struct db *a, int retry, const char *sql, int n,
		     const char *const *params)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		int reused = a->conn != NULL;
		if (!connection(a))
			return NULL;
		PGresult *r = NULL;
		if (PQsendQueryParams(a->conn, sql, n, NULL, params, NULL, NULL, 0))
			r = wait_result(a);
		ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
		if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
			return r;
		if (a->conn && PQstatus(a->conn) == CONNECTION_OK) {
			/* the server answered with an error: no use trying again */
			char err[200];
			snprintf(err, sizeof err, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(a->conn));
			err[strcspn(err, "\n")] = '\0';
			log_warn("postgresql query failed", "error=\"%s\"", err);
			PQclear(r);
			return NULL;
		}
		PQclear(r);
		db_close(a);
		if (!retry || !reused)
			return NULL;
		a->last_connect_us = 0;
	}
	return NULL;
}

enum db_result db_owner(struct db *a, const char *sid, char owner[ID_MAX + 1])
{
	const char *p[] = { sid };
	PGresult *r = run(a, 1, "SELECT user_id FROM sessions WHERE session_id = $1", 1, p);
	owner[0] = '\0';
	if (!r)
		return DB_DOWN;
	enum db_result res = DB_NOT_FOUND;
	if (PQntuples(r) == 1) {
		snprintf(owner, ID_MAX + 1, "%s", PQgetvalue(r, 0, 0));
		res = DB_OK;
	}
	PQclear(r);
	return res;
}

void db_items_release(struct db_items *it)
{
	for (size_t i = 0; i < it->n; i++)
		free(it->items[i]);
	free(it->items);
	free(it->lens);
	memset(it, 0, sizeof *it);
}

/* The rows (newest first) as history items, oldest first. */
static void rows_to_items(PGresult *r, struct db_items *out)
{
	size_t n = (size_t)PQntuples(r);
	out->items = xcalloc(n + 1, sizeof *out->items);
	out->lens = xcalloc(n + 1, sizeof *out->lens);
	for (size_t i = 0; i < n; i++) {
		int row = (int)(n - 1 - i);
		struct strbuf sb = STRBUF_INIT;
		history_item(&sb, PQgetvalue(r, row, 0), PQgetvalue(r, row, 1), PQgetvalue(r, row, 2),
			     (size_t)PQgetlength(r, row, 2), PQgetvalue(r, row, 3),
			     (int64_t)atoll(PQgetvalue(r, row, 4)));
		out->items[i] = sb.buf;
		out->lens[i] = sb.len;
	}
	out->n = n;
}

enum db_result db_page(struct db *a, const char *sid, const char *before,
				 long limit, struct db_items *out)
{
	memset(out, 0, sizeof *out);
	char slimit[24], seq[32] = "";
	snprintf(slimit, sizeof slimit, "%ld", limit);
	if (before) {
		const char *p[] = { sid, before };
		PGresult *r = run(a, 1, "SELECT seq FROM messages WHERE session_id = $1 AND message_id = $2",
				  2, p);
		if (!r)
			return DB_DOWN;
		if (PQntuples(r) == 1)
			snprintf(seq, sizeof seq, "%s", PQgetvalue(r, 0, 0));
		PQclear(r);
		if (!seq[0])
			return DB_NOT_FOUND;
	}
	const char *p[] = { sid, slimit, seq };
	PGresult *r = run(a, 0,
			  before ? "SELECT message_id, role, content, status, created_at FROM messages "
				   "WHERE session_id = $1 AND seq < $3 ORDER BY seq DESC LIMIT $2"
				 : "SELECT message_id, role, content, status, created_at FROM messages "
				   "WHERE session_id = $1 ORDER BY seq DESC LIMIT $2",
			  before ? 3 : 2, p);
	if (!r)
		return DB_DOWN;
	rows_to_items(r, out);
	PQclear(r);
	return DB_OK;
}

enum db_result db_sessions(struct db *a, const char *user, long long after_updated,
				     const char *after_sid, long limit, struct strbuf *out,
				     char *next, size_t next_len)
{
	char slimit[24], supdated[24];
	/* one more than asked: whether there is a next page */
	snprintf(slimit, sizeof slimit, "%ld", limit + 1);
	snprintf(supdated, sizeof supdated, "%lld", after_updated);
	const char *p[] = { user, slimit, supdated, after_sid ? after_sid : "" };
	PGresult *r = run(a, 1,
			  after_sid ? "SELECT session_id, title, created_at, updated_at FROM sessions "
				      "WHERE user_id = $1 AND (updated_at < $3 OR (updated_at = $3 AND "
				      "session_id > $4)) ORDER BY updated_at DESC, session_id LIMIT $2"
				    : "SELECT session_id, title, created_at, updated_at FROM sessions "
				      "WHERE user_id = $1 ORDER BY updated_at DESC, session_id LIMIT $2",
			  after_sid ? 4 : 2, p);
	if (!r)
		return DB_DOWN;
	int rows = PQntuples(r);
	int shown = rows > limit ? (int)limit : rows;
	sb_addc(out, '[');
	for (int i = 0; i < shown; i++) {
		sb_adds(out, i ? ",{\"session_id\":" : "{\"session_id\":");
		sb_add_json_str(out, PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0));
		sb_adds(out, ",\"title\":");
		sb_add_json_str(out, PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1));
		sb_addf(out, ",\"created_at\":%lld,\"updated_at\":%lld}", atoll(PQgetvalue(r, i, 2)),
			atoll(PQgetvalue(r, i, 3)));
	}
	sb_addc(out, ']');
	next[0] = '\0';
	if (rows > limit)
		snprintf(next, next_len, "%s:%s", PQgetvalue(r, shown - 1, 3), PQgetvalue(r, shown - 1, 0));
	PQclear(r);
	return DB_OK;
}

enum db_result db_delete(struct db *a, const char *sid, const char *user, long long now_ms)
{
	char snow[24];
	snprintf(snow, sizeof snow, "%lld", now_ms);
	const char *p[] = { sid, user, snow };
	/* One transaction under the session's advisory lock, the one every
	 * archiver takes before it stores a batch of the session: a batch
	 * either committed before (and its rows are deleted here) or reads
	 * the tombstone after, and stores nothing created until now_ms. */
	static const struct { const char *sql; int nparams; } steps[] = {
		{ "BEGIN", 0 },
		{ "SELECT pg_advisory_xact_lock(2202, hashtext($1))", 1 },
		{ "INSERT INTO deleted_sessions (session_id, user_id, deleted_at) VALUES ($1, $2, $3) "
		  "ON CONFLICT (session_id) DO UPDATE SET user_id = EXCLUDED.user_id, "
		  "deleted_at = GREATEST(deleted_sessions.deleted_at, EXCLUDED.deleted_at)", 3 },
		{ "DELETE FROM messages WHERE session_id = $1", 1 },
		{ "DELETE FROM sessions WHERE session_id = $1", 1 },
		{ "COMMIT", 0 },
	};
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		PGresult *r = run(a, i == 0, steps[i].sql, steps[i].nparams, steps[i].nparams ? p : NULL);
		if (!r) {
			db_close(a);  /* the server rolls the transaction back */
			return DB_DOWN;
		}
		PQclear(r);
	}
	return DB_OK;
}
