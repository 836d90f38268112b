//! Security groups and network ACLs: what is open to the whole internet, on which ports.

use super::*;

pub(super) const WORLD_V4: &str = "0.0.0.0/0";
pub(super) const WORLD_V6: &str = "::/0";

/// The sources of a permission open to the whole internet.
pub(super) fn world_open(p: &Value) -> Option<&'static str> {
    let v4 = p["ipv4Ranges"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| r["cidrIp"].as_str() == Some(WORLD_V4))
        || p["ipRanges"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r.as_str() == Some(WORLD_V4));
    let v6 = p["ipv6Ranges"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| r["cidrIpv6"].as_str() == Some(WORLD_V6));
    if v4 {
        Some(WORLD_V4)
    } else if v6 {
        Some(WORLD_V6)
    } else {
        None
    }
}

/// A permission's protocol name and port range (all ports for "-1" or missing ports).
pub(super) fn proto_ports(p: &Value) -> (String, u16, u16) {
    let proto = match &p["ipProtocol"] {
        Value::String(s) => s.to_ascii_lowercase(),
        Value::Number(n) => n.to_string(),
        _ => "-1".into(),
    };
    let proto = match proto.as_str() {
        "6" => "tcp".to_string(),
        "17" => "udp".to_string(),
        _ => proto,
    };
    if proto == "-1" {
        return (proto, 0, u16::MAX);
    }
    let from = p["fromPort"]
        .as_i64()
        .map_or(0, |v| v.clamp(0, 65535) as u16);
    let to = p["toPort"]
        .as_i64()
        .map_or(u16::MAX, |v| v.clamp(0, 65535) as u16);
    (proto, from, to)
}

/// Why the SG's ingress opens a TCP port in `ports` (or `udp`) to the world, if it does.
pub(super) fn open_ports(c: &Value, ports: &[(u16, u16)], _udp: &[(u16, u16)]) -> Option<String> {
    for p in c["ipPermissions"].as_array().into_iter().flatten() {
        let Some(src) = world_open(p) else { continue };
        let (proto, from, to) = proto_ports(p);
        if proto != "tcp" && proto != "-1" {
            continue;
        }
        if let Some((a, _)) = ports.iter().find(|(a, b)| from <= *b && *a <= to) {
            return Some(format!("{a} is open to {src} (rule {proto} {from}-{to})"));
        }
    }
    None
}

/// Why the SG opens a port beyond the authorized ones to the world, if it does.
pub(super) fn unauthorized_open(
    c: &Value,
    tcp: &[(u16, u16)],
    udp: &[(u16, u16)],
) -> Option<String> {
    for p in c["ipPermissions"].as_array().into_iter().flatten() {
        let Some(src) = world_open(p) else { continue };
        let (proto, from, to) = proto_ports(p);
        let allowed = match proto.as_str() {
            "tcp" => tcp,
            "udp" => udp,
            "-1" => {
                return Some(format!("all traffic is open to {src}"));
            }
            _ => continue,
        };
        if !allowed.iter().any(|(a, b)| *a <= from && to <= *b) {
            return Some(format!(
                "{proto} {from}-{to} is open to {src} and not among the authorized ports"
            ));
        }
    }
    None
}

/// NACL: for SSH and RDP, the first inbound entry (by rule number) from the whole internet
/// that covers the port decides; an allow is unrestricted access.
pub(super) fn nacl_open(c: &Value) -> Verdict {
    let mut entries: Vec<&Value> = c["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["egress"] == Value::Bool(false))
        .collect();
    entries.sort_by_key(|e| e["ruleNumber"].as_i64().unwrap_or(i64::MAX));
    for port in [22u16, 3389] {
        for e in &entries {
            let world = e["cidrBlock"].as_str() == Some(WORLD_V4)
                || e["ipv6CidrBlock"].as_str() == Some(WORLD_V6);
            if !world {
                continue;
            }
            let proto = e["protocol"].as_str().unwrap_or("-1");
            let covers = match proto {
                "-1" => true,
                "6" | "17" | "tcp" | "udp" => {
                    let r = &e["portRange"];
                    match (r["from"].as_i64(), r["to"].as_i64()) {
                        (Some(a), Some(b)) => a <= i64::from(port) && i64::from(port) <= b,
                        _ => true,
                    }
                }
                _ => false,
            };
            if !covers {
                continue;
            }
            if e["ruleAction"].as_str() == Some("allow") {
                return Verdict::non_compliant(format!(
                    "inbound rule {} allows port {port} from {}",
                    e["ruleNumber"],
                    e["cidrBlock"]
                        .as_str()
                        .or(e["ipv6CidrBlock"].as_str())
                        .unwrap_or("?")
                ));
            }
            break; // denied before any allow
        }
    }
    Verdict::compliant()
}
