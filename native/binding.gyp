# prism's native addons (plain C against N-API version 8; no node-addon-api).
# Built by scripts/setup.mjs: node-gyp rebuild --directory native [--nodedir=/usr]
# Output: native/build/Release/<target>.node. Add further addons (TCP_REPAIR, ...) as more
# targets here; they share src/napi-util.h.
{
  "target_defaults": {
    "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
    "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
  },
  "targets": [
    {
      "target_name": "prism_bpf",
      "sources": ["src/bpf.c", "src/napi-util.h"],
      "libraries": ["-lbpf", "-lelf", "-lz"],
    },
    {
      # AF_PACKET raw frame I/O on the Node event loop (uv_poll), for the switch's CPU port.
      "target_name": "prism_packet",
      "sources": ["src/packet.c", "src/napi-util.h"],
    },
    {
      # TCP_REPAIR: restore / freeze / dump / close silently a TCP connection (agent hand-off).
      "target_name": "prism_repair",
      "sources": ["src/repair.c", "src/napi-util.h"],
    },
  ],
}
