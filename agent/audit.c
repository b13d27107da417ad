/*
 * audit - the daemon's periodic verify (see audit.h)
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../formats/log.h"
#include "audit.h"
#include "verify.h"

void audit_init(struct audit *a)
{
	memset(a, 0, sizeof(*a));
	a->fd = -1;
}

void audit_start(struct audit *a, const char *config_path, uint64_t interval_ms,
		 int64_t now)
{
	struct err err;

	a->next = now + (int64_t)interval_ms;
	if (verify_background(config_path, &a->fd, &a->pid, &err) < 0) {
		log_error("verify: %s", err.msg);
		a->fd = -1;
		a->pid = 0;
	}
}

/* audit_log - log a result once per change of it */
static void audit_log(struct audit *a, json_t *j)
{
	char said[ERR_LEN];
	json_t *e = json_object_get(j, "error"), *ex;
	json_int_t lost, bs;

	lost = json_integer_value(json_object_get(j, "lost"));
	bs = json_integer_value(json_object_get(j, "backscatter"));
	if (json_is_string(e))
		snprintf(said, sizeof(said), "error %s", json_string_value(e));
	else
		snprintf(said, sizeof(said), "lost %lld backscatter %lld",
			 (long long)lost, (long long)bs);
	if (strcmp(said, a->said) == 0)
		return;
	snprintf(a->said, sizeof(a->said), "%s", said);
	if (json_is_string(e)) {
		log_error("verify: the primary's tables could not be asked: %s",
			  json_string_value(e));
		return;
	}
	if (lost == 0 && bs == 0) {
		log_info(
		    "verify: all %lld candidates agree with the primary's "
		    "Postfix",
		    (long long)json_integer_value(json_object_get(j, "agree")));
		return;
	}
	ex = json_array_get(
	    json_object_get(j, lost ? "lost_examples" : "backscatter_examples"),
	    0);
	log_warning(
	    "verify: the backups disagree with the primary's Postfix: "
	    "LOST %lld, BACKSCATTER %lld; first %s decided by %s",
	    (long long)lost, (long long)bs,
	    lost ? "lost address" : "backscatter address",
	    json_string_value(json_object_get(ex, "primary_decided_by")));
}

void audit_read(struct audit *a)
{
	char b[4096];
	ssize_t n;
	json_t *j;
	int status = 0;

	while ((n = read(a->fd, b, sizeof(b))) > 0)
		if (buf_append(&a->out, b, (size_t)n) < 0)
			break;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	close(a->fd);
	a->fd = -1;
	while (waitpid(a->pid, &status, 0) < 0 && errno == EINTR)
		;
	a->pid = 0;
	j = verify_report(a->out.data ? a->out.data : "", a->out.len, status);
	buf_free(&a->out);
	audit_log(a, j);
	json_decref(a->last);
	a->last = j;
}

void audit_clear(struct audit *a)
{
	if (a->pid > 0) {
		kill(a->pid, SIGTERM);
		waitpid(a->pid, NULL, 0);
	}
	if (a->fd >= 0)
		close(a->fd);
	buf_free(&a->out);
	json_decref(a->last);
	audit_init(a);
}
