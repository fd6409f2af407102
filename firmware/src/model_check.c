/* Run-time checks on a model from flash: see include/tinyml/model_check.h.
 *
 * A minimal, bounds-checked FlatBuffers walk over the TFLite schema (the fields needed here:
 * Model.operator_codes / subgraphs, OperatorCode.builtin_code, SubGraph.tensors / inputs /
 * outputs, Tensor.shape / type). Every offset is checked against the model's length, so a
 * corrupt partition is refused instead of crashing TFLM. */
#include "tinyml/model_check.h"

#include <stdio.h>
#include <string.h>

struct fb {
    const uint8_t *p;
    size_t n;
    int bad;
};

static uint32_t rd_u32(struct fb *b, size_t at) {
    if (at > b->n || b->n - at < 4) { b->bad = 1; return 0; }
    return (uint32_t)b->p[at] | (uint32_t)b->p[at + 1] << 8 | (uint32_t)b->p[at + 2] << 16 |
           (uint32_t)b->p[at + 3] << 24;
}

static uint16_t rd_u16(struct fb *b, size_t at) {
    if (at > b->n || b->n - at < 2) { b->bad = 1; return 0; }
    return (uint16_t)(b->p[at] | b->p[at + 1] << 8);
}

static uint8_t rd_u8(struct fb *b, size_t at) {
    if (at >= b->n) { b->bad = 1; return 0; }
    return b->p[at];
}

/* Position of field `i` of the table at `t`, or 0 when absent. */
static size_t field(struct fb *b, size_t t, unsigned i) {
    int32_t so = (int32_t)rd_u32(b, t);
    int64_t vt = (int64_t)t - so;
    if (b->bad || vt < 0 || (uint64_t)vt >= b->n) { b->bad = 1; return 0; }
    uint16_t vt_len = rd_u16(b, (size_t)vt);
    if (4u + 2u * i + 2u > vt_len) return 0;
    uint16_t off = rd_u16(b, (size_t)vt + 4u + 2u * i);
    return off ? t + off : 0;
}

/* Follow the uoffset at `pos` (a table, vector or string); 0 when pos is 0 or it is out of range. */
static size_t deref(struct fb *b, size_t pos) {
    if (!pos) return 0;
    uint32_t rel = rd_u32(b, pos);
    if (b->bad || rel == 0 || rel >= b->n - pos) { b->bad = 1; return 0; }
    return pos + rel;
}

/* Length of the vector at `v` (elements of `elem` bytes must fit in the buffer). */
static uint32_t vec_len(struct fb *b, size_t v, size_t elem) {
    if (!v) return 0;
    uint32_t len = rd_u32(b, v);
    if (b->bad || (uint64_t)len * elem > b->n - v - 4) { b->bad = 1; return 0; }
    return len;
}

static size_t type_bytes(uint8_t type) {
    switch (type) {
    case 0: case 2: case 15: return 4;  /* FLOAT32, INT32, UINT32 */
    case 1: case 7: case 16: return 2;  /* FLOAT16, INT16, UINT16 */
    case 3: case 6: case 9: return 1;   /* UINT8, BOOL, INT8 */
    case 4: case 10: case 12: return 8; /* INT64, FLOAT64, UINT64 */
    default: return 0;
    }
}

/* Bytes of tensor number `idx` of the subgraph's tensor vector `tv` (0 when unknown). */
static size_t tensor_bytes(struct fb *b, size_t tv, int32_t idx) {
    uint32_t n = vec_len(b, tv, 4);
    if (b->bad || idx < 0 || (uint32_t)idx >= n) return 0;
    size_t t = deref(b, tv + 4 + 4 * (size_t)idx);
    if (b->bad) return 0;
    size_t type_at = field(b, t, 1);
    uint8_t type = type_at ? rd_u8(b, type_at) : 0;
    size_t shape = deref(b, field(b, t, 0));
    uint32_t dims = vec_len(b, shape, 4);
    size_t bytes = type_bytes(type);
    for (uint32_t d = 0; d < dims && !b->bad; d++) {
        int32_t v = (int32_t)rd_u32(b, shape + 4 + 4 * (size_t)d);
        bytes *= (size_t)(v > 0 ? v : 1);
    }
    return b->bad ? 0 : bytes;
}

int tmc_check_tflite(const uint8_t *model, size_t size, const struct tmc_limits *lim, char *detail, size_t n) {
    struct fb b = {model, size, 0};
    detail[0] = '\0';
    if (size < 8 || memcmp(model + 4, "TFL3", 4) != 0) {
        snprintf(detail, n, "not a TFLite model (no TFL3 identifier)");
        return TMC_IDENTIFIER;
    }
    size_t root = rd_u32(&b, 0); /* the root table's offset from byte 0 */
    if (root == 0 || root >= size) b.bad = 1;
    size_t codes = deref(&b, field(&b, root, 1));
    uint32_t ncodes = vec_len(&b, codes, 4);
    for (uint32_t i = 0; i < ncodes && !b.bad; i++) {
        size_t oc = deref(&b, codes + 4 + 4 * (size_t)i);
        size_t dep_at = field(&b, oc, 0), code_at = field(&b, oc, 3);
        int32_t dep = dep_at ? (int8_t)rd_u8(&b, dep_at) : 0;
        int32_t code = code_at ? (int32_t)rd_u32(&b, code_at) : 0;
        if (dep > code) code = dep; /* schema v3a: the larger of the two is the op */
        if (b.bad) break;
        size_t k = 0;
        while (k < lim->num_ops && lim->ops[k] != code) k++;
        if (k == lim->num_ops) {
            snprintf(detail, n, "op %ld (BuiltinOperator) is not in the firmware's op resolver", (long)code);
            return TMC_OP;
        }
    }
    size_t subgraphs = deref(&b, field(&b, root, 2));
    if (!b.bad && vec_len(&b, subgraphs, 4) == 0) b.bad = 1;
    if (b.bad) {
        snprintf(detail, n, "the model's flatbuffer is corrupt");
        return TMC_MALFORMED;
    }
    size_t sg = deref(&b, subgraphs + 4);
    size_t tensors = deref(&b, field(&b, sg, 0));
    size_t ins = deref(&b, field(&b, sg, 1)), outs = deref(&b, field(&b, sg, 2));
    if (vec_len(&b, ins, 4) < 1 || vec_len(&b, outs, 4) < 1) b.bad = 1;
    size_t in_bytes = b.bad ? 0 : tensor_bytes(&b, tensors, (int32_t)rd_u32(&b, ins + 4));
    size_t out_bytes = b.bad ? 0 : tensor_bytes(&b, tensors, (int32_t)rd_u32(&b, outs + 4));
    if (b.bad) {
        snprintf(detail, n, "the model's flatbuffer is corrupt");
        return TMC_MALFORMED;
    }
    if (in_bytes != lim->input_bytes || out_bytes != lim->output_bytes) {
        snprintf(detail, n, "input/output are %lu/%lu B, the firmware was built for %lu/%lu B",
                 (unsigned long)in_bytes, (unsigned long)out_bytes, (unsigned long)lim->input_bytes,
                 (unsigned long)lim->output_bytes);
        return TMC_IO;
    }
    return TMC_OK;
}

uint32_t tmc_crc32(const uint8_t *data, size_t n) {
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= data[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int tmc_check_partition(const uint8_t *part, size_t size, const struct tmc_limits *lim, struct tmc_result *res) {
    memset(res, 0, sizeof *res);
    if (size < TMC_HEADER_BYTES || memcmp(part, "TMLM", 4) != 0) {
        /* Erased, or left over from another partition table (an OTA slot used to live here): no
         * model was written, so the built-in one runs. */
        int erased = size >= 4 && part[0] == 0xFF && part[1] == 0xFF && part[2] == 0xFF && part[3] == 0xFF;
        snprintf(res->detail, sizeof res->detail, erased ? "model partition is empty"
                                                         : "model partition holds no tinyml model");
        return res->status = TMC_EMPTY;
    }
    if (le32(part + 4) != 1u || le32(part + 8) != TMC_HEADER_BYTES) {
        snprintf(res->detail, sizeof res->detail, "model partition format %lu is not 1",
                 (unsigned long)le32(part + 4));
        return res->status = TMC_HEADER;
    }
    uint32_t len = le32(part + 12);
    if (len > size - TMC_HEADER_BYTES) {
        snprintf(res->detail, sizeof res->detail, "model of %lu B does not fit the %lu B partition",
                 (unsigned long)len, (unsigned long)size);
        return res->status = TMC_TRUNCATED;
    }
    const uint8_t *model = part + TMC_HEADER_BYTES;
    if (tmc_crc32(model, len) != le32(part + 16)) {
        snprintf(res->detail, sizeof res->detail, "model partition CRC mismatch (incomplete write?)");
        return res->status = TMC_CRC;
    }
    res->arena_bytes = le32(part + 20);
    memcpy(res->name, part + 24, 32);
    res->name[32] = '\0';
    memcpy(res->sha256, part + 56, 64);
    res->sha256[64] = '\0';
    for (char *c = res->name; *c; c++)
        if (*c == ';' || *c == '=' || (unsigned char)*c < 32 || (unsigned char)*c > 126) *c = '_';
    for (char *c = res->sha256; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f'))) *c = '0';
    res->status = tmc_check_tflite(model, len, lim, res->detail, sizeof res->detail);
    if (res->status != TMC_OK) return res->status;
    if (res->arena_bytes > lim->arena_bytes) {
        snprintf(res->detail, sizeof res->detail, "model needs a %lu B arena, the firmware has %lu B",
                 (unsigned long)res->arena_bytes, (unsigned long)lim->arena_bytes);
        return res->status = TMC_ARENA;
    }
    res->model = model;
    res->model_bytes = len;
    return TMC_OK;
}
