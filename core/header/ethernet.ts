/** Ethernet II framing (IEEE 802.3). Offsets in bytes from the start of the frame. */
export const ETH_HEADER_LEN = 14;
export const ETH_DST_OFFSET = 0;
export const ETH_SRC_OFFSET = 6;
export const ETH_TYPE_OFFSET = 12;
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const MAC_BROADCAST = 'ff:ff:ff:ff:ff:ff';
