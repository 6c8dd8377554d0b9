/*
 * The five WASI preview-1 calls the slimedge command imports (assembly/command-wasi.ts), on POSIX, for the
 * wasm2c translation of a packaged scalar command (build-native.sh):
 *
 *   fd_write        write(2) on fd 1 and 2, short writes retried by the module
 *   args_sizes_get  argc and the bytes of argv, NULs included
 *   args_get        argv pointers and strings, copied into the module's memory
 *   clock_time_get  clock_gettime(2): realtime, monotonic, process and thread CPU time
 *   proc_exit       exit(3)
 *
 * Written against wasm2c 1.0.32 (Debian 12 `wabt`): imports are Z_<module>Z_<name>(instance, ...), the
 * module was translated with `-n command`. Every pointer the module passes is checked against its memory;
 * a bad one is EFAULT, never a host crash. Memory is little-endian, as on every host wasm2c supports here.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "command.h"
#include "wasm-rt-impl.h"

/* WASI errno values (preview-1 `errno` enum). */
enum { WASI_ESUCCESS = 0, WASI_EBADF = 8, WASI_EFAULT = 21, WASI_EINVAL = 28, WASI_EIO = 29 };

struct Z_wasi_snapshot_preview1_instance_t {
  wasm_rt_memory_t* memory; /* the command's exported memory */
  int argc;
  char** argv;
};

/** True when [ptr, ptr + len) lies inside the module's memory. */
static int in_memory(struct Z_wasi_snapshot_preview1_instance_t* w, u32 ptr, u64 len) {
  return (u64)ptr + len <= (u64)w->memory->size;
}

static void put_u32(struct Z_wasi_snapshot_preview1_instance_t* w, u32 ptr, u32 v) {
  memcpy(w->memory->data + ptr, &v, 4);
}

static u32 get_u32(struct Z_wasi_snapshot_preview1_instance_t* w, u32 ptr) {
  u32 v;
  memcpy(&v, w->memory->data + ptr, 4);
  return v;
}

u32 Z_wasi_snapshot_preview1Z_fd_write(struct Z_wasi_snapshot_preview1_instance_t* w, u32 fd, u32 iovs, u32 iovs_len, u32 nwritten) {
  if (fd != 1 && fd != 2) return WASI_EBADF;
  if (!in_memory(w, iovs, (u64)iovs_len * 8) || !in_memory(w, nwritten, 4)) return WASI_EFAULT;
  u32 total = 0;
  for (u32 i = 0; i < iovs_len; i++) {
    u32 base = get_u32(w, iovs + 8 * i);
    u32 len = get_u32(w, iovs + 8 * i + 4);
    if (!in_memory(w, base, len)) return WASI_EFAULT;
    ssize_t n;
    do n = write((int)fd, w->memory->data + base, len);
    while (n < 0 && errno == EINTR);
    if (n < 0) return WASI_EIO;
    total += (u32)n;
    if ((u32)n < len) break; /* short write: the module retries the rest */
  }
  put_u32(w, nwritten, total);
  return WASI_ESUCCESS;
}

u32 Z_wasi_snapshot_preview1Z_args_sizes_get(struct Z_wasi_snapshot_preview1_instance_t* w, u32 argc_ptr, u32 buf_size_ptr) {
  if (!in_memory(w, argc_ptr, 4) || !in_memory(w, buf_size_ptr, 4)) return WASI_EFAULT;
  u64 bytes = 0;
  for (int i = 0; i < w->argc; i++) bytes += strlen(w->argv[i]) + 1;
  if (bytes > UINT32_MAX) return WASI_EINVAL;
  put_u32(w, argc_ptr, (u32)w->argc);
  put_u32(w, buf_size_ptr, (u32)bytes);
  return WASI_ESUCCESS;
}

u32 Z_wasi_snapshot_preview1Z_args_get(struct Z_wasi_snapshot_preview1_instance_t* w, u32 argv_ptr, u32 buf_ptr) {
  if (!in_memory(w, argv_ptr, (u64)w->argc * 4)) return WASI_EFAULT;
  u32 at = buf_ptr;
  for (int i = 0; i < w->argc; i++) {
    u64 n = strlen(w->argv[i]) + 1;
    if (!in_memory(w, at, n)) return WASI_EFAULT;
    memcpy(w->memory->data + at, w->argv[i], n);
    put_u32(w, argv_ptr + 4 * (u32)i, at);
    at += (u32)n;
  }
  return WASI_ESUCCESS;
}

u32 Z_wasi_snapshot_preview1Z_clock_time_get(struct Z_wasi_snapshot_preview1_instance_t* w, u32 id, u64 precision, u32 time_ptr) {
  (void)precision;
  static const clockid_t clocks[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID};
  if (id >= sizeof clocks / sizeof clocks[0]) return WASI_EINVAL;
  if (!in_memory(w, time_ptr, 8)) return WASI_EFAULT;
  struct timespec ts;
  if (clock_gettime(clocks[id], &ts) != 0) return WASI_EINVAL;
  u64 ns = (u64)ts.tv_sec * 1000000000u + (u64)ts.tv_nsec;
  memcpy(w->memory->data + time_ptr, &ns, 8);
  return WASI_ESUCCESS;
}

void Z_wasi_snapshot_preview1Z_proc_exit(struct Z_wasi_snapshot_preview1_instance_t* w, u32 code) {
  (void)w;
  exit((int)code);
}

int main(int argc, char** argv) {
  static Z_command_instance_t command; /* static: the instance struct is not small */
  struct Z_wasi_snapshot_preview1_instance_t wasi = {NULL, argc, argv};
  wasm_rt_init();
  Z_command_init_module();
  Z_command_instantiate(&command, &wasi);
  wasi.memory = Z_commandZ_memory(&command);
  wasm_rt_trap_t trap = wasm_rt_impl_try();
  if (trap != WASM_RT_TRAP_NONE) {
    fprintf(stderr, "slimedge: the module trapped: %s\n", wasm_rt_strerror(trap));
    return 70;
  }
  Z_commandZ__start(&command);
  Z_command_free(&command);
  wasm_rt_free();
  return 0;
}
