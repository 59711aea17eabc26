#include "scripts.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sha1.h"
#include "strbuf.h"

static struct script scripts[SCRIPT_COUNT] = {
	[SCRIPT_ENQUEUE] = { "enqueue", NULL, 0, "" },
	[SCRIPT_START] = { "start", NULL, 0, "" },
	[SCRIPT_APPEND] = { "append", NULL, 0, "" },
	[SCRIPT_FINISH] = { "finish", NULL, 0, "" },
	[SCRIPT_RENEW] = { "renew", NULL, 0, "" },
	[SCRIPT_SESSIONS_LEAVE] = { "sessions_leave", NULL, 0, "" },
	[SCRIPT_CANCEL] = { "cancel", NULL, 0, "" },
	[SCRIPT_REQUEUE] = { "requeue", NULL, 0, "" },
	[SCRIPT_CLAIM] = { "claim", NULL, 0, "" },
	[SCRIPT_ORPHAN] = { "orphan", NULL, 0, "" },
	[SCRIPT_RELEASE] = { "release", NULL, 0, "" },
	[SCRIPT_ADMIT] = { "admit", NULL, 0, "" },
	/* the relay's registry and claims */
	[SCRIPT_SESSIONS_JOIN] = { "sessions_join", NULL, 0, "" },
	[SCRIPT_RATELIMIT] = { "ratelimit", NULL, 0, "" },
};

const char *share_dir(const char *configured)
{
	static char dir[PATH_MAX];
	if (dir[0])
		return dir;
	if (configured && *configured) {
		snprintf(dir, sizeof dir, "%s", configured);
		return dir;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0) {
		snprintf(dir, sizeof dir, "share");
		return dir;
	}
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	snprintf(dir, sizeof dir, "%.*s/../share", (int)(sizeof dir - 10), exe);
	return dir;
}

/* The scripts say redis.call('PUBLISH', ...); on a Cluster each such call
 * becomes the sharded form, whose channel (the session's tag) is of the
 * script's own slot. */
#define PUBLISH_CALL "redis.call('PUBLISH',"

static void set_publish(struct strbuf *sb, const char *publish)
{
	if (!strcmp(publish, "PUBLISH"))
		return;
	struct strbuf out = STRBUF_INIT;
	const char *p = sb->buf, *end = sb->buf + sb->len, *hit;
	size_t n = strlen(PUBLISH_CALL);
	while ((hit = memmem(p, (size_t)(end - p), PUBLISH_CALL, n))) {
		sb_add(&out, p, (size_t)(hit - p));
		sb_adds(&out, "redis.call('");
		sb_adds(&out, publish);
		sb_adds(&out, "',");
		p = hit + n;
	}
	sb_add(&out, p, (size_t)(end - p));
	sb_release(sb);
	*sb = out;
}

void scripts_load(const char *dir, const char *publish)
{
	for (int i = 0; i < SCRIPT_COUNT; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s/lua/%s.lua", dir, scripts[i].name);
		struct strbuf sb = STRBUF_INIT;
		if (sb_add_file(&sb, path))
			die(111, "unable to read %s: %m", path);
		set_publish(&sb, publish);
		free(scripts[i].body);
		scripts[i].body = sb_detach(&sb, &scripts[i].len);
		sha1_hex(scripts[i].body, scripts[i].len, scripts[i].sha);
	}
}

const struct script *script_get(enum script_id id) { return &scripts[id]; }

static void resp_bulk(struct strbuf *out, const char *s, size_t n)
{
	sb_addc(out, '$');
	sb_add_int(out, (long long)n);
	sb_add(out, "\r\n", 2);
	sb_add(out, s, n);
	sb_add(out, "\r\n", 2);
}

void script_resp(struct strbuf *out, enum script_id id, int nkeys, const char *const *keys,
		 int nargs, const char *const *args, const size_t *lens)
{
	char nk[16];
	int n = snprintf(nk, sizeof nk, "%d", nkeys);
	sb_addc(out, '*');
	sb_add_int(out, 3LL + nkeys + nargs);
	sb_add(out, "\r\n", 2);
	resp_bulk(out, "EVALSHA", 7);
	resp_bulk(out, scripts[id].sha, 40);
	resp_bulk(out, nk, (size_t)n);
	for (int i = 0; i < nkeys; i++)
		resp_bulk(out, keys[i], strlen(keys[i]));
	for (int i = 0; i < nargs; i++)
		resp_bulk(out, args[i], lens ? lens[i] : strlen(args[i]));
}

void script_argv(enum script_id id, int nkeys, const char *const *keys, int nargs,
		 const char *const *args, const size_t *lens, const char **argv, size_t *argl,
		 char *nkbuf)
{
	const struct script *s = &scripts[id];
	snprintf(nkbuf, 16, "%d", nkeys);
	argv[0] = "EVALSHA";
	argl[0] = 7;
	argv[1] = s->sha;
	argl[1] = 40;
	argv[2] = nkbuf;
	argl[2] = strlen(nkbuf);
	for (int i = 0; i < nkeys; i++) {
		argv[3 + i] = keys[i];
		argl[3 + i] = strlen(keys[i]);
	}
	for (int i = 0; i < nargs; i++) {
		argv[3 + nkeys + i] = args[i];
		argl[3 + nkeys + i] = lens ? lens[i] : strlen(args[i]);
	}
}
