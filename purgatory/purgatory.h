#ifndef KEXEC_TS_PURGATORY_H
#define KEXEC_TS_PURGATORY_H

typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef unsigned long uint64_t;

#define KEXEC_TS_MAX_REGIONS 16

/* One memory range to verify: filled in by the loader (purgatory-link.ts). len == 0 ends the list. */
struct kexec_ts_region {
	uint64_t start;
	uint64_t len;
	uint8_t sha256[32];
};

void sha256(const uint8_t *data, uint64_t len, uint8_t out[32]);
int purgatory_main(void);

#endif
