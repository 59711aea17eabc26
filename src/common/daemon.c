#include "daemon.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "keys.h"
#include "log.h"
#include "scripts.h"
#include "validate.h"

/* NODE_ID, or kind-hostname-pid with the hostname made a valid id. */
static void node_id(char *out, size_t len, const char *kind)
{
	const char *id = config_text(&daemon_knobs, "NODE_ID");
	if (id) {
		snprintf(out, len, "%s", id);
		return;
	}
	char host[64];
	if (gethostname(host, sizeof host) != 0)
		snprintf(host, sizeof host, "host");
	host[sizeof host - 1] = '\0';
	for (char *p = host; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
			*p = '_';
	snprintf(out, len, "%s-%s-%ld", kind, host, (long)getpid());
}

void daemon_setup(const char *kind, char *node, size_t nodelen, struct redis_cfg *redis)
{
	const char *url = config_text(&redis_knobs, "REDIS_URL"), *err;
	if (redis_url_parse(url, redis, &err)) {
		char shown[1024];
		redis_url_masked(url, shown, sizeof shown);
		die(100, "REDIS_URL=%s: %s", shown, err);
	}
	enum log_level lvl;
	if (log_level_parse(config_text(&daemon_knobs, "LOG_LEVEL"), &lvl))
		die(100, "LOG_LEVEL must be debug, info, warn or error");
	log_set_level(lvl);
	node_id(node, nodelen, kind);
	if (!valid_id(node, strlen(node)))
		die(100, "NODE_ID=%s: must be 1-64 characters of [A-Za-z0-9_.:-]", node);
	log_set_node(node);
	keys_init(config_text(&redis_knobs, "KEY_PREFIX"));
	scripts_load(share_dir(config_text(&daemon_knobs, "SHARE_DIR")), redis_publish_command(redis));
}
