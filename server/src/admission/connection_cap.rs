//! Per-client-IP connection cap: one address may hold at most `limit` open connections, so a
//! single host cannot take every `MAX_CONNECTIONS` slot with idle sockets.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Counts open connections per peer IP; a [`ConnectionTicket`] releases its count on drop.
#[derive(Debug)]
pub struct PerIpConnections {
    limit: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection; dropping it frees the slot of its IP.
#[derive(Debug)]
pub struct ConnectionTicket {
    owner: Arc<PerIpConnections>,
    ip: IpAddr,
}

impl PerIpConnections {
    /// A cap of `limit` open connections per IP (≥ 1).
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(PerIpConnections {
            limit: limit.max(1),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Admits one more connection from `ip`, or `None` when it already holds `limit`.
    pub fn try_admit(this: &Arc<Self>, ip: IpAddr) -> Option<ConnectionTicket> {
        let mut open = this.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(ip).or_insert(0);
        if *count >= this.limit {
            return None;
        }
        *count += 1;
        Some(ConnectionTicket {
            owner: Arc::clone(this),
            ip,
        })
    }

    /// Open connections of `ip`.
    pub fn open_from(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for ConnectionTicket {
    fn drop(&mut self) {
        let mut open = self.owner.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                // Keep the map as small as the set of connected clients.
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_is_per_ip_and_released_on_drop() {
        let cap = PerIpConnections::new(2);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = PerIpConnections::try_admit(&cap, a).expect("1st");
        let _second = PerIpConnections::try_admit(&cap, a).expect("2nd");
        assert!(PerIpConnections::try_admit(&cap, a).is_none());
        assert!(PerIpConnections::try_admit(&cap, b).is_some());
        drop(first);
        assert_eq!(cap.open_from(a), 1);
        assert!(PerIpConnections::try_admit(&cap, a).is_some());
    }
}
