/*
 * status - the agent's status document (JSON), for "mxsync-agent status"
 * and the control socket's "status" request
 *
 * Built from the configuration, the ledger (what each backup acknowledged)
 * and, in the running daemon, the sync state and the facts only the daemon
 * knows (the guard's last refusal, bare domains, the periodic verify).
 * Without a daemon the ledger alone speaks: "running" is false and the
 * sources show no export data.  The document never holds a recipient
 * beyond the few examples the guard and the sources name.  Fails only by
 * running out of memory (jansson then drops members).
 */
#include <string.h>
#include <time.h>

#include "../formats/manifest.h"
#include "source.h"
#include "status.h"

static json_t *status_hash_json(const unsigned char *h, int have)
{
	char hex[2 * STATE_HASH_LEN + 1];

	if (!have)
		return json_null();
	manifest_hex(h, STATE_HASH_LEN, hex);
	return json_string(hex);
}

json_t *status_json(const struct agent_config *cfg, const struct ledger *l,
		    const struct sync *s, const struct status_daemon *d)
{
	int running = d != NULL;
	json_t *root = json_object(), *srcs = json_array(), *bks = json_array();
	int64_t now = (int64_t)time(NULL);
	size_t i;

	json_object_set_new(root, "origin", json_string(cfg->origin));
	json_object_set_new(root, "running", json_boolean(running));
	json_object_set_new(
	    root, "serial",
	    json_integer(
		(json_int_t)(s && s->cur_serial ? s->cur_serial : l->serial)));
	json_object_set_new(
	    root, "state_hash",
	    status_hash_json(s ? s->cur_hash : NULL, s && s->cur));
	if (s != NULL && s->cur != NULL) {
		json_object_set_new(
		    root, "domains",
		    json_integer((json_int_t)state_domain_count(s->cur)));
		json_object_set_new(
		    root, "recipients",
		    json_integer((json_int_t)state_recipient_count(s->cur)));
	}
	for (i = 0; i < cfg->nsources; i++) {
		const struct source *src = cfg->sources[i];
		json_t *o = json_object();

		json_object_set_new(o, "name", json_string(src->name));
		json_object_set_new(o, "type", json_string(src->ops->type));
		if (running) {
			json_object_set_new(o, "last_export",
					    json_integer(src->last_export));
			json_object_set_new(
			    o, "domains",
			    json_integer((json_int_t)src->domains));
			json_object_set_new(
			    o, "recipients",
			    json_integer((json_int_t)src->recipients));
			json_object_set_new(
			    o, "unlisted_dropped",
			    json_integer((json_int_t)src->unlisted));
			json_object_set_new(
			    o, "unlisted_example",
			    src->unlisted ? json_string(src->unlisted_example)
					  : json_null());
			json_object_set_new(o, "error",
					    src->error[0]
						? json_string(src->error)
						: json_null());
			if (src->note[0])
				json_object_set_new(o, "note",
						    json_string(src->note));
			if (src->error[0])
				json_object_set_new(
				    o, "error_kind",
				    json_string(
					source_kind_name(src->error_kind)));
			json_object_set_new(
			    o, "skipped",
			    json_integer((json_int_t)src->skipped));
			json_object_set_new(
			    o, "files_read",
			    json_integer((json_int_t)src->files_read));
			json_object_set_new(
			    o, "lines_parsed",
			    json_integer((json_int_t)src->lines_parsed));
			json_object_set_new(
			    o, "export_us",
			    json_integer((json_int_t)src->export_us));
			if (src->skipped > 0)
				json_object_set_new(
				    o, "skipped_example",
				    json_string(src->skipped_example));
		}
		json_array_append_new(srcs, o);
	}
	for (i = 0; i < cfg->nbackups; i++) {
		const struct agent_backup *b = &cfg->backups[i];
		const struct ledger_backup *lb = NULL;
		const struct sync_backup *sb = s && i < s->n ? &s->b[i] : NULL;
		json_t *o = json_object();
		size_t j;
		int in_sync = 0;

		for (j = 0; j < l->n; j++)
			if (strcmp(l->backups[j].name, b->name) == 0)
				lb = &l->backups[j];
		json_object_set_new(o, "name", json_string(b->name));
		json_object_set_new(o, "url", json_string(b->url));
		json_object_set_new(
		    o, "serial", json_integer(lb ? (json_int_t)lb->serial : 0));
		json_object_set_new(
		    o, "state_hash",
		    status_hash_json(lb ? lb->hash : NULL, lb && lb->serial));
		json_object_set_new(o, "acked",
				    json_integer(lb ? lb->acked : 0));
		json_object_set_new(o, "error",
				    lb && lb->error[0] ? json_string(lb->error)
						       : json_null());
		if (s != NULL && s->cur != NULL && lb != NULL && lb->serial) {
			in_sync =
			    memcmp(lb->hash, s->cur_hash, STATE_HASH_LEN) == 0;
		}
		if (s != NULL && s->cur != NULL) {
			json_object_set_new(o, "in_sync",
					    json_boolean(in_sync));
			json_object_set_new(
			    o, "lag_seconds",
			    json_integer(in_sync ? 0 : now - s->cur_since));
		}
		if (sb != NULL) {
			json_object_set_new(o, "in_flight",
					    json_boolean(sb->inflight));
			json_object_set_new(
			    o, "pushes", json_integer((json_int_t)sb->pushes));
			json_object_set_new(
			    o, "bytes", json_integer((json_int_t)sb->bytes));
		}
		json_array_append_new(bks, o);
	}
	if (d != NULL) {
		if (d->guard_refused != NULL) {
			json_t *g = json_object();

			json_object_set_new(g, "refused",
					    json_string(d->guard_refused));
			json_object_set_new(g, "examples",
					    json_string(d->guard_examples));
			json_object_set_new(root, "guard", g);
		}
		json_object_set_new(root, "bare_domains",
				    json_integer((json_int_t)d->bare));
		if (d->bare > 0)
			json_object_set_new(root, "bare_domain_names",
					    json_string(d->bare_names));
	}
	json_object_set_new(root, "sources", srcs);
	json_object_set_new(root, "backups", bks);
	if (d != NULL) {
		if (d->verify != NULL)
			json_object_set(root, "verify", d->verify);
		json_object_set_new(root, "verify_running",
				    json_boolean(d->verify_running));
	}
	return root;
}
