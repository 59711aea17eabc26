/* The Redis side of the archiver: the `archive` stream read through the
 * consumer group `archivers`, and its entries acknowledged and deleted
 * once PostgreSQL holds them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "archive.h"
#include "archiver.h"
#include "keys.h"
#include "log.h"
#include "strbuf.h"
#include "validate.h"
#include "xalloc.h"

void batch_reset(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		struct entry *e = &b->e[i];
		free(e->message_id);
		free(e->session_id);
		free(e->user_id);
		free(e->role);
		free(e->status);
		free(e->content);
	}
	b->n = 0;
}

void batch_release(struct batch *b)
{
	batch_reset(b);
	free(b->e);
	b->e = NULL;
	b->cap = 0;
}

static struct entry *batch_add(struct batch *b, const char *id, size_t id_len)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->e = xreallocarray(b->e, b->cap, sizeof *b->e);
	}
	struct entry *e = &b->e[b->n++];
	memset(e, 0, sizeof *e);
	if (id_len >= sizeof e->id)
		id_len = sizeof e->id - 1;
	memcpy(e->id, id, id_len);
	char *dash;
	long long ms = strtoll(e->id, &dash, 10), n = *dash == '-' ? strtoll(dash + 1, NULL, 10) : 0;
	e->seq = ms * 1000000 + (n < 1000000 ? n : 999999);
	return e;
}

/* PostgreSQL's text holds valid UTF-8 without NUL bytes: anything else
 * becomes U+FFFD rather than a batch that can never be stored. */
static char *as_text(const char *s, size_t n)
{
	if (valid_utf8(s, n) && !memchr(s, 0, n))
		return xstrndup(s, n);
	struct strbuf out = STRBUF_INIT, fixed = STRBUF_INIT;
	struct utf8_carry carry = { { 0 }, 0 };
	utf8_repair(&fixed, &carry, s, n);
	utf8_repair_end(&fixed, &carry);
	for (size_t i = 0; i < fixed.len; i++) {
		if (fixed.buf[i])
			sb_addc(&out, fixed.buf[i]);
		else
			sb_adds(&out, "\xef\xbf\xbd");
	}
	sb_release(&fixed);
	if (!out.buf)
		return xstrdup("");
	return sb_detach(&out, NULL);
}

static const char *const roles[] = { "user", "assistant", NULL };
static const char *const statuses[] = { "complete", "cancelled", "error", NULL };

static int one_of(const char *s, const char *const *words)
{
	for (; *words; words++)
		if (!strcmp(s, *words))
			return 1;
	return 0;
}

/* An entry's fields; one that is missing or malformed marks it bad. */
static void entry_fields(struct entry *e, const redisReply *f)
{
	e->bad = 1;
	if (!f || f->type != REDIS_REPLY_ARRAY)
		return;  /* trimmed by MAXLEN before it was stored */
	const char *created = NULL;
	for (size_t i = 0; i + 1 < f->elements; i += 2) {
		const redisReply *k = f->element[i], *v = f->element[i + 1];
		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			return;
		char **slot = !strcmp(k->str, "message_id") ? &e->message_id :
			      !strcmp(k->str, "session_id") ? &e->session_id :
			      !strcmp(k->str, "user_id") ? &e->user_id :
			      !strcmp(k->str, "role") ? &e->role :
			      !strcmp(k->str, "status") ? &e->status :
			      !strcmp(k->str, "content") ? &e->content : NULL;
		if (slot && !*slot)
			*slot = as_text(v->str, v->len);
		else if (!strcmp(k->str, "created_at"))
			created = v->str;
	}
	char *end;
	if (!e->message_id || !e->session_id || !e->user_id || !e->role || !e->status ||
	    !e->content || !created)
		return;
	if (!valid_message_id(e->message_id, strlen(e->message_id)) ||
	    !valid_id(e->session_id, strlen(e->session_id)) ||
	    !valid_id(e->user_id, strlen(e->user_id)) || !one_of(e->role, roles) ||
	    !one_of(e->status, statuses))
		return;
	e->created_at = strtoll(created, &end, 10);
	if (end == created || *end || e->created_at < 0)
		return;
	e->bad = 0;
}

/* The entries of partition part's stream's array [[id, fields], ...] into b. */
static void add_entries(struct batch *b, int part, const redisReply *arr)
{
	if (!arr || arr->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i < arr->elements; i++) {
		const redisReply *it = arr->element[i];
		if (it->type != REDIS_REPLY_ARRAY || it->elements < 1 ||
		    it->element[0]->type != REDIS_REPLY_STRING)
			continue;
		struct entry *e = batch_add(b, it->element[0]->str, it->element[0]->len);
		e->part = part;
		entry_fields(e, it->elements > 1 ? it->element[1] : NULL);
		if (e->bad)
			log_warn("archive entry unusable", "entry=%s reason=\"%s\"", e->id,
				 it->elements > 1 && it->element[1]->type == REDIS_REPLY_ARRAY ?
				 "malformed" : "trimmed before it was stored");
	}
}

int entries_group(struct rs *c)
{
	for (int p = 0; p < PARTITIONS; p++) {
		char k[KEY_MAX];
		redisReply *r = rs_command(c, "XGROUP CREATE %s %s 0 MKSTREAM", key_archive(k, p),
					     ARCHIVE_GROUP);
		if (!r)
			return -1;
		if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) != 0)
			log_warn("creating the archive group failed", "error=\"%s\"", r->str);
		freeReplyObject(r);
	}
	return 0;
}

/* One partition's stream, without blocking: up to count entries more. */
static int read_partition(struct rs *c, const char *consumer, const char *from, long count,
			  int p, struct batch *b)
{
	char k[KEY_MAX];
	redisReply *r = rs_command(c, "XREADGROUP GROUP %s %s COUNT %ld STREAMS %s %s",
				     ARCHIVE_GROUP, consumer, count, key_archive(k, p), from);
	if (!r)
		return -1;
	if (r->type == REDIS_REPLY_ERROR) {
		/* NOGROUP: the stream was deleted (FLUSHDB, a restore): make it again */
		log_warn("reading the archive failed", "error=\"%s\"", r->str);
		int nogroup = !strncmp(r->str, "NOGROUP", 7);
		freeReplyObject(r);
		return nogroup ? entries_group(c) : 0;
	}
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
	    r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2)
		add_entries(b, p, r->element[0]->element[1]);
	freeReplyObject(r);
	return 0;
}

int entries_read(struct rs *c, const char *consumer, const char *from, long count,
		 long wait_ms, struct batch *b)
{
	/* each call starts one partition further, so that a busy partition
	 * does not keep the batch to itself */
	static int first;
	first = (first + 1) % PARTITIONS;
	for (int i = 0; i < PARTITIONS && (long)b->n < count; i++)
		if (read_partition(c, consumer, from, count - (long)b->n, (first + i) % PARTITIONS, b))
			return -1;
	if (b->n == 0 && wait_ms > 0) {
		struct timespec ts = { wait_ms / 1000, (wait_ms % 1000) * 1000000 };
		nanosleep(&ts, NULL);  /* a signal ends it early */
	}
	return 0;
}

int entries_claim(struct rs *c, const char *consumer, long idle_ms, long count, int *part,
		  char *cursor, size_t cursor_len, struct batch *b)
{
	char k[KEY_MAX];
	int p = *part % PARTITIONS;
	redisReply *r = rs_command(c, "XAUTOCLAIM %s %s %s %ld %s COUNT %ld", key_archive(k, p),
				     ARCHIVE_GROUP, consumer, idle_ms, cursor, count);
	if (!r)
		return -1;
	if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
	    r->element[0]->type == REDIS_REPLY_STRING) {
		snprintf(cursor, cursor_len, "%s", r->element[0]->str);
		size_t before = b->n;
		add_entries(b, p, r->element[1]);
		if (b->n > before)
			log_info("claimed archive entries of another consumer", "count=%zu",
				 b->n - before);
	} else {
		snprintf(cursor, cursor_len, "0-0");
		if (r->type == REDIS_REPLY_ERROR)
			log_warn("claiming archive entries failed", "error=\"%s\"", r->str);
	}
	if (!strcmp(cursor, "0-0"))
		*part = (p + 1) % PARTITIONS;
	freeReplyObject(r);
	return 0;
}

/* XACK key group id..., and XDEL key id... of the batch's entries of
 * partition p: the stream's length is then the backlog, and MAXLEN never
 * trims stored entries in place of unstored ones. Returns how many
 * commands it sent. */
static int done_in(struct rs *c, int p, const struct batch *b)
{
	char k[KEY_MAX];
	key_archive(k, p);
	const char **ack = xcalloc(3 + b->n, sizeof *ack), **del = xcalloc(2 + b->n, sizeof *del);
	ack[0] = "XACK";
	ack[1] = del[1] = k;
	ack[2] = ARCHIVE_GROUP;
	del[0] = "XDEL";
	size_t n = 0;
	for (size_t i = 0; i < b->n; i++)
		if (b->e[i].part == p) {
			ack[3 + n] = del[2 + n] = b->e[i].id;
			n++;
		}
	if (n) {
		rs_append_argv(c, (int)(3 + n), ack, NULL);
		rs_append_argv(c, (int)(2 + n), del, NULL);
	}
	free(ack);
	free(del);
	return n ? 2 : 0;
}

int entries_done(struct rs *c, const struct batch *b)
{
	if (b->n == 0)
		return 0;
	int sent = 0;
	for (int p = 0; p < PARTITIONS; p++)
		sent += done_in(c, p, b);
	int rc = 0;
	for (int i = 0; i < sent; i++) {
		redisReply *r = NULL;
		if (rs_get_reply(c, (void **)&r) != REDIS_OK || !r) {
			rc = -1;
			break;
		}
		if (r->type == REDIS_REPLY_ERROR)
			log_warn("acknowledging archive entries failed", "error=\"%s\"", r->str);
		freeReplyObject(r);
	}
	return rc;
}

long long entries_backlog(struct rs *c)
{
	long long n = 0;
	for (int p = 0; p < PARTITIONS; p++) {
		char k[KEY_MAX];
		redisReply *r = rs_command(c, "XLEN %s", key_archive(k, p));
		if (!r)
			return -1;
		n += r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
		freeReplyObject(r);
	}
	return n;
}
