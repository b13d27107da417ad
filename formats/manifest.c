/*
 * manifest - the signed description of a snapshot (JSON, jansson)
 *
 * Owns the manifest's JSON form.  manifest_encode() emits compact JSON with
 * the keys in the fixed order of manifest.h (jansson, JSON_COMPACT |
 * JSON_PRESERVE_ORDER), so the same struct always gives the same bytes and
 * encode(decode(x)) == x for canonical input.
 *
 * Failure: manifest_decode() refuses anything that is not exactly a version
 * 1 manifest; every message starts with "manifest: " and names the field,
 * e.g. "manifest: field 'serial': out of range".
 *
 * Security: the input is untrusted (it is parsed before the signature is
 * checked, to find the key id); its size is bounded by MANIFEST_MAX before
 * jansson sees it, duplicate keys are refused, and every number is range
 * checked before use.
 */
#include <inttypes.h>
#include <string.h>

#include <jansson.h>

#include "manifest.h"

#define MANIFEST_NUM_MAX 9007199254740991LL /* 2^53-1 */

static const char manifest_hexdig[] = "0123456789abcdef";

void manifest_hex(const unsigned char *bin, size_t len, char *out)
{
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = manifest_hexdig[bin[i] >> 4];
		out[2 * i + 1] = manifest_hexdig[bin[i] & 15];
	}
	out[2 * len] = '\0';
}

/* manifest_hexval - value of a lower-case hex digit, or -1 */
static int manifest_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int manifest_unhex(const char *hex, size_t hexlen, unsigned char *bin,
		   size_t len)
{
	size_t i;

	if (hexlen != 2 * len)
		return -1;
	for (i = 0; i < len; i++) {
		int hi = manifest_hexval(hex[2 * i]);
		int lo = manifest_hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		bin[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

int manifest_origin_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > MANIFEST_ORIGIN_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

/* manifest_delim_ok - printable ASCII, no space, shorter than the field */
static int manifest_delim_ok(const char *s, size_t len, size_t max)
{
	size_t i;

	if (len >= max)
		return 0;
	for (i = 0; i < len; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return 0;
	return 1;
}

/* manifest_check - the rules that do not depend on the JSON form */
static int manifest_check(const struct manifest *m, struct err *err)
{
	unsigned char dummy[8];
	size_t n;

	if (m->version != MANIFEST_VERSION &&
	    m->version != MANIFEST_VERSION_MIN)
		return err_set(err,
			       "manifest: field 'version': unsupported "
			       "version %d",
			       m->version);
	n = strnlen(m->origin, sizeof(m->origin));
	if (n == sizeof(m->origin) || !manifest_origin_valid(m->origin, n))
		return err_set(err,
			       "manifest: field 'origin': invalid "
			       "(1..%d of A-Z a-z 0-9 . -)",
			       MANIFEST_ORIGIN_MAX);
	n = strnlen(m->key_id, sizeof(m->key_id));
	if (n != 16 || manifest_unhex(m->key_id, n, dummy, 8) < 0)
		return err_set(err, "manifest: field 'key_id': not 16 "
				    "lower-case hex digits");
	if (m->serial == 0 || m->serial > MANIFEST_SERIAL_MAX)
		return err_set(err, "manifest: field 'serial': out of range");
	if (m->created < 0 || m->created > MANIFEST_NUM_MAX)
		return err_set(err, "manifest: field 'created': out of range");
	if (m->expires < 0 || m->expires > MANIFEST_NUM_MAX)
		return err_set(err, "manifest: field 'expires': out of range");
	if (m->expires <= m->created)
		return err_set(err, "manifest: field 'expires': not after "
				    "'created'");
	if (m->kind != MANIFEST_FULL && m->kind != MANIFEST_DELTA)
		return err_set(err, "manifest: field 'kind': must be \"full\" "
				    "or \"delta\"");
	if (m->kind == MANIFEST_DELTA &&
	    (m->base_serial == 0 || m->base_serial >= m->serial))
		return err_set(err, "manifest: field 'base_serial': out of "
				    "range");
	if (m->body_size > MANIFEST_SERIAL_MAX)
		return err_set(err, "manifest: field 'body_size': out of "
				    "range");
	if (m->domains > MANIFEST_SERIAL_MAX)
		return err_set(err, "manifest: field 'domains': out of range");
	if (m->recipients > MANIFEST_SERIAL_MAX)
		return err_set(err, "manifest: field 'recipients': out of "
				    "range");
	n = strnlen(m->recipient_delimiter, sizeof(m->recipient_delimiter));
	if (!manifest_delim_ok(m->recipient_delimiter, n,
			       sizeof(m->recipient_delimiter)))
		return err_set(err,
			       "manifest: field 'recipient_delimiter': "
			       "invalid (at most %zu printable characters)",
			       sizeof(m->recipient_delimiter) - 1);
	if (m->allow_shrink != 0 && m->allow_shrink != 1)
		return err_set(err, "manifest: field 'allow_shrink': not a "
				    "boolean");
	return 0;
}

/* manifest_set - add to obj, consuming val; -1 when out of memory */
static int manifest_set(json_t *obj, const char *key, json_t *val)
{
	if (val == NULL)
		return -1;
	return json_object_set_new(obj, key, val);
}

/* manifest_sethex - add a hash as 64 hex digits */
static int manifest_sethex(json_t *obj, const char *key, const unsigned char *h)
{
	char hex[2 * STATE_HASH_LEN + 1];

	manifest_hex(h, STATE_HASH_LEN, hex);
	return manifest_set(obj, key, json_string(hex));
}

char *manifest_encode(const struct manifest *m, size_t *len_r, struct err *err)
{
	json_t *o = NULL;
	char *text = NULL;
	int bad = 0;

	if (manifest_check(m, err) < 0)
		return NULL;
	if ((o = json_object()) == NULL)
		goto nomem;
	bad |= manifest_set(o, "version", json_integer(m->version));
	bad |= manifest_set(o, "origin", json_string(m->origin));
	bad |= manifest_set(o, "key_id", json_string(m->key_id));
	bad |= manifest_set(o, "serial", json_integer((json_int_t)m->serial));
	bad |= manifest_set(o, "created", json_integer(m->created));
	bad |= manifest_set(o, "expires", json_integer(m->expires));
	bad |= manifest_set(
	    o, "kind",
	    json_string(m->kind == MANIFEST_DELTA ? "delta" : "full"));
	if (m->kind == MANIFEST_DELTA) {
		bad |= manifest_set(o, "base_serial",
				    json_integer((json_int_t)m->base_serial));
		bad |= manifest_sethex(o, "base_hash", m->base_hash);
	}
	bad |= manifest_sethex(o, "state_hash", m->state_hash);
	bad |= manifest_sethex(o, "body_hash", m->body_hash);
	bad |= manifest_set(o, "body_size",
			    json_integer((json_int_t)m->body_size));
	bad |= manifest_set(o, "domains", json_integer((json_int_t)m->domains));
	bad |= manifest_set(o, "recipients",
			    json_integer((json_int_t)m->recipients));
	bad |= manifest_set(o, "recipient_delimiter",
			    json_string(m->recipient_delimiter));
	bad |= manifest_set(o, "allow_shrink", json_boolean(m->allow_shrink));
	if (bad)
		goto nomem;
	if ((text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
		goto nomem;
	json_decref(o);
	*len_r = strlen(text);
	if (*len_r > MANIFEST_MAX) {
		free(text);
		err_set(err, "manifest: %zu bytes, over the limit of %d",
			*len_r, MANIFEST_MAX);
		return NULL;
	}
	return text;
nomem:
	json_decref(o);
	err_set(err, "manifest: out of memory");
	return NULL;
}

/* The fields in order; the delta-only ones are flagged. */
static const struct manifest_field {
	const char *name;
	int delta_only;
} manifest_fields[] = {
    {"version", 0},	 {"origin", 0},	     {"key_id", 0},
    {"serial", 0},	 {"created", 0},     {"expires", 0},
    {"kind", 0},	 {"base_serial", 1}, {"base_hash", 1},
    {"state_hash", 0},	 {"body_hash", 0},   {"body_size", 0},
    {"domains", 0},	 {"recipients", 0},  {"recipient_delimiter", 0},
    {"allow_shrink", 0},
};

/* manifest_get - the field's value, or an error naming it when missing */
static json_t *manifest_get(json_t *o, const char *key, struct err *err)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		err_set(err, "manifest: field '%s': missing", key);
	return v;
}

/* manifest_int - an integer field in [min, max] */
static int manifest_int(json_t *o, const char *key, json_int_t min,
			json_int_t max, json_int_t *out, struct err *err)
{
	json_t *v = manifest_get(o, key, err);

	if (v == NULL)
		return -1;
	if (!json_is_integer(v))
		return err_set(err, "manifest: field '%s': not an integer",
			       key);
	*out = json_integer_value(v);
	if (*out < min || *out > max)
		return err_set(err, "manifest: field '%s': out of range", key);
	return 0;
}

/* manifest_str - a string field; *len_r its length (no NUL inside) */
static int manifest_str(json_t *o, const char *key, const char **s_r,
			size_t *len_r, struct err *err)
{
	json_t *v = manifest_get(o, key, err);

	if (v == NULL)
		return -1;
	if (!json_is_string(v))
		return err_set(err, "manifest: field '%s': not a string", key);
	*s_r = json_string_value(v);
	*len_r = json_string_length(v);
	return 0;
}

/* manifest_hash - a 64-hex-digit field */
static int manifest_hash(json_t *o, const char *key, unsigned char *out,
			 struct err *err)
{
	const char *s;
	size_t len;

	if (manifest_str(o, key, &s, &len, err) < 0)
		return -1;
	if (manifest_unhex(s, len, out, STATE_HASH_LEN) < 0)
		return err_set(err,
			       "manifest: field '%s': not %d lower-case "
			       "hex digits",
			       key, 2 * STATE_HASH_LEN);
	return 0;
}

int manifest_decode(struct manifest *m, const char *json, size_t len,
		    struct err *err)
{
	json_t *o = NULL, *v;
	json_error_t jerr;
	const char *key, *s;
	size_t slen, i;
	json_int_t n;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	if (len > MANIFEST_MAX)
		return err_set(err, "manifest: %zu bytes, over the limit of %d",
			       len, MANIFEST_MAX);
	o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL)
		return err_set(err, "manifest: invalid JSON at offset %d: %s",
			       jerr.position, jerr.text);
	if (!json_is_object(o)) {
		err_set(err, "manifest: not a JSON object");
		goto out;
	}
	/* version first: a later version may have other fields */
	if (manifest_int(o, "version", INT32_MIN, INT32_MAX, &n, err) < 0)
		goto out;
	if (n != MANIFEST_VERSION && n != MANIFEST_VERSION_MIN) {
		err_set(err,
			"manifest: field 'version': unsupported version "
			"%lld",
			(long long)n);
		goto out;
	}
	m->version = (int)n;

	json_object_foreach(o, key, v)
	{
		for (i = 0;
		     i < sizeof(manifest_fields) / sizeof(manifest_fields[0]);
		     i++)
			if (strcmp(manifest_fields[i].name, key) == 0)
				break;
		if (i == sizeof(manifest_fields) / sizeof(manifest_fields[0])) {
			err_set(err, "manifest: field '%.64s': unknown field",
				key);
			goto out;
		}
	}

	if (manifest_str(o, "origin", &s, &slen, err) < 0)
		goto out;
	if (!manifest_origin_valid(s, slen)) {
		err_set(err,
			"manifest: field 'origin': invalid (1..%d of "
			"A-Z a-z 0-9 . -)",
			MANIFEST_ORIGIN_MAX);
		goto out;
	}
	memcpy(m->origin, s, slen + 1);

	if (manifest_str(o, "key_id", &s, &slen, err) < 0)
		goto out;
	{
		unsigned char id[8];

		if (manifest_unhex(s, slen, id, sizeof(id)) < 0) {
			err_set(err, "manifest: field 'key_id': not 16 "
				     "lower-case hex digits");
			goto out;
		}
	}
	memcpy(m->key_id, s, slen + 1);

	if (manifest_int(o, "serial", 1, MANIFEST_NUM_MAX, &n, err) < 0)
		goto out;
	m->serial = (uint64_t)n;
	if (manifest_int(o, "created", 0, MANIFEST_NUM_MAX, &n, err) < 0)
		goto out;
	m->created = n;
	if (manifest_int(o, "expires", 0, MANIFEST_NUM_MAX, &n, err) < 0)
		goto out;
	m->expires = n;

	if (manifest_str(o, "kind", &s, &slen, err) < 0)
		goto out;
	if (strcmp(s, "full") == 0 && slen == 4)
		m->kind = MANIFEST_FULL;
	else if (strcmp(s, "delta") == 0 && slen == 5)
		m->kind = MANIFEST_DELTA;
	else {
		err_set(err, "manifest: field 'kind': must be \"full\" or "
			     "\"delta\"");
		goto out;
	}

	if (m->kind == MANIFEST_FULL) {
		for (i = 0;
		     i < sizeof(manifest_fields) / sizeof(manifest_fields[0]);
		     i++)
			if (manifest_fields[i].delta_only &&
			    json_object_get(o, manifest_fields[i].name)) {
				err_set(err,
					"manifest: field '%s': not "
					"allowed in a full manifest",
					manifest_fields[i].name);
				goto out;
			}
	} else {
		if (manifest_int(o, "base_serial", 1, MANIFEST_NUM_MAX, &n,
				 err) < 0)
			goto out;
		m->base_serial = (uint64_t)n;
		if (manifest_hash(o, "base_hash", m->base_hash, err) < 0)
			goto out;
	}
	if (manifest_hash(o, "state_hash", m->state_hash, err) < 0 ||
	    manifest_hash(o, "body_hash", m->body_hash, err) < 0)
		goto out;
	if (manifest_int(o, "body_size", 0, MANIFEST_NUM_MAX, &n, err) < 0)
		goto out;
	m->body_size = (uint64_t)n;
	if (manifest_int(o, "domains", 0, MANIFEST_NUM_MAX, &n, err) < 0)
		goto out;
	m->domains = (uint64_t)n;
	if (manifest_int(o, "recipients", 0, MANIFEST_NUM_MAX, &n, err) < 0)
		goto out;
	m->recipients = (uint64_t)n;

	if (manifest_str(o, "recipient_delimiter", &s, &slen, err) < 0)
		goto out;
	if (!manifest_delim_ok(s, slen, sizeof(m->recipient_delimiter))) {
		err_set(err,
			"manifest: field 'recipient_delimiter': invalid "
			"(at most %zu printable characters)",
			sizeof(m->recipient_delimiter) - 1);
		goto out;
	}
	memcpy(m->recipient_delimiter, s, slen + 1);

	if ((v = manifest_get(o, "allow_shrink", err)) == NULL)
		goto out;
	if (!json_is_boolean(v)) {
		err_set(err, "manifest: field 'allow_shrink': not a boolean");
		goto out;
	}
	m->allow_shrink = json_is_true(v) ? 1 : 0;

	/* cross-field rules (expires > created, base_serial < serial) */
	rc = manifest_check(m, err);
out:
	json_decref(o);
	if (rc < 0)
		memset(m, 0, sizeof(*m));
	return rc;
}
