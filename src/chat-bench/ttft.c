/* The ttft workload: time to first token. Every session's socket is open
 * first; then one chat at a time, from POST /api/chat written to the first
 * chunk frame read on the session's socket, the reply let run to its end
 * before the next (nothing else loads the stack).
 *
 * A first pass measures it as it is. A second pass, with Redis MONITOR on
 * and a pub/sub subscriber of chat-bench's own beside the relay's, says
 * where the time goes: Redis stamps each command with its own wall clock
 * as it runs it, and chat-bench's wall clock is the same machine's, so
 *
 *   POST written             chat-bench, before write()
 *   job queued               enqueue.lua's XADD of the job
 *   job taken                start.lua (the worker's XREADGROUP woke up)
 *   first append             append.lua of chunk 0
 *   published                its PUBLISH
 *   at a subscriber          chat-bench's own subscriber got it
 *   first chunk frame        read on the session's socket
 *
 * MONITOR costs Redis a little per command: the second pass's total says
 * how much, beside the first's. The workers' heartbeats' first-token
 * histogram (ft_*) gives their own mean over the first pass. */
#include <pthread.h>
#include <semaphore.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "frame.h"
#include "keys.h"
#include "redis_sync.h"
#include "redis_url.h"
#include "xalloc.h"

/* One chat's moments, wall clock in us; 0 until seen. */
struct ttft_chat {
	int64_t posted, answered, queued, taken, appended, published, at_sub, first;
	char mid[ID_MAX + 1];
};

static struct ttft_chat *chats;
static long nchats;
static volatile long current = -1;    /* the session being measured */
static int64_t ended_seen;            /* its reply ended on its socket */

static int64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void on_frame(struct sess *s, const char *p, size_t n, void *ud)
{
	struct sess *all = ud;
	long before = s->ended;
	bench_on_frame(s, p, n, NULL);  /* gaps, duplicates, counts */
	long i = (long)(s - all) % nchats;
	if (i != current)
		return;
	struct frame_info fi;
	if (!chats[i].first && !frame_peek(p, n, &fi) && fi.type == FT_CHUNK && fi.index == 0)
		chats[i].first = wall_us();
	if (s->ended > before)
		ended_seen = 1;
}

/* --- the poster: one POST at a time, on a kept connection */

static sem_t post_go, post_done;
static volatile int post_failed;

static void *poster(void *arg)
{
	struct sess *ss = arg;
	int fd = -1;
	for (;;) {
		sem_wait(&post_go);
		if (current < 0)
			break;
		long i = current;
		chats[i].posted = wall_us();
		post_failed = bench_post(&fd, &ss[i]);
		chats[i].answered = wall_us();
		sem_post(&post_done);
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* --- the trace: MONITOR's lines and a subscriber of our own */

struct tracer {
	redisContext *mon, *sub;
	pthread_t mon_th, sub_th;
	char jobs[KEY_MAX];               /* the job streams' names up to their tag */
	const char *run;                  /* the sessions' ids begin bench-<run>- */
};

/* Whose chat a session id is: bench-<run>-<i>. */
static long chat_of_session(const char *id, size_t len)
{
	const char *dash = memrchr(id, '-', len);
	if (!dash)
		return -1;
	long i = strtol(dash + 1, NULL, 10);
	return i >= 0 && i < nchats ? i : -1;
}

/* The argument after `after` in a MONITOR line ("a" "b" ...), unquoted, in out. */
static int arg_after(const char *line, const char *after, char *out, size_t cap)
{
	const char *p = strstr(line, after);
	if (!p)
		return -1;
	p += strlen(after);
	const char *q = strchr(p, '"');
	if (!q || (size_t)(q - p) >= cap)
		return -1;
	memcpy(out, p, (size_t)(q - p));
	out[q - p] = '\0';
	return 0;
}

/* "{prefix}kind{t}ID": ID (t the partition's tag) */
static int braced_id(const char *line, const char *key_kind, char *out, size_t cap)
{
	char pat[KEY_MAX + 8];
	snprintf(pat, sizeof pat, "\"%s%s{", keys_prefix(), key_kind);
	const char *p = strstr(line, pat);
	if (!p || !(p = strchr(p + strlen(pat), '}')))
		return -1;
	p++;
	const char *q = strchr(p, '"');
	if (!q || (size_t)(q - p) >= cap)
		return -1;
	memcpy(out, p, (size_t)(q - p));
	out[q - p] = '\0';
	return 0;
}

/* One MONITOR line: `<s>.<us> [db client] "CMD" "arg"...` */
static void monitor_line(struct tracer *t, const char *line)
{
	long long sec, usec;
	if (sscanf(line, "%lld.%lld", &sec, &usec) != 2)
		return;
	int64_t at = sec * 1000000 + usec;
	const char *cmd = strchr(line, ']');
	if (!cmd)
		return;
	char id[ID_MAX + 1], xadd[KEY_MAX + 16];
	snprintf(xadd, sizeof xadd, "\"XADD\" \"%s", t->jobs);
	if (strstr(cmd, xadd)) {
		if (arg_after(cmd, "\"session_id\" \"", id, sizeof id))
			return;
		long i = chat_of_session(id, strlen(id));
		if (i >= 0 && !chats[i].queued) {
			chats[i].queued = at;
			arg_after(cmd, "\"message_id\" \"", chats[i].mid, sizeof chats[i].mid);
		}
		return;
	}
	long i = current;
	if (i < 0 || !chats[i].mid[0])
		return;
	if (!chats[i].taken && strstr(cmd, "\"EVAL") && !braced_id(cmd, "stream:meta:", id, sizeof id) &&
	    !strcmp(id, chats[i].mid) && strstr(cmd, "\" \"4\" \"")) {
		chats[i].taken = at;  /* start.lua: KEYS meta, lock, cancel, chunks */
	} else if (!chats[i].appended && strstr(cmd, "\"EVAL") &&
		   !braced_id(cmd, "stream:chunks:", id, sizeof id) && !strcmp(id, chats[i].mid) &&
		   strstr(cmd, "\" \"0\" \"")) {
		chats[i].appended = at;  /* append.lua with index 0 */
	} else if (!chats[i].published && strstr(cmd, "\"PUBLISH\"") && strstr(cmd, "\\\"index\\\":0,") &&
		   strstr(cmd, chats[i].mid)) {
		chats[i].published = at;
	}
}

static void *monitor_main(void *arg)
{
	struct tracer *t = arg;
	redisReply *r;
	while (redisGetReply(t->mon, (void **)&r) == REDIS_OK) {
		if (r->type == REDIS_REPLY_STATUS && r->str)
			monitor_line(t, r->str);
		freeReplyObject(r);
	}
	return NULL;
}

/* pmessage pattern channel payload: chunk 0 of the chat measured */
static void *subscriber_main(void *arg)
{
	struct tracer *t = arg;
	redisReply *r;
	while (redisGetReply(t->sub, (void **)&r) == REDIS_OK) {
		int64_t at = wall_us();
		struct frame_info fi;
		long i = current;
		if (i >= 0 && !chats[i].at_sub && r->type == REDIS_REPLY_ARRAY && r->elements == 4 &&
		    r->element[3]->type == REDIS_REPLY_STRING &&
		    !frame_peek(r->element[3]->str, r->element[3]->len, &fi) && fi.type == FT_CHUNK &&
		    fi.index == 0 && chats[i].mid[0] && fi.message_id_len == strlen(chats[i].mid) &&
		    !memcmp(fi.message_id, chats[i].mid, fi.message_id_len))
			chats[i].at_sub = at;
		freeReplyObject(r);
	}
	return NULL;
}

static redisContext *connect_or_say(const char *url)
{
	struct redis_cfg cfg;
	const char *err;
	char ebuf[200];
	if (redis_url_parse(url, &cfg, &err)) {
		fprintf(stderr, "chat-bench: REDIS_URL: %s\n", err);
		return NULL;
	}
	redisContext *c = rs_connect_single(&cfg, 5000, ebuf, sizeof ebuf);
	if (!c)
		fprintf(stderr, "chat-bench: redis: %s\n", ebuf);
	return c;
}

static int trace_start(struct tracer *t, const char *redis_url, const char *run)
{
	memset(t, 0, sizeof *t);
	t->run = run;
	snprintf(t->jobs, sizeof t->jobs, "%sjobs:{", keys_prefix());
	t->mon = connect_or_say(redis_url);
	t->sub = connect_or_say(redis_url);
	if (!t->mon || !t->sub)
		return -1;
	char chan[KEY_MAX + 64];
	snprintf(chan, sizeof chan, "%sstream:channel:{*}bench-%s-*", keys_prefix(), run);
	redisReply *r = redisCommand(t->sub, "PSUBSCRIBE %s", chan);
	int ok = r && r->type == REDIS_REPLY_ARRAY;
	freeReplyObject(r);
	r = redisCommand(t->mon, "MONITOR");
	ok = ok && r && r->type == REDIS_REPLY_STATUS;
	freeReplyObject(r);
	if (!ok) {
		fprintf(stderr, "chat-bench: MONITOR or PSUBSCRIBE refused\n");
		return -1;
	}
	pthread_create(&t->mon_th, NULL, monitor_main, t);
	pthread_create(&t->sub_th, NULL, subscriber_main, t);
	return 0;
}

static void trace_stop(struct tracer *t)
{
	/* the threads' reads fail and they return */
	if (t->mon) {
		shutdown(t->mon->fd, SHUT_RDWR);
		pthread_join(t->mon_th, NULL);
		redisFree(t->mon);
	}
	if (t->sub) {
		shutdown(t->sub->fd, SHUT_RDWR);
		pthread_join(t->sub_th, NULL);
		redisFree(t->sub);
	}
}

/* --- one pass: every session's chat, one at a time */

static long one_pass(struct sess *ss, int ep)
{
	long done = 0;
	for (long i = 0; i < nchats; i++) {
		if (ss[i].fd < 0)
			continue;
		memset(&chats[i], 0, sizeof chats[i]);
		ended_seen = 0;
		current = i;
		sem_post(&post_go);
		int64_t give_up = wall_us() + 10 * 1000000;
		int posted = 0;
		while (!(posted && ended_seen) && wall_us() < give_up) {
			ws_poll(ep, 1, on_frame, ss);
			if (!posted && sem_trywait(&post_done) == 0) {
				posted = 1;
				if (post_failed)
					break;
			}
		}
		if (!posted)
			sem_wait(&post_done);
		done += chats[i].first > 0 && !post_failed;
	}
	current = -1;
	return done;
}

static void pct_line(const char *what, struct samples *s)
{
	printf("  %-62s p50 %7.3f  p99 %7.3f ms\n", what, samples_pct(s, 50), samples_pct(s, 99));
}

/* The hop from a to b of every chat that saw both. */
static void hop(const char *what, size_t a, size_t b)
{
	struct samples s = { 0 };
	for (long i = 0; i < nchats; i++) {
		int64_t x = *(int64_t *)((char *)&chats[i] + a), y = *(int64_t *)((char *)&chats[i] + b);
		if (x && y)
			samples_add(&s, (double)(y - x) / 1000);
	}
	if (s.n)
		pct_line(what, &s);
	else
		printf("  %-62s not seen\n", what);
	samples_free(&s);
}

#define AT(f) offsetof(struct ttft_chat, f)

/* The workers' own first-token histogram (their heartbeats' ft_count and
 * ft_sum: job taken -> chunk 0 appended), summed over every live worker. */
struct ft_totals {
	double count, sum;
};

static int worker_first_tokens(const char *redis_url, struct ft_totals *ft)
{
	redisContext *c = connect_or_say(redis_url);
	char k[KEY_MAX];
	memset(ft, 0, sizeof *ft);
	if (!c)
		return -1;
	redisReply *nodes = redisCommand(c, "ZRANGE %s 0 -1", key_nodes_ai(k));
	for (size_t i = 0; nodes && nodes->type == REDIS_REPLY_ARRAY && i < nodes->elements; i++) {
		redisReply *r = redisCommand(c, "HMGET %s ft_count ft_sum", key_node_ai(k, nodes->element[i]->str));
		if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->str &&
		    r->element[1]->str) {
			ft->count += strtod(r->element[0]->str, NULL);
			ft->sum += strtod(r->element[1]->str, NULL);
		}
		freeReplyObject(r);
	}
	freeReplyObject(nodes);
	redisFree(c);
	return 0;
}

/* Their heartbeats come every second: what the pass added is there after it. */
static void print_worker_first_tokens(const char *redis_url, const struct ft_totals *before)
{
	struct ft_totals after;
	usleep(1500 * 1000);
	if (worker_first_tokens(redis_url, &after) || after.count <= before->count)
		return;
	printf("  %-62s mean %7.3f ms (%.0f replies)\n",
	       "the workers' own: job taken -> chunk 0 appended (heartbeat ft_*)",
	       (after.sum - before->sum) / (after.count - before->count) * 1000, after.count - before->count);
}

static void totals(struct samples *first, struct samples *answer)
{
	for (long i = 0; i < nchats; i++) {
		if (chats[i].first)
			samples_add(first, (double)(chats[i].first - chats[i].posted) / 1000);
		if (chats[i].answered)
			samples_add(answer, (double)(chats[i].answered - chats[i].posted) / 1000);
	}
}

long ttft_run(struct sess *ss, long n, int ep, const char *redis_url, const char *run)
{
	nchats = n;
	chats = xcalloc((size_t)n, sizeof *chats);
	sem_init(&post_go, 0, 0);
	sem_init(&post_done, 0, 0);
	pthread_t th;
	pthread_create(&th, NULL, poster, ss);

	struct samples first = { 0 }, answer = { 0 }, traced = { 0 }, traced_answer = { 0 };
	struct ft_totals ft0;
	worker_first_tokens(redis_url, &ft0);
	long ok = one_pass(ss, ep);
	totals(&first, &answer);
	printf("time to first token: POST /api/chat written -> the reply's first chunk frame read on the\n"
	       "session's open socket, %ld chats one at a time (%ld with a first chunk)\n", n, ok);
	pct_line("first chunk frame", &first);
	pct_line("POST answered (202)", &answer);
	print_worker_first_tokens(redis_url, &ft0);

	struct tracer t;
	long traced_ok = n;  /* a Redis that refuses MONITOR gets the first pass only */
	if (trace_start(&t, redis_url, run) == 0) {
		traced_ok = one_pass(ss, ep);
		trace_stop(&t);
		totals(&traced, &traced_answer);
		printf("where it goes: a second pass, with Redis MONITOR on (Redis's clock at each command) and a\n"
		       "pub/sub subscriber of chat-bench's own beside the relay's (%ld chats)\n", traced_ok);
		hop("POST written -> enqueue.lua's XADD (nginx, chat-fcgi, Redis)", AT(posted), AT(queued));
		hop("XADD -> POST answered (the rest of chat-fcgi and nginx)", AT(queued), AT(answered));
		hop("XADD -> start.lua (the worker's XREADGROUP wakes, takes the job)", AT(queued), AT(taken));
		hop("start.lua -> append.lua of chunk 0 (its reply, the first token)", AT(taken), AT(appended));
		hop("append.lua -> its PUBLISH", AT(appended), AT(published));
		hop("PUBLISH -> at a subscriber (pub/sub, as to the relay)", AT(published), AT(at_sub));
		hop("at a subscriber -> the chunk frame read (relay's read and write)", AT(at_sub), AT(first));
		pct_line("total, with MONITOR on", &traced);
	} else {
		trace_stop(&t);
	}
	current = -1;
	sem_post(&post_go);  /* the poster ends */
	pthread_join(th, NULL);
	samples_free(&first);
	samples_free(&answer);
	samples_free(&traced);
	samples_free(&traced_answer);
	free(chats);
	chats = NULL;
	return ok < n || traced_ok < n ? -1 : 0;
}
