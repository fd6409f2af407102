/* TEST FIXTURE ONLY: the fake engine of tests/fixtures/fake_model with the "dynamic model" API of the
 * tflm engine (TINYML_MODEL_DYNAMIC), to test what the runtime reports when a model comes from the
 * ESP32 model partition, or is refused. */
#ifndef FAKE_DYN_MODEL_H
#define FAKE_DYN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#define TINYML_INT8 0
#define TINYML_FLOAT32 1

#define TINYML_ENGINE "fake"
#define TINYML_MODEL_SHA256 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define TINYML_MODEL_NAME "fake"

#define TINYML_INPUT_TYPE TINYML_INT8
#define TINYML_INPUT_NDIMS 4
#define TINYML_INPUT_DIMS {1, 4, 4, 1}
#define TINYML_INPUT_ELEMENTS 16
#define TINYML_INPUT_BYTES 16
#define TINYML_INPUT_SCALE 0.00392156886f
#define TINYML_INPUT_ZERO_POINT (-128)

#define TINYML_OUTPUT_TYPE TINYML_INT8
#define TINYML_OUTPUT_NDIMS 2
#define TINYML_OUTPUT_DIMS {1, 4}
#define TINYML_OUTPUT_ELEMENTS 4
#define TINYML_OUTPUT_BYTES 4
#define TINYML_OUTPUT_SCALE 0.0625f
#define TINYML_OUTPUT_ZERO_POINT (-10)

#define TINYML_ARENA_BYTES 32
#define TINYML_NUM_LAYERS 1
#define TINYML_MODEL_DYNAMIC 1

#ifdef __cplusplus
extern "C" {
#endif
int tinyml_init(void);
int tinyml_invoke(const void *input, void *output);
const char *tinyml_layer_name(int i);
const char *tinyml_model_name(void);
const char *tinyml_model_sha256(void);
const char *tinyml_model_source(void);
const char *tinyml_init_detail(void);
#ifdef __cplusplus
}
#endif

#endif
