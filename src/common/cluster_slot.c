#include "cluster_slot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

uint16_t crc16_xmodem(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint16_t crc = 0;
	for (size_t i = 0; i < len; i++) {
		crc ^= (uint16_t)(p[i] << 8);
		for (int b = 0; b < 8; b++)
			crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
	}
	return crc;
}

int cluster_key_slot(const char *key, size_t len)
{
	const char *open = memchr(key, '{', len);
	if (open) {
		size_t rest = len - (size_t)(open - key) - 1;
		const char *close = memchr(open + 1, '}', rest);
		if (close && close > open + 1)
			return crc16_xmodem(open + 1, (size_t)(close - open - 1)) & (CLUSTER_SLOTS - 1);
	}
	return crc16_xmodem(key, len) & (CLUSTER_SLOTS - 1);
}

/* "host:port" split at its last ':' (an IPv6 host keeps its own colons). */
static int parse_endpoint(const char *s, size_t len, struct redis_addr *a)
{
	const char *colon = NULL;
	for (size_t i = 0; i < len; i++)
		if (s[i] == ':')
			colon = s + i;
	if (!colon)
		return -1;
	size_t hlen = (size_t)(colon - s);
	if (hlen >= sizeof a->host)
		return -1;
	char digits[8];
	size_t dlen = len - hlen - 1;
	if (dlen == 0 || dlen >= sizeof digits)
		return -1;
	memcpy(digits, colon + 1, dlen);
	digits[dlen] = 0;
	char *end;
	long port = strtol(digits, &end, 10);
	if (*end || port < 1 || port > 65535)
		return -1;
	memcpy(a->host, s, hlen);
	a->host[hlen] = 0;
	a->port = (int)port;
	return 0;
}

/* "MOVED 3999 127.0.0.1:6381" after its word: " slot endpoint" */
static int parse_redirect(const char *s, size_t len, struct cluster_redirect *r)
{
	if (len < 4 || s[0] != ' ')
		return -1;
	long slot = 0;
	size_t i = 1;
	if (i >= len || s[i] < '0' || s[i] > '9')
		return -1;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		slot = slot * 10 + (s[i] - '0');
		if (slot >= CLUSTER_SLOTS)
			return -1;
	}
	if (i >= len || s[i] != ' ')
		return -1;
	i++;
	size_t end = i;
	while (end < len && s[end] != ' ')
		end++;
	if (parse_endpoint(s + i, end - i, &r->to) < 0)
		return -1;
	r->slot = (int)slot;
	return 0;
}

static int starts_word(const char *s, size_t len, const char *word)
{
	size_t n = strlen(word);
	return len >= n && memcmp(s, word, n) == 0 && (len == n || s[n] == ' ');
}

enum cluster_error cluster_error_parse(const char *str, size_t len, struct cluster_redirect *r)
{
	if (!str)
		return CLUSTER_ERR_NONE;
	if (starts_word(str, len, "MOVED"))
		return parse_redirect(str + 5, len - 5, r) == 0 ? CLUSTER_ERR_MOVED : CLUSTER_ERR_NONE;
	if (starts_word(str, len, "ASK"))
		return parse_redirect(str + 3, len - 3, r) == 0 ? CLUSTER_ERR_ASK : CLUSTER_ERR_NONE;
	if (starts_word(str, len, "TRYAGAIN"))
		return CLUSTER_ERR_TRYAGAIN;
	if (starts_word(str, len, "CLUSTERDOWN"))
		return CLUSTER_ERR_DOWN;
	return CLUSTER_ERR_NONE;
}

void cluster_map_init(struct cluster_map *m)
{
	m->nnodes = 0;
	m->nodes = NULL;
	for (int i = 0; i < CLUSTER_SLOTS; i++)
		m->owner[i] = -1;
}

void cluster_map_free(struct cluster_map *m)
{
	free(m->nodes);
	cluster_map_init(m);
}

int cluster_map_node(struct cluster_map *m, const char *host, int port)
{
	for (int i = 0; i < m->nnodes; i++)
		if (m->nodes[i].port == port && !strcmp(m->nodes[i].host, host))
			return i;
	m->nodes = xreallocarray(m->nodes, (size_t)m->nnodes + 1, sizeof *m->nodes);
	struct redis_addr *a = &m->nodes[m->nnodes];
	snprintf(a->host, sizeof a->host, "%s", host);
	a->port = port;
	return m->nnodes++;
}

static int is_int(const redisReply *r)
{
	return r && r->type == REDIS_REPLY_INTEGER;
}

/* One entry: [start, end, [host, port, id, ...], replicas...]; its primary
 * into m. */
static int add_range(struct cluster_map *m, const redisReply *e, const char *self_host,
		     char *err, size_t errlen)
{
	if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 || !is_int(e->element[0]) ||
	    !is_int(e->element[1])) {
		snprintf(err, errlen, "CLUSTER SLOTS: an entry is not [start, end, node...]");
		return -1;
	}
	long long lo = e->element[0]->integer, hi = e->element[1]->integer;
	if (lo < 0 || hi >= CLUSTER_SLOTS || lo > hi) {
		snprintf(err, errlen, "CLUSTER SLOTS: a slot range %lld-%lld out of 0-16383", lo, hi);
		return -1;
	}
	const redisReply *n = e->element[2];
	if (n->type != REDIS_REPLY_ARRAY || n->elements < 2 || n->element[0]->type != REDIS_REPLY_STRING ||
	    !is_int(n->element[1]) || n->element[1]->integer < 1 || n->element[1]->integer > 65535) {
		snprintf(err, errlen, "CLUSTER SLOTS: a node is not [host, port, ...]");
		return -1;
	}
	const char *host = n->element[0]->str;
	if (!host[0] || !strcmp(host, "?"))
		host = self_host;
	if (strlen(host) >= sizeof m->nodes[0].host) {
		snprintf(err, errlen, "CLUSTER SLOTS: a host name too long");
		return -1;
	}
	int idx = cluster_map_node(m, host, (int)n->element[1]->integer);
	for (long long s = lo; s <= hi; s++)
		m->owner[s] = (int16_t)idx;
	return 0;
}

int cluster_map_from_slots(struct cluster_map *m, const redisReply *r, const char *self_host,
			   char *err, size_t errlen)
{
	if (!r || r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errlen, "CLUSTER SLOTS: %s", r ? r->str : "no reply");
		return -1;
	}
	if (r->type != REDIS_REPLY_ARRAY) {
		snprintf(err, errlen, "CLUSTER SLOTS: the reply is not an array");
		return -1;
	}
	struct cluster_map *next = xmalloc(sizeof *next);
	cluster_map_init(next);
	for (size_t i = 0; i < r->elements; i++) {
		if (add_range(next, r->element[i], self_host, err, errlen) < 0) {
			cluster_map_free(next);
			free(next);
			return -1;
		}
	}
	cluster_map_free(m);
	*m = *next;
	free(next);
	return 0;
}

int cluster_map_covered(const struct cluster_map *m)
{
	int n = 0;
	for (int i = 0; i < CLUSTER_SLOTS; i++)
		n += m->owner[i] >= 0;
	return n;
}

const struct redis_addr *cluster_map_route(const struct cluster_map *m, int slot)
{
	if (slot >= 0 && m->owner[slot] >= 0)
		return &m->nodes[m->owner[slot]];
	if (slot >= 0 || m->nnodes == 0)
		return NULL;
	return &m->nodes[0];
}
