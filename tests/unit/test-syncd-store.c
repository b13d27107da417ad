/*
 * test-syncd-store - the origin store of mxsyncd: save and load, sharing
 * entries between generations, domain ownership, and refusal of a stored
 * file whose state does not match its signed hash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../formats/atomic.h"
#include "../../syncd/store.h"
#include "test.h"

/* mk - an origin entry for a canonical text (the signature is not checked
 * when no trust list is given) */
static struct store_origin *mk(const char *origin, uint64_t serial,
			       const char *text)
{
	struct manifest m;
	struct state *st;
	struct err err;
	unsigned char sig[SNAPSHOT_SIG_LEN] = {0};
	char *json;
	size_t len;
	struct store_origin *o;

	st = state_parse(text, strlen(text), &err);
	if (st == NULL) {
		printf("# %s\n", err.msg);
		return NULL;
	}
	memset(&m, 0, sizeof(m));
	m.version = MANIFEST_VERSION;
	snprintf(m.origin, sizeof(m.origin), "%s", origin);
	snprintf(m.key_id, sizeof(m.key_id), "0123456789abcdef");
	m.serial = serial;
	m.created = 1000;
	m.expires = 2000;
	state_hash(st, m.state_hash);
	m.body_size = strlen(text);
	m.domains = state_domain_count(st);
	m.recipients = state_recipient_count(st);
	json = manifest_encode(&m, &len, &err);
	if (json == NULL) {
		printf("# %s\n", err.msg);
		return NULL;
	}
	o = store_origin_new(&m, json, len, sig, st, &err);
	free(json);
	return o;
}

int main(void)
{
	char dir[] = "/tmp/test-syncd-store.XXXXXX", path[256];
	struct store *s = NULL, *s2, *loaded;
	struct store_origin *a, *b, *a2, *replaced;
	struct store_bads bads = {NULL, 0};
	struct store_window w, w2;
	struct err err;

	if (mkdtemp(dir) == NULL)
		return 1;
	a = mk("mx1.example.com", 5,
	       "D example.com smtp:[mx]:25\nR a@example.com\n");
	b = mk("mx2.example.org", 7,
	       "D example.org relay:[x]\nR @example.org\n");
	ok(a != NULL && b != NULL, "entries made");

	s = store_with(NULL, b, &replaced, &err);
	ok(s != NULL && s->n == 1 && replaced == NULL,
	   "store_with adds to an empty store");
	s2 = store_with(s, a, &replaced, &err);
	ok(s2 != NULL && s2->n == 2 && replaced == NULL,
	   "store_with adds a second origin");
	is_str(s2->o[0]->m.origin, "mx1.example.com",
	       "entries sorted by origin");
	store_release(s, NULL);
	s = s2;
	ok(store_find(s, "mx2.example.org") == b, "store_find");
	ok(store_find(s, "nope") == NULL, "store_find of an unknown origin");
	ok(store_owner(s, "example.org", 11, NULL) == b,
	   "store_owner finds the owner");
	ok(store_owner(s, "example.org", 11, "mx2.example.org") == NULL,
	   "store_owner skips the origin itself");
	ok(store_owner(s, "example.net", 11, NULL) == NULL,
	   "store_owner of a free domain");

	ok(store_save(dir, a, &err) == 0 && store_save(dir, b, &err) == 0,
	   "store_save writes both origins");
	loaded = store_load(dir, NULL, &err);
	ok(loaded != NULL && loaded->n == 2, "store_load reads them back");
	if (loaded != NULL) {
		ok(loaded->o[0]->m.serial == 5 && loaded->o[1]->m.serial == 7,
		   "serials survive");
		ok(state_has_recipient(loaded->o[0]->st, "a@example.com", 13),
		   "states survive");
		store_free(loaded);
	}

	a2 = mk(
	    "mx1.example.com", 6,
	    "D example.com smtp:[mx]:25\nR a@example.com\nR b@example.com\n");
	s2 = store_with(s, a2, &replaced, &err);
	ok(s2 != NULL && s2->n == 2 && replaced == a,
	   "store_with replaces an origin");
	ok(s2->o[1] == b, "the other entry is shared");
	store_release(s, replaced);
	s = s2;

	/* a stored file whose state does not hash to its manifest */
	snprintf(path, sizeof(path), "%s/origin-mx1.example.com.snap", dir);
	ok(snapshot_write(path, a2->manifest, a2->manifest_len, a2->sig,
			  "D example.com smtp:[mx]:25\n", 27, &err) == 0,
	   "write a damaged store file");
	loaded = store_load(dir, NULL, &err);
	ok(loaded == NULL, "store_load refuses it");
	has_str(err.msg, "does not match its signed hash", "with a message");
	store_free(loaded);

	ok(store_save(dir, a2, &err) == 0, "store_save repairs it");
	loaded = store_load(dir, NULL, &err);
	ok(loaded != NULL && loaded->o[0]->m.serial == 6, "and it loads again");
	store_free(loaded);
	snprintf(path, sizeof(path), "%s/origin-other.snap", dir);
	ok(snapshot_write(
	       path, a2->manifest, a2->manifest_len, a2->sig,
	       "D example.com smtp:[mx]:25\nR a@example.com\nR b@example.com\n",
	       59, &err) == 0,
	   "write a file under another origin's name");
	loaded = store_load(dir, NULL, &err);
	ok(loaded == NULL,
	   "store_load refuses a file named for another origin");
	has_str(err.msg, "holds origin mx1.example.com", "with a message");
	store_free(loaded);
	/* the same file with store_load_all: reported, the others load */
	loaded = store_load_all(dir, NULL, &bads, &err);
	ok(loaded != NULL && loaded->n == 2 && bads.n == 1 &&
	       strcmp(bads.v[0].reason, "damaged") == 0 &&
	       strcmp(bads.v[0].name, "origin-other.snap") == 0,
	   "store_load_all reports the file as damaged, loads the others");
	ok(bads.n == 1 && store_quarantine(dir, &bads.v[0], 1234, &err) == 0 &&
	       strcmp(bads.v[0].name, "origin-other.snap.quarantined.damaged."
				      "1234") == 0,
	   "store_quarantine moves it aside: %s", bads.n ? bads.v[0].name : "");
	store_bads_free(&bads);
	ok(store_quarantined(dir, &bads, &err) == 0 && bads.n == 1 &&
	       strcmp(bads.v[0].origin, "other") == 0 &&
	       bads.v[0].since == 1234,
	   "store_quarantined lists it with origin and time");
	store_bads_free(&bads);
	store_free(loaded);
	unlink(path);

	/* the shrink window: a falling sequence of counts */
	memset(&w, 0, sizeof(w));
	store_window_add(&w, 100, 100, 50);
	store_window_add(&w, 110, 91, 50);
	store_window_add(&w, 120, 95, 50);
	ok(w.len == 2 && w.n[0] == 100 && w.n[1] == 95,
	   "a count drops the lower ones before it");
	ok(store_window_high(&w, 140, 50) == 100, "the highest in the window");
	ok(store_window_high(&w, 160, 50) == 95, "older entries leave it");
	store_window_add(&w, 200, 90, 50);
	ok(w.len == 1 && w.n[0] == 90, "entries past the window are dropped");
	store_window_add(&w, 210, 80, 50);
	ok(store_window_write(dir, "w.example", &w, &err) == 0 &&
	       store_window_read(dir, "w.example", &w2, &err) == 0 &&
	       w2.len == 2 && w2.t[1] == 210 && w2.n[1] == 80,
	   "written and read back: %s", err.msg);
	store_window_add(&w, 220, 100, 50);
	ok(store_window_write(dir, "w.example", &w, &err) == 0 &&
	       store_window_read(dir, "w.example", &w2, &err) == 0 &&
	       w2.len == 0,
	   "one entry: the file is removed");

	store_free(s);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path) != 0)
		printf("# cleanup failed\n");
	return test_done();
}
