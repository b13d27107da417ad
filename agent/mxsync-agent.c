/*
 * mxsync-agent - export the primary MX's valid domains and recipients and
 * push them, signed, to every backup MX
 *
 *	mxsync-agent [-c FILE] [-v] [-s] COMMAND [OPTIONS]
 *
 *	check-config			validate the file, key, paths
 *	export [--diff] [-o FILE] [--allow-shrink]
 *	push [--allow-shrink] [--full]	one shot to every backup
 *	run				the daemon
 *	sync-now [--wait] [--timeout S] [--allow-shrink]
 *					ask the daemon to push now
 *	status [--json]
 *	verify [--postfix DIR] [--sample N] [--json] [--list]
 *					compare the export with the primary's
 *					own Postfix tables
 *
 * Exit codes: 0 ok, 1 refused or invalid data (also by the agent's own
 * guard, guard.h), 2 usage or configuration, 75 temporary failure (a source
 * down or not settling, a backup unreachable, no daemon).
 *
 * Commands that take state_dir's lock (push, export -o) first remove the
 * temporary files a crash left there.
 *
 * Security: the secret key is loaded only by the commands that sign, and
 * freed (wiped) before exit; output and logs never hold secrets.
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
#include "../formats/log.h"
#include "../formats/manifest.h"
#include "../formats/snapshot.h"
#include "../formats/version.h"
#include "../keys/key.h"
#include "config.h"
#include "control.h"
#include "daemon.h"
#include "export.h"
#include "guard.h"
#include "ledger.h"
#include "push.h"
#include "source.h"
#include "sync.h"
#include "verify.h"

/* the short names of formats/exitcode.h used here */
#define EX_REFUSED EXITCODE_REFUSED
#define EX_USAGE EXITCODE_USAGE
#define EX_TEMP EXITCODE_TEMP

static void agent_usage(void)
{
	fprintf(stderr,
		"usage: mxsync-agent [-c FILE] [-v] [-s] COMMAND [OPTIONS]\n"
		"       mxsync-agent --version\n"
		"  check-config\n"
		"  export [--diff] [-o FILE] [--allow-shrink]\n"
		"  push [--allow-shrink] [--full]\n"
		"  run\n"
		"  sync-now [--wait] [--timeout SECONDS] [--allow-shrink]\n"
		"  status [--json]\n"
		"  verify [--postfix DIR] [--sample N] [--json] [--list]\n");
}

/* agent_source_exit - the exit code for a failed export */
/* agent_warn_unlisted - one line per source that dropped recipients */
static void agent_warn_unlisted(const struct agent_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nsources; i++)
		if (cfg->sources[i]->unlisted > 0)
			fprintf(stderr,
				"mxsync-agent: source %s: %zu "
				"recipients dropped, their domain is listed by "
				"no source (e.g. %s)\n",
				cfg->sources[i]->name,
				cfg->sources[i]->unlisted,
				cfg->sources[i]->unlisted_example);
	for (i = 0; i < cfg->nsources; i++)
		if (cfg->sources[i]->note[0] != '\0')
			fprintf(stderr, "mxsync-agent: source %s: %s\n",
				cfg->sources[i]->name, cfg->sources[i]->note);
}

static int agent_source_exit(int rc)
{
	return rc == SOURCE_DOWN || rc == SOURCE_BUSY ? EX_TEMP : EX_REFUSED;
}

/*
 * agent_export_settled - export_state, again every 200 ms while a file
 * changes under the read, up to settle_timeout; then SOURCE_DOWN
 */
static int agent_export_settled(struct agent_config *cfg, struct state **st_r,
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

/*
 * agent_guard - the agent's guard against the acknowledged base (l's);
 * 0 to go on, else prints the refusal with its examples and returns 1
 */
static int agent_guard(struct agent_config *cfg, const struct ledger *l,
		       const struct state *st)
{
	struct guard_report gr;
	struct state *base = NULL;
	struct err err;
	int rc = 0;

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
		rc = EX_REFUSED;
	}
	state_free(base);
	return rc;
}

static int agent_export(struct agent_config *cfg, int argc, char **argv)
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
			agent_usage();
			return EX_USAGE;
		}
	}
	if (optind != argc || (diff && out != NULL)) {
		agent_usage();
		return EX_USAGE;
	}
	if ((rc = agent_export_settled(cfg, &st, &err)) < 0) {
		fprintf(stderr, "mxsync-agent: export failed: %s\n", err.msg);
		return agent_source_exit(rc);
	}
	agent_warn_unlisted(cfg);
	rc = EX_TEMP;
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
			rc = EX_USAGE;
			goto fail;
		}
		/* The serial it mints must not collide with a daemon's. */
		if ((lockfd = ledger_lock(cfg->state_dir, &err)) < 0 ||
		    atomic_cleanup_dir(cfg->state_dir, &err) < 0 ||
		    (l = ledger_load(cfg->state_dir, &err)) == NULL)
			goto fail;
		if (!shrink && (rc = agent_guard(cfg, l, st)) != 0)
			goto done;
		rc = EX_TEMP;
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
	rc = 0;
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

static int agent_push(struct agent_config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"allow-shrink", no_argument, NULL, 'a'},
	    {"full", no_argument, NULL, 'f'},
	    {NULL, 0, NULL, 0},
	};
	struct state *st = NULL;
	struct ledger *l = NULL;
	struct key_secret *sk = NULL;
	struct pusher *p = NULL;
	struct sync s;
	struct push_result res;
	struct err err;
	int shrink = 0, full = 0, c, rc, refused = 0, unreachable = 0;
	int lockfd = -1;
	size_t i;
	long r;

	memset(&s, 0, sizeof(s));
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'a')
			shrink = 1;
		else if (c == 'f')
			full = 1;
		else {
			agent_usage();
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		agent_usage();
		return EX_USAGE;
	}
	if (cfg->nbackups == 0) {
		fprintf(stderr, "mxsync-agent: %s: no [backup NAME] section\n",
			cfg->path);
		return EX_USAGE;
	}
	if ((sk = key_load_secret(cfg->key, &err)) == NULL) {
		fprintf(stderr, "mxsync-agent: %s\n", err.msg);
		return EX_USAGE;
	}
	if ((lockfd = ledger_lock(cfg->state_dir, &err)) < 0) {
		fprintf(stderr, "mxsync-agent: %s\n", err.msg);
		key_secret_free(sk);
		return EX_TEMP;
	}
	rc = EX_TEMP;
	if (atomic_cleanup_dir(cfg->state_dir, &err) < 0)
		fprintf(stderr, "mxsync-agent: %s\n", err.msg);
	if ((rc = agent_export_settled(cfg, &st, &err)) < 0) {
		fprintf(stderr,
			"mxsync-agent: export failed, nothing pushed: "
			"%s\n",
			err.msg);
		rc = agent_source_exit(rc);
		goto out;
	}
	agent_warn_unlisted(cfg);
	rc = EX_TEMP;
	if ((l = ledger_load(cfg->state_dir, &err)) == NULL ||
	    (p = push_new(&err)) == NULL ||
	    sync_init(&s, cfg, sk, l, p, &err) < 0) {
		fprintf(stderr, "mxsync-agent: %s\n", err.msg);
		goto out;
	}
	if (!shrink && (rc = agent_guard(cfg, l, st)) != 0) {
		fprintf(stderr, "mxsync-agent: nothing pushed\n");
		goto out;
	}
	rc = EX_TEMP;
	ledger_sweep_bases(l);
	s.allow_shrink = shrink;
	s.force_full = full;
	sync_set_state(&s, st);
	st = NULL;
	for (i = 0; i < s.n; i++)
		if (sync_start(&s, i, full, &err) < 0) {
			fprintf(stderr, "mxsync-agent: backup %s: %s\n",
				s.b[i].conf->name, err.msg);
			goto out;
		}
	while (push_running(p) > 0) {
		if (push_wait(p, NULL, 0, 1000, &err) < 0) {
			fprintf(stderr, "mxsync-agent: %s\n", err.msg);
			goto out;
		}
		while ((r = sync_finish(&s, &res)) != -1) {
			if (r < 0)
				continue;
			if (res.kind == PUSH_OK)
				printf("%s: serial %" PRIu64 " acknowledged "
				       "(%s, %" PRIu64 " body bytes)\n",
				       s.b[r].conf->name, s.b[r].lb->serial,
				       s.b[r].sent_kind == MANIFEST_DELTA
					   ? "delta"
					   : "full",
				       res.bytes);
			else {
				fprintf(stderr,
					"mxsync-agent: backup %s %s "
					"serial %" PRIu64 ": %s\n",
					s.b[r].conf->name,
					push_kind_name(res.kind),
					s.b[r].sent_serial, res.msg);
				if (res.kind == PUSH_UNREACHABLE)
					unreachable++;
				else
					refused++;
			}
		}
	}
	rc = refused ? EX_REFUSED : unreachable ? EX_TEMP : 0;
	/* The acknowledged state is the next push's delta base. */
	if (sync_save_base(&s, &err) < 0)
		fprintf(stderr,
			"mxsync-agent: cannot store the delta base: "
			"%s\n",
			err.msg);
out:
	sync_clear(&s);
	push_free(p);
	ledger_free(l);
	state_free(st);
	key_secret_free(sk);
	if (lockfd >= 0)
		close(lockfd);
	return rc;
}

static const char *agent_time(json_int_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || localtime_r(&tt, &tm) == NULL)
		return "never";
	strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}

/* agent_status_verify - the daemon's last verify, with first examples */
static void agent_status_verify(json_t *v)
{
	static const char *const kinds[] = {"lost_examples",
					    "backscatter_examples"};
	json_t *a, *o, *e;
	size_t i, k;
	char tb[64];

	if (v == NULL)
		return;
	printf("verify %s: ",
	       agent_time(json_integer_value(json_object_get(v, "time")), tb,
			  sizeof(tb)));
	e = json_object_get(v, "error");
	if (json_is_string(e)) {
		printf("error: %s\n", json_string_value(e));
		return;
	}
	printf("agree %" JSON_INTEGER_FORMAT ", LOST %" JSON_INTEGER_FORMAT
	       ", BACKSCATTER %" JSON_INTEGER_FORMAT "\n",
	       json_integer_value(json_object_get(v, "agree")),
	       json_integer_value(json_object_get(v, "lost")),
	       json_integer_value(json_object_get(v, "backscatter")));
	for (k = 0; k < 2; k++) {
		a = json_object_get(v, kinds[k]);
		json_array_foreach(a, i, o)
		{
			if (i >= 3)
				break;
			printf("  %s %s: primary %s (%s)\n",
			       k == 0 ? "LOST" : "BACKSCATTER",
			       json_string_value(json_object_get(o, "address")),
			       json_string_value(json_object_get(o, "primary")),
			       json_string_value(
				   json_object_get(o, "primary_decided_by")));
		}
	}
}

static void agent_status_print(json_t *j)
{
	json_t *a, *o;
	size_t i;
	char tb[64];

	printf("origin %s, serial %" JSON_INTEGER_FORMAT ", daemon %s\n",
	       json_string_value(json_object_get(j, "origin")),
	       json_integer_value(json_object_get(j, "serial")),
	       json_is_true(json_object_get(j, "running")) ? "running"
							   : "not running");
	a = json_object_get(j, "sources");
	json_array_foreach(a, i, o)
	{
		json_t *e = json_object_get(o, "error");

		printf("source %s (%s)",
		       json_string_value(json_object_get(o, "name")),
		       json_string_value(json_object_get(o, "type")));
		if (json_object_get(o, "last_export") != NULL)
			printf(
			    ": last export %s, %" JSON_INTEGER_FORMAT
			    " domains, %" JSON_INTEGER_FORMAT " recipients",
			    agent_time(json_integer_value(
					   json_object_get(o, "last_export")),
				       tb, sizeof(tb)),
			    json_integer_value(json_object_get(o, "domains")),
			    json_integer_value(
				json_object_get(o, "recipients")));
		if (json_integer_value(json_object_get(o, "skipped")) > 0)
			printf(
			    ", %" JSON_INTEGER_FORMAT " entries skipped "
			    "(e.g. %s)",
			    json_integer_value(json_object_get(o, "skipped")),
			    json_string_value(
				json_object_get(o, "skipped_example")));
		if (json_integer_value(json_object_get(o, "unlisted_dropped")) >
		    0)
			printf(", %" JSON_INTEGER_FORMAT " dropped (domain "
			       "listed by no source, e.g. %s)",
			       json_integer_value(
				   json_object_get(o, "unlisted_dropped")),
			       json_string_value(
				   json_object_get(o, "unlisted_example")));
		if (json_is_string(e))
			printf(
			    ", error (%s): %s",
			    json_string_value(json_object_get(o, "error_kind")),
			    json_string_value(e));
		if (json_is_string(json_object_get(o, "note")))
			printf(", note: %s",
			       json_string_value(json_object_get(o, "note")));
		printf("\n");
	}
	o = json_object_get(j, "guard");
	if (json_is_object(o)) {
		const char *ex =
		    json_string_value(json_object_get(o, "examples"));

		printf("guard: refused: %s%s%s\n",
		       json_string_value(json_object_get(o, "refused")),
		       ex != NULL && *ex ? ", e.g. " : "",
		       ex != NULL ? ex : "");
	}
	if (json_integer_value(json_object_get(j, "bare_domains")) > 0)
		printf(
		    "%" JSON_INTEGER_FORMAT " domains without any recipient "
		    "(the backups reject all their addresses): %s\n",
		    json_integer_value(json_object_get(j, "bare_domains")),
		    json_string_value(json_object_get(j, "bare_domain_names")));
	a = json_object_get(j, "backups");
	json_array_foreach(a, i, o)
	{
		json_t *e = json_object_get(o, "error");
		json_t *in = json_object_get(o, "in_sync");

		printf(
		    "backup %s: serial %" JSON_INTEGER_FORMAT
		    " acknowledged %s",
		    json_string_value(json_object_get(o, "name")),
		    json_integer_value(json_object_get(o, "serial")),
		    agent_time(json_integer_value(json_object_get(o, "acked")),
			       tb, sizeof(tb)));
		if (json_is_true(in))
			printf(", in sync");
		else if (json_is_false(in))
			printf(", lagging %" JSON_INTEGER_FORMAT " s",
			       json_integer_value(
				   json_object_get(o, "lag_seconds")));
		if (json_is_string(e))
			printf(", last error: %s", json_string_value(e));
		printf("\n");
	}
	agent_status_verify(json_object_get(j, "verify"));
}

/* agent_status_get - from the daemon, else from the ledger */
static json_t *agent_status_get(const struct agent_config *cfg, struct err *err)
{
	char *reply = NULL;
	json_t *j;
	json_error_t je;
	struct ledger *l;

	if (control_request(cfg->control_socket, "status\n", 10000, &reply,
			    err) == 0) {
		j = json_loads(reply, 0, &je);
		free(reply);
		if (j == NULL)
			err_set(err, "%s: bad status reply: %s",
				cfg->control_socket, je.text);
		return j;
	}
	if ((l = ledger_load(cfg->state_dir, err)) == NULL)
		return NULL;
	j = daemon_status_json(cfg, l, NULL, 0);
	ledger_free(l);
	return j;
}

static int agent_status(struct agent_config *cfg, int argc, char **argv)
{
	int as_json = argc == 2 && strcmp(argv[1], "--json") == 0;
	struct err err;
	json_t *j;

	if (argc > 2 || (argc == 2 && !as_json)) {
		agent_usage();
		return EX_USAGE;
	}
	if ((j = agent_status_get(cfg, &err)) == NULL) {
		fprintf(stderr, "mxsync-agent: %s\n", err.msg);
		return EX_TEMP;
	}
	if (as_json) {
		char *t = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		printf("%s\n", t != NULL ? t : "{}");
		free(t);
	} else
		agent_status_print(j);
	json_decref(j);
	return 0;
}

/*
 * agent_verify - export as "export" does (no push, no serial) and compare
 * with the primary's Postfix: 0 all agree, 1 a disagreement, 75 a table
 * could not be asked or a source is down, 2 usage or configuration
 */
static int agent_verify(struct agent_config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"postfix", required_argument, NULL, 'p'},
	    {"sample", required_argument, NULL, 'n'},
	    {"json", no_argument, NULL, 'j'},
	    {"list", no_argument, NULL, 'l'},
	    {NULL, 0, NULL, 0},
	};
	struct verify_opts vo = {NULL, NULL, 0, NULL};
	struct verify_result r;
	struct state *st = NULL;
	struct err err;
	int c, rc, as_json = 0;
	char *end;
	json_t *j;

	if (cfg->verify_postfix[0] != '\0')
		vo.postfix_dir = cfg->verify_postfix;
	vo.delimiter = cfg->recipient_delimiter;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			vo.postfix_dir = optarg;
			break;
		case 'n':
			errno = 0;
			vo.sample = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || vo.sample == 0 ||
			    optarg[0] == '-') {
				fprintf(stderr,
					"mxsync-agent: --sample: a "
					"positive number, not '%s'\n",
					optarg);
				return EX_USAGE;
			}
			break;
		case 'j':
			as_json = 1;
			break;
		case 'l':
			vo.list = stdout;
			break;
		default:
			agent_usage();
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		agent_usage();
		return EX_USAGE;
	}
	if ((rc = export_state(cfg, -1, &st, &err)) < 0) {
		fprintf(stderr, "mxsync-agent: export failed: %s\n", err.msg);
		return agent_source_exit(rc);
	}
	rc = verify_run(st, &vo, &r, &err);
	state_free(st);
	if (rc < 0) {
		fprintf(stderr, "mxsync-agent: verify: %s\n", err.msg);
		return rc == VERIFY_DOWN ? EX_TEMP : EX_USAGE;
	}
	if (as_json) {
		char *t;

		j = verify_json(&r);
		t = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("%s\n", t != NULL ? t : "{}");
		free(t);
		json_decref(j);
	} else
		verify_print(&r, stdout);
	rc = r.lost || r.backscatter ? EX_REFUSED : 0;
	verify_result_clear(&r);
	return rc;
}

/* agent_lagging - names and errors of backups without the target; count */
static int agent_lagging(json_t *j, uint64_t serial, const char *hash,
			 struct buf *why)
{
	json_t *a = json_object_get(j, "backups"), *o;
	size_t i;
	int n = 0;

	buf_reset(why);
	json_array_foreach(a, i, o)
	{
		json_int_t s = json_integer_value(json_object_get(o, "serial"));
		json_t *h = json_object_get(o, "state_hash");
		json_t *e = json_object_get(o, "error");

		if ((uint64_t)s >= serial && serial != 0)
			continue;
		if (json_is_string(h) &&
		    strcmp(json_string_value(h), hash) == 0)
			continue;
		n++;
		buf_printf(
		    why, "%sbackup %s has serial %" JSON_INTEGER_FORMAT "%s%s",
		    n > 1 ? "; " : "",
		    json_string_value(json_object_get(o, "name")), s,
		    json_is_string(e) ? ", last error: " : "",
		    json_is_string(e) ? json_string_value(e) : "");
	}
	return n;
}

static int agent_sync_now(struct agent_config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"wait", no_argument, NULL, 'w'},
	    {"timeout", required_argument, NULL, 't'},
	    {"allow-shrink", no_argument, NULL, 'a'},
	    {NULL, 0, NULL, 0},
	};
	char *reply = NULL, *end;
	struct err err;
	struct buf why = BUF_INIT;
	unsigned long long serial = 0;
	char hash[2 * STATE_HASH_LEN + 1] = "";
	long timeout_s = 30;
	int wait = 0, shrink = 0, c, rc = EX_TEMP, code;
	struct timespec t0, t1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'w')
			wait = 1;
		else if (c == 'a')
			shrink = 1;
		else if (c == 't') {
			errno = 0;
			timeout_s = strtol(optarg, &end, 10);
			if (errno || *end != '\0' || timeout_s < 1 ||
			    timeout_s > 86400) {
				fprintf(stderr, "mxsync-agent: --timeout: "
						"seconds 1..86400\n");
				return EX_USAGE;
			}
		} else {
			agent_usage();
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		agent_usage();
		return EX_USAGE;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* The daemon answers once the sources settle (or fail to). */
	if (control_request(cfg->control_socket,
			    shrink ? "sync-now allow-shrink\n" : "sync-now\n",
			    (int)timeout_s * 1000 +
				(int)(cfg->settle_timeout_ms + 15000),
			    &reply, &err) < 0) {
		fprintf(stderr, "mxsync-agent: is the agent running? %s\n",
			err.msg);
		return EX_TEMP;
	}
	reply[strcspn(reply, "\n")] = '\0';
	if (strncmp(reply, "error ", 6) == 0) {
		code = (int)strtol(reply + 6, &end, 10);
		fprintf(stderr, "mxsync-agent: sync-now failed: %s\n",
			*end == ' ' ? end + 1 : end);
		rc = code == EX_REFUSED || code == EX_USAGE ? code : EX_TEMP;
		goto out;
	}
	if (sscanf(reply, "ok %llu %64s", &serial, hash) != 2) {
		fprintf(stderr, "mxsync-agent: unexpected reply: %s\n", reply);
		goto out;
	}
	if (!wait) {
		printf("serial %llu\n", serial);
		rc = 0;
		goto out;
	}
	/*
	 * The daemon answers "wait" the moment every backup acknowledged
	 * (or at the timeout, "lag"); a daemon without it is polled.
	 */
	free(reply);
	reply = NULL;
	{
		char line[CONTROL_LINE_MAX];
		long ms;

		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = timeout_s * 1000 - ((t1.tv_sec - t0.tv_sec) * 1000 +
					 (t1.tv_nsec - t0.tv_nsec) / 1000000);
		if (ms < 0)
			ms = 0;
		snprintf(line, sizeof(line), "wait %llu %s %ld\n", serial, hash,
			 ms);
		if (control_request(cfg->control_socket, line, (int)ms + 5000,
				    &reply, &err) == 0 &&
		    strcmp(reply, "ok\n") == 0) {
			printf("serial %llu acknowledged by every backup\n",
			       serial);
			rc = 0;
			goto out;
		}
	}
	for (;;) {
		json_t *j = agent_status_get(cfg, &err);
		long ms;
		int lag;

		if (j == NULL) {
			fprintf(stderr, "mxsync-agent: %s\n", err.msg);
			goto out;
		}
		lag = agent_lagging(j, serial, hash, &why);
		json_decref(j);
		if (lag == 0) {
			printf("serial %llu acknowledged by every backup\n",
			       serial);
			rc = 0;
			goto out;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = (t1.tv_sec - t0.tv_sec) * 1000 +
		     (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms >= timeout_s * 1000) {
			fprintf(stderr,
				"mxsync-agent: timeout after %ld s "
				"waiting for serial %llu: %s\n",
				timeout_s, serial, why.data ? why.data : "");
			goto out;
		}
		usleep(200000);
	}
out:
	buf_free(&why);
	free(reply);
	return rc;
}

int main(int argc, char **argv)
{
	const char *path = AGENT_CONFIG_DEFAULT, *cmd;
	struct agent_config *cfg = NULL;
	struct err err;
	int c, use_syslog = 0, verbose = 0, rc;

	log_open("mxsync-agent", 0);
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("mxsync-agent %s\n", MXSYNC_VERSION);
		return fflush(stdout) == 0 ? 0 : EX_REFUSED;
	}
	while ((c = getopt(argc, argv, "+c:vsh")) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		case 's':
			use_syslog = 1;
			break;
		default:
			agent_usage();
			return EX_USAGE;
		}
	}
	if (optind >= argc) {
		agent_usage();
		return EX_USAGE;
	}
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	if (strcmp(cmd, "check-config") != 0 && strcmp(cmd, "export") != 0 &&
	    strcmp(cmd, "push") != 0 && strcmp(cmd, "run") != 0 &&
	    strcmp(cmd, "sync-now") != 0 && strcmp(cmd, "status") != 0 &&
	    strcmp(cmd, "verify") != 0) {
		fprintf(stderr, "mxsync-agent: unknown command '%s'\n", cmd);
		agent_usage();
		return EX_USAGE;
	}
	log_open("mxsync-agent", use_syslog);
	log_set_verbose(verbose);
	if (key_init(&err) < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, "mxsync-agent: initialisation failed\n");
		return EX_TEMP;
	}
	if ((cfg = agent_config_load(path, &err)) == NULL) {
		fprintf(stderr, "mxsync-agent: %s\n", err.msg);
		return EX_USAGE;
	}
	if (strcmp(cmd, "check-config") == 0) {
		if (argc != 1) {
			agent_usage();
			rc = EX_USAGE;
		} else if (agent_config_check(cfg, &err) < 0) {
			fprintf(stderr, "mxsync-agent: %s: %s\n", path,
				err.msg);
			rc = EX_USAGE;
		} else {
			printf("%s: ok (%zu sources, %zu backups)\n", path,
			       cfg->nsources, cfg->nbackups);
			rc = 0;
		}
	} else if (strcmp(cmd, "export") == 0)
		rc = agent_export(cfg, argc, argv);
	else if (strcmp(cmd, "push") == 0)
		rc = agent_push(cfg, argc, argv);
	else if (strcmp(cmd, "sync-now") == 0)
		rc = agent_sync_now(cfg, argc, argv);
	else if (strcmp(cmd, "status") == 0)
		rc = agent_status(cfg, argc, argv);
	else if (strcmp(cmd, "verify") == 0)
		rc = agent_verify(cfg, argc, argv);
	else if (argc != 1) {
		agent_usage();
		rc = EX_USAGE;
	} else {
		rc = daemon_run(cfg);
		cfg = NULL;
	}
	agent_config_free(cfg);
	curl_global_cleanup();
	return rc;
}
