/* A growing list of short ids (stream entry ids, message ids). */
#include <stdlib.h>
#include <string.h>

#include "recoverd.h"
#include "xalloc.h"

void ids_add(struct ids *l, const char *id, size_t len)
{
	if (len >= sizeof *l->v)
		return;  /* longer than any id of ours: not one */
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = xreallocarray(l->v, l->cap, sizeof *l->v);
	}
	memcpy(l->v[l->n], id, len);
	l->v[l->n][len] = '\0';
	l->n++;
}

void ids_clear(struct ids *l) { l->n = 0; }

void ids_release(struct ids *l)
{
	free(l->v);
	*l = (struct ids){ 0 };
}
