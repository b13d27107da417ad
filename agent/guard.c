/*
 * guard - empty sources, max_shrink and canaries before signing (guard.h)
 *
 * The shrink count is one merge of two sorted recipient lists (both states
 * are canonical), between the records the two share at either end, which
 * one compare of their texts finds (state_common_ends); the canaries are
 * decided by lookup_accepts(), the same Postfix lookup rules mxsyncd's guard
 * and "mxsyncd check" use.  Nothing here logs; a refusal is a message for the
 * caller and the sources' status.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../formats/lookup.h"
#include "guard.h"
#include "source.h"

/* guard_cmp - memcmp order of two keys, as the canonical state sorts */
static int guard_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* guard_add_example - append one address to the examples text */
static void guard_add_example(struct guard_report *r, size_t *shown,
			      const char *a, size_t alen)
{
	size_t used = strlen(r->examples);

	if (*shown >= GUARD_EXAMPLES || alen > 200 ||
	    used + alen + 3 >= sizeof(r->examples))
		return;
	snprintf(r->examples + used, sizeof(r->examples) - used, "%s%.*s",
		 used > 0 ? ", " : "", (int)alen, a);
	(*shown)++;
}

/* guard_removed - recipients of old absent from new, with a few examples */
static size_t guard_removed(const struct state *old, const struct state *new,
			    struct guard_report *r)
{
	size_t i = 0, j = 0, no = state_recipient_count(old),
	       nn = state_recipient_count(new), removed = 0, shown = 0, alen,
	       blen, head, tail;
	const char *a, *b;

	/* what both share at either end is not removed */
	state_common_ends(old, new, &head, &tail);
	i = j = head;
	no -= tail;
	nn -= tail;
	while (i < no) {
		int c = -1;

		state_recipient(old, i, &a, &alen);
		if (j < nn) {
			state_recipient(new, j, &b, &blen);
			c = guard_cmp(a, alen, b, blen);
		}
		if (c == 0) {
			i++;
			j++;
		} else if (c < 0) {
			guard_add_example(r, &shown, a, alen);
			removed++;
			i++;
		} else {
			j++;
		}
	}
	return removed;
}

/*
 * guard_blame - the refusal becomes the status error of the sources whose
 * recipient count fell since the last adopted export, or of every source
 * when none did (a first export, or a change that is not a plain loss)
 */
static void guard_blame(struct agent_config *cfg, const struct guard_report *r,
			struct source *only)
{
	size_t i, fell = 0;

	for (i = 0; i < cfg->nsources; i++)
		if (cfg->sources[i]->recipients <
		    cfg->sources[i]->pushed_recipients)
			fell++;
	for (i = 0; i < cfg->nsources; i++) {
		struct source *src = cfg->sources[i];

		if (only != NULL
			? src != only
			: fell > 0 && src->recipients >= src->pushed_recipients)
			continue;
		/* A long message loses its last examples, nothing else. */
		if (snprintf(src->error, sizeof(src->error), "%s%s%s", r->msg,
			     r->examples[0] ? ", e.g. " : "", r->examples) < 0)
			src->error[0] = '\0';
		src->error_kind = SOURCE_GUARD;
	}
}

int guard_check(struct agent_config *cfg, const struct state *acked,
		const struct state *st, struct guard_report *r)
{
	size_t i, n;
	int known, a_old, a_new;
	double pct;
	struct err err;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < cfg->nsources; i++) {
		struct source *src = cfg->sources[i];

		if (src->recipients > 0 || src->allow_empty ||
		    src->no_recipients)
			continue;
		snprintf(r->msg, sizeof(r->msg),
			 "source %s yields no recipients at all (an empty "
			 "file, an empty mount point?); nothing pushed: set "
			 "allow_empty = yes if that is meant, or push with "
			 "--allow-shrink once",
			 src->name);
		guard_blame(cfg, r, src);
		return -1;
	}
	if (acked == NULL)
		return 0;
	n = state_recipient_count(acked);
	if (n > 0) {
		r->removed = guard_removed(acked, st, r);
		pct = 100.0 * (double)r->removed / (double)n;
		if (r->removed > 0 && pct > cfg->max_shrink) {
			snprintf(r->msg, sizeof(r->msg),
				 "would remove %.3g%% of the recipients the "
				 "backups acknowledged (%zu of %zu; max_shrink "
				 "%.3g%%); nothing pushed: push with "
				 "--allow-shrink if that is meant",
				 pct, r->removed, n, cfg->max_shrink);
			guard_blame(cfg, r, NULL);
			return -1;
		}
	}
	r->examples[0] = '\0';
	for (i = 0; i < cfg->ncanaries; i++) {
		a_old = lookup_accepts(acked, cfg->canaries[i],
				       cfg->recipient_delimiter, &known, NULL,
				       0, &err);
		a_new = lookup_accepts(st, cfg->canaries[i],
				       cfg->recipient_delimiter, &known, NULL,
				       0, &err);
		if (a_old == 1 && a_new != 1) {
			/* A canary is the operator's own, not a list. */
			snprintf(r->msg, sizeof(r->msg),
				 "canary %s would disappear; nothing pushed: "
				 "push with --allow-shrink if that is meant",
				 cfg->canaries[i]);
			r->removed = 1;
			guard_blame(cfg, r, NULL);
			return -1;
		}
	}
	return 0;
}

size_t guard_bare_domains(const struct state *st, char *names, size_t size,
			  size_t max)
{
	size_t nd = state_domain_count(st), nr = state_recipient_count(st);
	size_t i, count = 0, shown = 0, used = 0, dlen, nlen, alen;
	unsigned char *seen = NULL;
	const char *d, *nh, *a, *at;
	long k;

	if (size > 0)
		names[0] = '\0';
	if (nd == 0)
		return 0;
	/* One octet per domain; without memory nothing is reported. */
	if ((seen = calloc(nd, 1)) == NULL)
		return 0;
	/*
	 * Done when every domain was seen: in key order the recipients'
	 * domains come mixed, so that is usually long before the end.
	 */
	for (i = 0; i < nr && count < nd; i++) {
		state_recipient(st, i, &a, &alen);
		at = memrchr(a, '@', alen);
		if (at == NULL)
			continue;
		k = state_find_domain(st, at + 1, alen - (size_t)(at + 1 - a));
		if (k >= 0 && !seen[k]) {
			seen[k] = 1;
			count++;
		}
	}
	count = 0;
	for (i = 0; i < nd; i++) {
		if (seen[i])
			continue;
		count++;
		state_domain(st, i, &d, &dlen, &nh, &nlen);
		if (shown < max && used + dlen + 2 < size) {
			used += (size_t)snprintf(names + used, size - used,
						 "%s%.*s", used ? " " : "",
						 (int)dlen, d);
			shown++;
		}
	}
	free(seen);
	return count;
}
