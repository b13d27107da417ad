/*
 * norm_impl - what norm.c lends the route check (norm_route.c): the escaped
 * form of a value for a message, and the host name rules.  Private to
 * those files.
 */
#ifndef MXSYNC_FORMATS_NORM_IMPL_H
#define MXSYNC_FORMATS_NORM_IMPL_H

#include <stddef.h>

#include "err.h"

/* the octets of a value a message shows, before "..." */
#define NORM_SHOW_MAX 80

/* norm_show - escape a value for a message ("..." when cut short) */
const char *norm_show(const char *in, size_t len, char *out, size_t outsize);

/*
 * norm_hostname - a folded domain is a host name: dot-separated labels of
 * letters, digits and inner hyphens, or labels that IDNA (UTS #46, the
 * rules of the SMTPUTF8 code in Postfix) turns into such labels; the last
 * label is not all digits (so no IP address passes as a domain).
 */
int norm_hostname(const char *d, size_t len, const char *whole, size_t wlen,
		  struct err *err);

#endif
