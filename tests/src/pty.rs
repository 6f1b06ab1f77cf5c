//! A pseudo-terminal for tests of what `mb` does on a terminal (colour, prompts, Ctrl-C at
//! a prompt): the master side to read and type on, the slave side to give the child.

use std::fs::File;
use std::os::fd::{FromRawFd, OwnedFd};

/// Opens a pseudo-terminal: (master, slave).
pub fn open() -> (File, OwnedFd) {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two descriptors into the integers passed; the other
    // arguments may be null.
    let opened = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(opened, 0, "openpty");
    // SAFETY: both descriptors were just opened and are owned here alone.
    unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}
