/* What cluster-rw.c (the synchronous client) and cluster-rw-async.c (the
 * asynchronous one) share: the options, the counts, the keys and values. */
#ifndef CLUSTER_RW_H
#define CLUSTER_RW_H

#include "redis_cluster.h"

struct opts {
	struct redis_addr seeds[REDIS_MAX_ADDRS];
	int nseeds;
	const char *password;
	int retry_ms;
	int slot_lo, slot_hi;
	int strict;
	int every_slot;               /* write/read: one key in each of the 16384 slots */
	int async;
	const char *start_file;       /* print "ready" once connected, start once it exists */
};

struct counts {
	unsigned long written, read, mismatches;
	unsigned long slots;                  /* distinct slots read back right */
	unsigned char seen[CLUSTER_SLOTS];
};

/* The next key (*j counts the keys looked at) and the value it holds. */
void key_at(const struct opts *o, const char *prefix, unsigned long *j, char *out, size_t n);
void value_of(const char *key, char *out, size_t n);
/* Counts a GET's reply r for key: 1 when it is val. */
int note_read(const char *key, const char *val, const redisReply *r, struct counts *n);
void wait_file(const char *path, int seconds);

/* The command through the asynchronous client: 0, or -1 for a bad command;
 * exits 2 on an error of the cluster's. */
int async_main(const struct opts *o, const char *cmd, char **args, int nargs, struct counts *n,
	       struct rcluster_stats *st);

#endif
