/* Redis Cluster's pure parts: a key's hash slot (CRC16 with hash tags), the
 * cluster's error replies (MOVED, ASK, TRYAGAIN, CLUSTERDOWN) and the slot
 * map read from CLUSTER SLOTS. No I/O here: redis_cluster.c does that. */
#ifndef SC_CLUSTER_SLOT_H
#define SC_CLUSTER_SLOT_H

#include <hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "redis_url.h"  /* struct redis_addr */

#define CLUSTER_SLOTS 16384

/* CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), as Redis
 * Cluster's specification: "123456789" gives 0x31C3. */
uint16_t crc16_xmodem(const void *buf, size_t len);

/* The key's slot: CRC16 of its hash tag (what lies between the first '{'
 * and the first '}' after it, when that is not empty), else of the whole
 * key, modulo 16384. */
int cluster_key_slot(const char *key, size_t len);

enum cluster_error {
	CLUSTER_ERR_NONE,       /* not an error reply of the cluster's own */
	CLUSTER_ERR_MOVED,      /* the slot lives elsewhere for good */
	CLUSTER_ERR_ASK,        /* this once, on the named node after ASKING */
	CLUSTER_ERR_TRYAGAIN,   /* a multi-key command met a slot mid-migration */
	CLUSTER_ERR_DOWN,       /* CLUSTERDOWN: the cluster cannot serve yet */
};

struct cluster_redirect {
	int slot;
	struct redis_addr to;   /* to.host is empty when Redis sent ":port"
				   (the node that answered, by its own address) */
};

/* Classifies an error reply's text; for MOVED/ASK fills *r. A MOVED or ASK
 * that does not parse is CLUSTER_ERR_NONE (the caller sees it as it is). */
enum cluster_error cluster_error_parse(const char *str, size_t len, struct cluster_redirect *r);

/* The slot map: which primary serves each slot. */
struct cluster_map {
	int nnodes;
	struct redis_addr *nodes;         /* the primaries, each once */
	int16_t owner[CLUSTER_SLOTS];     /* index into nodes, -1: unassigned */
};

void cluster_map_init(struct cluster_map *m);
void cluster_map_free(struct cluster_map *m);
/* The node's index, added if new. */
int cluster_map_node(struct cluster_map *m, const char *host, int port);
/* Replaces *m with the map a CLUSTER SLOTS reply describes. A primary
 * whose endpoint is empty or "?" is the node that answered (self_host).
 * Returns 0, or -1 with a one-line reason in err (m then unchanged). */
int cluster_map_from_slots(struct cluster_map *m, const redisReply *r, const char *self_host,
			   char *err, size_t errlen);
/* How many slots have an owner (16384 in a healthy cluster). */
int cluster_map_covered(const struct cluster_map *m);
/* Where a command for slot goes: its owner, or (no key: slot -1) the first
 * primary. NULL for an unowned slot, or when the map knows no node. */
const struct redis_addr *cluster_map_route(const struct cluster_map *m, int slot);

#endif
