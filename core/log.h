/* Logging that cannot print a secret.
 *
 * Two layers keep keys out of log lines:
 *  1. Secrets live in `struct fc_secret` (core/secret.h). That type cannot be passed to a printf-style
 *     format (-Wformat -Werror rejects a struct for %s); the only way to its bytes is fc_secret_reveal(),
 *     which is never called in a log statement.
 *  2. Defence in depth: every formatted line is scanned for tokens (runs of [A-Za-z0-9+/=_-] of 8+
 *     characters) and any token equal to a value registered with fc_log_register_secret() is replaced
 *     by "***". Every secret loaded from the keystore is registered.
 *
 * The sink is set by the host process (Mosquitto's log in the plugin, stderr in the daemon and CLI).
 */
#ifndef FC_LOG_H
#define FC_LOG_H

#include <stddef.h>

enum fc_log_level { FC_LOG_DEBUG = 0, FC_LOG_INFO = 1, FC_LOG_WARN = 2, FC_LOG_ERROR = 3 };

typedef void (*fc_log_sink_fn)(void *ctx, enum fc_log_level level, const char *line);

/* Replace the sink (NULL restores the default: stderr with a level prefix). Not thread-safe: call at start. */
void fc_log_set_sink(fc_log_sink_fn fn, void *ctx);
/* Lines below this level are dropped (default FC_LOG_INFO). */
void fc_log_set_level(enum fc_log_level min);
enum fc_log_level fc_log_get_level(void);
/* Parse "debug|info|warn|warning|error"; returns 0 on success, -1 on an unknown name. */
int fc_log_level_parse(const char *s, enum fc_log_level *out);
const char *fc_log_level_name(enum fc_log_level level);

/* Formats, redacts registered secrets, and hands the line to the sink. Thread-safe. */
void fc_log(enum fc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define fc_debug(...) fc_log(FC_LOG_DEBUG, __VA_ARGS__)
#define fc_info(...) fc_log(FC_LOG_INFO, __VA_ARGS__)
#define fc_warn(...) fc_log(FC_LOG_WARN, __VA_ARGS__)
#define fc_error(...) fc_log(FC_LOG_ERROR, __VA_ARGS__)

/* Register/unregister a secret value so that it is redacted wherever it appears as a whole token.
 * Values shorter than 8 bytes are ignored (too likely to collide with ordinary words). Thread-safe. */
void fc_log_register_secret(const char *value, size_t len);
void fc_log_unregister_secret(const char *value, size_t len);
void fc_log_clear_secrets(void);

/* Redact registered secrets in `line` in place (used by the logger, and by anything that publishes
 * free-form text such as bridge/log). Returns the number of redactions. */
int fc_log_redact(char *line, size_t cap);

#endif
