/*
 * test-manifest - manifest JSON: golden bytes, round trip, every refusal
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../formats/manifest.h"
#include "test.h"

static void sample(struct manifest *m, int delta)
{
	size_t i;

	memset(m, 0, sizeof(*m));
	m->version = MANIFEST_VERSION;
	strcpy(m->origin, "mx1.example.com");
	strcpy(m->key_id, "0123456789abcdef");
	m->serial = 42;
	m->created = 1700000000;
	m->expires = 1700086400;
	m->kind = delta ? MANIFEST_DELTA : MANIFEST_FULL;
	for (i = 0; i < STATE_HASH_LEN; i++) {
		if (delta)
			m->base_hash[i] = (unsigned char)(0xa0 + i % 16);
		m->state_hash[i] = (unsigned char)i;
		m->body_hash[i] = (unsigned char)(255 - i);
	}
	if (delta)
		m->base_serial = 41;
	m->body_size = 1234;
	m->domains = 3;
	m->recipients = 10;
	strcpy(m->recipient_delimiter, "+");
	m->allow_shrink = delta ? 0 : 1;
}

/* replace the first occurrence of from in text by to; static buffer */
static const char *subst(const char *text, const char *from, const char *to)
{
	static char out[16384];
	const char *p = strstr(text, from);

	if (p == NULL) {
		snprintf(out, sizeof(out), "(no '%s' in input)", from);
		return out;
	}
	snprintf(out, sizeof(out), "%.*s%s%s", (int)(p - text), text, to,
		 p + strlen(from));
	return out;
}

static void refuse(const char *json, const char *want, const char *what)
{
	struct manifest m;
	struct err err = {""};
	int rc = manifest_decode(&m, json, strlen(json), &err);

	ok(rc == -1, "refused: %s", what);
	has_str(err.msg, want, "message for %s", what);
}

static const char edge[] =
    " {\"allow_shrink\": true, \"version\":1,\"origin\":\"a\","
    "\"key_id\":\"0123456789abcdef\",\"serial\":9007199254740991,"
    "\"created\":0,\"expires\":1,\"kind\":\"full\",\"state_hash\":"
    "\"0000000000000000000000000000000000000000000000000000000000000000\","
    "\"body_hash\":"
    "\"0000000000000000000000000000000000000000000000000000000000000000\","
    "\"body_size\":9007199254740991,\"domains\":0,\"recipients\":0,"
    "\"recipient_delimiter\":\"\"}\n";

int main(void)
{
	struct manifest m, d;
	struct err err = {""};
	char *full_g, *delta_g, *text;
	size_t full_len = 0, delta_len = 0, len = 0;
	char big[MANIFEST_MAX + 64];

	full_g = test_read_golden("manifest-full.json", &full_len);
	delta_g = test_read_golden("manifest-delta.json", &delta_len);
	ok(full_g && delta_g, "golden files readable");
	if (!full_g || !delta_g)
		return test_done();

	/* encode matches the golden bytes */
	sample(&m, 0);
	text = manifest_encode(&m, &len, &err);
	ok(text && len == full_len && memcmp(text, full_g, len) == 0,
	   "full manifest encodes to the golden bytes");
	if (text && (len != full_len || memcmp(text, full_g, len)))
		printf("# got %s\n", text);
	free(text);
	sample(&m, 1);
	text = manifest_encode(&m, &len, &err);
	ok(text && len == delta_len && memcmp(text, delta_g, len) == 0,
	   "delta manifest encodes to the golden bytes");
	if (text && (len != delta_len || memcmp(text, delta_g, len)))
		printf("# got %s\n", text);
	free(text);

	/* decode then encode gives the same bytes */
	ok(manifest_decode(&d, full_g, full_len, &err) == 0,
	   "golden full decodes: %s", err.msg);
	sample(&m, 0);
	ok(memcmp(&d, &m, sizeof(m)) == 0, "decoded full equals the struct");
	text = manifest_encode(&d, &len, &err);
	ok(text && len == full_len && memcmp(text, full_g, len) == 0,
	   "encode(decode(full)) == full");
	free(text);
	ok(manifest_decode(&d, delta_g, delta_len, &err) == 0,
	   "golden delta decodes: %s", err.msg);
	sample(&m, 1);
	ok(memcmp(&d, &m, sizeof(m)) == 0, "decoded delta equals the struct");
	text = manifest_encode(&d, &len, &err);
	ok(text && len == delta_len && memcmp(text, delta_g, len) == 0,
	   "encode(decode(delta)) == delta");
	free(text);

	/* field order and white space do not matter to the decoder */
	ok(manifest_decode(&d, edge, strlen(edge), &err) == 0,
	   "edge values accepted (serial 2^53-1, created 0): %s", err.msg);
	ok(d.serial == MANIFEST_SERIAL_MAX && d.allow_shrink == 1 &&
	       d.recipient_delimiter[0] == '\0',
	   "edge values decoded");

	/* refusals, each naming the field */
	refuse(subst(full_g, "\"version\":2", "\"version\":3"),
	       "manifest: field 'version': unsupported version 3",
	       "unknown version");
	{
		const char *v1 =
		    subst(full_g, "\"version\":2", "\"version\":1");

		ok(manifest_decode(&d, v1, strlen(v1), &err) == 0 &&
		       d.version == 1,
		   "version 1 (the flat state hash) is still read: %s",
		   err.msg);
	}
	refuse(subst(full_g, "\"version\":2", "\"version\":\"1\""),
	       "manifest: field 'version': not an integer", "mistyped version");
	refuse(subst(full_g, "\"version\":2,", ""),
	       "manifest: field 'version': missing", "missing version");
	refuse(subst(full_g, "\"serial\":42", "\"serial\":0"),
	       "manifest: field 'serial': out of range", "serial 0");
	refuse(subst(full_g, "\"serial\":42", "\"serial\":9007199254740992"),
	       "manifest: field 'serial': out of range", "serial 2^53");
	refuse(subst(full_g, "\"serial\":42", "\"serial\":-1"),
	       "manifest: field 'serial': out of range", "negative serial");
	refuse(subst(full_g, "\"serial\":42", "\"serial\":42.0"),
	       "manifest: field 'serial': not an integer", "real serial");
	refuse(subst(full_g, "\"serial\":42,", ""),
	       "manifest: field 'serial': missing", "missing serial");
	refuse(subst(full_g, "\"created\":1700000000", "\"created\":-5"),
	       "manifest: field 'created': out of range", "negative created");
	refuse(subst(full_g, "\"expires\":1700086400", "\"expires\":-1"),
	       "manifest: field 'expires': out of range", "negative expires");
	refuse(
	    subst(full_g, "\"expires\":1700086400", "\"expires\":1700000000"),
	    "manifest: field 'expires': not after 'created'",
	    "expires == created");
	refuse(subst(full_g, "\"expires\":1700086400", "\"expires\":1"),
	       "manifest: field 'expires': not after 'created'",
	       "expires < created");
	refuse(subst(full_g, "\"body_size\":1234",
		     "\"body_size\":9007199254740992"),
	       "manifest: field 'body_size': out of range", "body_size 2^53");
	refuse(subst(full_g, "\"body_size\":1234", "\"body_size\":-1"),
	       "manifest: field 'body_size': out of range",
	       "negative body_size");
	refuse(subst(full_g, "\"domains\":3", "\"domains\":-3"),
	       "manifest: field 'domains': out of range", "negative domains");
	refuse(subst(full_g, "\"recipients\":10", "\"recipients\":true"),
	       "manifest: field 'recipients': not an integer",
	       "mistyped recipients");
	refuse(subst(full_g, "\"state_hash\":\"00", "\"state_hash\":\"0g"),
	       "manifest: field 'state_hash': not 64 lower-case hex digits",
	       "bad hex");
	refuse(subst(full_g, "\"state_hash\":\"00", "\"state_hash\":\"0A"),
	       "manifest: field 'state_hash': not 64 lower-case hex digits",
	       "upper-case hex");
	refuse(subst(full_g, "\"body_hash\":\"ff", "\"body_hash\":\""),
	       "manifest: field 'body_hash': not 64 lower-case hex digits",
	       "short hash");
	refuse(subst(full_g, "\"body_hash\":\"ff", "\"body_hash\":\"ff00"),
	       "manifest: field 'body_hash': not 64 lower-case hex digits",
	       "long hash");
	refuse(subst(full_g, "\"key_id\":\"0123456789abcdef\"",
		     "\"key_id\":\"0123456789abcde\""),
	       "manifest: field 'key_id': not 16 lower-case hex digits",
	       "short key_id");
	refuse(subst(full_g, "\"key_id\":\"0123456789abcdef\"",
		     "\"key_id\":\"0123456789ABCDEF\""),
	       "manifest: field 'key_id': not 16 lower-case hex digits",
	       "upper-case key_id");
	refuse(subst(full_g, "\"key_id\":\"0123456789abcdef\"", "\"key_id\":7"),
	       "manifest: field 'key_id': not a string", "mistyped key_id");
	refuse(subst(full_g, "\"origin\":\"mx1.example.com\"",
		     "\"origin\":\"mx1 example.com\""),
	       "manifest: field 'origin': invalid", "space in origin");
	refuse(subst(full_g, "\"origin\":\"mx1.example.com\"",
		     "\"origin\":\"mx1/../x\""),
	       "manifest: field 'origin': invalid", "slash in origin");
	refuse(
	    subst(full_g, "\"origin\":\"mx1.example.com\"", "\"origin\":\"\""),
	    "manifest: field 'origin': invalid", "empty origin");
	refuse(subst(full_g, "\"origin\":\"mx1.example.com\"",
		     "\"origin\":\"mx1\\u0000x\""),
	       "manifest: invalid JSON", "NUL in origin");
	{
		char o[400], j[300 + sizeof(o)];

		memset(o, 'a', 254);
		o[254] = '\0';
		snprintf(j, sizeof(j), "\"origin\":\"%s\"", o);
		refuse(subst(full_g, "\"origin\":\"mx1.example.com\"", j),
		       "manifest: field 'origin': invalid",
		       "origin of 254 octets");
	}
	refuse(subst(full_g, "\"kind\":\"full\"", "\"kind\":\"Full\""),
	       "manifest: field 'kind': must be", "unknown kind");
	refuse(subst(full_g, "\"allow_shrink\":true", "\"allow_shrink\":1"),
	       "manifest: field 'allow_shrink': not a boolean",
	       "mistyped allow_shrink");
	refuse(subst(full_g, "\"recipient_delimiter\":\"+\"",
		     "\"recipient_delimiter\":\"+ \""),
	       "manifest: field 'recipient_delimiter': invalid",
	       "space in recipient_delimiter");
	refuse(subst(full_g, "\"recipient_delimiter\":\"+\"",
		     "\"recipient_delimiter\":\"0123456789abcdef\""),
	       "manifest: field 'recipient_delimiter': invalid",
	       "recipient_delimiter too long");
	refuse(
	    subst(full_g, "\"allow_shrink\"", "\"extra\":1,\"allow_shrink\""),
	    "manifest: field 'extra': unknown field", "unknown field");
	refuse(subst(full_g, "\"serial\":42", "\"serial\":42,\"serial\":43"),
	       "manifest: invalid JSON", "duplicate field");
	refuse(subst(full_g, "\"state_hash\"",
		     "\"base_serial\":41,\"state_hash\""),
	       "manifest: field 'base_serial': not allowed in a full manifest",
	       "base_serial in a full manifest");
	refuse(subst(delta_g, "\"kind\":\"delta\"", "\"kind\":\"full\""),
	       "manifest: field 'base_serial': not allowed in a full manifest",
	       "delta fields in a full manifest");
	refuse(subst(delta_g, "\"base_serial\":41,", ""),
	       "manifest: field 'base_serial': missing",
	       "delta without base_serial");
	refuse(subst(delta_g, "\"base_serial\":41", "\"base_serial\":42"),
	       "manifest: field 'base_serial': out of range",
	       "delta base_serial not below serial");
	refuse(subst(delta_g, "\"base_hash\":\"a0", "\"base_hash\":\"x0"),
	       "manifest: field 'base_hash': not 64 lower-case hex digits",
	       "delta base_hash bad hex");
	refuse(subst(full_g, "}", "}x"), "manifest: invalid JSON",
	       "trailing bytes");
	refuse("[1,2]", "manifest: not a JSON object", "not an object");
	refuse(subst(full_g, "}", ""), "manifest: invalid JSON", "truncated");

	memset(big, ' ', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, full_g, full_len);
	refuse(big, "manifest: 4159 bytes, over the limit of 4096", "oversize");

	/* encode refuses what decode would refuse */
	sample(&m, 0);
	m.serial = 0;
	ok(manifest_encode(&m, &len, &err) == NULL &&
	       strstr(err.msg, "field 'serial'"),
	   "encode refuses serial 0");
	sample(&m, 0);
	strcpy(m.origin, "bad origin");
	ok(manifest_encode(&m, &len, &err) == NULL &&
	       strstr(err.msg, "field 'origin'"),
	   "encode refuses a bad origin");

	/* hex helpers */
	{
		unsigned char b[2];
		char h[5];

		manifest_hex((const unsigned char *)"\x0f\xa0", 2, h);
		is_str(h, "0fa0", "manifest_hex");
		ok(manifest_unhex("0fa0", 4, b, 2) == 0 && b[0] == 0x0f &&
		       b[1] == 0xa0,
		   "manifest_unhex");
		ok(manifest_unhex("0fa", 3, b, 2) < 0, "unhex refuses odd");
	}

	free(full_g);
	free(delta_g);
	return test_done();
}
