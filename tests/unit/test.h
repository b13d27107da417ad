/*
 * test.h - TAP output for unit tests: "ok N - name" / "not ok N - name".
 *
 * tests/run counts these lines.  A test binary exits 1 when any check
 * failed, so a crash or an early exit is a failure too.
 */
#ifndef MXSYNC_TEST_H
#define MXSYNC_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_n, test_failed;

#define ok(cond, ...)                                                     \
	do {                                                              \
		int ok_c_ = !!(cond);                                     \
		printf("%sok %d - ", ok_c_ ? "" : "not ", ++test_n);      \
		printf(__VA_ARGS__);                                      \
		printf("\n");                                             \
		if (!ok_c_) {                                             \
			test_failed++;                                    \
			printf("#   failed at %s:%d: %s\n", __FILE__,      \
			       __LINE__, #cond);                          \
		}                                                         \
		fflush(stdout);                                           \
	} while (0)

/* is_str - compare strings and show both on failure */
#define is_str(got, want, ...)                                            \
	do {                                                              \
		const char *is_g_ = (got), *is_w_ = (want);               \
		int is_c_ = is_g_ && is_w_ && strcmp(is_g_, is_w_) == 0;  \
		ok(is_c_, __VA_ARGS__);                                   \
		if (!is_c_)                                               \
			printf("#   got:  '%s'\n#   want: '%s'\n",        \
			       is_g_ ? is_g_ : "(null)",                  \
			       is_w_ ? is_w_ : "(null)");                 \
	} while (0)

/* has_str - got contains want */
#define has_str(got, want, ...)                                           \
	do {                                                              \
		const char *hs_g_ = (got), *hs_w_ = (want);               \
		int hs_c_ = hs_g_ && hs_w_ && strstr(hs_g_, hs_w_);       \
		ok(hs_c_, __VA_ARGS__);                                   \
		if (!hs_c_)                                               \
			printf("#   got:  '%s'\n#   want substring: '%s'\n", \
			       hs_g_ ? hs_g_ : "(null)",                  \
			       hs_w_ ? hs_w_ : "(null)");                 \
	} while (0)

static inline int test_done(void)
{
	printf("1..%d\n", test_n);
	return test_failed ? 1 : 0;
}

#endif
