// SPDX-License-Identifier: GPL-2.0
//! Host build of drbd-rs's kernel-independent files, for `cargo test`.
//!
//! Each file is mounted at the module path it has in the kernel crate (drbd_rs.rs), so that
//! `crate::model::…` means the same in both. The library is `no_std` like the kernel; only the
//! tests use `std`.
#![no_std]
#![allow(dead_code)]

#[cfg(test)]
extern crate std;

#[path = "../../../src/actlog"]
pub mod actlog {
    pub mod lru;
    pub mod transaction;
}

#[path = "../../../src/model"]
pub mod model {
    pub mod after;
    pub mod attach;
    pub mod conflict;
    pub mod controller;
    pub mod helper;
    pub mod request;
    pub mod role;
    pub mod state;
    pub mod transition;
    pub mod verify;
    pub mod version;
}

#[path = "../../../src/bitmap"]
pub mod bitmap {
    pub mod math;
}

#[path = "../../../src/genl"]
pub mod genl {
    pub mod addr;
    pub mod config;
    pub mod nla;
    pub mod retcode;
    pub mod schema;
    pub mod structs;
}

#[path = "../../../src/meta"]
pub mod meta {
    pub mod layout;
}

#[path = "../../../src/proc"]
pub mod proc {
    pub mod render;
}

#[path = "../../../src/wire"]
pub mod wire {
    pub mod bitmap_codec;
    pub mod packet;
    pub mod sync;
    pub mod tl;
}
