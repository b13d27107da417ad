/*
 * fuzz-cdbcheck - the read-back check of a built map (cdbw_check) against
 * damaged files.  The maps of a fixed state are built once with
 * cdbw_install(); an input picks a map (first octet), may cut it short
 * (second octet, high bit set: keep that share of 127ths) and flips octets
 * (then triples: offset low, offset high, XOR mask).  The check must accept
 * the built file, and a file it accepts must give every record through
 * tinycdb's own cdb_find(), as Postfix would look it up.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include <cdb.h>

#include "../../formats/cdbw_impl.h"
#include "fuzz.h"

static struct state *fuzz_st;
static uint8_t *fuzz_map[CDBW_NMAPS];
static size_t fuzz_map_len[CDBW_NMAPS];
static const char *const fuzz_names[CDBW_NMAPS] = {
    "relay_domains",
    "relay_recipients",
    "transport",
};

/* fuzz_cdb_init - build the three maps and keep their bytes */
static void fuzz_cdb_init(void)
{
	char dir[4096], path[4200];
	const char *tmp = getenv("TMPDIR");
	const struct state *sts[1];
	struct err err;
	struct stat sb;
	int m, fd;

	fuzz_st = state_parse(FUZZ_BASE, strlen(FUZZ_BASE), &err);
	fuzz_assert(fuzz_st != NULL);
	sts[0] = fuzz_st;
	snprintf(dir, sizeof(dir), "%s/fuzz-cdb.XXXXXX", tmp ? tmp : "/tmp");
	fuzz_assert(mkdtemp(dir) != NULL);
	fuzz_assert(cdbw_install(sts, 1, dir, CDBW_LIMIT, &err) == 0);
	for (m = 0; m < CDBW_NMAPS; m++) {
		snprintf(path, sizeof(path), "%s/%s.cdb", dir, fuzz_names[m]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		fuzz_assert(fd >= 0 && fstat(fd, &sb) == 0);
		fuzz_map_len[m] = (size_t)sb.st_size;
		fuzz_map[m] = malloc(fuzz_map_len[m]);
		fuzz_assert(fuzz_map[m] != NULL &&
			    read(fd, fuzz_map[m], fuzz_map_len[m]) ==
				(ssize_t)fuzz_map_len[m]);
		close(fd);
		unlink(path);
	}
	rmdir(dir);
}

/* fuzz_cdb_finds - cdb_find() gives every record of the map its value */
static void fuzz_cdb_finds(int fd, enum cdbw_kind kind)
{
	const char *k, *v;
	size_t i, klen, vlen;
	struct cdb c;

	fuzz_assert(cdb_init(&c, fd) == 0);
	for (i = 0; i < cdbw_count(fuzz_st, kind); i++) {
		cdbw_record(fuzz_st, kind, i, &k, &klen, &v, &vlen);
		fuzz_assert(cdb_find(&c, k, (unsigned)klen) > 0);
		fuzz_assert(
		    cdb_datalen(&c) == vlen &&
		    memcmp(cdb_get(&c, vlen, cdb_datapos(&c)), v, vlen) == 0);
	}
	cdb_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct state *sts[1];
	struct cdbw_expect e;
	struct err err;
	uint8_t *img;
	size_t len, i, off;
	char path[64];
	int m, fd, same, rc;

	if (fuzz_st == NULL)
		fuzz_cdb_init();
	if (size < 2)
		return 0;
	m = data[0] % CDBW_NMAPS;
	len = fuzz_map_len[m];
	if (data[1] & 0x80)
		len = len * (data[1] & 0x7f) / 127;
	img = malloc(len ? len : 1);
	fuzz_assert(img != NULL);
	memcpy(img, fuzz_map[m], len);
	for (i = 2; i + 3 <= size; i += 3) {
		off = ((size_t)data[i] | (size_t)data[i + 1] << 8);
		if (len > 0)
			img[off % len] ^= data[i + 2];
	}
	same = len == fuzz_map_len[m] && memcmp(img, fuzz_map[m], len) == 0;
	fd = fuzz_file(img, len, path, sizeof(path));
	if (fd >= 0) {
		sts[0] = fuzz_st;
		fuzz_assert(cdbw_expect_init(&e, sts, 1, (enum cdbw_kind)m,
					     CDBW_LIMIT, fuzz_names[m],
					     &err) == 0 &&
			    cdbw_expect_fill(&e, fuzz_names[m], &err) == 0);
		rc = cdbw_check(fd, fuzz_names[m], &e, &err);
		fuzz_assert(!same || rc == 0);
		if (rc == 0)
			fuzz_cdb_finds(fd, (enum cdbw_kind)m);
		cdbw_expect_free(&e);
		close(fd);
	}
	free(img);
	return 0;
}
