//! Deterministic randomness, ids, names, times and encodings shared by every generator.

use fastrand::Rng;

/// Domains that keep the random streams of different parts of the estate apart, so that
/// adding a resource of one kind never shifts the ids of another.
pub(crate) const DOMAIN_IAM: u64 = 1;
pub(crate) const DOMAIN_PAIR: u64 = 2;
pub(crate) const DOMAIN_VPC: u64 = 3;
pub(crate) const DOMAIN_BUCKETS: u64 = 4;
pub(crate) const DOMAIN_TICK: u64 = 5;
/// The service types' generation (issue 15), apart from the original types' streams.
pub(crate) const DOMAIN_SERVICES: u64 = 6;
/// The service types' churn, apart from the original types' tick stream.
pub(crate) const DOMAIN_SERVICE_TICK: u64 = 7;

/// SplitMix64 finalizer: a cheap bijective mixer, good enough to derive independent seeds.
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The random stream of item `index` of `domain` under `seed`.
pub(crate) fn rng_for(seed: u64, domain: u64, index: u64) -> Rng {
    Rng::with_seed(splitmix64(
        splitmix64(seed ^ splitmix64(domain)) ^ splitmix64(index.wrapping_add(0x5151)),
    ))
}

const HEX: &[u8; 16] = b"0123456789abcdef";
const IAM_CHARS: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// `n` lowercase hex digits.
pub(crate) fn hex(rng: &mut Rng, n: usize) -> String {
    (0..n).map(|_| char::from(HEX[rng.usize(..16)])).collect()
}

/// An EC2-style id with 17 hex digits: `sg-0a1b2c3d4e5f6a7b8`.
pub(crate) fn ec2_id(rng: &mut Rng, prefix: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + 18);
    s.push_str(prefix);
    s.push_str("-0");
    for _ in 0..16 {
        s.push(char::from(HEX[rng.usize(..16)]));
    }
    s
}

/// An IAM unique id: 4-letter prefix and 17 characters, 21 in all (`AROA...`).
pub(crate) fn iam_id(rng: &mut Rng, prefix: &str) -> String {
    let mut s = String::with_capacity(21);
    s.push_str(prefix);
    for _ in 0..17 {
        s.push(char::from(IAM_CHARS[rng.usize(..IAM_CHARS.len())]));
    }
    s
}

/// A random id with the distribution of `resource_type`'s ids, used to seek a random
/// existing resource in an ordered map; `None` when the type has no such id shape.
pub(crate) fn probe(resource_type: &str, rng: &mut Rng) -> Option<String> {
    let (prefix, iam) = crate::types::id_prefix(resource_type)?;
    Some(if iam {
        iam_id(rng, prefix)
    } else {
        ec2_id(rng, prefix)
    })
}

/// A random UUID v4 in its text form (client tokens, KMS key ids).
pub(crate) fn uuid(rng: &mut Rng) -> String {
    format!(
        "{}-{}-4{}-{}{}-{}",
        hex(rng, 8),
        hex(rng, 4),
        hex(rng, 3),
        char::from(b"89ab"[rng.usize(..4)]),
        hex(rng, 3),
        hex(rng, 12)
    )
}

/// A MAC address of an ENI (`0a:1b:2c:3d:4e:5f`).
pub(crate) fn mac(rng: &mut Rng) -> String {
    let mut s = String::from("0a");
    for _ in 0..5 {
        s.push(':');
        s.push_str(&hex(rng, 2));
    }
    s
}

/// Percent-encodes `text` as the IAM API returns policy documents (RFC 3986: only
/// `A-Za-z0-9-_.~` stay bare; every other byte becomes `%XX`, uppercase).
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)].to_ascii_uppercase()));
            out.push(char::from(HEX[usize::from(b & 15)].to_ascii_uppercase()));
        }
    }
    out
}

/// AWS Config's time format, `2024-05-01T10:00:00.123Z`.
pub(crate) fn iso(ms: i64) -> String {
    driftlog_model::time::iso_ms(ms)
}

/// The letter of availability zone `index` (`a`, `b`, `c`).
pub(crate) fn az(region: &str, index: usize) -> String {
    let letter = char::from(b"abc"[index % 3]);
    format!("{region}{letter}")
}

/// The zone id of availability zone `index` (`euw1-az1` for `eu-west-1a`), as AWS
/// abbreviates region names.
pub(crate) fn az_id(region: &str, index: usize) -> String {
    let mut short = String::new();
    for (i, part) in region.split('-').enumerate() {
        if i == 0 || part.bytes().all(|b| b.is_ascii_digit()) {
            short.push_str(part);
        } else {
            let abbrev = match part {
                "north" => "n",
                "south" => "s",
                "east" => "e",
                "west" => "w",
                "central" => "c",
                "northeast" => "ne",
                "northwest" => "nw",
                "southeast" => "se",
                "southwest" => "sw",
                other => other.get(..1).unwrap_or(""),
            };
            short.push_str(abbrev);
        }
    }
    format!("{short}-az{}", index % 3 + 1)
}

/// Picks one element of a non-empty slice (the first of an empty one is never asked for;
/// `None` then).
pub(crate) fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> Option<&'a T> {
    if items.is_empty() {
        None
    } else {
        items.get(rng.usize(..items.len()))
    }
}

/// Like [`pick`] for static word lists, which are never empty.
pub(crate) fn word(rng: &mut Rng, words: &[&'static str]) -> &'static str {
    pick(rng, words).copied().unwrap_or("x")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_aws_shapes() {
        let mut rng = Rng::with_seed(1);
        let sg = ec2_id(&mut rng, "sg");
        assert_eq!(sg.len(), 3 + 17);
        assert!(sg.starts_with("sg-0"));
        let role = iam_id(&mut rng, "AROA");
        assert_eq!(role.len(), 21);
        assert_eq!(uuid(&mut rng).len(), 36);
        assert_eq!(mac(&mut rng).len(), 17);
    }

    #[test]
    fn percent_encoding_is_rfc3986() {
        assert_eq!(
            percent_encode("{\"A\": \"s3:*\"}\n~a-b_c.d"),
            "%7B%22A%22%3A%20%22s3%3A%2A%22%7D%0A~a-b_c.d"
        );
    }

    #[test]
    fn zone_ids() {
        assert_eq!(az_id("eu-west-1", 0), "euw1-az1");
        assert_eq!(az_id("us-east-1", 2), "use1-az3");
        assert_eq!(az_id("ap-southeast-2", 1), "apse2-az2");
        assert_eq!(az("eu-west-1", 1), "eu-west-1b");
    }

    #[test]
    fn streams_are_independent_and_stable() {
        let a = rng_for(42, DOMAIN_VPC, 0).u64(..);
        let b = rng_for(42, DOMAIN_VPC, 1).u64(..);
        let c = rng_for(43, DOMAIN_VPC, 0).u64(..);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, rng_for(42, DOMAIN_VPC, 0).u64(..));
    }
}
