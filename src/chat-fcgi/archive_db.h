/* chat-fcgi's side of the PostgreSQL archive (DATABASE_URL): the older
 * history pages, the user's conversations, and a conversation's delete.
 * One connection per process, opened on first use like Redis's; every query
 * is bounded in time, so that a stalled or stopped PostgreSQL costs a
 * request a 503, never a hung process. */
#ifndef SC_ARCHIVE_DB_H
#define SC_ARCHIVE_DB_H

#include <libpq-fe.h>
#include <stddef.h>

#include "strbuf.h"
#include "validate.h"

struct db {
	const char *url;           /* NULL: no archive (Redis only) */
	int timeout_ms;            /* per query, and the connect timeout */
	PGconn *conn;              /* NULL while not connected */
	long long last_connect_us;
};

enum db_result { DB_OK, DB_NOT_FOUND, DB_DOWN };

/* Stored history items (the JSON of chat:history), oldest first. */
struct db_items {
	char **items;
	size_t *lens;
	size_t n;
};

void db_init(struct db *a, const char *url, int timeout_ms);
int db_enabled(const struct db *a);
void db_close(struct db *a);

/* The archived owner of session sid: DB_NOT_FOUND if the archive has
 * no such session. */
enum db_result db_owner(struct db *a, const char *sid, char owner[ID_MAX + 1]);

/* At most limit messages of sid that come before message before (NULL:
 * the newest), oldest first. DB_NOT_FOUND: before is not archived. */
enum db_result db_page(struct db *a, const char *sid, const char *before,
				 long limit, struct db_items *out);
void db_items_release(struct db_items *it);

/* The user's sessions, newest first, after the cursor (updated_at and
 * session id of the last one of the previous page; after_sid NULL for the
 * first page): a JSON array into out, and the cursor of the next page into
 * next ("" when this is the last page). */
enum db_result db_sessions(struct db *a, const char *user, long long after_updated,
				     const char *after_sid, long limit, struct strbuf *out,
				     char *next, size_t next_len);

/* Deletes session sid's messages and row, after a tombstone that keeps the
 * archiver from writing again what was created until now_ms. */
enum db_result db_delete(struct db *a, const char *sid, const char *user,
				   long long now_ms);

#endif
