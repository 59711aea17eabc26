#include "daemon.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keys.h"
#include "log.h"
#include "scripts.h"
#include "util.h"
#include "validate.h"

void daemon_setup(const char *kind, char *node, size_t nodelen, struct redis_cfg *redis)
{
	const char *url = env_str("REDIS_URL", "redis://127.0.0.1:6379/0"), *err;
	if (redis_url_parse(url, redis, &err)) {
		char shown[1024];
		redis_url_masked(url, shown, sizeof shown);
		die(100, "REDIS_URL=%s: %s", shown, err);
	}
	enum log_level lvl;
	if (log_level_parse(env_str("LOG_LEVEL", "info"), &lvl))
		die(100, "LOG_LEVEL must be debug, info, warn or error");
	log_set_level(lvl);
	default_node_id(node, nodelen, kind);
	if (!valid_id(node, strlen(node)))
		die(100, "NODE_ID=%s: must be 1-64 characters of [A-Za-z0-9_.:-]", node);
	log_set_node(node);
	keys_init(env_str("KEY_PREFIX", ""));
	scripts_load(share_dir());
}

void daemon_heartbeat_file(void)
{
	const char *path = getenv("HEARTBEAT_FILE");
	if (!path || !*path)
		return;
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		futimens(fd, NULL);
		close(fd);
	}
}
