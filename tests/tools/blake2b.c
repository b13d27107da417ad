/*
 * blake2b - the time libsodium's BLAKE2b (the hash mxsync uses) takes over
 * a file held in memory, for the floors of tests/bench/install
 *
 *	tool-blake2b FILE RUNS
 *
 * Prints the median of RUNS hashes of FILE's bytes, in milliseconds.  The
 * file is read once before the first run, so neither its read nor the
 * start of the program is in the figure.  Exit 0, 1 when FILE does not
 * load, 2 on usage errors.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../../formats/err.h"
#include "../../formats/fileio.h"

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	unsigned char h[32];
	char *data;
	size_t len;
	struct timespec t0, t1;
	struct err err;
	double *ms;
	int runs, i;

	if (argc != 3 || (runs = atoi(argv[2])) < 1) {
		fprintf(stderr, "usage: tool-blake2b FILE RUNS\n");
		return 2;
	}
	if (sodium_init() < 0 ||
	    fileio_read_all(argv[1], (size_t)-1, &data, &len, &err) < 0) {
		fprintf(stderr, "tool-blake2b: %s\n", err.msg);
		return 1;
	}
	if ((ms = calloc((size_t)runs, sizeof(*ms))) == NULL)
		return 1;
	for (i = 0; i < runs; i++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		crypto_generichash(h, sizeof(h), (const unsigned char *)data,
				   len, NULL, 0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms[i] = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
			(double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	}
	qsort(ms, (size_t)runs, sizeof(*ms), cmp);
	printf("%.1f\n", ms[runs / 2]);
	free(ms);
	free(data);
	return 0;
}
