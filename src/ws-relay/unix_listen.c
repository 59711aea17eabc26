/* UNIX_SOCKET: the relay also listens on a Unix socket, nginx's way in.
 * Every frame nginx proxies crosses this leg; on a Unix socket it costs
 * neither side loopback TCP (most of nginx's CPU per proxied frame, see
 * doc/benchmarks.md, "Through nginx"). The relay accepts here itself and
 * hands each connection to libwebsockets as if its own listener had
 * accepted it: the same routes, handshake and limits as on the port. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "relay.h"
#include "unix_listen.h"

static uv_poll_t watch;
static int listen_fd = -1;
static char bound_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

static void on_acceptable(uv_poll_t *w, int status, int events)
{
	(void)w;
	(void)events;
	if (status < 0)
		return;
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;  /* EAGAIN: all taken; anything else: the next wake-up tries again */
		if (!lws_adopt_socket_vhost(lws_get_vhost_by_name(relay.lws, "default"), fd))
			close(fd);
	}
}

int unix_listen_start(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (!path || !*path)
		return 0;
	if (strlen(path) >= sizeof sa.sun_path) {
		log_warn("UNIX_SOCKET is too long for a socket: listening on the port only", "path=%s", path);
		return 0;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);  /* a dead relay's: bind fails while it is there */
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) ||
	    listen(listen_fd, 4096) || uv_poll_init(relay.loop, &watch, listen_fd) ||
	    uv_poll_start(&watch, UV_READABLE, on_acceptable)) {
		log_error("cannot listen on UNIX_SOCKET", "path=%s error=\"%s\"", path, strerror(errno));
		if (listen_fd >= 0)
			close(listen_fd);
		listen_fd = -1;
		return -1;
	}
	snprintf(bound_path, sizeof bound_path, "%s", path);
	return 0;
}

void unix_listen_stop(void)
{
	if (listen_fd < 0)
		return;
	uv_poll_stop(&watch);
	uv_close((uv_handle_t *)&watch, NULL);
	close(listen_fd);
	listen_fd = -1;
	unlink(bound_path);
}
