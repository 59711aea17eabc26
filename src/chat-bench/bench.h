/* chat-bench: many WebSocket sessions on one epoll loop, fed either by
 * frames it publishes into Redis itself (relay), by real chats through the
 * API (chat), or by nothing (idle), and a report of what they received. */
#ifndef SC_BENCH_H
#define SC_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "validate.h"

struct bench_opts {
	const char *workload;       /* relay, chat, idle */
	long sessions, seconds, rate;   /* rate: chunks/s over all sessions; 0: as fast as possible */
	char **relays;              /* host:port of each relay (or of nginx) */
	int nrelays;
	const char *ws_path;
	const char *api;            /* http://host:port, for chat */
	const char *redis_url;      /* for relay */
	long prompt_words;          /* chat: the built-in generator's reply is 8 + 2n tokens */
	long connect_batch;         /* connections opened at once */
	long posters;               /* chat: connections posting at once */
	char **procs;               /* NAME:PID, measured before and after */
	int nprocs;
	int json;
	int bare;                   /* relay: the baseline instead of the relays */
	const char *transport;      /* ws, sse (GET /stream/ on the relays), or both one after the other */
	long readers;               /* sockets per session, each checked on its own */
};

/* Timestamps of publication, one per chunk index, per session (relay). */
struct session_pub {
	int64_t *at_us;             /* publication time of index i, 0 until published */
	long cap;
};

struct sess {
	int fd;
	int sse;                    /* an HTTP stream, not a WebSocket */
	int state;                  /* see ws.c */
	char id[ID_MAX + 1];
	int64_t connect_us, welcome_us;
	unsigned char *buf;         /* received bytes not yet parsed */
	size_t len, cap;
	char *out;                  /* handshake bytes not yet written */
	size_t outlen, outoff;
	long next_index;            /* the index expected next of the current message */
	char mid[ID_MAX + 1];
	long chunks, gaps, dups, ended;
	struct session_pub pub;
};

/* The numbers the report is made of. */
struct samples {
	double *v;
	size_t n, cap;
};
void samples_add(struct samples *s, double v);
double samples_pct(struct samples *s, double p);   /* sorts on first use */
void samples_free(struct samples *s);

/* main.c: what the other workloads share */
void bench_on_frame(struct sess *s, const char *p, size_t n, void *ud);  /* counts, gaps, duplicates */
int bench_post(int *fd, struct sess *s);  /* POST /api/chat of s on a kept connection: 0 if 202 */

/* ttft.c: the ttft workload's passes and report, on n open sessions whose
 * ids are bench-<run>-<i>; -1 if a chat had no first chunk */
long ttft_run(struct sess *ss, long n, int ep, const char *redis_url, const char *run);

/* ws.c: the sessions' sockets on one epoll instance; with several readers
 * per session, reader k of session i is socket k * o->sessions + i, on the
 * same relay as the session's first */
int ws_open_all(struct sess *ss, long n, const struct bench_opts *o, int ep, int64_t deadline_us,
		struct samples *connect_ms);
/* Reads what has arrived on every ready socket for up to timeout_ms;
 * on_frame is called for each text frame. Returns the sockets closed. */
long ws_poll(int ep, int timeout_ms,
	     void (*on_frame)(struct sess *s, const char *p, size_t n, void *ud), void *ud);
void ws_close_all(struct sess *ss, long n);
/* Takes fd, a connected socket that speaks frames from the start, as s's. */
int ws_adopt(struct sess *s, int fd, int ep);

/* sse.c: sessions as HTTP streams (GET /stream/{id}) */
/* Writes the meta of each session's message (its id is the session's). */
int sse_prepare(struct sess *ss, long n, const char *redis_url);
char *sse_request(const struct sess *s, const char *hostport, size_t *len);
/* The response's head: 1 a 200 of hl bytes, 0 incomplete, -1 anything else. */
int sse_headers(const unsigned char *buf, size_t len, size_t *hl);
/* Passes each whole event in s->buf to on_frame; returns the bytes used. */
size_t sse_events(struct sess *s, void (*on_frame)(struct sess *, const char *, size_t, void *),
		  void *ud);

/* bare.c: the relay workload's baseline, chat-bench forwarding itself */
long bare_open_all(struct sess *ss, long n, int ep);
int bare_start(struct sess *ss, const char *redis_url);
/* Returns the forwarder's CPU seconds; fwd/drop: messages sent and not. */
double bare_stop(long *fwd, long *drop);

/* proc.c: a process's resident memory and CPU time, from /proc */
struct proc_usage {
	long rss_kb;
	double cpu_s;
};
int proc_usage(long pid, struct proc_usage *u);
/* CPU seconds the whole machine spent busy (all cores, any process), or -1 */
double machine_busy_s(void);

/* spread.c: the bench's sockets per relay, from the relays' heartbeats */
#define SPREAD_MAX 64
struct relay_count {
	char node[ID_MAX + 1];
	long connections, sessions;
};
struct relay_spread {
	int n;
	struct relay_count r[SPREAD_MAX];
};
/* Every live relay's figures now; -1 when Redis cannot be read. */
int spread_read(const char *redis_url, struct relay_spread *sp);
void spread_print(const struct relay_spread *sp);   /* a line of the table */
void spread_json(const struct relay_spread *sp);    /* ,"relays":[...] */

#endif
