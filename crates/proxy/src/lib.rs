//! Tutela's filtering proxy: an explicit HTTP/1.1 forward proxy that applies
//! each client's group policy to every URL, answers blocks with a block page
//! that says why, forces safe search in-protocol, and checks the TLS server
//! name inside every CONNECT tunnel (domain fronting is blocked).
//!
//! It owns the listener, the request path and the block page; the policy
//! comes from `tutela-policy`, events go to `tutela-store`'s sink, and page
//! text goes to whatever implements [`ContentObserver`] (the monitor).

pub mod auth;
pub mod blockpage;
pub mod ca;
pub mod destination;
#[doc(hidden)]
pub mod fuzzing;
pub mod hello;
mod idle;
pub mod listen;
pub mod observe;
pub mod proxy;
pub mod safesearch;
pub mod settings;

pub use auth::{Authentication, SignIn};
pub use blockpage::{escape_html, BlockPage};
pub use destination::{ConnectError, DestinationError, Destinations};
pub use listen::{ListenLimits, ProxyServer};
pub use observe::{ContentObserver, PageContext, TextKind, TextSink};
pub use proxy::{pac_script, Proxy, ProxyBody, ProxyCounts, ProxyOptions, ProxyStats};
pub use settings::ProxySettings;
