// SPDX-License-Identifier: MIT
/*
 * guest_blkio.c - the guest's block workload of the QEMU tests (issue 13
 * part 4, issue 14 scenario 1).
 *
 * Runs inside the Linux guest (statically linked, from the initramfs) on the
 * vhost-user-blk disk. Every 4 KiB block carries a header (magic, its LBA,
 * a generation, the seed, the CRC-32 of its payload) and a payload of
 * pseudo-random bytes derived from (seed, lba, generation), so that any
 * block can be checked on its own, here and on the host, without keeping a
 * copy of what was written.
 *
 * Phases, each with --streams threads working on disjoint interleaved LBA
 * sets in a shuffled order (so several requests are in flight on the
 * virtqueue and the order is not sequential):
 *   1. write every data block with generation 1;
 *   2. rewrite the blocks whose expected generation is 2 (a hash of seed and
 *      LBA picks about half) - an overwrite must replace, not merge;
 *   3. fdatasync (a virtio-blk FLUSH request);
 *   [--pause: print "GPC-PHASE: written" and wait until the host writes the
 *    "go" block at the last LBA - the host's chance to corrupt a block];
 *   4. read every data block back and compare it with what was written;
 *   5. read the whole disk in order and compute its CRC-32.
 * Then one machine-readable line:
 *   GPC-VERDICT: PASS|FAIL writes=N reads=N mismatches=N blocks=N seed=HEX
 *                sum=HEX ms=N [reason=...]
 * The host compares `sum` with the CRC-32 of the backing file (Python's
 * zlib.crc32 is the same function) and checks each block's header.
 *
 * All I/O is O_DIRECT, so the guest's page cache never answers a read: every
 * read is a request to the back-end.
 *
 * --churn (issue 14 scenarios 2 and 4, memory hot-plug): between phases 1
 * and 4 the streams write and read back their blocks over and over (the
 * generation alternates, each write is read back and compared at once)
 * until the host writes the "go" block, while the host plugs and unplugs
 * DIMMs. The buffers of every few requests are fresh anonymous pages, and
 * a page fault takes a user page from the highest zone first: while a DIMM
 * is online in ZONE_MOVABLE (memhp_default_state=online_movable), new
 * buffers land in it. /proc/self/pagemap (root) gives each buffer's
 * physical address before and after its request; a request whose buffer
 * was at or above --hp-base both times counts as "in hot-plugged memory"
 * (hp_reqs in the verdict). The main thread watches the memory blocks at
 * or above --hp-base in sysfs and prints, for the host to pace the cycles:
 *   GPC-HP: online cycle=N mib=M   (a DIMM's memory came online)
 *   GPC-HP: used cycle=N reqs=R    (R requests had buffers in it so far)
 *   GPC-HP: offline cycle=N reqs=R (it went away again)
 * Phase 2 becomes "write every block with its final generation".
 * --keep-buffers (the control): each stream keeps the buffers it took
 * before any DIMM was plugged, so no request may count as hot-plugged.
 * --pin binds stream i to CPU i % ncpus, so that with -smp 2 and two
 * virtqueues both queues carry requests (blk-mq maps CPUs to queues); the
 * per-queue interrupt counts of /proc/interrupts are printed as GPC-IRQ.
 *
 * The lifecycle scenarios (issue 14, 5-7: driver reset, back-end restart,
 * guest reboot) interrupt the I/O, so they need passes that can be cut
 * anywhere and checked afterwards; --mode selects one (default "full", the
 * run above):
 *   write  one write pass of every data block with generation --gen G
 *          (--passes N repeats it, 0 = until an I/O error or a signal);
 *   check  read every data block: it must be a whole block written by this
 *          program for this seed, with a generation in [--lo, --hi] - an
 *          interrupted pass leaves old or new blocks, never a torn,
 *          misplaced or foreign one;
 *   state-get / state-set G  the last block as a small state record the
 *          next boot reads (scenario 7 keeps its state on the disk itself);
 *          state-get prints "GPC-STATE: gen=G" (0 when there is none);
 *   wait-go  what --pause does, alone: "GPC-PHASE: written", then wait for
 *          the host's "go" block (a control's chance to corrupt the disk
 *          between two boots).
 * --tag T replaces the "GPC-VERDICT" word of the verdict line (a background
 * pass must not be taken for the run's verdict); --stop-on-error ends a
 * stream at its first failed request (a removed device fails them all);
 * --phases prints "GPC-PHASE: <name>" as each phase of the full run starts.
 *
 * --timing (suite 7's end-to-end row, bench/bench_vhost_e2e.c): the full
 * run's random phases (1 to 4: the writes, the flush, the verifying reads)
 * are timed inside the guest, each request from just before its
 * pread/pwrite to just after it returns (what an application sees, the
 * guest kernel and the virtqueue included), into a histogram of 1 us
 * buckets; before the verdict comes one line
 *   GPC-TIMING: reqs=N bytes=N ms=N iops=N mb_s=X p50_us=N p99_us=N
 *               rd_p50_us=N rd_p99_us=N wr_p50_us=N wr_p99_us=N max_us=N
 * (MB = 10^6 bytes; ms is the wall time of phases 1 to 4). Phase 5, one
 * sequential stream, is left out: it is the check, not the workload. The
 * GPC-IRQ line (the whole run's interrupts per queue) comes too: how many
 * completions each interrupt carried is part of where the time goes.
 */
#define _GNU_SOURCE /* O_DIRECT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BLK_SIZE    4096
#define HDR_SIZE    64
#define BLK_MAGIC   0x31304b4c42435047ULL /* "GPCBLK01" little-endian */
#define GO_MAGIC    0x2121214f47435047ULL /* "GPCGO!!!" little-endian */
#define MAX_STREAMS 64
#define STATE_MAGIC 0x4554415453435047ULL /* "GPCSTATE" little-endian */

/* Block header; little-endian on disk (the guest is x86-64, as the host). */
struct blk_hdr {
	uint64_t magic;
	uint64_t lba;
	uint64_t gen;
	uint64_t seed;
	uint32_t payload_crc;
	uint32_t stream;
	uint8_t reserved[24];
};
_Static_assert(sizeof(struct blk_hdr) == HDR_SIZE, "header is 64 bytes");

static int dev_fd;
static uint64_t seed;
static uint64_t data_blocks;
static unsigned int streams = 4;
static atomic_ullong n_writes, n_reads, n_mismatches, n_errors;
static int stop_on_error;
static uint64_t write_gen, gen_lo, gen_hi;
static atomic_ullong n_gen_lo, n_gen_hi; /* check: blocks at either end */

/* --churn, --hp-base, --pin: see the top of the file. */
static int churn, pin, keep_buffers;
static uint64_t hp_base = UINT64_MAX;
static int pagemap_fd = -1;
static atomic_int churn_stop;
static atomic_ullong n_churn_reqs, n_hp_reqs;
/* Fresh pages for the buffers of every CHURN_REFRESH requests. */
#define CHURN_REFRESH 4

/*
 * --timing: per-request latency in 1 us buckets, reads [0] and writes [1];
 * the last bucket holds everything from LAT_BUCKETS - 1 us on. A histogram
 * rather than a list of samples: its size does not grow with the disk, and
 * the streams add to it without a lock. timing_on is set and cleared by
 * the main thread while no stream runs (pthread_create/join order it).
 */
#define LAT_BUCKETS 65536
static int timing, timing_on;
static atomic_uint lat_hist[2][LAT_BUCKETS];
static atomic_ullong lat_max_ns;

/*
 * splitmix64: tiny, good enough to scramble, and easy to reproduce in the
 * host's Python check (expected_gen() must agree with it bit for bit).
 */
static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Generation 1 or 2 the block must carry at the end; host: same formula. */
static uint64_t expected_gen(uint64_t lba)
{
	uint64_t s = seed ^ (lba * 0xd1342543de82ef95ULL);

	return 1 + (splitmix64(&s) & 1);
}

static uint32_t crc_table[256];

/* The CRC-32 of zlib, gzip and Ethernet (reflected polynomial 0xEDB88320). */
static void crc32_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xedb88320U ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

/* Running form: crc32_update(0, ...) starts, feed the result back in. */
static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static void fill_block(uint8_t *buf, uint64_t lba, uint64_t gen,
		       unsigned int stream)
{
	struct blk_hdr h = {
		.magic = BLK_MAGIC,
		.lba = lba,
		.gen = gen,
		.seed = seed,
		.stream = stream,
	};
	uint64_t s = seed ^ (lba << 20) ^ (gen << 4) ^ 0x5bd1e995ULL;

	for (size_t off = HDR_SIZE; off < BLK_SIZE; off += 8) {
		uint64_t v = splitmix64(&s);

		memcpy(buf + off, &v, 8);
	}
	h.payload_crc = crc32_update(0, buf + HDR_SIZE, BLK_SIZE - HDR_SIZE);
	memcpy(buf, &h, sizeof(h));
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* --timing: one request of @ns into the histogram of its direction. */
static void lat_record(int write, uint64_t ns)
{
	unsigned long long max = atomic_load(&lat_max_ns);
	uint64_t us = ns / 1000;

	atomic_fetch_add(
		&lat_hist[write][us < LAT_BUCKETS ? us : LAT_BUCKETS - 1], 1);
	while (ns > max && !atomic_compare_exchange_weak(&lat_max_ns, &max, ns))
		;
}

/* The smallest bucket (us) holding a fraction @q of directions lo..hi. */
static uint64_t lat_pct(double q, int dir_lo, int dir_hi)
{
	uint64_t total = 0, need, seen = 0;

	for (int d = dir_lo; d <= dir_hi; d++)
		for (uint64_t i = 0; i < LAT_BUCKETS; i++)
			total += atomic_load(&lat_hist[d][i]);
	if (!total)
		return 0;
	need = (uint64_t)(q * (double)total + 0.999999);
	if (need < 1)
		need = 1;
	for (uint64_t i = 0; i < LAT_BUCKETS; i++) {
		for (int d = dir_lo; d <= dir_hi; d++)
			seen += atomic_load(&lat_hist[d][i]);
		if (seen >= need)
			return i;
	}
	return LAT_BUCKETS - 1;
}

/* The GPC-TIMING line of --timing (see the top of the file). */
static void print_timing(uint64_t reqs, uint64_t ms)
{
	double s = ms ? (double)ms / 1000 : 1e-3;

	printf("GPC-TIMING: reqs=%" PRIu64 " bytes=%" PRIu64 " ms=%" PRIu64
	       " iops=%.0f mb_s=%.2f p50_us=%" PRIu64 " p99_us=%" PRIu64
	       " rd_p50_us=%" PRIu64 " rd_p99_us=%" PRIu64 " wr_p50_us=%" PRIu64
	       " wr_p99_us=%" PRIu64 " max_us=%llu\n",
	       reqs, reqs * BLK_SIZE, ms, (double)reqs / s,
	       (double)(reqs * BLK_SIZE) / 1e6 / s, lat_pct(0.50, 0, 1),
	       lat_pct(0.99, 0, 1), lat_pct(0.50, 0, 0), lat_pct(0.99, 0, 0),
	       lat_pct(0.50, 1, 1), lat_pct(0.99, 1, 1),
	       atomic_load(&lat_max_ns) / 1000);
	fflush(stdout);
}

/* Whole-block pread/pwrite; a short transfer is an error for O_DIRECT. */
static int xfer(int write, void *buf, uint64_t lba)
{
	off_t off = (off_t)(lba * BLK_SIZE);
	uint64_t t = timing_on ? now_ns() : 0;
	ssize_t r;

	do {
		r = write ? pwrite(dev_fd, buf, BLK_SIZE, off) :
			    pread(dev_fd, buf, BLK_SIZE, off);
	} while (r < 0 && errno == EINTR);
	if (timing_on && r == BLK_SIZE)
		lat_record(write, now_ns() - t);
	if (r != BLK_SIZE) {
		fprintf(stderr, "guest_blkio: %s lba %" PRIu64 ": %s\n",
			write ? "pwrite" : "pread", lba,
			r < 0 ? strerror(errno) : "short transfer");
		atomic_fetch_add(&n_errors, 1);
		return -1;
	}
	atomic_fetch_add(write ? &n_writes : &n_reads, 1);
	return 0;
}

/*
 * check mode: buf must be exactly what fill_block() writes for this LBA at
 * some generation in [gen_lo, gen_hi] (taken from the header, then the whole
 * block is compared, so a torn or misplaced block fails). 0 if it is.
 */
static int check_block(const uint8_t *buf, uint8_t *want, uint64_t lba)
{
	struct blk_hdr h;

	memcpy(&h, buf, sizeof(h));
	if (h.magic != BLK_MAGIC || h.lba != lba || h.seed != seed ||
	    h.gen < gen_lo || h.gen > gen_hi) {
		if (atomic_load(&n_mismatches) < 8)
			fprintf(stderr,
				"guest_blkio: lba %" PRIu64 ": magic %" PRIx64
				" lba %" PRIu64 " gen %" PRIu64 "\n",
				lba, h.magic, h.lba, h.gen);
		return -1;
	}
	fill_block(want, lba, h.gen, (unsigned int)(lba % streams));
	if (memcmp(buf, want, BLK_SIZE)) {
		if (atomic_load(&n_mismatches) < 8)
			fprintf(stderr,
				"guest_blkio: lba %" PRIu64 " gen %" PRIu64
				": content differs\n",
				lba, h.gen);
		return -1;
	}
	atomic_fetch_add(h.gen == gen_hi ? &n_gen_hi : &n_gen_lo, 1);
	return 0;
}

enum phase {
	PH_WRITE1,
	PH_WRITE2,
	PH_VERIFY,
	PH_CHURN,
	PH_FINAL,
	PH_WRITE_GEN,
	PH_CHECK
};

struct stream_arg {
	unsigned int id;
	enum phase phase;
	pthread_t thread;
};

/*
 * The physical address of the page holding p, from /proc/self/pagemap (bit
 * 63: present, bits 0-54: the PFN; the PFN reads as 0 without
 * CAP_SYS_ADMIN). 0 when not known.
 */
static uint64_t phys_of(const void *p)
{
	uint64_t e;
	off_t off = (off_t)((uintptr_t)p / BLK_SIZE * sizeof(e));

	if (pagemap_fd < 0 || pread(pagemap_fd, &e, sizeof(e), off) != 8)
		return 0;
	if (!(e >> 63))
		return 0;
	return (e & ((1ULL << 55) - 1)) * BLK_SIZE;
}

/* Counts req if its buffer sat in hot-plugged memory before and after it. */
static void count_hp(uint64_t before, const void *buf)
{
	atomic_fetch_add(&n_churn_reqs, 1);
	if (before >= hp_base && before && phys_of(buf) == before)
		atomic_fetch_add(&n_hp_reqs, 1);
}

/* --pin: stream id runs on CPU id % ncpus (blk-mq picks the queue by CPU). */
static void pin_stream(unsigned int id)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;

	if (ncpu < 1)
		return;
	CPU_ZERO(&set);
	CPU_SET(id % (unsigned long)ncpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set))
		fprintf(stderr, "guest_blkio: cannot pin stream %u\n", id);
}

/*
 * The churn loop of one stream: every block of its set, written with the
 * generation of the round and read back at once, round after round, until
 * churn_stop. Two pages of buffers (write, read), replaced by fresh ones
 * every CHURN_REFRESH requests so that they follow the memory plugged in.
 */
static void churn_stream(struct stream_arg *a, const uint64_t *lbas, uint64_t n)
{
	uint8_t *pages = MAP_FAILED, *wbuf, *rbuf;
	unsigned int since = CHURN_REFRESH;

	for (uint64_t round = 0; !atomic_load(&churn_stop); round++) {
		for (uint64_t i = 0; i < n && !atomic_load(&churn_stop); i++) {
			uint64_t lba = lbas[i], gen = expected_gen(lba), at;

			if (since++ >= CHURN_REFRESH &&
			    (!keep_buffers || pages == MAP_FAILED)) {
				if (pages != MAP_FAILED)
					munmap(pages, 2 * BLK_SIZE);
				pages = mmap(NULL, 2 * BLK_SIZE,
					     PROT_READ | PROT_WRITE,
					     MAP_PRIVATE | MAP_ANONYMOUS |
						     MAP_POPULATE,
					     -1, 0);
				if (pages == MAP_FAILED) {
					atomic_fetch_add(&n_errors, 1);
					goto out;
				}
				since = 1;
			}
			wbuf = pages;
			rbuf = pages + BLK_SIZE;
			/* Odd rounds write the other generation. */
			if (round & 1)
				gen = 3 - gen;
			fill_block(wbuf, lba, gen, a->id);
			at = phys_of(wbuf);
			if (xfer(1, wbuf, lba))
				continue;
			count_hp(at, wbuf);
			memset(rbuf, 0, BLK_SIZE);
			at = phys_of(rbuf);
			if (xfer(0, rbuf, lba))
				continue;
			count_hp(at, rbuf);
			if (memcmp(rbuf, wbuf, BLK_SIZE) &&
			    atomic_fetch_add(&n_mismatches, 1) < 8)
				fprintf(stderr,
					"guest_blkio: churn mismatch at lba "
					"%" PRIu64 "\n",
					lba);
		}
	}
out:
	if (pages != MAP_FAILED)
		munmap(pages, 2 * BLK_SIZE);
}

static uint64_t read_hex_file(const char *path)
{
	char line[64] = "";
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	fclose(f);
	return strtoull(line, NULL, 16);
}

/* Bytes of memory at or above hp_base that sysfs shows online. */
static uint64_t hp_online_bytes(void)
{
	const char *root = "/sys/devices/system/memory";
	uint64_t bsize, total = 0;
	struct dirent *de;
	char path[300];
	DIR *d;

	snprintf(path, sizeof(path), "%s/block_size_bytes", root);
	bsize = read_hex_file(path);
	d = opendir(root);
	if (!d || !bsize) {
		if (d)
			closedir(d);
		return 0;
	}
	while ((de = readdir(d))) {
		char state[32] = "";
		FILE *f;

		if (strncmp(de->d_name, "memory", 6) ||
		    !strchr("0123456789", de->d_name[6]) || !de->d_name[6])
			continue;
		snprintf(path, sizeof(path), "%s/%s/phys_index", root,
			 de->d_name);
		if (read_hex_file(path) * bsize < hp_base)
			continue;
		snprintf(path, sizeof(path), "%s/%s/state", root, de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(state, sizeof(state), f) &&
		    !strncmp(state, "online", 6))
			total += bsize;
		fclose(f);
	}
	closedir(d);
	return total;
}

/*
 * The main thread during the churn: reports each DIMM coming online, being
 * used and going away (the host paces its QMP cycles on these lines), and
 * polls the "go" block that ends the churn. Bounded by timeout_s.
 */
static int churn_monitor(uint64_t go_lba, unsigned int timeout_s)
{
	uint64_t deadline = now_ms() + timeout_s * 1000ULL, t_on = 0;
	uint64_t at_online = 0, tick = 0, online, hp;
	unsigned int cycle = 0;
	int used_said = 0, rc = -1;
	uint8_t *buf;

	if (posix_memalign((void **)&buf, BLK_SIZE, BLK_SIZE))
		return -1;
	printf("GPC-PHASE: churn\n");
	fflush(stdout);
	while (now_ms() < deadline) {
		online = hp_online_bytes();
		hp = atomic_load(&n_hp_reqs);
		if (online && !t_on) {
			t_on = now_ms();
			at_online = hp;
			used_said = 0;
			printf("GPC-HP: online cycle=%u mib=%" PRIu64 "\n",
			       ++cycle, online >> 20);
		} else if (t_on && !used_said &&
			   (hp - at_online >= 64 || now_ms() - t_on > 10000)) {
			used_said = 1;
			printf("GPC-HP: used cycle=%u reqs=%" PRIu64 "\n",
			       cycle, hp - at_online);
		} else if (!online && t_on) {
			t_on = 0;
			printf("GPC-HP: offline cycle=%u reqs=%" PRIu64 "\n",
			       cycle, hp - at_online);
		}
		fflush(stdout);
		/* The go block: one read every ~200 ms. */
		if (++tick % 4 == 0) {
			uint64_t magic;

			if (xfer(0, buf, go_lba))
				break;
			memcpy(&magic, buf, 8);
			if (magic == GO_MAGIC) {
				rc = 0;
				break;
			}
		}
		usleep(50 * 1000);
	}
	if (rc)
		fprintf(stderr, "guest_blkio: churn: no go block after %u s\n",
			timeout_s);
	atomic_store(&churn_stop, 1);
	free(buf);
	return rc;
}

/* GPC-IRQ: the interrupt count of each virtio request queue. */
static void print_queue_irqs(void)
{
	char line[1024];
	FILE *f = fopen("/proc/interrupts", "r");

	if (!f)
		return;
	printf("GPC-IRQ:");
	while (fgets(line, sizeof(line), f)) {
		unsigned long long sum = 0;
		char *p = strchr(line, ':'), *name;

		name = strstr(line, "-req.");
		if (!p || !name)
			continue;
		while (name > line && name[-1] != ' ')
			name--;
		for (char *q = p + 1; q < name;) {
			char *end;
			unsigned long long v = strtoull(q, &end, 10);

			if (end == q)
				break;
			sum += v;
			q = end;
		}
		name[strcspn(name, " \n")] = 0;
		printf(" %s=%llu", name, sum);
	}
	printf("\n");
	fclose(f);
}

static void *stream_main(void *p)
{
	struct stream_arg *a = p;
	uint8_t *buf, *want;
	uint64_t n = 0, *lbas, s = seed ^ (0x1000ULL + a->id + a->phase * 97);

	if (pin)
		pin_stream(a->id);
	if (posix_memalign((void **)&buf, BLK_SIZE, BLK_SIZE) ||
	    posix_memalign((void **)&want, BLK_SIZE, BLK_SIZE))
		goto oom;
	lbas = malloc(sizeof(*lbas) * (data_blocks / streams + 1));
	if (!lbas)
		goto oom;
	for (uint64_t lba = a->id; lba < data_blocks; lba += streams)
		lbas[n++] = lba;
	/* Fisher-Yates: each phase visits its blocks in a new order. */
	for (uint64_t i = n; i > 1; i--) {
		uint64_t j = splitmix64(&s) % i, t = lbas[i - 1];

		lbas[i - 1] = lbas[j];
		lbas[j] = t;
	}
	if (a->phase == PH_CHURN) {
		churn_stream(a, lbas, n);
		n = 0;
	}
	for (uint64_t i = 0; i < n; i++) {
		uint64_t lba = lbas[i], gen = expected_gen(lba);

		switch (a->phase) {
		case PH_WRITE1:
			fill_block(buf, lba, 1, a->id);
			xfer(1, buf, lba);
			break;
		case PH_WRITE2:
			if (gen != 2)
				break;
			fill_block(buf, lba, 2, a->id);
			xfer(1, buf, lba);
			break;
		case PH_FINAL:
			fill_block(buf, lba, gen, a->id);
			xfer(1, buf, lba);
			break;
		case PH_CHURN:
			break;
		case PH_WRITE_GEN:
			fill_block(buf, lba, write_gen, a->id);
			if (xfer(1, buf, lba) && stop_on_error)
				goto out;
			break;
		case PH_CHECK:
			if (xfer(0, buf, lba)) {
				if (stop_on_error)
					goto out;
				break;
			}
			if (check_block(buf, want, lba))
				atomic_fetch_add(&n_mismatches, 1);
			break;
		case PH_VERIFY:
			if (xfer(0, buf, lba))
				break;
			/*
			 * The writer's stream id is part of the block: the
			 * block was last written by stream lba % streams.
			 */
			fill_block(want, lba, gen,
				   (unsigned int)(lba % streams));
			if (memcmp(buf, want, BLK_SIZE)) {
				if (atomic_fetch_add(&n_mismatches, 1) < 8)
					fprintf(stderr,
						"guest_blkio: mismatch at lba "
						"%" PRIu64 "\n",
						lba);
			}
			break;
		}
	}
out:
	free(lbas);
	free(want);
	free(buf);
	return NULL;
oom:
	atomic_fetch_add(&n_errors, 1);
	return NULL;
}

/* One phase on every stream; the churn phase runs the monitor meanwhile. */
static int run_phase(enum phase ph)
{
	struct stream_arg a[MAX_STREAMS];
	int rc = 0;

	for (unsigned int i = 0; i < streams; i++) {
		a[i].id = i;
		a[i].phase = ph;
		if (pthread_create(&a[i].thread, NULL, stream_main, &a[i])) {
			fprintf(stderr, "guest_blkio: pthread_create failed\n");
			for (unsigned int k = 0; k < i; k++)
				pthread_join(a[k].thread, NULL);
			return -1;
		}
	}
	if (ph == PH_CHURN)
		rc = churn_monitor(data_blocks, 300);
	for (unsigned int i = 0; i < streams; i++)
		pthread_join(a[i].thread, NULL);
	return rc;
}

/* --pause: the host corrupts (or not) the file, then writes the go block. */
static int wait_for_go(uint8_t *buf, uint64_t go_lba, unsigned int timeout_s)
{
	uint64_t deadline = now_ms() + timeout_s * 1000ULL;

	printf("GPC-PHASE: written\n");
	fflush(stdout);
	while (now_ms() < deadline) {
		uint64_t magic;

		if (xfer(0, buf, go_lba))
			return -1;
		memcpy(&magic, buf, 8);
		if (magic == GO_MAGIC)
			return 0;
		usleep(50 * 1000);
	}
	fprintf(stderr, "guest_blkio: no go block after %u s\n", timeout_s);
	return -1;
}

/*
 * The state record in the last block (scenario 7): magic and a generation,
 * written with O_DIRECT and fdatasync'd, so that it survives a reset of the
 * guest that follows at once.
 */
static int state_io(int write, uint8_t *buf, uint64_t lba, uint64_t *gen)
{
	uint64_t magic = STATE_MAGIC;

	if (write) {
		memset(buf, 0, BLK_SIZE);
		memcpy(buf, &magic, 8);
		memcpy(buf + 8, gen, 8);
		memcpy(buf + 16, &seed, 8);
		if (xfer(1, buf, lba) || fdatasync(dev_fd))
			return -1;
		return 0;
	}
	if (xfer(0, buf, lba))
		return -1;
	memcpy(&magic, buf, 8);
	*gen = 0;
	if (magic == STATE_MAGIC && !memcmp(buf + 16, &seed, 8))
		memcpy(gen, buf + 8, 8);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: guest_blkio --dev DEV --seed HEX [--streams N] "
		"[--pause] [--phases] [--tag T] [--stop-on-error]\n"
		"       [--churn --hp-base HEX] [--pin] [--keep-buffers] "
		"[--timing]\n"
		"       [--mode full|write|check|state-get|state-set|wait-go] "
		"[--gen G] [--passes N] [--lo G --hi G]\n");
	exit(2);
}

static void phase(int on, const char *name)
{
	if (on) {
		printf("GPC-PHASE: %s\n", name);
		fflush(stdout);
	}
}

int main(int argc, char **argv)
{
	const char *dev = NULL, *reason = "", *mode = "full";
	const char *tag = "GPC-VERDICT";
	uint64_t bytes = 0, blocks, t0, passes = 1;
	uint64_t t_timed = 0, timed_ms = 0, timed_reqs = 0;
	struct stat st;
	uint8_t *buf;
	uint32_t sum = 0;
	int pause = 0, phases = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--dev") && i + 1 < argc)
			dev = argv[++i];
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 16);
		else if (!strcmp(argv[i], "--streams") && i + 1 < argc)
			streams = (unsigned int)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--pause"))
			pause = 1;
		else if (!strcmp(argv[i], "--churn"))
			churn = 1;
		else if (!strcmp(argv[i], "--hp-base") && i + 1 < argc)
			hp_base = strtoull(argv[++i], NULL, 16);
		else if (!strcmp(argv[i], "--keep-buffers"))
			keep_buffers = 1;
		else if (!strcmp(argv[i], "--pin"))
			pin = 1;
		else if (!strcmp(argv[i], "--phases"))
			phases = 1;
		else if (!strcmp(argv[i], "--timing"))
			timing = 1;
		else if (!strcmp(argv[i], "--stop-on-error"))
			stop_on_error = 1;
		else if (!strcmp(argv[i], "--tag") && i + 1 < argc)
			tag = argv[++i];
		else if (!strcmp(argv[i], "--mode") && i + 1 < argc)
			mode = argv[++i];
		else if (!strcmp(argv[i], "--gen") && i + 1 < argc)
			write_gen = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--passes") && i + 1 < argc)
			passes = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--lo") && i + 1 < argc)
			gen_lo = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--hi") && i + 1 < argc)
			gen_hi = strtoull(argv[++i], NULL, 0);
		else
			usage();
	}
	if (!dev || streams < 1 || streams > MAX_STREAMS ||
	    (churn && (pause || hp_base == UINT64_MAX)) ||
	    (timing && (churn || pause || strcmp(mode, "full"))))
		usage();
	if (strcmp(mode, "full") && strcmp(mode, "write") &&
	    strcmp(mode, "check") && strcmp(mode, "state-get") &&
	    strcmp(mode, "state-set") && strcmp(mode, "wait-go"))
		usage();
	crc32_init();

	/* A regular file too, so that the program can be tried on the host. */
	dev_fd = open(dev, O_RDWR | O_DIRECT);
	if (dev_fd >= 0 && !fstat(dev_fd, &st) && S_ISREG(st.st_mode))
		bytes = (uint64_t)st.st_size;
	else if (dev_fd >= 0 && ioctl(dev_fd, BLKGETSIZE64, &bytes))
		dev_fd = -1;
	if (dev_fd < 0) {
		printf("%s: FAIL reason=open-%s-%s\n", tag, dev,
		       strerror(errno));
		return 1;
	}
	blocks = bytes / BLK_SIZE;
	if (blocks < 2 * streams ||
	    posix_memalign((void **)&buf, BLK_SIZE, BLK_SIZE)) {
		printf("%s: FAIL reason=disk-too-small blocks=%" PRIu64 "\n",
		       tag, blocks);
		return 1;
	}
	/* The last block is the host's "go" flag of --pause, never data. */
	data_blocks = blocks - 1;

	if (churn) {
		pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
		if (pagemap_fd < 0)
			fprintf(stderr, "guest_blkio: pagemap: %s\n",
				strerror(errno));
	}

	t0 = now_ms();
	if (!strcmp(mode, "state-get") || !strcmp(mode, "state-set")) {
		int set = !strcmp(mode, "state-set");

		if (state_io(set, buf, blocks - 1, &write_gen)) {
			printf("GPC-STATE: FAIL reason=io-error\n");
			return 1;
		}
		printf("GPC-STATE: gen=%" PRIu64 "\n", write_gen);
		return 0;
	}
	if (!strcmp(mode, "wait-go"))
		return wait_for_go(buf, blocks - 1, 30) ? 1 : 0;
	if (!strcmp(mode, "write")) {
		/* Until the first failed request when passes is 0. */
		for (uint64_t p = 0; !passes || p < passes; p++) {
			if (run_phase(PH_WRITE_GEN)) {
				reason = " reason=threads";
				break;
			}
			if (atomic_load(&n_errors))
				break;
		}
		if (!*reason && fdatasync(dev_fd))
			atomic_fetch_add(&n_errors, 1);
		goto verdict;
	}
	if (!strcmp(mode, "check")) {
		if (run_phase(PH_CHECK))
			reason = " reason=threads";
		goto verdict;
	}
	phase(phases, "write1");
	if (timing) {
		timed_reqs = atomic_load(&n_writes) + atomic_load(&n_reads);
		t_timed = now_ms();
		timing_on = 1;
	}
	if (run_phase(PH_WRITE1)) {
		reason = " reason=threads";
		goto verdict;
	}
	if (churn && run_phase(PH_CHURN)) {
		reason = " reason=churn-no-go";
		goto verdict;
	}
	phase(phases, "write2");
	/* After the churn the generations are mixed: write them all. */
	if (run_phase(churn ? PH_FINAL : PH_WRITE2)) {
		reason = " reason=threads";
		goto verdict;
	}
	phase(phases, "flush");
	if (fdatasync(dev_fd)) {
		atomic_fetch_add(&n_errors, 1);
		fprintf(stderr, "guest_blkio: fdatasync: %s\n",
			strerror(errno));
	}
	if (pause && wait_for_go(buf, blocks - 1, 30)) {
		reason = " reason=no-go";
		goto verdict;
	}
	phase(phases, "verify");
	if (run_phase(PH_VERIFY)) {
		reason = " reason=threads";
		goto verdict;
	}
	if (timing) {
		timing_on = 0;
		timed_ms = now_ms() - t_timed;
		timed_reqs = atomic_load(&n_writes) + atomic_load(&n_reads) -
			     timed_reqs;
	}
	phase(phases, "sum");
	for (uint64_t lba = 0; lba < blocks; lba++) {
		if (xfer(0, buf, lba)) {
			reason = " reason=io-error";
			break;
		}
		sum = crc32_update(sum, buf, BLK_SIZE);
	}
verdict:
	if (!*reason && atomic_load(&n_errors))
		reason = " reason=io-error";
	if (!*reason && atomic_load(&n_mismatches))
		reason = " reason=mismatch";
	if (churn || pin || timing)
		print_queue_irqs();
	/* Only a window that ran to its end: a cut one would flatter. */
	if (timing && t_timed && !timing_on)
		print_timing(timed_reqs, timed_ms);
	printf("%s: %s writes=%llu reads=%llu mismatches=%llu "
	       "errors=%llu blocks=%" PRIu64 " streams=%u seed=%" PRIx64
	       " sum=%08" PRIx32 " ms=%" PRIu64,
	       tag, *reason ? "FAIL" : "PASS", atomic_load(&n_writes),
	       atomic_load(&n_reads), atomic_load(&n_mismatches),
	       atomic_load(&n_errors), blocks, streams, seed, sum,
	       now_ms() - t0);
	if (!strcmp(mode, "check"))
		printf(" at_lo=%llu at_hi=%llu", atomic_load(&n_gen_lo),
		       atomic_load(&n_gen_hi));
	if (churn)
		printf(" churn_reqs=%llu hp_reqs=%llu",
		       atomic_load(&n_churn_reqs), atomic_load(&n_hp_reqs));
	printf("%s\n", reason);
	fflush(stdout);
	close(dev_fd);
	free(buf);
	return *reason ? 1 : 0;
}
