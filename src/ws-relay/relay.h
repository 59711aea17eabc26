/* ws-relay's shared state: one libuv loop carries the WebSocket server
 * (libwebsockets) and both Redis connections (hiredis async). Nothing here
 * blocks. */
#ifndef SC_RELAY_H
#define SC_RELAY_H

#include <libwebsockets.h>
#include <stdint.h>
#include <uv.h>

#include "aredis.h"
#include "auth.h"
#include "fifo.h"
#include "frame.h"
#include "prom.h"
#include "redis_url.h"
#include "validate.h"

struct relay_config {
	struct redis_cfg redis;
	int port;
	long queue_frames;        /* per-socket send queue bound, in frames */
	long queue_bytes;         /* and in bytes */
	long socket_sndbuf;       /* SO_SNDBUF of each socket; 0: the kernel's autotuning */
	long max_client_frame;    /* largest frame a client may send */
	long history_limit;       /* messages sent in the history frame */
	long drain_ms;
	long client_fps;          /* frames a client may send per second */
	long ws_per_min_user;     /* new WebSockets a user may open per minute */
	long ws_per_min_addr;     /* and a client address */
	long claim_ttl_ms;        /* a claimed session that never gets a message lapses */
	long stream_heartbeat_s;  /* an idle HTTP stream's heartbeat comment */
};

/* A frame to send, shared by every socket that sends it; LWS_PRE bytes of
 * headroom precede the payload as lws_write() requires. */
struct msgbuf {
	int refs;
	size_t len;
	int peeked;               /* fi is valid: a well-formed frame */
	struct frame_info fi;     /* its message_id points into data */
	struct msg_events *events;  /* HTTP streams' events of it, made once (http_stream.c) */
	unsigned char data[];     /* LWS_PRE + len */
};

struct msgbuf *msgbuf_new(const char *payload, size_t len);
/* A frame published on a channel, read once by frame_peek() for every
 * socket that will judge it. */
struct msgbuf *msgbuf_new_peeked(const char *payload, size_t len);
void msgbuf_unref(struct msgbuf *m);
static inline char *msgbuf_payload(struct msgbuf *m) { return (char *)m->data + LWS_PRE; }

struct session;

enum conn_state {
	CONN_WAIT_SUB,    /* waiting for Redis to confirm the session's subscription */
	CONN_SYNCING,     /* reading history/chunks; live frames are held */
	CONN_LIVE,
	CONN_CLOSING,
};

/* What a socket has sent of one reply: every chunk frame up to sent, and
 * its end frame if done. */
struct reply_pos {
	char mid[ID_MAX + 1];
	long sent;
	long hist;                    /* chunks up to here went out only as history text */
	enum { DONE_NOT, DONE_SENT, DONE_IN_HISTORY } done;  /* its end frame */
};

/* A resume asked for (URL or reconnect frame), waiting for its turn. */
struct recovery {
	char mid[ID_MAX + 1];
	long last;                    /* the client holds chunks 0..last */
	long from;                    /* the next chunk to read */
};

struct conn {
	int refs;                     /* lws + each Redis request in flight */
	struct lws *wsi;              /* NULL once the socket closed */
	struct session *sess;
	struct conn *sprev, *snext;   /* in the session's list */
	enum conn_state state;
	int greeted;                  /* welcome and history sent */
	char sid[ID_MAX + 1], uid[ID_MAX + 1];
	char addr[48];                /* the client's address (nginx's X-Forwarded-For) */
	int64_t valid_until_s;        /* its token's exp plus leeway; 0: no token */
	int claimed;                  /* its first read counted against the limits */

	struct reply_pos cur;         /* the session's current reply */
	struct reply_pos *past;       /* replies it followed or recovered before, oldest first */
	int npast, cappast;
	struct recovery *pending;     /* resumes to run once the socket is in sync, in order */
	int npending;
	int fills;                    /* gap fills since the socket was last live */

	struct fill *fill;            /* its Redis read in flight, or a replay waiting to go on */
	struct msgbuf **held;         /* frames that arrived while syncing */
	size_t nheld, capheld;

	struct fifo q;                /* send queue of struct msgbuf */
	size_t qbytes;

	char *rx;                     /* a client frame being reassembled */
	size_t rxlen;
	int64_t rx_second;            /* the second the client's frames are counted in */
	long rx_frames;

	int close_code;
	int close_sent;               /* the close frame is written or buffered */
	const char *close_reason;
	uint64_t frames_sent;
	struct http_stream *hs;       /* an HTTP stream (http_stream.c), not a WebSocket */
};

struct relay {
	uv_loop_t *loop;
	struct relay_config cfg;
	char node[128];
	struct lws_context *lws;
	struct aredis cmd;            /* reads and registry writes */
	struct auth auth;
	long nconns, nsessions;
	long nstreams;                /* open HTTP streams */
	long nregistered;             /* sessions written into the registry */
	uint64_t frames_sent, bytes_sent, recoveries, recoveries_not_found, slow_closes, bad_frames,
		 auth_failures, replies_delivered, rate_limited, token_expiries;
	long queued_frames, queued_bytes; /* in every socket's send queue */
	struct prom_hist latency;         /* publish to send, of live chunk frames */
	int stopping;
	int64_t started_ms;
};

extern struct relay relay;

/* session.c */
void session_attach(struct conn *c);
void session_detach(struct conn *c);
void sessions_redis_ready(void);
void sessions_redis_lost(void);
void sessions_cmd_ready(void);
/* Every session of this relay joins the registry again. */
void sessions_rejoin(void);
void session_on_message(const char *channel, size_t chlen, const char *payload, size_t len);
/* subscriber.h's events of one channel */
void session_subscribed(const char *channel, size_t len);
void session_unsubscribed(const char *channel, size_t len);
void session_channel_lost(const char *channel, size_t len, const char *why);
/* A socket of the session passed the ownership check: the session joins
 * the registry under its user, if it has not yet. */
void session_owned(struct conn *c);

/* Whether this relay holds session sid in the registry. */
int session_registered(const char *sid);

/* registry.c: sessions:node:{N} and each session's sessions:relays:{S} */
void registry_join(const char *sid, const char *uid);
void registry_leave(const char *sid);
/* The command connection is (back) up: what the node's hash names that
 * this relay no longer holds leaves, then every held session joins again. */
void registry_refresh(void);
/* Every session of this relay leaves and the node's hash goes; done (or a
 * logger) gets the reply of the walk's last command. */
void registry_forget_node(redisCallbackFn *done);

/* sync.c: bring a socket up to date from Redis, holding live frames meanwhile */
void conn_sync(struct conn *c);
/* A resume (URL or reconnect frame): it runs once the socket is in sync. */
void conn_recover(struct conn *c, const char *mid, long last_index);
void conn_deliver(struct conn *c, struct msgbuf *m);
/* The send queue has drained: a paused replay goes on. */
void conn_fill_resume(struct conn *c);
/* Forgets the socket's Redis read (its reply will be ignored); a resume it
 * was running goes back to the head of the queue. */
void conn_fill_cancel(struct conn *c);
void conn_sync_release(struct conn *c);  /* what sync.c holds of a conn being freed */

/* conn.c */
int conn_send(struct conn *c, struct msgbuf *m);
/* Whether a frame of len bytes fits the send queue's bounds (an empty
 * queue takes any one frame). */
int queue_has_room(const struct conn *c, size_t len);
/* Half empty or better: a paused replay may go on. */
int queue_drained(const struct conn *c);
void conn_too_slow(struct conn *c);
int conn_send_text(struct conn *c, const char *s, size_t len);
/* Sends the frame sb holds and empties sb for the next one. */
void conn_send_built(struct conn *c, struct strbuf *sb);
void conn_close(struct conn *c, int code, const char *reason);
void conn_unref(struct conn *c);
void conns_close_all(int code, const char *reason);
/* What WebSockets and HTTP streams share: a query argument (1 found, 0
 * absent or too long), the client's address, and the caller's user (0, or
 * the HTTP status of the refusal with why). */
int relay_urlarg(struct lws *wsi, const char *name, char *out, size_t outlen);
void relay_client_addr(struct lws *wsi, char *out, size_t outlen);
int relay_authenticate(struct lws *wsi, char uid[ID_MAX + 1], int64_t *valid_until,
		       const char **why);

/* metrics.c: GET /metrics */
void relay_metrics(struct strbuf *sb);
int relay_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		   size_t len);
extern const size_t relay_pss_size;   /* lws allocates this much per connection for us */

#endif
