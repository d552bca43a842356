// A qemu TCG plugin that counts guest instructions executed (the ARM proxy's measure, see
// benchmarks/arm_proxy.sh). Each translated block adds its instruction count to one counter
// with an inline op (no helper call per block, so the plugin costs little); a block left early
// by an exception over-counts by its remaining instructions, which is negligible in user mode.
// The counter is shared by all guest threads and not atomic: measure with one thread.
//
// Marks: a program can ask for the count at a point by making the otherwise unused syscall
// number 0x4c464d ("LFM") with its first argument as a label; the plugin prints
// "insn_count mark <label> <instructions so far>" (qemu returns ENOSYS to the program). At exit
// it prints "insn_count total <instructions>". Output goes to qemu's log (stderr, or -D FILE).
#include <inttypes.h>
#include <qemu-plugin.h>
#include <stdio.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

enum { kMarkSyscall = 0x4c464d };

static uint64_t insn_count;

static void on_tb_translate(qemu_plugin_id_t id, struct qemu_plugin_tb* tb) {
    (void)id;
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &insn_count,
                                             qemu_plugin_tb_n_insns(tb));
}

static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu, int64_t num, uint64_t a1, uint64_t a2,
                       uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8) {
    (void)id, (void)vcpu, (void)a2, (void)a3, (void)a4, (void)a5, (void)a6, (void)a7, (void)a8;
    if (num != kMarkSyscall) return;
    char line[96];
    snprintf(line, sizeof line, "insn_count mark %" PRIu64 " %" PRIu64 "\n", a1, insn_count);
    qemu_plugin_outs(line);
}

static void on_exit(qemu_plugin_id_t id, void* data) {
    (void)id, (void)data;
    char line[64];
    snprintf(line, sizeof line, "insn_count total %" PRIu64 "\n", insn_count);
    qemu_plugin_outs(line);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t* info, int argc,
                                           char** argv) {
    (void)info, (void)argc, (void)argv;
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_translate);
    qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
    qemu_plugin_register_atexit_cb(id, on_exit, NULL);
    return 0;
}
