#include "endpoints.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "util.h"
#include "xalloc.h"

enum reach { REACH_UNKNOWN, REACH_UP, REACH_DOWN };

static struct {
	char **shown;  /* the URLs without user:password, for logs and /api/ai-health */
	enum reach *reach;
	int n;
	unsigned long long errors[EP_KINDS];
	char last_code[32], last_msg[200], last_url[512];
	long long last_ms;  /* 0: no error yet */
} ep;

static const char *const kind_names[EP_KINDS] = {
	"refused", "http_4xx", "http_5xx", "timeout", "other",
};

enum endpoint_error endpoint_error_kind(const char *code)
{
	if (!strcmp(code, "refused"))
		return EP_REFUSED;
	if (!strcmp(code, "timeout"))
		return EP_TIMEOUT;
	if (!strncmp(code, "http_4", 6))
		return EP_HTTP_4XX;
	if (!strncmp(code, "http_5", 6))
		return EP_HTTP_5XX;
	return EP_OTHER;
}

/* The URL as shown to anyone who can read the logs or /api/ai-health:
 * without a user:password@ it may carry. */
static char *public_url(const char *url)
{
	const char *scheme_end = strstr(url, "://");
	const char *host = scheme_end ? scheme_end + 3 : url;
	const char *at = strchr(host, '@');
	const char *slash = strchr(host, '/');
	if (!at || (slash && slash < at))
		return xstrdup(url);
	size_t head = (size_t)(host - url);
	char *out = xmalloc(head + strlen(at + 1) + 1);
	memcpy(out, url, head);
	strcpy(out + head, at + 1);
	return out;
}

void endpoints_init(char *const *urls, int n)
{
	ep.n = n;
	ep.reach = xcalloc((size_t)n, sizeof *ep.reach);
	ep.shown = xcalloc((size_t)n, sizeof *ep.shown);
	for (int i = 0; i < n; i++)
		ep.shown[i] = public_url(urls[i]);
}

const char *endpoint_shown(int i) { return i >= 0 && i < ep.n ? ep.shown[i] : "?"; }

void endpoint_ok(int i)
{
	if (i < 0 || i >= ep.n || ep.reach[i] == REACH_UP)
		return;
	if (ep.reach[i] == REACH_DOWN)
		log_info("AI endpoint reachable again", "endpoint=%s", ep.shown[i]);
	ep.reach[i] = REACH_UP;
}

void endpoint_failed(int i, const char *code, const char *msg, int reached)
{
	if (i < 0 || i >= ep.n)
		return;
	ep.errors[endpoint_error_kind(code)]++;
	if (!reached) {
		if (ep.reach[i] != REACH_DOWN)
			log_warn("AI endpoint unreachable", "endpoint=%s code=%s error=\"%s\"", ep.shown[i],
				 code, msg);
		ep.reach[i] = REACH_DOWN;
	}
	snprintf(ep.last_code, sizeof ep.last_code, "%s", code);
	snprintf(ep.last_msg, sizeof ep.last_msg, "%s", msg);
	snprintf(ep.last_url, sizeof ep.last_url, "%s", ep.shown[i]);
	ep.last_ms = now_ms();
}

static int count(enum reach r)
{
	int k = 0;
	for (int i = 0; i < ep.n; i++)
		k += ep.reach[i] == r;
	return k;
}

const char *endpoints_state(void)
{
	int up = count(REACH_UP), down = count(REACH_DOWN);
	if (up == ep.n)
		return "up";
	if (up)
		return "partial";
	/* one endpoint not asked yet may still answer */
	return down == ep.n ? "down" : "unknown";
}

void endpoints_heartbeat(struct heartbeat *hb)
{
	heartbeat_fields(hb, "backend_state %s endpoints_up %d endpoints_total %d", endpoints_state(),
			 count(REACH_UP), ep.n);
	for (int k = 0; k < EP_KINDS; k++) {
		char name[32];
		snprintf(name, sizeof name, "errors_%s", kind_names[k]);
		heartbeat_fields(hb, "%s %llu", name, ep.errors[k]);
	}
	if (ep.last_ms)
		heartbeat_fields(hb, "last_error_code %s last_error %s last_error_url %s last_error_ms %lld",
				 ep.last_code, ep.last_msg, ep.last_url, ep.last_ms);
}
