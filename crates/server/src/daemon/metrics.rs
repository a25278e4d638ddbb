//! The `/metrics` endpoint of `nickpool serve --metrics ADDR`: Prometheus
//! text (see [`crate::metrics`]) over HTTP, answered on a thread of its own
//! so a scrape never delays the producer.
//!
//! The HTTP server is `tiny_http`: a small synchronous server (four small
//! dependencies, no async runtime) that does the parsing and connection
//! handling; this module only routes one path. An async stack (hyper with
//! tokio) would bring a runtime into a daemon that has none, for one GET.
//! `tiny_http` answers each connection on a thread from its pool, so bind the
//! endpoint to loopback or a private interface, not to the internet.

use super::{ServeError, log};
use crate::metrics::{self, RefillTimes, UniqueStyles};
use crate::ring::CacheLine;
use crate::segment::Mapping;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::Scope;

/// A bound, not yet serving, metrics endpoint.
pub(crate) struct Endpoint {
    server: tiny_http::Server,
    addr: SocketAddr,
    stopping: AtomicBool,
}

impl Endpoint {
    /// Listens on `addr` (port 0 picks a free port; see [`Endpoint::addr`]).
    pub(crate) fn bind(addr: SocketAddr) -> Result<Endpoint, ServeError> {
        let server = tiny_http::Server::http(addr).map_err(|e| {
            ServeError::Metrics(format!(
                "cannot serve metrics on {addr}: {e}; choose another --metrics address \
                 (a free port on an address of this host, e.g. 127.0.0.1:9464)"
            ))
        })?;
        let addr = server.server_addr().to_ip().unwrap_or(addr);
        Ok(Endpoint {
            server,
            addr,
            stopping: AtomicBool::new(false),
        })
    }

    /// The address actually bound.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers scrapes from a thread of `scope`, reading `mapping`, the
    /// producer threads' `refill` times and unique mode's `styles` at each
    /// one, until the returned
    /// guard is dropped.
    pub(crate) fn spawn<'scope, 'env>(
        &'env self,
        scope: &'scope Scope<'scope, 'env>,
        mapping: &'env Mapping,
        refill: &'env [CacheLine<RefillTimes>],
        styles: Option<&'env dyn UniqueStyles>,
    ) -> std::io::Result<Running<'env>> {
        std::thread::Builder::new()
            .name("metrics".into())
            .spawn_scoped(scope, move || {
                self.answer_until_stopped(mapping, refill, styles)
            })?;
        Ok(Running(self))
    }

    fn answer_until_stopped(
        &self,
        mapping: &Mapping,
        refill: &[CacheLine<RefillTimes>],
        styles: Option<&dyn UniqueStyles>,
    ) {
        loop {
            match self.server.recv() {
                Ok(request) => answer(request, mapping, refill, styles),
                Err(_) if self.stopping.load(Ordering::Relaxed) => return,
                Err(e) => {
                    log(format_args!(
                        "the metrics endpoint stopped: {e}; nicknames are still served, restart the daemon to get metrics back"
                    ));
                    return;
                }
            }
        }
    }
}

/// A serving endpoint; dropping it (also on a panic) ends the thread.
pub(crate) struct Running<'a>(&'a Endpoint);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.stopping.store(true, Ordering::Relaxed);
        self.0.server.unblock();
    }
}

fn answer(
    request: tiny_http::Request,
    mapping: &Mapping,
    refill: &[CacheLine<RefillTimes>],
    styles: Option<&dyn UniqueStyles>,
) {
    use tiny_http::{Header, Method, Response};
    let header = |name: &str, value: &str| {
        Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header")
    };
    let path = request.url().split('?').next().unwrap_or_default();
    let response = if path != "/metrics" {
        Response::from_string("not found; the metrics are at /metrics\n").with_status_code(404)
    } else if !matches!(request.method(), Method::Get | Method::Head) {
        Response::from_string("only GET and HEAD\n")
            .with_status_code(405)
            .with_header(header("Allow", "GET, HEAD"))
    } else {
        let stats = crate::client::read_stats(mapping);
        let refill = RefillTimes::snapshot_all(refill.iter().map(|r| &r.0));
        let styles = styles.map(|s| s.usage()).unwrap_or_default();
        match metrics::encode(&stats, Some(&refill), &styles) {
            Ok(text) => Response::from_string(text)
                .with_header(header("Content-Type", metrics::CONTENT_TYPE)),
            Err(_) => Response::from_string("cannot encode the metrics\n").with_status_code(500),
        }
    };
    // A scraper that hung up needs no answer.
    let _ = request.respond(response);
}
