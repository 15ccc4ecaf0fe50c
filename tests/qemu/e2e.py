#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""e2e.py - one end-to-end benchmark run (suite 7's e2e row, issue 14).

A Linux guest under QEMU/TCG runs guest_blkio's full workload (O_DIRECT
4 KiB writes of tagged blocks in shuffled order from several streams, an
overwrite of about half of them, a flush, verifying reads) on a
vhost-user-blk-pci disk served by the back-end given as --backend, with
--timing: the guest times each request itself and prints a GPC-TIMING line
(MB/s, p50/p99 as the guest sees them). bench/bench_vhost_e2e.c runs this
once per back-end with the same disk size and seed and prints the rows and
the ratio.

The data is still verified (a row that passes on corrupt data is
worthless): the guest's verdict must be PASS, its checksum must equal the
CRC-32 of the backing file, and every block of the file must carry its LBA,
the expected generation and a payload matching its CRC, as in smoke.py.

Where the time goes: the host samples the CPU time of the back-end and of
QEMU (per thread: QEMU runs with debug-threads=on, so the TCG vCPU thread is
told from the rest, main loop and I/O) from /proc when the guest starts its
timed phases ("GPC-PHASE: write1") and when it ends them ("GPC-PHASE:
sum"), and reports CPU per request and as a share of that window.

The guest kernel is taken from --cache only if it is already there (a
`make check` or `ctest -L qemu` run fetches it); a benchmark does not
download 70 MB behind the user's back. Without it, or without QEMU, the run
exits 77 with the reason.

Output, one line on success:
  e2e: PASS name=N mb_s=X iops=X p50_us=N p99_us=N rd_p50_us=N rd_p99_us=N
       wr_p50_us=N wr_p99_us=N max_us=N reqs=N guest_ms=N window_s=X
       be_cpu_us_per_req=X be_cpu_pct=X qemu_cpu_us_per_req=X
       qemu_vcpu_pct=X qemu_other_pct=X irqs_per_req=X boot_s=X wall_s=X
(irqs_per_req: the request queues' guest interrupts over the whole run
per request of the run, -1 if the guest printed none)
Exit status: 0 pass, 1 fail, 77 skip.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpcqemu as g  # noqa: E402

MODULES = ["virtio_pci", "virtio_blk"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def parse_args():
    ap = g.scenario_args(__doc__, "e2e", disk_mib=32, timeout=120.0)
    ap.set_defaults(seed=1)
    ap.add_argument("--disk", default=None,
                    help="the backing file (default WORK/disk.img); "
                         "created, removed at the end")
    return ap.parse_args()


def cached_kernel(cache):
    """(version, vmlinuz, modules dir) of a kernel already unpacked in
    cache (the newest name), or Skip: no download here."""
    found = None
    if os.path.isdir(cache):
        for d in sorted(os.listdir(cache)):
            k = g._unpacked_kernel(os.path.join(cache, d))
            if k:
                found = k
    if not found:
        raise g.Skip(f"no guest kernel in {cache} (the benchmark does not "
                     "download it; `make check` or `ctest -L qemu` fetches "
                     "it once)")
    return found


def _ticks(stat_path):
    """utime + stime of a /proc stat file, in clock ticks (the comm field
    may hold spaces and parentheses: split after its last ')')."""
    with open(stat_path) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])


def cpu_sample(be_pid, qemu_pid):
    """Seconds of CPU so far: the back-end (all threads), QEMU's TCG vCPU
    threads, QEMU's other threads."""
    be = _ticks(f"/proc/{be_pid}/stat") / CLK_TCK
    vcpu = other = 0.0
    tdir = f"/proc/{qemu_pid}/task"
    for tid in os.listdir(tdir):
        try:
            with open(f"{tdir}/{tid}/comm") as f:
                comm = f.read().strip()
            t = _ticks(f"{tdir}/{tid}/stat") / CLK_TCK
        except OSError:
            continue  # a thread that ended meanwhile
        if re.match(r"CPU \d+/TCG", comm):
            vcpu += t
        else:
            other += t
    # A thread that ended took its time with it from task/, but not from
    # the process's own stat: what is not in a live thread is "other".
    total = _ticks(f"/proc/{qemu_pid}/stat") / CLK_TCK
    other += max(0.0, total - vcpu - other)
    return be, vcpu, other


def run(a):
    t_start = time.monotonic()
    tools = g.require_tools(["qemu-system-x86_64", "cpio", "find"])
    busybox = g.find_static_busybox()
    g.require_tools([a.backend.split()[0]])
    if not os.access(a.guest_bin, os.X_OK):
        raise g.Skip(f"{a.guest_bin}: not built (GPC_BUILD_TESTS=ON)")
    ver, vmlinuz, moddir = cached_kernel(a.cache)
    mods = g.module_order(moddir, MODULES)

    os.makedirs(a.work, exist_ok=True)
    disk = a.disk or os.path.join(a.work, "disk.img")
    with open(disk, "wb") as f:
        f.truncate(a.disk_mib << 20)
    sock = os.path.join(a.work, "vhost.sock")
    workload = (g.wait_block_device("/dev/vda") + "\n"
                f"/bin/gpc-guest-blkio --dev /dev/vda --seed {a.seed:x} "
                f"--streams {a.streams} --timing --phases")
    initrd = g.build_initramfs(os.path.join(a.work, "initramfs.cpio"),
                               busybox, mods,
                               {"/bin/gpc-guest-blkio": a.guest_bin},
                               workload)
    backend = g.Backend(a.backend, sock, disk,
                        os.path.join(a.work, "backend.log"))
    qemu = g.Qemu(tools["qemu-system-x86_64"], a.work, vmlinuz, initrd,
                  "console=ttyS0 quiet panic=-1", mem_mib=a.mem_mib,
                  extra=["-name", f"{a.name},debug-threads=on",
                         "-chardev", f"socket,id=vub0,path={sock}",
                         "-device", "vhost-user-blk-pci,chardev=vub0"])
    try:
        try:
            backend.start()
            qemu.start()
            deadline = time.monotonic() + a.timeout
            qemu.wait_for(r"^GPC-PHASE: write1", a.timeout)
            t0 = time.monotonic()
            c0 = cpu_sample(backend.proc.pid, qemu.proc.pid)
            boot_s = t0 - qemu.t0
            qemu.wait_for(r"^GPC-PHASE: sum", deadline - time.monotonic())
            t1 = time.monotonic()
            c1 = cpu_sample(backend.proc.pid, qemu.proc.pid)
            qemu.wait_for(r"^GPC-VERDICT: .*$", deadline - time.monotonic())
            qrc = qemu.wait_exit(15)
        except (g.Fail, OSError) as e:
            # Before they are stopped: where a stalled run's threads wait.
            g.failure_dump(qemu, backend)
            raise g.Fail(str(e)) from None
        finally:
            qemu.stop()
            brc = backend.stop()

        console = qemu.console()
        m = re.search(r"^GPC-VERDICT: .*$", console, re.M)
        verdict, v = g.parse_verdict(m.group(0))
        if qrc != 0:
            print(qemu.stderr_text(), file=sys.stderr)
            raise g.Fail(f"QEMU exit status {qrc}")
        if brc not in (0, -15):
            print(backend.log_text(), file=sys.stderr)
            raise g.Fail(f"back-end exit status {brc}")
        # One-line reasons: the bench keeps the first line of a FAIL; the
        # console goes to stderr (bench_vhost keeps it in a log file).
        if verdict != "PASS":
            print(f"--- serial console ---\n{console}", file=sys.stderr)
            raise g.Fail(f"guest: {m.group(0)}")
        crc, problems, nbad = g.check_disk(disk, a.seed, a.streams)
        if v.get("sum") != f"{crc:08x}":
            raise g.Fail(f"guest sum {v.get('sum')} != host crc32 "
                         f"{crc:08x}")
        if nbad:
            raise g.Fail(f"{nbad} bad blocks in the backing file: "
                         + "; ".join(problems))
        if re.search(r"I/O error|blk_update_request|Call Trace", console):
            print(f"--- serial console ---\n{console}", file=sys.stderr)
            raise g.Fail("kernel errors on the console")
        tm = re.search(r"^GPC-TIMING: (.*)$", console, re.M)
        if not tm:
            raise g.Fail("no GPC-TIMING line on the console")
        t = dict(w.split("=", 1) for w in tm.group(1).split())
        # Interrupts of the request queue(s) over the whole run, against
        # every request of the run (GPC-IRQ counts from boot on).
        im = re.search(r"^GPC-IRQ:(.*)$", console, re.M)
        irqs = sum(int(w.split("=", 1)[1]) for w in im.group(1).split()
                   if "=" in w) if im else -1
        run_reqs = int(v.get("writes", 0)) + int(v.get("reads", 0))
    finally:
        try:
            os.unlink(disk)
        except OSError:
            pass

    reqs = int(t["reqs"])
    win = t1 - t0
    if reqs <= 0 or win <= 0:
        raise g.Fail(f"empty timed window: reqs={reqs} window_s={win:.3f}")
    be, vcpu, other = (y - x for x, y in zip(c0, c1))
    print(f"e2e: PASS name={a.name} mb_s={t['mb_s']} iops={t['iops']} "
          f"p50_us={t['p50_us']} p99_us={t['p99_us']} "
          f"rd_p50_us={t['rd_p50_us']} rd_p99_us={t['rd_p99_us']} "
          f"wr_p50_us={t['wr_p50_us']} wr_p99_us={t['wr_p99_us']} "
          f"max_us={t['max_us']} reqs={reqs} guest_ms={t['ms']} "
          f"window_s={win:.2f} "
          f"be_cpu_us_per_req={be * 1e6 / reqs:.1f} "
          f"be_cpu_pct={100 * be / win:.1f} "
          f"qemu_cpu_us_per_req={(vcpu + other) * 1e6 / reqs:.1f} "
          f"qemu_vcpu_pct={100 * vcpu / win:.1f} "
          f"qemu_other_pct={100 * other / win:.1f} "
          f"irqs_per_req={irqs / max(run_reqs, 1):.3f} "
          f"boot_s={boot_s:.1f} wall_s={time.monotonic() - t_start:.1f}",
          flush=True)


if __name__ == "__main__":
    sys.exit(g.scenario_main(parse_args, run))
