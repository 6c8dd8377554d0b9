/* The portable firmware core (slim_fw.h). Freestanding C99: memcpy/memcmp/strlen only. */
#include "slim_fw.h"

#include <string.h>

/* ---- MD5 (RFC 1321), for the partition table's MD5 row -------------------------------------------- */

typedef struct {
  uint32_t a, b, c, d;
  uint64_t length;
  uint8_t block[64];
  uint32_t used;
} md5_state;

static const uint32_t MD5_K[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};
static const uint8_t MD5_R[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                                  5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                                  4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                                  6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};

static void md5_block(md5_state* s, const uint8_t* p) {
  uint32_t m[16];
  for (int i = 0; i < 16; i++)
    m[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
  uint32_t a = s->a, b = s->b, c = s->c, d = s->d;
  for (int i = 0; i < 64; i++) {
    uint32_t f;
    int g;
    if (i < 16) f = (b & c) | (~b & d), g = i;
    else if (i < 32) f = (d & b) | (~d & c), g = (5 * i + 1) & 15;
    else if (i < 48) f = b ^ c ^ d, g = (3 * i + 5) & 15;
    else f = c ^ (b | ~d), g = (7 * i) & 15;
    uint32_t t = d;
    d = c;
    c = b;
    uint32_t x = a + f + MD5_K[i] + m[g];
    b = b + ((x << MD5_R[i]) | (x >> (32 - MD5_R[i])));
    a = t;
  }
  s->a += a, s->b += b, s->c += c, s->d += d;
}

static void md5(const uint8_t* p, uint32_t n, uint8_t out[16]) {
  md5_state s = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0, {0}, 0};
  uint32_t i = 0;
  for (; i + 64 <= n; i += 64) md5_block(&s, p + i);
  uint8_t tail[128];
  uint32_t rest = n - i;
  memcpy(tail, p + i, rest);
  tail[rest] = 0x80;
  uint32_t padded = rest + 1 + 8 <= 64 ? 64 : 128;
  memset(tail + rest + 1, 0, padded - rest - 1);
  uint64_t bits = (uint64_t)n * 8;
  for (int k = 0; k < 8; k++) tail[padded - 8 + k] = (uint8_t)(bits >> (8 * k));
  md5_block(&s, tail);
  if (padded == 128) md5_block(&s, tail + 64);
  uint32_t words[4] = {s.a, s.b, s.c, s.d};
  for (int k = 0; k < 16; k++) out[k] = (uint8_t)(words[k / 4] >> (8 * (k % 4)));
}

/* ---- partition table -------------------------------------------------------------------------------- */

static uint32_t le32(const uint8_t* p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int slim_find_partition(const uint8_t* flash, uint32_t flash_bytes, uint32_t table_offset, uint8_t type,
                        uint8_t subtype, const char* label, slim_partition* out, const char** why) {
  if ((uint64_t)table_offset + SLIM_PARTITION_TABLE_BYTES > flash_bytes) {
    *why = "partition table: flash ends before the table at 0x8000";
    return -1;
  }
  const uint8_t* table = flash + table_offset;
  int found = 0;
  for (uint32_t at = 0; at + 32 <= SLIM_PARTITION_TABLE_BYTES; at += 32) {
    const uint8_t* row = table + at;
    int blank = 1;
    for (int i = 0; i < 32; i++) blank &= row[i] == 0xff;
    if (blank) {
      *why = "partition table: no MD5 row before the end marker (is the table at 0x8000 written?)";
      return -1;
    }
    if (row[0] == 0xeb && row[1] == 0xeb) {
      uint8_t digest[16];
      md5(table, at, digest);
      if (memcmp(digest, row + 16, 16) != 0) {
        *why = "partition table: the MD5 row does not match the entries before it";
        return -1;
      }
      if (!found) {
        *why = "partition table: no such partition (the model at data subtype 0x40, the artifact at 0x41; write them with slimedge flash)";
        return -1;
      }
      return 0;
    }
    if (row[0] != 0xaa || row[1] != 0x50) {
      *why = "partition table: a row's magic is not 0xAA 0x50";
      return -1;
    }
    char name[17];
    memcpy(name, row + 12, 16);
    name[16] = 0;
    if (!found && row[2] == type && row[3] == subtype && strcmp(name, label) == 0) {
      memcpy(out->label, name, 17);
      out->type = row[2];
      out->subtype = row[3];
      out->offset = le32(row + 4);
      out->size = le32(row + 8);
      if ((uint64_t)out->offset + out->size > flash_bytes) {
        *why = "partition table: the model partition runs past the end of flash";
        return -1;
      }
      found = 1;
    }
  }
  *why = "partition table: no end marker within 0xC00 bytes";
  return -1;
}

/* ---- the model partition's module ------------------------------------------------------------------- */

typedef struct {
  const uint8_t* p;
  const uint8_t* end;
  int bad;
} reader;

static uint32_t leb_u32(reader* r) {
  uint32_t v = 0;
  for (int shift = 0; shift < 35; shift += 7) {
    if (r->p >= r->end) break;
    uint8_t b = *r->p++;
    v |= (uint32_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  r->bad = 1;
  return 0;
}

static int32_t leb_i32(reader* r) {
  uint32_t v = 0;
  int shift = 0;
  uint8_t b = 0x80;
  while (shift < 35 && (b & 0x80)) {
    if (r->p >= r->end) {
      r->bad = 1;
      return 0;
    }
    b = *r->p++;
    v |= (uint32_t)(b & 0x7f) << shift;
    shift += 7;
  }
  if ((b & 0x80)) r->bad = 1;
  if (shift < 32 && (b & 0x40)) v |= ~0u << shift;
  return (int32_t)v;
}

/*
 * Walks the module: memory section -> pages; data section -> each segment, copied when memory != 0 and it
 * lies below ram_bytes; a segment at or above ram_bytes (the plan's read-only tail) stays in flash, and
 * *delta says where: its bytes' address minus (memory + its offset), mod 2^32, the same for every such one.
 */
static int walk_model(const uint8_t* wasm, uint32_t bytes, uint8_t* memory, uint64_t memory_bytes, uint64_t ram_bytes,
                      uint32_t* delta, slim_model_info* info, const char** why) {
  int have_delta = 0;
  static const uint8_t header[8] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};
  info->pages = 0, info->segments = 0, info->bytes = 0, info->module_bytes = 0;
  if (bytes < 8 || memcmp(wasm, header, 8) != 0) {
    *why = "model partition: not a WebAssembly module (write <name>.cmd.wasm with slimedge flash)";
    return -1;
  }
  reader r = {wasm + 8, wasm + bytes, 0};
  int have_memory = 0, have_data = 0;
  while (r.p < r.end && *r.p != 0xff) { /* the partition is 0xFF after the module */
    uint8_t id = *r.p++;
    uint32_t size = leb_u32(&r);
    if (r.bad || id > 12 || size > (uint32_t)(r.end - r.p)) {
      *why = "model partition: a section runs past the end of the partition";
      return -1;
    }
    reader s = {r.p, r.p + size, 0};
    if (id == 5) { /* memory */
      if (leb_u32(&s) != 1) {
        *why = "model partition: the module must declare exactly one memory";
        return -1;
      }
      uint8_t flags = s.p < s.end ? *s.p++ : 0xff;
      uint32_t min = leb_u32(&s);
      uint32_t max = flags == 1 ? leb_u32(&s) : 0;
      if (s.bad || flags != 1 || min != max) {
        *why = "model partition: the module's memory must have minimum == maximum pages";
        return -1;
      }
      info->pages = min;
      have_memory = 1;
      if (memory && (uint64_t)min * 65536u != memory_bytes) {
        *why = "model partition: the model plans another number of pages than this firmware's linear memory (rebuild the firmware for this artifact)";
        return -1;
      }
    } else if (id == 11) { /* data */
      if (!have_memory) {
        *why = "model partition: data section before any memory section";
        return -1;
      }
      uint32_t count = leb_u32(&s);
      for (uint32_t i = 0; i < count && !s.bad; i++) {
        uint32_t kind = leb_u32(&s);
        if (kind != 0 || s.p + 1 > s.end || *s.p++ != 0x41) { /* active, memory 0, i32.const */
          *why = "model partition: a data segment is not active at an i32.const offset";
          return -1;
        }
        uint32_t offset = (uint32_t)leb_i32(&s);
        if (s.p >= s.end || *s.p++ != 0x0b) s.bad = 1;
        uint32_t n = leb_u32(&s);
        if (s.bad || n > (uint32_t)(s.end - s.p)) break;
        if ((uint64_t)offset + n > (uint64_t)info->pages * 65536u) {
          *why = "model partition: a data segment lies outside the module's memory";
          return -1;
        }
        if (memory && offset < ram_bytes) {
          if ((uint64_t)offset + n > ram_bytes) {
            *why = "model partition: a data segment straddles the firmware's RAM and the part read in place from flash (rebuild the firmware for this artifact)";
            return -1;
          }
          memcpy(memory + offset, s.p, n);
        } else if (memory) {
          uint32_t d = (uint32_t)((uintptr_t)s.p - ((uintptr_t)memory + offset));
          if (have_delta && d != *delta) {
            *why = "model partition: the segments read in place from flash are not laid out as in memory";
            return -1;
          }
          *delta = d, have_delta = 1;
        }
        s.p += n;
        info->segments++;
        info->bytes += n;
      }
      if (s.bad || s.p != s.end) {
        *why = "model partition: the data section is damaged";
        return -1;
      }
      have_data = 1;
    }
    r.p += size;
  }
  if (!have_memory || !have_data) {
    *why = "model partition: the module has no memory or no data section";
    return -1;
  }
  info->module_bytes = (uint32_t)(r.p - wasm);
  return 0;
}

int slim_model_inspect(const uint8_t* wasm, uint32_t bytes, slim_model_info* info, const char** why) {
  return walk_model(wasm, bytes, 0, 0, 0, 0, info, why);
}

int slim_model_place(const uint8_t* wasm, uint32_t bytes, uint8_t* memory, uint64_t memory_bytes,
                     slim_model_info* info, const char** why) {
  uint32_t delta = 0;
  /* Check everything first, so a damaged partition leaves the memory untouched. */
  if (walk_model(wasm, bytes, 0, 0, 0, 0, info, why) != 0) return -1;
  return walk_model(wasm, bytes, memory, memory_bytes, memory_bytes, &delta, info, why);
}

int slim_model_place_split(const uint8_t* wasm, uint32_t bytes, uint8_t* memory, uint64_t memory_bytes, uint32_t ram_bytes,
                           uint32_t* delta, slim_model_info* info, const char** why) {
  *delta = 0;
  if (walk_model(wasm, bytes, 0, 0, 0, 0, info, why) != 0) return -1;
  return walk_model(wasm, bytes, memory, memory_bytes, ram_bytes, delta, info, why);
}

/* ---- the model partition's check -------------------------------------------------------------------- */

/* CRC-32 four bits at a time: a 64-byte table instead of 1 KiB, about ten instructions a byte. */
static const uint32_t CRC_NIBBLE[16] = {0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4,
                                        0x4db26158, 0x5005713c, 0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
                                        0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c};

uint32_t slim_crc32(const uint8_t* p, uint32_t n, uint32_t crc) {
  crc = ~crc;
  for (uint32_t i = 0; i < n; i++) {
    crc ^= p[i];
    crc = (crc >> 4) ^ CRC_NIBBLE[crc & 15];
    crc = (crc >> 4) ^ CRC_NIBBLE[crc & 15];
  }
  return ~crc;
}

static uint64_t model_check_cost, model_check_bytes;
static int model_checked;

int slim_model_verify(const uint8_t* part, uint32_t part_bytes, const char** why) {
  uint64_t start = slim_board_counter();
  if (part_bytes < SLIM_MODEL_CHECK_BYTES) {
    *why = "model partition: too small to hold its check (write it with slimedge flash)";
    return -1;
  }
  const uint8_t* check = part + part_bytes - SLIM_MODEL_CHECK_BYTES;
  uint32_t covered = le32(check + 8);
  if (memcmp(check, "SLMC", 4) != 0 || le32(check + 4) != 1) {
    *why = "model partition: no slimedge check at its end (write model.bin with slimedge flash)";
    return -1;
  }
  if (covered != part_bytes - SLIM_MODEL_CHECK_BYTES) {
    *why = "model partition: its check covers another size than the partition (the partition table and model.bin are from different builds)";
    return -1;
  }
  if (slim_crc32(part, covered, 0) != le32(check + 12)) {
    *why = "model partition: CRC-32 mismatch, the bytes differ from those written at build time (flash model.bin again)";
    return -1;
  }
  model_check_cost = slim_board_counter() - start;
  model_check_bytes = covered;
  model_checked = 1;
  return 0;
}

/* ---- the artifact bundle ---------------------------------------------------------------------------- */

int slim_bundle_file(const uint8_t* bundle, uint32_t bytes, const char* suffix, const uint8_t** file,
                     uint32_t* file_bytes, const char** why) {
  if (bytes < 16 || memcmp(bundle, "SLAB", 4) != 0 || bundle[4] != 1 || bundle[5] != 0) {
    *why = "artifact partition: not a version 1 artifact bundle (write it with slimedge flash)";
    return -1;
  }
  uint32_t count = (uint32_t)bundle[6] | (uint32_t)bundle[7] << 8;
  uint32_t total = le32(bundle + 8);
  if (total > bytes || 16 + (uint64_t)count * 48 > total) {
    *why = "artifact partition: the bundle's header runs past the partition";
    return -1;
  }
  size_t want = strlen(suffix);
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t* e = bundle + 16 + 48 * i;
    size_t n = 0;
    while (n < 32 && e[n]) n++;
    uint32_t offset = le32(e + 32), size = le32(e + 36);
    if ((uint64_t)offset + size > total) {
      *why = "artifact partition: a bundled file runs past the bundle";
      return -1;
    }
    if (n >= want && memcmp(e + n - want, suffix, want) == 0) {
      *file = bundle + offset;
      *file_bytes = size;
      return 0;
    }
  }
  *why = "artifact partition: the bundle has no <name>.core.wasm (rebuild and flash with this slimedge)";
  return -1;
}

/* ---- arguments -------------------------------------------------------------------------------------- */

int slim_split_args(char* line, char** argv, int max) {
  static char program[] = "slimedge";
  int argc = 0;
  argv[argc++] = program;
  char* in = line;
  while (*in && argc < max + 1) {
    while (*in == ' ' || *in == '\t' || *in == '\r' || *in == '\n') in++;
    if (!*in) break;
    char* out = in;
    argv[argc++] = out;
    int quoted = 0;
    while (*in && (quoted || (*in != ' ' && *in != '\t' && *in != '\r' && *in != '\n'))) {
      if (*in == '"') quoted = !quoted, in++;
      else *out++ = *in++;
    }
    if (*in) in++;
    *out = 0;
  }
  return argc;
}

/* ---- WASI preview-1 --------------------------------------------------------------------------------- */

enum { WASI_ESUCCESS = 0, WASI_EBADF = 8, WASI_EFAULT = 21, WASI_EINVAL = 28 };

static int in_memory(const slim_wasi* w, uint32_t ptr, uint64_t len) {
  return (uint64_t)ptr + len <= w->memory_bytes;
}
static void put32(slim_wasi* w, uint32_t ptr, uint32_t v) { memcpy(w->memory + ptr, &v, 4); }
static uint32_t get32(const slim_wasi* w, uint32_t ptr) {
  uint32_t v;
  memcpy(&v, w->memory + ptr, 4);
  return v;
}

static uint64_t stamps[SLIM_MAX_STAMPS];
static uint32_t stamp_count;
/* The counter at the command's clock reads: before and after prefill, before and after the decode loop. */
static uint64_t clocks[4];
static uint32_t clock_count;

void slim_stamps_reset(void) { stamp_count = 0, clock_count = 0; }

uint32_t slim_wasi_fd_write(slim_wasi* w, uint32_t fd, uint32_t iovs, uint32_t iovs_len, uint32_t nwritten) {
  if (fd != 1 && fd != 2) return WASI_EBADF;
  if (!in_memory(w, iovs, (uint64_t)iovs_len * 8) || !in_memory(w, nwritten, 4)) return WASI_EFAULT;
  uint32_t total = 0;
  for (uint32_t i = 0; i < iovs_len; i++) {
    uint32_t base = get32(w, iovs + 8 * i), len = get32(w, iovs + 8 * i + 4);
    if (!in_memory(w, base, len)) return WASI_EFAULT;
    slim_board_write((int)fd, w->memory + base, len);
    total += len;
  }
  if (fd == 1 && total > 0 && stamp_count < SLIM_MAX_STAMPS) stamps[stamp_count++] = slim_board_counter();
  put32(w, nwritten, total);
  return WASI_ESUCCESS;
}

uint32_t slim_wasi_args_sizes_get(slim_wasi* w, uint32_t argc_ptr, uint32_t buf_size_ptr) {
  if (!in_memory(w, argc_ptr, 4) || !in_memory(w, buf_size_ptr, 4)) return WASI_EFAULT;
  uint32_t bytes = 0;
  for (int i = 0; i < w->argc; i++) bytes += (uint32_t)strlen(w->argv[i]) + 1;
  put32(w, argc_ptr, (uint32_t)w->argc);
  put32(w, buf_size_ptr, bytes);
  return WASI_ESUCCESS;
}

uint32_t slim_wasi_args_get(slim_wasi* w, uint32_t argv_ptr, uint32_t buf_ptr) {
  if (!in_memory(w, argv_ptr, (uint64_t)w->argc * 4)) return WASI_EFAULT;
  uint32_t at = buf_ptr;
  for (int i = 0; i < w->argc; i++) {
    uint32_t n = (uint32_t)strlen(w->argv[i]) + 1;
    if (!in_memory(w, at, n)) return WASI_EFAULT;
    memcpy(w->memory + at, w->argv[i], n);
    put32(w, argv_ptr + 4 * (uint32_t)i, at);
    at += n;
  }
  return WASI_ESUCCESS;
}

uint32_t slim_wasi_clock_time_get(slim_wasi* w, uint32_t id, uint64_t precision, uint32_t time_ptr) {
  (void)precision;
  if (id > 3) return WASI_EINVAL;
  if (!in_memory(w, time_ptr, 8)) return WASI_EFAULT;
  uint64_t ns = slim_board_now_ns();
  if (clock_count < 4) clocks[clock_count++] = slim_board_counter();
  memcpy(w->memory + time_ptr, &ns, 8);
  return WASI_ESUCCESS;
}

/* ---- reports ---------------------------------------------------------------------------------------- */

void slim_say(const char* s) { slim_board_write(2, (const uint8_t*)s, (uint32_t)strlen(s)); }

void slim_say_u64(uint64_t v) {
  char digits[24];
  int n = 0;
  do digits[n++] = (char)('0' + (int)(v % 10)), v /= 10;
  while (v);
  char out[24];
  for (int i = 0; i < n; i++) out[i] = digits[n - 1 - i];
  slim_board_write(2, (const uint8_t*)out, (uint32_t)n);
}

void slim_report_counts(void) {
  if (model_checked) {
    slim_say("slimedge-fw: ");
    slim_say(slim_board_counter_unit);
    slim_say(": model check ");
    slim_say_u64(model_check_cost);
    slim_say(" over ");
    slim_say_u64(model_check_bytes);
    slim_say(" bytes\n");
  }
  /* The command reads its clock around prefill and around the decode loop: what lies between is exact. */
  if (clock_count == 4) {
    slim_say("slimedge-fw: ");
    slim_say(slim_board_counter_unit);
    slim_say(": prefill ");
    slim_say_u64(clocks[1] - clocks[0]);
    slim_say(", decode loop ");
    slim_say_u64(clocks[3] - clocks[2]);
    slim_say("\n");
  }
  /* stamps[0]: the prompt; stamps[1]: the first generated token (after prefill); then one per token that
     completes a character, and the closing newline. */
  if (stamp_count < 4) return;
  uint32_t first = 1, last = stamp_count - 2; /* token writes */
  uint64_t total = stamps[last] - stamps[first];
  uint32_t steps = last - first;
  uint64_t lo = UINT64_MAX, hi = 0;
  for (uint32_t i = first; i < last; i++) {
    uint64_t d = stamps[i + 1] - stamps[i];
    if (d < lo) lo = d;
    if (d > hi) hi = d;
  }
  slim_say("slimedge-fw: ");
  slim_say(slim_board_counter_unit);
  slim_say(" between token writes ");
  slim_say_u64(total / steps);
  slim_say(" (mean of ");
  slim_say_u64(steps);
  slim_say(" intervals, min ");
  slim_say_u64(lo);
  slim_say(", max ");
  slim_say_u64(hi);
  slim_say("); prefill and first token ");
  slim_say_u64(stamps[1] - stamps[0]);
  slim_say("\n");
}
