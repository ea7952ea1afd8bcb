/** ARP for IPv4 over Ethernet (RFC 826). Offsets in bytes from the start of the ARP header. */
export const ARP_LEN = 28;
export const ARP_HTYPE_ETHERNET = 1;
export const ARP_OP_REQUEST = 1;
export const ARP_OP_REPLY = 2;
