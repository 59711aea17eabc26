#include "reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void reply_init(struct reply *r, const char *mid)
{
	memset(r, 0, sizeof *r);
	snprintf(r->mid, sizeof r->mid, "%s", mid ? mid : "");
	r->total = -1;
}

static void drop_ahead(struct reply *r)
{
	for (size_t i = 0; i < r->nahead; i++)
		free(r->ahead[i]);
	free(r->ahead);
	r->ahead = NULL;
	r->nahead = 0;
}

void reply_free(struct reply *r)
{
	drop_ahead(r);
	sb_release(&r->text);
}

void reply_set_prefix(struct reply *r, const char *text, size_t len, long last)
{
	sb_reset(&r->text);
	sb_add(&r->text, text, len);
	r->next = last + 1;
	drop_ahead(r);
}

static void take(struct reply *r, const char *content, size_t len, struct strbuf *out)
{
	sb_add(&r->text, content, len);
	if (out)
		sb_add(out, content, len);
	r->next++;
}

/* ahead[i] holds chunk next + i; ahead[0] is always empty, since chunk
 * next is taken as soon as it comes. */
static void shift_ahead(struct reply *r)
{
	if (!r->nahead)
		return;
	memmove(r->ahead, r->ahead + 1, (r->nahead - 1) * sizeof *r->ahead);
	r->nahead--;
}

int reply_add(struct reply *r, long index, const char *content, size_t len, struct strbuf *out)
{
	if (index < r->next) {
		r->duplicates++;
		return 0;
	}
	size_t slot = (size_t)(index - r->next);
	if (slot > 0) {
		if (slot >= r->nahead) {
			char **a = xreallocarray(r->ahead, slot + 1, sizeof *a);
			memset(a + r->nahead, 0, (slot + 1 - r->nahead) * sizeof *a);
			r->ahead = a;
			r->nahead = slot + 1;
		}
		if (r->ahead[slot]) {
			r->duplicates++;
			return 0;
		}
		r->out_of_order++;
		r->ahead[slot] = xstrndup(content, len);
		return 1;
	}
	take(r, content, len, out);
	shift_ahead(r);
	while (r->nahead && r->ahead[0]) {
		take(r, r->ahead[0], strlen(r->ahead[0]), out);
		free(r->ahead[0]);
		r->ahead[0] = NULL;
		shift_ahead(r);
	}
	return 1;
}

void reply_end(struct reply *r, const char *status, long total)
{
	snprintf(r->status, sizeof r->status, "%s", status);
	r->total = total;
}

int reply_done(const struct reply *r)
{
	return r->status[0] && r->next >= r->total;
}
