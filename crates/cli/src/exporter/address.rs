//! `--listen ADDR`: an IP address and port (`127.0.0.1:9435`,
//! `[::1]:9435`, `0.0.0.0:9435`), `localhost:PORT`, or a bare `:PORT`,
//! which binds loopback: all interfaces are only ever asked for by name.

use std::net::{Ipv4Addr, SocketAddr};

/// Parses `--listen`'s value (clap's value parser).
pub fn parse(text: &str) -> Result<SocketAddr, String> {
    let loopback_port = text
        .strip_prefix(':')
        .or_else(|| text.strip_prefix("localhost:"));
    let parsed = match loopback_port {
        Some(port) => port
            .parse::<u16>()
            .ok()
            .map(|port| SocketAddr::from((Ipv4Addr::LOCALHOST, port))),
        None => text.parse().ok(),
    };
    parsed.ok_or_else(|| {
        format!(
            "'{text}' is not an address to listen on: give IP:PORT (127.0.0.1:9435, \
             [::1]:9435, 0.0.0.0:9435) or :PORT for loopback"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_bare_ports() {
        let ok = |t: &str| parse(t).unwrap().to_string();
        assert_eq!(ok(":9435"), "127.0.0.1:9435");
        assert_eq!(ok("localhost:80"), "127.0.0.1:80");
        assert_eq!(ok("127.0.0.1:9435"), "127.0.0.1:9435");
        assert_eq!(ok("[::1]:9435"), "[::1]:9435");
        assert_eq!(ok("0.0.0.0:9435"), "0.0.0.0:9435");
        assert_eq!(ok(":0"), "127.0.0.1:0");
        for bad in [
            "", ":", "9435", ":65536", "::1:9435", "host:1", ":-1", "1.2.3.4",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(
                err.starts_with(&format!("'{bad}' is not an address")),
                "{err}"
            );
        }
    }
}
