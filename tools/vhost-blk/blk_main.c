// SPDX-License-Identifier: MIT
/*
 * tools/vhost-blk/blk_main.c - gpc-vhost-blk's command line, in the spirit
 * of qemu-storage-daemon's vhost-user-blk export:
 *
 *   gpc-vhost-blk --socket vhost.sock --file disk.img [--queues 2]
 *                 [--readonly] [--direct] [--client] ...
 *
 * The main thread becomes the library's control thread
 * (gpc_vhost_dev_run()); SIGINT and SIGTERM stop it
 * (gpc_vhost_dev_stop() is async-signal-safe). On a terminal a status line
 * (requests, IOPS, MB/s) is redrawn about once a second by a thread of its
 * own; at exit the library's and the device's counters are printed on
 * stdout, one "key value" pair per line, for scripts and tests.
 *
 * Exit status: 0 after a signal; 1 for a run-time error; 2 for a bad
 * command line; 3 with --check-stale if the library counted an access to
 * removed memory (stale_accesses) or an io_uring completion failed with
 * -EFAULT (the kernel found the memory gone: efaults).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gpc/gpc.h>

#include "blk_dev.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE   2
#define EXIT_STALE   3

struct opts {
	const char *socket, *file, *serial;
	unsigned int queues, queue_size, workers;
	bool readonly, direct, client, check_stale, busy_poll, quiet;
	bool no_mem_slots;
	enum gpc_scheme scheme;
};

static struct gpc_vhost_dev *the_dev;
static atomic_bool status_stop;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gpc-vhost-blk --socket PATH --file FILE [options]\n"
		"\n"
		"A vhost-user-blk device (virtio-blk over a vhost-user socket)\n"
		"on FILE, a regular file or a block device.\n"
		"\n"
		"  -s, --socket PATH      the vhost-user socket (listened on;\n"
		"                         a stale socket file is replaced)\n"
		"  -f, --file FILE        the disk\n"
		"  -q, --queues N         virtqueues, 1..%u (default 1)\n"
		"      --queue-size N     largest queue accepted, a power of\n"
		"                         two 4..32768 (default 1024,\n"
		"                         as qemu-storage-daemon)\n"
		"  -r, --readonly         a read-only disk (VIRTIO_BLK_F_RO)\n"
		"      --direct           O_DIRECT for aligned requests\n"
		"      --client           connect to PATH (QEMU's server=on)\n"
		"                         instead of listening\n"
		"      --serial STR       the id GET_ID returns (<= 20 bytes)\n"
		"      --check-stale      keep removed guest memory PROT_NONE\n"
		"                         (an access to it is counted; exit 3\n"
		"                         if one was, or an I/O got EFAULT)\n"
		"      --scheme S         libgpc read side: srcu (default),\n"
		"                         rwlock\n"
		"      --workers N        datapath threads (default: one per\n"
		"                         queue)\n"
		"      --busy-poll        datapath threads poll, never sleep\n"
		"      --no-mem-slots     do not offer CONFIGURE_MEM_SLOTS:\n"
		"                         the front-end sends whole memory\n"
		"                         tables (SET_MEM_TABLE)\n"
		"      --quiet            no status line\n"
		"  -h, --help             this text\n"
		"  -V, --version          print \"gpc-vhost-blk libgpc X.Y.Z\"\n",
		GPC_VHOST_MAX_QUEUES);
}

static int parse_uint(const char *s, unsigned int lo, unsigned int hi,
		      unsigned int *out, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || end == s || *end || *s == '-' || v < lo || v > hi) {
		fprintf(stderr, "gpc-vhost-blk: %s: '%s' is not in %u..%u\n",
			what, s, lo, hi);
		return -1;
	}
	*out = (unsigned int)v;
	return 0;
}

enum {
	OPT_QUEUE_SIZE = 256,
	OPT_DIRECT,
	OPT_CLIENT,
	OPT_SERIAL,
	OPT_CHECK_STALE,
	OPT_SCHEME,
	OPT_WORKERS,
	OPT_BUSY_POLL,
	OPT_QUIET,
	OPT_NO_MEM_SLOTS,
};

/* 0: run; 1: done (help, version); -1: usage error. */
static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "file", required_argument, NULL, 'f' },
		{ "queues", required_argument, NULL, 'q' },
		{ "queue-size", required_argument, NULL, OPT_QUEUE_SIZE },
		{ "readonly", no_argument, NULL, 'r' },
		{ "direct", no_argument, NULL, OPT_DIRECT },
		{ "client", no_argument, NULL, OPT_CLIENT },
		{ "serial", required_argument, NULL, OPT_SERIAL },
		{ "check-stale", no_argument, NULL, OPT_CHECK_STALE },
		{ "scheme", required_argument, NULL, OPT_SCHEME },
		{ "workers", required_argument, NULL, OPT_WORKERS },
		{ "busy-poll", no_argument, NULL, OPT_BUSY_POLL },
		{ "quiet", no_argument, NULL, OPT_QUIET },
		{ "no-mem-slots", no_argument, NULL, OPT_NO_MEM_SLOTS },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->queues = 1;
	o->queue_size = 1024;
	o->scheme = GPC_SCHEME_SRCU;
	while ((c = getopt_long(argc, argv, "s:f:q:rhV", lopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->socket = optarg;
			break;
		case 'f':
			o->file = optarg;
			break;
		case 'q':
			if (parse_uint(optarg, 1, GPC_VHOST_MAX_QUEUES,
				       &o->queues, "--queues"))
				return -1;
			break;
		case OPT_QUEUE_SIZE:
			if (parse_uint(optarg, 4, 32768, &o->queue_size,
				       "--queue-size"))
				return -1;
			if (o->queue_size & (o->queue_size - 1)) {
				fprintf(stderr, "gpc-vhost-blk: --queue-size: "
						"not a power of two\n");
				return -1;
			}
			break;
		case 'r':
			o->readonly = true;
			break;
		case OPT_DIRECT:
			o->direct = true;
			break;
		case OPT_CLIENT:
			o->client = true;
			break;
		case OPT_SERIAL:
			if (strlen(optarg) > VIRTIO_BLK_ID_BYTES) {
				fprintf(stderr,
					"gpc-vhost-blk: --serial: at most %u "
					"bytes\n",
					VIRTIO_BLK_ID_BYTES);
				return -1;
			}
			o->serial = optarg;
			break;
		case OPT_CHECK_STALE:
			o->check_stale = true;
			break;
		case OPT_NO_MEM_SLOTS:
			o->no_mem_slots = true;
			break;
		case OPT_SCHEME:
			if (!strcmp(optarg, "srcu")) {
				o->scheme = GPC_SCHEME_SRCU;
			} else if (!strcmp(optarg, "rwlock")) {
				o->scheme = GPC_SCHEME_RWLOCK;
			} else {
				fprintf(stderr, "gpc-vhost-blk: --scheme: srcu "
						"or rwlock\n");
				return -1;
			}
			break;
		case OPT_WORKERS:
			if (parse_uint(optarg, 1, GPC_VHOST_MAX_QUEUES,
				       &o->workers, "--workers"))
				return -1;
			break;
		case OPT_BUSY_POLL:
			o->busy_poll = true;
			break;
		case OPT_QUIET:
			o->quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf("gpc-vhost-blk libgpc %s\n", gpc_version());
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "gpc-vhost-blk: unexpected argument '%s'\n",
			argv[optind]);
		return -1;
	}
	if (!o->socket || !o->file) {
		fprintf(stderr, "gpc-vhost-blk: --socket and --file are "
				"required (--help)\n");
		return -1;
	}
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	if (the_dev)
		gpc_vhost_dev_stop(the_dev);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The status line: redrawn in place on stderr (a terminal) every second. */
static void *status_main(void *arg)
{
	const struct blk_dev *b = arg;
	struct blk_totals prev, cur;
	double t_prev = now_s();

	blk_dev_totals(b, -1, &prev);
	while (!atomic_load(&status_stop)) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		double t = now_s(), dt;

		nanosleep(&ts, NULL);
		if (t - t_prev < 1.0)
			continue;
		blk_dev_totals(b, -1, &cur);
		dt = t - t_prev;
		fprintf(stderr,
			"\r%" PRIu64 " requests  %.0f IOPS  read %.1f MB/s  "
			"write %.1f MB/s  in flight %" PRIu64
			"  errors %" PRIu64 "   ",
			cur.requests,
			(double)(cur.requests - prev.requests) / dt,
			(double)(cur.bytes_read - prev.bytes_read) / dt / 1e6,
			(double)(cur.bytes_written - prev.bytes_written) / dt /
				1e6,
			cur.inflight, cur.ioerr + cur.unsupp);
		prev = cur;
		t_prev = t;
	}
	fputc('\n', stderr);
	return NULL;
}

static void print_totals(const char *prefix, const struct blk_totals *t)
{
#define P(f) printf("%s" #f " %" PRIu64 "\n", prefix, t->f)
	P(requests);
	P(reads);
	P(writes);
	P(flushes);
	P(get_ids);
	P(discards);
	P(write_zeroes);
	P(bytes_read);
	P(bytes_written);
	P(ioerr);
	P(unsupp);
	P(no_status);
	P(retries);
	P(inflight_max);
	P(efaults);
#undef P
}

static void print_stats(struct gpc_vhost_dev *d, const struct blk_dev *b,
			const struct gpc_vhost_stats *s)
{
	struct blk_totals t;

	printf("# gpc-vhost-blk stats\n");
#define P(f) printf("vhost_" #f " %" PRIu64 "\n", s->f)
	P(connections);
	P(messages);
	P(refused_messages);
	P(requests);
	P(bad_requests);
	P(kicks);
	P(calls);
	P(mem_adds);
	P(mem_removes);
	P(removal_wait_ns_max);
	P(iotlb_updates);
	P(iotlb_invalidations);
	P(iotlb_misses);
	P(stale_accesses);
	P(bus_faults);
#undef P
	(void)d;
	blk_dev_totals(b, -1, &t);
	print_totals("blk_", &t);
	if (b->disk->num_queues > 1)
		for (unsigned int q = 0; q < b->disk->num_queues; q++) {
			char prefix[32];

			blk_dev_totals(b, (int)q, &t);
			snprintf(prefix, sizeof(prefix), "blk_q%u_", q);
			printf("%srequests %" PRIu64 "\n", prefix, t.requests);
		}
	printf("blk_queue_starts %" PRIu64 "\n", atomic_load(&b->queue_starts));
	printf("blk_complete_errors %" PRIu64 "\n",
	       atomic_load(&b->complete_errors));
	printf("blk_log_dropped %" PRIu64 "\n", blk_log_dropped());
	fflush(stdout);
}

/* A socket file left by an earlier run would make bind() fail. */
static void remove_stale_socket(const char *path)
{
	struct stat st;

	if (!lstat(path, &st) && S_ISSOCK(st.st_mode))
		unlink(path);
}

int main(int argc, char **argv)
{
	static struct blk_dev b;
	struct blk_disk disk;
	struct blk_disk_opts dopts;
	struct gpc_vhost_config cfg;
	struct gpc_vhost_stats st;
	struct blk_totals t;
	struct sigaction sa;
	pthread_t status_thread;
	bool status = false;
	struct opts o;
	int ret, rc = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	ret = parse_args(argc, argv, &o);
	if (ret)
		return ret > 0 ? 0 : EXIT_USAGE;

	memset(&dopts, 0, sizeof(dopts));
	dopts.readonly = o.readonly;
	dopts.direct = o.direct;
	dopts.serial = o.serial;
	dopts.num_queues = o.queues;
	ret = blk_disk_open(&disk, o.file, &dopts);
	if (ret) {
		blk_log(BLK_LOG_ERR, "%s: cannot use it as a disk (%s)", o.file,
			strerror(-ret));
		return EXIT_RUNTIME;
	}
	ret = blk_dev_init(&b, &disk, o.queue_size);
	if (ret) {
		blk_log(BLK_LOG_ERR, "device: %s", strerror(-ret));
		blk_disk_close(&disk);
		return EXIT_RUNTIME;
	}

	memset(&cfg, 0, sizeof(cfg));
	cfg.socket_path = o.socket;
	cfg.scheme = o.scheme;
	cfg.workers = o.workers;
	cfg.flags = (o.client ? GPC_VHOST_F_CLIENT : 0) |
		    (o.busy_poll ? GPC_VHOST_F_BUSY_POLL : 0) |
		    (o.check_stale ? GPC_VHOST_F_CHECK_STALE : 0) |
		    (o.no_mem_slots ? GPC_VHOST_F_NO_MEM_SLOTS : 0);
	if (!o.client)
		remove_stale_socket(o.socket);
	ret = gpc_vhost_dev_create(&b.vdev, &b, &cfg, &the_dev);
	if (ret) {
		blk_log(BLK_LOG_ERR, "%s: %s", o.socket, strerror(-ret));
		blk_disk_close(&disk);
		return EXIT_RUNTIME;
	}
	blk_log(BLK_LOG_INFO,
		"%s: %" PRIu64
		" sectors of %u bytes, %u queue%s of up to %u%s%s; "
		"%s %s",
		o.file, disk.capacity, disk.blk_size, o.queues,
		o.queues > 1 ? "s" : "", o.queue_size,
		o.readonly ? ", read-only" : "",
		disk.fd_direct >= 0 ? ", O_DIRECT" : "",
		o.client ? "connecting to" : "listening on", o.socket);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	if (!o.quiet && isatty(STDERR_FILENO))
		status = !pthread_create(&status_thread, NULL, status_main, &b);

	ret = gpc_vhost_dev_run(the_dev);
	if (ret) {
		blk_log(BLK_LOG_ERR, "serving %s: %s", o.socket,
			strerror(-ret));
		rc = EXIT_RUNTIME;
	}
	if (status) {
		atomic_store(&status_stop, true);
		pthread_join(status_thread, NULL);
	}
	gpc_vhost_dev_get_stats(the_dev, &st);
	print_stats(the_dev, &b, &st);
	blk_dev_totals(&b, -1, &t);
	/* No handler may use the back-end once it is freed. */
	sa.sa_handler = SIG_DFL;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	ret = gpc_vhost_dev_destroy(the_dev);
	if (ret)
		blk_log(BLK_LOG_ERR, "destroy: %s", strerror(-ret));
	the_dev = NULL;
	if (!o.client)
		remove_stale_socket(o.socket);
	blk_disk_close(&disk);
	/*
	 * The kernel's late accesses (io_uring completions with -EFAULT) are
	 * stale accesses too: the memory was gone under the I/O.
	 */
	if (o.check_stale && (st.stale_accesses || t.efaults)) {
		blk_log(BLK_LOG_ERR,
			"%" PRIu64 " CPU and %" PRIu64
			" kernel (EFAULT) accesses to removed guest memory",
			st.stale_accesses, t.efaults);
		return EXIT_STALE;
	}
	return rc;
}
