//! RFC 3263 against a real DNS server (issue 13): dnsmasq on a loopback
//! port serves a carrier's NAPTR, SRV and A records, and pbxd's resolver
//! (hickory underneath) must follow them the way a carrier's published
//! SBCs expect: NAPTR order, SRV priority, the transport each names, and
//! the plain A record when there is no SRV.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};

use dering_trunk::resolve::{Query, Target, Transport};
use pbxd::resolve::{ResolveError, Resolver};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// A dnsmasq serving only what it is given, killed on drop.
struct Dnsmasq {
    child: Child,
    port: u16,
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A UDP port below the ephemeral range that is free now (see
/// hwtests/src/ports.rs for why not port 0).
fn free_port(seed: u32) -> u16 {
    for i in 0..2000u32 {
        let port = 21_000 + ((std::process::id() + seed * 7 + i * 13) % 10_000) as u16;
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free UDP port for dnsmasq");
}

fn dnsmasq(records: &[&str]) -> Dnsmasq {
    for attempt in 0..5 {
        let port = free_port(attempt);
        let mut child = Command::new("dnsmasq")
            .args([
                "--no-daemon",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                "--listen-address=127.0.0.1",
                "--pid-file=",
                "--log-facility=-",
            ])
            .arg(format!("--port={port}"))
            .args(records)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dnsmasq (installed by .ci/install-peers)");
        // dnsmasq says "started" once its socket is bound; it exits when
        // the port was taken meanwhile.
        let stderr = child.stderr.take().expect("piped");
        let started = BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("started"));
        if started {
            return Dnsmasq { child, port };
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("dnsmasq did not start");
}

fn all() -> Vec<Transport> {
    vec![Transport::Udp, Transport::Tcp, Transport::Tls]
}

fn query(host: &str, transport: Option<Transport>) -> Query {
    Query {
        host: host.into(),
        port: None,
        transport,
        allowed: all(),
    }
}

fn t(addr: &str, transport: Transport) -> Target {
    Target {
        addr: addr.parse().unwrap(),
        transport,
    }
}

#[tokio::test]
async fn naptr_then_srv_then_address_as_rfc_3263_says() {
    let dns = dnsmasq(&[
        // Authoritative for `test`: a name it lacks is NXDOMAIN, as from a
        // carrier's own DNS, not REFUSED.
        "--local=/test/",
        // The carrier prefers TLS, then UDP; its SIP+D2T record has no SRV.
        "--naptr-record=carrier.test,10,50,s,SIPS+D2T,,_sips._tcp.carrier.test",
        "--naptr-record=carrier.test,20,50,s,SIP+D2U,,_sip._udp.carrier.test",
        "--naptr-record=carrier.test,15,50,s,SIP+D2T,,_sip._tcp.carrier.test",
        "--srv-host=_sips._tcp.carrier.test,sbc-tls.carrier.test,5071,10,100",
        "--srv-host=_sip._udp.carrier.test,sbc-b.carrier.test,5082,20,100",
        "--srv-host=_sip._udp.carrier.test,sbc-a.carrier.test,5081,10,100",
        "--host-record=sbc-tls.carrier.test,127.0.0.11",
        "--host-record=sbc-a.carrier.test,127.0.0.12",
        "--host-record=sbc-b.carrier.test,127.0.0.13",
        // No NAPTR, only a TCP SRV.
        "--srv-host=_sip._tcp.plain.test,sbc.plain.test,5090,0,0",
        "--host-record=sbc.plain.test,127.0.0.21",
        // Neither NAPTR nor SRV.
        "--host-record=bare.test,127.0.0.31",
    ]);
    let resolver = Resolver::with_server(format!("127.0.0.1:{}", dns.port).parse().unwrap())
        .expect("a resolver");
    let mut rng = StdRng::seed_from_u64(1);

    let found = resolver
        .resolve(&query("carrier.test", None), &mut rng)
        .await
        .expect("carrier.test resolves");
    assert_eq!(
        found,
        vec![
            t("127.0.0.11:5071", Transport::Tls),
            t("127.0.0.12:5081", Transport::Udp),
            t("127.0.0.13:5082", Transport::Udp),
        ],
        "NAPTR order picks TLS first, the SIP+D2T without SRV adds nothing, SRV priority orders UDP"
    );

    let udp_only = Query {
        allowed: vec![Transport::Udp],
        ..query("carrier.test", None)
    };
    let found = resolver.resolve(&udp_only, &mut rng).await.unwrap();
    assert_eq!(found[0], t("127.0.0.12:5081", Transport::Udp));

    let found = resolver
        .resolve(&query("plain.test", None), &mut rng)
        .await
        .unwrap();
    assert_eq!(found, vec![t("127.0.0.21:5090", Transport::Tcp)]);

    let found = resolver
        .resolve(&query("bare.test", Some(Transport::Udp)), &mut rng)
        .await
        .unwrap();
    assert_eq!(found, vec![t("127.0.0.31:5060", Transport::Udp)]);

    let explicit = Query {
        port: Some(5099),
        ..query("sbc-a.carrier.test", Some(Transport::Tcp))
    };
    assert_eq!(
        resolver.resolve(&explicit, &mut rng).await.unwrap(),
        vec![t("127.0.0.12:5099", Transport::Tcp)],
        "an explicit port asks A/AAAA only"
    );

    match resolver
        .resolve(&query("nowhere.test", None), &mut rng)
        .await
    {
        Err(ResolveError::NoAddress(name)) => assert_eq!(name, "nowhere.test"),
        other => panic!("expected no address, got {other:?}"),
    }
}
