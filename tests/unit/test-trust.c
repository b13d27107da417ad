/*
 * test-trust - the trusted-keys file: lookups, domain scope, and every
 * refusal with its "file:line: message".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "../../keys/trust.h"
#include "test.h"

static char dir[] = "/tmp/test-trust.XXXXXX";
static char path[300];

struct tkey {
	char id[KEY_ID_LEN + 1];
	char b64[64];
	unsigned char pk[KEY_PUBLIC_LEN];
};

static void tkey_make(struct tkey *k)
{
	unsigned char sk[crypto_sign_SECRETKEYBYTES];

	crypto_sign_keypair(k->pk, sk);
	sodium_memzero(sk, sizeof(sk));
	key_id(k->pk, k->id);
	sodium_bin2base64(k->b64, sizeof(k->b64), k->pk, sizeof(k->pk),
			  sodium_base64_VARIANT_ORIGINAL);
}

static void write_trust(const char *text)
{
	FILE *fp = fopen(path, "w");

	if (fp == NULL || fputs(text, fp) < 0 || fclose(fp) != 0) {
		perror(path);
		exit(1);
	}
}

/* load_err - trust_load of text must fail; its message */
static const char *load_err(const char *text)
{
	static struct err err;
	struct trust *t;

	write_trust(text);
	strcpy(err.msg, "(no error)");
	t = trust_load(path, &err);
	if (t != NULL) {
		trust_free(t);
		return "(loaded)";
	}
	return err.msg;
}

/* want - "path:line: msg" */
static const char *want(unsigned line, const char *msg)
{
	static char w[600];

	snprintf(w, sizeof(w), "%s:%u: %s", path, line, msg);
	return w;
}

int main(void)
{
	struct tkey a1, a2, b1, c1;
	struct err err = {""};
	struct trust *t;
	const struct trust_key *k;
	char text[4096];

	if (sodium_init() < 0 || mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/trusted-keys", dir);
	tkey_make(&a1);
	tkey_make(&a2);
	tkey_make(&b1);
	tkey_make(&c1);

	snprintf(text, sizeof(text),
		 "# trusted keys\n"
		 "\n"
		 "mx1.example mxsync-ed25519 %s %s Example.COM example.org "
		 "example.com\n"
		 "   # a rollover key of the same origin, same domains\n"
		 "mx1.example\tmxsync-ed25519 %s %s example.com\n"
		 "  \t \n"
		 "MX-2.example mxsync-ed25519 %s %s Stra\xc3\x9f"
		 "e.example other.example\n",
		 a1.id, a1.b64, a2.id, a2.b64, b1.id, b1.b64);
	write_trust(text);
	t = trust_load(path, &err);
	ok(t != NULL, "trust_load: %s", err.msg);
	if (t == NULL)
		return test_done();
	ok(t->n == 3, "three keys");
	is_str(t->path, path, "path kept");
	k = trust_find(t, a1.id);
	ok(k != NULL && strcmp(k->origin, "mx1.example") == 0 && k->line == 3 &&
	       memcmp(k->pk, a1.pk, 32) == 0,
	   "trust_find a1: origin, line, public key");
	ok(k != NULL && k->ndomains == 2,
	   "duplicate domains dropped, case folded");
	ok(k != NULL && trust_allows(k, "example.com", 11) == 1,
	   "a1 allows example.com");
	ok(k != NULL && trust_allows(k, "example.org", 11) == 1,
	   "a1 allows example.org");
	ok(k != NULL && trust_allows(k, "sub.example.com", 15) == 0,
	   "a1 does not allow a subdomain");
	ok(k != NULL && trust_allows(k, "example.co", 10) == 0,
	   "a1 does not allow a prefix");
	ok(k != NULL && trust_allows(k, "example.comx", 12) == 0,
	   "a1 does not allow a longer name");
	ok(k != NULL && trust_allows(k, "example.computer", 11) == 1,
	   "trust_allows honours the length, not a NUL");
	ok(k != NULL && trust_allows(k, "other.example", 13) == 0,
	   "a1 does not allow b's domain");
	k = trust_find(t, a2.id);
	ok(k != NULL && k->line == 5 && trust_allows(k, "example.com", 11) &&
	       !trust_allows(k, "example.org", 11),
	   "rollover key a2");
	k = trust_find(t, b1.id);
	ok(k != NULL && strcmp(k->origin, "MX-2.example") == 0 &&
	       trust_allows(k, "strasse.example", 15) == 1,
	   "b1 allows the folded strasse.example");
	ok(trust_find(t, c1.id) == NULL, "unknown key id not found");
	ok(trust_find(t, "") == NULL, "empty key id not found");
	trust_free(t);
	trust_free(NULL);

	snprintf(text, sizeof(text), "mx1.example mxsync-ed25519 %s %s *\n",
		 a1.id, a1.b64);
	write_trust(text);
	t = trust_load(path, &err);
	k = t ? trust_find(t, a1.id) : NULL;
	ok(k != NULL && trust_allows(k, "anything.example", 16) == 1,
	   "\"*\" allows any domain");
	trust_free(t);
	write_trust("# nothing trusted yet\n\n");
	t = trust_load(path, &err);
	ok(t != NULL && t->n == 0, "a file of comments loads, no keys");
	trust_free(t);

	/* refusals */
	snprintf(text, sizeof(text), "# c\nmx1 mxsync-ed448 %s %s a.example\n",
		 a1.id, a1.b64);
	has_str(load_err(text), want(2, "unknown key type \"mxsync-ed448\""),
		"wrong tag");
	snprintf(text, sizeof(text),
		 "mx1 mxsync-ed25519 %s %.40s!!!! a.example\n", a1.id, a1.b64);
	has_str(load_err(text), want(1, "bad base64 in the public key"),
		"bad base64");
	snprintf(text, sizeof(text), "mx1 mxsync-ed25519 %s %.40s a.example\n",
		 a1.id, a1.b64);
	has_str(load_err(text), want(1, "public key has the wrong length"),
		"short public key");
	snprintf(text, sizeof(text), "mx1 mxsync-ed25519 %s %s a.example\n",
		 b1.id, a1.b64);
	snprintf(text + 1000, 200, "key id %s does not match the public key",
		 b1.id);
	has_str(load_err(text), want(1, text + 1000),
		"key id not matching the public key");
	snprintf(text, sizeof(text), "mx1 mxsync-ed25519 %.15s %s a.example\n",
		 a1.id, a1.b64);
	has_str(load_err(text), want(1, "malformed key id"), "short key id");
	snprintf(text, sizeof(text),
		 "mx1 mxsync-ed25519 %s %s a.example\n"
		 "\n"
		 "mx1 mxsync-ed25519 %s %s b.example\n",
		 a1.id, a1.b64, a1.id, a1.b64);
	snprintf(text + 1000, 200, "duplicate key id %s (first on line 1)",
		 a1.id);
	has_str(load_err(text), want(3, text + 1000), "duplicate key id");
	snprintf(text, sizeof(text), "mx1 mxsync-ed25519 %s %s\n", a1.id,
		 a1.b64);
	snprintf(text + 1000, 200, "key %s lists no domains", a1.id);
	has_str(load_err(text), want(1, text + 1000), "missing domains");
	snprintf(text, sizeof(text),
		 "mx1 mxsync-ed25519 %s %s a.example "
		 "bad..example\n",
		 a1.id, a1.b64);
	has_str(load_err(text), want(1, "malformed domain \"bad..example\""),
		"malformed domain (empty label)");
	snprintf(text, sizeof(text),
		 "mx1 mxsync-ed25519 %s %s "
		 "user@a.example\n",
		 a1.id, a1.b64);
	has_str(load_err(text), want(1, "malformed domain \"user@a.example\""),
		"malformed domain (an address)");
	snprintf(text, sizeof(text), "mx_1 mxsync-ed25519 %s %s a.example\n",
		 a1.id, a1.b64);
	has_str(load_err(text), want(1, "malformed origin \"mx_1\""),
		"malformed origin");
	snprintf(text, sizeof(text), "mx1 mxsync-ed25519 %s\n", a1.id);
	has_str(load_err(text), want(1, "want \"ORIGIN mxsync-ed25519"),
		"too few fields");
	/* one origin per domain: a shared domain is a file:line error */
	snprintf(text, sizeof(text),
		 "mx1 mxsync-ed25519 %s %s a.example b.example\n"
		 "# comment\n"
		 "mx2 mxsync-ed25519 %s %s c.example B.example\n",
		 a1.id, a1.b64, b1.id, b1.b64);
	has_str(load_err(text),
		want(3, "domain b.example is already trusted "
			"to origin mx1 (line 1); one origin per "
			"domain"),
		"a domain shared by two origins");
	snprintf(text, sizeof(text),
		 "mx1 mxsync-ed25519 %s %s *\n"
		 "mx2 mxsync-ed25519 %s %s *\n",
		 a1.id, a1.b64, b1.id, b1.b64);
	has_str(load_err(text),
		want(2, "domain * is already trusted to "
			"origin mx1 (line 1)"),
		"\"*\" for two origins");
	/* one domain in its two IDNA spellings is one domain */
	snprintf(text, sizeof(text),
		 "mx1 mxsync-ed25519 %s %s b\xc3\xbc"
		 "cher.example\n"
		 "mx2 mxsync-ed25519 %s %s xn--bcher-kva.example\n",
		 a1.id, a1.b64, b1.id, b1.b64);
	has_str(load_err(text),
		want(2, "domain xn--bcher-kva.example is "
			"already trusted to origin mx1 (line 1)"),
		"a U-label domain and its A-label for two origins");
	snprintf(text, sizeof(text),
		 "mx1 mxsync-ed25519 %s %s xn--bcher-kva.example\n"
		 "mx2 mxsync-ed25519 %s %s B\xc3\xbc"
		 "cher.example\n",
		 a1.id, a1.b64, b1.id, b1.b64);
	has_str(load_err(text),
		want(2, "domain b\xc3\xbc"
			"cher.example is "
			"already trusted to origin mx1 (line 1)"),
		"an A-label domain and its U-label for two origins");
	/* a rollover key of one origin, and "*" beside named domains: fine */
	snprintf(text, sizeof(text),
		 "mx1 mxsync-ed25519 %s %s a.example b.example\n"
		 "mx1 mxsync-ed25519 %s %s b.example\n"
		 "mx2 mxsync-ed25519 %s %s c.example\n"
		 "mx3 mxsync-ed25519 %s %s *\n",
		 a1.id, a1.b64, a2.id, a2.b64, b1.id, b1.b64, c1.id, c1.b64);
	write_trust(text);
	t = trust_load(path, &err);
	ok(t != NULL && t->n == 4 &&
	       trust_allows(trust_find(t, c1.id), "b.example", 9),
	   "rollover keys share domains; \"*\" beside named ones: %s", err.msg);
	is_str(t != NULL ? trust_owner(t, "b.example", 9) : NULL, "mx1",
	       "trust_owner: the origin naming the domain");
	ok(t != NULL && trust_owner(t, "z.example", 9) == NULL,
	   "trust_owner: none for a domain only \"*\" covers");
	trust_free(t);
	/* a "*" key gets neither spelling of a domain named elsewhere */
	snprintf(text, sizeof(text),
		 "mx1 mxsync-ed25519 %s %s b\xc3\xbc"
		 "cher.example\n"
		 "mx2 mxsync-ed25519 %s %s xn--caf-dma.example\n"
		 "mx3 mxsync-ed25519 %s %s *\n",
		 a1.id, a1.b64, b1.id, b1.b64, c1.id, c1.b64);
	write_trust(text);
	t = trust_load(path, &err);
	is_str(t != NULL ? trust_owner(t, "xn--bcher-kva.example", 21) : NULL,
	       "mx1", "trust_owner: the A-label of a U-label domain");
	is_str(t != NULL ? trust_owner(t, "caf\xc3\xa9.example", 13) : NULL,
	       "mx2", "trust_owner: the U-label of an A-label domain");
	ok(t != NULL && trust_owner(t, "xn--bcher-kvb.example", 21) == NULL,
	   "trust_owner: another A-label is another domain");
	trust_free(t);
	snprintf(text, sizeof(text), "mx1 mxsync-ed25519 %s %s a.exa\001mple\n",
		 a1.id, a1.b64);
	has_str(load_err(text), want(1, "malformed domain"),
		"control character in a domain");
	snprintf(path, sizeof(path), "%s/absent", dir);
	t = trust_load(path, &err);
	ok(t == NULL, "a missing file fails");
	has_str(err.msg, "absent): No such file or directory", "... message");

	snprintf(path, sizeof(path), "%s/trusted-keys", dir);
	unlink(path);
	rmdir(dir);
	return test_done();
}
