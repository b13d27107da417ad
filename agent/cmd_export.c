/*
 * cmd_export - "mxsync-agent export [--diff] [-o FILE] [--allow-shrink]":
 * the state on stdout, the changes since the acknowledged base (--diff),
 * or a signed snapshot file for a backup out of reach (-o, which takes
 * state_dir's lock and mints a serial); the export and guard steps push
 * shares (cmd.h)
 *
 * Fails with 75 when a source is down or does not settle, 1 on bad data or
 * the guard's refusal, 2 on usage or an unusable key.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "../formats/atomic.h"
#include "../formats/buf.h"
#include "../formats/delta.h"
#include "../formats/exitcode.h"
#include "../formats/fileio.h"
#include "../formats/snapshot.h"
#include "../keys/key.h"
#include "cmd.h"
#include "export.h"
#include "guard.h"
#include "source.h"

int cmd_export_settled(struct agent_config *cfg, struct state **st_r,
		       struct err *err)
{
	struct timespec t0, t1;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if ((rc = export_state(cfg, -1, st_r, err)) != SOURCE_BUSY)
			return rc;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if ((uint64_t)((t1.tv_sec - t0.tv_sec) * 1000 +
			       (t1.tv_nsec - t0.tv_nsec) / 1000000) >=
		    cfg->settle_timeout_ms) {
			err_prefix(err, "not settled after %llu s",
				   (unsigned long long)(cfg->settle_timeout_ms /
							1000));
			return SOURCE_DOWN;
		}
		usleep(200000);
	}
}

int cmd_export_guard(struct agent_config *cfg, const struct ledger *l,
		     const struct state *st)
{
	struct guard_report gr;
	struct state *base = NULL;
	struct err err;
	int rc = EXITCODE_OK;

	if (l->base_serial != 0 && (base = ledger_load_base(l, &err)) == NULL)
		fprintf(stderr,
			"mxsync-agent: no acknowledged base to compare "
			"with (%s); checking empty sources only\n",
			err.msg);
	if (guard_check(cfg, base, st, &gr) < 0) {
		fprintf(stderr,
			"mxsync-agent: refused by the agent's guard: "
			"%s%s%s\n",
			gr.msg, gr.examples[0] ? ", e.g. " : "", gr.examples);
		rc = EXITCODE_REFUSED;
	}
	state_free(base);
	return rc;
}

int cmd_export(struct agent_config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"diff", no_argument, NULL, 'd'},
	    {"output", required_argument, NULL, 'o'},
	    {"allow-shrink", no_argument, NULL, 'a'},
	    {NULL, 0, NULL, 0},
	};
	const char *out = NULL;
	int diff = 0, shrink = 0, c, rc, lockfd = -1;
	struct state *st = NULL, *base = NULL;
	struct ledger *l = NULL;
	struct key_secret *sk = NULL;
	struct export_snap snap;
	struct buf b = BUF_INIT;
	struct err err;
	size_t adds, removes;
	uint64_t serial;

	memset(&snap, 0, sizeof(snap));
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			diff = 1;
			break;
		case 'o':
			out = optarg;
			break;
		case 'a':
			shrink = 1;
			break;
		default:
			cmd_usage();
			return EXITCODE_USAGE;
		}
	}
	if (optind != argc || (diff && out != NULL)) {
		cmd_usage();
		return EXITCODE_USAGE;
	}
	if ((rc = cmd_export_settled(cfg, &st, &err)) < 0) {
		fprintf(stderr, "mxsync-agent: export failed: %s\n", err.msg);
		return cmd_source_exit(rc);
	}
	cmd_warn_unlisted(cfg);
	rc = EXITCODE_TEMP;
	if (diff) {
		/*
		 * A running daemon may replace the base between our reading
		 * the ledger and the base file: read both again, a few times.
		 */
		for (c = 0; c < 3 && base == NULL; c++) {
			ledger_free(l);
			if ((l = ledger_load(cfg->state_dir, &err)) == NULL)
				goto fail;
			if (l->base_serial == 0)
				break;
			base = ledger_load_base(l, &err);
		}
		if (base == NULL && l->base_serial != 0)
			fprintf(stderr,
				"mxsync-agent: no usable delta base (%s); "
				"showing the whole state\n",
				err.msg);
		if (base == NULL) {
			/* Nothing pushed yet: the whole state is new. */
			if ((base = state_new()) == NULL ||
			    state_finish(base, NULL, &err) < 0)
				goto fail;
		}
		if (delta_compute(base, st, &b, &adds, &removes, &err) < 0)
			goto fail;
		if (fileio_write_all(1, "stdout", b.data ? b.data : "", b.len,
				     &err) < 0)
			goto fail;
		fprintf(stderr,
			"mxsync-agent: %zu added, %zu removed since "
			"serial %" PRIu64 "\n",
			adds, removes, l->base_serial);
	} else if (out != NULL) {
		if ((sk = key_load_secret(cfg->key, &err)) == NULL) {
			rc = EXITCODE_USAGE;
			goto fail;
		}
		/* The serial it mints must not collide with a daemon's. */
		if ((lockfd = ledger_lock(cfg->state_dir, &err)) < 0 ||
		    atomic_cleanup_dir(cfg->state_dir, &err) < 0 ||
		    (l = ledger_load(cfg->state_dir, &err)) == NULL)
			goto fail;
		if (!shrink && (rc = cmd_export_guard(cfg, l, st)) != 0)
			goto done;
		rc = EXITCODE_TEMP;
		if (ledger_next_serial(l, 0, &serial, &err) < 0 ||
		    export_make(cfg, sk, st, NULL, NULL, NULL, 0, serial,
				shrink, &snap, &err) < 0 ||
		    snapshot_write(out, snap.manifest, snap.mlen, snap.sig,
				   snap.body, snap.blen, &err) < 0)
			goto fail;
		fprintf(stderr,
			"mxsync-agent: wrote %s: serial %" PRIu64
			", %zu domains, %zu recipients%s\n",
			out, serial, state_domain_count(st),
			state_recipient_count(st),
			shrink ? ", allow_shrink" : "");
	} else if (state_write_fd(st, 1, &err) < 0)
		goto fail;
	rc = EXITCODE_OK;
	goto done;
fail:
	fprintf(stderr, "mxsync-agent: %s\n", err.msg);
done:
	buf_free(&b);
	export_snap_clear(&snap);
	key_secret_free(sk);
	ledger_free(l);
	state_free(base);
	state_free(st);
	if (lockfd >= 0)
		close(lockfd);
	return rc;
}
