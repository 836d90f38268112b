//! Reference-shaped starting points for the types whose documents have dozens of members
//! (RDS, DynamoDB, Lambda, ELB, KMS, CloudTrail): each builder clones its type's template
//! (the `configuration` and `supplementaryConfiguration` of the reference item, in
//! `templates/`) and overwrites the values it draws, so that the key set cannot drift from
//! the reference item.

use serde_json::{Map, Value};
use std::sync::OnceLock;

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("templates/", $name, ".json")))),*]
    };
}

const SOURCES: &[(&str, &str)] = templates!(
    "Lambda_Function",
    "RDS_DBInstance",
    "RDS_DBCluster",
    "RDS_DBSubnetGroup",
    "RDS_DBSnapshot",
    "KMS_Key",
    "CloudTrail_Trail",
    "ElasticLoadBalancingV2_LoadBalancer",
    "ElasticLoadBalancingV2_Listener",
    "DynamoDB_Table",
);

fn parsed() -> &'static Vec<(&'static str, Value)> {
    static CELL: OnceLock<Vec<(&'static str, Value)>> = OnceLock::new();
    CELL.get_or_init(|| {
        SOURCES
            .iter()
            .map(|(n, text)| (*n, serde_json::from_str(text).unwrap_or(Value::Null)))
            .collect()
    })
}

/// A fresh copy of template `name`'s configuration and supplementary configuration.
pub(crate) fn template(name: &str) -> (Value, Map<String, Value>) {
    let t = parsed()
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or(Value::Null);
    let configuration = t.get("configuration").cloned().unwrap_or(Value::Null);
    let supplementary = match t.get("supplementaryConfiguration") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    (configuration, supplementary)
}

/// Sets the member at JSON pointer `ptr` (`/vpcConfig/subnetIds`) when it exists; the
/// templates hold every member, so a missing one is a template mistake that the shape test
/// reports.
pub(crate) fn put(v: &mut Value, ptr: &str, value: impl Into<Value>) {
    if let Some(slot) = v.pointer_mut(ptr) {
        *slot = value.into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        for (name, _) in SOURCES {
            let (c, s) = template(name);
            assert!(c.is_object(), "{name}");
            assert!(s.len() < 10, "{name}");
        }
    }
}
