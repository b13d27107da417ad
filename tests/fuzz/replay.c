/*
 * replay - run a fuzz harness over input files, without libFuzzer
 *
 *	fuzz-NAME FILE|DIR ...
 *
 * Every file given, and every file in a directory given, is passed to
 * LLVMFuzzerTestOneInput() once.  Built with -fsanitize=address,undefined
 * this is what "make check" runs over tests/fuzz/corpus and
 * tests/fuzz/regress: a crash, a sanitizer report or a broken promise ends
 * the run with a non-zero status.  Exit 0 when every input ran, 2 when an
 * input cannot be read.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* replay_file - one input; -1 when it cannot be read */
static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;
	int rc = -1;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0)
		goto out;
	/* a copy of exactly the input's size, so reads past it are caught */
	if ((buf = malloc(n > 0 ? (size_t)n : 1)) == NULL ||
	    fread(buf, 1, (size_t)n, f) != (size_t)n)
		goto out;
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	rc = 0;
out:
	if (rc < 0)
		fprintf(stderr, "replay: cannot read %s\n", path);
	free(buf);
	if (f != NULL)
		fclose(f);
	return rc;
}

int main(int argc, char **argv)
{
	struct dirent **names;
	struct stat sb;
	char path[4096];
	int i, k, n, runs = 0, bad = 0;

	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &sb) < 0) {
			fprintf(stderr, "replay: %s: missing\n", argv[i]);
			bad = 1;
			continue;
		}
		if (!S_ISDIR(sb.st_mode)) {
			bad |= replay_file(argv[i]) < 0;
			runs++;
			continue;
		}
		n = scandir(argv[i], &names, NULL, alphasort);
		for (k = 0; k < n; k++) {
			snprintf(path, sizeof(path), "%s/%s", argv[i],
				 names[k]->d_name);
			if (names[k]->d_name[0] != '.' &&
			    stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
				bad |= replay_file(path) < 0;
				runs++;
			}
			free(names[k]);
		}
		if (n >= 0)
			free(names);
	}
	printf("replay: %d inputs\n", runs);
	return bad ? 2 : 0;
}
