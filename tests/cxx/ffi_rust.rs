// SPDX-License-Identifier: MIT
//
// tests/cxx/ffi_rust.rs - libgpc from Rust through bindgen (ffi_bindgen.sh
// generates bindings.rs next to a copy of this file): a vm on both schemes,
// a host-usage cache written through the exported out-of-line fast path
// (gpc_cache_begin_ool/end_ool), the SRCU read side out of line, and a
// guest-usage cache's pointer. Exits non-zero (a panic) on any mismatch.
#![allow(non_camel_case_types, non_upper_case_globals, non_snake_case)]
#![allow(dead_code, deref_nullptr, improper_ctypes)]

mod gpc {
    include!("bindings.rs");
}

use std::mem::zeroed;
use std::os::raw::c_void;
use std::ptr::null_mut;

const GPA: u64 = 0x100000;
const LEN: usize = 8192;

unsafe fn run(scheme: gpc::gpc_scheme) {
    let mut hm: *mut gpc::gpc_hostmem = null_mut();
    assert_eq!(gpc::gpc_hostmem_create(&mut hm), 0);
    let mut cfg: gpc::gpc_vm_config = zeroed();
    cfg.scheme = scheme;
    cfg.hostmem = &gpc::gpc_hostmem_direct_ops;
    cfg.hostmem_ctx = hm as *mut c_void;
    let mut vm: *mut gpc::gpc_vm = null_mut();
    assert_eq!(gpc::gpc_vm_create(&cfg, &mut vm), 0);
    let mut ram: *mut c_void = null_mut();
    assert_eq!(gpc::gpc_hostmem_alloc(hm, LEN as _, &mut ram), 0);
    std::ptr::write_bytes(ram as *mut u8, 0, LEN);
    assert_eq!(
        gpc::gpc_memslot_create(vm, 0, GPA, LEN as u64, ram as u64, 0),
        0
    );

    // The cache lives in Rust memory of the size bindgen computed; it is
    // not moved between init and destroy.
    let mut c: gpc::gpc_cache = zeroed();
    assert_eq!(
        gpc::gpc_cache_init(&mut c, vm, gpc::gpc_usage_GPC_USAGE_HOST, null_mut(), 0),
        0
    );
    assert_eq!(gpc::gpc_cache_activate_gpa(&mut c, GPA, LEN as u64), 0);
    for i in 0..1000u64 {
        let off = (i % 64) * 8;
        let mut g: gpc::gpc_guard = zeroed();
        let p = gpc::gpc_cache_begin_ool(&mut c, off, 8, &mut g) as *mut u64;
        assert!(!p.is_null());
        p.write_volatile(i);
        gpc::gpc_cache_end_ool(&mut c, &mut g);
        assert_eq!(((ram as *mut u8).add(off as usize) as *mut u64).read_volatile(), i);
    }
    let mut g: gpc::gpc_guard = zeroed();
    assert!(gpc::gpc_cache_begin_ool(&mut c, LEN as u64 - 4, 8, &mut g).is_null());
    assert!(!gpc::gpc_cache_try_begin_ool(&mut c, 0, 8, &mut g).is_null());
    gpc::gpc_cache_end_ool(&mut c, &mut g);
    let mut v: u64 = 0;
    assert_eq!(gpc::gpc_cache_read(&mut c, 8, &mut v as *mut u64 as *mut c_void, 8), 0);
    assert_eq!(v, 961); // the last store at offset 8: i = 15 * 64 + 1
    assert_eq!(gpc::gpc_cache_destroy(&mut c), 0);

    let d = gpc::gpc_vm_srcu(vm);
    assert!(!gpc::gpc_srcu_read_held_ool(d));
    assert!(!gpc::gpc_srcu_read_lock_ool(d).is_null());
    assert!(gpc::gpc_srcu_read_held_ool(d));
    gpc::gpc_srcu_read_unlock_ool(d);
    assert!(!gpc::gpc_srcu_read_held_ool(d));

    let mut vcpu: *mut gpc::gpc_vcpu = null_mut();
    assert_eq!(gpc::gpc_vcpu_create(vm, None, null_mut(), &mut vcpu), 0);
    let mut gc: gpc::gpc_cache = zeroed();
    assert_eq!(
        gpc::gpc_cache_init(&mut gc, vm, gpc::gpc_usage_GPC_USAGE_GUEST, vcpu, 0),
        0
    );
    assert_eq!(gpc::gpc_cache_activate_gpa(&mut gc, GPA + 4096, 4096), 0);
    assert_eq!(
        gpc::gpc_cache_guest_ptr_ool(&mut gc, 16, 8) as *mut u8,
        (ram as *mut u8).add(4096 + 16)
    );
    assert!(gpc::gpc_cache_guest_ptr_ool(&mut gc, 4090, 8).is_null());
    assert_eq!(gpc::gpc_cache_destroy(&mut gc), 0);
    assert_eq!(gpc::gpc_vcpu_destroy(vcpu), 0);

    assert_eq!(gpc::gpc_vm_destroy(vm), 0);
    assert_eq!(gpc::gpc_hostmem_destroy(hm), 0);
}

fn main() {
    unsafe {
        run(gpc::gpc_scheme_GPC_SCHEME_SRCU);
        run(gpc::gpc_scheme_GPC_SCHEME_RWLOCK);
    }
    println!("ffi_rust: both schemes ok");
}
