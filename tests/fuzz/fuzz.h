/*
 * fuzz.h - what the harnesses share: the libFuzzer entry point, an input as
 * a file, and a small canonical base state
 *
 * Each tests/fuzz/fuzz-NAME.c defines LLVMFuzzerTestOneInput() for one
 * parser of network or file input.  "make fuzz" links it with libFuzzer;
 * "make check" links it with replay.c and runs the committed corpus and
 * regression inputs under AddressSanitizer and UBSan.  A harness aborts
 * (fuzz_assert) when the code breaks one of its own promises, so that a
 * wrong answer is found like a crash.
 */
#ifndef MXSYNC_FUZZ_H
#define MXSYNC_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define fuzz_assert(c)                                                         \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "%s:%d: broken promise: %s\n",         \
				__FILE__, __LINE__, #c);                       \
			abort();                                               \
		}                                                              \
	} while (0)

/*
 * fuzz_file - the input as an anonymous regular file; its path (good while
 * the fd is open) into path, the fd returned (-1 when none can be made)
 */
static inline int fuzz_file(const uint8_t *data, size_t size, char *path,
			    size_t psize)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);
	size_t done = 0;
	ssize_t n;

	if (fd < 0)
		return -1;
	while (done < size) {
		n = write(fd, data + done, size - done);
		if (n <= 0) {
			close(fd);
			return -1;
		}
		done += (size_t)n;
	}
	snprintf(path, psize, "/proc/self/fd/%d", fd);
	return fd;
}

/* FUZZ_BASE - a canonical state the delta and CDB harnesses start from */
#define FUZZ_BASE                                                              \
	"D a.example smtp:[mx1.a.example]:25\n"                                \
	"D b.example relay:[10.0.0.1]\n"                                       \
	"D xn--strae-oqa.example smtp:[mx.example]\n"                          \
	"R @b.example\n"                                                       \
	"R alice@a.example\n"                                                  \
	"R bob+x@a.example\n"                                                  \
	"R carol@b.example\n"                                                  \
	"R dave@xn--strae-oqa.example\n"

#endif
