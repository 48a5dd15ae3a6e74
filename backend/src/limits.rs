//! Rate limits per client address, so that a flood neither costs the provider a
//! token request with our client secret per forged callback nor lets anyone guess
//! the API key: starting sign-ins and callbacks share one budget, and every
//! scripts-API request costs 1 from another while a failed key costs a tenth of it.
//! The address is the peer's, or — only when the peer is a trusted proxy
//! (`TOKENBRIDGE_TRUSTED_PROXIES`) — the nearest untrusted one in `X-Forwarded-For`.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use axum::{
    extract::{ConnectInfo, Request},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use tokenbridge_shared::{ErrorCode, routes as paths};

use crate::{
    AppState,
    error::AppError,
    notice::{self, Text},
};

/// How many failed API-key attempts a minute drain an address's whole API budget.
const FAILURES_PER_BUDGET: u32 = 10;

/// A network of trusted proxies: an address and the length of its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network(IpAddr, u8);

impl Network {
    /// `10.0.0.1`, `10.0.0.0/8`, `::1` or `fd00::/8`.
    pub fn parse(text: &str) -> Option<Self> {
        let (ip, bits) = match text.split_once('/') {
            Some((ip, bits)) => (ip.trim().parse::<IpAddr>().ok()?, bits.trim().parse().ok()?),
            None => {
                let ip = text.trim().parse::<IpAddr>().ok()?;
                (ip, if ip.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if ip.is_ipv4() { 32 } else { 128 };
        (bits <= max).then_some(Self(ip, bits))
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let prefix = |a: u128, bits: u8, width: u8| {
            if bits == 0 { 0 } else { a >> (width - bits) }
        };
        match (self.0, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix(u32::from(net).into(), self.1, 32)
                    == prefix(u32::from(ip).into(), self.1, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix(u128::from(net), self.1, 128) == prefix(u128::from(ip), self.1, 128)
            }
            _ => false,
        }
    }
}

/// The limits as configured: per minute and per address; `0` turns one off.
#[derive(Debug, Clone, Default)]
pub struct LimitSettings {
    pub sign_ins_per_minute: u32,
    pub api_per_minute: u32,
    pub trusted_proxies: Vec<Network>,
}

pub struct Limits {
    sign_ins: Option<DefaultKeyedRateLimiter<IpAddr>>,
    api: Option<(DefaultKeyedRateLimiter<IpAddr>, NonZeroU32)>,
    /// Addresses whose failed keys ran out their budget: every API request waits until then.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    trusted_proxies: Vec<Network>,
}

/// The client's address, as the limits see it, for handlers that charge failures.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// How long until the address may try again.
#[derive(Debug, Clone, Copy)]
pub struct Limited(pub Duration);

impl Limits {
    pub fn new(settings: &LimitSettings) -> Self {
        let keyed = |per_minute: u32| {
            NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)))
        };
        Self {
            sign_ins: keyed(settings.sign_ins_per_minute),
            api: keyed(settings.api_per_minute).map(|limiter| {
                let cost = (settings.api_per_minute / FAILURES_PER_BUDGET).max(1);
                (limiter, NonZeroU32::new(cost).unwrap_or(NonZeroU32::MIN))
            }),
            blocked: Mutex::new(HashMap::new()),
            trusted_proxies: settings.trusted_proxies.clone(),
        }
    }

    /// The address a request comes from: the peer, unless the peer is a trusted proxy. An
    /// IPv6 client counts as its /64, which one subscriber usually holds whole.
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> IpAddr {
        per_subscriber(self.address(peer, headers))
    }

    fn address(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> IpAddr {
        let Some(peer) = peer else {
            return IpAddr::from([0, 0, 0, 0]);
        };
        if !self.trusted(peer) {
            return peer;
        }
        // From the right: the first address that is not one of our proxies.
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|ip| ip.trim().parse().ok())
            .collect();
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !self.trusted(*ip))
            .unwrap_or(peer)
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(ip))
    }

    fn check(
        limiter: &DefaultKeyedRateLimiter<IpAddr>,
        ip: IpAddr,
        cost: NonZeroU32,
    ) -> Result<(), Limited> {
        match limiter.check_key_n(&ip, cost) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(Limited(
                not_until.wait_time_from(DefaultClock::default().now()),
            )),
            // A cost beyond the whole budget can never be met: a minute is as good as never.
            Err(_) => Err(Limited(Duration::from_secs(60))),
        }
    }

    /// One sign-in step (starting one, or a callback).
    pub fn sign_in(&self, ip: IpAddr) -> Result<(), Limited> {
        match &self.sign_ins {
            Some(limiter) => Self::check(limiter, ip, NonZeroU32::MIN),
            None => Ok(()),
        }
    }

    /// One scripts-API request.
    pub fn api(&self, ip: IpAddr) -> Result<(), Limited> {
        let Some((limiter, _)) = &self.api else {
            return Ok(());
        };
        {
            let mut blocked = self.blocked.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(until) = blocked.get(&ip).copied() {
                let now = Instant::now();
                if until > now {
                    return Err(Limited(until - now));
                }
                blocked.remove(&ip);
            }
        }
        Self::check(limiter, ip, NonZeroU32::MIN)
    }

    /// A wrong API key: costs a tenth of the minute's budget. Once the budget cannot pay,
    /// the address waits — right key or not — until it could.
    pub fn api_failure(&self, ip: IpAddr) -> Result<(), Limited> {
        let Some((limiter, cost)) = &self.api else {
            return Ok(());
        };
        Self::check(limiter, ip, *cost).inspect_err(|limited| {
            self.blocked
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(ip, Instant::now() + limited.0);
        })
    }

    /// Forgets addresses whose budgets are full again, so the maps do not grow without bound.
    pub fn forget_idle(&self) {
        let now = Instant::now();
        self.blocked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, until| *until > now);
        if let Some(limiter) = &self.sign_ins {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some((limiter, _)) = &self.api {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// An IPv6 address cut to its /64; an IPv4 one (or one mapped into IPv6) as it is.
fn per_subscriber(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        v4 => v4,
    }
}

/// The answer to a limited request: 429 with `Retry-After`, as JSON for the API and as a
/// page of its own for the browser's sign-in routes.
pub fn too_many(limited: Limited, path: &str, headers: &HeaderMap) -> Response {
    let seconds = limited.0.as_secs().max(1);
    tracing::warn!(path = %path.chars().take(100).collect::<String>(), retry_after = seconds, "rate limited");
    let mut response = if path.starts_with("/api/") {
        AppError::new(ErrorCode::RateLimited).into_response()
    } else {
        notice::page(
            StatusCode::TOO_MANY_REQUESTS,
            notice::prefers_russian(headers),
            Text {
                en: "Too many attempts",
                ru: "Слишком много попыток",
            },
            Text {
                en: "Too many sign-ins were started from your address in a short time. Wait a minute and start again.",
                ru: "С вашего адреса за короткое время начато слишком много входов. Подождите минуту и начните снова.",
            },
            ErrorCode::RateLimited.as_str(),
        )
    };
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Finds the client's address, keeps it for the handlers, and applies the limits of
/// the sign-in routes and the scripts API: the refusal, if the request is over its limit.
pub fn admit(state: &AppState, request: &mut Request) -> Option<Response> {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let ip = state.limits.client_ip(peer, request.headers());
    request.extensions_mut().insert(ClientIp(ip));
    let path = request.uri().path();
    let verdict = if path == paths::LOGIN || path == paths::CALLBACK {
        state.limits.sign_in(ip)
    } else if path.starts_with("/api/v1/") {
        state.limits.api(ip)
    } else {
        Ok(())
    };
    verdict
        .err()
        .map(|limited| too_many(limited, path, request.headers()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_hold_their_addresses() {
        let net = Network::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(
            Network::parse("::1")
                .unwrap()
                .contains("::1".parse().unwrap())
        );
        assert!(Network::parse("10.0.0.0/33").is_none());
        assert!(Network::parse("not an address").is_none());
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let limits = Limits::new(&LimitSettings {
            trusted_proxies: vec![Network::parse("10.0.0.0/8").unwrap()],
            ..LimitSettings::default()
        });
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.7, 10.0.0.3".parse().unwrap(),
        );
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let stranger: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(
            limits.client_ip(Some(proxy), &headers),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            limits.client_ip(Some(stranger), &headers),
            stranger,
            "a spoofed header is ignored"
        );
    }

    #[test]
    fn an_ipv6_client_counts_as_its_slash_64() {
        let limits = Limits::new(&LimitSettings::default());
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let other: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let empty = HeaderMap::new();
        assert_eq!(
            limits.client_ip(Some(one), &empty),
            limits.client_ip(Some(other), &empty)
        );
        assert_ne!(
            limits.client_ip(Some(one), &empty),
            limits.client_ip(Some("2001:db8:1:3::1".parse().unwrap()), &empty)
        );
    }

    #[test]
    fn a_failed_key_costs_a_tenth_of_the_budget() {
        let limits = Limits::new(&LimitSettings {
            api_per_minute: 100,
            ..LimitSettings::default()
        });
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..10 {
            assert!(limits.api_failure(ip).is_ok());
        }
        assert!(
            limits.api_failure(ip).is_err(),
            "the eleventh failure is limited"
        );
        assert!(
            limits.api(ip).is_err(),
            "and so is everything else from there"
        );
        assert!(
            limits.api("192.0.2.2".parse().unwrap()).is_ok(),
            "others are not"
        );
    }
}
