#include "fifo.h"

#include <stdlib.h>

#include "xalloc.h"

void fifo_push(struct fifo *q, void *p)
{
	if (q->len == q->cap) {
		size_t ncap = q->cap ? q->cap * 2 : 8;
		void **nv = xmalloc(ncap * sizeof *nv);
		for (size_t i = 0; i < q->len; i++)
			nv[i] = fifo_at(q, i);
		free(q->v);
		q->v = nv;
		q->cap = ncap;
		q->head = 0;
	}
	q->v[(q->head + q->len++) % q->cap] = p;
}

void *fifo_pop(struct fifo *q)
{
	if (!q->len)
		return NULL;
	void *p = q->v[q->head];
	q->head = (q->head + 1) % q->cap;
	q->len--;
	return p;
}

void fifo_release(struct fifo *q)
{
	free(q->v);
	*q = (struct fifo)FIFO_INIT;
}
