/*
 * The portable firmware core: everything the board side of `slimedge flash` does that needs neither ESP-IDF
 * nor a WebAssembly runtime (ARCHITECTURE.md, "Board side"). It is built and tested on the host (gcc) and on
 * the emulated boards (RV32IMC and Cortex-M33, bare metal), and shared by the two firmware kinds: the
 * wasm2c-native firmware (native/) and the WAMR firmware (esp-idf/).
 *
 *   partitions  the ESP-IDF partition table `slimedge flash` writes at 0x8000 (32-byte entries, MD5 row)
 *   placement   the model partition holds <name>.cmd.wasm; its active data segments (plan block, weights,
 *               tokenizer, command block) are copied straight to their planned addresses in linear memory,
 *               so the module that runs is the small command without weights
 *   WASI        the five preview-1 calls the command imports, on a linear memory, every pointer checked
 *   prompt      one input line split into arguments ("double quotes" group words)
 *   counting    the instruction counter at the command's clock reads (around prefill and the decode loop)
 *               and at every stdout write, for instructions per generated token
 *
 * Nothing here allocates; all state is static or the caller's.
 */
#ifndef SLIM_FW_H
#define SLIM_FW_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The partition table of host/ship/flash/partitions.ts. */
#define SLIM_PARTITION_TABLE_OFFSET 0x8000u
#define SLIM_PARTITION_TABLE_BYTES 0xc00u
#define SLIM_PART_TYPE_APP 0x00u
#define SLIM_PART_TYPE_DATA 0x01u
#define SLIM_PART_SUBTYPE_MODEL 0x40u
#define SLIM_PART_SUBTYPE_ARTIFACT 0x41u

typedef struct {
  char label[17];
  uint8_t type;
  uint8_t subtype;
  uint32_t offset; /* bytes from the start of flash */
  uint32_t size;
} slim_partition;

/*
 * Finds the partition of this type, subtype and label in the table at `table_offset` of `flash`, checking
 * every row's magic and the MD5 row as the ESP-IDF bootloader does. 0 and *out on success; otherwise -1 and
 * *why, one sentence naming the row or field.
 */
int slim_find_partition(const uint8_t* flash, uint32_t flash_bytes, uint32_t table_offset, uint8_t type,
                        uint8_t subtype, const char* label, slim_partition* out, const char** why);

/*
 * The model partition's check, written at build time (host/ship/flash/images.ts): the partition's last 16
 * bytes are "SLMC", u32 version 1, u32 the bytes it covers (all before the check), u32 their CRC-32 (the
 * .slim's CRC: IEEE 802.3, reflected, init and final xor 0xFFFFFFFF); all little-endian. The model's weights
 * are its data segments, so a changed byte anywhere changes the text; the firmware refuses to start instead.
 */
#define SLIM_MODEL_CHECK_BYTES 16u

/* The CRC-32 of `n` bytes continuing `crc` (0 to start): crc32(b, crc32(a, 0)) is the CRC of a then b. */
uint32_t slim_crc32(const uint8_t* p, uint32_t n, uint32_t crc);

/*
 * Checks the model partition (`part`, `part_bytes` long) against the check at its end: 0 when it matches;
 * -1 and *why, one sentence, when the check is missing, names another size, or the CRC-32 differs. It
 * records the board counter's cost for slim_report_counts.
 */
int slim_model_verify(const uint8_t* part, uint32_t part_bytes, const char** why);

/* What the model partition's module declares: its memory (min == max pages) and its data. */
typedef struct {
  uint32_t pages;        /* memory minimum == maximum, in 64 KiB pages */
  uint32_t segments;     /* active data segments */
  uint32_t bytes;        /* their bytes */
  uint32_t module_bytes; /* the whole .cmd.wasm, as stored */
} slim_model_info;

/* Reads the memory and data sections of the .cmd.wasm in `wasm` (partition bytes; trailing 0xFF allowed). */
int slim_model_inspect(const uint8_t* wasm, uint32_t bytes, slim_model_info* info, const char** why);

/*
 * Copies every active data segment of the .cmd.wasm to its i32.const offset in `memory` (memory_bytes
 * long), after checking the module's declared pages equal memory_bytes / 65536. 0 on success.
 */
int slim_model_place(const uint8_t* wasm, uint32_t bytes, uint8_t* memory, uint64_t memory_bytes,
                     slim_model_info* info, const char** why);

/*
 * As slim_model_place for a memory whose RAM holds only its first `ram_bytes` (the native firmware with the
 * weights in flash, ARCHITECTURE.md "Weights in flash"): segments below ram_bytes are copied; the one at or
 * above it (the plan's read-only tail) is read where it is, and *delta is its address minus (memory + its
 * offset), mod 2^32 — what the module adds to the addresses of those regions (PlanSlot readOnlyDelta).
 */
int slim_model_place_split(const uint8_t* wasm, uint32_t bytes, uint8_t* memory, uint64_t memory_bytes, uint32_t ram_bytes,
                           uint32_t* delta, slim_model_info* info, const char** why);

/*
 * The file of the artifact bundle (host/ship/flash/bundle.ts: "SLAB", version 1) in the artifact partition
 * whose name ends with `suffix` (e.g. ".core.wasm"): 0 and its bytes; -1 and *why otherwise.
 */
int slim_bundle_file(const uint8_t* bundle, uint32_t bytes, const char* suffix, const uint8_t** file,
                     uint32_t* file_bytes, const char** why);

/* Splits `line` in place into at most `max` arguments after argv[0] = "slimedge"; returns argc. */
int slim_split_args(char* line, char** argv, int max);

/* The command's WASI preview-1 imports on one linear memory. */
typedef struct {
  uint8_t* memory;
  uint64_t memory_bytes;
  int argc;
  char** argv;
} slim_wasi;

uint32_t slim_wasi_fd_write(slim_wasi* w, uint32_t fd, uint32_t iovs, uint32_t iovs_len, uint32_t nwritten);
uint32_t slim_wasi_args_sizes_get(slim_wasi* w, uint32_t argc_ptr, uint32_t buf_size_ptr);
uint32_t slim_wasi_args_get(slim_wasi* w, uint32_t argv_ptr, uint32_t buf_ptr);
uint32_t slim_wasi_clock_time_get(slim_wasi* w, uint32_t id, uint64_t precision, uint32_t time_ptr);

/* stdout writes seen and the counter at each (the first SLIM_MAX_STAMPS), for instructions per token. */
#define SLIM_MAX_STAMPS 1024
void slim_stamps_reset(void);
/*
 * Report lines: the counter over prefill and over the decode loop (between the command's clock reads), and
 * between consecutive stdout writes after the first token (a token that ends inside a UTF-8 character
 * writes nothing, so an interval may hold two decode steps).
 */
void slim_report_counts(void);

/* Text on the report channel (stderr / semihosting / the log), and a number. */
void slim_say(const char* s);
void slim_say_u64(uint64_t v);

/* ---- what each board provides ---------------------------------------------------------------------- */

/* Writes bytes of the command's fd 1 (stdout) or fd 2 (stderr); also used for reports (fd 2). */
void slim_board_write(int fd, const uint8_t* bytes, uint32_t n);
/* A counter that advances once per retired instruction (emulated boards under -icount), or nanoseconds. */
uint64_t slim_board_counter(void);
/* What slim_board_counter counts, for the report: "instructions" or "ns". */
extern const char* const slim_board_counter_unit;
/* Nanoseconds for the command's clock (a counter-based clock on boards without one). */
uint64_t slim_board_now_ns(void);

#ifdef __cplusplus
}
#endif
#endif
