/* GET /metrics: the relay's counters in the Prometheus text format. */
#include "relay.h"

#include "subscriber.h"
#include "util.h"

struct counter {
	const char *name, *type, *help;
	double value;
};

void relay_metrics(struct strbuf *sb)
{
	struct subscriber_stats st;
	subscriber_stats(&st);
	const struct counter cs[] = {
		{ "streamchat_relay_connections", "gauge", "Open WebSocket connections.",
		  (double)relay.nconns },
		{ "streamchat_relay_http_streams", "gauge", "Open HTTP streams (GET /stream/).",
		  (double)relay.nstreams },
		{ "streamchat_relay_sessions", "gauge", "Sessions with at least one socket here.",
		  (double)relay.nsessions },
		{ "streamchat_relay_frames_sent_total", "counter", "Frames written to sockets.",
		  (double)relay.frames_sent },
		{ "streamchat_relay_bytes_sent_total", "counter", "Payload bytes of the frames written.",
		  (double)relay.bytes_sent },
		{ "streamchat_relay_replies_ended_total", "counter",
		  "Replies whose end frame this relay forwarded.", (double)relay.replies_delivered },
		{ "streamchat_relay_slow_consumer_closes_total", "counter",
		  "Sockets closed with 4408 because their send queue overflowed.",
		  (double)relay.slow_closes },
		{ "streamchat_relay_bad_client_frames_total", "counter",
		  "Client frames refused (4400, 1008, 1009) or answered with an error.",
		  (double)relay.bad_frames },
		{ "streamchat_relay_auth_failures_total", "counter",
		  "Upgrades refused for a missing, invalid or foreign token.",
		  (double)relay.auth_failures },
		{ "streamchat_relay_token_expiries_total", "counter",
		  "Sockets closed with 4401 when their token expired.", (double)relay.token_expiries },
		{ "streamchat_relay_rate_limited_total", "counter",
		  "New sockets closed with 4429: their user or address opened too many a minute.",
		  (double)relay.rate_limited },
		{ "streamchat_relay_redis_reconnects_total", "counter",
		  "Reconnections of the subscriber connection to Redis (a Cluster's: to any primary).",
		  (double)st.reconnects },
		{ "streamchat_relay_subscribes_total", "counter",
		  "SUBSCRIBE commands sent (a Cluster's SSUBSCRIBEs confirmed, again after a loss too).",
		  (double)st.subscribes },
		{ "streamchat_relay_send_queue_frames", "gauge", "Frames waiting in all send queues.",
		  (double)relay.queued_frames },
		{ "streamchat_relay_send_queue_bytes", "gauge", "Bytes waiting in all send queues.",
		  (double)relay.queued_bytes },
		{ "streamchat_relay_redis_up", "gauge", "1 while both Redis connections are ready.",
		  subscriber_ready() && relay.cmd.ready ? 1 : 0 },
		{ "streamchat_relay_draining", "gauge", "1 once SIGTERM has started the drain.",
		  relay.stopping ? 1 : 0 },
		{ "streamchat_relay_start_time_seconds", "gauge", "When the relay started.",
		  (double)relay.started_ms / 1000 },
	};
	for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
		prom_head(sb, cs[i].name, cs[i].type, cs[i].help);
		prom_sample(sb, cs[i].name, NULL, cs[i].value);
	}
	prom_head(sb, "streamchat_relay_recoveries_total", "counter",
		  "Resumes asked for by clients, by outcome.");
	prom_sample(sb, "streamchat_relay_recoveries_total", "outcome=\"recovered\"",
		    (double)relay.recoveries);
	prom_sample(sb, "streamchat_relay_recoveries_total", "outcome=\"not_found\"",
		    (double)relay.recoveries_not_found);
	prom_head(sb, "streamchat_relay_channels_lost_total", "counter",
		  "Cluster: session channels that stopped receiving (slot moved, primary lost), by why.");
	prom_sample(sb, "streamchat_relay_channels_lost_total", "why=\"moved\"", (double)st.lost_moved);
	prom_sample(sb, "streamchat_relay_channels_lost_total", "why=\"disconnected\"",
		    (double)st.lost_disconnected);
	prom_head(sb, "streamchat_relay_publish_to_send_seconds", "histogram",
		  "From a chunk's first token at the worker (its ts) to its write on a socket.");
	prom_hist_write(sb, "streamchat_relay_publish_to_send_seconds", NULL, &relay.latency);
}
