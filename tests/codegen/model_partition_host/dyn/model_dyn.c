/* TEST FIXTURE ONLY: see model.h. $TINYML_TEST_INIT_DETAIL set: tinyml_init fails with that reason
 * (a refused partition); otherwise the "partition" model digits-v2 with sha256 $TINYML_TEST_SHA. */
#include <stdlib.h>
#include <string.h>

#include "model.h"

static const char *detail = "";
static const char *sha = "";

int tinyml_init(void) {
    const char *d = getenv("TINYML_TEST_INIT_DETAIL");
    const char *s = getenv("TINYML_TEST_SHA");
    sha = s ? s : "";
    if (d && d[0]) {
        detail = d;
        return 5;
    }
    return 0;
}

int tinyml_invoke(const void *input, void *output) {
    (void)input;
    memset(output, 0, TINYML_OUTPUT_BYTES);
    return 0;
}

const char *tinyml_layer_name(int i) { return i == 0 ? "FAKE" : ""; }
const char *tinyml_model_name(void) { return detail[0] ? "digits" : "digits-v2"; }
const char *tinyml_model_sha256(void) { return sha; }
const char *tinyml_model_source(void) { return detail[0] ? "builtin" : "partition"; }
const char *tinyml_init_detail(void) { return detail; }
