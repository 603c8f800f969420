//! A failed EAL start gives an error naming the call and DPDK's reason, and
//! the crate then refuses to make DPDK objects. In its own process, since a
//! failed `rte_eal_init` cannot always be retried.

mod common;

use dpdk_ffi::{Eal, Error, Mempool, SOCKET_ID_ANY};

const TEST: &str = "badvdev";

#[test]
fn unknown_vdev_fails_init_with_a_clear_error() {
    let args = common::eal_args(TEST, &["--vdev", "net_nosuchdriver0"]);
    let err = Eal::init(&args).expect_err("an unknown vdev must fail EAL init");
    match &err {
        Error::Eal { op, errno, msg } => {
            assert_eq!(*op, "rte_eal_init");
            // DPDK 22.11 reports a device it cannot parse as ENODEV.
            assert_eq!(*errno, 19);
            assert_eq!(msg, "No such device");
        }
        other => panic!("expected Error::Eal, got {other:?}"),
    }
    let text = err.to_string();
    assert_eq!(text, "EAL: rte_eal_init failed: No such device (errno 19)");

    assert_eq!(
        Mempool::create("after-failure", 64, 0, 2048, SOCKET_ID_ANY).err(),
        Some(Error::NotInitialised)
    );
    common::remove_runtime_dir(TEST);
}
