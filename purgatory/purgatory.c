/*
 * kexec-ts purgatory, C part: check every loaded segment against the SHA-256 the loader computed,
 * and say what happens on the serial port (if the loader gave one).
 * Returns 0 to go on to the new kernel, non-zero to stop.
 */
#include "purgatory.h"

/* Patched by the loader. Initialised so they live in .data (the loader cannot patch .bss). */
struct kexec_ts_region kexec_ts_regions[KEXEC_TS_MAX_REGIONS] = { { 1, 1, { 1 } } };
uint8_t kexec_ts_skip_checks = 1;
uint16_t kexec_ts_serial_port = 1;

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static void putc_serial(char c)
{
	uint16_t port = kexec_ts_serial_port;
	if (!port)
		return;
	/* Wait (bounded) for the transmit holding register to empty (LSR bit 5). */
	for (int i = 0; i < 100000 && !(inb(port + 5) & 0x20); i++)
		;
	outb(port, (uint8_t)c);
}

static void puts_serial(const char *s)
{
	for (; *s; s++) {
		if (*s == '\n')
			putc_serial('\r');
		putc_serial(*s);
	}
}

static void puthex(uint64_t v)
{
	char buf[19];
	buf[0] = '0';
	buf[1] = 'x';
	for (int i = 0; i < 16; i++)
		buf[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 0xf];
	buf[18] = 0;
	puts_serial(buf);
}

/* The compiler may emit calls to these for array and struct copies. */
void *memset(void *d, int c, uint64_t n)
{
	uint8_t *p = d;
	while (n--)
		*p++ = (uint8_t)c;
	return d;
}

void *memcpy(void *d, const void *s, uint64_t n)
{
	uint8_t *p = d;
	const uint8_t *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

int purgatory_main(void)
{
	if (kexec_ts_skip_checks) {
		puts_serial("kexec-ts purgatory: checks skipped, starting the new kernel\n");
		return 0;
	}
	int bad = 0;
	for (int i = 0; i < KEXEC_TS_MAX_REGIONS && kexec_ts_regions[i].len; i++) {
		struct kexec_ts_region *r = &kexec_ts_regions[i];
		uint8_t digest[32];
		sha256((const uint8_t *)r->start, r->len, digest);
		int same = 1;
		for (int j = 0; j < 32; j++)
			same &= digest[j] == r->sha256[j];
		if (!same) {
			puts_serial("kexec-ts purgatory: SHA-256 mismatch in segment at ");
			puthex(r->start);
			puts_serial(" size ");
			puthex(r->len);
			puts_serial("\n");
			bad = 1;
		}
	}
	if (bad) {
		puts_serial("kexec-ts purgatory: segments damaged, not starting the new kernel; halting\n");
		return 1;
	}
	puts_serial("kexec-ts purgatory: segments verified, starting the new kernel\n");
	return 0;
}
