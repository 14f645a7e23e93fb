//! Outbound HTTP: the client deliveries are sent with ([`client`]), how they leave (proxy,
//! extra roots, client certificates: [`transport`]) and the SSRF guard both it and the API (at
//! endpoint creation) apply ([`guard`]).

pub mod client;
pub mod guard;
pub mod transport;
