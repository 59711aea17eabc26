/* A FIFO of pointers in a ring that doubles when full: ws-relay's send
 * queues and ai-streamer's queues of tokens waiting for their append. */
#ifndef SC_FIFO_H
#define SC_FIFO_H

#include <stddef.h>

struct fifo {
	void **v;
	size_t head, len, cap;
};

#define FIFO_INIT { NULL, 0, 0, 0 }

void fifo_push(struct fifo *q, void *p);    /* aborts when out of memory */
void *fifo_pop(struct fifo *q);             /* NULL when empty */
static inline void *fifo_at(const struct fifo *q, size_t i) { return q->v[(q->head + i) % q->cap]; }
void fifo_release(struct fifo *q);          /* frees the ring, not the items */

#endif
