/* SPDX-License-Identifier: MIT */
/*
 * src/vhost/proto.h - the vhost-user wire format, written from QEMU's
 * docs/interop/vhost-user.rst ("Message Specification", "Protocol
 * features", "Front-end message types", "Back-end message types").
 *
 * Private to libgpc-vhost; not installed. Every number is in the host's
 * byte order (the spec: "All numbers are in the machine native byte
 * order"). A message is a 12-byte header followed by `size` bytes of
 * payload; file descriptors travel as SCM_RIGHTS ancillary data on the
 * same sendmsg(). The header is not padded to 8 bytes on the wire, so the
 * payload is never read in place: msg.c reads the header and the payload
 * into separate, naturally aligned objects.
 *
 * Where Linux's <linux/vhost_types.h> already defines a payload (vring
 * state, vring address, IOTLB message, memory region) that struct is the
 * wire format by the spec's own definition and is used as is; the
 * vhost-user-only payloads are defined here. Every size is asserted
 * against the spec's tables at the end of this file.
 */
#ifndef GPC_VHOST_PROTO_H
#define GPC_VHOST_PROTO_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/vhost_types.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

/* ---- header ------------------------------------------------------------ */

struct gpc_vhost_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size; /* of the payload, in bytes */
};

/* flags: bits 0-1 the version, bit 2 reply, bit 3 need_reply. */
#define GPC_VHOST_VERSION	  0x1u
#define GPC_VHOST_VERSION_MASK	  0x3u
#define GPC_VHOST_FLAG_REPLY	  (1u << 2)
#define GPC_VHOST_FLAG_NEED_REPLY (1u << 3)
/* The bits the spec defines; any other bit set is a malformed header. */
#define GPC_VHOST_FLAGS_KNOWN                            \
	(GPC_VHOST_VERSION_MASK | GPC_VHOST_FLAG_REPLY | \
	 GPC_VHOST_FLAG_NEED_REPLY)

/* ---- virtio feature bit that vhost-user borrows ------------------------ */

/*
 * Bit 30 of GET/SET_FEATURES (the reserved legacy "UNUSED" virtio bit)
 * announces GET/SET_PROTOCOL_FEATURES. Not in Linux's headers.
 */
#define GPC_VHOST_F_PROTOCOL_FEATURES 30
/* Dirty logging (VHOST_F_LOG_ALL, bit 26) comes from <linux/vhost_types.h>. */

/* ---- protocol feature bits (GET/SET_PROTOCOL_FEATURES) ------------------ */

enum gpc_vhost_protocol_feature {
	GPC_VHOST_PROTOCOL_F_MQ = 0,
	GPC_VHOST_PROTOCOL_F_LOG_SHMFD = 1,
	GPC_VHOST_PROTOCOL_F_RARP = 2,
	GPC_VHOST_PROTOCOL_F_REPLY_ACK = 3,
	GPC_VHOST_PROTOCOL_F_NET_MTU = 4,
	GPC_VHOST_PROTOCOL_F_BACKEND_REQ = 5, /* "SLAVE_REQ" in older specs */
	GPC_VHOST_PROTOCOL_F_CROSS_ENDIAN = 6,
	GPC_VHOST_PROTOCOL_F_CRYPTO_SESSION = 7,
	GPC_VHOST_PROTOCOL_F_PAGEFAULT = 8,
	GPC_VHOST_PROTOCOL_F_CONFIG = 9,
	GPC_VHOST_PROTOCOL_F_BACKEND_SEND_FD = 10,
	GPC_VHOST_PROTOCOL_F_HOST_NOTIFIER = 11,
	GPC_VHOST_PROTOCOL_F_INFLIGHT_SHMFD = 12,
	GPC_VHOST_PROTOCOL_F_RESET_DEVICE = 13,
	GPC_VHOST_PROTOCOL_F_INBAND_NOTIFICATIONS = 14,
	GPC_VHOST_PROTOCOL_F_CONFIGURE_MEM_SLOTS = 15,
	GPC_VHOST_PROTOCOL_F_STATUS = 16,
};

/* ---- front-end requests (front-end -> back-end, on the main socket) ---- */

enum gpc_vhost_request {
	GPC_VHOST_NONE = 0,
	GPC_VHOST_GET_FEATURES = 1,
	GPC_VHOST_SET_FEATURES = 2,
	GPC_VHOST_SET_OWNER = 3,
	GPC_VHOST_RESET_OWNER = 4,
	GPC_VHOST_SET_MEM_TABLE = 5,
	GPC_VHOST_SET_LOG_BASE = 6,
	GPC_VHOST_SET_LOG_FD = 7,
	GPC_VHOST_SET_VRING_NUM = 8,
	GPC_VHOST_SET_VRING_ADDR = 9,
	GPC_VHOST_SET_VRING_BASE = 10,
	GPC_VHOST_GET_VRING_BASE = 11,
	GPC_VHOST_SET_VRING_KICK = 12,
	GPC_VHOST_SET_VRING_CALL = 13,
	GPC_VHOST_SET_VRING_ERR = 14,
	GPC_VHOST_GET_PROTOCOL_FEATURES = 15,
	GPC_VHOST_SET_PROTOCOL_FEATURES = 16,
	GPC_VHOST_GET_QUEUE_NUM = 17,
	GPC_VHOST_SET_VRING_ENABLE = 18,
	GPC_VHOST_SEND_RARP = 19,
	GPC_VHOST_NET_SET_MTU = 20,
	GPC_VHOST_SET_BACKEND_REQ_FD = 21,
	GPC_VHOST_IOTLB_MSG = 22,
	GPC_VHOST_SET_VRING_ENDIAN = 23,
	GPC_VHOST_GET_CONFIG = 24,
	GPC_VHOST_SET_CONFIG = 25,
	GPC_VHOST_CREATE_CRYPTO_SESSION = 26,
	GPC_VHOST_CLOSE_CRYPTO_SESSION = 27,
	GPC_VHOST_POSTCOPY_ADVISE = 28,
	GPC_VHOST_POSTCOPY_LISTEN = 29,
	GPC_VHOST_POSTCOPY_END = 30,
	GPC_VHOST_GET_INFLIGHT_FD = 31,
	GPC_VHOST_SET_INFLIGHT_FD = 32,
	GPC_VHOST_GPU_SET_SOCKET = 33,
	GPC_VHOST_RESET_DEVICE = 34,
	GPC_VHOST_VRING_KICK = 35,
	GPC_VHOST_GET_MAX_MEM_SLOTS = 36,
	GPC_VHOST_ADD_MEM_REG = 37,
	GPC_VHOST_REM_MEM_REG = 38,
	GPC_VHOST_SET_STATUS = 39,
	GPC_VHOST_GET_STATUS = 40,
	GPC_VHOST_REQUEST_MAX = 41, /* one past the last number named here */
};

/* ---- back-end requests (back-end -> front-end, on the back-end channel) */

enum gpc_vhost_backend_request {
	GPC_VHOST_BACKEND_NONE = 0,
	GPC_VHOST_BACKEND_IOTLB_MSG = 1,
	GPC_VHOST_BACKEND_CONFIG_CHANGE_MSG = 2,
	GPC_VHOST_BACKEND_VRING_HOST_NOTIFIER_MSG = 3,
	GPC_VHOST_BACKEND_VRING_CALL = 4,
	GPC_VHOST_BACKEND_VRING_ERR = 5,
	GPC_VHOST_BACKEND_REQUEST_MAX = 6,
};

/* ---- payloads ------------------------------------------------------------ */

/*
 * SET_VRING_KICK/CALL/ERR: a u64 whose bits 0-7 are the ring index and
 * bit 8 says "no fd in the ancillary data" (poll instead). The spec gives
 * the other bits no meaning; the validator refuses them.
 */
#define GPC_VHOST_VRING_IDX_MASK 0xffull
#define GPC_VHOST_VRING_NOFD	 (1ull << 8)

/* At most this many regions in SET_MEM_TABLE, and fds in any message. */
#define GPC_VHOST_MAX_REGIONS 8
#define GPC_VHOST_MAX_FDS     8

/*
 * One region: the same four u64 as Linux's struct vhost_memory_region,
 * whose last field the spec uses as the mmap offset into the region's fd.
 */
struct gpc_vhost_region {
	uint64_t guest_addr;
	uint64_t size;
	uint64_t user_addr;
	uint64_t mmap_offset;
};

/* SET_MEM_TABLE: the header part is always sent, then nregions regions. */
struct gpc_vhost_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct gpc_vhost_region regions[GPC_VHOST_MAX_REGIONS];
};
#define GPC_VHOST_MEM_TABLE_HDR_SIZE \
	offsetof(struct gpc_vhost_mem_table, regions)

/* ADD_MEM_REG / REM_MEM_REG: 8 bytes of padding, then one region. */
struct gpc_vhost_mem_reg {
	uint64_t padding;
	struct gpc_vhost_region region;
};

/* SET_LOG_BASE with LOG_SHMFD: the log area inside the passed fd. */
struct gpc_vhost_log {
	uint64_t mmap_size;
	uint64_t mmap_offset;
};

/*
 * GET_CONFIG / SET_CONFIG: 12 bytes of header then `size` bytes of the
 * device's config space starting at `offset`; QEMU caps it at 256 bytes.
 */
#define GPC_VHOST_MAX_CONFIG_SIZE  256
#define GPC_VHOST_CONFIG_WRITABLE  0u /* flags: a driver write */
#define GPC_VHOST_CONFIG_MIGRATION 1u /* flags: restore on a destination */
struct gpc_vhost_config_msg {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t payload[GPC_VHOST_MAX_CONFIG_SIZE];
};
#define GPC_VHOST_CONFIG_HDR_SIZE offsetof(struct gpc_vhost_config_msg, payload)

/* Back-end VRING_HOST_NOTIFIER_MSG: ring index (and flags), area in the fd. */
struct gpc_vhost_vring_area {
	uint64_t u64;
	uint64_t size;
	uint64_t offset;
};

/*
 * GET_INFLIGHT_FD / SET_INFLIGHT_FD. The two u16 are followed by 4 bytes
 * of tail padding (the struct is 8-byte aligned and front-ends send its
 * sizeof, 24).
 */
struct gpc_vhost_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
};

/*
 * Every payload. The largest member bounds what a receiver must accept:
 * the config space (12 + 256) is larger than a full memory table (8 + 256).
 */
union gpc_vhost_payload {
	uint64_t u64;
	struct vhost_vring_state state;
	struct vhost_vring_addr addr;
	struct gpc_vhost_mem_table mem;
	struct gpc_vhost_mem_reg mem_reg;
	struct gpc_vhost_log log;
	struct vhost_iotlb_msg iotlb;
	struct gpc_vhost_config_msg config;
	struct gpc_vhost_vring_area area;
	struct gpc_vhost_inflight inflight;
};
#define GPC_VHOST_MAX_PAYLOAD \
	(GPC_VHOST_CONFIG_HDR_SIZE + GPC_VHOST_MAX_CONFIG_SIZE)

/* ---- the sizes the spec's tables give ------------------------------------ */

static_assert(sizeof(struct gpc_vhost_hdr) == 12, "header: 3 x u32");
static_assert(sizeof(struct vhost_vring_state) == 8, "vring state: 2 x u32");
static_assert(sizeof(struct vhost_vring_addr) == 40,
	      "vring addr: 2 x u32 + 4 x u64");
static_assert(offsetof(struct vhost_vring_addr, desc_user_addr) == 8 &&
		      offsetof(struct vhost_vring_addr, log_guest_addr) == 32,
	      "vring addr: index, flags, desc, used, avail, log");
static_assert(sizeof(struct gpc_vhost_region) == 32, "region: 4 x u64");
static_assert(sizeof(struct gpc_vhost_region) ==
		      sizeof(struct vhost_memory_region),
	      "region: the kernel's vhost_memory_region");
static_assert(GPC_VHOST_MEM_TABLE_HDR_SIZE == 8,
	      "memory table: u32 nregions + u32 padding");
static_assert(sizeof(struct gpc_vhost_mem_table) == 8 + 8 * 32,
	      "memory table: at most 8 regions");
static_assert(sizeof(struct gpc_vhost_mem_reg) == 40,
	      "single region: u64 padding + region");
static_assert(offsetof(struct gpc_vhost_mem_reg, region) == 8,
	      "single region: the region after 8 bytes of padding");
static_assert(sizeof(struct gpc_vhost_log) == 16, "log: 2 x u64");
static_assert(sizeof(struct vhost_iotlb_msg) == 32,
	      "IOTLB: 3 x u64 + u8 perm + u8 type, padded to 8");
static_assert(offsetof(struct vhost_iotlb_msg, perm) == 24 &&
		      offsetof(struct vhost_iotlb_msg, type) == 25,
	      "IOTLB: perm and type after iova, size, uaddr");
static_assert(GPC_VHOST_CONFIG_HDR_SIZE == 12,
	      "config: u32 offset + u32 size + u32 flags");
static_assert(sizeof(struct gpc_vhost_config_msg) == 12 + 256,
	      "config: at most 256 bytes of config space");
static_assert(sizeof(struct gpc_vhost_vring_area) == 24, "area: 3 x u64");
static_assert(sizeof(struct gpc_vhost_inflight) == 24,
	      "inflight: 2 x u64 + 2 x u16, padded to 8");
static_assert(offsetof(struct gpc_vhost_inflight, num_queues) == 16 &&
		      offsetof(struct gpc_vhost_inflight, queue_size) == 18,
	      "inflight: num_queues, queue_size after the two u64");
static_assert(sizeof(union gpc_vhost_payload) == GPC_VHOST_MAX_PAYLOAD + 4,
	      "payload: the config space is the largest member (+ alignment)");
static_assert(VHOST_F_LOG_ALL == 26, "LOG_ALL is virtio feature bit 26");
static_assert(VHOST_VRING_F_LOG == 0, "vring addr flag bit 0: log used ring");

#endif /* GPC_VHOST_PROTO_H */
