/* ws-relay: the WebSocket server. Clients connect to /ws/chat with their
 * session; the relay forwards the frames published on the session's Redis
 * channel to them, byte for byte, and replays from the chunk cache whatever
 * a socket missed. One process holds many thousands of sockets on one
 * libuv loop shared by libwebsockets and hiredis. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "config.h"
#include "daemon.h"
#include "heartbeat.h"
#include "keys.h"
#include "log.h"
#include "relay.h"
#include "scripts.h"
#include "subscriber.h"
#include "unix_listen.h"
#include "util.h"

#ifndef VERSION
#define VERSION "0.1.0"
#endif

#define HEARTBEAT_MS 1000
#define HEARTBEAT_TTL_MS 5000

struct relay relay;

static uv_timer_t heartbeat_timer, drain_timer;
static uv_signal_t sigterm_watch, sigint_watch;

/* lws keeps an rx buffer of RX_BUFFER bytes per connection: clients send
 * small frames, and a larger one arrives in pieces that conn.c joins, so a
 * small buffer is memory saved on every idle connection. */
#define RX_BUFFER 512
static struct lws_protocols protocols[] = {
	{ "chat", relay_callback, 0, RX_BUFFER, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static const struct knob knobs[] = {
	KNOB_INT("PORT", 8081, 1, 65535, "the port to listen on (also --port N)"),
	KNOB_TEXT("LISTEN_IFACE", NULL, "all", "network interface to listen on (chatctl: lo)"),
	KNOB_TEXT("UNIX_SOCKET", NULL, "none",
		  "also listen on this Unix socket (chatctl: nginx's way in)"),
	KNOB_INT("SEND_QUEUE_FRAMES", 4096, 1, 10000000,
		 "frames queued per socket; past it the socket is closed 4408"),
	KNOB_INT("SEND_QUEUE_BYTES", 4L << 20, 1024, 1L << 32, "bytes queued per socket (4 MiB)"),
	KNOB_INT("SOCKET_SNDBUF", 0, 0, 64L << 20,
		 "kernel send buffer per socket (0: autotuned)"),
	KNOB_INT("MAX_CLIENT_FRAME", 4096, 64, 1L << 20, "bytes of one client frame"),
	KNOB_INT("HISTORY_LIMIT", 100, 1, 100000, "messages in the history frame"),
	KNOB_INT("DRAIN_MS", 3000, 0, 600000, "on SIGTERM, time to close the sockets with 1001"),
	KNOB_INT("CLIENT_FRAMES_PER_S", 20, 1, 1000000,
		 "frames one socket may send per second (1008 past it)"),
	KNOB_INT("WS_PER_MIN_USER", 120, 1, 100000000,
		 "new WebSockets per user per minute (4429 past it)"),
	KNOB_INT("WS_PER_MIN_ADDR", 600, 1, 100000000,
		 "new WebSockets per client address per minute (4429)"),
	KNOB_INT("CLAIM_TTL_S", 86400, 1, 31536000,
		 "a session claimed by a listener that never gets a "
		 "message lapses (sooner: when its last socket leaves)"),
	KNOB_INT("STREAM_HEARTBEAT_S", 15, 1, 3600,
		 "seconds between heartbeat comments on an idle HTTP stream"),
};
static const struct knob_table relay_knobs = KNOB_TABLE(knobs);
static const struct knob_table *const all_knobs[] = {
	&relay_knobs, &auth_knobs, &redis_knobs, &daemon_knobs, NULL
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ws-relay [--port N] [--help] [--version]\n"
		"WebSocket server for /ws/chat and /ws/chat/v2; replies as HTTP streams at\n"
		"GET /stream/{message_id} and /stream/session/{session_id}; GET /health.\n"
		"With AUTH_SECRET or AUTH_SECRET_FILE an HS256 token (token= or the subprotocol\n"
		"bearer.TOKEN) is required (4401), and the socket is closed 4401 when it expires\n"
		"unless an auth frame renews it.\n\n");
	config_usage(f, all_knobs);
}

/* recoverd drops the sessions of a relay it thought dead (one frozen past
 * RELAY_DEAD_MS, say); if this one is alive after all, it registers them
 * again. */
static void registry_check(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *r = reply;
	(void)ac;
	(void)priv;
	if (r && r->type == REDIS_REPLY_INTEGER && r->integer < relay.nregistered) {
		log_warn("registry lost this relay's sessions; registering them again",
			 "registered=%lld sessions=%ld", r->integer, relay.nregistered);
		sessions_rejoin();
	}
}

static void heartbeat(uv_timer_t *t)
{
	(void)t;
	if (!relay.cmd.ready)
		return;
	sessions_retry_waiting();
	char k[KEY_MAX];
	struct heartbeat hb;
	heartbeat_begin(&hb, key_node_ws, key_nodes_ws, relay.node, now_ms(), HEARTBEAT_TTL_MS);
	struct subscriber_stats st;
	subscriber_stats(&st);
	heartbeat_fields(&hb, "port %d started_ms %lld connections %ld sessions %ld frames_sent %llu "
			 "recoveries %llu slow_closes %llu redis_reconnects %lu status %s",
			 relay.cfg.port, (long long)relay.started_ms, relay.nconns, relay.nsessions,
			 (unsigned long long)relay.frames_sent, (unsigned long long)relay.recoveries,
			 (unsigned long long)relay.slow_closes, st.reconnects,
			 relay.stopping ? "draining" : "ok");
	heartbeat_send(&hb, &relay.cmd);
	heartbeat_release(&hb);
	if (relay.nregistered > 0)
		aredis_command(&relay.cmd, registry_check, NULL, "HLEN %s",
			       key_sessions_node(k, relay.node));
}

static const struct subscriber_events sub_events = {
	sessions_redis_ready, sessions_redis_lost, session_subscribed, session_unsubscribed,
	session_channel_lost, session_on_message,
};
static void cmd_ready(struct aredis *ar) { (void)ar; sessions_cmd_ready(); }

static void drain_check(uv_timer_t *t)
{
	(void)t;
	static int ticks;
	if (relay.nconns + relay.nstreams == 0 || ++ticks * 50 >= relay.cfg.drain_ms)
		uv_stop(relay.loop);
}

static void stop_loop(uv_timer_t *t) { uv_stop(t->loop); }

static void stop_loop_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	(void)ac;
	(void)reply;
	(void)priv;
	uv_stop(relay.loop);
}

/* Stopping: the registry walk is done, so the heartbeat goes last. */
static void forgotten(redisAsyncContext *ac, void *reply, void *priv)
{
	(void)reply;
	(void)priv;
	if (relay.cmd.ready)
		heartbeat_leave(&relay.cmd, key_node_ws, key_nodes_ws, relay.node, stop_loop_reply, NULL);
}

static void on_signal(uv_signal_t *s, int sig)
{
	(void)s;
	if (relay.stopping)
		return;
	relay.stopping = 1;
	log_info("draining", "signal=%d connections=%ld", sig, relay.nconns);
	conns_close_all(1001, "node draining: reconnect");
	uv_timer_start(&drain_timer, drain_check, 0, 50);
}

int main(int argc, char **argv)
{
	log_init("ws-relay");
	relay.cfg.port = (int)config_int(&relay_knobs, "PORT");
	for (int i = 1; i < argc; i++) {
		long v;
		if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--version")) {
			printf("ws-relay %s\n", VERSION);
			return 0;
		} else if (!strcmp(argv[i], "--port") && i + 1 < argc &&
			   !parse_long(argv[i + 1], 1, 65535, &v)) {
			relay.cfg.port = (int)v;
			i++;
		} else {
			usage(stderr);
			return 100;
		}
	}
	daemon_setup("ws", relay.node, sizeof relay.node, &relay.cfg.redis);
	relay.cfg.queue_frames = config_int(&relay_knobs, "SEND_QUEUE_FRAMES");
	relay.cfg.queue_bytes = config_int(&relay_knobs, "SEND_QUEUE_BYTES");
	relay.cfg.socket_sndbuf = config_int(&relay_knobs, "SOCKET_SNDBUF");
	relay.cfg.max_client_frame = config_int(&relay_knobs, "MAX_CLIENT_FRAME");
	relay.cfg.history_limit = config_int(&relay_knobs, "HISTORY_LIMIT");
	relay.cfg.drain_ms = config_int(&relay_knobs, "DRAIN_MS");
	relay.cfg.client_fps = config_int(&relay_knobs, "CLIENT_FRAMES_PER_S");
	relay.cfg.ws_per_min_user = config_int(&relay_knobs, "WS_PER_MIN_USER");
	relay.cfg.ws_per_min_addr = config_int(&relay_knobs, "WS_PER_MIN_ADDR");
	relay.cfg.claim_ttl_ms = config_int(&relay_knobs, "CLAIM_TTL_S") * 1000;
	relay.cfg.stream_heartbeat_s = config_int(&relay_knobs, "STREAM_HEARTBEAT_S");
	auth_load(&relay.auth);
	signal(SIGPIPE, SIG_IGN);

	relay.loop = uv_default_loop();
	relay.started_ms = now_ms();
	lws_set_log_level(LLL_ERR, NULL);

	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	void *loops[] = { relay.loop };
	info.port = relay.cfg.port;
	info.iface = config_text(&relay_knobs, "LISTEN_IFACE");  /* e.g. lo; NULL: all interfaces */
	/* every socket is a file: as many as the hard limit allows (lws sizes
	 * its tables from this limit when the context is created) */
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	protocols[0].per_session_data_size = relay_pss_size;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8;
	info.foreign_loops = loops;
	info.timeout_secs = 10;
	info.ka_time = 60;
	info.ka_probes = 3;
	info.ka_interval = 10;
	relay.lws = lws_create_context(&info);
	if (!relay.lws)
		die(111, "unable to listen on port %d", relay.cfg.port);
	if (unix_listen_start(config_text(&relay_knobs, "UNIX_SOCKET")))
		die(111, "unable to listen on UNIX_SOCKET");

	relay.cmd.on_ready = cmd_ready;
	aredis_start(&relay.cmd, relay.loop, &relay.cfg.redis, "commands");
	subscriber_start(relay.loop, &relay.cfg.redis, &sub_events, relay.cmd.cluster);
	uv_timer_init(relay.loop, &heartbeat_timer);
	uv_timer_start(&heartbeat_timer, heartbeat, 0, HEARTBEAT_MS);
	uv_timer_init(relay.loop, &drain_timer);
	uv_signal_init(relay.loop, &sigterm_watch);
	uv_signal_init(relay.loop, &sigint_watch);
	uv_signal_start(&sigterm_watch, on_signal, SIGTERM);
	uv_signal_start(&sigint_watch, on_signal, SIGINT);
	log_info("started", "version=%s port=%d auth=%s", VERSION, relay.cfg.port, auth_mode(&relay.auth));
	if (!relay.auth.enabled)
		log_warn("development mode: no AUTH_SECRET, so user ids are taken as given", NULL);

	uv_run(relay.loop, UV_RUN_DEFAULT);

	if (relay.cmd.ready) {
		/* leave the registries now rather than when recoverd notices; the
		 * loop runs until Redis has answered, or for a second at most */
		uv_timer_stop(&heartbeat_timer);
		registry_forget_node(forgotten);
		uv_timer_start(&drain_timer, stop_loop, 1000, 0);
		uv_run(relay.loop, UV_RUN_DEFAULT);
	}
	subscriber_stop();
	aredis_stop(&relay.cmd);
	unix_listen_stop();
	lws_context_destroy(relay.lws);
	log_info("stopped", "frames_sent=%llu", (unsigned long long)relay.frames_sent);
	return 0;
}
