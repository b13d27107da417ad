/*
 * cdbw - build, validate and install the three Postfix CDB maps
 *
 * Owns relay_domains.cdb, relay_recipients.cdb and transport.cdb.  Records
 * go in with tinycdb's cdb_make_add() in canonical order (the states are
 * de-duplicated already, so no duplicate check is needed, and the bytes are
 * those of "postmap cdb:" for the same records).  Keys carry no trailing NUL
 * and no value is ever empty ("OK", or the domain's nexthop).
 *
 * Failure: the format's 4 GiB limit is checked before anything is written;
 * each temporary file is read back by cdbw_check.c before any rename.  On
 * any failure before the renames every temporary file is removed and the
 * live maps are untouched; a rename that fails leaves each map whole (old or
 * new), which is safe because every recipient's domain is in its own
 * generation's domain set.
 *
 * Security: a corrupt or truncated map makes Postfix's smtpd die, so a map
 * is renamed into place only after the full validation above.  The files are
 * created 0644 and never hard-linked.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cdb.h>

#include "atomic.h"
#include "cdbw_impl.h"
#include "thread.h"

static const char *const cdbw_names[CDBW_NMAPS] = {
    CDBW_RELAY_DOMAINS,
    CDBW_RELAY_RECIPIENTS,
    CDBW_TRANSPORT,
};

/*
 * The order of the renames: transport, relay_recipients, relay_domains.  A
 * new domain is relayed only once its route and its recipients are in
 * place, so a crash between two renames never lets a new domain accept
 * mail without its transport.
 */
static const int cdbw_rename_order[CDBW_NMAPS] = {
    CDBW_K_TRANSPORT,
    CDBW_K_RECIPIENTS,
    CDBW_K_DOMAINS,
};

/*
 * A map of this many records has its expected records listed on a second
 * thread while it is written (the one second-core job that measured its
 * keep, see README "Scale"); build with -DCDBW_FILL_THREAD=0 to switch it off.
 */
#ifndef CDBW_FILL_THREAD
#define CDBW_FILL_THREAD 1
#endif
#define CDBW_THREAD_MIN 65536
/* octets written between two starts of writeback */
#define CDBW_WRITEBACK (8ULL << 20)

uint64_t cdbw_size(const struct state *const *states, size_t n,
		   enum cdbw_kind kind, uint64_t *records_r)
{
	uint64_t size = CDBW_HEADER, records = 0;
	const char *k, *v;
	size_t s, i, cnt, klen, vlen;

	for (s = 0; s < n; s++) {
		cnt = cdbw_count(states[s], kind);
		for (i = 0; i < cnt; i++) {
			cdbw_record(states[s], kind, i, &k, &klen, &v, &vlen);
			size += 8 + 16 + (uint64_t)klen + vlen;
		}
		records += cnt;
	}
	if (records_r)
		*records_r = records;
	return size;
}

void cdbw_sizes(const struct state *const *states, size_t n,
		uint64_t *domains_r, uint64_t *recipients_r,
		uint64_t *transport_r)
{
	if (domains_r)
		*domains_r = cdbw_size(states, n, CDBW_K_DOMAINS, NULL);
	if (recipients_r)
		*recipients_r = cdbw_size(states, n, CDBW_K_RECIPIENTS, NULL);
	if (transport_r)
		*transport_r = cdbw_size(states, n, CDBW_K_TRANSPORT, NULL);
}

/* cdbw_filler - cdbw_expect_fill as a job for the second thread */
struct cdbw_filler {
	struct cdbw_expect *e;
	const char *name;
	struct thread th;
	int rc;
	struct err err;
};

static void cdbw_filler_run(void *arg)
{
	struct cdbw_filler *f = arg;

	f->rc = cdbw_expect_fill(f->e, f->name, &f->err);
}

/*
 * cdbw_build - write one map to af's temporary file and validate it; for a
 * large map the expected records are listed on a second thread meanwhile
 */
static int cdbw_build(struct atomic_file *af, struct cdbw_expect *e,
		      struct err *err)
{
	struct cdbw_filler f;
	struct cdb_make cm;
	const char *k, *v;
	size_t s, i, cnt, klen, vlen;
	uint64_t wpos = CDBW_HEADER, kicked = 0;
	int started = 0, rc = -1;

	memset(&f, 0, sizeof(f));
	f.e = e;
	f.name = af->tmp;
	if (CDBW_FILL_THREAD && e->nrec >= CDBW_THREAD_MIN)
		thread_start(&f.th, cdbw_filler_run, &f);
	else
		cdbw_filler_run(&f);
	if (cdb_make_start(&cm, af->fd) < 0) {
		err_sys(err, "cdb_make_start(%s)", af->tmp);
		goto out;
	}
	started = 1;
	for (s = 0; s < e->n; s++) {
		cnt = cdbw_count(e->states[s], e->kind);
		for (i = 0; i < cnt; i++) {
			cdbw_record(e->states[s], e->kind, i, &k, &klen, &v,
				    &vlen);
			if (cdb_make_add(&cm, k, (unsigned)klen, v,
					 (unsigned)vlen) < 0) {
				err_sys(err, "write(%s)", af->tmp);
				goto out;
			}
			/*
			 * Start writing back what is written so far: the
			 * disk works while records are added and checked,
			 * and the fsync before the rename waits less.
			 */
			wpos += 8 + klen + vlen;
			if (wpos - kicked >= CDBW_WRITEBACK) {
				(void)sync_file_range(af->fd, (off_t)kicked,
						      (off_t)(wpos - kicked),
						      SYNC_FILE_RANGE_WRITE);
				kicked = wpos;
			}
		}
	}
	started = 0;
	if (cdb_make_finish(&cm) < 0) {
		err_sys(err, "write(%s)", af->tmp);
		goto out;
	}
	if (kicked > 0)
		(void)sync_file_range(af->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	thread_wait(&f.th);
	if (f.rc < 0) {
		*err = f.err;
		goto out;
	}
	if (cdbw_check(af->fd, af->tmp, e, err) < 0)
		goto out;
	rc = 0;
out:
	/*
	 * tinycdb frees its record lists only in cdb_make_finish(); after a
	 * failed add call it for that alone (the temp file is discarded).
	 */
	if (started)
		(void)cdb_make_finish(&cm);
	thread_wait(&f.th);
	return rc;
}

int cdbw_path(char *buf, size_t size, const char *dir, int m, struct err *err)
{
	int k = snprintf(buf, size, "%s/%s.cdb", dir, cdbw_names[m]);

	if (k < 0 || (size_t)k >= size)
		return err_set(err, "%s: directory name too long", dir);
	return 0;
}

/* cdbw_one - build, validate and sync map m in af[m] */
static int cdbw_one(struct atomic_file *af, struct cdbw_expect *e,
		    const char *dir, int m, struct err *err)
{
	char path[4096];

	if (cdbw_path(path, sizeof(path), dir, m, err) < 0 ||
	    atomic_open(&af[m], path, 0644, err) < 0 ||
	    cdbw_build(&af[m], &e[m], err) < 0 || atomic_sync(&af[m], err) < 0)
		return -1;
	cdbw_expect_free(&e[m]);
	return 0;
}

int cdbw_install(const struct state *const *states, size_t n, const char *dir,
		 uint64_t limit, struct err *err)
{
	return cdbw_install_gated(states, n, dir, limit, NULL, NULL, err);
}

int cdbw_install_gated(const struct state *const *states, size_t n,
		       const char *dir, uint64_t limit,
		       int (*gate)(void *arg, struct err *err), void *arg,
		       struct err *err)
{
	struct atomic_file af[CDBW_NMAPS];
	struct cdbw_expect e[CDBW_NMAPS];
	char name[64];
	int m, rc = -1;

	memset(e, 0, sizeof(e));
	for (m = 0; m < CDBW_NMAPS; m++)
		af[m] = (struct atomic_file){-1, NULL, NULL};

	/* the format's limit, before anything is written */
	for (m = 0; m < CDBW_NMAPS; m++) {
		snprintf(name, sizeof(name), "%s.cdb", cdbw_names[m]);
		if (cdbw_expect_init(&e[m], states, n, (enum cdbw_kind)m, limit,
				     name, err) < 0)
			goto out;
	}
	for (m = 0; m < CDBW_NMAPS; m++)
		if (cdbw_one(af, e, dir, m, err) < 0)
			goto out;
	/* all three built, validated and on disk: now replace the live ones */
	if (gate != NULL && gate(arg, err) < 0)
		goto out;
	for (m = 0; m < CDBW_NMAPS; m++)
		if (atomic_commit(&af[cdbw_rename_order[m]], err) < 0)
			goto out;
	rc = 0;
out:
	for (m = 0; m < CDBW_NMAPS; m++) {
		atomic_abort(&af[m]);
		cdbw_expect_free(&e[m]);
	}
	return rc;
}
