/* QEMU TCG plugin: exact guest instruction counts at marker calls (tinyml bench/profile).
 *
 * Debian's QEMU 7.2 ships no qemu-plugin.h, so the few plugin API v1 functions this uses are
 * declared here (signatures from QEMU 7.2's include/qemu/qemu-plugin.h).
 *
 * Counting: every translated block adds its instruction count to `insns` inline when it starts
 * executing. Each time the guest enters the marker function (arg `marker=0x...`, its address
 * without the Thumb bit) the running count is appended to a log. Differences of consecutive log
 * entries are the exact number of instructions executed between two marker entries, as long as
 * no block is left half way (an exception): the bench firmware runs with interrupts off.
 * At exit the log is written to `out=PATH`, one decimal count per line. With `hist=PATH` it also
 * writes, per translated block, "address instructions executions" (a hot-spot profile).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;

enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };

typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr,
                                              uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_outs(const char *string);

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

static uint64_t insns;      /* instructions executed so far (single vCPU) */
static uint64_t marker;     /* guest address of the marker function */
static uint64_t *log_buf;
static size_t log_len, log_cap;
static char out_path[1024];

/* hist=PATH: per translated block, its address, size and executions (hot-spot profile). */
struct tb_stat {
    uint64_t vaddr, n_insns, count;
    struct tb_stat *next;
};
static struct tb_stat *tb_stats;
static char hist_path[1024];

static void on_marker(unsigned int vcpu_index, void *userdata)
{
    (void)vcpu_index;
    (void)userdata;
    if (log_len == log_cap) {
        size_t cap = log_cap ? 2 * log_cap : 1024;
        uint64_t *p = realloc(log_buf, cap * sizeof(*p));
        if (!p) {
            return;
        }
        log_buf = p;
        log_cap = cap;
    }
    log_buf[log_len++] = insns;
}

static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t i, n = qemu_plugin_tb_n_insns(tb);
    (void)id;
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &insns, n);
    if (hist_path[0] && n > 0) {
        struct tb_stat *st = calloc(1, sizeof(*st));
        if (st) {
            st->vaddr = qemu_plugin_insn_vaddr(qemu_plugin_tb_get_insn(tb, 0));
            st->n_insns = n;
            st->next = tb_stats;
            tb_stats = st;
            qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &st->count, 1);
        }
    }
    for (i = 0; i < n; ++i) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        if (qemu_plugin_insn_vaddr(insn) == marker) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_marker, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
    }
}

static void on_plugin_exit(qemu_plugin_id_t id, void *userdata)
{
    FILE *f;
    size_t i;
    (void)id;
    (void)userdata;
    f = fopen(out_path, "w");
    if (!f) {
        qemu_plugin_outs("tinyml icount plugin: cannot write the log\n");
        return;
    }
    for (i = 0; i < log_len; ++i) {
        fprintf(f, "%" PRIu64 "\n", log_buf[i]);
    }
    fprintf(f, "total %" PRIu64 "\n", insns);
    fclose(f);
    if (hist_path[0] && (f = fopen(hist_path, "w")) != NULL) {
        struct tb_stat *st;
        for (st = tb_stats; st; st = st->next) {
            if (st->count) {
                fprintf(f, "%#" PRIx64 " %" PRIu64 " %" PRIu64 "\n", st->vaddr, st->n_insns, st->count);
            }
        }
        fclose(f);
    }
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    int i;
    (void)info;
    for (i = 0; i < argc; ++i) {
        if (strncmp(argv[i], "marker=", 7) == 0) {
            marker = strtoull(argv[i] + 7, NULL, 0) & ~(uint64_t)1;
        } else if (strncmp(argv[i], "hist=", 5) == 0) {
            snprintf(hist_path, sizeof(hist_path), "%s", argv[i] + 5);
        } else if (strncmp(argv[i], "out=", 4) == 0) {
            snprintf(out_path, sizeof(out_path), "%s", argv[i] + 4);
        }
    }
    if (!marker || !out_path[0]) {
        qemu_plugin_outs("tinyml icount plugin: needs marker=ADDR,out=PATH\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
    qemu_plugin_register_atexit_cb(id, on_plugin_exit, NULL);
    return 0;
}
