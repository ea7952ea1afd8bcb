/** TCP (RFC 9293 section 3.1). Offsets in bytes from the start of the TCP header. */
export const TCP_MIN_HEADER_LEN = 20;
export const TCP_SRC_PORT_OFFSET = 0;
export const TCP_DST_PORT_OFFSET = 2;
export const TCP_SEQ_OFFSET = 4;
export const TCP_ACK_OFFSET = 8;
export const TCP_DATA_OFFSET_OFFSET = 12;
export const TCP_FLAGS_OFFSET = 13;
export const TCP_WINDOW_OFFSET = 14;
export const TCP_CHECKSUM_OFFSET = 16;
export const TCP_URGENT_OFFSET = 18;

/** Flag bits of the byte at TCP_FLAGS_OFFSET (RFC 9293; CWR/ECE from RFC 3168). */
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

/** Option kinds (IANA TCP parameters). */
export const TCP_OPT_EOL = 0;
export const TCP_OPT_NOP = 1;
export const TCP_OPT_MSS = 2;
export const TCP_OPT_WSCALE = 3;
export const TCP_OPT_SACK_PERMITTED = 4;
export const TCP_OPT_SACK = 5;
export const TCP_OPT_TIMESTAMP = 8;

/** Option lengths in bytes, kind and length octets included (RFC 9293 3.2, RFC 7323, RFC 2018). */
export const TCP_OPT_MSS_LEN = 4;
export const TCP_OPT_WSCALE_LEN = 3;
export const TCP_OPT_SACK_PERMITTED_LEN = 2;
export const TCP_OPT_TIMESTAMP_LEN = 10;
/** A SACK option carries 2 bytes of kind/length plus 8 bytes per block (RFC 2018 section 3). */
export const TCP_OPT_SACK_BLOCK_LEN = 8;
/** The largest window shift a peer may use (RFC 7323 section 2.3). */
export const TCP_MAX_WSCALE = 14;
/** The largest header (data offset 15 words). */
export const TCP_MAX_HEADER_LEN = 60;
/** Default MSS when the peer sends no MSS option (RFC 9293 3.7.1, IPv4). */
export const TCP_DEFAULT_MSS = 536;
