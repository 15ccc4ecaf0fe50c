#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""hotplug.py - QEMU memory hot-plug churn (issue 14 scenarios 2 and 4).

A Linux guest under QEMU/TCG (as smoke.py) with guest RAM in a shared memfd,
memory slots (-m ...,slots=,maxmem=) and the kernel's
memhp_default_state=online_movable runs guest_blkio --churn on the
vhost-user-blk disk: its streams write and read back their blocks round after
round, with buffers in fresh pages. Meanwhile the harness runs --cycles
hot-plug cycles over QMP:

  object-add memory-backend-memfd (share=on) + device_add pc-dimm
    -> the front-end hands the new region to the back-end (ADD_MEM_REG, or
       a whole new SET_MEM_TABLE) before device_add returns;
  wait until the guest sees the DIMM online ("GPC-HP: online cycle=k") and
    until requests whose buffers were in it completed ("GPC-HP: used");
  device_del -> the guest migrates its pages out, offlines and ejects the
    DIMM, DEVICE_DELETED (the back-end got REM_MEM_REG or a table without
    it) -> object-del.

Then the host writes the "go" block; the guest rewrites every block with its
final generation, reads everything back, compares, checksums and prints its
verdict, which must be PASS with hp_reqs > 0 and every cycle used. The host
checks the backing file as smoke.py does. A pc-dimm is mapped above 4 GiB
(the device memory area starts after the RAM above 4 GiB; with <= 2 GiB of
RAM all of it is below), so --hp-base is 4 GiB and QMP's
query-memory-devices must agree.

Scenario 4 is the same with --smp 2 --queues 2 --pin: the guest's streams
are bound to both CPUs, so blk-mq sends requests on both virtqueues; each
queue's interrupt count (guest) and, for gpc-vhost-blk, each queue's request
count (its exit stats) must be non-zero.

gpc-vhost-blk's exit stats ("key value" lines, on its stdout, kept in
backend.log) are checked when present: stale_accesses 0, mem_adds and
mem_removes at least --cycles.

--no-mem-slots runs the SET_MEM_TABLE form: QEMU talks to the back-end
through vhost_proxy.Relay, which clears CONFIGURE_MEM_SLOTS in the
back-end's protocol features (no QEMU property or back-end option does it),
so every plug and unplug sends a whole new table; the relay's message counts
must show SET_MEM_TABLE per change and no ADD/REM_MEM_REG.

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
import vhost_proxy  # noqa: E402

MODULES = ["virtio_pci", "virtio_blk"]
HP_BASE = 4 << 30


def parse_args():
    ap = g.scenario_args(__doc__, "hotplug", disk_mib=4, timeout=200.0,
                         timeout_help="bound of the whole run in QEMU, seconds")
    ap.add_argument("--cycles", type=int, default=3,
                    help="hot-plug cycles (add, use, remove)")
    ap.add_argument("--dimm-mib", type=int, default=128)
    ap.add_argument("--queues", type=int, default=1)
    ap.add_argument("--smp", type=int, default=1)
    ap.add_argument("--pin", action="store_true",
                    help="bind the guest's streams to CPUs (multi-queue)")
    ap.add_argument("--control", action="store_true",
                    help="the control: the guest keeps buffers taken "
                         "before any DIMM; pass only if no request counts "
                         "as hot-plugged and the host says so")
    ap.add_argument("--no-mem-slots", action="store_true",
                    help="SET_MEM_TABLE form: withhold CONFIGURE_MEM_SLOTS "
                         "through a relay")
    ap.add_argument("--step-timeout", type=float, default=30.0,
                    help="bound of each wait of a cycle, seconds")
    return ap.parse_args()


def backend_stats(text):
    """gpc-vhost-blk's exit stats: {key: int} of its "key value" lines."""
    stats = {}
    for m in re.finditer(r"^([a-z][a-z0-9_]*) (\d+)$", text, re.M):
        stats[m.group(1)] = int(m.group(2))
    return stats


def dimm_addr(q, dev_id):
    """Guest-physical base of pc-dimm dev_id, from query-memory-devices."""
    for d in q.cmd("query-memory-devices"):
        data = d.get("data", {})
        if data.get("id") == dev_id:
            return data.get("addr"), data.get("size")
    raise g.Fail(f"query-memory-devices: no {dev_id}")


def cycle(q, qemu, k, a, deadline):
    """One hot-plug cycle; returns (requests the guest did with buffers in
    the DIMM, seconds the cycle took, seconds device_del -> DEVICE_DELETED).
    """
    def left():
        return max(0.1, min(a.step_timeout, deadline - time.monotonic()))

    t0 = time.monotonic()
    mem, dimm = f"hpmem{k}", f"hpdimm{k}"
    q.cmd("object-add", **{"qom-type": "memory-backend-memfd", "id": mem,
                           "size": a.dimm_mib << 20, "share": True})
    # Returns after the vhost memory listener committed: the back-end has
    # mapped the region (QEMU waits for its reply).
    q.cmd("device_add", driver="pc-dimm", id=dimm, memdev=mem,
          timeout=left())
    addr, size = dimm_addr(q, dimm)
    if addr is None or addr < HP_BASE:
        raise g.Fail(f"{dimm} at {addr}: below --hp-base {HP_BASE:#x}")
    qemu.wait_for(rf"^GPC-HP: online cycle={k} ", left())
    m = qemu.wait_for(rf"^GPC-HP: used cycle={k} reqs=(\d+)", left())
    used = int(m.group(1))
    if used == 0:
        raise g.Fail(f"cycle {k}: no request had its buffers in {dimm} "
                     f"({addr:#x}+{size:#x})")
    t_del = time.monotonic()
    q.cmd("device_del", id=dimm)
    q.wait_event("DEVICE_DELETED", timeout=left(),
                 match=lambda e: e["data"].get("device") == dimm)
    t_deleted = time.monotonic() - t_del
    q.cmd("object-del", id=mem)
    m = qemu.wait_for(rf"^GPC-HP: offline cycle={k} reqs=(\d+)", left())
    g.log(f"cycle {k}: {dimm} at {addr:#x}+{size >> 20} MiB, "
          f"{m.group(1)} requests with buffers in it, "
          f"device_del -> DEVICE_DELETED {t_deleted:.2f} s")
    return int(m.group(1)), time.monotonic() - t0, t_deleted


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
    g.log(f"kernel {ver}")

    os.makedirs(a.work, exist_ok=True)
    seed = a.seed if a.seed is not None else random.getrandbits(63)
    disk = os.path.join(a.work, "disk.img")
    with open(disk, "wb") as f:
        f.truncate(a.disk_mib << 20)
    sock = os.path.join(a.work, "vhost.sock")
    fe_sock = os.path.join(a.work, "relay.sock") if a.no_mem_slots else sock

    workload = (g.wait_block_device("/dev/vda") + "\n"
                f"/bin/gpc-guest-blkio --dev /dev/vda --seed {seed:x} "
                f"--streams {a.streams} --churn --hp-base {HP_BASE:x}"
                + (" --pin" if a.pin else "")
                + (" --keep-buffers" if a.control else ""))
    initrd = g.build_initramfs(os.path.join(a.work, "initramfs.cpio"),
                               busybox, mods,
                               {"/bin/gpc-guest-blkio": a.guest_bin},
                               workload)
    backend = g.Backend(a.backend, sock, disk,
                        os.path.join(a.work, "backend.log"),
                        queues=a.queues)
    maxmem = a.mem_mib + (a.dimm_mib << 1)
    qemu = g.Qemu(tools["qemu-system-x86_64"], a.work, vmlinuz, initrd,
                  "console=ttyS0 quiet panic=-1 "
                  "memhp_default_state=online_movable",
                  mem_mib=a.mem_mib, smp=a.smp,
                  # QEMU merges a second -m into the first (its options
                  # list merges): the slots and the limit of hot-plug.
                  extra=["-m", f"slots=2,maxmem={maxmem}M",
                         "-chardev", f"socket,id=vub0,path={fe_sock}",
                         "-device", "vhost-user-blk-pci,chardev=vub0,"
                         f"num-queues={a.queues}"])
    used, times, del_times = [], [], []
    cycle_fail = None
    relay = None
    try:
        backend.start()
        if a.no_mem_slots:
            relay = vhost_proxy.Relay(fe_sock, sock)
        qemu.start()
        deadline = time.monotonic() + a.timeout
        with QMP.connect(qemu.qmp_path, timeout=10) as q:
            qemu.wait_for(r"^GPC-PHASE: churn", deadline - time.monotonic())
            t_churn = time.monotonic()
            for k in range(1, a.cycles + 1):
                try:
                    u, t, td = cycle(q, qemu, k, a, deadline)
                except g.Fail as e:
                    if not a.control or "no request had its buffers" \
                            not in str(e):
                        raise
                    # The control: the check fired; end the run normally
                    # (the DIMM stays plugged) to see the rest hold.
                    cycle_fail = str(e)
                    break
                used.append(u)
                times.append(t)
                del_times.append(td)
            churn_s = time.monotonic() - t_churn
        g.write_go(disk)
        m = qemu.wait_for(r"^GPC-VERDICT: .*$", deadline - time.monotonic())
        qrc = qemu.wait_exit(15)
    except (g.Fail, QMPError) as e:
        g.failure_dump(qemu, backend)
        raise g.Fail(str(e)) from None
    finally:
        qemu.stop()
        brc = backend.stop()
        if relay:
            relay.close()

    console = qemu.console()
    verdict, v = g.parse_verdict(m.group(0))
    g.log(m.group(0))
    irq = re.search(r"^GPC-IRQ:(.*)$", console, re.M)
    irqs = dict(w.split("=", 1) for w in irq.group(1).split()) if irq else {}
    g.log(f"guest queue interrupts: {irqs}")
    if qrc != 0:
        raise g.Fail(f"QEMU exit status {qrc}:\n{qemu.stderr_text()}")
    # Ours exits 0 on SIGTERM (3 if --check-stale counted a stale access);
    # qemu-storage-daemon ends on SIGTERM with 0.
    if brc not in (0, -15):
        raise g.Fail(f"back-end exit status {brc}:\n{backend.log_text()}")
    if verdict != "PASS":
        raise g.Fail(f"guest verdict {verdict}:\n{console}")
    crc, problems, nbad = g.check_disk(disk, seed, a.streams)
    for p in problems:
        g.log("host: " + p)
    if v.get("sum") != f"{crc:08x}":
        raise g.Fail(f"guest sum {v.get('sum')} != host crc32 {crc:08x}")
    if nbad:
        raise g.Fail(f"{nbad} bad blocks in the backing file")
    if re.search(r"I/O error|blk_update_request|Call Trace", console):
        raise g.Fail(f"kernel errors on the console:\n{console}")
    hp_reqs = int(v.get("hp_reqs", 0))
    if a.control:
        if cycle_fail and hp_reqs == 0:
            print(f"{a.name}: PASS (control: {cycle_fail})", flush=True)
            return
        raise g.Fail(f"control: the check did not fire (hp_reqs {hp_reqs}, "
                     f"per cycle {used})")
    if hp_reqs == 0 or min(used) == 0:
        raise g.Fail(f"requests with buffers in hot-plugged memory: "
                     f"{hp_reqs} in all, per cycle {used}")
    if a.queues > 1:
        per_q = [int(irqs.get(f"virtio0-req.{i}", irqs.get(
            f"virtio1-req.{i}", 0))) for i in range(a.queues)]
        if min(per_q) == 0:
            raise g.Fail(f"a virtqueue got no interrupt: {irqs}")

    extra = ""
    if relay:
        c = relay.counts
        tables = c.get(vhost_proxy.SET_MEM_TABLE, 0)
        regs = c.get(vhost_proxy.ADD_MEM_REG, 0) + \
            c.get(vhost_proxy.REM_MEM_REG, 0)
        g.log(f"relay: messages by request {dict(sorted(c.items()))}"
              + (f", {relay.error}" if relay.error else ""))
        if tables < 1 + 2 * a.cycles or regs:
            raise g.Fail(f"SET_MEM_TABLE form: {tables} SET_MEM_TABLE, "
                         f"{regs} ADD/REM_MEM_REG for {a.cycles} cycles")
        extra += f" form=set_mem_table set_mem_tables={tables}"
    st = backend_stats(backend.log_text())
    if st:
        # gpc-vhost-blk: 0 after SIGTERM; 3 if --check-stale counted a late
        # access to removed memory; -15 would mean it did not handle it.
        if brc != 0:
            raise g.Fail(f"gpc-vhost-blk exit status {brc}")
        stale = st.get("vhost_stale_accesses")
        if stale:
            raise g.Fail(f"back-end counted {stale} stale accesses")
        # In the SET_MEM_TABLE form too: the back-end diffs the tables.
        if st.get("vhost_mem_adds", 0) < a.cycles or \
                st.get("vhost_mem_removes", 0) < a.cycles:
            raise g.Fail(f"back-end saw {st.get('vhost_mem_adds')} region "
                         f"adds, {st.get('vhost_mem_removes')} removes for "
                         f"{a.cycles} cycles")
        per_q = [st.get(f"blk_q{i}_requests", 0) for i in range(a.queues)]
        if a.queues > 1 and min(per_q) == 0:
            raise g.Fail(f"a queue served no request: {per_q}")
        extra += (f" backend_requests={st.get('blk_requests')}"
                 f" mem_adds={st.get('vhost_mem_adds')}"
                 f" mem_removes={st.get('vhost_mem_removes')}"
                 f" removal_wait_us_max="
                 f"{st.get('vhost_removal_wait_ns_max', 0) // 1000}"
                 f" stale_accesses={stale}")
        if a.queues > 1:
            extra += " queue_requests=" + ",".join(map(str, per_q))
    wall = time.monotonic() - t_start
    print(f"{a.name}: PASS seed={seed:x} cycles={a.cycles} "
          f"hp_reqs={hp_reqs} hp_reqs_per_cycle={','.join(map(str, used))} "
          f"churn_reqs={v.get('churn_reqs')} writes={v.get('writes')} "
          f"reads={v.get('reads')} mismatches={v.get('mismatches')} "
          f"cycle_s_max={max(times):.1f} del_s_max={max(del_times):.2f} "
          f"churn_s={churn_s:.1f} wall_s={wall:.1f}{extra}", flush=True)
    print_report(a, st, v, used, crc, churn_s, wall,
                 relay.counts if relay else None)


def print_report(a, st, v, used, crc, churn_s, wall, relay_counts):
    """A compact block for a human (make run's part 2), after the one-line
    PASS that scripts parse; every figure is one already checked above."""
    be = os.path.basename(a.backend.split()[0])
    if st:
        reqs = (f"{st.get('blk_requests')} served by {be}, "
                f"{v.get('hp_reqs')} of them with buffers in hot-plugged "
                f"DIMMs (per cycle {', '.join(map(str, used))})")
    else:
        reqs = (f"{v.get('hp_reqs')} with buffers in hot-plugged DIMMs "
                f"(per cycle {', '.join(map(str, used))}; {be} gives no "
                "request count)")
    if relay_counts is not None:
        form = "SET_MEM_TABLE (through a relay)"
    else:
        form = "ADD_MEM_REG/REM_MEM_REG"
    if st:
        form += (f"; back-end region adds {st.get('vhost_mem_adds')}, "
                 f"removes {st.get('vhost_mem_removes')}")
    if st and "--check-stale" in a.backend:
        stale = (f"{st.get('vhost_stale_accesses')} (removed memory kept "
                 "PROT_NONE, --check-stale)")
    elif st:
        stale = f"{st.get('vhost_stale_accesses')} (not checked: no --check-stale)"
    else:
        stale = f"not counted ({be} gives no stats)"
    print(f"report {a.name}\n"
          f"  requests         {reqs}\n"
          f"  guest I/O        {v.get('writes')} writes, {v.get('reads')} "
          f"reads, {v.get('churn_reqs')} during the churn, "
          f"{v.get('streams', a.streams)} streams\n"
          f"  hot-plug cycles  {a.cycles} x {a.dimm_mib} MiB pc-dimm "
          f"add/use/remove, {form}\n"
          f"  stale accesses   {stale}\n"
          f"  data check       guest: {v.get('mismatches')} mismatches; "
          f"host: backing file crc32 {crc:08x} = guest's, 0 bad blocks\n"
          f"  time             {churn_s:.1f} s of churn, {wall:.1f} s in all\n"
          f"  result           PASS", flush=True)


if __name__ == "__main__":
    sys.exit(g.scenario_main(parse_args, run))
