/*
 * audit - the daemon's periodic verify: every verify_interval a child
 * process "mxsync-agent verify --json" compares the export with the
 * primary's Postfix (verify.h); its report arrives on a pipe, is kept for
 * the status document and told to the log once per change of it
 *
 * A child that cannot be started is logged and tried again at the next
 * interval; a child that fails leaves an error report with its last line
 * (verify_report).  The log names no recipient: counts, and the table
 * that decided the first example.
 */
#ifndef MXSYNC_AGENT_AUDIT_H
#define MXSYNC_AGENT_AUDIT_H

#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "../formats/buf.h"
#include "../formats/err.h"

struct audit {
	pid_t pid; /* the running child, 0 when none */
	int fd;	   /* its report, -1 when none */
	struct buf out;
	int64_t next;	    /* when the next one starts (sync_now_ms) */
	json_t *last;	    /* the last report, or NULL */
	char said[ERR_LEN]; /* what was logged last */
};

/* audit_init - nothing running, nothing reported */
void audit_init(struct audit *a);
/* audit_start - start the child for config_path; the next at now+interval */
void audit_start(struct audit *a, const char *config_path, uint64_t interval_ms,
		 int64_t now);
/* audit_read - collect the child's report; at its end adopt and log it */
void audit_read(struct audit *a);
/* audit_clear - stop a running child, free the report */
void audit_clear(struct audit *a);

#endif
