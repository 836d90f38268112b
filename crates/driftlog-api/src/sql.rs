//! SelectResourceConfig's SQL subset (spec §2.3): `SELECT p[, ...] [WHERE c] [GROUP BY p]
//! [ORDER BY p [ASC|DESC][, ...]]` over the current configuration items. Predicates
//! `= != < <= > >=`, `BETWEEN`, `IN (...)`, `LIKE` (suffix wildcard), `AND`/`OR`/`NOT` and
//! parentheses; an array path matches when any element does; CIDR values compare as ranges;
//! aggregates `COUNT SUM AVG MIN MAX`. Anything else is refused with
//! `InvalidExpressionException` naming what was wrong.

use crate::error::{ApiError, ApiResult};
use serde_json::{json, Map, Value};
use std::cmp::Ordering;

/// Top-level properties, and what `SELECT *` returns.
pub const SCALARS: &[&str] = &[
    "accountId",
    "arn",
    "availabilityZone",
    "awsRegion",
    "configurationItemCaptureTime",
    "resourceCreationTime",
    "resourceId",
    "resourceName",
    "resourceType",
    "version",
];

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::new("InvalidExpressionException", msg)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(f64),
    Sym(&'static str),
}

fn lex(text: &str) -> ApiResult<Vec<Tok>> {
    let b: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err(invalid("Unterminated string literal in the expression.")),
                    Some('\'') if b.get(i + 1) == Some(&'\'') => {
                        s.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        s.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(s));
        } else if c.is_ascii_digit() || (c == '-' && b.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            i += 1;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == '.') {
                i += 1;
            }
            let t: String = b[start..i].iter().collect();
            out.push(Tok::Num(
                t.parse()
                    .map_err(|_| invalid(format!("Bad number '{t}'.")))?,
            ));
        } else if c.is_alphabetic() || c == '_' || c == '"' || c == '`' {
            let start = i;
            if c == '"' || c == '`' {
                i += 1;
                while i < b.len() && b[i] != c {
                    i += 1;
                }
                let t: String = b[start + 1..i.min(b.len())].iter().collect();
                i += 1;
                out.push(Tok::Word(t));
                continue;
            }
            while i < b.len()
                && (b[i].is_alphanumeric() || b[i] == '_' || b[i] == '.' || b[i] == ':')
            {
                i += 1;
            }
            out.push(Tok::Word(b[start..i].iter().collect()));
        } else {
            let two: String = b[i..(i + 2).min(b.len())].iter().collect();
            let sym = match two.as_str() {
                "<=" => Some("<="),
                ">=" => Some(">="),
                "!=" => Some("!="),
                "<>" => Some("!="),
                _ => None,
            };
            if let Some(s) = sym {
                out.push(Tok::Sym(s));
                i += 2;
                continue;
            }
            let s = match c {
                '=' => "=",
                '<' => "<",
                '>' => ">",
                '(' => "(",
                ')' => ")",
                ',' => ",",
                '*' => "*",
                _ => {
                    return Err(invalid(format!(
                        "Unexpected character '{c}' in the expression."
                    )))
                }
            };
            out.push(Tok::Sym(s));
            i += 1;
        }
    }
    Ok(out)
}

/// A selected column.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// A property path.
    Prop(String),
    /// An aggregate over a path (`None`: `COUNT(*)`).
    Agg(&'static str, Option<String>),
}

impl Column {
    fn name(&self) -> String {
        match self {
            Column::Prop(p) => p.clone(),
            Column::Agg(f, None) => format!("{f}(*)"),
            Column::Agg(f, Some(p)) => format!("{f}({p})"),
        }
    }
}

#[derive(Debug, Clone)]
enum Cond {
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    Cmp(String, &'static str, Value),
    Between(String, Value, Value),
    In(String, Vec<Value>),
    Like(String, String),
}

/// A parsed query.
#[derive(Debug, Clone)]
pub struct Query {
    /// Selected columns, as written.
    pub columns: Vec<Column>,
    filter: Option<Cond>,
    group_by: Vec<String>,
    order_by: Vec<(String, bool)>,
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

const RESERVED: &[&str] = &[
    "SELECT", "WHERE", "GROUP", "BY", "ORDER", "AND", "OR", "NOT", "IN", "BETWEEN", "LIKE", "ASC",
    "DESC",
];
const UNSUPPORTED: &[&str] = &[
    "FROM", "DISTINCT", "HAVING", "JOIN", "UNION", "AS", "ALL", "IS", "NULL", "LIMIT",
];

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn keyword(&mut self, k: &str) -> bool {
        if let Some(Tok::Word(w)) = self.peek() {
            if w.eq_ignore_ascii_case(k) {
                self.at += 1;
                return true;
            }
        }
        false
    }

    fn sym(&mut self, s: &str) -> bool {
        if self.peek()
            == Some(&Tok::Sym(match s {
                "(" => "(",
                ")" => ")",
                "," => ",",
                "*" => "*",
                _ => return false,
            }))
        {
            self.at += 1;
            return true;
        }
        false
    }

    fn expect_sym(&mut self, s: &str) -> ApiResult<()> {
        if self.sym(s) {
            Ok(())
        } else {
            Err(invalid(format!("Expected '{s}' at {}.", self.here())))
        }
    }

    fn here(&self) -> String {
        match self.peek() {
            None => "the end of the expression".into(),
            Some(Tok::Word(w)) => format!("'{w}'"),
            Some(Tok::Str(s)) => format!("'{s}'"),
            Some(Tok::Num(n)) => format!("{n}"),
            Some(Tok::Sym(s)) => format!("'{s}'"),
        }
    }

    fn prop(&mut self) -> ApiResult<String> {
        match self.peek().cloned() {
            Some(Tok::Word(w)) => {
                let upper = w.to_ascii_uppercase();
                if UNSUPPORTED.contains(&upper.as_str()) {
                    return Err(invalid(format!(
                        "{upper} is not supported by SelectResourceConfig."
                    )));
                }
                if RESERVED.contains(&upper.as_str()) {
                    return Err(invalid(format!("Expected a property at '{w}'.")));
                }
                self.at += 1;
                check_prop(&w)?;
                Ok(w)
            }
            _ => Err(invalid(format!("Expected a property at {}.", self.here()))),
        }
    }

    fn value(&mut self) -> ApiResult<Value> {
        match self.peek().cloned() {
            Some(Tok::Str(s)) => {
                self.at += 1;
                Ok(json!(s))
            }
            Some(Tok::Num(n)) => {
                self.at += 1;
                Ok(json!(n))
            }
            Some(Tok::Word(w))
                if w.eq_ignore_ascii_case("true") || w.eq_ignore_ascii_case("false") =>
            {
                self.at += 1;
                Ok(json!(w.eq_ignore_ascii_case("true")))
            }
            _ => Err(invalid(format!("Expected a value at {}.", self.here()))),
        }
    }

    fn column(&mut self) -> ApiResult<Column> {
        if let Some(Tok::Word(w)) = self.peek().cloned() {
            let f = ["COUNT", "SUM", "AVG", "MIN", "MAX"]
                .into_iter()
                .find(|f| f.eq_ignore_ascii_case(&w));
            if let (Some(f), Some(Tok::Sym("("))) = (f, self.toks.get(self.at + 1)) {
                self.at += 2;
                let arg = if self.sym("*") {
                    if f != "COUNT" {
                        return Err(invalid(format!(
                            "{f}(*) is not supported; use {f}(property)."
                        )));
                    }
                    None
                } else {
                    Some(self.prop()?)
                };
                self.expect_sym(")")?;
                return Ok(Column::Agg(f, arg));
            }
        }
        Ok(Column::Prop(self.prop()?))
    }

    fn cond(&mut self) -> ApiResult<Cond> {
        let mut left = self.and()?;
        while self.keyword("OR") {
            left = Cond::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> ApiResult<Cond> {
        let mut left = self.not()?;
        while self.keyword("AND") {
            left = Cond::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> ApiResult<Cond> {
        if self.keyword("NOT") {
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        if self.sym("(") {
            let c = self.cond()?;
            self.expect_sym(")")?;
            return Ok(c);
        }
        let p = self.prop()?;
        let negate = self.keyword("NOT");
        let c = if self.keyword("BETWEEN") {
            let a = self.value()?;
            if !self.keyword("AND") {
                return Err(invalid(format!(
                    "Expected AND in BETWEEN at {}.",
                    self.here()
                )));
            }
            Cond::Between(p, a, self.value()?)
        } else if self.keyword("IN") {
            self.expect_sym("(")?;
            let mut vs = vec![self.value()?];
            while self.sym(",") {
                vs.push(self.value()?);
            }
            self.expect_sym(")")?;
            Cond::In(p, vs)
        } else if self.keyword("LIKE") {
            let Value::String(pat) = self.value()? else {
                return Err(invalid("LIKE takes a string pattern."));
            };
            check_like(&pat)?;
            Cond::Like(p, pat)
        } else {
            if negate {
                return Err(invalid(format!(
                    "Expected BETWEEN, IN or LIKE after NOT at {}.",
                    self.here()
                )));
            }
            let op = match self.peek() {
                Some(Tok::Sym(s)) if ["=", "!=", "<", "<=", ">", ">="].contains(s) => *s,
                _ => {
                    return Err(invalid(format!(
                        "Expected a comparison at {}.",
                        self.here()
                    )))
                }
            };
            self.at += 1;
            Cond::Cmp(p, op, self.value()?)
        };
        Ok(if negate { Cond::Not(Box::new(c)) } else { c })
    }
}

fn check_prop(p: &str) -> ApiResult<()> {
    let root = p.split('.').next().unwrap_or("");
    let known = SCALARS.contains(&p)
        || ([
            "configuration",
            "supplementaryConfiguration",
            "relationships",
            "tags",
        ]
        .contains(&root));
    if known && !p.split('.').any(str::is_empty) {
        Ok(())
    } else {
        Err(invalid(format!(
            "Property '{p}' is not supported: use {}, configuration.<path>, supplementaryConfiguration.<path>, relationships.<field> or tags.",
            SCALARS.join(", ")
        )))
    }
}

fn check_like(pat: &str) -> ApiResult<()> {
    let body = pat.strip_suffix('%').unwrap_or(pat);
    if body.contains('%') {
        return Err(invalid(format!(
            "LIKE '{pat}': only a wildcard at the end (suffix '%') is supported."
        )));
    }
    if pat.ends_with('%') && body.chars().filter(|c| *c != '_').count() < 3 {
        return Err(invalid(format!(
            "LIKE '{pat}': give at least 3 characters before the wildcard."
        )));
    }
    Ok(())
}

/// Parses an expression.
///
/// # Errors
/// `InvalidExpressionException` naming the problem.
pub fn parse(text: &str) -> ApiResult<Query> {
    let mut p = Parser {
        toks: lex(text)?,
        at: 0,
    };
    if !p.keyword("SELECT") {
        return Err(invalid("The expression must start with SELECT."));
    }
    let mut columns = Vec::new();
    if p.sym("*") {
        columns.extend(SCALARS.iter().map(|s| Column::Prop((*s).to_string())));
    } else {
        columns.push(p.column()?);
        while p.sym(",") {
            columns.push(p.column()?);
        }
    }
    let filter = if p.keyword("WHERE") {
        Some(p.cond()?)
    } else {
        None
    };
    let mut group_by = Vec::new();
    if p.keyword("GROUP") {
        if !p.keyword("BY") {
            return Err(invalid("Expected BY after GROUP."));
        }
        group_by.push(p.prop()?);
        while p.sym(",") {
            group_by.push(p.prop()?);
        }
        if group_by.len() > 3 {
            return Err(invalid("GROUP BY takes at most 3 properties."));
        }
    }
    let mut order_by = Vec::new();
    if p.keyword("ORDER") {
        if !p.keyword("BY") {
            return Err(invalid("Expected BY after ORDER."));
        }
        loop {
            let col = p.column()?.name();
            let desc = if p.keyword("DESC") {
                true
            } else {
                p.keyword("ASC");
                false
            };
            order_by.push((col, desc));
            if !p.sym(",") {
                break;
            }
        }
    }
    if p.peek().is_some() {
        let here = p.here();
        if let Some(Tok::Word(w)) = p.peek() {
            let up = w.to_ascii_uppercase();
            if UNSUPPORTED.contains(&up.as_str()) {
                return Err(invalid(format!(
                    "{up} is not supported by SelectResourceConfig."
                )));
            }
        }
        return Err(invalid(format!("Unexpected {here} in the expression.")));
    }
    let aggregated = columns.iter().any(|c| matches!(c, Column::Agg(..)));
    if aggregated || !group_by.is_empty() {
        for c in &columns {
            if let Column::Prop(p) = c {
                if !group_by.contains(p) {
                    return Err(invalid(format!(
                        "'{p}' must be in GROUP BY to be selected beside an aggregate."
                    )));
                }
            }
        }
    }
    Ok(Query {
        columns,
        filter,
        group_by,
        order_by,
    })
}

/// One group of a GROUP BY: its key values and its members with their weights.
type Group<'a> = (Vec<Value>, Vec<(&'a Value, u64)>);

/// Every value at `path` in `doc`, arrays flattened.
fn values_at<'a>(doc: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut cur = vec![doc];
    for seg in path.split('.') {
        let mut next = Vec::new();
        for v in cur {
            collect(v, seg, &mut next);
        }
        cur = next;
    }
    let mut out = Vec::new();
    for v in cur {
        match v {
            Value::Array(a) => out.extend(a.iter()),
            v => out.push(v),
        }
    }
    out
}

fn collect<'a>(v: &'a Value, seg: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            if let Some(x) = m.get(seg) {
                out.push(x);
            }
        }
        Value::Array(a) => {
            for x in a {
                collect(x, seg, out);
            }
        }
        _ => {}
    }
}

fn cidr(text: &str) -> Option<(u32, u32)> {
    let (ip, bits) = match text.split_once('/') {
        Some((ip, b)) => (ip, b.parse::<u32>().ok()?),
        None => (text, 32),
    };
    if bits > 32 {
        return None;
    }
    let ip: std::net::Ipv4Addr = ip.parse().ok()?;
    let n = u32::from(ip);
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    Some((n & mask, (n & mask) | !mask))
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::Number(y)) => x.parse::<f64>().ok()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::String(y)) => Some(x.to_string().cmp(y)),
        _ => None,
    }
}

fn matches_cmp(v: &Value, op: &str, lit: &Value) -> bool {
    // CIDR blocks compare as ranges: '=' holds when the field's range covers the value.
    if let (Value::String(f), Value::String(l)) = (v, lit) {
        if f.contains('/') || l.contains('/') {
            if let (Some((fa, fb)), Some((la, lb))) = (cidr(f), cidr(l)) {
                return match op {
                    "=" => fa <= la && lb <= fb,
                    "!=" => !(fa <= la && lb <= fb),
                    _ => false,
                };
            }
        }
    }
    let Some(o) = compare(v, lit) else {
        return op == "!=";
    };
    match op {
        "=" => o == Ordering::Equal,
        "!=" => o != Ordering::Equal,
        "<" => o == Ordering::Less,
        "<=" => o != Ordering::Greater,
        ">" => o == Ordering::Greater,
        _ => o != Ordering::Less,
    }
}

fn like(v: &Value, pat: &str) -> bool {
    let Value::String(s) = v else { return false };
    let (body, prefix) = match pat.strip_suffix('%') {
        Some(b) => (b, true),
        None => (pat, false),
    };
    let sc: Vec<char> = s.chars().collect();
    let pc: Vec<char> = body.chars().collect();
    if sc.len() < pc.len() || (!prefix && sc.len() != pc.len()) {
        return false;
    }
    pc.iter()
        .zip(&sc)
        .all(|(p, c)| *p == '_' || p.eq_ignore_ascii_case(c))
}

fn eval(c: &Cond, doc: &Value) -> bool {
    match c {
        Cond::And(a, b) => eval(a, doc) && eval(b, doc),
        Cond::Or(a, b) => eval(a, doc) || eval(b, doc),
        Cond::Not(a) => !eval(a, doc),
        Cond::Cmp(p, op, lit) => {
            let vs = values_at(doc, p);
            if *op == "!=" {
                !vs.is_empty() && vs.iter().all(|v| matches_cmp(v, op, lit))
            } else {
                vs.iter().any(|v| matches_cmp(v, op, lit))
            }
        }
        Cond::Between(p, a, b) => values_at(doc, p).iter().any(|v| {
            if let (Value::String(f), Value::String(la), Value::String(lb)) = (v, a, b) {
                if let (Some((fa, fb)), Some((la, _)), Some((_, lb))) =
                    (cidr(f), cidr(la), cidr(lb))
                {
                    if f.contains('/') || f.parse::<std::net::Ipv4Addr>().is_ok() {
                        return fa <= lb && la <= fb;
                    }
                }
            }
            compare(v, a).is_some_and(|o| o != Ordering::Less)
                && compare(v, b).is_some_and(|o| o != Ordering::Greater)
        }),
        Cond::In(p, lits) => values_at(doc, p)
            .iter()
            .any(|v| lits.iter().any(|l| matches_cmp(v, "=", l))),
        Cond::Like(p, pat) => values_at(doc, p).iter().any(|v| like(v, pat)),
    }
}

/// Puts `value` at the dotted `path` of `row`.
fn nest(row: &mut Map<String, Value>, path: &str, value: Value) {
    let mut parts = path.split('.').peekable();
    let mut cur = row;
    while let Some(p) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(p.to_string(), value);
            return;
        }
        let e = cur.entry(p.to_string()).or_insert_with(|| json!({}));
        if !e.is_object() {
            *e = json!({});
        }
        let Value::Object(m) = e else { return };
        cur = m;
    }
}

/// The value a path selects from one document (a single value, or the list of them).
fn select(doc: &Value, path: &str) -> Value {
    let mut cur = vec![doc];
    for seg in path.split('.') {
        let mut next = Vec::new();
        for v in cur {
            collect(v, seg, &mut next);
        }
        cur = next;
    }
    match cur.len() {
        0 => Value::Null,
        1 => cur[0].clone(),
        _ => Value::Array(cur.into_iter().cloned().collect()),
    }
}

fn sort_key(row: &Value, col: &str) -> Value {
    select(row, col)
}

/// The values a top-level AND chain pins `prop` to (`prop = 'v'` or `prop IN (...)`), if
/// any: the scan then reads only those scopes.
fn pinned(c: &Cond, prop: &str) -> Option<Vec<String>> {
    match c {
        Cond::And(a, b) => match (pinned(a, prop), pinned(b, prop)) {
            (Some(x), Some(y)) => Some(x.into_iter().filter(|v| y.contains(v)).collect()),
            (x, None) => x,
            (None, y) => y,
        },
        Cond::Cmp(p, "=", Value::String(v)) if p == prop => Some(vec![v.clone()]),
        Cond::In(p, vs) if p == prop => vs
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>(),
        _ => None,
    }
}

impl Query {
    /// The resource types the WHERE clause allows (`None`: any), to skip other scopes.
    pub fn types(&self) -> Option<Vec<String>> {
        self.filter.as_ref().and_then(|c| pinned(c, "resourceType"))
    }

    /// The accounts the WHERE clause allows.
    pub fn accounts(&self) -> Option<Vec<String>> {
        self.filter.as_ref().and_then(|c| pinned(c, "accountId"))
    }

    /// The regions the WHERE clause allows.
    pub fn regions(&self) -> Option<Vec<String>> {
        self.filter.as_ref().and_then(|c| pinned(c, "awsRegion"))
    }

    /// The parts of a matching document the result needs (selected, grouped, ordered and
    /// aggregated paths): what is kept of each match until the rows are built, so a query
    /// over a million items holds a million small values, not a million documents.
    pub fn reduce(&self, doc: &Value) -> Value {
        let mut paths: Vec<&str> = Vec::new();
        for c in &self.columns {
            match c {
                Column::Prop(p) | Column::Agg(_, Some(p)) => paths.push(p),
                Column::Agg(_, None) => {}
            }
        }
        paths.extend(self.group_by.iter().map(String::as_str));
        paths.extend(
            self.order_by
                .iter()
                .map(|(c, _)| c.as_str())
                .filter(|c| !c.contains('(')),
        );
        let mut row = Map::new();
        for p in paths {
            let v = select(doc, p);
            if !v.is_null() {
                nest(&mut row, p, v);
            }
        }
        Value::Object(row)
    }

    /// True when the item matches the WHERE clause.
    pub fn matches(&self, doc: &Value) -> bool {
        self.filter.as_ref().is_none_or(|c| eval(c, doc))
    }

    /// The `SelectFields` names.
    pub fn field_names(&self) -> Vec<String> {
        self.columns.iter().map(Column::name).collect()
    }

    /// Turns the matching documents into result rows (aggregated, grouped, ordered).
    pub fn rows(&self, docs: &[Value]) -> Vec<Value> {
        self.rows_weighted(docs, None)
    }

    /// True when the query only counts resources by type, account and region (no other
    /// property, no other aggregate, a WHERE on those alone): it can be answered from the
    /// number of resources per scope, without reading one item.
    pub fn counts_scopes(&self) -> bool {
        const SCOPE: [&str; 3] = ["resourceType", "accountId", "awsRegion"];
        fn scope_only(c: &Cond) -> bool {
            match c {
                Cond::And(a, b) => scope_only(a) && scope_only(b),
                Cond::Cmp(p, "=", Value::String(_)) => SCOPE.contains(&p.as_str()),
                Cond::In(p, vs) => SCOPE.contains(&p.as_str()) && vs.iter().all(Value::is_string),
                _ => false,
            }
        }
        self.columns
            .iter()
            .any(|c| matches!(c, Column::Agg("COUNT", None)))
            && self.columns.iter().all(|c| match c {
                Column::Agg(f, arg) => *f == "COUNT" && arg.is_none(),
                Column::Prop(p) => self.group_by.contains(p),
            })
            && self.group_by.iter().all(|g| SCOPE.contains(&g.as_str()))
            && self.filter.as_ref().is_none_or(scope_only)
    }

    /// [`Self::rows`] where each document stands for `weights[i]` resources (`COUNT(*)`
    /// sums them): the per-scope answer of [`Self::counts_scopes`] queries.
    pub fn rows_weighted(&self, docs: &[Value], weights: Option<&[u64]>) -> Vec<Value> {
        let weight = |i: usize| weights.and_then(|w| w.get(i).copied()).unwrap_or(1);
        let aggregated = self.columns.iter().any(|c| matches!(c, Column::Agg(..)));
        let mut rows: Vec<Value> = if aggregated || !self.group_by.is_empty() {
            let mut groups: Vec<Group<'_>> = Vec::new();
            let mut index: std::collections::HashMap<String, usize> =
                std::collections::HashMap::new();
            for (i, d) in docs.iter().enumerate() {
                let key: Vec<Value> = self.group_by.iter().map(|g| select(d, g)).collect();
                let k = Value::Array(key.clone()).to_string();
                match index.get(&k) {
                    Some(&g) => groups[g].1.push((d, weight(i))),
                    None => {
                        index.insert(k, groups.len());
                        groups.push((key, vec![(d, weight(i))]));
                    }
                }
            }
            if groups.is_empty() && self.group_by.is_empty() {
                groups.push((Vec::new(), Vec::new()));
            }
            groups
                .into_iter()
                .map(|(key, members)| {
                    let mut row = Map::new();
                    for (g, k) in self.group_by.iter().zip(key) {
                        nest(&mut row, g, k);
                    }
                    for c in &self.columns {
                        if let Column::Agg(f, arg) = c {
                            row.insert(c.name(), aggregate(f, arg.as_deref(), &members));
                        }
                    }
                    Value::Object(row)
                })
                .collect()
        } else {
            docs.iter()
                .map(|d| {
                    let mut row = Map::new();
                    for c in &self.columns {
                        if let Column::Prop(p) = c {
                            let v = select(d, p);
                            if !v.is_null() {
                                nest(&mut row, p, v);
                            }
                        }
                    }
                    Value::Object(row)
                })
                .collect()
        };
        if !self.order_by.is_empty() {
            rows.sort_by(|a, b| {
                for (col, desc) in &self.order_by {
                    let (x, y) = (sort_key(a, col), sort_key(b, col));
                    let o = compare(&x, &y).unwrap_or_else(|| x.to_string().cmp(&y.to_string()));
                    let o = if *desc { o.reverse() } else { o };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                Ordering::Equal
            });
        }
        rows
    }
}

fn aggregate(f: &str, arg: Option<&str>, members: &[(&Value, u64)]) -> Value {
    let vals: Vec<&Value> = match arg {
        None => return json!(members.iter().map(|(_, w)| w).sum::<u64>()),
        Some(p) => members.iter().flat_map(|(d, _)| values_at(d, p)).collect(),
    };
    match f {
        "COUNT" => json!(vals.len()),
        "MIN" | "MAX" => {
            let mut best: Option<&Value> = None;
            for v in vals {
                best = match best {
                    None => Some(v),
                    Some(b) => {
                        let o = compare(v, b).unwrap_or(Ordering::Equal);
                        if (f == "MIN" && o == Ordering::Less)
                            || (f == "MAX" && o == Ordering::Greater)
                        {
                            Some(v)
                        } else {
                            Some(b)
                        }
                    }
                };
            }
            best.cloned().unwrap_or(Value::Null)
        }
        _ => {
            let nums: Vec<f64> = vals
                .iter()
                .filter_map(|v| {
                    v.as_f64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                })
                .collect();
            let sum: f64 = nums.iter().sum();
            if f == "SUM" {
                json!(sum)
            } else if nums.is_empty() {
                Value::Null
            } else {
                #[allow(clippy::cast_precision_loss, reason = "counts far below 2^52")]
                let n = nums.len() as f64;
                json!(sum / n)
            }
        }
    }
}

#[cfg(test)]
mod tests;
