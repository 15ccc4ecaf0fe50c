#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""smoke.py - QEMU smoke test (issue 13 part 4; issue 14 scenario 1).

A Linux guest (Debian's kernel, busybox initramfs) under QEMU/TCG gets a
vhost-user-blk-pci disk served by the back-end given as --backend (a command
template, see gpcqemu.Backend). The guest's guest_blkio writes pseudo-random
tagged blocks with O_DIRECT from several threads, reads them back, compares,
checksums the disk and prints its verdict; the guest powers off. The test
passes when the verdict is PASS, its checksum equals the CRC-32 of the
backing file on the host, and every block of the file carries its LBA, the
expected generation and a payload that matches its CRC.

--corrupt proves the checks can fail: the guest pauses after its writes, the
host flips one byte of one block in the backing file, and the run passes
only if the guest reports exactly one mismatch and the host check finds
exactly that block.

Exit status: 0 pass, 1 fail, 77 skip (a missing tool or kernel; the reason
is printed).
"""

import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpcqemu as g  # noqa: E402
from qmp import QMP, QMPError  # noqa: E402

MODULES = ["virtio_pci", "virtio_blk"]
# virtio-blk's PCI ids: 1001 transitional (what a device on q35's root bus
# is by default), 1042 modern only (disable-legacy=on, or behind a port).
VIRTIO_VENDOR, VIRTIO_BLK_IDS = 0x1AF4, (0x1001, 0x1042)


def parse_args():
    ap = g.scenario_args(__doc__, "smoke", disk_mib=8, timeout=180.0)
    ap.add_argument("--queues", type=int, default=1)
    ap.add_argument("--smp", type=int, default=1)
    ap.add_argument("--corrupt", action="store_true",
                    help="flip a byte on the host mid-run; pass only if "
                         "both the guest and the host check notice")
    return ap.parse_args()


def qmp_smoke(q):
    """The machine runs and has our disk: query-status, query-pci."""
    st = q.cmd("query-status")
    if st.get("status") != "running":
        raise g.Fail(f"query-status: {st}")
    for bus in q.cmd("query-pci"):
        for dev in bus.get("devices", []):
            ident = dev.get("id", {})
            if ident.get("vendor") == VIRTIO_VENDOR and \
                    ident.get("device") in VIRTIO_BLK_IDS:
                return f"{bus['bus']:02x}:{dev['slot']:02x}.{dev['function']}"
    raise g.Fail("query-pci: no virtio-blk (1af4:1001 or 1042) device")


def run(a):
    t_start = time.monotonic()
    tools = g.require_tools(["qemu-system-x86_64", "cpio", "apt-cache",
                             "apt-get", "dpkg", "find"])
    busybox = g.find_static_busybox()
    backend_exe = a.backend.split()[0]
    g.require_tools([backend_exe])
    if not os.access(a.guest_bin, os.X_OK):
        raise g.Fail(f"{a.guest_bin}: not built")

    ver, vmlinuz, moddir = g.guest_kernel(a.cache)
    mods = g.module_order(moddir, MODULES)
    g.log(f"kernel {ver}; modules: "
          + " ".join(os.path.basename(m)[:-3] for m in mods))

    os.makedirs(a.work, exist_ok=True)
    seed = a.seed if a.seed is not None else random.getrandbits(63)
    disk = os.path.join(a.work, "disk.img")
    with open(disk, "wb") as f:
        f.truncate(a.disk_mib << 20)
    sock = os.path.join(a.work, "vhost.sock")

    workload = (g.wait_block_device("/dev/vda") + "\n"
                f"/bin/gpc-guest-blkio --dev /dev/vda --seed {seed:x} "
                f"--streams {a.streams}" + (" --pause" if a.corrupt else ""))
    initrd = g.build_initramfs(os.path.join(a.work, "initramfs.cpio"),
                               busybox, mods,
                               {"/bin/gpc-guest-blkio": a.guest_bin},
                               workload)

    backend = g.Backend(a.backend, sock, disk,
                        os.path.join(a.work, "backend.log"),
                        queues=a.queues)
    qemu = g.Qemu(tools["qemu-system-x86_64"], a.work, vmlinuz, initrd,
                  "console=ttyS0 quiet panic=-1", mem_mib=a.mem_mib,
                  smp=a.smp,
                  extra=["-chardev", f"socket,id=vub0,path={sock}",
                         "-device", "vhost-user-blk-pci,chardev=vub0,"
                         f"num-queues={a.queues}"])
    corrupted_lba = None
    try:
        backend.start()
        qemu.start()
        with QMP.connect(qemu.qmp_path, timeout=10) as q:
            where = qmp_smoke(q)
        g.log(f"QMP: running, vhost-user-blk-pci at {where}")
        deadline = time.monotonic() + a.timeout
        qemu.wait_for(r"^GPC-INIT: start", deadline - time.monotonic())
        t_init = time.monotonic() - qemu.t0
        if a.corrupt:
            qemu.wait_for(r"^GPC-PHASE: written",
                          deadline - time.monotonic())
            nblocks = (a.disk_mib << 20) // g.BLK_SIZE
            corrupted_lba = random.randrange(nblocks - 1)
            g.corrupt_block(disk, corrupted_lba)
            g.write_go(disk)
            g.log(f"host flipped a byte of block {corrupted_lba}")
        m = qemu.wait_for(r"^GPC-VERDICT: .*$", deadline - time.monotonic())
        t_verdict = time.monotonic() - qemu.t0
        qrc = qemu.wait_exit(15)
    except (g.Fail, QMPError) as e:
        g.failure_dump(qemu, backend)
        raise g.Fail(str(e)) from None
    finally:
        qemu.stop()
        brc = backend.stop()

    console = qemu.console()
    verdict, v = g.parse_verdict(m.group(0))
    g.log(m.group(0))
    if qrc != 0:
        raise g.Fail(f"QEMU exit status {qrc}:\n{qemu.stderr_text()}")
    # qemu-storage-daemon ends on SIGTERM with status 0; a crash is not.
    if brc not in (0, -15):
        raise g.Fail(f"back-end exit status {brc}:\n{backend.log_text()}")
    crc, problems, nbad = g.check_disk(disk, seed, a.streams)
    sum_ok = v.get("sum") == f"{crc:08x}"
    g.log(f"host: file crc32 {crc:08x} (guest sum {v.get('sum')}), "
          f"{nbad} bad blocks")
    for p in problems:
        g.log("host: " + p)

    if a.corrupt:
        want = f"block {corrupted_lba}: payload does not match its CRC-32"
        ok = (verdict == "FAIL" and v.get("mismatches") == "1"
              and v.get("errors") == "0" and sum_ok
              and nbad == 1 and problems == [want])
        if not ok:
            raise g.Fail("the corrupted block was not caught by both "
                         f"checks (verdict {verdict}, mismatches "
                         f"{v.get('mismatches')}, host {problems})")
        result = "PASS (corruption caught by the guest and the host)"
    else:
        if verdict != "PASS":
            raise g.Fail(f"guest verdict {verdict}:\n{console}")
        if not sum_ok:
            raise g.Fail(f"guest sum {v.get('sum')} != host crc32 "
                         f"{crc:08x}")
        if nbad:
            raise g.Fail(f"{nbad} bad blocks in the backing file")
        if re.search(r"I/O error|blk_update_request|Call Trace", console):
            raise g.Fail(f"kernel errors on the console:\n{console}")
        result = "PASS"
    wall = time.monotonic() - t_start
    print(f"{a.name}: {result} seed={seed:x} writes={v.get('writes')} "
          f"reads={v.get('reads')} mismatches={v.get('mismatches')} "
          f"guest_io_ms={v.get('ms')} init_s={t_init:.1f} "
          f"verdict_s={t_verdict:.1f} wall_s={wall:.1f}", flush=True)


if __name__ == "__main__":
    sys.exit(g.scenario_main(parse_args, run))
