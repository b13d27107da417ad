/*
 * ledger_base - the delta base on disk (see ledger.h): the state the
 * ledger's base_file names, written whole, and the steps that the base
 * took since, appended to its journal instead of writing it whole again
 *
 *	state_dir/base-FILE.state	canonical text of the state of serial
 *					FILE (l->base_file)
 *	state_dir/base-FILE.journal	l->journal_n steps, l->journal_len
 *					octets, each
 *
 *	mxsync-agent-step FROM TO HASH LEN\n<delta text of LEN octets>
 *
 * from the state of serial FROM to that of serial TO, whose state hash is
 * HASH (64 hex digits).  The steps are appended and fdatasynced before the
 * ledger names their end as its base_serial, so octets past journal_len
 * are what a crash left: they are written over by the next append.
 *
 * Security: the journal is only as trusted as state_dir, like the base file:
 * each step's result must hash to its HASH, and the last one to the
 * ledger's base_hash, or there is no base (and the backups get full
 * snapshots).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../formats/atomic.h"
#include "../formats/delta.h"
#include "../formats/fileio.h"
#include "../formats/manifest.h"
#include "ledger.h"

#define LEDGER_STEP_MAGIC "mxsync-agent-step "

/* ledger_base_path - state_dir/base-SERIAL.SUFFIX into buf */
static void ledger_base_path(const struct ledger *l, uint64_t serial,
			     const char *suffix, char *buf, size_t size)
{
	snprintf(buf, size, "%s/base-%llu.%s", l->dir,
		 (unsigned long long)serial, suffix);
}

/* ledger_base_unlink - the base file and journal of serial, if any */
static void ledger_base_unlink(const struct ledger *l, uint64_t serial)
{
	char path[PATH_MAX];

	ledger_base_path(l, serial, "state", path, sizeof(path));
	unlink(path);
	ledger_base_path(l, serial, "journal", path, sizeof(path));
	unlink(path);
}

int ledger_set_base(struct ledger *l, const struct state *st,
		    const unsigned char hash[STATE_HASH_LEN], uint64_t serial,
		    struct err *err)
{
	struct atomic_file af = {-1, NULL, NULL};
	struct ledger old = *l;
	char path[PATH_MAX];

	ledger_base_path(l, serial, "state", path, sizeof(path));
	if (atomic_open(&af, path, 0600, err) < 0)
		return -1;
	if (state_write_fd(st, af.fd, err) < 0 || atomic_commit(&af, err) < 0) {
		atomic_abort(&af);
		return -1;
	}
	atomic_abort(&af);
	l->base_serial = serial;
	l->base_file = serial;
	l->journal_len = 0;
	l->journal_n = 0;
	memcpy(l->base_hash, hash, STATE_HASH_LEN);
	if (ledger_save(l, err) < 0) {
		l->base_serial = old.base_serial;
		l->base_file = old.base_file;
		l->journal_len = old.journal_len;
		l->journal_n = old.journal_n;
		memcpy(l->base_hash, old.base_hash, STATE_HASH_LEN);
		if (old.base_file != serial)
			unlink(path);
		return -1;
	}
	/* The ledger names the new file now; the old one is garbage. */
	if (old.base_file != 0 && old.base_file != serial)
		ledger_base_unlink(l, old.base_file);
	else {
		/* the same file written again: its journal is behind it */
		ledger_base_path(l, serial, "journal", path, sizeof(path));
		unlink(path);
	}
	return 0;
}

int ledger_journal_due(const struct ledger *l, const struct state *base,
		       size_t len, size_t n)
{
	uint64_t cap = state_text_size(base) / 8;

	if (cap < ((uint64_t)1 << 20))
		cap = (uint64_t)1 << 20;
	return l->base_file == 0 || l->journal_n + n > LEDGER_JOURNAL_MAX_N ||
	       l->journal_len + len > cap;
}

int ledger_add_steps(struct ledger *l, const struct ledger_step *steps,
		     size_t n, struct err *err)
{
	char path[PATH_MAX], hdr[64 + 2 * STATE_HASH_LEN],
	    hex[2 * STATE_HASH_LEN + 1];
	struct ledger old = *l;
	uint64_t off = l->journal_len, at = l->base_serial;
	size_t i;
	int fd, k;

	for (i = 0; i < n; i++) {
		if (steps[i].from != at)
			return err_set(err,
				       "base step %zu starts at serial %" PRIu64
				       ", not at %" PRIu64,
				       i, steps[i].from, at);
		at = steps[i].to;
	}
	ledger_base_path(l, l->base_file, "journal", path, sizeof(path));
	if ((fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return err_sys(err, "open(%s)", path);
	if (lseek(fd, (off_t)off, SEEK_SET) < 0) {
		err_sys(err, "lseek(%s)", path);
		goto fail;
	}
	for (i = 0; i < n; i++) {
		manifest_hex(steps[i].hash, STATE_HASH_LEN, hex);
		k = snprintf(hdr, sizeof(hdr),
			     LEDGER_STEP_MAGIC "%" PRIu64 " %" PRIu64
					       " %s %zu\n",
			     steps[i].from, steps[i].to, hex, steps[i].len);
		if (fileio_write_all(fd, path, hdr, (size_t)k, err) < 0 ||
		    fileio_write_all(fd, path, steps[i].delta, steps[i].len,
				     err) < 0)
			goto fail;
		off += (uint64_t)k + steps[i].len;
	}
	/* what a crash left past the old end is gone with the append */
	if (ftruncate(fd, (off_t)off) < 0) {
		err_sys(err, "ftruncate(%s)", path);
		goto fail;
	}
	if (fdatasync(fd) < 0) {
		err_sys(err, "fdatasync(%s)", path);
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		err_sys(err, "close(%s)", path);
		goto fail;
	}
	fd = -1;
	if (old.journal_len == 0 && atomic_fsync_dir(path, err) < 0)
		goto fail;
	l->base_serial = at;
	memcpy(l->base_hash, steps[n - 1].hash, STATE_HASH_LEN);
	l->journal_len = off;
	l->journal_n += n;
	if (ledger_save(l, err) < 0) {
		l->base_serial = old.base_serial;
		memcpy(l->base_hash, old.base_hash, STATE_HASH_LEN);
		l->journal_len = old.journal_len;
		l->journal_n = old.journal_n;
		return -1;
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

void ledger_sweep_bases(const struct ledger *l)
{
	char keep[64], keepj[64], path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(keep, sizeof(keep), "base-%llu.state",
		 (unsigned long long)l->base_file);
	snprintf(keepj, sizeof(keepj), "base-%llu.journal",
		 (unsigned long long)l->base_file);
	if ((d = opendir(l->dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		int state = n > 6 && strcmp(de->d_name + n - 6, ".state") == 0;
		int journal =
		    n > 8 && strcmp(de->d_name + n - 8, ".journal") == 0;

		if (strncmp(de->d_name, "base-", 5) != 0 || n < 11 ||
		    (!state && !journal) ||
		    (l->base_serial != 0 && (strcmp(de->d_name, keep) == 0 ||
					     strcmp(de->d_name, keepj) == 0)))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", l->dir,
				     de->d_name) < sizeof(path))
			unlink(path);
	}
	closedir(d);
}

/*
 * ledger_replay - the steps of the journal at path (its first len octets)
 * applied to *st, which has serial *serial_r; both advance
 */
static int ledger_replay(const char *path, uint64_t len, struct state **st,
			 uint64_t *serial_r, struct err *err)
{
	unsigned char hash[STATE_HASH_LEN];
	unsigned long long from, to, blen;
	char *data = NULL, hex[2 * STATE_HASH_LEN + 1], line[160];
	size_t hl;
	int fd;
	const char *p, *end, *nl;
	struct state *next;
	int rc = -1;

	/* octets past len are what a crash left during an append */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return err_sys(err, "open(%s)", path);
	if ((data = malloc(len > 0 ? (size_t)len : 1)) == NULL) {
		err_set(err, "%s: out of memory", path);
		goto out;
	}
	if (fileio_pread_exact(fd, path, data, (size_t)len, 0, err) < 0)
		goto out;
	for (p = data, end = data + len; p < end; p = nl + 1 + blen) {
		hl = strlen(LEDGER_STEP_MAGIC);
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl != NULL && (size_t)(nl - p) < sizeof(line)) {
			memcpy(line, p, (size_t)(nl - p));
			line[nl - p] = '\0';
		} else
			line[0] = '\0';
		if (strncmp(line, LEDGER_STEP_MAGIC, hl) != 0 ||
		    sscanf(line + hl, "%llu %llu %64s %llu", &from, &to, hex,
			   &blen) != 4 ||
		    manifest_unhex(hex, strlen(hex), hash, STATE_HASH_LEN) <
			0 ||
		    blen > (unsigned long long)(end - nl - 1)) {
			err_set(err, "%s: bad step at octet %zu", path,
				(size_t)(p - data));
			goto out;
		}
		if (from != *serial_r) {
			err_set(err,
				"%s: a step from serial %llu follows serial "
				"%" PRIu64,
				path, from, *serial_r);
			goto out;
		}
		next = delta_apply(*st, NULL, nl + 1, (size_t)blen, hash, err);
		if (next == NULL) {
			err_prefix(err, "%s: step at octet %zu", path,
				   (size_t)(p - data));
			goto out;
		}
		state_free(*st);
		*st = next;
		*serial_r = to;
	}
	rc = 0;
out:
	close(fd);
	free(data);
	return rc;
}

struct state *ledger_load_base(const struct ledger *l, struct err *err)
{
	struct state *st;
	unsigned char h[STATE_HASH_LEN];
	char path[PATH_MAX];
	uint64_t serial = l->base_file;

	if (l->base_serial == 0) {
		err_set(err, "no base state");
		return NULL;
	}
	ledger_base_path(l, l->base_file, "state", path, sizeof(path));
	if ((st = state_load(path, err)) == NULL)
		return NULL;
	/* its leaves kept: the steps, and the next state, are hashed from
	 * them (state.h) */
	(void)state_hash_prepare(st);
	if (l->journal_len > 0) {
		ledger_base_path(l, l->base_file, "journal", path,
				 sizeof(path));
		if (ledger_replay(path, l->journal_len, &st, &serial, err) <
		    0) {
			state_free(st);
			return NULL;
		}
	}
	state_hash(st, h);
	if (serial != l->base_serial ||
	    memcmp(h, l->base_hash, STATE_HASH_LEN) != 0) {
		state_free(st);
		err_set(err, "%s: does not match the ledger", path);
		return NULL;
	}
	return st;
}
