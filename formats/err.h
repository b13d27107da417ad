/*
 * err - error messages returned by library code
 *
 * Library code never prints or exits.  A function that fails returns -1 and
 * fills the caller's struct err with one message of the form
 * "what(object): reason", e.g. "open(/var/lib/mxsync/x): Permission denied",
 * or "file:line: message" for input errors.  Only a program's main or daemon
 * loop logs the message.
 */
#ifndef MXSYNC_ERR_H
#define MXSYNC_ERR_H

#define ERR_LEN 1024

struct err {
	char msg[ERR_LEN];
};

/* err_set - replace the message (printf style); always returns -1 */
int err_set(struct err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* err_sys - "what: strerror(errno)"; always returns -1 */
int err_sys(struct err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* err_prefix - prepend "prefix: " to the current message; returns -1 */
int err_prefix(struct err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
