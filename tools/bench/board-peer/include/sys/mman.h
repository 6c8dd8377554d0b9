/*
 * The bare-metal peer's sys/mman.h: mmap of a file the shim (peer.c) serves from flash returns the file's
 * address in the flash window itself, read in place, nothing copied to RAM.
 */
#ifndef PEER_SYS_MMAN_H
#define PEER_SYS_MMAN_H
#include <stddef.h>
#include <sys/types.h>
#define PROT_READ 1
#define PROT_WRITE 2
#define MAP_PRIVATE 2
#define MAP_SHARED 1
#define MAP_FAILED ((void*)-1)
void* mmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset);
int munmap(void* addr, size_t length);
#endif
