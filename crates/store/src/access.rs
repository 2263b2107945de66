//! The access event for a verdict: what every listener logs.

use jiff::Timestamp;
use tutela_policy::{Snapshot, Target, Verdict};

use crate::event::{search_terms, AccessEvent, Protocol, RefGenerator};

/// One request, as a listener knows it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub client_ip: std::net::IpAddr,
    pub user: Option<&'a str>,
    pub device: Option<&'a str>,
    pub site: Option<&'a str>,
    pub protocol: Protocol,
    /// The URL exactly as the client sent it, when the listener sees one;
    /// kept byte for byte, and search terms are read from it with their case.
    pub raw_url: Option<&'a [u8]>,
    pub at: Timestamp,
    /// A browser asked for a document to show (a main-frame page view).
    pub page_view: bool,
}

/// The access event for one verdict: what every listener logs.
pub fn event_for(
    refs: &RefGenerator,
    snapshot: &Snapshot,
    verdict: &Verdict,
    who: &Request<'_>,
    target: &Target,
) -> AccessEvent {
    let time_us = who.at.as_microsecond();
    let search = who
        .raw_url
        .and_then(|raw| std::str::from_utf8(raw).ok())
        .and_then(|raw| url::Url::parse(raw).ok())
        .and_then(|u| {
            let path = match u.query() {
                Some(q) => format!("{}?{q}", u.path()),
                None => u.path().to_string(),
            };
            search_terms(target.host_str(), &path)
        });
    AccessEvent {
        reference: refs.next(time_us),
        time_us,
        site: who.site.map(str::to_string),
        device: who.device.map(str::to_string),
        client_ip: who.client_ip.to_canonical().to_string(),
        user: who.user.map(str::to_string),
        group: snapshot.group(verdict.group).map(|g| g.name.clone()),
        protocol: who.protocol,
        host: target.host_str().as_bytes().to_vec(),
        url: who.raw_url.map(<[u8]>::to_vec),
        search,
        action: verdict.action.as_str().to_string(),
        categories: snapshot.category_names(verdict, &verdict.categories),
        rule: verdict.rule.as_str().to_string(),
        count: 1,
        page_view: who.page_view,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tutela_lists::{HostName, IndexBuilder, Usage};
    use tutela_policy::{Identity, PolicyConfig};

    #[test]
    fn a_verdict_becomes_an_event_with_the_dfe_fields() {
        let mut b = IndexBuilder::new(1);
        let gambling = b.categories_mut().intern("gambling", Usage::Black).unwrap();
        b.add_domain(&HostName::parse("casino.example").unwrap(), gambling)
            .unwrap();
        let mut policy = PolicyConfig::default();
        policy.groups.get_mut("pupils").unwrap().block_categories = vec!["gambling".into()];
        let snapshot = Snapshot::build(
            &policy,
            Arc::new(b.finish()),
            Arc::new(tutela_lists::Index::empty()),
        )
        .unwrap();
        let refs = RefGenerator::default();
        let at: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let request = |raw: &'static [u8]| Request {
            client_ip: "::ffff:10.1.2.3".parse().unwrap(),
            user: Some("alice"),
            device: Some("laptop-7"),
            site: Some("main"),
            protocol: Protocol::Https,
            raw_url: Some(raw),
            at,
            page_view: true,
        };

        let raw = b"https://WWW.Casino.example/play?x=1";
        let target = Target::parse(std::str::from_utf8(raw).unwrap()).unwrap();
        let v = snapshot.decide(
            &Identity {
                group: None,
                user: Some("alice"),
            },
            &target,
            at,
        );
        let e = event_for(&refs, &snapshot, &v, &request(raw), &target);
        assert_eq!(e.action, "block");
        assert_eq!(e.categories, vec!["gambling".to_string()]);
        assert_eq!(e.rule, "group-block-category");
        assert_eq!(e.group.as_deref(), Some("pupils"));
        assert_eq!(e.client_ip, "10.1.2.3");
        assert_eq!(e.host, b"www.casino.example");
        assert_eq!(e.url.as_deref(), Some(&raw[..]));
        assert_eq!(e.time_us, at.as_microsecond());
        assert!(e.page_view);
        assert_eq!(
            (e.user.as_deref(), e.device.as_deref(), e.site.as_deref()),
            (Some("alice"), Some("laptop-7"), Some("main"))
        );

        let raw = b"https://www.google.co.uk/search?q=How+To+Stay+Safe";
        let target = Target::parse(std::str::from_utf8(raw).unwrap()).unwrap();
        let v = snapshot.decide(&Identity::default(), &target, at);
        let e = event_for(&refs, &snapshot, &v, &request(raw), &target);
        assert_eq!(e.action, "safesearch");
        assert_eq!(
            e.search.as_deref(),
            Some("How To Stay Safe"),
            "search terms keep their case"
        );
    }
}
