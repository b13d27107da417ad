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

#define ok(cond, ...)                                                          \
	do {                                                                   \
		int ok_c_ = !!(cond);                                          \
		printf("%sok %d - ", ok_c_ ? "" : "not ", ++test_n);           \
		printf(__VA_ARGS__);                                           \
		printf("\n");                                                  \
		if (!ok_c_) {                                                  \
			test_failed++;                                         \
			printf("#   failed at %s:%d: %s\n", __FILE__,          \
			       __LINE__, #cond);                               \
		}                                                              \
		fflush(stdout);                                                \
	} while (0)

/* is_str - compare strings and show both on failure */
#define is_str(got, want, ...)                                                 \
	do {                                                                   \
		const char *is_g_ = (got), *is_w_ = (want);                    \
		int is_c_ = is_g_ && is_w_ && strcmp(is_g_, is_w_) == 0;       \
		ok(is_c_, __VA_ARGS__);                                        \
		if (!is_c_)                                                    \
			printf("#   got:  '%s'\n#   want: '%s'\n",             \
			       is_g_ ? is_g_ : "(null)",                       \
			       is_w_ ? is_w_ : "(null)");                      \
	} while (0)

/* has_str - got contains want */
#define has_str(got, want, ...)                                                \
	do {                                                                   \
		const char *hs_g_ = (got), *hs_w_ = (want);                    \
		int hs_c_ = hs_g_ && hs_w_ && strstr(hs_g_, hs_w_);            \
		ok(hs_c_, __VA_ARGS__);                                        \
		if (!hs_c_)                                                    \
			printf("#   got:  '%s'\n#   want substring: '%s'\n",   \
			       hs_g_ ? hs_g_ : "(null)",                       \
			       hs_w_ ? hs_w_ : "(null)");                      \
	} while (0)

/* test_slurp - a whole file, NUL-terminated (caller frees), or NULL */
static inline char *test_slurp(const char *path, size_t *len_r)
{
	FILE *f;
	char *buf;
	long n;

	if ((f = fopen(path, "rb")) == NULL) {
		printf("# cannot open %s\n", path);
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) {
		fclose(f);
		return NULL;
	}
	rewind(f);
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	fclose(f);
	*len_r = (size_t)n;
	return buf;
}

/* test_read_golden - tests/golden/NAME (below $MXSYNC_TOP), read whole, or NULL
 */
static inline char *test_read_golden(const char *name, size_t *len_r)
{
	const char *top = getenv("MXSYNC_TOP");
	char path[4096];

	snprintf(path, sizeof(path), "%s/tests/golden/%s", top ? top : ".",
		 name);
	return test_slurp(path, len_r);
}

static inline int test_done(void)
{
	printf("1..%d\n", test_n);
	return test_failed ? 1 : 0;
}

#endif
