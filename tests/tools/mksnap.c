/*
 * mksnap - make signed snapshots (good and deliberately bad) for the tests
 *
 *	tool-mksnap -k KEYFILE -o ORIGIN -s SERIAL [options] STATEFILE OUT
 *
 * STATEFILE is a canonical state text (formats/state.h).  OUT is written in
 * the snapshot file format (formats/snapshot.h), or with --headers the body
 * alone goes to OUT and the two request headers are printed on stdout, one
 * per line, ready for "curl -H @FILE":
 *
 *	X-Mxsync-Manifest: <base64>
 *	X-Mxsync-Signature: <base64>
 *
 * Options:
 *	--delta-from OLDSTATE	a delta body from OLDSTATE to STATEFILE
 *	--base-serial N		the delta's base serial (default SERIAL-1)
 *	--base-hash HEX		claim this base hash instead of OLDSTATE's
 *	--expires-in S		expiry after creation (default 3600)
 *	--created-offset S	created = now + S (may be negative)
 *	--allow-shrink		set allow_shrink
 *	--delimiter D		recipient_delimiter (default "+")
 *	--key-id HEX		claim this key id in the manifest
 *	--raw-body		STATEFILE is sent as the body as is (need not
 *				parse); state_hash is its hash, counts 0
 *	--wrong-state-hash	sign a state_hash that the body does not give
 *	--wrong-counts		sign a recipient count one too high
 *	--body-size N		sign this body_size instead of the real one
 *	--recipients N		sign this recipient count instead of the real
 *one
 *	--tamper body|sig|manifest
 *				after signing, flip a body byte, a signature
 *				byte, or a manifest byte (the serial's last
 *				digit), so the signature or body hash fails
 *
 * Exit 0 on success, 1 on any error (message on stderr).
 */
#include <getopt.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../formats/buf.h"
#include "../../formats/delta.h"
#include "../../formats/manifest.h"
#include "../../formats/snapshot.h"
#include "../../formats/state.h"
#include "../../keys/key.h"

static void mksnap_die(const char *what, const char *msg)
{
	fprintf(stderr, "tool-mksnap: %s: %s\n", what, msg);
	exit(1);
}

/* mksnap_slurp - a whole file into memory */
static char *mksnap_slurp(const char *path, size_t *len_r)
{
	struct buf b = BUF_INIT;
	char chunk[65536];
	size_t n;
	FILE *f = fopen(path, "rb");

	if (f == NULL)
		mksnap_die(path, "cannot open");
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(&b, chunk, n) < 0)
			mksnap_die(path, "out of memory");
	fclose(f);
	if (b.data == NULL && buf_append(&b, "", 0) < 0)
		mksnap_die(path, "out of memory");
	return buf_steal(&b, len_r);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"delta-from", required_argument, NULL, 'D'},
	    {"base-serial", required_argument, NULL, 'B'},
	    {"base-hash", required_argument, NULL, 'H'},
	    {"expires-in", required_argument, NULL, 'E'},
	    {"created-offset", required_argument, NULL, 'C'},
	    {"allow-shrink", no_argument, NULL, 'A'},
	    {"delimiter", required_argument, NULL, 'd'},
	    {"key-id", required_argument, NULL, 'I'},
	    {"raw-body", no_argument, NULL, 'R'},
	    {"wrong-state-hash", no_argument, NULL, 'W'},
	    {"wrong-counts", no_argument, NULL, 'N'},
	    {"body-size", required_argument, NULL, 'Z'},
	    {"recipients", required_argument, NULL, 'r'},
	    {"tamper", required_argument, NULL, 'T'},
	    {"headers", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	const char *keyfile = NULL, *origin = NULL, *delta_from = NULL,
		   *base_hash = NULL, *key_id_claim = NULL, *tamper = NULL,
		   *delim = "+";
	uint64_t serial = 0, base_serial = 0, body_size_claim = 0,
		 recipients_claim = 0;
	int64_t expires_in = 3600, created_offset = 0;
	int c, allow_shrink = 0, raw = 0, wrong_hash = 0, wrong_counts = 0,
	       headers = 0, have_base_serial = 0, have_size = 0,
	       have_recipients = 0;
	struct key_secret *sk;
	struct state *st = NULL, *old = NULL;
	struct manifest m;
	struct buf body = BUF_INIT;
	struct err err;
	unsigned char sig[SNAPSHOT_SIG_LEN];
	char *json, *b64m, *b64s, *text;
	size_t jlen, tlen, adds, removes;
	FILE *f;

	while ((c = getopt_long(argc, argv, "k:o:s:", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			keyfile = optarg;
			break;
		case 'o':
			origin = optarg;
			break;
		case 's':
			serial = strtoull(optarg, NULL, 10);
			break;
		case 'D':
			delta_from = optarg;
			break;
		case 'B':
			base_serial = strtoull(optarg, NULL, 10);
			have_base_serial = 1;
			break;
		case 'H':
			base_hash = optarg;
			break;
		case 'E':
			expires_in = strtoll(optarg, NULL, 10);
			break;
		case 'C':
			created_offset = strtoll(optarg, NULL, 10);
			break;
		case 'A':
			allow_shrink = 1;
			break;
		case 'r':
			recipients_claim = strtoull(optarg, NULL, 10);
			have_recipients = 1;
			break;
		case 'd':
			delim = optarg;
			break;
		case 'I':
			key_id_claim = optarg;
			break;
		case 'R':
			raw = 1;
			break;
		case 'W':
			wrong_hash = 1;
			break;
		case 'N':
			wrong_counts = 1;
			break;
		case 'Z':
			body_size_claim = strtoull(optarg, NULL, 10);
			have_size = 1;
			break;
		case 'T':
			tamper = optarg;
			break;
		case 'h':
			headers = 1;
			break;
		default:
			fprintf(stderr, "usage: see the head of tests/tools/"
					"mksnap.c\n");
			return 1;
		}
	}
	if (keyfile == NULL || origin == NULL || serial == 0 ||
	    argc - optind != 2)
		mksnap_die("usage", "-k KEYFILE -o ORIGIN -s SERIAL [options] "
				    "STATEFILE OUT");
	if (key_init(&err) < 0)
		mksnap_die("key_init", err.msg);
	sk = key_load_secret(keyfile, &err);
	if (sk == NULL)
		mksnap_die(keyfile, err.msg);

	memset(&m, 0, sizeof(m));
	m.version = MANIFEST_VERSION;
	snprintf(m.origin, sizeof(m.origin), "%s", origin);
	snprintf(m.key_id, sizeof(m.key_id), "%s",
		 key_id_claim ? key_id_claim : key_secret_id(sk));
	m.serial = serial;
	m.created = (int64_t)time(NULL) + created_offset;
	m.expires = m.created + expires_in;
	snprintf(m.recipient_delimiter, sizeof(m.recipient_delimiter), "%s",
		 delim);
	m.allow_shrink = allow_shrink;
	if (raw) {
		text = mksnap_slurp(argv[optind], &tlen);
		buf_append(&body, text, tlen);
		free(text);
		crypto_generichash(m.state_hash, STATE_HASH_LEN,
				   (const unsigned char *)body.data, body.len,
				   NULL, 0);
	} else {
		st = state_load(argv[optind], &err);
		if (st == NULL)
			mksnap_die(argv[optind], err.msg);
		state_hash(st, m.state_hash);
		m.domains = state_domain_count(st);
		m.recipients = state_recipient_count(st);
		if (delta_from != NULL) {
			old = state_load(delta_from, &err);
			if (old == NULL)
				mksnap_die(delta_from, err.msg);
			if (delta_compute(old, st, &body, &adds, &removes,
					  &err) < 0)
				mksnap_die("delta_compute", err.msg);
			m.kind = MANIFEST_DELTA;
			m.base_serial =
			    have_base_serial ? base_serial : serial - 1;
			state_hash(old, m.base_hash);
		} else {
			text = state_text(st, &tlen);
			if (tlen > 0)
				buf_append(&body, text, tlen);
			free(text);
		}
	}
	if (base_hash != NULL &&
	    manifest_unhex(base_hash, strlen(base_hash), m.base_hash,
			   STATE_HASH_LEN) < 0)
		mksnap_die("--base-hash", "not 64 hex digits");
	if (wrong_hash)
		m.state_hash[0] ^= 1;
	if (wrong_counts)
		m.recipients++;
	if (have_recipients)
		m.recipients = recipients_claim;
	crypto_generichash(m.body_hash, STATE_HASH_LEN,
			   (const unsigned char *)(body.data ? body.data : ""),
			   body.len, NULL, 0);
	m.body_size = have_size ? body_size_claim : body.len;
	json = manifest_encode(&m, &jlen, &err);
	if (json == NULL)
		mksnap_die("manifest_encode", err.msg);
	if (key_sign(sk, json, jlen, sig, &err) < 0)
		mksnap_die("key_sign", err.msg);
	if (tamper != NULL && strcmp(tamper, "body") == 0 && body.len > 0)
		body.data[body.len / 2] ^= 0x20;
	else if (tamper != NULL && strcmp(tamper, "sig") == 0)
		sig[10] ^= 1;
	else if (tamper != NULL && strcmp(tamper, "manifest") == 0) {
		char *p = strstr(json, "\"serial\":");
		if (p == NULL)
			mksnap_die("--tamper", "no serial in manifest");
		p += strlen("\"serial\":");
		while (p[1] >= '0' && p[1] <= '9')
			p++;
		*p = *p == '9' ? '8' : (char)(*p + 1);
	} else if (tamper != NULL)
		mksnap_die("--tamper", "body, sig or manifest");

	if (headers) {
		f = fopen(argv[optind + 1], "wb");
		if (f == NULL ||
		    (body.len > 0 &&
		     fwrite(body.data, 1, body.len, f) != body.len) ||
		    fclose(f) != 0)
			mksnap_die(argv[optind + 1], "cannot write");
		b64m = snapshot_b64(json, jlen);
		b64s = snapshot_b64(sig, sizeof(sig));
		printf("%s: %s\n%s: %s\n", SNAPSHOT_HDR_MANIFEST, b64m,
		       SNAPSHOT_HDR_SIGNATURE, b64s);
		free(b64m);
		free(b64s);
	} else if (snapshot_write(argv[optind + 1], json, jlen, sig, body.data,
				  body.len, &err) < 0)
		mksnap_die(argv[optind + 1], err.msg);
	free(json);
	buf_free(&body);
	state_free(st);
	state_free(old);
	key_secret_free(sk);
	return 0;
}
