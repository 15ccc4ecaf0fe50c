# SPDX-License-Identifier: MIT
"""gpcqemu.py - the pieces of the QEMU tests (issue 13 part 4, issue 14).

A scenario script (smoke.py is scenario 1) puts these together:
  - require_tools(): the host programs, or Skip with the exact reason;
  - guest_kernel(): Debian's own kernel, fetched with `apt-get download` and
    unpacked with `dpkg -x` into a cache under the build folder (never
    installed on the host; a rebuild does not download again);
  - module_order(): the .ko files a set of modules needs, dependencies
    first, from each module's own "depends=" string;
  - build_initramfs(): busybox-static + modules + files + our /init, newc;
  - Backend: a vhost-user back-end started from a command template, so the
    same scenario runs on qemu-storage-daemon and on gpc-vhost-blk;
  - Qemu: q35 + TCG, guest RAM in a shared memfd, serial console to a log,
    QMP on a UNIX socket (qmp.py), every wait bounded;
  - check_disk(): the host's check of the backing file the guest wrote.

Every wait has a timeout; every process started is killed on the way out.
"""

import argparse
import ctypes
import fcntl
import os
import re
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib

SKIP = 77  # ctest SKIP_RETURN_CODE of the qemu tests

BLK_SIZE = 4096
BLK_MAGIC = 0x31304B4C42435047  # "GPCBLK01", see guest_blkio.c
GO_MAGIC = 0x2121214F47435047  # "GPCGO!!!"
M64 = (1 << 64) - 1


class Skip(Exception):
    """A prerequisite is missing; the message is the reason printed."""


class Fail(Exception):
    """The scenario failed; the message says how."""


def scenario_args(doc, name, disk_mib, timeout,
                  timeout_help="bound of boot + workload, seconds",
                  disk_help=None):
    """The argument parser every scenario script starts from: the back-end
    template, where the run, the kernel cache and the guest program are,
    the guest's disk, streams, RAM and seed, the bound of the run. The
    script adds its own options and parses."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[1])
    ap.add_argument("--backend", required=True,
                    help="back-end command template ({socket}, {file}, "
                         "{queues}, {writable}, {readonly}; gpcqemu.Backend)")
    ap.add_argument("--name", default=name, help="name of this run")
    ap.add_argument("--work", required=True, help="scratch directory")
    ap.add_argument("--cache", required=True,
                    help="guest kernel cache directory (shared by runs)")
    ap.add_argument("--guest-bin", required=True,
                    help="the statically linked guest_blkio")
    ap.add_argument("--disk-mib", type=int, default=disk_mib, help=disk_help)
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--mem-mib", type=int, default=256)
    ap.add_argument("--seed", type=lambda s: int(s, 0), default=None)
    ap.add_argument("--timeout", type=float, default=timeout,
                    help=timeout_help)
    return ap


def scenario_main(parse_args, run, name=lambda a: a.name):
    """The exit status of one scenario script: 0 pass, SKIP (77) with the
    reason printed, 1 with "FAIL: <name>: <how>"."""
    a = parse_args()
    try:
        run(a)
    except Skip as e:
        print(f"SKIP: {e}", flush=True)
        return SKIP
    except Fail as e:
        print(f"FAIL: {name(a)}: {e}", flush=True)
        return 1
    return 0


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---- host tools -------------------------------------------------------------


def _is_static_elf(path):
    """True if path is an ELF executable without a PT_INTERP segment
    (no dynamic loader: it runs in an initramfs without any library)."""
    with open(path, "rb") as f:
        hdr = f.read(64)
        if hdr[:4] != b"\x7fELF" or hdr[4] != 2:
            return False
        phoff, = struct.unpack_from("<Q", hdr, 32)
        phentsize, phnum = struct.unpack_from("<HH", hdr, 54)
        f.seek(phoff)
        ph = f.read(phentsize * phnum)
    for i in range(phnum):
        p_type, = struct.unpack_from("<I", ph, i * phentsize)
        if p_type == 3:  # PT_INTERP
            return False
    return True


def require_tools(names):
    """Resolve each program on PATH; Skip naming the Debian package of the
    first one missing."""
    packages = {
        "qemu-system-x86_64": "qemu-system-x86",
        "qemu-storage-daemon": "qemu-system-common",
        "cpio": "cpio",
        "apt-get": "apt",
        "dpkg": "dpkg",
    }
    found = {}
    for n in names:
        p = shutil.which(n) if os.sep not in n else (
            n if os.access(n, os.X_OK) else None)
        if not p:
            pkg = packages.get(n)
            hint = f" (Debian package {pkg}; tools/deps.sh installs it)" \
                if pkg else ""
            raise Skip(f"{n} not found{hint}")
        found[n] = p
    return found


def find_static_busybox():
    """Debian's busybox-static installs a static /bin/busybox (the plain
    busybox package a dynamic one, useless in our initramfs)."""
    for p in ("/bin/busybox", "/usr/bin/busybox"):
        if os.access(p, os.X_OK) and _is_static_elf(p):
            return p
    raise Skip("no statically linked busybox (Debian package busybox-static; "
               "tools/deps.sh installs it)")


# ---- the guest kernel -------------------------------------------------------


def _kernel_package():
    """The versioned image package linux-image-amd64 depends on, e.g.
    linux-image-6.1.0-57-amd64: one package, never a wildcard (which would
    fetch every version in the archive)."""
    try:
        out = subprocess.run(["apt-cache", "depends", "linux-image-amd64"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"apt-cache depends linux-image-amd64: {e}"
    m = re.search(r"Depends:\s*(linux-image-[0-9][^\s]*-amd64)\s*$",
                  out.stdout, re.M)
    if out.returncode or not m:
        return None, ("apt-cache depends linux-image-amd64 names no "
                      f"kernel image: {out.stderr.strip() or out.stdout.strip()}")
    return m.group(1), None


def _unpacked_kernel(root):
    """(version, vmlinuz, modules dir) of a tree unpacked by dpkg -x."""
    boot = os.path.join(root, "boot")
    if not os.path.isdir(boot):
        return None
    for f in sorted(os.listdir(boot)):
        if f.startswith("vmlinuz-"):
            ver = f[len("vmlinuz-"):]
            mod = os.path.join(root, "lib", "modules", ver)
            if os.path.isdir(mod):
                return ver, os.path.join(boot, f), mod
    return None


def guest_kernel(cache_dir, timeout=180):
    """Debian's kernel for the guest, unpacked in cache_dir/<package>/.

    Downloads once (apt-get download works as any user, it only needs a
    writable directory and the network); a second call, even from another
    test running in parallel (the cache is locked), finds the tree.
    Returns (version, vmlinuz path, modules dir); Skip if it cannot be had.
    """
    os.makedirs(cache_dir, exist_ok=True)
    with open(os.path.join(cache_dir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        pkg, why = _kernel_package()
        if pkg is None:
            # No apt metadata: any kernel fetched before still does.
            for d in sorted(os.listdir(cache_dir)):
                k = _unpacked_kernel(os.path.join(cache_dir, d))
                if k:
                    return k
            raise Skip(f"no guest kernel: {why}")
        tree = os.path.join(cache_dir, pkg)
        k = _unpacked_kernel(tree)
        if k:
            return k
        dl = os.path.join(cache_dir, "download")
        shutil.rmtree(dl, ignore_errors=True)
        os.makedirs(dl)
        log(f"downloading {pkg} (once, into {cache_dir})")
        try:
            r = subprocess.run(["apt-get", "download", pkg], cwd=dl,
                               capture_output=True, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Skip(f"apt-get download {pkg}: no answer in {timeout} s "
                       "(no network?)") from None
        debs = [f for f in os.listdir(dl) if f.endswith(".deb")]
        if r.returncode or len(debs) != 1:
            err = (r.stderr.strip().splitlines() or ["no .deb"])[-1]
            raise Skip(f"apt-get download {pkg} failed: {err}")
        tmp = tree + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        r = subprocess.run(["dpkg", "-x", os.path.join(dl, debs[0]), tmp],
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode:
            raise Fail(f"dpkg -x {debs[0]}: {r.stderr.strip()}")
        os.rename(tmp, tree)
        shutil.rmtree(dl, ignore_errors=True)
        k = _unpacked_kernel(tree)
        if not k:
            raise Fail(f"{pkg}: no boot/vmlinuz-* and lib/modules/* inside")
        return k


def _module_index(moddir):
    idx = {}
    for dirpath, _, files in os.walk(os.path.join(moddir, "kernel")):
        for f in files:
            if f.endswith(".ko"):
                idx[f[:-3].replace("-", "_")] = os.path.join(dirpath, f)
    return idx


def _module_depends(path):
    """The "depends=" string of the module's .modinfo section, read from the
    file (no modinfo needed on the host)."""
    with open(path, "rb") as f:
        data = f.read()
    m = re.search(rb"(?:^|\x00)depends=([^\x00]*)\x00", data)
    if not m:
        return []
    return [d.decode() for d in m.group(1).split(b",") if d]


def module_order(moddir, names):
    """.ko paths for names and everything they depend on, each after its
    dependencies (the order insmod needs). A name that is built into the
    kernel (no .ko, listed in modules.builtin) is left out."""
    idx = _module_index(moddir)
    builtin = set()
    try:
        with open(os.path.join(moddir, "modules.builtin")) as f:
            for line in f:
                builtin.add(os.path.basename(line.strip())[:-3]
                            .replace("-", "_"))
    except OSError:
        pass
    order, state = [], {}

    def visit(name):
        name = name.replace("-", "_")
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise Fail(f"module dependency cycle at {name}")
        if name not in idx:
            if name in builtin:
                state[name] = "done"
                return
            raise Fail(f"module {name} not found under {moddir}")
        state[name] = "visiting"
        for d in _module_depends(idx[name]):
            visit(d)
        state[name] = "done"
        order.append(idx[name])

    for n in names:
        visit(n)
    return order


# ---- the initramfs ----------------------------------------------------------

# The kernel starts /init with no open descriptor when the archive has no
# /dev/console node (making one needs root); devtmpfs provides it, then the
# script reopens its standard streams on it.
INIT_TEMPLATE = """#!/bin/busybox sh
/bin/busybox mount -t devtmpfs dev /dev
exec 0</dev/console 1>/dev/console 2>&1
export PATH=/bin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
echo "GPC-INIT: start uptime=$(cut -d' ' -f1 /proc/uptime)"
fail() {{
	echo "GPC-VERDICT: FAIL reason=$1"
	poweroff -f
}}
for m in {modules}; do
	insmod /lib/modules/$m.ko || fail insmod-$m
done
{workload}
echo "GPC-INIT: done rc=$? uptime=$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
"""


def wait_block_device(dev, tenths=100):
    """Shell snippet: wait for a block device node, or fail."""
    return (f"i=0; while [ ! -b {dev} ]; do i=$((i+1)); "
            f"[ $i -gt {tenths} ] && fail no-{os.path.basename(dev)}; "
            "sleep 0.1; done")


def build_initramfs(out, busybox, modules, files, workload):
    """Write a newc cpio archive to out: busybox as /bin/busybox, the .ko
    files (in load order) under /lib/modules/, files ({path in guest: host
    path}) and /init running the shell snippet workload."""
    stage = out + ".d"
    shutil.rmtree(stage, ignore_errors=True)
    for d in ("bin", "dev", "proc", "sys", "tmp", "lib/modules"):
        os.makedirs(os.path.join(stage, d))
    shutil.copy2(busybox, os.path.join(stage, "bin", "busybox"))
    names = []
    for ko in modules:
        name = os.path.basename(ko)[:-3]
        shutil.copy2(ko, os.path.join(stage, "lib", "modules", name + ".ko"))
        names.append(name)
    for dst, src in files.items():
        p = os.path.join(stage, dst.lstrip("/"))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        shutil.copy2(src, p)
    init = os.path.join(stage, "init")
    with open(init, "w") as f:
        f.write(INIT_TEMPLATE.format(modules=" ".join(names),
                                     workload=workload))
    os.chmod(init, 0o755)
    listing = subprocess.run(["find", "."], cwd=stage, capture_output=True,
                             check=True, timeout=60).stdout
    with open(out, "wb") as f:
        subprocess.run(["cpio", "--quiet", "-o", "-H", "newc"], cwd=stage,
                       input=listing, stdout=f, check=True, timeout=60)
    shutil.rmtree(stage)
    return out


# ---- processes --------------------------------------------------------------


_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    """preexec_fn of every child: SIGKILL when the harness dies (ctest's
    timeout kills the script; QEMU and the back-end must not outlive it)."""
    _libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def _stop(proc, grace=5.0):
    """SIGTERM, then SIGKILL after grace seconds; returns the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(grace)
    return proc.returncode


class Backend:
    """A vhost-user back-end from a command template: a shell-quoted string
    whose words may hold {socket}, {file}, {queues} and {readonly} (the
    literal flag "--readonly" or nothing, for gpc-vhost-blk) or
    {writable} ("on"/"off", for qemu-storage-daemon's export)."""

    def __init__(self, template, socket, file, log_path, queues=1,
                 readonly=False):
        subst = {"socket": socket, "file": file, "queues": str(queues),
                 "readonly": "--readonly" if readonly else "",
                 "writable": "off" if readonly else "on"}
        self.argv = [w.format(**subst) for w in shlex.split(template)]
        self.argv = [w for w in self.argv if w]
        self.socket = socket
        self.log_path = log_path
        self.proc = None

    def start(self, timeout=10.0):
        """Start it and wait until it listens on its socket."""
        try:
            os.unlink(self.socket)
        except FileNotFoundError:
            pass
        log("backend: " + shlex.join(self.argv))
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=self.logf,
                                     stderr=subprocess.STDOUT,
                                     preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.socket):
            if self.proc.poll() is not None:
                raise Fail(f"back-end exited with {self.proc.returncode} "
                           f"before listening; its log:\n{self.log_text()}")
            if time.monotonic() > deadline:
                raise Fail(f"back-end did not create {self.socket} in "
                           f"{timeout} s")
            time.sleep(0.02)

    def stop(self):
        if not self.proc:
            return None
        rc = _stop(self.proc)
        self.logf.close()
        return rc

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class Qemu:
    """qemu-system-x86_64, q35 + TCG, RAM in a shared memfd (a vhost-user
    back-end maps it), no default devices, serial console to a file, QMP on a
    UNIX socket, no reboot (a guest reboot or panic ends the run) unless
    no_reboot=False (scenario 7: the guest reboots, QEMU resets it).
    machine: more ",key=value" options of -M (e.g. ",kernel-irqchip=split"
    for an intel-iommu with interrupt remapping)."""

    def __init__(self, binary, work, kernel, initrd, append, mem_mib=256,
                 smp=1, extra=(), machine="", no_reboot=True):
        self.serial = os.path.join(work, "serial.log")
        self.qmp_path = os.path.join(work, "qmp.sock")
        self.stderr_path = os.path.join(work, "qemu.stderr")
        self.argv = [
            binary, "-nodefaults", "-no-user-config", "-accel", "tcg",
            "-M", "q35,memory-backend=mem" + machine,
            "-object", f"memory-backend-memfd,id=mem,size={mem_mib}M,share=on",
            "-m", f"{mem_mib}M", "-smp", str(smp),
            "-display", "none", "-serial", f"file:{self.serial}",
        ] + (["-no-reboot"] if no_reboot else []) + [
            "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
            "-kernel", kernel, "-initrd", initrd, "-append", append,
        ] + list(extra)
        self.proc = None

    def start(self):
        for p in (self.serial, self.qmp_path):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        log("qemu: " + shlex.join(self.argv))
        self.errf = open(self.stderr_path, "wb")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=self.errf,
                                     stderr=subprocess.STDOUT,
                                     preexec_fn=_die_with_parent)

    def console(self):
        try:
            with open(self.serial, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_for(self, pattern, timeout):
        """The first match of regex pattern on the whole lines of the serial
        console; Fail if QEMU exits or timeout seconds pass first. Whole
        lines: the console file may end in the middle of a line QEMU is
        still writing, and `^GPC-VERDICT: .*$` matched a verdict cut before
        its sum= (seen by e2e.py)."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            text = self.console()
            m = rx.search(text[:text.rfind("\n") + 1])
            if m:
                return m
            if self.proc.poll() is not None:
                # The last lines may have landed just before the exit.
                m = rx.search(self.console())
                if m:
                    return m
                raise Fail(f"QEMU exited ({self.proc.returncode}) before "
                           f"/{pattern}/ on the console")
            if time.monotonic() > deadline:
                raise Fail(f"no /{pattern}/ on the console in {timeout} s")
            time.sleep(0.05)

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Fail(f"QEMU still running {timeout} s after the "
                       "guest's verdict (no poweroff?)") from None

    def stop(self):
        if not self.proc:
            return None
        rc = _stop(self.proc)
        self.errf.close()
        return rc

    def stderr_text(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


# ---- what a failed run leaves to read ----------------------------------------


def thread_states(proc):
    """One line per thread of a live process: name, state, the kernel
    function it sleeps in (wchan) and the system call it is in. A stalled
    guest is told apart this way: QEMU's main thread in ppoll is idle; in
    recvmsg (vhost_user_read) it waits for a back-end's reply and delivers
    no interrupt meanwhile (TCG has no irqfd); a back-end whose threads all
    sleep in epoll_wait/io_uring_enter got no kick."""
    if proc is None or proc.poll() is not None:
        return "  (not running)\n"
    out = []
    tdir = f"/proc/{proc.pid}/task"
    try:
        tids = sorted(os.listdir(tdir), key=int)
    except OSError as e:
        return f"  ({tdir}: {e})\n"
    for tid in tids:
        def rd(name):
            try:
                with open(f"{tdir}/{tid}/{name}", errors="replace") as f:
                    return f.read().strip()
            except OSError:
                return "?"
        stat = rd("stat")
        state = stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else "?"
        sysno = rd("syscall").split(" ")[0]
        out.append(f"  {tid} {rd('comm')}: state {state}, wchan "
                   f"{rd('wchan') or '-'}, syscall {sysno}")
    return "\n".join(out) + "\n"


def failure_dump(qemu, backend):
    """Print what a failed run leaves: the guest's console, QEMU's and the
    back-end's output, and where each of their threads is (thread_states);
    called before they are stopped."""
    print(f"--- serial console ---\n{qemu.console()}"
          f"--- qemu ---\n{qemu.stderr_text()}"
          f"--- back-end ---\n{backend.log_text()}"
          f"--- qemu threads ---\n{thread_states(qemu.proc)}"
          f"--- back-end threads ---\n{thread_states(backend.proc)}",
          file=sys.stderr)


# ---- the guest's verdict and the host's check of the disk ------------------


def parse_verdict(line):
    """"GPC-VERDICT: PASS k=v ..." -> ("PASS", {k: v})."""
    words = line.split()
    fields = dict(w.split("=", 1) for w in words[2:] if "=" in w)
    return words[1], fields


def expected_gen(seed, lba):
    """guest_blkio.c's expected_gen(), bit for bit."""
    s = (seed ^ (lba * 0xD1342543DE82EF95)) & M64
    z = (s + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return 1 + ((z ^ (z >> 31)) & 1)


def check_disk(path, seed, streams):
    """Check the backing file as the guest left it: every data block (all
    but the last, the "go" block) has the magic, its own LBA, the seed, the
    generation expected_gen() gives, the writer stream lba % streams and a
    payload matching its CRC-32. Returns (crc32 of the whole file, list of
    problems, at most 20 of them spelled out)."""
    with open(path, "rb") as f:
        data = f.read()
    problems, nbad = [], 0
    nblocks = len(data) // BLK_SIZE
    for lba in range(nblocks - 1):
        b = data[lba * BLK_SIZE:(lba + 1) * BLK_SIZE]
        magic, blba, gen, bseed, pcrc, stream = struct.unpack_from(
            "<QQQQII", b)
        why = None
        if magic != BLK_MAGIC:
            why = f"magic {magic:#x}"
        elif blba != lba:
            why = f"tagged lba {blba}"
        elif bseed != seed:
            why = f"seed {bseed:#x}"
        elif gen != expected_gen(seed, lba):
            why = f"generation {gen}, expected {expected_gen(seed, lba)}"
        elif stream != lba % streams:
            why = f"stream {stream}"
        elif zlib.crc32(b[64:]) != pcrc:
            why = "payload does not match its CRC-32"
        if why:
            nbad += 1
            if len(problems) < 20:
                problems.append(f"block {lba}: {why}")
    if nbad > len(problems):
        problems.append(f"... {nbad} bad blocks in all")
    return zlib.crc32(data), problems, nbad


def corrupt_block(path, lba, offset=100):
    """Flip one payload byte of block lba in the backing file (the host's
    change the guest must notice) and sync it."""
    with open(path, "r+b") as f:
        f.seek(lba * BLK_SIZE + offset)
        b = f.read(1)
        f.seek(lba * BLK_SIZE + offset)
        f.write(bytes([b[0] ^ 0x5A]))
        f.flush()
        os.fsync(f.fileno())


def write_go(path):
    """Write the "go" block (the last one) that releases guest_blkio
    --pause."""
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.seek(size - BLK_SIZE)
        f.write(struct.pack("<Q", GO_MAGIC) + bytes(BLK_SIZE - 8))
        f.flush()
        os.fsync(f.fileno())
