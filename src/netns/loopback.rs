//! Bringing `lo` up with one ioctl, so `--netns` needs no `ip` binary.
//!
//! A new network namespace holds only `lo`, and it starts DOWN: nothing,
//! not even 127.0.0.1, works until it is up. Setting IFF_UP is all it
//! takes; the kernel then adds 127.0.0.1/8 and ::1 by itself.

use nix::errno::Errno;
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
use std::os::fd::{AsRawFd, OwnedFd};

nix::ioctl_read_bad!(get_interface_flags, libc::SIOCGIFFLAGS, libc::ifreq);
nix::ioctl_write_ptr_bad!(set_interface_flags, libc::SIOCSIFFLAGS, libc::ifreq);

/// Sets IFF_UP on `lo` in the current network namespace.
pub fn bring_up() -> Result<(), Errno> {
    let control = control_socket()?;
    let mut request = interface_request("lo");
    let flags = read_flags(&control, &mut request)?;
    if flags & libc::IFF_UP as libc::c_short != 0 {
        return Ok(());
    }
    request.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    // SAFETY: `request` is a valid ifreq naming `lo` with the flags to set;
    // the kernel only reads it.
    unsafe { set_interface_flags(control.as_raw_fd(), &request) }?;
    Ok(())
}

/// Whether interface `name` is up in the current network namespace.
pub fn is_up(name: &str) -> Result<bool, Errno> {
    let control = control_socket()?;
    let mut request = interface_request(name);
    Ok(read_flags(&control, &mut request)? & libc::IFF_UP as libc::c_short != 0)
}

/// Any socket will do for interface ioctls; a UDP one is the custom.
fn control_socket() -> Result<OwnedFd, Errno> {
    socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
}

fn read_flags(control: &OwnedFd, request: &mut libc::ifreq) -> Result<libc::c_short, Errno> {
    // SAFETY: `request` is a valid ifreq naming the interface; the kernel
    // fills in its flags.
    unsafe { get_interface_flags(control.as_raw_fd(), request) }?;
    // SAFETY: SIOCGIFFLAGS wrote the flags member of the union.
    Ok(unsafe { request.ifr_ifru.ifru_flags })
}

/// An ifreq naming `name` (truncated to IFNAMSIZ - 1 bytes), flags zero.
fn interface_request(name: &str) -> libc::ifreq {
    let mut ifr_name = [0 as libc::c_char; libc::IFNAMSIZ];
    for (slot, byte) in ifr_name
        .iter_mut()
        .zip(name.bytes().take(libc::IFNAMSIZ - 1))
    {
        *slot = byte as libc::c_char;
    }
    libc::ifreq {
        ifr_name,
        ifr_ifru: libc::__c_anonymous_ifr_ifru { ifru_flags: 0 },
    }
}
