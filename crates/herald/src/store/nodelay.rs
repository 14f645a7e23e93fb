//! `TCP_NODELAY` on the connections to PostgreSQL, which sqlx 0.9 opens without it.
//!
//! Over TLS, sqlx hands a message to rustls, which cuts it into records of 16 KiB at most, and
//! writes each record with a `sendto` of its own. With Nagle's algorithm on, the kernel sends the
//! first record at once and holds the next until the server acknowledges the first, which the
//! server, waiting for the rest of the message before it answers, does only when its delayed-ACK
//! timer fires: 40 ms. The group committer's batch statements (20 to 35 KiB at fan-out 1, two or
//! three records) mostly waited so, and PostgreSQL over TLS delivered 460 messages/s against
//! 6,000 without, where sqlx writes a message whole with one `sendto`, which Nagle does not hold
//! back. sqlx 0.8 set `TCP_NODELAY` on its sockets; 0.9.0 does not (sqlx issue #4335) and gives
//! no hook to set socket options, so Herald sets it on the sockets of its process connected to
//! the database server, as each connection is made (the pools' `after_connect`).

use std::net::SocketAddr;

/// Sets `TCP_NODELAY` on every TCP socket of this process connected to `host:port`; returns how
/// many have it (`None` where sockets cannot be listed, off Linux).
pub async fn set_on_connections_to(host: &str, port: u16) -> Option<usize> {
    let server: Vec<SocketAddr> = match tokio::net::lookup_host((host, port)).await {
        Ok(addrs) => addrs.collect(),
        Err(e) => {
            tracing::debug!(error = %e, host, "cannot resolve the database host");
            return Some(0);
        }
    };
    set_on_sockets_to(&server)
}

#[cfg(target_os = "linux")]
fn set_on_sockets_to(server: &[SocketAddr]) -> Option<usize> {
    use std::os::fd::{BorrowedFd, RawFd};

    let mut n = 0;
    for entry in std::fs::read_dir("/proc/self/fd").ok()?.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<RawFd>().ok())
        else {
            continue;
        };
        // SAFETY: `fd` is one of this process's descriptors, borrowed for three system calls
        // (getpeername, getsockopt, setsockopt) that read or set an option and nothing else.
        // Another thread may close it meanwhile: the calls then fail with EBADF, or, if the
        // number was reused at once, read the new descriptor's peer, which must be the database
        // server for the option to be set. No memory is involved but the calls' own arguments.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        let to_server = socket
            .peer_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .is_some_and(|peer| server.contains(&peer));
        if to_server
            && (socket.tcp_nodelay().unwrap_or(false) || socket.set_tcp_nodelay(true).is_ok())
        {
            n += 1;
        }
    }
    Some(n)
}

#[cfg(not(target_os = "linux"))]
fn set_on_sockets_to(_server: &[SocketAddr]) -> Option<usize> {
    None
}
