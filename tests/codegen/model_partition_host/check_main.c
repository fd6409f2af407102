/* Host driver for model_check.c: check a partition image (argv[1]) against limits given on the
 * command line: input_bytes output_bytes arena_bytes op_code... */
#include <stdio.h>
#include <stdlib.h>

#include "tinyml/model_check.h"

int main(int argc, char **argv) {
    if (argc < 5) return 2;
    FILE *f = fopen(argv[1], "rb");
    if (!f) return 2;
    static uint8_t buf[1 << 22];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    int32_t ops[64];
    size_t nops = 0;
    for (int i = 5; i < argc && nops < 64; i++) ops[nops++] = (int32_t)atoi(argv[i]);
    struct tmc_limits lim = {ops, nops, (uint32_t)atol(argv[2]), (uint32_t)atol(argv[3]), (uint32_t)atol(argv[4])};
    struct tmc_result res;
    int st = tmc_check_partition(buf, n, &lim, &res);
    printf("status=%d\nname=%s\nsha256=%s\nmodel_bytes=%lu\narena=%lu\ndetail=%s\n", st, res.name, res.sha256,
           (unsigned long)res.model_bytes, (unsigned long)res.arena_bytes, res.detail);
    return 0;
}
