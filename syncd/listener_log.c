/*
 * listener_log - the network process's refusal counters and their log
 *
 * Every connection or request the listener turns away is counted by reason
 * (for /metrics) and logged in one line, at most LISTENER_LOG_BURST lines a
 * LISTENER_LOG_WINDOW seconds; at the end of a window one summary line
 * says how many of each reason were not logged.  Nothing here fails.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../formats/log.h"
#include "listener_private.h"

static const char *const listener_why_name[LISTENER_NWHY] = {
    "allow",	"per_address", "max_connections", "evicted",
    "deadline", "nofile",      "framing",	  "push"};

/* listener_log_why - the name of a refusal reason */
const char *listener_log_why(enum listener_why why)
{
	return listener_why_name[why];
}

/* listener_log_refusal - count a refusal and log it within the rate limit */
void listener_log_refusal(struct listener *l, enum listener_why why,
			  const char *fmt, ...)
{
	char line[1200];
	va_list ap;

	l->refused[why]++;
	if (l->log_lines >= LISTENER_LOG_BURST) {
		l->log_skipped[why]++;
		return;
	}
	l->log_lines++;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_warning("%s", line);
}

/* listener_log_tick - close a log window: one summary of what was skipped */
void listener_log_tick(struct listener *l, uint64_t now)
{
	char text[512];
	size_t off = 0, i;
	uint64_t total = 0;
	int n;

	if (now < l->log_window_ms + LISTENER_LOG_WINDOW * 1000)
		return;
	text[0] = '\0';
	for (i = 0; i < LISTENER_NWHY; i++) {
		if (l->log_skipped[i] == 0)
			continue;
		total += l->log_skipped[i];
		n = snprintf(text + off, sizeof(text) - off, "%s%s %" PRIu64,
			     off > 0 ? ", " : "", listener_why_name[i],
			     l->log_skipped[i]);
		if (n > 0 && (size_t)n < sizeof(text) - off)
			off += (size_t)n;
	}
	if (total > 0)
		log_warning("refusals: %" PRIu64 " more in the last %d s not "
			    "logged (%s)",
			    total, LISTENER_LOG_WINDOW, text);
	memset(l->log_skipped, 0, sizeof(l->log_skipped));
	l->log_lines = 0;
	l->log_window_ms = now;
}
