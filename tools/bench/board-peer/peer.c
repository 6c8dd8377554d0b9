/*
 * The bare-metal shim around llama2.c's run.c / runq.c for the on-board bench (tools/bench/boards.ts): the
 * same emulated boards, startup files and board support (boards/firmware/qemu) as slimedge's own firmware.
 *
 *   files    open/read/lseek/close/mmap over two blobs linked into flash (peer-blobs.S): "model.bin" and
 *            "tokenizer.bin"; mmap returns the blob's flash address, so the weights are read in place
 *   stdio    picolibc's stdout to the console UART, stderr over semihosting
 *   heap     sbrk from the end of the linked RAM to the board's RAM end, its high-water mark reported
 *   counting peer_token(), called after each printed token (one line the bench adds to generate()), reads
 *            the instruction counter; the decode loop runs from the first sampled token to the last, as
 *            slimedge's command brackets its decode loop
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "board.h"
#include "sys/mman.h"

#define SEMIHOST_WRITE0 0x04
#define SEMIHOST_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

extern const uint8_t peer_model[], peer_model_end[], peer_tokenizer[], peer_tokenizer_end[];
extern uint8_t __data_start[], __bss_end[];
extern uint8_t __peer_ram_end[];
int peer_main(int argc, char** argv);

/* ---- report channel (semihosting) ---- */
void slim_say(const char* s) {
  static char chunk[129];
  uint32_t n = (uint32_t)strlen(s);
  while (n > 0) {
    uint32_t k = n < 128 ? n : 128;
    memcpy(chunk, s, k);
    chunk[k] = 0;
    board_semihost(SEMIHOST_WRITE0, (uintptr_t)chunk);
    s += k, n -= k;
  }
}
void slim_say_u64(uint64_t v) {
  char b[24];
  int i = 23;
  b[i] = 0;
  do b[--i] = (char)('0' + v % 10), v /= 10;
  while (v);
  slim_say(b + i);
}

/* ---- stdio ---- */
static int uart_put(char c, FILE* f) {
  (void)f;
  board_uart_put((uint8_t)c);
  return (unsigned char)c;
}
static char err_line[129];
static int err_n;
static int err_flush(FILE* f) {
  (void)f;
  err_line[err_n] = 0;
  if (err_n) slim_say(err_line);
  err_n = 0;
  return 0;
}
static int err_put(char c, FILE* f) {
  err_line[err_n++] = c;
  if (c == '\n' || err_n == 128) err_flush(f);
  return (unsigned char)c;
}
static int no_get(FILE* f) {
  (void)f;
  return EOF;
}
static FILE peer_out = FDEV_SETUP_STREAM(uart_put, NULL, NULL, _FDEV_SETUP_WRITE);
static FILE peer_err = FDEV_SETUP_STREAM(err_put, NULL, err_flush, _FDEV_SETUP_WRITE);
static FILE peer_in = FDEV_SETUP_STREAM(NULL, no_get, NULL, _FDEV_SETUP_READ);
FILE* const stdout = &peer_out;
FILE* const stderr = &peer_err;
FILE* const stdin = &peer_in;

/* ---- exit ---- */
static uint8_t* stack_low_water(void);
static void report(void);
__attribute__((noreturn)) void _exit(int code) {
  static uintptr_t block[2];
  err_flush(NULL);
  block[0] = ADP_STOPPED_APPLICATION_EXIT;
  block[1] = (uintptr_t)code;
  for (;;) board_semihost(SEMIHOST_EXIT_EXTENDED, (uintptr_t)block);
}
void abort(void) {
  slim_say("peer: abort\n");
  _exit(134);
}

/* ---- heap ---- */
static uint8_t* heap_top;
static uint8_t* heap_peak;
void* sbrk(ptrdiff_t incr) {
  if (!heap_top) heap_top = heap_peak = (uint8_t*)(((uintptr_t)__stack_top + 15) & ~(uintptr_t)15);
  if (incr > 0 && (uintptr_t)(__peer_ram_end - heap_top) < (uintptr_t)incr) {
    errno = ENOMEM;
    return (void*)-1;
  }
  uint8_t* old = heap_top;
  heap_top += incr;
  if (heap_top > heap_peak) heap_peak = heap_top;
  return old;
}

/* ---- files: the two blobs in flash ---- */
typedef struct {
  const char* name;
  const uint8_t* data;
  size_t size;
  size_t at;
  int open;
  size_t copied; /* bytes read() copied out of flash: the header and the tokenizer, not the weights */
} Blob;
static Blob blobs[2];
#define FD0 3
static Blob* blob(int fd) { return fd >= FD0 && fd < FD0 + 2 && blobs[fd - FD0].open ? &blobs[fd - FD0] : NULL; }
int open(const char* path, int flags, ...) {
  for (int i = 0; i < 2; i++)
    if (strcmp(path, blobs[i].name) == 0 && (flags & O_ACCMODE) == O_RDONLY) {
      blobs[i].open = 1;
      blobs[i].at = 0;
      return FD0 + i;
    }
  errno = ENOENT;
  return -1;
}
ssize_t read(int fd, void* buf, size_t n) {
  Blob* b = blob(fd);
  if (!b) return errno = EBADF, -1;
  if (n > b->size - b->at) n = b->size - b->at;
  memcpy(buf, b->data + b->at, n);
  b->at += n;
  b->copied += n;
  return (ssize_t)n;
}
ssize_t write(int fd, const void* buf, size_t n) {
  (void)fd, (void)buf, (void)n;
  return errno = EBADF, -1;
}
off_t lseek(int fd, off_t off, int whence) {
  Blob* b = blob(fd);
  if (!b) return errno = EBADF, -1;
  off_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? (off_t)b->at : (off_t)b->size;
  if (base + off < 0 || base + off > (off_t)b->size) return errno = EINVAL, -1;
  b->at = (size_t)(base + off);
  return (off_t)b->at;
}
int close(int fd) {
  Blob* b = blob(fd);
  if (!b) return errno = EBADF, -1;
  b->open = 0;
  return 0;
}
void* mmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset) {
  (void)addr, (void)flags;
  Blob* b = blob(fd);
  if (!b || (prot & PROT_WRITE) || offset < 0 || (size_t)offset + length > b->size) return MAP_FAILED;
  return (void*)(b->data + offset); /* in place: the flash window */
}
int munmap(void* addr, size_t length) {
  (void)addr, (void)length;
  return 0;
}

/* ---- time: one nanosecond per instruction, as -icount shift=0 advances virtual time ---- */
int clock_gettime(clockid_t clk, struct timespec* ts) {
  (void)clk;
  uint64_t ns = board_instructions();
  ts->tv_sec = (time_t)(ns / 1000000000u);
  ts->tv_nsec = (long)(ns % 1000000000u);
  return 0;
}
time_t time(time_t* t) {
  time_t now = (time_t)(board_instructions() / 1000000000u);
  if (t) *t = now;
  return now;
}

/* ---- counting ---- */
/* From args.c, which the bench writes: the prompt and how many tokens to sample. */
extern char peer_prompt[];
extern const int peer_tokens;
#define MAX_TOKENS 1024
static uint64_t t_start, t_first, t_last;
static int sampled;
static int ids[MAX_TOKENS];

/* After the token at `pos` (1-based: the loop has advanced) was printed; `next` is its id. */
void peer_token(int pos, int num_prompt_tokens, int next) {
  uint64_t now = board_instructions();
  if (pos < num_prompt_tokens) return; /* a forced prompt token */
  if (sampled == 0) t_first = now;
  t_last = now;
  if (sampled < MAX_TOKENS) ids[sampled] = next;
  sampled++;
  if (sampled == peer_tokens) {
    report();
    _exit(0);
  }
}

#define PAINT 0xa5
static uint8_t* paint_limit;
static uint8_t* stack_low_water(void) {
  uint8_t* low = __stack_bottom;
  while (low < paint_limit && *low == PAINT) low++;
  return low;
}

static void report(void) {
  fflush(stdout);
  err_flush(NULL);
  slim_say("peer-report: sampled ");
  slim_say_u64((uint64_t)sampled);
  slim_say(" decode-instructions ");
  slim_say_u64(sampled ? t_last - t_first : 0);
  slim_say(" total-instructions ");
  slim_say_u64(board_instructions() - t_start);
  slim_say(" heap-peak ");
  slim_say_u64(heap_peak ? (uint64_t)(heap_peak - (uint8_t*)(((uintptr_t)__stack_top + 15) & ~(uintptr_t)15)) : 0);
  slim_say(" stack-peak ");
  slim_say_u64((uint64_t)(__stack_top - stack_low_water()));
  slim_say(" data-bss ");
  slim_say_u64((uint64_t)(__bss_end - __data_start));
  slim_say(" model-bytes-read ");
  slim_say_u64((uint64_t)blobs[0].copied);
  slim_say("\npeer-ids:");
  for (int i = 0; i < sampled && i < MAX_TOKENS; i++) {
    slim_say(" ");
    slim_say_u64((uint64_t)ids[i]);
  }
  slim_say("\n");
}

int main(void) {
  board_init();
  uint8_t* here = (uint8_t*)__builtin_frame_address(0) - 256;
  paint_limit = here;
  memset(__stack_bottom, PAINT, (uint32_t)(here - __stack_bottom));
  blobs[0] = (Blob){"model.bin", peer_model, (size_t)(peer_model_end - peer_model), 0, 0, 0};
  blobs[1] = (Blob){"tokenizer.bin", peer_tokenizer, (size_t)(peer_tokenizer_end - peer_tokenizer), 0, 0, 0};
  static char* argv[] = {"run", "model.bin", "-z", "tokenizer.bin", "-t", "0", "-s", "1", "-n", "0", "-i", peer_prompt, NULL};
  t_start = board_instructions();
  int code = peer_main(12, argv);
  report(); /* generation ended before peer_tokens (a <s> or the context's end) */
  _exit(code);
}
