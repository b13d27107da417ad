/*
 * conf_value - the typed keys of a configuration section: values parsed by
 * type (string, number, size, duration, percent, boolean), bounds checked,
 * defaults applied from the program's table (conf.h), the parsers that
 * command-line options share (conf_parse_size, conf_parse_duration), and
 * the splitting of list values into words (conf_words_next)
 *
 * Failure: conf_apply() refuses unknown keys, malformed values and values
 * outside the table's bounds as "file:line: max_body: 0 is below the
 * minimum 1"; a required key that is absent names the section header's
 * line.  On failure no string the table set is left allocated.
 *
 * Security: values are parsed strictly (overflowing numbers and trailing
 * junk are refused) so that a typo never silently changes a limit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"

/* CONF_WORD_SEP - what separates the words of a list value */
#define CONF_WORD_SEP " \t,"

const char *conf_words_next(const char **p, size_t *len_r)
{
	const char *w;

	*p += strspn(*p, CONF_WORD_SEP);
	*len_r = strcspn(*p, CONF_WORD_SEP);
	if (*len_r == 0)
		return NULL;
	w = *p;
	*p += *len_r;
	return w;
}

/* conf_parse_u64 - plain decimal digits; *end_r gets the rest */
static int conf_parse_u64(const char *s, uint64_t *out, const char **end_r)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = v;
	*end_r = p;
	return 0;
}

/* conf_mul - *v *= m, -1 on overflow */
static int conf_mul(uint64_t *v, uint64_t m)
{
	if (m != 0 && *v > UINT64_MAX / m)
		return -1;
	*v *= m;
	return 0;
}

int conf_parse_size(const char *s, uint64_t *out)
{
	const char *end;
	uint64_t v, m = 1;

	if (conf_parse_u64(s, &v, &end) < 0)
		return -1;
	if (*end != '\0') {
		switch (*end) {
		case 'k':
		case 'K':
			m = 1ULL << 10;
			break;
		case 'm':
		case 'M':
			m = 1ULL << 20;
			break;
		case 'g':
		case 'G':
			m = 1ULL << 30;
			break;
		case 't':
		case 'T':
			m = 1ULL << 40;
			break;
		default:
			return -1;
		}
		if (end[1] != '\0')
			return -1;
	}
	if (conf_mul(&v, m) < 0)
		return -1;
	*out = v;
	return 0;
}

int conf_parse_duration(const char *s, uint64_t *ms_out)
{
	const char *end;
	uint64_t v, m;

	if (conf_parse_u64(s, &v, &end) < 0)
		return -1;
	if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
		m = 1000;
	else if (strcmp(end, "ms") == 0)
		m = 1;
	else if (strcmp(end, "m") == 0)
		m = 60 * 1000;
	else if (strcmp(end, "h") == 0)
		m = 3600 * 1000;
	else if (strcmp(end, "d") == 0)
		m = 86400 * 1000;
	else
		return -1;
	if (conf_mul(&v, m) < 0)
		return -1;
	*ms_out = v;
	return 0;
}

/* conf_parse_percent - "10", "10%", "2.5%": 0..100 */
static int conf_parse_percent(const char *s, double *out)
{
	size_t len = strlen(s), i, dots = 0, digits = 0;
	char buf[32], *end;
	double v;

	if (len > 0 && s[len - 1] == '%')
		len--;
	if (len == 0 || len >= sizeof(buf))
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] == '.')
			dots++;
		else if (s[i] >= '0' && s[i] <= '9')
			digits++;
		else
			return -1;
	}
	if (dots > 1 || digits == 0 || s[0] == '.' || s[len - 1] == '.')
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	v = strtod(buf, &end);
	if (errno != 0 || *end != '\0' || v < 0 || v > 100)
		return -1;
	*out = v;
	return 0;
}

static int conf_parse_bool(const char *s, int *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

/* conf_show - a bound in the key's unit, e.g. 64M, 10s, 500ms */
static void conf_show(enum conf_type type, uint64_t v, char *out, size_t sz)
{
	static const struct {
		const char *sfx;
		uint64_t mul;
	} size_units[] = {{"G", 1ULL << 30},
			  {"M", 1ULL << 20},
			  {"K", 1ULL << 10}},
	  dur_units[] = {
	      {"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
	size_t i;

	if (v != 0 && type == CONF_SIZE) {
		for (i = 0; i < 3; i++)
			if (v % size_units[i].mul == 0) {
				snprintf(
				    out, sz, "%llu%s",
				    (unsigned long long)(v / size_units[i].mul),
				    size_units[i].sfx);
				return;
			}
	}
	if (type == CONF_DURATION) {
		for (i = 0; v != 0 && i < 4; i++)
			if (v % dur_units[i].mul == 0) {
				snprintf(
				    out, sz, "%llu%s",
				    (unsigned long long)(v / dur_units[i].mul),
				    dur_units[i].sfx);
				return;
			}
		snprintf(out, sz, "%llums", (unsigned long long)v);
		return;
	}
	snprintf(out, sz, "%llu", (unsigned long long)v);
}

/* conf_set - parse one value into the target; message without location */
static int conf_set(const struct conf_key *k, const char *value, void *target,
		    struct err *err)
{
	char *field = (char *)target + k->offset, lo[32], hi[32];
	uint64_t u = 0;
	double d;
	int b, rc = 0;
	const char *end;

	switch (k->type) {
	case CONF_STRING: {
		char *s = strdup(value);

		if (s == NULL)
			return err_set(err, "%s: out of memory", k->name);
		memcpy(field, &s, sizeof(s));
		return 0;
	}
	case CONF_UINT:
		rc = conf_parse_u64(value, &u, &end);
		if (rc == 0 && *end != '\0')
			rc = -1;
		if (rc < 0)
			return err_set(err, "%s: '%s' is not a number", k->name,
				       value);
		break;
	case CONF_SIZE:
		if (conf_parse_size(value, &u) < 0)
			return err_set(err,
				       "%s: '%s' is not a size (e.g. "
				       "512, 64K, 512M, 2G)",
				       k->name, value);
		break;
	case CONF_DURATION:
		if (conf_parse_duration(value, &u) < 0)
			return err_set(err,
				       "%s: '%s' is not a duration "
				       "(e.g. 500ms, 30s, 10m, 2h, 7d)",
				       k->name, value);
		break;
	case CONF_PERCENT:
		if (conf_parse_percent(value, &d) < 0)
			return err_set(err,
				       "%s: '%s' is not a percentage "
				       "from 0 to 100 (e.g. 10%%)",
				       k->name, value);
		memcpy(field, &d, sizeof(d));
		return 0;
	case CONF_BOOL:
		if (conf_parse_bool(value, &b) < 0)
			return err_set(err, "%s: '%s' is not yes or no",
				       k->name, value);
		memcpy(field, &b, sizeof(b));
		return 0;
	default:
		return err_set(err, "%s: unknown key type", k->name);
	}
	if (k->min != 0 || k->max != 0) {
		conf_show(k->type, k->min, lo, sizeof(lo));
		conf_show(k->type, k->max, hi, sizeof(hi));
		if (u < k->min)
			return err_set(err, "%s: %s is below the minimum %s",
				       k->name, value, lo);
		if (u > k->max)
			return err_set(err, "%s: %s is above the maximum %s",
				       k->name, value, hi);
	}
	memcpy(field, &u, sizeof(u));
	return 0;
}

/* conf_clear_strings - free and NULL the string fields of the table */
static void conf_clear_strings(const struct conf_key *table, void *target,
			       int do_free)
{
	const struct conf_key *k;
	char *s;

	for (k = table; k->name != NULL; k++) {
		if (k->type != CONF_STRING)
			continue;
		if (do_free) {
			memcpy(&s, (char *)target + k->offset, sizeof(s));
			free(s);
		}
		s = NULL;
		memcpy((char *)target + k->offset, &s, sizeof(s));
	}
}

int conf_apply(const struct conf_file *cf, const struct conf_section *sec,
	       const struct conf_key *table, void *target, struct err *err)
{
	const struct conf_key *k;
	const char *value;
	char where[600];
	unsigned line;
	size_t i;

	snprintf(where, sizeof(where), "[%s%s%.256s]", sec->type,
		 sec->name[0] ? " " : "", sec->name);
	for (i = 0; i < sec->n; i++) {
		for (k = table; k->name != NULL; k++)
			if (strcmp(k->name, sec->entries[i].key) == 0)
				break;
		if (k->name == NULL)
			return err_set(err, "%s:%u: %s: unknown key '%s'",
				       cf->path, sec->entries[i].line, where,
				       sec->entries[i].key);
	}
	conf_clear_strings(table, target, 0);
	for (k = table; k->name != NULL; k++) {
		value = NULL;
		line = sec->line;
		for (i = 0; i < sec->n; i++)
			if (strcmp(k->name, sec->entries[i].key) == 0) {
				value = sec->entries[i].value;
				line = sec->entries[i].line;
				break;
			}
		if (value == NULL)
			value = k->def;
		if (value == NULL) {
			err_set(err, "%s:%u: %s: missing key '%s'", cf->path,
				sec->line, where, k->name);
			goto fail;
		}
		if (conf_set(k, value, target, err) < 0) {
			err_prefix(err, "%s:%u", cf->path, line);
			goto fail;
		}
	}
	return 0;
fail:
	conf_clear_strings(table, target, 1);
	return -1;
}

void conf_free_target(const struct conf_key *table, void *target)
{
	if (target != NULL)
		conf_clear_strings(table, target, 1);
}
