/*
 * ledger - the agent's persistent memory: last serial, delta base, and what
 * each backup acknowledged (see ledger.h)
 *
 * A malformed ledger is an error (the caller reports it); a missing one is
 * a fresh start.  Serials come from the clock as well as the ledger so that
 * a lost state_dir still yields serials above those the backups hold.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <unistd.h>

#include <jansson.h>

#include "../formats/atomic.h"
#include "../formats/manifest.h"
#include "ledger.h"

void ledger_free(struct ledger *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		free(l->backups[i].name);
	free(l->backups);
	free(l->path);
	free(l->dir);
	free(l);
}

struct ledger_backup *ledger_backup(struct ledger *l, const char *name)
{
	struct ledger_backup *nb;
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->backups[i].name, name) == 0)
			return &l->backups[i];
	if ((nb = realloc(l->backups, (l->n + 1) * sizeof(*nb))) == NULL)
		return NULL;
	l->backups = nb;
	memset(&nb[l->n], 0, sizeof(*nb));
	if ((nb[l->n].name = strdup(name)) == NULL)
		return NULL;
	return &l->backups[l->n++];
}

/* ledger_get_hash - a 64-hex-digit member into out; 0 when absent */
static int ledger_get_hash(json_t *o, const char *key, unsigned char *out)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) ||
	    manifest_unhex(json_string_value(v), json_string_length(v), out,
			   STATE_HASH_LEN) < 0)
		return -1;
	return 1;
}

static uint64_t ledger_get_uint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) && json_integer_value(v) > 0
		   ? (uint64_t)json_integer_value(v)
		   : 0;
}

int ledger_lock(const char *state_dir, struct err *err)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/lock", state_dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return err_sys(err, "%s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		close(fd);
		if (e == EWOULDBLOCK)
			return err_set(err,
				       "%s is in use by another mxsync-agent "
				       "(is the daemon running? then use "
				       "\"mxsync-agent sync-now\")",
				       state_dir);
		errno = e;
		return err_sys(err, "flock(%s)", path);
	}
	return fd;
}

struct ledger *ledger_load(const char *state_dir, struct err *err)
{
	struct ledger *l;
	json_t *root = NULL, *bs, *bo;
	json_error_t je;
	const char *name;
	int ok = 0;

	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    asprintf(&l->path, "%s/ledger.json", state_dir) < 0 ||
	    (l->dir = strdup(state_dir)) == NULL) {
		if (l != NULL)
			l->path = l->dir = NULL;
		err_set(err, "out of memory");
		goto out;
	}
	if (access(l->path, F_OK) < 0 && errno == ENOENT) {
		ok = 1;
		goto out;
	}
	if ((root = json_load_file(l->path, 0, &je)) == NULL) {
		err_set(err, "%s:%d: %s", l->path, je.line, je.text);
		goto out;
	}
	l->serial = ledger_get_uint(root, "serial");
	l->base_serial = ledger_get_uint(root, "base_serial");
	if (ledger_get_hash(root, "base_hash", l->base_hash) != 1)
		l->base_serial = 0;
	/* a ledger from before the journal: its base file is the base */
	l->base_file = json_object_get(root, "base_file") != NULL
			   ? ledger_get_uint(root, "base_file")
			   : l->base_serial;
	l->journal_len = ledger_get_uint(root, "journal_len");
	l->journal_n = (size_t)ledger_get_uint(root, "journal_n");
	if (l->base_serial == 0 || l->base_file == 0)
		l->base_file = l->journal_len = l->journal_n = 0;
	bs = json_object_get(root, "backups");
	json_object_foreach(bs, name, bo)
	{
		struct ledger_backup *b = ledger_backup(l, name);
		json_t *e;

		if (b == NULL) {
			err_set(err, "out of memory");
			goto out;
		}
		b->serial = ledger_get_uint(bo, "serial");
		if (ledger_get_hash(bo, "state_hash", b->hash) != 1)
			b->serial = 0;
		b->acked = (int64_t)ledger_get_uint(bo, "acked");
		b->error_time = (int64_t)ledger_get_uint(bo, "error_time");
		e = json_object_get(bo, "error");
		if (json_is_string(e))
			snprintf(b->error, sizeof(b->error), "%s",
				 json_string_value(e));
	}
	ok = 1;
out:
	json_decref(root);
	if (!ok) {
		ledger_free(l);
		return NULL;
	}
	return l;
}

int ledger_save(const struct ledger *l, struct err *err)
{
	json_t *root = NULL, *bs = NULL;
	char hex[2 * STATE_HASH_LEN + 1];
	char *text = NULL;
	size_t i;
	int rc = -1;

	if ((root = json_object()) == NULL || (bs = json_object()) == NULL)
		goto oom;
	json_object_set_new(root, "serial",
			    json_integer((json_int_t)l->serial));
	json_object_set_new(root, "base_serial",
			    json_integer((json_int_t)l->base_serial));
	manifest_hex(l->base_hash, STATE_HASH_LEN, hex);
	json_object_set_new(root, "base_hash",
			    l->base_serial ? json_string(hex) : json_null());
	json_object_set_new(root, "base_file",
			    json_integer((json_int_t)l->base_file));
	json_object_set_new(root, "journal_len",
			    json_integer((json_int_t)l->journal_len));
	json_object_set_new(root, "journal_n",
			    json_integer((json_int_t)l->journal_n));
	for (i = 0; i < l->n; i++) {
		const struct ledger_backup *b = &l->backups[i];
		json_t *o = json_object();

		if (o == NULL)
			goto oom;
		manifest_hex(b->hash, STATE_HASH_LEN, hex);
		json_object_set_new(o, "serial",
				    json_integer((json_int_t)b->serial));
		json_object_set_new(o, "state_hash",
				    b->serial ? json_string(hex) : json_null());
		json_object_set_new(o, "acked", json_integer(b->acked));
		json_object_set_new(o, "error", json_string(b->error));
		json_object_set_new(o, "error_time",
				    json_integer(b->error_time));
		json_object_set_new(bs, b->name, o);
	}
	json_object_set(root, "backups", bs);
	if ((text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS)) == NULL)
		goto oom;
	if (atomic_write_file(l->path, text, strlen(text), 0600, err) < 0)
		goto out;
	rc = 0;
	goto out;
oom:
	err_set(err, "%s: out of memory", l->path);
out:
	free(text);
	json_decref(bs);
	json_decref(root);
	return rc;
}

int ledger_next_serial(struct ledger *l, uint64_t at_least, uint64_t *serial_r,
		       struct err *err)
{
	uint64_t old = l->serial, s = l->serial + 1;
	uint64_t now = (uint64_t)time(NULL);

	/*
	 * max(last + 1, now): serials follow the clock, so an agent whose
	 * state_dir was lost (new disk, reinstall) still starts above every
	 * serial a backup holds, as long as it pushed at most one snapshot
	 * per second on average before.  A backup that still reports a higher
	 * serial (409) lifts us above it through at_least.
	 */
	if (s < now)
		s = now;
	if (at_least > now + LEDGER_SERIAL_AHEAD)
		return err_set(err,
			       "serial %llu is more than %d s ahead of "
			       "the clock; not followed",
			       (unsigned long long)at_least,
			       LEDGER_SERIAL_AHEAD);
	if (at_least != 0 && s <= at_least)
		s = at_least + 1;
	if (s > MANIFEST_SERIAL_MAX)
		return err_set(err, "serial space exhausted");
	l->serial = s;
	if (ledger_save(l, err) < 0) {
		l->serial = old;
		return -1;
	}
	*serial_r = s;
	return 0;
}
