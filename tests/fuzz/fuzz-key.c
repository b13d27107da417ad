/*
 * fuzz-key - key files and public key fields: key_load_secret() of any
 * file (mode 0600, as a key file must be), and key_public_decode() of the
 * first two words of the input
 */
#include <fcntl.h>
#include <string.h>

#include "../../keys/key.h"
#include "fuzz.h"

static char fuzz_key_path[4096];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char pk[KEY_PUBLIC_LEN];
	struct key_secret *sk;
	struct err err;
	const char *p = (const char *)data, *sp;
	size_t done = 0;
	ssize_t n;
	int fd;

	if (fuzz_key_path[0] == '\0') {
		const char *tmp = getenv("TMPDIR");

		snprintf(fuzz_key_path, sizeof(fuzz_key_path),
			 "%s/fuzz-key.%ld", tmp ? tmp : "/tmp", (long)getpid());
		fuzz_assert(key_init(&err) == 0);
	}
	unlink(fuzz_key_path);
	fd = open(fuzz_key_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return 0;
	while (done < size && (n = write(fd, data + done, size - done)) > 0)
		done += (size_t)n;
	close(fd);
	sk = key_load_secret(fuzz_key_path, &err);
	if (sk != NULL) {
		char line[512];

		fuzz_assert(strlen(key_secret_id(sk)) == KEY_ID_LEN);
		fuzz_assert(key_secret_publine(sk, line, sizeof(line), &err) ==
			    0);
		key_secret_free(sk);
	}
	unlink(fuzz_key_path);
	sp = memchr(p, ' ', size);
	if (sp != NULL)
		(void)key_public_decode(p, (size_t)(sp - p), sp + 1,
					size - (size_t)(sp - p) - 1, pk, &err);
	return 0;
}
