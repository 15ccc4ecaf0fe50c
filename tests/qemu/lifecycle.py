#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""lifecycle.py - QEMU lifecycle scenarios (issue 14, scenarios 5, 6, 7).

The same Linux guest as smoke.py (Debian's kernel, busybox initramfs,
gpc-guest-blkio on a vhost-user-blk-pci disk) is put through what a device's
life brings besides plain I/O; --scenario picks one:

  reset    (5) the guest unbinds virtio_blk from its device while a writer
           runs and binds it again, --cycles times (default 20): the driver
           resets the device, QEMU stops the back-end's queues
           (GET_VRING_BASE), the new driver allocates new rings
           (SET_VRING_ADDR at new addresses) and the queues restart. After
           each rebind the guest checks that every block is whole and of the
           previous or the interrupted generation, rewrites the disk with
           that generation and checks it exactly.
  restart  (6) the host kills the back-end with SIGKILL during the guest's
           I/O, --kills times (3; each once QEMU has reconnected to the
           previous one) and starts it again on the same socket and file;
           QEMU's chardev has reconnect=1 and reconnects, and inflight tracking
           (GET/SET_INFLIGHT_FD, when the back-end offers INFLIGHT_SHMFD)
           lets the new back-end replay what was in flight. The guest must
           see no I/O error and no mismatch.
  reboot   (7) the guest writes the disk with one generation, records it in
           a state block, starts a writer of the next generation and reboots
           during its I/O (reboot -f, then sysrq-b), --reboots times; every
           boot first checks what the previous boot wrote (all blocks whole,
           of the recorded generation or of the interrupted one). The disk
           itself carries the state across reboots.

Every scenario ends with the full gpc-guest-blkio run of smoke.py, so the
host checks the same: verdict PASS, guest sum = CRC-32 of the backing file,
every block's header and payload, no I/O error on the console (except the
failed requests of the writer cut by an unbind, or by the device shutdown
of reboot -f), QEMU exit 0,
back-end exit 0 (with --check-stale, ours exits 3 on a stale access).

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
BLKIO = "/bin/gpc-guest-blkio"


def parse_args():
    ap = g.scenario_args(
        __doc__, None, disk_mib=None, timeout=None,
        timeout_help="bound of the whole guest run, seconds",
        disk_help="disk size (default 8; restart: 48, room for the kills "
                  "and reconnections)")
    ap.add_argument("--scenario", required=True,
                    choices=["reset", "restart", "reboot"])
    ap.add_argument("--cycles", type=int, default=20,
                    help="reset: unbind/bind cycles")
    ap.add_argument("--kills", type=int, default=3,
                    help="restart: back-end kills")
    ap.add_argument("--reboots", type=int, default=2,
                    help="reboot: guest reboots")
    ap.add_argument("--control", action="store_true",
                    help="reboot: the control that must be caught - the "
                         "host flips a byte of one block between the first "
                         "reboot and the second boot's check")
    return ap.parse_args()


# ---- the guest's scripts ----------------------------------------------------


def reset_script(a, seed):
    """Scenario 5, run by /init. The writer in the background is cut by the
    unbind (its requests fail once the disk is gone: --stop-on-error); the
    in-flight ones complete first (del_gendisk drains the queue before
    virtio_blk resets the device)."""
    io = f"{BLKIO} --dev /dev/vda --seed {seed:x} --streams {a.streams}"
    drv = "/sys/bus/virtio/drivers/virtio_blk"
    # Not "i": wait_block_device() counts with it.
    return f"""{g.wait_block_device("/dev/vda")}
{io} --mode write --gen 10 --tag GPC-STEP || fail first-write
vdev=$(basename $(readlink -f /sys/block/vda/device))
echo "GPC-RESET: device=$vdev"
cyc=1
while [ $cyc -le {a.cycles} ]; do
	gen=$((10 + cyc))
	{io} --mode write --gen $gen --passes 0 --stop-on-error --tag GPC-BG \\
		>/tmp/bg 2>&1 &
	bg=$!
	usleep $(( (RANDOM % 400 + 100) * 1000 ))
	echo $vdev > {drv}/unbind || fail unbind-$cyc
	wait $bg
	grep '^GPC-BG' /tmp/bg
	echo $vdev > {drv}/bind || fail bind-$cyc
	{g.wait_block_device("/dev/vda")}
	{io} --mode check --lo $((gen - 1)) --hi $gen --tag GPC-CHECK \\
		|| fail check-after-rebind-$cyc
	{io} --mode write --gen $gen --tag GPC-STEP || fail write-$cyc
	{io} --mode check --lo $gen --hi $gen --tag GPC-CHECK || fail check-$cyc
	echo "GPC-RESET: cycle=$cyc done uptime=$(cut -d' ' -f1 /proc/uptime)"
	cyc=$((cyc + 1))
done
{io} --phases
"""


def restart_script(a, seed):
    """Scenario 6: the plain full run; the host does the killing."""
    return (g.wait_block_device("/dev/vda") + "\n"
            f"{BLKIO} --dev /dev/vda --seed {seed:x} --streams {a.streams} "
            "--phases\n")


def reboot_script(a, seed):
    """Scenario 7. Boot k (1, 2, ...) reads the state block: 0 on the first
    boot, else the generation 2(k-1)-1 the previous boot wrote whole and
    synced before it started its writer of generation 2(k-1). It checks
    every block is of one of those two, then either writes generation 2k-1,
    records it, starts the writer of 2k and reboots during its I/O, or
    (after --reboots reboots) runs the final full run and powers off."""
    io = f"{BLKIO} --dev /dev/vda --seed {seed:x} --streams {a.streams}"
    return f"""{g.wait_block_device("/dev/vda")}
st=$({io} --mode state-get) || fail state-get
prev=${{st#GPC-STATE: gen=}}
k=$(( prev == 0 ? 1 : (prev + 1) / 2 + 1 ))
echo "GPC-BOOT: n=$k prev_gen=$prev"
{"[ $k -eq 2 ] && { " + io + " --mode wait-go || fail no-go; }"
 if a.control else ""}
if [ $prev -gt 0 ]; then
	{io} --mode check --lo $prev --hi $((prev + 1)) --tag GPC-CHECK \\
		|| fail check-boot-$k
fi
if [ $k -le {a.reboots} ]; then
	gen=$((2 * k - 1))
	{io} --mode write --gen $gen --tag GPC-STEP || fail write-boot-$k
	{io} --mode state-set --gen $gen || fail state-set-$k
	{io} --mode write --gen $((gen + 1)) --passes 0 --stop-on-error \\
		--tag GPC-BG &
	usleep $(( (RANDOM % 500 + 200) * 1000 ))
	if [ $((k % 2)) -eq 1 ]; then
		echo "GPC-BOOT: n=$k reboot -f"
		reboot -f
	else
		echo "GPC-BOOT: n=$k sysrq-b"
		echo b > /proc/sysrq-trigger
	fi
	sleep 30
	fail no-reboot-$k
fi
{io} --phases
"""


# ---- the host side ----------------------------------------------------------


def console_lines(console, tag):
    return [ln for ln in console.splitlines() if ln.startswith(tag)]


def _sessions(qemu):
    """From QEMU's trace of the messages it sends: (connections made, whether
    the queue was started on the last one) - GET_PROTOCOL_FEATURES (15)
    opens each session, SET_VRING_KICK (12) starts a queue."""
    reqs = re.findall(r"vhost_user_write req:(\d+) ", qemu.stderr_text())
    n = reqs.count("15")
    last = len(reqs) - 1 - reqs[::-1].index("15") if n else 0
    return n, "12" in reqs[last:]


def restart_backend(a, sock, disk, qemu, kills, deadline):
    """Scenario 6, host side. Starts the first back-end and returns
    (holder, runner): holder[0] is the back-end running now; runner(), once
    the guest's I/O has begun, `kills` times waits until QEMU has
    reconnected and restarted the queue on the current back-end, lets the
    guest run 0.3-1 s, SIGKILLs the back-end and starts a new one on the
    same socket and file (QEMU reconnects to it: reconnect=1). Returns the
    phases of the guest's run each kill hit."""
    holder = [g.Backend(a.backend, sock, disk,
                        os.path.join(a.work, "backend.0.log"))]
    holder[0].start()

    def runner():
        hit = []
        qemu.wait_for(r"^GPC-PHASE: write1$", deadline - time.monotonic())
        for n in range(1, kills + 1):
            while _sessions(qemu) != (n, True):
                if time.monotonic() > deadline:
                    raise g.Fail(f"QEMU did not reconnect to back-end "
                                 f"{n - 1} (sessions {_sessions(qemu)})")
                time.sleep(0.05)
            time.sleep(random.uniform(0.3, 1.0))
            phases = re.findall(r"^GPC-(PHASE: \w+|VERDICT)",
                                qemu.console(), re.M)
            if phases[-1] in ("VERDICT", "PHASE: sum"):
                raise g.Fail(f"the guest's I/O was over before kill {n}")
            old = holder[0]
            old.proc.kill()
            old.proc.wait(10)
            old.logf.close()
            t = time.monotonic()
            hit.append(phases[-1].split()[-1])
            g.log(f"restart: SIGKILL to back-end {n - 1} during {hit[-1]}")
            holder[0] = g.Backend(a.backend, sock, disk,
                                  os.path.join(a.work, f"backend.{n}.log"))
            holder[0].start()
            g.log(f"restart: back-end {n} listening after "
                  f"{time.monotonic() - t:.2f} s")
        return hit
    return holder, runner


def sample_rings(q, qemu, deadline):
    """Scenario 5: until the verdict, every 0.2 s, where the started queue's
    rings are (guest-physical desc/avail/used of the vhost queue, QMP
    x-query-virtio-vhost-queue-status): the set of placements seen, the
    evidence that each rebind gave the back-end new rings."""
    rings = set()
    path = "/machine/peripheral/vblk0/virtio-backend"
    while not re.search(r"^GPC-VERDICT", qemu.console(), re.M):
        if qemu.proc.poll() is not None or time.monotonic() > deadline:
            break  # the caller's wait_for says why
        try:
            st = q.cmd("x-query-virtio-vhost-queue-status", path=path,
                       queue=0)
            if st.get("desc-phys"):
                rings.add((st["desc-phys"], st["avail-phys"],
                           st["used-phys"]))
        except QMPError:
            pass  # the device is stopped between unbind and bind
        time.sleep(0.2)
    return rings


def corrupt_between_boots(a, qemu, disk, deadline):
    """--control: once the second boot has read its state and waits for the
    go block, flip a payload byte of a random data block (the first boot's
    writer is gone with its boot), then write the go block."""
    qemu.wait_for(r"^GPC-BOOT: n=2 prev_gen=1", deadline - time.monotonic())
    qemu.wait_for(r"^GPC-PHASE: written", deadline - time.monotonic())
    lba = random.randrange((a.disk_mib << 20) // g.BLK_SIZE - 1)
    g.corrupt_block(disk, lba)
    g.write_go(disk)
    g.log(f"control: host flipped a byte of block {lba}")
    return lba


def run(a):
    t_start = time.monotonic()
    name = a.name or f"lifecycle_{a.scenario}"
    tools = g.require_tools(["qemu-system-x86_64", "cpio", "apt-cache",
                             "apt-get", "dpkg", "find"])
    busybox = g.find_static_busybox()
    g.require_tools([a.backend.split()[0]])
    if not os.access(a.guest_bin, os.X_OK):
        raise g.Fail(f"{a.guest_bin}: not built")

    ver, vmlinuz, moddir = g.guest_kernel(a.cache)
    mods = g.module_order(moddir, MODULES)
    g.log(f"kernel {ver}; scenario {a.scenario}")

    if a.control and a.scenario != "reboot":
        raise g.Fail("--control is a reboot scenario's control")
    if a.disk_mib is None:
        a.disk_mib = 48 if a.scenario == "restart" else 8
    os.makedirs(a.work, exist_ok=True)
    seed = a.seed if a.seed is not None else random.getrandbits(63)
    random.seed(seed)
    disk = os.path.join(a.work, "disk.img")
    with open(disk, "wb") as f:
        f.truncate(a.disk_mib << 20)
    sock = os.path.join(a.work, "vhost.sock")
    script = {"reset": reset_script, "restart": restart_script,
              "reboot": reboot_script}[a.scenario](a, seed)
    initrd = g.build_initramfs(os.path.join(a.work, "initramfs.cpio"),
                               busybox, mods, {BLKIO: a.guest_bin}, script)
    timeout = a.timeout or {"reset": 60 + 15 * a.cycles, "restart": 120,
                            "reboot": 60 + 40 * a.reboots}[a.scenario]

    chardev = f"socket,id=vub0,path={sock}"
    trace = []
    if a.scenario == "restart":
        chardev += ",reconnect=1"
        # QEMU's own record of what it sent each back-end (on its stderr):
        # GET_INFLIGHT_FD (31) once, SET_INFLIGHT_FD (32) per connection
        # when the back-end offers INFLIGHT_SHMFD.
        trace = ["-trace", "enable=vhost_user_write", "-msg",
                 "timestamp=on"]
    qemu = g.Qemu(tools["qemu-system-x86_64"], a.work, vmlinuz, initrd,
                  "console=ttyS0 quiet panic=-1", mem_mib=a.mem_mib,
                  extra=["-chardev", chardev,
                         "-device", "vhost-user-blk-pci,chardev=vub0,id=vblk0"]
                  + trace,
                  no_reboot=(a.scenario != "reboot"))
    deadline = time.monotonic() + timeout
    if a.scenario == "restart":
        holder, runner = restart_backend(a, sock, disk, qemu, a.kills,
                                         deadline)
    else:
        holder = [g.Backend(a.backend, sock, disk,
                            os.path.join(a.work, "backend.0.log"))]
        holder[0].start()
        runner = None
    q = None
    rings = set()
    try:
        qemu.start()
        q = QMP.connect(qemu.qmp_path, timeout=10)
        st = q.cmd("query-status")
        if st.get("status") != "running":
            raise g.Fail(f"query-status: {st}")
        qemu.wait_for(r"^GPC-INIT: start", deadline - time.monotonic())
        hit = runner() if runner else []
        if a.control:
            control_lba = corrupt_between_boots(a, qemu, disk, deadline)
        if a.scenario == "reset":
            rings = sample_rings(q, qemu, deadline)
        m = qemu.wait_for(r"^GPC-VERDICT: .*$", deadline - time.monotonic())
        t_verdict = time.monotonic() - qemu.t0
        qrc = qemu.wait_exit(15)
    except (g.Fail, QMPError) as e:
        g.failure_dump(qemu, holder[0])
        raise g.Fail(str(e)) from None
    finally:
        if q:
            q.close()
        qemu.stop()
        brc = holder[0].stop()

    console = qemu.console()
    verdict, v = g.parse_verdict(m.group(0))
    g.log(m.group(0))
    if a.control:
        # Caught only if the second boot's check failed on exactly that
        # block: one mismatch, the guest naming it.
        checks = console_lines(console, "GPC-CHECK:")
        ok = (m.group(0).strip().endswith("reason=check-boot-2")
              and len(checks) == 1 and " mismatches=1 " in checks[0]
              and re.search(rf"^guest_blkio: lba {control_lba} gen \d+: "
                            "content differs", console, re.M))
        if not ok:
            raise g.Fail(f"the flipped block {control_lba} was not caught "
                         f"by the next boot's check:\n{console}")
        print(f"{a.name or 'lifecycle_reboot'}: PASS (block {control_lba} "
              "flipped between boots, caught by the next boot's check)",
              flush=True)
        return
    if verdict != "PASS":
        raise g.Fail(f"guest verdict {verdict}:\n{console}")
    if qrc != 0:
        raise g.Fail(f"QEMU exit status {qrc}:\n{qemu.stderr_text()}")
    if brc not in (0, -15):
        raise g.Fail(f"back-end exit status {brc} (3: a stale access):\n"
                     f"{holder[0].log_text()}")
    crc, problems, nbad = g.check_disk(disk, seed, a.streams)
    g.log(f"host: file crc32 {crc:08x} (guest sum {v.get('sum')}), "
          f"{nbad} bad blocks")
    for p in problems:
        g.log("host: " + p)
    if v.get("sum") != f"{crc:08x}":
        raise g.Fail(f"guest sum {v.get('sum')} != host crc32 {crc:08x}")
    if nbad:
        raise g.Fail(f"{nbad} bad blocks in the backing file")

    checks = console_lines(console, "GPC-CHECK:")
    bad_checks = [c for c in checks if not c.startswith("GPC-CHECK: PASS")]
    if bad_checks:
        raise g.Fail("guest checks failed: " + "; ".join(bad_checks))
    extra = ""
    if a.scenario == "reset":
        cycles = len(re.findall(r"^GPC-RESET: cycle=\d+ done", console,
                                re.M))
        bg = console_lines(console, "GPC-BG:")
        bg_writes = sum(int(g.parse_verdict(b)[1].get("writes", 0))
                        for b in bg)
        if cycles != a.cycles or len(checks) != 2 * a.cycles:
            raise g.Fail(f"{cycles} reset cycles, {len(checks)} checks; "
                         f"expected {a.cycles} and {2 * a.cycles}")
        # The cut writer's failed requests may log "I/O error"; nothing
        # else may: no oops, no hung task.
        if re.search(r"Call Trace|BUG:|hung_task|blocked for more",
                     console):
            raise g.Fail(f"kernel errors on the console:\n{console}")
        extra = (f" cycles={cycles} bg_writes_before_unbind={bg_writes}"
                 f" ring_placements={len(rings)}")
    else:
        # reboot -f shuts the devices down first (device_shutdown(); this
        # kernel breaks and resets a virtio device there): the writer's
        # requests still queued fail in the guest with "I/O error". That
        # window, from "reboot -f" to the next boot's init, is left out of
        # the check (counted); sysrq-b resets at once and has none.
        windows = re.findall(
            r"^GPC-BOOT: n=\d+ reboot -f\r?$.*?^GPC-INIT: start", console,
            re.M | re.S)
        shut_errs = sum(w.count("I/O error, dev vda") for w in windows)
        rest = console
        for w in windows:
            rest = rest.replace(w, "")
        if re.search(r"I/O error|blk_update_request", rest) or \
                re.search(r"Call Trace|BUG:", console):
            raise g.Fail(f"kernel errors on the console:\n{console}")
    if a.scenario == "restart":
        # gpc-vhost-blk logs "queue N: M requests resubmitted" when inflight
        # tracking replays; qemu-storage-daemon logs nothing about it.
        resub = 0
        for f in sorted(os.listdir(a.work)):
            if f.startswith("backend.") and f.endswith(".log"):
                with open(os.path.join(a.work, f), errors="replace") as fh:
                    resub += sum(int(n) for n in re.findall(
                        r"(\d+) requests resubmitted", fh.read()))
        msgs = re.findall(r"vhost_user_write req:(\d+)", qemu.stderr_text())
        extra = (f" kills={a.kills} in={','.join(hit)} "
                 f"sessions={_sessions(qemu)[0]} resubmitted={resub} "
                 f"get_inflight={msgs.count('31')} "
                 f"set_inflight={msgs.count('32')}")
    if a.scenario == "reboot":
        boots = len(re.findall(r"^GPC-INIT: start", console, re.M))
        if boots != a.reboots + 1 or len(checks) != a.reboots:
            raise g.Fail(f"{boots} boots, {len(checks)} checks; expected "
                         f"{a.reboots + 1} and {a.reboots}")
        extra = f" boots={boots} shutdown_ioerrors={shut_errs}"
    stats = {}
    for ln in holder[0].log_text().splitlines():
        w = ln.split()
        if len(w) == 2 and w[1].isdigit():
            stats[w[0]] = int(w[1])
    if stats.get("vhost_stale_accesses"):
        raise g.Fail(f"{stats['vhost_stale_accesses']} stale accesses")
    for k in ("vhost_requests", "vhost_stale_accesses", "blk_queue_starts"):
        if k in stats:
            extra += f" {k[k.index('_') + 1:]}={stats[k]}"
    wall = time.monotonic() - t_start
    print(f"{name}: PASS seed={seed:x} writes={v.get('writes')} "
          f"reads={v.get('reads')} mismatches={v.get('mismatches')}"
          f"{extra} verdict_s={t_verdict:.1f} wall_s={wall:.1f}",
          flush=True)


if __name__ == "__main__":
    sys.exit(g.scenario_main(parse_args, run,
                              lambda a: a.name or a.scenario))
