/* TEST FIXTURE ONLY: the fake engine of tests/fixtures/fake_model with the "dynamic model" API of the
 * tflm engine (TINYML_MODEL_DYNAMIC), to test what the runtime reports when a model comes from the
 * ESP32 model partition, or is refused. Same shapes and arithmetic: that model.h, plus four calls. */
#ifndef FAKE_DYN_MODEL_H
#define FAKE_DYN_MODEL_H

#include "../../../fixtures/fake_model/model.h"

#define TINYML_MODEL_DYNAMIC 1

#ifdef __cplusplus
extern "C" {
#endif
const char *tinyml_model_name(void);
const char *tinyml_model_sha256(void);
const char *tinyml_model_source(void);
const char *tinyml_init_detail(void);
#ifdef __cplusplus
}
#endif

#endif
