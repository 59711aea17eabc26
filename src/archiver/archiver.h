/* The archiver's parts: entries.c reads the archive stream (Redis),
 * store.c writes a batch of its entries into PostgreSQL, main.c runs the
 * loop between them. */
#ifndef SC_ARCHIVER_H
#define SC_ARCHIVER_H

#include <hiredis.h>
#include <libpq-fe.h>
#include <stddef.h>

#include "redis_sync.h"

/* One finished message, as the scripts XADD it (doc/redis.md, `archive`). */
struct entry {
	char id[48];              /* the stream entry's id, "ms-n" */
	int part;                 /* the partition of the archive stream it is in */
	long long seq;            /* ms * 1000000 + n: its order in the session */
	char *message_id, *session_id, *user_id, *role, *status;
	char *content;            /* valid UTF-8 without NUL bytes (PostgreSQL's text) */
	long long created_at;
	int bad;                  /* malformed (or trimmed away): acknowledged, not stored */
};

struct batch {
	struct entry *e;
	size_t n, cap;
};

void batch_reset(struct batch *b);
void batch_release(struct batch *b);

/* entries.c, over the archive streams of every partition (doc/redis.md,
 * "Partitions"). Each returns 0, or -1 when the Redis connection failed. */
int entries_group(struct rs *c);  /* XGROUP CREATE ... MKSTREAM unless it exists */
/* XREADGROUP as consumer, one partition's stream per command (one slot
 * each) and none blocking, until count entries: from = ">" for new
 * entries, "0" for its own pending ones. When every stream had none it
 * sleeps wait_ms before it returns. */
int entries_read(struct rs *c, const char *consumer, const char *from, long count,
		 long wait_ms, struct batch *b);
/* XAUTOCLAIM of entries of partition *part idle past idle_ms; *cursor
 * ("0-0" to start) moves on, and when it is "0-0" again the next partition
 * is next (*part back to 0: every pending list has been seen). */
int entries_claim(struct rs *c, const char *consumer, long idle_ms, long count, int *part,
		  char *cursor, size_t cursor_len, struct batch *b);
/* XACK and XDEL of every entry of the batch (stored, duplicate or bad). */
int entries_done(struct rs *c, const struct batch *b);
/* The streams' XLENs added up, or -1. */
long long entries_backlog(struct rs *c);

/* store.c */
struct store {
	PGconn *pg;
	const char *url;
	const char *sql_dir;      /* share/sql: the migrations */
	char error[256];          /* the last failure, one line */
};
/* Connects and applies the migrations (under an advisory lock, so two
 * archivers starting at once apply them once): 0, or -1 with s->error. */
int store_open(struct store *s);
void store_close(struct store *s);
/* Whether the connection still stands, without a round trip (it reads
 * what the server sent: a shutdown's goodbye, or EOF); closed if not. */
int store_alive(struct store *s);
/* The batch in one transaction: 0 committed; -1 failed with s->error, and
 * s->pg is NULL when the connection is gone. *stored gets how many rows
 * were new (duplicates and messages of deleted sessions are not). */
int store_batch(struct store *s, const struct batch *b, long *stored);

#endif
