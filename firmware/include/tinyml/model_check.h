/* Checks on a model read from flash at run time (the ESP32 `model` partition), before TFLM sees it.
 *
 * Plain C with no TFLM dependency, so the same code runs in the firmware and in host unit tests
 * against real .tflite files (tests/codegen/test_model_partition.py). The partition layout (a
 * 128-byte header, then the .tflite) is described in tinyml/build/partitions.py. */
#ifndef TINYML_MODEL_CHECK_H
#define TINYML_MODEL_CHECK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TMC_HEADER_BYTES 128u

enum tmc_status {
    TMC_OK = 0,
    TMC_EMPTY = 1,      /* no "TMLM" magic (erased or foreign data): the caller uses its built-in model */
    TMC_HEADER = 2,     /* a tinyml header of another format version or size */
    TMC_TRUNCATED = 3,  /* the header's length runs past the partition */
    TMC_CRC = 4,        /* CRC-32 mismatch: torn or partial write */
    TMC_IDENTIFIER = 5, /* not a TFLite flatbuffer ("TFL3") */
    TMC_MALFORMED = 6,  /* a flatbuffer offset points outside the model */
    TMC_OP = 7,         /* an op the firmware's resolver lacks */
    TMC_IO = 8,         /* input/output tensor size differs from what the firmware was built for */
    TMC_ARENA = 9       /* the model needs a bigger arena than the firmware has */
};

struct tmc_limits {
    const int32_t *ops; /* BuiltinOperator codes the resolver registers */
    size_t num_ops;
    uint32_t input_bytes, output_bytes, arena_bytes;
};

struct tmc_result {
    int status;
    const uint8_t *model; /* the .tflite inside the partition (TMC_OK only) */
    uint32_t model_bytes;
    uint32_t arena_bytes;  /* what the header says the model needs */
    char name[33];
    char sha256[65];
    char detail[96]; /* one-line reason, for the protocol's error frame */
};

/* Check a partition image of `size` bytes; returns res->status. */
int tmc_check_partition(const uint8_t *part, size_t size, const struct tmc_limits *lim, struct tmc_result *res);

/* Check a bare .tflite (identifier, structure, ops, I/O sizes); returns a tmc_status. */
int tmc_check_tflite(const uint8_t *model, size_t size, const struct tmc_limits *lim, char *detail, size_t n);

uint32_t tmc_crc32(const uint8_t *data, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* TINYML_MODEL_CHECK_H */
