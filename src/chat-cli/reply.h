/* One reply as a client assembles it from chunk frames that may arrive out
 * of order after a reconnect: chunks are placed by index, a repeat is
 * counted, and the text grows only by the contiguous run from index 0, so
 * what is printed never has a hole. Pure logic, unit-tested. */
#ifndef SC_REPLY_H
#define SC_REPLY_H

#include "strbuf.h"
#include "validate.h"

struct reply {
	char mid[ID_MAX + 1];
	long next;                /* chunks 0..next-1 are in text */
	struct strbuf text;
	char **ahead;             /* ahead[i]: chunk next+1+i if it arrived early */
	size_t nahead;
	long total;               /* from the end frame; -1 until it came */
	char status[16];          /* complete, cancelled, error; "" until the end */
	long duplicates, out_of_order;
};

void reply_init(struct reply *r, const char *mid);
void reply_free(struct reply *r);

/* The text of chunks 0..last, known from a history frame. */
void reply_set_prefix(struct reply *r, const char *text, size_t len, long last);

/* Places chunk index. Text that became contiguous is appended to out (for
 * printing) as well as to r->text. Returns 1 if new, 0 if a repeat. */
int reply_add(struct reply *r, long index, const char *content, size_t len, struct strbuf *out);

void reply_end(struct reply *r, const char *status, long total);

/* Ended and every chunk 0..total-1 held. */
int reply_done(const struct reply *r);

/* The last index of the contiguous run: the position to resume from. */
static inline long reply_last(const struct reply *r) { return r->next - 1; }

#endif
