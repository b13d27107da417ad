/*
 * err - error messages returned by library code
 *
 * Messages that do not fit are truncated with "..." rather than dropped, so
 * the reader still sees where the failure started.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

/* err_vset - format into the buffer, marking truncation */
static void err_vset(struct err *err, const char *fmt, va_list ap)
{
	int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);

	if (n < 0)
		snprintf(err->msg, sizeof(err->msg), "(unformattable error)");
	else if ((size_t)n >= sizeof(err->msg))
		memcpy(err->msg + sizeof(err->msg) - 4, "...", 4);
}

int err_set(struct err *err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	err_vset(err, fmt, ap);
	va_end(ap);
	return -1;
}

int err_sys(struct err *err, const char *fmt, ...)
{
	int saved = errno;
	char what[ERR_LEN / 2];
	va_list ap;

	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	err_set(err, "%s: %s", what, strerror(saved));
	errno = saved;
	return -1;
}

int err_prefix(struct err *err, const char *fmt, ...)
{
	char prefix[ERR_LEN / 2], old[ERR_LEN];
	va_list ap;

	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	return err_set(err, "%s: %s", prefix, old);
}
