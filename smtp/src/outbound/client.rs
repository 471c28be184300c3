//! The SMTP client: one connection to one host, carrying one message to the recipients of
//! one domain (RFC 5321 §3.3). EHLO (HELO if refused), opportunistic STARTTLS (RFC 3207) that
//! accepts any certificate (RFC 7435: encryption without authentication beats plain text),
//! or, for a domain whose MTA-STS policy is `enforce`, required STARTTLS with the caller's
//! verifying config (RFC 8461 §4.2), AUTH PLAIN for a relay (RFC 4954, only over TLS),
//! SIZE (RFC 1870), then MAIL, RCPT per recipient, DATA with dot-stuffing, QUIT.
//!
//! The replies are read with the sans-I/O [`ReplyParser`]; this file only moves bytes and
//! applies timeouts.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::reply::{Reply, ReplyParser};

/// What became of one recipient on this connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcptOutcome {
    /// 250 after DATA (the reply).
    Delivered(String),
    /// 4yz, or the connection failed: try again later.
    Temporary(String),
    /// 5yz: give up.
    Permanent(String),
}

/// A failure before any recipient was decided: the caller tries the next host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError {
    /// What went wrong.
    pub text: String,
    /// A 5yz from the server (at greeting, EHLO or MAIL): the next host would say the same.
    pub permanent: bool,
    /// The TLS handshake after STARTTLS failed: the caller may try once more without TLS.
    pub tls_failed: bool,
}

impl HostError {
    fn temp(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            permanent: false,
            tls_failed: false,
        }
    }
}

/// One delivery's parameters.
pub struct Transaction<'a> {
    /// Our EHLO name.
    pub helo: &'a str,
    /// MAIL FROM (empty = null sender).
    pub sender: &'a str,
    /// RCPT TO addresses.
    pub recipients: &'a [String],
    /// The message as stored (CRLF line ends).
    pub body: &'a [u8],
    /// Credentials for a relay: (user, password). Sent only over TLS.
    pub auth: Option<(&'a str, &'a str)>,
    /// Wait for each reply.
    pub timeout: Duration,
    /// Use STARTTLS when offered. Off only for the retry after a failed handshake
    /// (RFC 7435 §3: opportunistic security falls back to clear text rather than not at all).
    pub starttls: bool,
    /// MTA-STS enforce (RFC 8461 §4.2): no STARTTLS is a failure of this host, not clear text.
    pub require_tls: bool,
}

/// A TLS config that accepts any certificate (opportunistic STARTTLS), aws-lc-rs only.
pub fn opportunistic_tls() -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Any certificate passes (RFC 7435); signatures are still checked, so the handshake is real.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

struct Conn {
    stream: Box<dyn Stream>,
    parser: ReplyParser,
    timeout: Duration,
}

impl Conn {
    async fn reply_within(&mut self, timeout: Duration) -> Result<Reply, HostError> {
        let mut buf = [0u8; 4096];
        loop {
            match self.parser.next_reply() {
                Ok(Some(reply)) => return Ok(reply),
                Ok(None) => {}
                Err(e) => return Err(HostError::temp(format!("bad reply: {e}"))),
            }
            let n = tokio::time::timeout(timeout, self.stream.read(&mut buf))
                .await
                .map_err(|_| HostError::temp("timed out waiting for a reply"))?
                .map_err(|e| HostError::temp(format!("read: {e}")))?;
            if n == 0 {
                return Err(HostError::temp("connection closed by the server"));
            }
            self.parser.feed(&buf[..n]);
        }
    }

    async fn reply(&mut self) -> Result<Reply, HostError> {
        self.reply_within(self.timeout).await
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), HostError> {
        tokio::time::timeout(self.timeout, self.stream.write_all(bytes))
            .await
            .map_err(|_| HostError::temp("timed out writing"))?
            .map_err(|e| HostError::temp(format!("write: {e}")))?;
        Ok(())
    }

    async fn command(&mut self, line: &str) -> Result<Reply, HostError> {
        self.send(format!("{line}\r\n").as_bytes()).await?;
        self.reply().await
    }

    async fn ehlo(&mut self, helo: &str) -> Result<Reply, HostError> {
        let reply = self.command(&format!("EHLO {helo}")).await?;
        if reply.is_positive() {
            return Ok(reply);
        }
        // RFC 5321 §3.2: a server that refuses EHLO may still take HELO.
        let reply = self.command(&format!("HELO {helo}")).await?;
        refuse_unless_positive(&reply, "HELO")?;
        Ok(reply)
    }
}

fn refuse_unless_positive(reply: &Reply, what: &str) -> Result<(), HostError> {
    if reply.is_positive() {
        return Ok(());
    }
    Err(HostError {
        text: format!("{what}: {}", reply.summary()),
        permanent: reply.is_permanent(),
        tls_failed: false,
    })
}

/// RFC 5321 §4.5.2: a line starting with "." gets another "."; the body ends with CRLF.CRLF.
pub fn dot_stuff(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 64 + 5);
    let mut at_line_start = true;
    for &b in body {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Deliver `t` over a connection to `addr`: per-recipient outcomes (in the order of
/// `t.recipients`), or a [`HostError`] if nothing was decided on this host.
pub async fn deliver(
    addr: std::net::SocketAddr,
    host: &str,
    connect_timeout: Duration,
    tls: &Arc<rustls::ClientConfig>,
    t: &Transaction<'_>,
) -> Result<Vec<RcptOutcome>, HostError> {
    let tcp = tokio::time::timeout(connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| HostError::temp(format!("connecting to {addr} timed out")))?
        .map_err(|e| HostError::temp(format!("connecting to {addr}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let mut c = Conn {
        stream: Box::new(tcp),
        parser: ReplyParser::default(),
        timeout: t.timeout,
    };
    let greeting = c.reply().await?;
    refuse_unless_positive(&greeting, "greeting")?;
    let mut ehlo = c.ehlo(t.helo).await?;
    let mut secure = false;
    if t.starttls && ehlo.has_extension("STARTTLS") {
        let reply = c.command("STARTTLS").await?;
        if reply.is_positive() {
            let name = ServerName::try_from(host.to_string())
                .unwrap_or_else(|_| ServerName::try_from("invalid.invalid").expect("static name"));
            let connector = tokio_rustls::TlsConnector::from(tls.clone());
            let Conn { stream, .. } = c;
            let tls_stream = tokio::time::timeout(t.timeout, connector.connect(name, stream))
                .await
                .map_err(|_| HostError {
                    tls_failed: true,
                    ..HostError::temp("TLS handshake timed out")
                })?
                .map_err(|e| HostError {
                    tls_failed: true,
                    ..HostError::temp(format!("TLS handshake: {e}"))
                })?;
            // RFC 3207 §4.2: forget everything learnt before TLS, greet again.
            c = Conn {
                stream: Box::new(tls_stream),
                parser: ReplyParser::default(),
                timeout: t.timeout,
            };
            ehlo = c.ehlo(t.helo).await?;
            secure = true;
        }
    }
    if t.require_tls && !secure {
        return Err(HostError::temp(
            "MTA-STS: the host does not offer STARTTLS, which the domain's policy requires",
        ));
    }
    if let Some((user, password)) = t.auth {
        if !secure {
            return Err(HostError::temp(
                "the relay offers no STARTTLS; not sending the password in clear",
            ));
        }
        let blob =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        let reply = c.command(&format!("AUTH PLAIN {blob}")).await?;
        refuse_unless_positive(&reply, "AUTH")?;
    }
    // RFC 1870 §6: a server that announces a limit refuses larger mail; say so now.
    let limit = ehlo
        .extension("SIZE")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&n| n > 0);
    if let Some(limit) = limit
        && t.body.len() as u64 > limit
    {
        let text = format!(
            "552 5.3.4 message of {} octets exceeds the server's limit of {limit}",
            t.body.len()
        );
        return Ok(vec![RcptOutcome::Permanent(text); t.recipients.len()]);
    }
    let mut mail = format!("MAIL FROM:<{}>", t.sender);
    if limit.is_some() || ehlo.has_extension("SIZE") {
        mail.push_str(&format!(" SIZE={}", t.body.len()));
    }
    if ehlo.has_extension("8BITMIME") && !t.body.is_ascii() {
        mail.push_str(" BODY=8BITMIME");
    }
    let reply = c.command(&mail).await?;
    refuse_unless_positive(&reply, "MAIL")?;
    let mut outcomes: Vec<Option<RcptOutcome>> = Vec::with_capacity(t.recipients.len());
    for rcpt in t.recipients {
        let reply = c.command(&format!("RCPT TO:<{rcpt}>")).await?;
        outcomes.push(if reply.is_positive() {
            None
        } else if reply.is_permanent() {
            Some(RcptOutcome::Permanent(reply.summary()))
        } else {
            Some(RcptOutcome::Temporary(reply.summary()))
        });
    }
    if outcomes.iter().all(Option::is_some) {
        let _ = c.command("QUIT").await;
        return Ok(outcomes.into_iter().flatten().collect());
    }
    let reply = c.command("DATA").await?;
    if !reply.is_intermediate() {
        let undecided = if reply.is_permanent() {
            RcptOutcome::Permanent(format!("DATA: {}", reply.summary()))
        } else {
            RcptOutcome::Temporary(format!("DATA: {}", reply.summary()))
        };
        return Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| undecided.clone()))
            .collect());
    }
    c.send(&dot_stuff(t.body)).await?;
    // RFC 5321 §4.5.3.2.6: 10 minutes for the reply to the end of data.
    let wait = (t.timeout * 10).min(Duration::from_secs(600));
    let end = match c.reply_within(wait).await {
        Ok(reply) => reply,
        // Unknown whether the server took it: RFC 5321 §6.1 accepts the duplicate risk of
        // trying again over the certain loss of giving up.
        Err(e) => {
            let text = format!("after the data was sent: {}", e.text);
            return Ok(outcomes
                .into_iter()
                .map(|o| o.unwrap_or_else(|| RcptOutcome::Temporary(text.clone())))
                .collect());
        }
    };
    let decided = if end.is_positive() {
        RcptOutcome::Delivered(end.summary())
    } else if end.is_permanent() {
        RcptOutcome::Permanent(end.summary())
    } else {
        RcptOutcome::Temporary(end.summary())
    };
    let _ = c.command("QUIT").await;
    Ok(outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| decided.clone()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::dot_stuff;

    #[test]
    fn dots_at_line_start_are_doubled() {
        // RFC 5321 §4.5.2.
        assert_eq!(
            dot_stuff(b".a\r\nb.\r\n..c\r\n"),
            b"..a\r\nb.\r\n...c\r\n.\r\n"
        );
        assert_eq!(dot_stuff(b"no newline"), b"no newline\r\n.\r\n");
    }
}
