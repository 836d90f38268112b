//! The SQL subset against the reference CIs: every clause, and bad queries named.

#![allow(clippy::unwrap_used, reason = "test code")]
use super::*;

fn sg(id: &str, cidr: &str, port: i64) -> Value {
    json!({"resourceId": id, "resourceType": "AWS::EC2::SecurityGroup", "awsRegion": "us-east-1",
           "configuration": {"groupName": format!("{id}-name"), "ipPermissions": [
               {"fromPort": port, "toPort": port, "ipRanges": [cidr]}]},
           "tags": [{"key": "env", "value": "prod"}]})
}

#[test]
fn where_in_between_like_and_cidr_ranges() {
    let docs = [
        sg("sg-1", "0.0.0.0/0", 22),
        sg("sg-2", "10.0.0.0/16", 443),
        sg("sg-3", "10.0.1.0/24", 80),
    ];
    let run = |q: &str| -> Vec<String> {
        let q = parse(q).unwrap();
        docs.iter()
            .filter(|d| q.matches(d))
            .map(|d| d["resourceId"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        run("SELECT resourceId WHERE configuration.ipPermissions.fromPort = 22"),
        ["sg-1"]
    );
    assert_eq!(
        run("SELECT resourceId WHERE configuration.ipPermissions.ipRanges = '10.0.1.5'"),
        ["sg-1", "sg-2", "sg-3"]
    );
    assert_eq!(
        run("SELECT resourceId WHERE configuration.ipPermissions.ipRanges = '10.0.200.0/24'"),
        ["sg-1", "sg-2"]
    );
    assert_eq!(run("SELECT resourceId WHERE configuration.ipPermissions.fromPort BETWEEN 80 AND 443 AND NOT resourceId = 'sg-3'"), ["sg-2"]);
    assert_eq!(run("SELECT resourceId WHERE resourceId IN ('sg-2', 'sg-3') OR configuration.groupName LIKE 'sg-1%'"), ["sg-1", "sg-2", "sg-3"]);
    assert_eq!(
        run("SELECT resourceId WHERE tags.key = 'env' AND tags.value = 'prod'"),
        ["sg-1", "sg-2", "sg-3"]
    );
}

#[test]
fn rows_nest_paths_and_aggregate() {
    let docs = [sg("sg-1", "0.0.0.0/0", 22), sg("sg-2", "10.0.0.0/16", 443)];
    let q = parse("SELECT resourceId, configuration.groupName ORDER BY resourceId DESC").unwrap();
    assert_eq!(q.field_names(), ["resourceId", "configuration.groupName"]);
    assert_eq!(
        q.rows(&docs)[0],
        json!({"resourceId": "sg-2", "configuration": {"groupName": "sg-2-name"}})
    );
    let q = parse("SELECT resourceType, COUNT(*) GROUP BY resourceType").unwrap();
    assert_eq!(
        q.rows(&docs),
        [json!({"resourceType": "AWS::EC2::SecurityGroup", "COUNT(*)": 2})]
    );
    let q = parse("SELECT COUNT(*), MAX(configuration.ipPermissions.fromPort)").unwrap();
    assert_eq!(
        q.rows(&docs),
        [json!({"COUNT(*)": 2, "MAX(configuration.ipPermissions.fromPort)": 443})]
    );
}

#[test]
fn reduced_documents_give_the_same_rows() {
    let docs = [sg("sg-1", "0.0.0.0/0", 22), sg("sg-2", "10.0.0.0/16", 443)];
    for q in [
        "SELECT resourceId, configuration.groupName ORDER BY resourceId DESC",
        "SELECT resourceType, COUNT(*) GROUP BY resourceType",
        "SELECT COUNT(*), MAX(configuration.ipPermissions.fromPort)",
        "SELECT configuration.ipPermissions.ipRanges ORDER BY resourceId",
    ] {
        let q = parse(q).unwrap();
        let reduced: Vec<Value> = docs.iter().map(|d| q.reduce(d)).collect();
        assert_eq!(q.rows(&reduced), q.rows(&docs));
    }
}

#[test]
fn scope_counts_answer_count_queries_without_items() {
    let q =
        parse("SELECT resourceType, COUNT(*) WHERE awsRegion = 'us-east-1' GROUP BY resourceType")
            .unwrap();
    assert!(q.counts_scopes());
    let docs = [
        json!({"resourceType": "A", "accountId": "1", "awsRegion": "us-east-1"}),
        json!({"resourceType": "A", "accountId": "2", "awsRegion": "us-east-1"}),
        json!({"resourceType": "B", "accountId": "1", "awsRegion": "us-east-1"}),
    ];
    let rows = q.rows_weighted(&docs, Some(&[5, 7, 1]));
    assert_eq!(
        rows,
        [
            json!({"resourceType": "A", "COUNT(*)": 12}),
            json!({"resourceType": "B", "COUNT(*)": 1})
        ]
    );
    for slow in [
        "SELECT resourceType, COUNT(*) WHERE resourceName = 'x' GROUP BY resourceType",
        "SELECT resourceId, COUNT(*) GROUP BY resourceId",
        "SELECT resourceType, MAX(version) GROUP BY resourceType",
        "SELECT resourceType",
    ] {
        assert!(!parse(slow).unwrap().counts_scopes(), "{slow}");
    }
}

#[test]
fn pinned_types_accounts_and_regions_prune_the_scan() {
    let q = parse("SELECT resourceId WHERE resourceType = 'AWS::EC2::VPC' AND awsRegion IN ('us-east-1', 'eu-west-1')").unwrap();
    assert_eq!(q.types(), Some(vec!["AWS::EC2::VPC".to_string()]));
    assert_eq!(
        q.regions(),
        Some(vec!["us-east-1".to_string(), "eu-west-1".to_string()])
    );
    assert_eq!(q.accounts(), None);
    // An OR anywhere at the top means nothing is pinned.
    let q = parse("SELECT resourceId WHERE resourceType = 'AWS::EC2::VPC' OR resourceId = 'x'")
        .unwrap();
    assert_eq!(q.types(), None);
    let q =
        parse("SELECT resourceId WHERE resourceType IN ('A', 'B') AND resourceType = 'B'").unwrap();
    assert_eq!(q.types(), Some(vec!["B".to_string()]));
}

#[test]
fn what_is_not_in_the_subset_is_refused() {
    for bad in [
        "resourceId",
        "SELECT resourceId FROM x",
        "SELECT DISTINCT resourceId",
        "SELECT resourceId WHERE resourceName LIKE '%abc'",
        "SELECT resourceId WHERE resourceName LIKE 'ab%'",
        "SELECT bogus",
        "SELECT resourceId WHERE resourceId = ",
        "SELECT resourceId, COUNT(*)",
        "SELECT resourceId WHERE resourceId IS NULL",
        "SELECT resourceId WHERE resourceName = 'unterminated",
    ] {
        assert_eq!(
            parse(bad).unwrap_err().code,
            "InvalidExpressionException",
            "{bad}"
        );
    }
}
