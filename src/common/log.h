/* One line per event on stderr:
 *   ts=... level=... prog=... node=... msg="..." key=value ...
 * so that one reply can be followed across programs with grep. */
#ifndef SC_LOG_H
#define SC_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_init(const char *prog);
void log_set_node(const char *node);
void log_set_level(enum log_level min);
int log_level_parse(const char *s, enum log_level *out);

/* kvfmt (may be NULL) formats the key=value tail, printf style. */
void log_msg(enum log_level lvl, const char *msg, const char *kvfmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_debug(msg, ...) log_msg(LOG_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...) log_msg(LOG_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...) log_msg(LOG_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_msg(LOG_ERROR, msg, __VA_ARGS__)

/* Startup failures: "prog: fatal: ..." on stderr, exit 111 (temporary
 * failure) or 100 (usage), as skarnet's tools do. */
void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

const char *log_prog(void);

#endif
