/*
 * fuzz-manifest - the request headers' decoding (base64, as the listener
 * gets X-Mxsync-Manifest and X-Mxsync-Signature) and manifest_decode() of
 * any text; a manifest that decodes must encode and decode to itself
 */
#include <string.h>

#include "../../formats/manifest.h"
#include "../../formats/snapshot.h"
#include "fuzz.h"

static void fuzz_manifest(const char *json, size_t len)
{
	struct manifest m, m2;
	struct err err;
	char *enc;
	size_t elen;

	if (manifest_decode(&m, json, len, &err) < 0)
		return;
	enc = manifest_encode(&m, &elen, &err);
	fuzz_assert(enc != NULL);
	fuzz_assert(manifest_decode(&m2, enc, elen, &err) == 0);
	fuzz_assert(
	    m.serial == m2.serial && m.kind == m2.kind &&
	    m.body_size == m2.body_size && strcmp(m.origin, m2.origin) == 0 &&
	    memcmp(m.state_hash, m2.state_hash, sizeof(m.state_hash)) == 0);
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *bin;
	size_t blen;
	struct err err;

	fuzz_manifest((const char *)data, size);
	bin = snapshot_unb64((const char *)data, size, &blen, &err);
	if (bin != NULL) {
		fuzz_manifest((const char *)bin, blen);
		free(bin);
	}
	return 0;
}
