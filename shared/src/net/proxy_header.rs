//! The PROXY protocol header (haproxy's `proxy-protocol.txt`, versions 1 and 2) that a load
//! balancer puts in front of a connection to tell the real client's address. Sans-I/O: the
//! caller feeds what it has read so far and is told either the header, how many more octets
//! it must read at least (never more than the header still holds, so no byte of the session
//! that follows is consumed), or why the input is not a header.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// §2.1: a v1 line is at most 107 octets, CRLF included.
pub const V1_MAX_LEN: usize = 107;
/// §2.2: the 12-octet v2 signature.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The 16 fixed octets of a v2 header (signature, version/command, family, length).
const V2_FIXED_LEN: usize = 16;
/// The most address-and-TLV octets we accept after the fixed part of a v2 header. §2.2 allows
/// up to 65535; what we use fits in 36 (two IPv6 addresses and ports) and a few TLVs more
/// (haproxy's own TLVs for SSL and a unique id fit in this), so a peer cannot make us buffer
/// 64 KiB per connection.
pub const V2_MAX_PAYLOAD: usize = 512;
/// Neither version has a header shorter than this (v1 `PROXY UNKNOWN\r\n` is 15, a v2
/// header 16), so this much can always be read first.
const MIN_LEN: usize = 15;

/// What the header says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxiedAddrs {
    /// The client's and the server's address as the proxy saw them.
    Proxied {
        /// The original client.
        client: SocketAddr,
        /// The address the client connected to.
        server: SocketAddr,
    },
    /// v2 `LOCAL` (the proxy's own health check) or v1 `UNKNOWN` / v2 `UNSPEC`: no address
    /// is given, the socket's own addresses stand.
    Local,
}

/// The outcome of feeding the octets read so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// A whole header, `len` octets long (the input may hold no more than that, since
    /// [`Parsed::Incomplete`] never asks past the header's end).
    Done { addrs: ProxiedAddrs, len: usize },
    /// Read at least this many more octets, and no more than that, then feed again.
    Incomplete { at_least: usize },
}

/// Why the input is not a PROXY header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyError {
    /// Starts with neither `PROXY ` nor the v2 signature.
    NoSignature,
    /// A v1 line longer than 107 octets, or a v2 header longer than we accept.
    TooLong,
    /// A v1 line that does not follow the grammar of §2.1 (with the reason).
    BadV1(&'static str),
    /// A v2 header with a wrong version, command or family, or a length too short for its
    /// addresses.
    BadV2(&'static str),
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSignature => f.write_str("no PROXY protocol signature"),
            Self::TooLong => f.write_str("PROXY header too long"),
            Self::BadV1(why) => write!(f, "bad PROXY v1 header: {why}"),
            Self::BadV2(why) => write!(f, "bad PROXY v2 header: {why}"),
        }
    }
}

impl std::error::Error for ProxyError {}

/// Parse the octets read so far from the start of the connection.
pub fn parse(buf: &[u8]) -> Result<Parsed, ProxyError> {
    // Decide the version on the octets there are; a prefix of either signature is fine.
    let v1 = b"PROXY ";
    let n = buf.len();
    let maybe_v1 = buf[..n.min(v1.len())] == v1[..n.min(v1.len())];
    let maybe_v2 = buf[..n.min(12)] == V2_SIGNATURE[..n.min(12)];
    if !maybe_v1 && !maybe_v2 {
        return Err(ProxyError::NoSignature);
    }
    if n < MIN_LEN {
        return Ok(Parsed::Incomplete {
            at_least: MIN_LEN - n,
        });
    }
    if maybe_v2 && n >= 12 {
        parse_v2(buf)
    } else {
        parse_v1(buf)
    }
}

/// §2.1: `PROXY <TCP4|TCP6|UNKNOWN> <src> <dst> <sport> <dport>\r\n`.
fn parse_v1(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let Some(cr) = buf.iter().position(|&b| b == b'\r') else {
        if buf.len() >= V1_MAX_LEN {
            return Err(ProxyError::TooLong);
        }
        // The line ends with CRLF, so two more octets at least.
        return Ok(Parsed::Incomplete { at_least: 2 });
    };
    if cr + 2 > V1_MAX_LEN {
        return Err(ProxyError::TooLong);
    }
    match buf.get(cr + 1) {
        None => return Ok(Parsed::Incomplete { at_least: 1 }),
        Some(b'\n') => {}
        Some(_) => return Err(ProxyError::BadV1("CR not followed by LF")),
    }
    let len = cr + 2;
    let line = std::str::from_utf8(&buf[..cr]).map_err(|_| ProxyError::BadV1("not ASCII"))?;
    let mut fields = line.split(' ');
    fields.next(); // "PROXY", checked by the caller
    let addrs = match fields.next() {
        // §2.1: after UNKNOWN the receiver must ignore anything up to the CRLF.
        Some("UNKNOWN") => ProxiedAddrs::Local,
        Some(proto @ ("TCP4" | "TCP6")) => {
            let want_v4 = proto == "TCP4";
            let mut next = || fields.next().ok_or(ProxyError::BadV1("missing field"));
            let src = v1_ip(next()?, want_v4)?;
            let dst = v1_ip(next()?, want_v4)?;
            let sport = v1_port(next()?)?;
            let dport = v1_port(next()?)?;
            if fields.next().is_some() {
                return Err(ProxyError::BadV1("extra field"));
            }
            ProxiedAddrs::Proxied {
                client: SocketAddr::new(src, sport),
                server: SocketAddr::new(dst, dport),
            }
        }
        _ => return Err(ProxyError::BadV1("protocol is not TCP4, TCP6 or UNKNOWN")),
    };
    Ok(Parsed::Done { addrs, len })
}

fn v1_ip(text: &str, want_v4: bool) -> Result<IpAddr, ProxyError> {
    let ip = if want_v4 {
        text.parse::<Ipv4Addr>().map(IpAddr::V4)
    } else {
        text.parse::<Ipv6Addr>().map(IpAddr::V6)
    };
    ip.map_err(|_| ProxyError::BadV1("address does not match the protocol"))
}

/// §2.1: ports are decimal 0..=65535 without leading zeros.
fn v1_port(text: &str) -> Result<u16, ProxyError> {
    let ok = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    ok.then(|| text.parse::<u16>().ok())
        .flatten()
        .ok_or(ProxyError::BadV1("bad port"))
}

/// §2.2: signature, version/command, family/transport, length, addresses, TLVs.
fn parse_v2(buf: &[u8]) -> Result<Parsed, ProxyError> {
    if buf.len() < V2_FIXED_LEN {
        return Ok(Parsed::Incomplete {
            at_least: V2_FIXED_LEN - buf.len(),
        });
    }
    let version = buf[12] >> 4;
    let command = buf[12] & 0x0f;
    if version != 2 {
        return Err(ProxyError::BadV2("version is not 2"));
    }
    let payload = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if payload > V2_MAX_PAYLOAD {
        return Err(ProxyError::TooLong);
    }
    let len = V2_FIXED_LEN + payload;
    if buf.len() < len {
        return Ok(Parsed::Incomplete {
            at_least: len - buf.len(),
        });
    }
    let body = &buf[V2_FIXED_LEN..len];
    let addrs = match command {
        // LOCAL: the receiver must use the real connection endpoints and skip the rest.
        0x0 => ProxiedAddrs::Local,
        0x1 => match buf[13] {
            // UNSPEC: the receiver must ignore the address information.
            0x00 => ProxiedAddrs::Local,
            // TCP over IPv4: 4 + 4 + 2 + 2.
            0x11 => {
                let a = body
                    .get(..12)
                    .ok_or(ProxyError::BadV2("length too short for IPv4 addresses"))?;
                let ip = |i: usize| IpAddr::from([a[i], a[i + 1], a[i + 2], a[i + 3]]);
                ProxiedAddrs::Proxied {
                    client: SocketAddr::new(ip(0), u16::from_be_bytes([a[8], a[9]])),
                    server: SocketAddr::new(ip(4), u16::from_be_bytes([a[10], a[11]])),
                }
            }
            // TCP over IPv6: 16 + 16 + 2 + 2.
            0x21 => {
                let a = body
                    .get(..36)
                    .ok_or(ProxyError::BadV2("length too short for IPv6 addresses"))?;
                let ip = |i: usize| {
                    let mut o = [0u8; 16];
                    o.copy_from_slice(&a[i..i + 16]);
                    IpAddr::from(o)
                };
                ProxiedAddrs::Proxied {
                    client: SocketAddr::new(ip(0), u16::from_be_bytes([a[32], a[33]])),
                    server: SocketAddr::new(ip(16), u16::from_be_bytes([a[34], a[35]])),
                }
            }
            _ => return Err(ProxyError::BadV2("family is not TCP4, TCP6 or UNSPEC")),
        },
        _ => return Err(ProxyError::BadV2("command is not LOCAL or PROXY")),
    };
    // The TLVs after the addresses are skipped: nothing here uses them.
    Ok(Parsed::Done { addrs, len })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `input` the way the reader does: only as many octets as the parser asks for,
    /// taking them in pieces of at most `chunk`. Returns the outcome and how much was fed.
    fn feed(input: &[u8], chunk: usize) -> (Result<ProxiedAddrs, ProxyError>, usize) {
        let mut have = 0;
        loop {
            match parse(&input[..have]) {
                Ok(Parsed::Done { addrs, len }) => {
                    assert_eq!(len, have, "the parser read past the header");
                    return (Ok(addrs), have);
                }
                Ok(Parsed::Incomplete { at_least }) => {
                    assert!(at_least > 0);
                    assert!(
                        have < input.len(),
                        "the parser wants more than the test gives"
                    );
                    // Read at most what was asked (as a socket read may return less).
                    have = (have + chunk.min(at_least)).min(input.len());
                }
                Err(e) => return (Err(e), have),
            }
        }
    }

    /// Parse `input` fed in every chunk size from 1 to its length; every split must agree.
    fn parse_all_splits(input: &[u8]) -> Result<ProxiedAddrs, ProxyError> {
        let whole = feed(input, input.len().max(1)).0;
        for chunk in 1..=input.len().max(1) {
            assert_eq!(feed(input, chunk).0, whole, "chunk size {chunk}");
        }
        whole
    }

    fn proxied(client: &str, server: &str) -> ProxiedAddrs {
        ProxiedAddrs::Proxied {
            client: client.parse().unwrap(),
            server: server.parse().unwrap(),
        }
    }

    fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut out = V2_SIGNATURE.to_vec();
        out.push(0x20 | command);
        out.push(family);
        out.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    fn v2_tcp4_body() -> Vec<u8> {
        let mut b = vec![203, 0, 113, 7, 192, 0, 2, 1];
        b.extend_from_slice(&56324u16.to_be_bytes());
        b.extend_from_slice(&143u16.to_be_bytes());
        b
    }

    // §2.1, the examples "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n" and
    // the TCP6 form.
    #[test]
    fn v1_tcp4_and_tcp6() {
        assert_eq!(
            parse_all_splits(b"PROXY TCP4 203.0.113.7 192.0.2.1 56324 143\r\n"),
            Ok(proxied("203.0.113.7:56324", "192.0.2.1:143"))
        );
        assert_eq!(
            parse_all_splits(b"PROXY TCP6 2001:db8::7 2001:db8::1 4000 25\r\n"),
            Ok(proxied("[2001:db8::7]:4000", "[2001:db8::1]:25"))
        );
        assert_eq!(
            parse_all_splits(b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n"),
            Ok(proxied("255.255.255.255:65535", "255.255.255.255:65535"))
        );
    }

    // §2.1: "PROXY UNKNOWN\r\n" is valid and anything up to the CRLF after UNKNOWN is ignored.
    #[test]
    fn v1_unknown_keeps_the_socket_address() {
        assert_eq!(
            parse_all_splits(b"PROXY UNKNOWN\r\n"),
            Ok(ProxiedAddrs::Local)
        );
        assert_eq!(
            parse_all_splits(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"),
            Ok(ProxiedAddrs::Local)
        );
    }

    // §2.1: the line ends at the first CRLF; what follows belongs to the session and must
    // not be consumed.
    #[test]
    fn v1_does_not_read_past_the_line() {
        let mut input = b"PROXY TCP4 203.0.113.7 192.0.2.1 56324 143\r\n".to_vec();
        let header = input.len();
        input.extend_from_slice(b"a1 LOGIN x y\r\n");
        for chunk in 1..=input.len() {
            let (r, fed) = feed(&input, chunk);
            assert!(r.is_ok());
            assert_eq!(fed, header);
        }
    }

    // §2.1: "a 108-byte buffer is always enough"; a line longer than 107 octets is refused
    // before the receiver has read more than that.
    #[test]
    fn v1_too_long() {
        let mut long = b"PROXY UNKNOWN ".to_vec();
        long.resize(200, b'x');
        assert_eq!(parse_all_splits(&long), Err(ProxyError::TooLong));
        for chunk in 1..20 {
            assert!(feed(&long, chunk).1 <= V1_MAX_LEN);
        }
        // 106 octets then CRLF is one too many; 105 then CRLF is the maximum.
        let mut at_max = b"PROXY UNKNOWN ".to_vec();
        at_max.resize(105, b'x');
        at_max.extend_from_slice(b"\r\n");
        assert_eq!(parse_all_splits(&at_max), Ok(ProxiedAddrs::Local));
        let mut over = b"PROXY UNKNOWN ".to_vec();
        over.resize(106, b'x');
        over.extend_from_slice(b"\r\n");
        assert_eq!(parse_all_splits(&over), Err(ProxyError::TooLong));
    }

    // §2.1: the protocol must be TCP4, TCP6 or UNKNOWN; addresses in the protocol's family;
    // ports 0..65535 in decimal; fields separated by one space.
    #[test]
    fn v1_bad_lines() {
        for bad in [
            &b"PROXY UDP4 203.0.113.7 192.0.2.1 1 2\r\n"[..],
            b"PROXY TCP4 2001:db8::7 192.0.2.1 1 2\r\n",
            b"PROXY TCP6 203.0.113.7 2001:db8::1 1 2\r\n",
            b"PROXY TCP4 203.0.113.300 192.0.2.1 1 2\r\n",
            b"PROXY TCP4 203.0.113.7 192.0.2.1 65536 2\r\n",
            b"PROXY TCP4 203.0.113.7 192.0.2.1 01 2\r\n",
            b"PROXY TCP4 203.0.113.7 192.0.2.1 -1 2\r\n",
            b"PROXY TCP4 203.0.113.7 192.0.2.1 1\r\n",
            b"PROXY TCP4 203.0.113.7 192.0.2.1 1 2 3\r\n",
            b"PROXY TCP4  203.0.113.7 192.0.2.1 1 2\r\n",
            b"PROXY TCP4 203.0.113.7 192.0.2.1 1 2\rX",
            b"PROXY TCP4 203.0.113.7 192.0.2.1 1 \xff\r\n",
        ] {
            let r = parse_all_splits(bad);
            assert!(
                matches!(r, Err(ProxyError::BadV1(_))),
                "{:?}: {r:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    // §2.1 and §2.2: a connection that starts with neither signature (a client that talks
    // directly, or sends the wrong thing) is refused after at most a few octets.
    #[test]
    fn no_signature() {
        for bad in [
            &b"a1 LOGIN x y\r\n"[..],
            b"EHLO x\r\n",
            b"proxy TCP4 1.2.3.4 1.2.3.4 1 2\r\n",
            b"PROXYTCP4 1.2.3.4 1.2.3.4 1 2\r\n",
            b"\r\n\r\n\0\r\nQUIX\n\x21\x11\0\x0c",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03abcdefgh",
        ] {
            assert_eq!(parse_all_splits(bad), Err(ProxyError::NoSignature));
        }
    }

    // Truncated input: the parser keeps asking for more and never claims a header.
    #[test]
    fn truncated_input_is_never_a_header() {
        let v1 = b"PROXY TCP4 203.0.113.7 192.0.2.1 56324 143\r\n";
        let v2h = v2(1, 0x11, &v2_tcp4_body());
        for input in [&v1[..], &v2h[..]] {
            for cut in 0..input.len() {
                assert!(
                    matches!(parse(&input[..cut]), Ok(Parsed::Incomplete { .. })),
                    "cut at {cut}"
                );
            }
        }
    }

    // §2.2: PROXY command, AF_INET/STREAM (0x11) and AF_INET6/STREAM (0x21).
    #[test]
    fn v2_tcp4_and_tcp6() {
        assert_eq!(
            parse_all_splits(&v2(1, 0x11, &v2_tcp4_body())),
            Ok(proxied("203.0.113.7:56324", "192.0.2.1:143"))
        );
        let mut body = Vec::new();
        body.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
        body.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        body.extend_from_slice(&4000u16.to_be_bytes());
        body.extend_from_slice(&25u16.to_be_bytes());
        assert_eq!(
            parse_all_splits(&v2(1, 0x21, &body)),
            Ok(proxied("[2001:db8::7]:4000", "[2001:db8::1]:25"))
        );
    }

    // §2.2: the length covers the addresses and any TLVs (§2.2.1), which are skipped; the
    // octets after the header are not consumed.
    #[test]
    fn v2_tlvs_are_skipped_and_the_session_is_not_read() {
        let mut body = v2_tcp4_body();
        body.extend_from_slice(&[0x05, 0x00, 0x03, b'a', b'b', b'c']); // PP2_TYPE_UNIQUE_ID
        let mut input = v2(1, 0x11, &body);
        let header = input.len();
        input.extend_from_slice(b"\x16\x03\x01 a TLS ClientHello follows");
        for chunk in 1..=input.len() {
            let (r, fed) = feed(&input, chunk);
            assert_eq!(r, Ok(proxied("203.0.113.7:56324", "192.0.2.1:143")));
            assert_eq!(fed, header);
        }
    }

    // §2.2: LOCAL (health checks by the proxy) and UNSPEC mean "use the real endpoints";
    // the address block, if any, is skipped.
    #[test]
    fn v2_local_and_unspec() {
        assert_eq!(parse_all_splits(&v2(0, 0x00, &[])), Ok(ProxiedAddrs::Local));
        assert_eq!(
            parse_all_splits(&v2(0, 0x11, &v2_tcp4_body())),
            Ok(ProxiedAddrs::Local)
        );
        assert_eq!(parse_all_splits(&v2(1, 0x00, &[])), Ok(ProxiedAddrs::Local));
    }

    // §2.2: version must be 2 (upper nibble 0x2), command 0 or 1; families other than TCP
    // over IPv4/IPv6 (UDP, UNIX) are not for a TCP listener; the length must cover the
    // addresses.
    #[test]
    fn v2_bad_headers() {
        let body = v2_tcp4_body();
        let mut wrong_version = v2(1, 0x11, &body);
        wrong_version[12] = 0x11;
        let mut wrong_command = v2(1, 0x11, &body);
        wrong_command[12] = 0x22;
        for bad in [
            wrong_version,
            wrong_command,
            v2(1, 0x12, &body),      // UDP over IPv4
            v2(1, 0x31, &[0; 216]),  // AF_UNIX
            v2(1, 0x11, &body[..8]), // length shorter than the addresses
            v2(1, 0x21, &body),      // IPv6 family, IPv4-sized block
        ] {
            let r = parse_all_splits(&bad);
            assert!(matches!(r, Err(ProxyError::BadV2(_))), "{bad:?}: {r:?}");
        }
    }

    // §2.2: the length field allows 65535 octets; we refuse more than V2_MAX_PAYLOAD as soon
    // as the length is read, before buffering any of it.
    #[test]
    fn v2_too_long() {
        let mut head = V2_SIGNATURE.to_vec();
        head.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert_eq!(parse(&head), Err(ProxyError::TooLong));
        let ok = v2(1, 0x11, &[0; V2_MAX_PAYLOAD]);
        assert!(matches!(parse(&ok), Ok(Parsed::Done { .. })));
        let over = v2(1, 0x11, &[0; V2_MAX_PAYLOAD + 1]);
        assert_eq!(parse(&over[..16]), Err(ProxyError::TooLong));
    }
}
