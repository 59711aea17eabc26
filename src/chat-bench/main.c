/* chat-bench: how many chunks streamchat delivers, how fast, in how much
 * memory and CPU.
 *
 *   relay  it publishes chunk frames straight into the sessions' channels in
 *          Redis, at --rate (or as fast as it can), to measure the relays alone;
 *   chat   every session posts one real chat through the API and the
 *          built-in generator streams the replies, to measure the whole path;
 *   idle   connections only, to measure memory per connection.
 *
 * Latency is from publication to receipt: for relay the bench's own clock
 * at PUBLISH, for chat the ts (ms) that ai-streamer puts in each chunk (when
 * it had the chunk's first token, so a rollup window's wait is counted). */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "config.h"
#include "frame.h"
#include "keys.h"
#include "redis_sync.h"
#include "redis_url.h"
#include "strbuf.h"
#include "util.h"
#include "xalloc.h"

#ifndef VERSION
#define VERSION "0.1.0"
#endif

static struct bench_opts o = {
	.workload = "relay", .sessions = 100, .seconds = 5, .rate = 10000, .ws_path = "/ws/chat",
	.api = "127.0.0.1:8080", .prompt_words = 20,
	.connect_batch = 500, .posters = 32, .transport = "ws", .readers = 1,
};
static struct sess *ss;
static struct samples latency_ms, connect_ms;
static struct samples steady_ms;  /* chat: latency while all replies stream */
static struct samples post_ms;    /* chat: POST /api/chat, answered */
static double post_busy;           /* chat: the machine's busy cores while posting */
static double bare_cpu_s;          /* relay --bare: the forwarder thread's CPU */
static long bare_forwarded, bare_dropped;
static long total_chunks, total_gaps, total_dups, total_ended, total_closed;
static int64_t first_chunk_us, last_chunk_us;
/* chat: the chunk count when the last reply was posted and when the first ended */
static int64_t all_posted_us, first_end_us;
static long all_posted_chunks, first_end_chunks;
static volatile int publishing_done;
static struct relay_spread spread;  /* the sockets per relay near the end of the run */
#define IN_FLIGHT 4000
static long published, publish_errors;

static const struct knob_table *const all_knobs[] = { &redis_knobs, NULL };

/* --transport both: each transport's figures, side by side at the end */
struct phase {
	long chunks, readers;
	double relay_us, p99;
	double relay_cpu_s;
};
struct proc_row;
static int run_phase(struct proc_row *pr, int npr, int sse, struct phase *ph);
static int run_readers(struct proc_row *pr, int npr, int sse, struct phase ph[2]);
static void print_readers(const char *kind, const struct phase ph[2]);
static int comparing_readers;  /* each run's title says which (run_readers) */

/* Everything one run counts, back to zero for the next. */
static void reset_counters(void)
{
	samples_free(&latency_ms);
	samples_free(&connect_ms);
	samples_free(&steady_ms);
	samples_free(&post_ms);
	total_chunks = total_gaps = total_dups = total_ended = total_closed = 0;
	first_chunk_us = last_chunk_us = all_posted_us = first_end_us = 0;
	all_posted_chunks = first_end_chunks = 0;
	publishing_done = 0;
	published = publish_errors = 0;
	post_busy = bare_cpu_s = 0;
	bare_forwarded = bare_dropped = 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: chat-bench [--workload relay|chat|ttft|idle] [--sessions N] [--seconds S] [--rate R]\n"
		"                  [--relay HOST:PORT]... [--ws-path P] [--api HOST:PORT] [--redis URL]\n"
		"                  [--prompt-words W] [--posters K] [--proc NAME:PID]... [--json] [--bare]\n"
		"                  [--transport ws|sse|both] [--readers N]\n"
		"  relay: publish R chunks/s in all (0: as fast as it can) for S seconds into the\n"
		"         sessions' channels (REDIS_URL, KEY_PREFIX) and receive them; --bare:\n"
		"         with no relay, chat-bench forwarding them itself (the baseline)\n"
		"  chat:  each session posts one chat to the API (through nginx; K connections post\n"
		"         at once, default 32) and receives the reply\n"
		"  ttft:  time to first token: with every session's socket open, one chat at a time,\n"
		"         POST written to the first chunk frame read; then again with Redis MONITOR\n"
		"         on, for the time of each hop (run it with TOKEN_DELAY_MS=0 and nothing else)\n"
		"  idle:  open N sessions and hold them S seconds\n"
		"  --transport (relay): the sessions subscribe as WebSockets (ws), as HTTP streams\n"
		"         of Server-Sent Events, GET /stream/{id} (sse), or both, one run after the\n"
		"         other, with the relays' CPU per chunk and p99 of each side by side\n"
		"  --readers N: N sockets per session (tabs of one user), each checked for gaps and\n"
		"         duplicates; relay: a run with 1 reader first, then N, and the relays'\n"
		"         CPU per extra reader per chunk\n"
		"  chat-bench runs as SCHED_BATCH: on the cores it shares with the programs it\n"
		"  measures, its wakeups do not preempt them (their clients are elsewhere in use)\n"
		"  --relay is repeated for several relays (sessions are spread over them); give\n"
		"  nginx's address to go through it. --proc NAME:PID: RSS and CPU before and after.\n"
		"defaults: relay, 100 sessions, 5 s, 10000/s, 127.0.0.1:8081, /ws/chat\n\n");
	config_usage(f, all_knobs);
}

/* --- receiving */

static void on_frame(struct sess *s, const char *p, size_t n, void *ud)
{
	(void)ud;
	struct frame_info fi;
	if (frame_peek(p, n, &fi))
		return;
	if (s->sse && fi.type == FT_UNKNOWN && fi.index >= 0) {
		/* an SSE chunk event's data, {"index":i,"content":...}: of the session's message */
		fi.type = FT_CHUNK;
		fi.message_id = s->id;
		fi.message_id_len = strlen(s->id);
	}
	if (!fi.message_id || fi.message_id_len > ID_MAX)
		return;
	if (fi.type == FT_COMPLETE || fi.type == FT_CANCELLED || fi.type == FT_ERROR) {
		s->ended++;
		if (total_ended++ == 0) {
			first_end_us = mono_us();
			first_end_chunks = total_chunks;
		}
		return;
	}
	if (fi.type != FT_CHUNK)
		return;
	int64_t now = mono_us();
	if (memcmp(s->mid, fi.message_id, fi.message_id_len) || s->mid[fi.message_id_len]) {
		memcpy(s->mid, fi.message_id, fi.message_id_len);
		s->mid[fi.message_id_len] = '\0';
		s->next_index = 0;
	}
	if (fi.index < s->next_index) {
		s->dups++;
		total_dups++;
		return;
	}
	if (fi.index > s->next_index) {
		s->gaps += fi.index - s->next_index;
		__atomic_store_n(&total_gaps, total_gaps + fi.index - s->next_index, __ATOMIC_RELEASE);
	}
	s->next_index = fi.index + 1;
	s->chunks++;
	__atomic_store_n(&total_chunks, total_chunks + 1, __ATOMIC_RELEASE);
	if (!first_chunk_us)
		first_chunk_us = now;
	last_chunk_us = now;
	if (!strcmp(o.workload, "relay")) {
		const struct session_pub *pub = &ss[(s - ss) % o.sessions].pub;  /* the session's first reader's */
		int64_t at = fi.index < pub->cap ? __atomic_load_n(&pub->at_us[fi.index], __ATOMIC_ACQUIRE) : 0;
		if (at)
			samples_add(&latency_ms, (double)(now - at) / 1000);
	} else if (fi.ts > 0) {
		double ms = (double)(now_ms() - fi.ts);
		samples_add(&latency_ms, ms);
		if (all_posted_us && !first_end_us)
			samples_add(&steady_ms, ms);
	}
}

void bench_on_frame(struct sess *s, const char *p, size_t n, void *ud) { on_frame(s, p, n, ud); }

/* --- relay: the publisher, on its own thread and Redis connection */

static void *publisher(void *arg)
{
	(void)arg;
	struct redis_cfg cfg;
	const char *err;
	char ebuf[200];
	if (redis_url_parse(o.redis_url, &cfg, &err)) {
		fprintf(stderr, "chat-bench: REDIS_URL: %s\n", err);
		publishing_done = 1;
		return NULL;
	}
	redisContext *c = rs_connect_single(&cfg, 5000, ebuf, sizeof ebuf);
	if (!c) {
		fprintf(stderr, "chat-bench: redis: %s\n", ebuf);
		publishing_done = 1;
		return NULL;
	}
	char (*chan)[KEY_MAX] = xmalloc((size_t)o.sessions * KEY_MAX);
	long *next = xcalloc((size_t)o.sessions, sizeof *next);
	for (long i = 0; i < o.sessions; i++)
		key_channel(chan[i], ss[i].id);
	struct strbuf frame = STRBUF_INIT;
	int64_t start = mono_us(), end = start + o.seconds * 1000000;
	long sent = 0, s = 0;
	while (mono_us() < end) {
		/* at a set rate, what is due by now; as fast as it goes, whatever
		 * keeps IN_FLIGHT chunks on their way, so that the figure is what the
		 * path sustains rather than how deep its queues are */
		long received = (__atomic_load_n(&total_chunks, __ATOMIC_ACQUIRE) +
				 __atomic_load_n(&total_gaps, __ATOMIC_ACQUIRE)) / o.readers;
		long due = o.rate ? (long)((double)(mono_us() - start) / 1e6 * (double)o.rate) - sent
				  : IN_FLIGHT - (sent - received);
		if (due <= 0) {
			usleep(1000);
			continue;
		}
		if (due > 5000)
			due = 5000;  /* one pipeline at a time */
		long batch = 0;
		for (long k = 0; k < due; k++, s = (s + 1) % o.sessions) {
			struct sess *x = &ss[s];
			if (next[s] >= x->pub.cap)
				continue;
			sb_reset(&frame);
			frame_chunk(&frame, x->id, x->id, next[s], "bench chunk 0123", 16, 0);
			__atomic_store_n(&x->pub.at_us[next[s]], mono_us(), __ATOMIC_RELEASE);
			redisAppendCommand(c, "PUBLISH %s %b", chan[s], frame.buf, frame.len);
			next[s]++;
			batch++;
		}
		for (long k = 0; k < batch; k++) {
			redisReply *r;
			if (redisGetReply(c, (void **)&r) != REDIS_OK) {
				publish_errors++;
				goto out;
			}
			freeReplyObject(r);
		}
		sent += batch;
		__atomic_store_n(&published, sent, __ATOMIC_RELEASE);
		if (!batch)
			break;  /* every session's table is full */
	}
out:
	sb_release(&frame);
	free(chan);
	free(next);
	redisFree(c);
	publishing_done = 1;
	return NULL;
}

/* --- chat: POST /api/chat for every session, over a few kept connections */

struct poster {
	long first, step;
	long ok, failed;
	struct samples ms;  /* each POST, from its write to its answer */
};

static int post_one(int *fd, const struct sockaddr_storage *sa, socklen_t salen, struct sess *s)
{
	char body[16384], req[17000], resp[4096];
	int bl = snprintf(body, sizeof body, "{\"session_id\":\"%s\",\"user_id\":\"%s\",\"message\":\"", s->id,
			  s->id);
	for (long w = 0; w < o.prompt_words && bl < (int)sizeof body - 32; w++)
		bl += snprintf(body + bl, sizeof body - (size_t)bl, "w%ld ", w);
	bl += snprintf(body + bl, sizeof body - (size_t)bl, "\"}");
	int rl = snprintf(req, sizeof req, "POST /api/chat HTTP/1.1\r\nHost: %s\r\nContent-Type: "
			  "application/json\r\nContent-Length: %d\r\n\r\n%s", o.api, bl, body);
	for (int attempt = 0; attempt < 2; attempt++) {
		if (*fd < 0) {
			*fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (*fd < 0 || connect(*fd, (const struct sockaddr *)sa, salen)) {
				if (*fd >= 0)
					close(*fd);
				*fd = -1;
				return -1;
			}
		}
		if (write(*fd, req, (size_t)rl) == rl) {
			ssize_t n = read(*fd, resp, sizeof resp - 1);
			if (n > 12) {
				resp[n] = '\0';
				/* answers are small: one read holds the whole of it */
				return memcmp(resp + 9, "202", 3) == 0 ? 0 : -1;
			}
		}
		close(*fd);
		*fd = -1;  /* nginx closed a kept connection: once more on a new one */
	}
	return -1;
}

int bench_post(int *fd, struct sess *s)
{
	static struct sockaddr_storage sa;
	static socklen_t salen;
	if (!salen) {
		char host[256];
		const char *colon = strrchr(o.api, ':');
		struct addrinfo hints = { 0 }, *ai;
		hints.ai_socktype = SOCK_STREAM;
		snprintf(host, sizeof host, "%.*s", colon ? (int)(colon - o.api) : 0, o.api);
		if (!colon || getaddrinfo(host, colon + 1, &hints, &ai))
			return -1;
		memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
		salen = ai->ai_addrlen;
		freeaddrinfo(ai);
	}
	return post_one(fd, &sa, salen, s);
}

static void *poster_main(void *arg)
{
	struct poster *p = arg;
	struct sockaddr_storage sa;
	socklen_t salen;
	char host[256];
	const char *colon = strrchr(o.api, ':');
	struct addrinfo hints = { 0 }, *ai;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(host, sizeof host, "%.*s", colon ? (int)(colon - o.api) : 0, o.api);
	if (!colon || getaddrinfo(host, colon + 1, &hints, &ai)) {
		p->failed = o.sessions;
		return NULL;
	}
	memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
	salen = ai->ai_addrlen;
	freeaddrinfo(ai);
	int fd = -1;
	for (long i = p->first; i < o.sessions; i += p->step) {
		if (ss[i].fd < 0)
			continue;
		int64_t t = mono_us();
		if (post_one(&fd, &sa, salen, &ss[i]) == 0) {
			p->ok++;
			samples_add(&p->ms, (double)(mono_us() - t) / 1000);
		} else {
			p->failed++;
		}
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* --- a bare baseline of this machine, measured in the same run: the CPU
 * cost of one send() and one read() of a 100-byte message on a socket pair,
 * the least a relay can pay to move a chunk from one socket to another */
static double send_read_us(void)
{
	int sv[2];
	char buf[100] = { 0 };
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return 0;
	enum { N = 50000 };
	struct rusage a, b;
	getrusage(RUSAGE_SELF, &a);
	for (int i = 0; i < N; i++)
		if (send(sv[0], buf, sizeof buf, 0) != sizeof buf || read(sv[1], buf, sizeof buf) <= 0)
			break;
	getrusage(RUSAGE_SELF, &b);
	close(sv[0]);
	close(sv[1]);
	double us = (double)(b.ru_utime.tv_sec - a.ru_utime.tv_sec + b.ru_stime.tv_sec - a.ru_stime.tv_sec) * 1e6 +
		    (double)(b.ru_utime.tv_usec - a.ru_utime.tv_usec + b.ru_stime.tv_usec - a.ru_stime.tv_usec);
	return us / N;
}

/* --- the report */

enum { AT_BEFORE, AT_AFTER, AT_POSTING, AT_POSTED };  /* when a process is measured */

struct proc_row {
	char name[64];
	long pid;
	struct proc_usage at[4];
};

static void report(long opened, double secs, double post_secs, long posts_ok, long posts_failed,
		   struct proc_row *pr, int npr, double busy_s, double run_s)
{
	double floor_us = strcmp(o.workload, "idle") ? send_read_us() : 0;
	double rate = last_chunk_us > first_chunk_us
			      ? (double)total_chunks / ((double)(last_chunk_us - first_chunk_us) / 1e6) : 0;
	/* chat: from the last reply posted to the first ended, all stream at once */
	double steady = all_posted_us && first_end_us > all_posted_us + 100000
				? (double)(first_end_chunks - all_posted_chunks) /
					  ((double)(first_end_us - all_posted_us) / 1e6) : 0;
	double cpu_relays = 0, cpu_all = 0;
	for (int i = 0; i < npr; i++) {
		if (!strncmp(pr[i].name, "ws-relay", 8))
			cpu_relays += pr[i].at[AT_AFTER].cpu_s - pr[i].at[AT_BEFORE].cpu_s;
		cpu_all += pr[i].at[AT_AFTER].cpu_s - pr[i].at[AT_BEFORE].cpu_s;
	}
	double p50 = samples_pct(&latency_ms, 50), p90 = samples_pct(&latency_ms, 90),
	       p99 = samples_pct(&latency_ms, 99), pmax = samples_pct(&latency_ms, 100);
	double c50 = samples_pct(&connect_ms, 50), c99 = samples_pct(&connect_ms, 99);
	if (o.json) {
		printf("{\"workload\":\"%s\",\"readers\":%ld,\"sessions\":%ld,\"connected\":%ld,\"seconds\":%.2f,"
		       "\"published\":%ld,\"chunks\":%ld,\"chunks_per_s\":%.0f,\"latency_ms\":{\"p50\":%.3f,"
		       "\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f},\"gaps\":%ld,\"duplicates\":%ld,\"ended\":%ld,"
		       "\"closed\":%ld,\"connect_ms\":{\"p50\":%.2f,\"p99\":%.2f}",
		       o.workload, o.readers, o.sessions, opened, secs, published, total_chunks, rate, p50, p90, p99,
		       pmax, total_gaps, total_dups, total_ended, total_closed, c50, c99);
		if (steady > 0)
			printf(",\"all_streaming\":{\"chunks_per_s\":%.0f,\"p50\":%.3f,\"p90\":%.3f,"
			       "\"p99\":%.3f,\"max\":%.3f}", steady, samples_pct(&steady_ms, 50),
			       samples_pct(&steady_ms, 90), samples_pct(&steady_ms, 99),
			       samples_pct(&steady_ms, 100));
		if (posts_ok + posts_failed)
			printf(",\"posts\":%ld,\"posts_failed\":%ld,\"posts_per_s\":%.0f,\"post_ms\":{\"p50\":%.3f,"
			       "\"p99\":%.3f}", posts_ok, posts_failed,
			       post_secs > 0 ? (double)posts_ok / post_secs : 0, samples_pct(&post_ms, 50),
			       samples_pct(&post_ms, 99));
		if (o.bare)
			printf(",\"bare_cpu_us_per_chunk\":%.2f", total_chunks ? bare_cpu_s * 1e6 / (double)total_chunks : 0);
		spread_json(&spread);
		printf(",\"relay_cpu_us_per_chunk\":%.2f,\"send_read_us\":%.2f,\"machine_busy_cores\":%.2f,"
		       "\"procs\":[", total_chunks ? cpu_relays * 1e6 / (double)total_chunks : 0, floor_us,
		       run_s > 0 ? busy_s / run_s : 0);
		for (int i = 0; i < npr; i++)
			printf("%s{\"name\":\"%s\",\"pid\":%ld,\"rss_kb_before\":%ld,\"rss_kb_after\":%ld,"
			       "\"cpu_s\":%.3f}", i ? "," : "", pr[i].name, pr[i].pid, pr[i].at[AT_BEFORE].rss_kb,
			       pr[i].at[AT_AFTER].rss_kb, pr[i].at[AT_AFTER].cpu_s - pr[i].at[AT_BEFORE].cpu_s);
		printf("]}\n");
		return;
	}
	printf("workload            %s\n", o.workload);
	if (o.readers > 1)
		printf("sessions            %ld x %ld readers (%ld sockets connected, %ld closed by the server)\n",
		       o.sessions, o.readers, opened, total_closed);
	else
		printf("sessions            %ld (%ld connected, %ld closed by the server)\n", o.sessions, opened,
		       total_closed);
	printf("connect (to welcome) p50 %.2f ms  p99 %.2f ms\n", c50, c99);
	spread_print(&spread);
	if (strcmp(o.workload, "idle")) {
		printf("chunks delivered    %ld in %.2f s: %.0f chunks/s\n", total_chunks, secs, rate);
		if (steady > 0)
			printf("while all %ld replies streamed (%.2f s): %.0f chunks/s, latency p50 %.3f  "
			       "p90 %.3f  p99 %.3f  max %.3f ms\n", o.sessions,
			       (double)(first_end_us - all_posted_us) / 1e6, steady, samples_pct(&steady_ms, 50),
			       samples_pct(&steady_ms, 90), samples_pct(&steady_ms, 99),
			       samples_pct(&steady_ms, 100));
		if (!strcmp(o.workload, "relay"))
			printf("chunks published    %ld (%ld errors)\n", published, publish_errors);
		printf("latency publish->receipt  p50 %.3f  p90 %.3f  p99 %.3f  max %.3f ms\n", p50, p90, p99,
		       pmax);
		printf("gaps %ld  duplicates %ld  replies ended %ld\n", total_gaps, total_dups, total_ended);
	}
	if (posts_ok + posts_failed)
		printf("POST /api/chat      %ld ok, %ld failed, %.0f requests/s, %ld at a time, "
		       "p50 %.2f  p99 %.2f ms; machine busy %.2f cores meanwhile\n", posts_ok, posts_failed,
		       post_secs > 0 ? (double)posts_ok / post_secs : 0, o.posters, samples_pct(&post_ms, 50),
		       samples_pct(&post_ms, 99), post_busy);
	for (int i = 0; i < npr; i++) {
		long grow = pr[i].at[AT_AFTER].rss_kb - pr[i].at[AT_BEFORE].rss_kb;
		printf("%-19s pid %ld  RSS %ld -> %ld KB (%+.2f KB/session)  CPU %.3f s", pr[i].name,
		       pr[i].pid, pr[i].at[AT_BEFORE].rss_kb, pr[i].at[AT_AFTER].rss_kb,
		       opened ? (double)grow / (double)opened : 0, pr[i].at[AT_AFTER].cpu_s - pr[i].at[AT_BEFORE].cpu_s);
		if (posts_ok)
			printf(", %.0f us a POST while posting",
			       (pr[i].at[AT_POSTED].cpu_s - pr[i].at[AT_POSTING].cpu_s) * 1e6 / (double)posts_ok);
		printf("\n");
	}
	if (total_chunks && cpu_relays > 0)
		printf("relay CPU per chunk %.2f us (%.1f x this machine's send()+read() of 100 bytes, "
		       "%.2f us)\n", cpu_relays * 1e6 / (double)total_chunks,
		       floor_us > 0 ? cpu_relays * 1e6 / (double)total_chunks / floor_us : 0, floor_us);
	if (o.bare && total_chunks)
		printf("bare forwarder CPU per chunk %.2f us (%ld forwarded, %ld not: chat-bench's own thread, "
		       "SUBSCRIBE and one sendmsg() per chunk)\n", bare_cpu_s * 1e6 / (double)total_chunks,
		       bare_forwarded, bare_dropped);
	if (total_chunks && npr > 1)
		printf("CPU per chunk, all the processes above: %.2f us\n", cpu_all * 1e6 / (double)total_chunks);
	if (busy_s >= 0 && run_s > 0)
		printf("machine busy        %.2f of %ld cores over the run (any process)\n", busy_s / run_s,
		       sysconf(_SC_NPROCESSORS_ONLN));
}

static void measure(struct proc_row *pr, int npr, int when)
{
	for (int i = 0; i < npr; i++)
		if (proc_usage(pr[i].pid, &pr[i].at[when]))
			fprintf(stderr, "chat-bench: no process %ld (%s)\n", pr[i].pid, pr[i].name);
}

int main(int argc, char **argv)
{
	static char *relays[64], *procs[64];
	o.relays = relays;
	o.procs = procs;
	o.redis_url = config_text(&redis_knobs, "REDIS_URL");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int has = i + 1 < argc;
		long v = 0;
		int num = has && !parse_long(argv[i + 1], 0, 10000000, &v);
		if (!strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--version")) {
			printf("chat-bench %s\n", VERSION);
			return 0;
		} else if (!strcmp(a, "--workload") && has)
			o.workload = argv[++i];
		else if (!strcmp(a, "--sessions") && num && v >= 1)
			o.sessions = v, i++;
		else if (!strcmp(a, "--seconds") && num && v >= 1)
			o.seconds = v, i++;
		else if (!strcmp(a, "--rate") && num)
			o.rate = v, i++;
		else if (!strcmp(a, "--prompt-words") && num && v <= 2000)
			o.prompt_words = v, i++;
		else if (!strcmp(a, "--posters") && num && v >= 1 && v <= 1024)
			o.posters = v, i++;
		else if (!strcmp(a, "--connect-batch") && num && v >= 1)
			o.connect_batch = v, i++;
		else if (!strcmp(a, "--relay") && has && o.nrelays < 64)
			relays[o.nrelays++] = argv[++i];
		else if (!strcmp(a, "--proc") && has && o.nprocs < 63 && strchr(argv[i + 1], ':'))
			procs[o.nprocs++] = argv[++i];
		else if (!strcmp(a, "--ws-path") && has)
			o.ws_path = argv[++i];
		else if (!strcmp(a, "--api") && has)
			o.api = argv[++i];
		else if (!strcmp(a, "--redis") && has)
			o.redis_url = argv[++i];
		else if (!strcmp(a, "--json"))
			o.json = 1;
		else if (!strcmp(a, "--bare"))
			o.bare = 1;
		else if (!strcmp(a, "--transport") && has)
			o.transport = argv[++i];
		else if (!strcmp(a, "--readers") && num && v >= 1 && v <= 64)
			o.readers = v, i++;
		else {
			usage(stderr);
			return 100;
		}
	}
	if ((strcmp(o.workload, "relay") && strcmp(o.workload, "chat") && strcmp(o.workload, "idle") &&
	     strcmp(o.workload, "ttft")) ||
	    (o.bare && strcmp(o.workload, "relay")) ||
	    (strcmp(o.transport, "ws") && strcmp(o.transport, "sse") && strcmp(o.transport, "both")) ||
	    (strcmp(o.transport, "ws") && (strcmp(o.workload, "relay") || o.bare)) ||
	    (o.readers > 1 && o.bare)) {
		usage(stderr);
		return 100;
	}
	if (!o.nrelays)
		relays[o.nrelays++] = "127.0.0.1:8081";
	keys_init(config_text(&redis_knobs, "KEY_PREFIX"));
	/* every thread made from here on inherits it */
	struct sched_param sp = { 0 };
	sched_setscheduler(0, SCHED_BATCH, &sp);
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rlim_t want = (rlim_t)(o.sessions * o.readers) * (o.bare ? 2 : 1) + 64;  /* --bare: both ends */
	rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < want)
		fprintf(stderr, "chat-bench: only %lu open files allowed (hard limit): fewer than %ld sessions "
			"will connect\n", (unsigned long)rl.rlim_cur, o.sessions);

	struct proc_row pr[64];
	int npr = 0;
	for (int i = 0; i < o.nprocs; i++) {
		const char *colon = strrchr(procs[i], ':');
		snprintf(pr[npr].name, sizeof pr[npr].name, "%.*s", (int)(colon - procs[i]), procs[i]);
		if (parse_long(colon + 1, 1, 1L << 30, &pr[npr].pid) == 0)
			npr++;
	}
	/* the bench's own share of the machine */
	snprintf(pr[npr].name, sizeof pr[npr].name, "chat-bench");
	pr[npr++].pid = getpid();

	if (!strcmp(o.transport, "both")) {
		/* the same load on WebSockets, then on HTTP streams, each on its own
		 * sessions: the relays' CPU is then each kind's own */
		struct phase ws[2], sse[2];
		int bad = run_readers(pr, npr, 0, ws);
		reset_counters();
		bad |= run_readers(pr, npr, 1, sse);
		printf("\n%-16s relay CPU per chunk %.2f us, latency p99 %.3f ms (%ld chunks)\n", "WebSocket",
		       ws[1].relay_us, ws[1].p99, ws[1].chunks);
		printf("%-16s relay CPU per chunk %.2f us, latency p99 %.3f ms (%ld chunks)\n", "SSE (GET /stream)",
		       sse[1].relay_us, sse[1].p99, sse[1].chunks);
		if (o.readers > 1) {
			print_readers("WebSocket", ws);
			print_readers("SSE (GET /stream)", sse);
		}
		return bad ? 1 : 0;
	}
	struct phase ph[2];
	int sse = !strcmp(o.transport, "sse");
	int bad = run_readers(pr, npr, sse, ph);
	if (o.readers > 1 && !strcmp(o.workload, "relay"))
		print_readers(sse ? "SSE (GET /stream)" : "WebSocket", ph);
	return bad ? 1 : 0;
}

/* The relay workload with several readers: the same load with one reader a
 * session first, on its own sessions, so that what each extra reader costs
 * the relays comes from one run (ph[0]: 1 reader, ph[1]: --readers). Any
 * other workload: one run, in ph[1]. */
static int run_readers(struct proc_row *pr, int npr, int sse, struct phase ph[2])
{
	int bad = 0;
	memset(ph, 0, 2 * sizeof *ph);
	comparing_readers = o.readers > 1 && !strcmp(o.workload, "relay");
	if (comparing_readers) {
		long readers = o.readers;
		o.readers = 1;
		if (!o.json)
			printf("\n-- %s, 1 reader per session\n", sse ? "SSE" : "WebSocket");
		bad = run_phase(pr, npr, sse, &ph[0]);
		o.readers = readers;
		reset_counters();
		if (!o.json)
			printf("\n-- %s, %ld readers per session\n", sse ? "SSE" : "WebSocket", readers);
	}
	return bad | run_phase(pr, npr, sse, &ph[1]);
}

/* The relays' CPU per published chunk with 1 reader and with N: what one
 * more socket costs per chunk, against the floor of a send() and a read(). */
static void print_readers(const char *kind, const struct phase ph[2])
{
	double per[2];
	for (int k = 0; k < 2; k++) {
		long published_chunks = ph[k].readers ? ph[k].chunks / ph[k].readers : 0;
		per[k] = published_chunks ? ph[k].relay_cpu_s * 1e6 / (double)published_chunks : 0;
	}
	double extra = ph[1].readers > 1 ? (per[1] - per[0]) / (double)(ph[1].readers - 1) : 0;
	double floor_us = send_read_us();
	if (o.json) {
		printf("{\"readers\":%ld,\"kind\":\"%s\",\"relay_cpu_us_per_published_chunk\":{\"one\":%.2f,"
		       "\"all\":%.2f},\"relay_cpu_us_per_extra_reader_per_chunk\":%.2f,\"send_read_us\":%.2f}\n",
		       ph[1].readers, kind, per[0], per[1], extra, floor_us);
		return;
	}
	printf("%-16s relay CPU per published chunk: 1 reader %.2f us, %ld readers %.2f us; per extra reader "
	       "per chunk %.2f us (%.1f x send()+read() of 100 bytes, %.2f us)\n", kind, per[0],
	       ph[1].readers, per[1], extra, floor_us > 0 ? extra / floor_us : 0, floor_us);
}

/* One run of the workload on fresh sessions; what matters for comparing
 * transports goes into ph. Returns whether anything went wrong. */
static int run_phase(struct proc_row *pr, int npr, int sse, struct phase *ph)
{
	long nsock = o.sessions * o.readers;
	ss = xcalloc((size_t)nsock, sizeof *ss);
	/* as fast as it goes: room for 500,000 chunks a second */
	long per_session = (o.rate ? o.rate : 500000) * o.seconds / o.sessions + 64;
	char run[16];
	snprintf(run, sizeof run, "%04lx", (unsigned long)(mono_us() & 0xffff));
	for (long i = 0; i < o.sessions; i++) {
		ss[i].fd = -1;
		ss[i].sse = sse;
		snprintf(ss[i].id, sizeof ss[i].id, "bench-%s-%ld", run, i);
		if (!strcmp(o.workload, "relay")) {
			ss[i].pub.cap = per_session;
			ss[i].pub.at_us = xcalloc((size_t)per_session, sizeof *ss[i].pub.at_us);
		}
	}
	for (long i = o.sessions; i < nsock; i++) {  /* the other readers of session i % sessions */
		ss[i].fd = -1;
		ss[i].sse = sse;
		memcpy(ss[i].id, ss[i % o.sessions].id, sizeof ss[i].id);
	}
	if (sse && sse_prepare(ss, o.sessions, o.redis_url))
		return 1;
	if (!o.json && !strcmp(o.transport, "both") && !comparing_readers)
		printf("\n-- %s\n", sse ? "SSE: GET /stream/{id}?format=sse on the relays" : "WebSocket");
	int ep = epoll_create1(EPOLL_CLOEXEC);
	measure(pr, npr, AT_BEFORE);
	double busy0 = machine_busy_s();
	int64_t t0 = mono_us();
	long opened = o.bare ? bare_open_all(ss, o.sessions, ep)
			     : ws_open_all(ss, nsock, &o, ep, t0 + 60 * 1000000LL, &connect_ms);
	if (opened < 0 || (o.bare && bare_start(ss, o.redis_url)))
		return 111;
	if (opened < nsock)
		fprintf(stderr, "chat-bench: %ld of %ld sockets connected\n", opened, nsock);

	long posts_ok = 0, posts_failed = 0;
	double post_secs = 0;
	int64_t start = mono_us();
	if (!strcmp(o.workload, "relay")) {
		pthread_t th;
		pthread_create(&th, NULL, publisher, NULL);
		while (!publishing_done)
			total_closed += ws_poll(ep, 20, on_frame, NULL);
		/* the tail: until every published chunk arrived, or 2 s of nothing new */
		int64_t quiet = mono_us();
		long seen = total_chunks + total_gaps;
		while (total_chunks + total_gaps < published * o.readers && mono_us() - quiet < 2000000) {
			total_closed += ws_poll(ep, 20, on_frame, NULL);
			if (total_chunks + total_gaps != seen) {
				seen = total_chunks + total_gaps;
				quiet = mono_us();
			}
		}
		pthread_join(th, NULL);
		if (o.bare)
			bare_cpu_s = bare_stop(&bare_forwarded, &bare_dropped);
	} else if (!strcmp(o.workload, "chat")) {
		const int POSTERS = (int)o.posters;
		pthread_t *th = xcalloc((size_t)POSTERS, sizeof *th);
		struct poster *p = xcalloc((size_t)POSTERS, sizeof *p);
		int64_t ps = mono_us();
		double busy_ps = machine_busy_s();
		measure(pr, npr, AT_POSTING);
		for (int i = 0; i < POSTERS; i++) {
			p[i] = (struct poster){ i, POSTERS, 0, 0, { 0 } };
			pthread_create(&th[i], NULL, poster_main, &p[i]);
		}
		/* receive while posting; the posters are done when all have joined
		 * (each thread writes its own p[i] until then: nothing moves) */
		char *done = xcalloc((size_t)POSTERS, 1);
		for (int joined = 0; joined < POSTERS;) {
			total_closed += ws_poll(ep, 5, on_frame, NULL);
			for (int i = 0; i < POSTERS; i++) {
				if (done[i] || pthread_tryjoin_np(th[i], NULL) != 0)
					continue;
				done[i] = 1;
				if (++joined == POSTERS) {
					all_posted_us = mono_us();
					all_posted_chunks = total_chunks;
					post_secs = (double)(all_posted_us - ps) / 1e6;
					measure(pr, npr, AT_POSTED);
					if (busy_ps >= 0 && post_secs > 0)
						post_busy = (machine_busy_s() - busy_ps) / post_secs;
				}
			}
		}
		free(done);
		for (int i = 0; i < POSTERS; i++) {
			posts_ok += p[i].ok;
			posts_failed += p[i].failed;
			for (size_t k = 0; k < p[i].ms.n; k++)
				samples_add(&post_ms, p[i].ms.v[k]);
			samples_free(&p[i].ms);
		}
		free(th);
		free(p);
		int64_t end = start + o.seconds * 1000000;
		while (total_ended < posts_ok * o.readers && mono_us() < end)
			total_closed += ws_poll(ep, 20, on_frame, NULL);
	} else if (!strcmp(o.workload, "ttft")) {
		if (ttft_run(ss, o.sessions, ep, o.redis_url, run))
			posts_failed++;
	} else {
		int64_t end = start + o.seconds * 1000000;
		while (mono_us() < end)
			total_closed += ws_poll(ep, 100, NULL, NULL);
	}
	double secs = (double)(mono_us() - start) / 1e6;
	measure(pr, npr, AT_AFTER);
	if (o.bare || spread_read(o.redis_url, &spread))
		spread.n = 0;
	double busy1 = machine_busy_s();
	report(opened, secs, post_secs, posts_ok, posts_failed, pr, npr,
	       busy0 >= 0 && busy1 >= 0 ? busy1 - busy0 : -1, (double)(mono_us() - t0) / 1e6);
	if (ph) {
		double relays = 0;
		for (int i = 0; i < npr; i++)
			if (!strncmp(pr[i].name, "ws-relay", 8))
				relays += pr[i].at[AT_AFTER].cpu_s - pr[i].at[AT_BEFORE].cpu_s;
		ph->chunks = total_chunks;
		ph->readers = o.readers;
		ph->relay_cpu_s = relays;
		ph->relay_us = total_chunks ? relays * 1e6 / (double)total_chunks : 0;
		ph->p99 = samples_pct(&latency_ms, 99);
	}
	ws_close_all(ss, nsock);
	close(ep);
	free(ss);
	samples_free(&latency_ms);
	samples_free(&steady_ms);
	samples_free(&post_ms);
	samples_free(&connect_ms);
	int bad = total_gaps || total_dups || opened < nsock || publish_errors || posts_failed ||
		  total_closed;
	return bad ? 1 : 0;
}
