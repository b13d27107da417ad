/*
 * test-snapshot - snapshot file framing and base64: golden bytes, round
 * trip, and every refusal
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../formats/snapshot.h"

#include "test.h"

static char dir[] = "/tmp/mxsync-snapshot.XXXXXX";

static char *path_of(const char *name)
{
	static char p[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
	return p[i];
}

static void put(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f) {
		fwrite(data, 1, len, f);
		fclose(f);
	}
}

static void refuse(const char *data, size_t len, size_t max_body,
		   const char *want, const char *what)
{
	struct snapshot s;
	struct err err = {""};
	char *p = path_of("bad.snap");

	put(p, data, len);
	ok(snapshot_read(p, max_body, &s, &err) == -1, "refused: %s", what);
	has_str(err.msg, want, "message for %s", what);
	ok(s.manifest == NULL && s.body == NULL, "nothing returned for %s",
	   what);
}

int main(void)
{
	const char *top = getenv("MXSYNC_TOP");
	char gpath[4096], mpath[4096], tmp[16384];
	char *golden, *manifest, *b64, *written;
	unsigned char sig[SNAPSHOT_SIG_LEN], *bin;
	const char body[] = "D example.com smtp:[mx1.example.com]:25\n"
			    "R @example.com\n";
	size_t glen = 0, mlen = 0, wlen = 0, n, i, hdr;
	struct snapshot s;
	struct err err = {""};
	struct stat st;

	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		return test_done();
	}
	snprintf(gpath, sizeof(gpath), "%s/tests/golden/snapshot-full.snap",
		 top ? top : ".");
	snprintf(mpath, sizeof(mpath), "%s/tests/golden/manifest-full.json",
		 top ? top : ".");
	golden = test_slurp(gpath, &glen);
	manifest = test_slurp(mpath, &mlen);
	ok(golden && manifest, "golden files readable");
	if (!golden || !manifest)
		return test_done();
	for (i = 0; i < SNAPSHOT_SIG_LEN; i++)
		sig[i] = (unsigned char)(i * 3);

	/* write gives the golden bytes */
	ok(snapshot_write(path_of("a.snap"), manifest, mlen, sig, body,
			  strlen(body), &err) == 0,
	   "snapshot_write: %s", err.msg);
	written = test_slurp(path_of("a.snap"), &wlen);
	ok(written && wlen == glen && memcmp(written, golden, glen) == 0,
	   "written file equals the golden snapshot");
	ok(stat(path_of("a.snap"), &st) == 0 && (st.st_mode & 0777) == 0600,
	   "mode 0600 (a snapshot holds recipients)");
	free(written);

	/* read it back */
	ok(snapshot_read(gpath, 1024, &s, &err) == 0, "snapshot_read: %s",
	   err.msg);
	ok(s.manifest_len == mlen && memcmp(s.manifest, manifest, mlen) == 0 &&
	       s.manifest[mlen] == '\0',
	   "manifest read back");
	ok(memcmp(s.sig, sig, sizeof(sig)) == 0, "signature read back");
	ok(s.body_len == strlen(body) && memcmp(s.body, body, s.body_len) == 0,
	   "body read back");
	snapshot_clear(&s);
	snapshot_clear(&s);
	snapshot_clear(NULL);

	/* empty body */
	ok(snapshot_write(path_of("e.snap"), manifest, mlen, sig, NULL, 0,
			  &err) == 0 &&
	       snapshot_read(path_of("e.snap"), 0, &s, &err) == 0 &&
	       s.body_len == 0 && s.body == NULL,
	   "empty body");
	snapshot_clear(&s);

	/* a large body (its buffer is mapped in before the read) */
	{
		size_t blen = (12 << 20) + 12345, o;
		char *bb = malloc(blen);

		for (o = 0; bb != NULL && o < blen; o++)
			bb[o] = (char)('a' + (o * 7 + o / 4099) % 26);
		ok(bb != NULL &&
		       snapshot_write(path_of("big.snap"), manifest, mlen, sig,
				      bb, blen, &err) == 0 &&
		       snapshot_read(path_of("big.snap"), blen, &s, &err) == 0,
		   "a %zu-octet body is written and read: %s", blen, err.msg);
		ok(s.body_len == blen && memcmp(s.body, bb, blen) == 0,
		   "the large body reads back whole");
		snapshot_clear(&s);
		free(bb);
	}

	/* body exactly at max_body is fine; one over is refused */
	ok(snapshot_read(gpath, strlen(body), &s, &err) == 0,
	   "body at max_body accepted");
	snapshot_clear(&s);
	hdr = glen - strlen(body);
	refuse(golden, glen, strlen(body) - 1,
	       "body of 55 bytes is over "
	       "the limit of 54",
	       "body one over max_body");
	refuse(golden, glen, 3, "body of 55 bytes is over the limit of 3",
	       "body far over max_body");
	{
		char *big = malloc(glen + 20000);

		memcpy(big, golden, glen);
		memset(big + glen, 'R', 20000);
		refuse(big, glen + 20000, 10, "is over the limit of 10",
		       "huge body refused from its size, before it is read");
		free(big);
	}

	/* refusals */
	refuse("", 0, 1024, "bad magic", "empty file");
	refuse("mxsync-snapshot 2\n{}\n", 21, 1024, "bad magic", "wrong magic");
	refuse(golden, 10, 1024, "bad magic", "truncated magic");
	refuse(golden, 40, 1024, "truncated manifest line",
	       "truncated manifest");
	n = strlen(SNAPSHOT_MAGIC) + mlen + 1;
	refuse(golden, n + 20, 1024, "truncated signature line",
	       "truncated signature");
	refuse(golden, n, 1024, "truncated signature line",
	       "no signature line");
	memcpy(tmp, golden, glen);
	tmp[n + 3] = '*';
	refuse(tmp, glen, 1024, "signature line is not base64 of 64 bytes",
	       "bad base64 in the signature");
	memcpy(tmp, golden, n);
	b64 = snapshot_b64(sig, 63);
	snprintf(tmp + n, sizeof(tmp) - n, "%s\nbody", b64);
	free(b64);
	refuse(tmp, strlen(tmp), 1024,
	       "signature line is not base64 of 64 "
	       "bytes",
	       "63-byte signature");
	snprintf(tmp, sizeof(tmp), "%s\n", SNAPSHOT_MAGIC);
	refuse(tmp, strlen(tmp), 1024, "empty or malformed manifest line",
	       "empty manifest line");
	memcpy(tmp, SNAPSHOT_MAGIC, strlen(SNAPSHOT_MAGIC));
	memset(tmp + strlen(SNAPSHOT_MAGIC), 'x', 5000);
	refuse(tmp, strlen(SNAPSHOT_MAGIC) + 5000, 1024,
	       "manifest line over 4096 bytes", "oversize manifest line");
	ok(snapshot_read(path_of("missing"), 1024, &s, &err) == -1 &&
	       strstr(err.msg, "No such file"),
	   "missing file: %s", err.msg);
	ok(snapshot_read(dir, 1024, &s, &err) == -1, "directory refused");

	/* write refuses a manifest with a newline */
	ok(snapshot_write(path_of("n.snap"), "{\n}", 3, sig, "", 0, &err) ==
		   -1 &&
	       strstr(err.msg, "one line"),
	   "manifest with a newline refused");
	ok(access(path_of("n.snap"), F_OK) != 0, "nothing written");
	ok(snapshot_write(path_of("nodir/x.snap"), manifest, mlen, sig, "", 0,
			  &err) == -1 &&
	       strstr(err.msg, "No such file"),
	   "write into a missing dir fails: %s", err.msg);

	/* base64 */
	b64 = snapshot_b64("hello", 5);
	is_str(b64, "aGVsbG8=", "base64 with padding");
	bin = snapshot_unb64(b64, strlen(b64), &n, &err);
	ok(bin && n == 5 && memcmp(bin, "hello", 6) == 0,
	   "base64 round trip, NUL-terminated");
	free(bin);
	free(b64);
	ok(snapshot_unb64("aGVsbG8", 7, &n, &err) == NULL, "missing padding "
							   "refused");
	ok(snapshot_unb64("aGVsbG8=x", 9, &n, &err) == NULL,
	   "trailing byte refused");
	ok(snapshot_unb64("aGVs bG8=", 9, &n, &err) == NULL,
	   "white space refused");
	ok(snapshot_unb64("aGVsbG8_", 8, &n, &err) == NULL,
	   "URL-safe alphabet refused");
	bin = snapshot_unb64("", 0, &n, &err);
	ok(bin && n == 0, "empty base64");
	free(bin);

	(void)hdr;
	unlink(path_of("a.snap"));
	unlink(path_of("e.snap"));
	unlink(path_of("bad.snap"));
	rmdir(dir);
	free(golden);
	free(manifest);
	return test_done();
}
