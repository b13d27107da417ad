/*
 * fuzz-signed - the code after the signature check: the input is the body
 * of a full snapshot that a trusted key signed correctly (manifest with the
 * body's hash and, when it parses, its counts), loaded as a stored state by
 * store_load() the way mxsyncd loads state_dir at start.  A body that is
 * canonical text must load; any other must be refused.
 */
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "../../keys/key.h"
#include "../../syncd/store.h"
#include "fuzz.h"

static char fuzz_dir[4096], fuzz_snap[4200];
static struct key_secret *fuzz_sk;
static struct trust *fuzz_trust;

/* fuzz_signed_init - a key, its trusted-keys line, an empty state_dir */
static void fuzz_signed_init(void)
{
	unsigned char pk[KEY_PUBLIC_LEN];
	char path[4200], publine[512], b64[64], line[700];
	const char *tmp = getenv("TMPDIR");
	struct err err;
	FILE *f;

	fuzz_assert(key_init(&err) == 0);
	snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/fuzz-signed.XXXXXX",
		 tmp ? tmp : "/tmp");
	fuzz_assert(mkdtemp(fuzz_dir) != NULL);
	snprintf(path, sizeof(path), "%s/key", fuzz_dir);
	fuzz_assert(
	    key_generate(path, "fuzz", publine, sizeof(publine), &err) == 0);
	fuzz_sk = key_load_secret(path, &err);
	fuzz_assert(fuzz_sk != NULL);
	unlink(path);
	key_secret_public(fuzz_sk, pk);
	sodium_bin2base64(b64, sizeof(b64), pk, sizeof(pk),
			  sodium_base64_VARIANT_ORIGINAL);
	snprintf(line, sizeof(line), "fuzz.example %s %s %s *\n",
		 KEY_PUBLIC_TAG, key_secret_id(fuzz_sk), b64);
	snprintf(path, sizeof(path), "%s/trusted_keys", fuzz_dir);
	f = fopen(path, "w");
	fuzz_assert(f != NULL && fputs(line, f) >= 0 && fclose(f) == 0);
	fuzz_trust = trust_load(path, &err);
	fuzz_assert(fuzz_trust != NULL);
	unlink(path);
	snprintf(path, sizeof(path), "%s/state", fuzz_dir);
	fuzz_assert(mkdir(path, 0700) == 0);
	snprintf(fuzz_snap, sizeof(fuzz_snap),
		 "%s/state/origin-fuzz.example.snap", fuzz_dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char sig[KEY_SIG_LEN];
	char statedir[4200];
	struct manifest m;
	struct state *st;
	struct store *s;
	struct err err;
	char *json;
	size_t jlen;

	if (fuzz_sk == NULL)
		fuzz_signed_init();
	memset(&m, 0, sizeof(m));
	m.version = MANIFEST_VERSION;
	strcpy(m.origin, "fuzz.example");
	memcpy(m.key_id, key_secret_id(fuzz_sk), KEY_ID_LEN + 1);
	m.serial = 1;
	m.created = (int64_t)time(NULL);
	m.expires = m.created + 3600;
	m.kind = MANIFEST_FULL;
	crypto_generichash(m.body_hash, STATE_HASH_LEN, data, size, NULL, 0);
	memcpy(m.state_hash, m.body_hash, STATE_HASH_LEN);
	m.body_size = size;
	strcpy(m.recipient_delimiter, "+");
	st = state_parse((const char *)data, size, &err);
	if (st != NULL) {
		m.domains = state_domain_count(st);
		m.recipients = state_recipient_count(st);
		state_hash(st, m.state_hash);
	}
	json = manifest_encode(&m, &jlen, &err);
	fuzz_assert(json != NULL);
	fuzz_assert(key_sign(fuzz_sk, json, jlen, sig, &err) == 0);
	fuzz_assert(
	    snapshot_write(fuzz_snap, json, jlen, sig, data, size, &err) == 0);
	snprintf(statedir, sizeof(statedir), "%s/state", fuzz_dir);
	s = store_load(statedir, fuzz_trust, &err);
	if (st != NULL)
		fuzz_assert(s != NULL && s->n == 1);
	else
		fuzz_assert(s == NULL);
	store_free(s);
	unlink(fuzz_snap);
	state_free(st);
	free(json);
	return 0;
}
