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
#include "util.h"
#include "relay.h"
#include "unix_listen.h"

#define ACCEPT_PAUSE_MS 100

static uv_poll_t watch;
static uv_timer_t pause_timer;
static int listen_fd = -1;
static char bound_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static struct stat bound;  /* the file bind made, told apart from a later one */

/* A socket file left at the path: a dead relay's is removed (bind fails
 * while it is there); one that a process still accepts on is not taken
 * over, which would leave that process unreachable and, once either
 * stopped, remove the other's socket. -1: in use. */
static int clear_stale(const struct sockaddr_un *sa)
{
	struct stat st;
	if (lstat(sa->sun_path, &st) || !S_ISSOCK(st.st_mode))
		return 0;  /* nothing there, or not a socket: bind says what is wrong */
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (probe < 0)
		return 0;
	int rc = connect(probe, (const struct sockaddr *)sa, sizeof *sa), why = errno;
	close(probe);
	if (rc == 0 || why == EAGAIN) {  /* EAGAIN: its backlog is full */
		log_error("UNIX_SOCKET is in use: another process listens on it", "path=%s",
			  sa->sun_path);
		return -1;
	}
	if (why == ECONNREFUSED)
		unlink(sa->sun_path);
	return 0;
}

/* Binds with no access for others whatever the umask: the socket reaches
 * the same routes as the port (which chatctl keeps on loopback), and its
 * file may sit in a directory that other users or containers see. At
 * most the owner and its group (nginx's workers) may connect. */
static int bind_private(int fd, const struct sockaddr_un *sa)
{
	mode_t old = umask(0117);
	umask(old | 0117);
	int rc = bind(fd, (const struct sockaddr *)sa, sizeof *sa);
	int saved = errno;
	umask(old);
	errno = saved;
	return rc;
}

static void on_acceptable(uv_poll_t *w, int status, int events);

static void resume_accepting(uv_timer_t *t)
{
	(void)t;
	if (listen_fd >= 0)
		uv_poll_start(&watch, UV_READABLE, on_acceptable);
}

/* Out of descriptors (or memory): the pending connections stay readable,
 * so the loop would wake at once for them again and again, spinning a core
 * until a descriptor frees. They wait in the backlog a while instead. */
static void pause_accepting(void)
{
	static int64_t warned_ms;
	int why = errno;
	uv_poll_stop(&watch);
	uv_timer_start(&pause_timer, resume_accepting, ACCEPT_PAUSE_MS, 0);
	if (now_ms() - warned_ms >= 10000) {
		warned_ms = now_ms();
		log_warn("cannot accept on UNIX_SOCKET: pausing", "error=\"%s\" pause_ms=%d",
			 strerror(why), ACCEPT_PAUSE_MS);
	}
}

static void on_acceptable(uv_poll_t *w, int status, int events)
{
	(void)w;
	(void)events;
	if (status < 0)
		return;
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				pause_accepting();  /* EMFILE, ENFILE, ENOBUFS, ENOMEM */
			return;
		}
		/* on failure lws closes fd itself, at once or in a libuv close
		 * callback later: closing it here too would close whatever the
		 * next accept (or a Redis connection) got under that number */
		lws_adopt_socket_vhost(lws_get_vhost_by_name(relay.lws, "default"), fd);
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
	if (clear_stale(&sa) < 0)
		return -1;
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind_private(listen_fd, &sa) || lstat(path, &bound) ||
	    listen(listen_fd, 4096) || uv_poll_init(relay.loop, &watch, listen_fd) ||
	    uv_timer_init(relay.loop, &pause_timer) ||
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
	uv_close((uv_handle_t *)&pause_timer, NULL);
	close(listen_fd);
	listen_fd = -1;
	/* only the file we bound: a relay started since on the same path
	 * (ours removed by hand, a restart overlapping) keeps its own */
	struct stat st;
	if (lstat(bound_path, &st) == 0 && st.st_dev == bound.st_dev && st.st_ino == bound.st_ino)
		unlink(bound_path);
}
