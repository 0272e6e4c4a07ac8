/* SPDX-License-Identifier: MIT */
/* CRC-32C (Castagnoli) of image blocks. */
#ifndef UFFDD_CRC32C_H
#define UFFDD_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* crc32c(0, buf, n) is the checksum of buf; pass a previous result as crc
 * to continue over more bytes.  Thread-safe. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t n);
/* The same without the CPU instruction (tests compare the two). */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t n);

#endif
