#include "fault.h"

#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

/* Whether the n bytes at w are "name" or "name@subject". */
static int names(const char *w, size_t n, const char *name, const char *subject)
{
	size_t k = strlen(name);
	if (n < k || memcmp(w, name, k) != 0)
		return 0;
	if (n == k)
		return 1;
	return w[k] == '@' && subject && n - k - 1 == strlen(subject) &&
	       !memcmp(w + k + 1, subject, n - k - 1);
}

void fault_point(const char *name, const char *subject)
{
	static const char *armed;
	static int read_env;
	if (!read_env) {
		armed = config_text(&fault_knobs, "FAULT_POINT");
		read_env = 1;
	}
	for (const char *w = armed; w && *w;) {
		size_t n = strcspn(w, " ");
		if (n && names(w, n, name, subject)) {
			log_warn("fault point reached: exiting", "point=%s subject=%s", name,
				 subject ? subject : "");
			_exit(70);
		}
		w += n + (w[n] == ' ');
	}
}
