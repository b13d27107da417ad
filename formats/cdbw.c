/*
 * cdbw - build, validate and install the three Postfix CDB maps
 *
 * Owns relay_domains.cdb, relay_recipients.cdb (or its shards,
 * relay_recipients-SS.cdb, cdbw.h) and transport.cdb.  An install builds the
 * maps a plan names (a delta rebuilds only the shards it touches).  Records
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
 * generation's domain set, renames go transport, recipients, relay_domains,
 * and each recipient key lives in exactly one shard.
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

uint64_t cdbw_size(const struct state *const *states, size_t n,
		   enum cdbw_kind kind)
{
	return cdbw_size_sel(states, n, kind, NULL, -1, NULL);
}

uint64_t cdbw_size_sel(const struct state *const *states, size_t n,
		       enum cdbw_kind kind, const uint8_t *const *sel,
		       int shard, uint64_t *records_r)
{
	uint64_t size = CDBW_HEADER, records = 0;
	const char *k, *v;
	size_t s, i, cnt, klen, vlen;

	for (s = 0; s < n; s++) {
		cnt = cdbw_count(states[s], kind);
		for (i = cdbw_next(sel, shard, s, 0, cnt); i < cnt;
		     i = cdbw_next(sel, shard, s, i + 1, cnt)) {
			cdbw_record(states[s], kind, i, &k, &klen, &v, &vlen);
			size += 8 + 16 + (uint64_t)klen + vlen;
			records++;
		}
	}
	if (records_r)
		*records_r = records;
	return size;
}

unsigned cdbw_shard_of(const char *key, size_t len, unsigned shards)
{
	return shards > 1 ? state_domain_hash(key, len) % shards : 0;
}

int cdbw_shard_name(char *buf, size_t size, unsigned shard, unsigned shards)
{
	int k = shards > 1 ? snprintf(buf, size, "%s-%02x",
				      CDBW_RELAY_RECIPIENTS, shard)
			   : snprintf(buf, size, "%s", CDBW_RELAY_RECIPIENTS);

	return k < 0 || (size_t)k >= size ? -1 : 0;
}

uint8_t *cdbw_shard_sel(const struct state *st, unsigned shards)
{
	size_t i, n = state_recipient_count(st), klen;
	const char *k;
	uint8_t *sel = malloc(n > 0 ? n : 1);

	if (sel == NULL)
		return NULL;
	/*
	 * Runs of one domain are common in sorted order only by chance
	 * (keys sort by local part first), so every key is hashed.
	 */
	for (i = 0; i < n; i++) {
		state_recipient(st, i, &k, &klen);
		sel[i] = (uint8_t)cdbw_shard_of(k, klen, shards);
	}
	return sel;
}

void cdbw_sizes(const struct state *const *states, size_t n,
		uint64_t *domains_r, uint64_t *recipients_r,
		uint64_t *transport_r)
{
	if (domains_r)
		*domains_r = cdbw_size(states, n, CDBW_K_DOMAINS);
	if (recipients_r)
		*recipients_r = cdbw_size(states, n, CDBW_K_RECIPIENTS);
	if (transport_r)
		*transport_r = cdbw_size(states, n, CDBW_K_TRANSPORT);
}

/*
 * cdbw_build - list the map's expected records, write the map to af's
 * temporary file and validate it against them
 */
static int cdbw_build(struct atomic_file *af, struct cdbw_expect *e,
		      struct err *err)
{
	struct cdb_make cm;
	const char *k, *v;
	size_t klen, vlen;
	struct cdbw_iter it;
	int started = 0, rc = -1;

	if (cdbw_expect_fill(e, af->tmp, err) < 0)
		return -1;
	if (cdb_make_start(&cm, af->fd) < 0) {
		err_sys(err, "cdb_make_start(%s)", af->tmp);
		goto out;
	}
	started = 1;
	cdbw_iter_init(&it, e);
	while (cdbw_iter_next(&it, &k, &klen, &v, &vlen)) {
		if (cdb_make_add(&cm, k, (unsigned)klen, v, (unsigned)vlen) <
		    0) {
			err_sys(err, "write(%s)", af->tmp);
			goto out;
		}
	}
	started = 0;
	if (cdb_make_finish(&cm) < 0) {
		err_sys(err, "write(%s)", af->tmp);
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
	return rc;
}

int cdbw_path(char *buf, size_t size, const char *dir, int m, struct err *err)
{
	int k = snprintf(buf, size, "%s/%s.cdb", dir, cdbw_names[m]);

	if (k < 0 || (size_t)k >= size)
		return err_set(err, "%s: directory name too long", dir);
	return 0;
}

/*
 * cdbw_job - one map of a plan: its kind, its shard (-1: whole) and file
 * name, its temporary file and expected records
 */
struct cdbw_job {
	enum cdbw_kind kind;
	int shard;
	char name[64];
	struct atomic_file af;
	struct cdbw_expect e;
	int rc; /* of its build: 0, or -1 with err */
	struct err err;
};

/*
 * cdbw_jobs - the maps of plan in rename order (transport, recipients,
 * relay_domains) into a malloc'd array; *n_r is their count
 */
static struct cdbw_job *cdbw_jobs(const struct cdbw_plan *plan, int all,
				  size_t *n_r, struct err *err)
{
	struct cdbw_job *j;
	size_t n = 0;
	unsigned s, shards = plan->shards ? plan->shards : 1;

	*n_r = 0;
	if (shards > CDBW_SHARDS_MAX) {
		err_set(err, "%u shards: at most %d", shards, CDBW_SHARDS_MAX);
		return NULL;
	}
	j = calloc(shards + 3, sizeof(*j));
	if (j == NULL) {
		err_sys(err, "malloc");
		return NULL;
	}
	if (all || plan->domains) {
		j[n].kind = CDBW_K_TRANSPORT;
		j[n].shard = -1;
		snprintf(j[n++].name, sizeof(j->name), "%s", CDBW_TRANSPORT);
	}
	if (plan->legacy && shards > 1) {
		j[n].kind = CDBW_K_RECIPIENTS;
		j[n].shard = -1;
		snprintf(j[n++].name, sizeof(j->name), "%s",
			 CDBW_RELAY_RECIPIENTS);
	}
	for (s = 0; s < shards; s++) {
		if (!all && plan->touched != NULL && !plan->touched[s])
			continue;
		j[n].kind = CDBW_K_RECIPIENTS;
		j[n].shard = shards > 1 ? (int)s : -1;
		(void)cdbw_shard_name(j[n++].name, sizeof(j->name), s, shards);
	}
	if (all || plan->domains) {
		j[n].kind = CDBW_K_DOMAINS;
		j[n].shard = -1;
		snprintf(j[n++].name, sizeof(j->name), "%s",
			 CDBW_RELAY_DOMAINS);
	}
	for (s = 0; s < n; s++)
		j[s].af = (struct atomic_file){-1, NULL, NULL};
	*n_r = n;
	return j;
}

/* cdbw_sels - plan's selections, or ones computed into *own_r */
static const uint8_t *const *cdbw_sels(const struct state *const *states,
				       size_t n, const struct cdbw_plan *plan,
				       uint8_t ***own_r, struct err *err)
{
	size_t i;

	*own_r = NULL;
	if (plan->shards <= 1 || plan->sel != NULL || n == 0)
		return plan->sel;
	*own_r = calloc(n, sizeof(**own_r));
	if (*own_r == NULL)
		goto oom;
	for (i = 0; i < n; i++)
		if (((*own_r)[i] = cdbw_shard_sel(states[i], plan->shards)) ==
		    NULL)
			goto oom;
	return (const uint8_t *const *)*own_r;
oom:
	err_sys(err, "malloc");
	return NULL;
}

/* cdbw_job_init - the expected size of job j, packed when pk */
static int cdbw_job_init(struct cdbw_job *j, const struct state *const *states,
			 size_t n, const uint8_t *const *sel,
			 const struct cdbw_pack *pk, uint64_t limit,
			 const char *name, struct err *err)
{
	if (pk != NULL && j->kind == CDBW_K_RECIPIENTS && j->shard >= 0)
		return cdbw_expect_init_pack(
		    &j->e, pk[j->shard].buf, pk[j->shard].len,
		    pk[j->shard].nrec, limit, name, err);
	return cdbw_expect_init_sel(&j->e, states, n, j->kind, sel, j->shard,
				    limit, name, err);
}

/*
 * Maps are built in batches of at most this many, each batch's files open
 * until they are synced (so that a process limited to 64 descriptors can
 * still install)
 */
#define CDBW_BATCH 16

/*
 * The jobs of one plan and their directory, for thread_for(): a batch is
 * the jobs from the last one down, first to first + count - 1 of them
 */
struct cdbw_run {
	struct cdbw_job *j;
	size_t nj, first;
	const char *dir;
};

/* cdbw_run_job - the i-th job of the run's batch */
static struct cdbw_job *cdbw_run_job(const struct cdbw_run *run, size_t i)
{
	return &run->j[run->nj - 1 - (run->first + i)];
}

/*
 * cdbw_build_job - job i of the batch written to its temporary file and
 * validated, its writeback started; it stays open for cdbw_sync_job
 */
static void cdbw_build_job(void *arg, size_t i)
{
	const struct cdbw_run *run = arg;
	struct cdbw_job *j = cdbw_run_job(run, i);
	char path[4096];
	int k;

	j->rc = -1;
	k = snprintf(path, sizeof(path), "%s/%s.cdb", run->dir, j->name);
	if (k < 0 || (size_t)k >= sizeof(path)) {
		err_set(&j->err, "%s: directory name too long", run->dir);
		return;
	}
	if (atomic_open(&j->af, path, 0644, &j->err) < 0 ||
	    cdbw_build(&j->af, &j->e, &j->err) < 0)
		return;
	cdbw_expect_free(&j->e);
	/* the disk writes it while the next maps are built */
	(void)sync_file_range(j->af.fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	j->rc = 0;
}

/* cdbw_sync_job - job i of the batch on disk (and closed) */
static void cdbw_sync_job(void *arg, size_t i)
{
	const struct cdbw_run *run = arg;
	struct cdbw_job *j = cdbw_run_job(run, i);

	if (j->rc == 0 && atomic_sync(&j->af, &j->err) < 0)
		j->rc = -1;
}

/* cdbw_sels_free - what cdbw_sels() computed */
static void cdbw_sels_free(uint8_t **own, size_t n)
{
	size_t i;

	for (i = 0; own != NULL && i < n; i++)
		free(own[i]);
	free(own);
}

int cdbw_install_plan(const struct state *const *states, size_t n,
		      const char *dir, uint64_t limit,
		      const struct cdbw_plan *plan,
		      int (*gate)(void *arg, struct err *err), void *arg,
		      struct err *err)
{
	struct cdbw_job *j = NULL;
	const uint8_t *const *sel;
	uint8_t **own = NULL;
	struct cdbw_pack *pk = NULL;
	struct cdbw_run run;
	size_t nj = 0, m;
	int rc = -1;

	if ((j = cdbw_jobs(plan, 0, &nj, err)) == NULL)
		goto out;
	sel = cdbw_sels(states, n, plan, &own, err);
	if (plan->shards > 1 && n > 0 && sel == NULL)
		goto out;
	if (plan->shards > 1 && n > 0 &&
	    ((pk = calloc(plan->shards, sizeof(*pk))) == NULL ||
	     cdbw_packs(states, n, sel, plan->shards, plan->touched, pk, err) <
		 0)) {
		if (pk == NULL)
			err_sys(err, "malloc");
		goto out;
	}
	/* the format's limit, before anything is written */
	for (m = 0; m < nj; m++) {
		char name[80];

		snprintf(name, sizeof(name), "%s.cdb", j[m].name);
		if (cdbw_job_init(&j[m], states, n, sel, pk, limit, name, err) <
		    0) {
			rc = -2;
			goto out;
		}
	}
	/*
	 * A batch of maps built and validated, spread over the cores, then
	 * synced: the disk writes each map back while the next ones are
	 * built, so the fsyncs wait only for what is left.  Batches go in
	 * reverse rename order (relay_domains first: small failures first),
	 * and the first failure, in that order, ends the install.
	 */
	run.j = j;
	run.nj = nj;
	run.dir = dir;
	for (run.first = 0; run.first < nj; run.first += CDBW_BATCH) {
		size_t count =
		    nj - run.first < CDBW_BATCH ? nj - run.first : CDBW_BATCH;

		thread_for(count, cdbw_build_job, &run);
		thread_for(count, cdbw_sync_job, &run);
		for (m = 0; m < count; m++)
			if (cdbw_run_job(&run, m)->rc < 0) {
				*err = cdbw_run_job(&run, m)->err;
				goto out;
			}
	}
	/* all built, validated and on disk: now replace the live ones */
	if (gate != NULL && gate(arg, err) < 0)
		goto out;
	/*
	 * The directory is synced once before relay_domains (so that no
	 * crash or power loss keeps its rename without those before it) and
	 * once at the end, not after each shard.
	 */
	for (m = 0; m < nj; m++) {
		if (j[m].kind == CDBW_K_DOMAINS && m > 0 &&
		    atomic_fsync_dir(j[m].af.path, err) < 0) {
			rc = -1;
			goto out;
		}
		if (atomic_rename(&j[m].af, err) < 0)
			goto out;
		if (m + 1 == nj) {
			char last[4096];

			snprintf(last, sizeof(last), "%s/%s.cdb", dir,
				 j[m].name);
			/* replaced: a failed sync is a durability warning */
			(void)atomic_fsync_dir(last, err);
		}
	}
	rc = 0;
out:
	for (m = 0; m < nj; m++) {
		atomic_abort(&j[m].af);
		cdbw_expect_free(&j[m].e);
	}
	cdbw_packs_free(pk, plan->shards);
	free(j);
	cdbw_sels_free(own, n);
	return rc;
}

/* the checks of one plan, for thread_for() */
struct cdbw_verify_run {
	struct cdbw_job *j;
	const struct state *const *states;
	size_t n;
	const uint8_t *const *sel;
	const struct cdbw_pack *pk;
	const char *dir;
};

/* cdbw_verify_job - the live map of job m holds its expected records */
static void cdbw_verify_job(void *arg, size_t m)
{
	const struct cdbw_verify_run *run = arg;
	struct cdbw_job *j = &run->j[m];
	char path[4096];
	int fd, k;

	j->rc = -1;
	k = snprintf(path, sizeof(path), "%s/%s.cdb", run->dir, j->name);
	if (k < 0 || (size_t)k >= sizeof(path)) {
		err_set(&j->err, "%s: directory name too long", run->dir);
		return;
	}
	if (cdbw_job_init(j, run->states, run->n, run->sel, run->pk, CDBW_LIMIT,
			  path, &j->err) < 0 ||
	    cdbw_expect_fill(&j->e, path, &j->err) < 0)
		return;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		err_sys(&j->err, "open(%s)", path);
		return;
	}
	k = cdbw_check(fd, path, &j->e, &j->err);
	close(fd);
	cdbw_expect_free(&j->e);
	j->rc = k;
}

int cdbw_verify_plan(const struct state *const *states, size_t n,
		     const char *dir, const struct cdbw_plan *plan,
		     struct err *err)
{
	struct cdbw_job *j = NULL;
	const uint8_t *const *sel;
	uint8_t **own = NULL;
	struct cdbw_pack *pk = NULL;
	struct cdbw_verify_run run;
	size_t nj = 0, m;
	int rc = -1;

	if ((j = cdbw_jobs(plan, 1, &nj, err)) == NULL)
		goto out;
	sel = cdbw_sels(states, n, plan, &own, err);
	if (plan->shards > 1 && n > 0 && sel == NULL)
		goto out;
	if (plan->shards > 1 && n > 0 &&
	    ((pk = calloc(plan->shards, sizeof(*pk))) == NULL ||
	     cdbw_packs(states, n, sel, plan->shards, NULL, pk, err) < 0)) {
		if (pk == NULL)
			err_sys(err, "malloc");
		goto out;
	}
	/* every map checked, spread over the cores */
	run = (struct cdbw_verify_run){j, states, n, sel, pk, dir};
	thread_for(nj, cdbw_verify_job, &run);
	/* a difference is named as a check in reverse rename order would */
	for (m = nj; m-- > 0;)
		if (j[m].rc < 0) {
			*err = j[m].err;
			goto out;
		}
	rc = 0;
out:
	for (m = 0; m < nj; m++)
		cdbw_expect_free(&j[m].e);
	cdbw_packs_free(pk, plan->shards);
	free(j);
	cdbw_sels_free(own, n);
	return rc;
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
	struct cdbw_plan plan = {1, NULL, 0, NULL, 1};

	return cdbw_install_plan(states, n, dir, limit, &plan, gate, arg, err) <
		       0
		   ? -1
		   : 0;
}
