/* The bare baseline of the relay workload: the least any relay can do on
 * this machine. The sessions connect over loopback TCP to chat-bench itself,
 * and one thread of its own subscribes to their channels (one hiredis
 * connection, like a relay's) and writes each message as one WebSocket frame
 * with one sendmsg() to the session's socket: no upgrade, no session state,
 * no send queue, no checks. Its CPU per chunk, measured in the same run as
 * the relay's, is what the relay's is compared with. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "keys.h"
#include "redis_sync.h"
#include "redis_url.h"
#include "wsframe.h"
#include "xalloc.h"

static int *srv;               /* the forwarder's end of each session */
static long nsrv;
static pthread_t thread;
static volatile int ready, stop, failed;
static const char *redis_url;
static double cpu_s;
static long forwarded, dropped;

long bare_open_all(struct sess *ss, long n, int ep)
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof sa;
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sl) || listen(l, 4096) ||
	    getsockname(l, (struct sockaddr *)&sa, &sl)) {
		perror("chat-bench: bare listener");
		return -1;
	}
	srv = xmalloc((size_t)n * sizeof *srv);
	nsrv = 0;
	long opened = 0;
	for (long i = 0; i < n; i++) {
		int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof sa)) {
			if (c >= 0)
				close(c);
			break;
		}
		int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		if (s < 0) {
			close(c);
			break;
		}
		int one = 1;
		setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		srv[nsrv++] = s;
		if (ws_adopt(&ss[i], c, ep) == 0)
			opened++;
	}
	close(l);
	return opened;
}

/* the session index out of its channel's name, "stream:channel:{t}bench-<run>-<i>":
 * the number after the last dash (the partition's tag comes before the
 * session id, so it is not in the braces) */
static long session_of(const char *chan, size_t len)
{
	const char *dash = NULL;
	for (const char *p = chan; p < chan + len; p++)
		if (*p == '-')
			dash = p;
	return dash ? strtol(dash + 1, NULL, 10) : -1;
}

static void forward(redisReply *r)
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || r->element[2]->type != REDIS_REPLY_STRING)
		return;
	long i = session_of(r->element[1]->str, r->element[1]->len);
	if (i < 0 || i >= nsrv)
		return;
	size_t len = r->element[2]->len;
	unsigned char hdr[WS_HEADER_MAX];
	struct iovec iov[2] = { { hdr, ws_header(hdr, WS_TEXT, 1, len, NULL) },
				{ r->element[2]->str, len } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
	if (sendmsg(srv[i], &m, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)(iov[0].iov_len + len))
		forwarded++;
	else
		dropped++;
}

static double thread_cpu_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *forwarder(void *arg)
{
	struct sess *ss = arg;
	struct redis_cfg cfg;
	const char *err;
	char ebuf[200];
	redisContext *c = NULL;
	/* scheduled as a relay is, not as the rest of chat-bench */
	struct sched_param sp = { 0 };
	sched_setscheduler(0, SCHED_OTHER, &sp);
	if (redis_url_parse(redis_url, &cfg, &err) ||
	    !(c = rs_connect_single(&cfg, 5000, ebuf, sizeof ebuf))) {
		fprintf(stderr, "chat-bench: bare forwarder: cannot reach Redis\n");
		failed = ready = 1;
		return NULL;
	}
	/* one SUBSCRIBE for every channel, as a relay's subscriber connection */
	char (*chan)[KEY_MAX] = xmalloc((size_t)nsrv * KEY_MAX);
	const char **argv = xmalloc((size_t)(nsrv + 1) * sizeof *argv);
	argv[0] = "SUBSCRIBE";
	for (long i = 0; i < nsrv; i++)
		argv[i + 1] = key_channel(chan[i], ss[i].id);
	redisAppendCommandArgv(c, (int)nsrv + 1, argv, NULL);
	for (long i = 0; i < nsrv; i++) {
		redisReply *r;
		if (redisGetReply(c, (void **)&r) != REDIS_OK) {
			failed = 1;
			break;
		}
		freeReplyObject(r);
	}
	free(argv);
	free(chan);
	double t0 = thread_cpu_s();
	ready = 1;
	while (!failed && !stop) {
		void *r = NULL;
		if (redisGetReplyFromReader(c, &r) != REDIS_OK)
			break;
		if (r) {
			forward(r);
			freeReplyObject(r);
			continue;
		}
		struct pollfd p = { c->fd, POLLIN, 0 };
		if (poll(&p, 1, 100) > 0 && redisBufferRead(c) != REDIS_OK)
			break;
	}
	cpu_s = thread_cpu_s() - t0;
	redisFree(c);
	return NULL;
}

int bare_start(struct sess *ss, const char *url)
{
	redis_url = url;
	ready = stop = failed = 0;
	if (pthread_create(&thread, NULL, forwarder, ss))
		return -1;
	while (!ready)
		usleep(1000);
	return failed ? -1 : 0;
}

double bare_stop(long *fwd, long *drop)
{
	stop = 1;
	pthread_join(thread, NULL);
	for (long i = 0; i < nsrv; i++)
		close(srv[i]);
	free(srv);
	*fwd = forwarded;
	*drop = dropped;
	return cpu_s;
}
