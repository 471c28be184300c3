//! A small authoritative DNS server for tests, on a free loopback port (UDP and TCP), in
//! background threads. Tests fill its table (TXT, A, AAAA, MX, PTR, CNAME, SRV); a name with no records
//! at all is NXDOMAIN, a name with records of other types gets an empty answer (NODATA).
//! Messages are decoded and encoded with hickory-proto, not by hand.

use anyhow::{Context, Result};
use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Answers without EDNS fit in this many octets over UDP (RFC 1035 §4.2.1); larger ones are
/// truncated so the resolver asks again over TCP.
const UDP_MAX: usize = 512;
const TTL: u32 = 60;

type Table = HashMap<String, Vec<RData>>;

struct Shared {
    table: Mutex<Table>,
    stop: AtomicBool,
    queries: AtomicUsize,
}

/// The running server; stopped when dropped.
pub struct DnsServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl DnsServer {
    /// Start on a free port of 127.0.0.1 (the same port for UDP and TCP).
    pub fn start() -> Result<Self> {
        let (udp, tcp) = bind_pair()?;
        let addr = udp.local_addr()?;
        udp.set_read_timeout(Some(Duration::from_millis(50)))?;
        tcp.set_nonblocking(true)?;
        let shared = Arc::new(Shared {
            table: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
            queries: AtomicUsize::new(0),
        });
        let s = shared.clone();
        let udp_thread = std::thread::spawn(move || serve_udp(&udp, &s));
        let s = shared.clone();
        let tcp_thread = std::thread::spawn(move || serve_tcp(&tcp, &s));
        Ok(Self {
            addr,
            shared,
            threads: vec![udp_thread, tcp_thread],
        })
    }

    /// Where it listens, for `[dns] nameservers`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queries answered so far.
    pub fn queries(&self) -> usize {
        self.shared.queries.load(Ordering::SeqCst)
    }

    fn add(&self, name: &str, data: RData) {
        self.shared
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key(name))
            .or_default()
            .push(data);
    }

    /// Add a TXT record; text longer than 255 octets is split into strings (RFC 7208 §3.3).
    pub fn txt(&self, name: &str, text: &str) {
        let parts = text
            .as_bytes()
            .chunks(255)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        self.add(name, RData::TXT(TXT::new(parts)));
    }

    /// Add an A or AAAA record.
    pub fn ip(&self, name: &str, ip: IpAddr) {
        match ip {
            IpAddr::V4(v4) => self.add(name, RData::A(A(v4))),
            IpAddr::V6(v6) => self.add(name, RData::AAAA(AAAA(v6))),
        }
    }

    /// Add an MX record.
    pub fn mx(&self, name: &str, preference: u16, exchange: &str) -> Result<()> {
        let exchange = Name::from_ascii(format!("{}.", key(exchange)))?;
        self.add(name, RData::MX(MX::new(preference, exchange)));
        Ok(())
    }

    /// Add a PTR record.
    pub fn ptr(&self, name: &str, target: &str) -> Result<()> {
        let target = Name::from_ascii(format!("{}.", key(target)))?;
        self.add(name, RData::PTR(PTR(target)));
        Ok(())
    }

    /// Add a CNAME record (answered as is, without chasing the target).
    pub fn cname(&self, name: &str, target: &str) -> Result<()> {
        let target = Name::from_ascii(format!("{}.", key(target)))?;
        self.add(name, RData::CNAME(CNAME(target)));
        Ok(())
    }

    /// Add an SRV record (RFC 2782).
    pub fn srv(
        &self,
        name: &str,
        priority: u16,
        weight: u16,
        port: u16,
        target: &str,
    ) -> Result<()> {
        let target = Name::from_ascii(format!("{}.", key(target)))?;
        self.add(name, RData::SRV(SRV::new(priority, weight, port, target)));
        Ok(())
    }

    /// Remove every record of `name`.
    pub fn remove(&self, name: &str) {
        self.shared
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key(name));
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// A UDP socket and a TCP listener on the same free port.
fn bind_pair() -> Result<(UdpSocket, TcpListener)> {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0")?;
        if let Ok(tcp) = TcpListener::bind(udp.local_addr()?) {
            return Ok((udp, tcp));
        }
    }
    anyhow::bail!("no port free for both UDP and TCP")
}

fn serve_udp(socket: &UdpSocket, shared: &Shared) {
    let mut buf = [0u8; 4096];
    while !shared.stop.load(Ordering::SeqCst) {
        let Ok((n, peer)) = socket.recv_from(&mut buf) else {
            continue;
        };
        if let Some(reply) = answer(&buf[..n], shared, true) {
            let _ = socket.send_to(&reply, peer);
        }
    }
}

fn serve_tcp(listener: &TcpListener, shared: &Shared) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = serve_tcp_stream(stream, shared);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// RFC 1035 §4.2.2: each message prefixed with its two-octet length.
fn serve_tcp_stream(mut stream: TcpStream, shared: &Shared) -> Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    loop {
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).is_err() {
            return Ok(());
        }
        let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut query).context("query")?;
        let Some(reply) = answer(&query, shared, false) else {
            return Ok(());
        };
        let n = u16::try_from(reply.len()).context("reply too long")?;
        stream.write_all(&n.to_be_bytes())?;
        stream.write_all(&reply)?;
    }
}

fn answer(query: &[u8], shared: &Shared, udp: bool) -> Option<Vec<u8>> {
    let query = Message::from_vec(query).ok()?;
    if query.metadata.message_type != MessageType::Query {
        return None;
    }
    shared.queries.fetch_add(1, Ordering::SeqCst);
    let mut reply = Message::response(query.metadata.id, OpCode::Query);
    reply.metadata.authoritative = true;
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    let Some(q) = query.queries.first().cloned() else {
        reply.metadata.response_code = ResponseCode::FormErr;
        return reply.to_vec().ok();
    };
    reply.add_query(q.clone());
    let name = key(&q.name.to_ascii());
    let found = shared
        .table
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&name)
        .cloned();
    match found {
        None => {
            reply.metadata.response_code = ResponseCode::NXDomain;
            reply.add_authority(soa(&q.name));
        }
        Some(records) => {
            let matching: Vec<Record> = records
                .into_iter()
                .filter(|r| r.record_type() == q.query_type || q.query_type == RecordType::ANY)
                .map(|r| Record::from_rdata(q.name.clone(), TTL, r))
                .collect();
            if matching.is_empty() {
                reply.add_authority(soa(&q.name));
            }
            reply.add_answers(matching);
        }
    }
    if query.edns.is_some() {
        reply.set_edns(hickory_proto::op::Edns::new());
    }
    let bytes = reply.to_vec().ok()?;
    let max = query
        .edns
        .as_ref()
        .map_or(UDP_MAX, |e| usize::from(e.max_payload()).max(UDP_MAX));
    if udp && bytes.len() > max {
        // RFC 1035 §4.1.1: say it was truncated; the resolver retries over TCP.
        reply.answers.clear();
        reply.authorities.clear();
        reply.metadata.truncation = true;
        return reply.to_vec().ok();
    }
    Some(bytes)
}

/// The SOA of a negative answer (RFC 2308 §3), so that resolvers may cache it briefly.
fn soa(name: &Name) -> Record {
    let zone = name.base_name();
    let soa = SOA::new(
        Name::from_ascii("ns.test.").unwrap_or_else(|_| Name::root()),
        Name::from_ascii("hostmaster.test.").unwrap_or_else(|_| Name::root()),
        1,
        3600,
        600,
        86400,
        1,
    );
    Record::from_rdata(zone, 1, RData::SOA(soa))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;

    fn ask(server: &DnsServer, name: &str, rtype: RecordType, tcp: bool) -> Message {
        let mut q = Message::query();
        q.add_query(Query::query(Name::from_ascii(name).expect("name"), rtype));
        let bytes = q.to_vec().expect("encode");
        let reply = if tcp {
            let mut s = TcpStream::connect(server.addr()).expect("tcp");
            let len = u16::try_from(bytes.len()).expect("len");
            s.write_all(&len.to_be_bytes()).expect("write");
            s.write_all(&bytes).expect("write");
            let mut len = [0u8; 2];
            s.read_exact(&mut len).expect("len");
            let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
            s.read_exact(&mut reply).expect("reply");
            reply
        } else {
            let s = UdpSocket::bind("127.0.0.1:0").expect("udp");
            s.send_to(&bytes, server.addr()).expect("send");
            let mut buf = [0u8; 4096];
            let n = s.recv(&mut buf).expect("recv");
            buf[..n].to_vec()
        };
        let reply = Message::from_vec(&reply).expect("decode");
        assert_eq!(reply.metadata.id, q.metadata.id);
        reply
    }

    fn texts(m: &Message) -> Vec<String> {
        m.answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(t) => Some(t.to_string()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn answers_nxdomain_nodata_and_truncates_to_tcp() {
        let server = DnsServer::start().expect("start");
        server.txt("Example.Test.", "v=spf1 -all");
        let r = ask(&server, "example.test.", RecordType::TXT, false);
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert_eq!(texts(&r), ["v=spf1 -all"]);
        // NODATA: the name exists, the type does not.
        let r = ask(&server, "example.test.", RecordType::A, false);
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert!(r.answers.is_empty());
        let r = ask(&server, "nowhere.test.", RecordType::TXT, false);
        assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
        // Too long for 512 octets of UDP without EDNS: truncated, complete over TCP.
        let long = "k".repeat(700);
        server.txt("big.test", &long);
        let r = ask(&server, "big.test.", RecordType::TXT, false);
        assert!(r.metadata.truncation && r.answers.is_empty());
        let r = ask(&server, "big.test.", RecordType::TXT, true);
        assert_eq!(texts(&r).concat().len(), 700);
        assert_eq!(server.queries(), 5);
    }
}
