//! A VPC unit's application services: Lambda functions, SQS queues, SNS topics, CloudWatch
//! alarms, secrets, ECR repositories, EKS clusters, load balancers and their listeners.

use super::{log_bucket, suffix, unique, Ctx, ServiceCounts, ALERTS_TOPIC, APPS, DAY, TEAMS};
use crate::ids;
use crate::shapes::alarms::{self, AlarmSpec};
use crate::shapes::containers::{self, ClusterSpec as EksSpec};
use crate::shapes::elb::{self, LbSpec};
use crate::shapes::lambda::{self, FunctionSpec};
use crate::shapes::messaging::{self, QueueSpec};
use crate::shapes::secrets::{self, SecretSpec};
use crate::shapes::Tags;
use crate::topology::SubnetTopo;
use fastrand::Rng;

/// Functions, queues, topics, alarms, secrets, repositories, EKS, load balancers.
pub(super) fn apps(rng: &mut Rng, cx: &mut Ctx<'_>, c: &ServiceCounts) {
    let at = cx.at;
    let mut queue_arns = Vec::new();
    let mut dlq: Option<String> = None;
    for k in 0..c.queues {
        let is_dlq = k == 0 && c.queues > 1;
        let name = unique(rng, if is_dlq { "dlq" } else { "queue" }, cx.g, k);
        let kms = match rng.u8(..4) {
            0 => None,
            1 => Some("alias/aws/sqs".to_string()),
            _ => Some(cx.key(rng)),
        };
        let created = cx.created(rng);
        let t = cx.tags(rng);
        let spec = QueueSpec {
            name: &name,
            dlq: dlq.as_deref(),
            kms: kms.as_deref(),
            created_ms: created,
            modified_ms: created + rng.i64(0..DAY),
        };
        let (key, doc) = messaging::queue(rng, at, &spec, &t);
        let arn = at.arn("sqs", &name);
        if is_dlq {
            dlq = Some(arn.clone());
        }
        queue_arns.push(arn);
        cx.out.push((key, doc));
    }
    let mut topics = vec![messaging::topic_arn(at, ALERTS_TOPIC)];
    for k in 0..c.topics {
        let name = unique(rng, "events", cx.g, k);
        let kms = match rng.u8(..3) {
            0 => None,
            1 => Some("alias/aws/sns".to_string()),
            _ => Some(cx.key(rng)),
        };
        let t = cx.tags(rng);
        let (key, doc) = messaging::topic(rng, at, &name, kms.as_deref(), &t);
        topics.push(key.resource_id.clone());
        cx.out.push((key, doc));
    }
    let private = cx.subnets(Some(false));
    let mut function_names = Vec::new();
    for k in 0..c.functions {
        let Some(role) = ids::pick(rng, cx.roles) else {
            break;
        };
        let name = unique(rng, "fn", cx.g, k);
        let in_vpc = rng.u8(..3) != 0;
        let subnets: Vec<&SubnetTopo> = if in_vpc { private.clone() } else { Vec::new() };
        let sgs = if in_vpc { cx.sgs(rng) } else { Vec::new() };
        let dlq_arn = if rng.u8(..3) == 0 {
            ids::pick(rng, &queue_arns).cloned()
        } else {
            None
        };
        let kms = rng.bool().then(|| cx.key(rng));
        let modified = cx.start - rng.i64(0..200 * DAY);
        let t = cx.tags(rng);
        let spec = FunctionSpec {
            name: &name,
            role,
            subnets: &subnets,
            sgs: &sgs,
            dlq_arn: dlq_arn.as_deref(),
            kms: kms.as_deref(),
            modified_ms: modified,
        };
        cx.out.push(lambda::function(rng, at, &spec, &t));
        function_names.push(name);
    }
    for k in 0..c.alarms {
        let name = unique(rng, "alarm", cx.g, k);
        let (ns, metric, dim, value, stat, threshold): (&str, &str, &str, String, &str, f64) =
            match (rng.u8(..3), function_names.first()) {
                (0, Some(f)) => (
                    "AWS/Lambda",
                    "Errors",
                    "FunctionName",
                    f.clone(),
                    "Sum",
                    5.0,
                ),
                (1, _) => (
                    "AWS/SQS",
                    "ApproximateAgeOfOldestMessage",
                    "QueueName",
                    name.replace("alarm", "queue"),
                    "Maximum",
                    600.0,
                ),
                _ => (
                    "AWS/EC2",
                    "CPUUtilization",
                    "AutoScalingGroupName",
                    format!("{}-asg", cx.vpc.env),
                    "Average",
                    80.0,
                ),
            };
        let topic = (rng.u8(..10) != 0)
            .then(|| ids::pick(rng, &topics).cloned())
            .flatten();
        let updated = cx.start - rng.i64(0..100 * DAY);
        let t = if rng.u8(..3) == 0 {
            cx.tags(rng)
        } else {
            Tags::new()
        };
        let spec = AlarmSpec {
            name: &name,
            metric: (ns, metric, dim, &value, stat, threshold),
            topic: topic.as_deref(),
            updated_ms: updated,
        };
        cx.out.push(alarms::alarm(rng, at, &spec, &t));
    }
    for k in 0..c.secrets {
        let app = ids::word(rng, APPS);
        let name = format!("{}/{app}/db-password-{}", cx.vpc.env, suffix(rng, cx.g, k));
        let description = format!("Password for the {} {app} database", cx.vpc.env);
        let key = cx.key(rng);
        let rotation = (rng.u8(..3) != 0).then(|| secrets::rotation_function(at, rng));
        let created = cx.created(rng);
        let t = cx.tags(rng);
        let spec = SecretSpec {
            name: &name,
            description: &description,
            kms: &key,
            rotation_lambda: rotation.as_deref(),
            created_ms: created,
        };
        cx.out.push(secrets::secret(rng, at, &spec, &t));
    }
    for k in 0..c.repositories {
        let name = format!(
            "{}/{}-{}",
            ids::word(rng, TEAMS),
            ids::word(rng, APPS),
            suffix(rng, cx.g, k)
        );
        let kms = rng.bool().then(|| cx.key(rng));
        let pull = ids::pick(rng, cx.roles).map_or_else(String::new, |r| r.arn.clone());
        let t = cx.tags(rng);
        cx.out.push(containers::repository(
            rng,
            at,
            &name,
            kms.as_deref(),
            &pull,
            &t,
        ));
    }
    for k in 0..c.eks {
        let Some(role) = ids::pick(rng, cx.roles) else {
            break;
        };
        let name = format!("{}-cluster-{}", cx.vpc.env, suffix(rng, cx.g, k));
        let subnets = cx.subnets(None).iter().map(|s| s.id.clone()).collect();
        let sgs = cx.sgs(rng).iter().map(|g| g.id.clone()).collect();
        let key = cx.key(rng);
        let t = cx.tags(rng);
        let spec = EksSpec {
            name: &name,
            role_arn: &role.arn,
            subnets,
            sgs,
            kms: &key,
        };
        cx.out.push(containers::cluster(rng, at, &spec, &t));
    }
    let public = cx.subnets(Some(true));
    let lb_subnets = if public.len() >= 2 {
        public
    } else {
        cx.subnets(None)
    };
    let bucket = log_bucket(at.account, at.region);
    for k in 0..c.load_balancers {
        let name = format!("{}-{}", ids::word(rng, APPS), suffix(rng, cx.g, k));
        let sgs = cx.sgs(rng);
        let created = cx.created(rng);
        let t = cx.tags(rng);
        let spec = LbSpec {
            name: &name,
            vpc_id: &cx.vpc.id,
            subnets: &lb_subnets,
            sgs: &sgs,
            log_bucket: &bucket,
            created_ms: created,
        };
        let (key, doc) = elb::load_balancer(rng, at, &spec, &t);
        cx.out
            .push(elb::listener(rng, at, &key.resource_id, &Tags::new()));
        if rng.u8(..10) < 6 {
            cx.out
                .push(elb::https_listener(rng, at, &key.resource_id, &name));
        }
        cx.out.push((key, doc));
    }
}
