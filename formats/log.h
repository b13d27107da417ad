/*
 * log - one line per event, to stderr or syslog
 *
 * The only module that writes to the terminal or the log; library code
 * returns errors and the programs' main functions and daemon loops call
 * these.  Lines never hold secrets or recipient lists.
 */
#ifndef MXSYNC_LOG_H
#define MXSYNC_LOG_H

#include <syslog.h>

/* log_open - ident is the program name; use_syslog 0 logs to stderr */
void log_open(const char *ident, int use_syslog);
/* log_set_verbose - also show LOG_DEBUG lines */
void log_set_verbose(int verbose);
void log_msg(int prio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
