#include "ready.h"

#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "redis_sync.h"

#include "log.h"

void ready_cmd(struct ready_cmd *c, int partition)
{
	snprintf(c->num, sizeof c->num, "%d", partition);
	snprintf(c->maxlen, sizeof c->maxlen, "%d", READY_MAXLEN);
	const char *argv[READY_ARGC] = { "XADD", key_jobs_ready(c->key), "MAXLEN", "~", c->maxlen,
					 "*", "p", c->num };
	memcpy(c->argv, argv, sizeof argv);
}

int ready_announce(struct rs *c, int partition)
{
	struct ready_cmd rc;
	ready_cmd(&rc, partition);
	redisReply *r = rs_command_argv(c, READY_ARGC, rc.argv, NULL);
	int ok = r && r->type != REDIS_REPLY_ERROR;
	if (!ok)
		log_warn("job not announced", "partition=%d error=\"%s\"", partition,
			 r ? r->str : rs_errstr(c));
	if (r)
		freeReplyObject(r);
	return ok ? 0 : -1;
}

int ready_partition(const char *value, size_t len)
{
	if (len == 0 || len > 2)
		return -1;
	int p = 0;
	for (size_t i = 0; i < len; i++) {
		if (value[i] < '0' || value[i] > '9')
			return -1;
		p = p * 10 + (value[i] - '0');
	}
	return p < PARTITIONS ? p : -1;
}
