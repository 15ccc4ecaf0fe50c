#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""iommu.py - issue 14 scenario 3: an IOMMU invalidation storm.

q35 with `intel-iommu,intremap=on,device-iotlb=on`; the vhost-user-blk-pci
disk behind a PCIe root port (ATS needs a PCI Express device, and a device
on the root bus is conventional PCI) with `iommu_platform=on,ats=on`; the
guest booted with `intel_iommu=on iommu.strict=1`, so every DMA unmap of
the virtio-blk driver is an IOTLB invalidation the front-end forwards to
the back-end as an IOTLB_MSG (and waits for its ack). The back-end
negotiates ACCESS_PLATFORM, resolves ring and buffer addresses as IOVAs
and asks QEMU for what it lacks with VHOST_IOTLB_MISS on the back-end
channel (BACKEND_REQ, "SLAVE_REQ" in QEMU 7.2, and REPLY_ACK are needed:
QEMU refuses an IOMMU device without them).

The guest runs the same data-verifying workload as smoke.py (guest_blkio)
and first proves the IOMMU is really in the DMA path: the disk's PCI
function has an IOMMU group whose domain type is "DMA" (strict; "DMA-FQ"
would be lazy, batched invalidations; "identity" would bypass the IOMMU).
The host then checks the verdict, the checksum and every block as
smoke.py does, and reads the back-end's stats at exit (gpc-vhost-blk
prints `key value` lines): IOTLB updates, invalidations and misses must
be non-zero, stale accesses 0; throughput and per-second rates are
printed on the result line.

--expect-refusal is the peer's cell: qemu-storage-daemon offers no
ACCESS_PLATFORM, so QEMU must refuse the device ("iommu_platform=true is
not supported by the device") and exit non-zero before the guest starts;
the run passes only if that exact refusal happens.

--trace adds QEMU's vhost_user_read/write and vhost_iotlb_miss trace
events to qemu-trace.log in the work directory (the message sequence,
for a back-end failure).

Exit status: 0 pass, 1 fail, 77 skip (a missing tool or kernel).
"""

import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpcqemu as g  # noqa: E402
from qmp import QMP, QMPError  # noqa: E402
from smoke import MODULES, VIRTIO_BLK_IDS, VIRTIO_VENDOR  # noqa: E402

REFUSAL = "iommu_platform=true is not supported by the device"

# The guest's proof that the IOMMU translates the disk's DMA, strictly.
IOMMU_CHECK = r"""
grp=$(readlink -f /sys/block/vda/device/../iommu_group)
[ -d "$grp" ] || fail no-iommu-group
echo "GPC-IOMMU: group=$(basename $grp) type=$(cat $grp/type) dev=$(basename $(readlink -f /sys/block/vda/device/..)) iommus=$(ls /sys/class/iommu | tr '\n' ,)"
dmesg | grep -i -E 'DMAR: (IOMMU enabled|Intel\(R\) Virtualization)|iommu: DMA domain TLB' | sed 's/^/GPC-DMESG: /'
"""


def parse_args():
    ap = g.scenario_args(__doc__, "iommu", disk_mib=8, timeout=150.0)
    ap.add_argument("--expect-refusal", action="store_true",
                    help="pass only if QEMU refuses iommu_platform=on for "
                         "this back-end (qemu-storage-daemon)")
    ap.add_argument("--loud", action="store_true",
                    help="the guest kernel without 'quiet' (its log on the "
                         "console)")
    ap.add_argument("--trace", action="store_true",
                    help="QEMU's vhost-user message trace to qemu-trace.log")
    return ap.parse_args()


def backend_stats(text):
    """gpc-vhost-blk's `key value` stats lines at exit -> {key: int}."""
    return {m.group(1): int(m.group(2)) for m in
            re.finditer(r"^((?:vhost|blk)_\w+) (\d+)$", text, re.M)}


def qmp_check(q):
    """The machine runs and the disk has iommu_platform and ats on; returns
    the QOM path of its virtio device. (query-pci cannot show it yet: the
    root port's secondary bus is numbered by the guest, later.)"""
    st = q.cmd("query-status")
    if st.get("status") != "running":
        raise g.Fail(f"query-status: {st}")
    for prop in ("iommu_platform", "ats"):
        if q.cmd("qom-get", path="/machine/peripheral/vblk0",
                 property=prop) is not True:
            raise g.Fail(f"vblk0: {prop} is not on")
    path = "/machine/peripheral/vblk0/virtio-backend"
    if path not in [d.get("path") for d in q.cmd("x-query-virtio")]:
        raise g.Fail(f"x-query-virtio: no {path}")
    return path


def qmp_negotiated(q, path):
    """After the guest's driver is bound: ACCESS_PLATFORM ("IOMMU_PLATFORM"
    in QEMU 7.2) must be in the features the guest acked, and the
    vhost-user protocol features QEMU negotiated with the back-end are
    returned for the log."""
    st = q.cmd("x-query-virtio-status", path=path)
    acked = " ".join(st.get("guest-features", {}).get("transports", []))
    if "VIRTIO_F_IOMMU_PLATFORM" not in acked:
        raise g.Fail(f"the guest did not ack ACCESS_PLATFORM: {acked}")
    pf = st.get("vhost-dev", {}).get("protocol-features", {})
    names = [f.split(":")[0].replace("VHOST_USER_PROTOCOL_F_", "")
             for f in pf.get("protocols", [])]
    return names


def qemu_extra(sock, trace_path):
    extra = [
        # The IOMMU first: devices created after it are behind it.
        "-device", "intel-iommu,intremap=on,device-iotlb=on",
        "-device", "pcie-root-port,id=rp0,bus=pcie.0,chassis=1,slot=1",
        "-chardev", f"socket,id=vub0,path={sock}",
        "-device", "vhost-user-blk-pci,id=vblk0,chardev=vub0,num-queues=1,"
                   "bus=rp0,"
                   "iommu_platform=on,ats=on",
    ]
    if trace_path:
        extra += ["-D", trace_path]
        for ev in ("vhost_user_read", "vhost_user_write", "vhost_iotlb_miss",
                   "vhost_dev_start", "vhost_dev_stop"):
            extra += ["-trace", ev]
    return extra


def run_refusal(a, qemu, backend):
    """The peer's cell: QEMU must refuse the device and exit."""
    try:
        backend.start()
        qemu.start()
        qrc = qemu.wait_exit(30)
    except g.Fail:
        raise g.Fail("QEMU accepted iommu_platform=on (still running after "
                     f"30 s); console:\n{qemu.console()}") from None
    finally:
        qemu.stop()
        backend.stop()
    err = qemu.stderr_text()
    if qrc == 0 or REFUSAL not in err:
        raise g.Fail(f"QEMU exit {qrc} without the refusal "
                     f"'{REFUSAL}':\n{err}")
    if "GPC-INIT" in qemu.console():
        raise g.Fail("the guest ran although QEMU reported the refusal")
    line = next(ln for ln in err.splitlines() if REFUSAL in ln)
    print(f"{a.name}: PASS (refused as expected) qemu_exit={qrc} "
          f"message=\"{line.strip()}\"", flush=True)


def run(a):
    t_start = time.monotonic()
    tools = g.require_tools(["qemu-system-x86_64", "cpio", "apt-cache",
                             "apt-get", "dpkg", "find"])
    busybox = g.find_static_busybox()
    g.require_tools([a.backend.split()[0]])
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
    trace = os.path.join(a.work, "qemu-trace.log") if a.trace else None
    if trace and os.path.exists(trace):
        os.unlink(trace)

    workload = (g.wait_block_device("/dev/vda") + "\n" + IOMMU_CHECK +
                f"/bin/gpc-guest-blkio --dev /dev/vda --seed {seed:x} "
                f"--streams {a.streams}")
    initrd = g.build_initramfs(os.path.join(a.work, "initramfs.cpio"),
                               busybox, mods,
                               {"/bin/gpc-guest-blkio": a.guest_bin},
                               workload)
    backend = g.Backend(a.backend, sock, disk,
                        os.path.join(a.work, "backend.log"))
    qemu = g.Qemu(tools["qemu-system-x86_64"], a.work, vmlinuz, initrd,
                  "console=ttyS0 panic=-1 intel_iommu=on iommu.strict=1"
                  + ("" if a.loud else " quiet"), mem_mib=a.mem_mib,
                  machine=",kernel-irqchip=split",
                  extra=qemu_extra(sock, trace))
    if a.expect_refusal:
        return run_refusal(a, qemu, backend)

    try:
        backend.start()
        qemu.start()
        with QMP.connect(qemu.qmp_path, timeout=10) as q:
            vpath = qmp_check(q)
            g.log(f"QMP: running, {vpath}: iommu_platform=on ats=on")
            deadline = time.monotonic() + a.timeout
            mi = qemu.wait_for(r"^GPC-IOMMU: .*$",
                               deadline - time.monotonic())
            g.log(mi.group(0))
            proto = qmp_negotiated(q, vpath)
        g.log("QMP: guest acked IOMMU_PLATFORM; vhost-user protocol "
              "features: " + ",".join(proto))
        for f in ("SLAVE_REQ", "REPLY_ACK"):
            if f not in proto:
                raise g.Fail(f"protocol feature {f} not negotiated")
        m = qemu.wait_for(r"^GPC-VERDICT: .*$", deadline - time.monotonic())
        t_verdict = time.monotonic() - qemu.t0
        qrc = qemu.wait_exit(30)
    except (g.Fail, QMPError) as e:
        qemu.stop()
        backend.stop()
        g.failure_dump(qemu, backend)
        raise g.Fail(str(e)) from None
    finally:
        qemu.stop()
        brc = backend.stop()

    console = qemu.console()
    for ln in console.splitlines():
        if ln.startswith("GPC-DMESG: "):
            g.log(ln)
    verdict, v = g.parse_verdict(m.group(0))
    g.log(m.group(0))
    st = backend_stats(backend.log_text())
    if qrc != 0:
        raise g.Fail(f"QEMU exit status {qrc}:\n{qemu.stderr_text()}")
    if brc not in (0, -15):
        raise g.Fail(f"back-end exit status {brc}:\n{backend.log_text()}")
    if verdict != "PASS":
        raise g.Fail(f"guest verdict {verdict}:\n{console}")
    itype = re.search(r"type=(\S+)", mi.group(0)).group(1)
    if itype != "DMA":
        raise g.Fail(f"the disk's IOMMU domain is '{itype}', not a strict "
                     "DMA domain (intel_iommu=on iommu.strict=1 ignored?)")
    crc, problems, nbad = g.check_disk(disk, seed, a.streams)
    for p in problems:
        g.log("host: " + p)
    if v.get("sum") != f"{crc:08x}":
        raise g.Fail(f"guest sum {v.get('sum')} != host crc32 {crc:08x}")
    if nbad:
        raise g.Fail(f"{nbad} bad blocks in the backing file")
    if re.search(r"I/O error|blk_update_request|Call Trace", console):
        raise g.Fail(f"kernel errors on the console:\n{console}")
    # Translations QEMU itself failed (it logs each; the guest sees a DMAR
    # fault). Reported, not failed: QEMU's own read of used->idx when the
    # vhost device stops after the driver tore the ring down is one.
    vtd = re.findall(r"vtd_iova_to_slpte: detected slpte permission error "
                     r"\(iova=(0x[0-9a-f]+)", qemu.stderr_text())
    need = ("vhost_iotlb_updates", "vhost_iotlb_invalidations",
            "vhost_iotlb_misses", "vhost_stale_accesses")
    missing = [k for k in need if k not in st]
    if missing:
        raise g.Fail(f"the back-end printed no {', '.join(missing)} "
                     f"at exit:\n{backend.log_text()}")
    if st["vhost_stale_accesses"]:
        raise g.Fail(f"{st['vhost_stale_accesses']} stale accesses")
    for k in need[:3]:
        if not st[k]:
            raise g.Fail(f"{k} is 0: the IOTLB was not exercised")
    ms = max(int(v.get("ms", "0")), 1)
    nio = int(v.get("writes", "0")) + int(v.get("reads", "0"))
    mbps = nio * g.BLK_SIZE / 1e6 / (ms / 1e3)

    def rate(k):
        return st[k] / (ms / 1e3)

    wall = time.monotonic() - t_start
    print(f"{a.name}: PASS seed={seed:x} writes={v.get('writes')} "
          f"reads={v.get('reads')} mismatches={v.get('mismatches')} "
          f"guest_io_ms={ms} guest_MBps={mbps:.2f} "
          f"requests={st.get('vhost_requests')} "
          f"iotlb_updates={st['vhost_iotlb_updates']} "
          f"iotlb_invalidations={st['vhost_iotlb_invalidations']} "
          f"iotlb_misses={st['vhost_iotlb_misses']} "
          f"updates_per_s={rate('vhost_iotlb_updates'):.0f} "
          f"invalidations_per_s={rate('vhost_iotlb_invalidations'):.0f} "
          f"misses_per_s={rate('vhost_iotlb_misses'):.0f} "
          f"messages={st.get('vhost_messages')} "
          f"refused={st.get('vhost_refused_messages')} "
          f"stale_accesses={st['vhost_stale_accesses']} "
          f"qemu_vtd_faults={len(vtd)}{'(' + ','.join(vtd) + ')' if vtd else ''} "
          f"verdict_s={t_verdict:.1f} wall_s={wall:.1f}", flush=True)


if __name__ == "__main__":
    sys.exit(g.scenario_main(parse_args, run))
