/** IPv4 (RFC 791). Offsets in bytes from the start of the IPv4 header. */
export const IPV4_MIN_HEADER_LEN = 20;
/** IHL of a header without options (5 words). */
export const IPV4_IHL_NO_OPTIONS = 5;
export const IPV4_TOTAL_LEN_OFFSET = 2;
export const IPV4_TTL_OFFSET = 8;
export const IPV4_PROTOCOL_OFFSET = 9;
export const IPV4_CHECKSUM_OFFSET = 10;
export const IPV4_SRC_OFFSET = 12;
export const IPV4_DST_OFFSET = 16;
export const IPPROTO_TCP = 6;
export const IPV4_ID_OFFSET = 4;
export const IPV4_FLAGS_FRAGMENT_OFFSET = 6;
/** Bits of the 16-bit flags/fragment-offset word (RFC 791 section 3.1). */
export const IPV4_FLAG_DF = 0x4000;
export const IPV4_FLAG_MF = 0x2000;
export const IPV4_FRAGMENT_OFFSET_MASK = 0x1fff;
export const IPV4_DEFAULT_TTL = 64;
