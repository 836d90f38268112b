//! Reading a request body with the model's constraints. botocore checks required members,
//! types and minimums only, never maximums, patterns or enums (spec §1), so every
//! constraint is enforced here, with AWS's wording.

use crate::error::{ApiError, ApiResult};
use serde_json::{Map, Value};

/// A request (or nested structure) body.
#[derive(Debug, Clone, Default)]
pub struct Input {
    map: Map<String, Value>,
    /// Member path prefix for messages (`configurationRecorder.`).
    path: String,
}

fn serialization(message: impl Into<String>) -> ApiError {
    ApiError::new("SerializationException", message)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "structure",
    }
}

/// AWS's member path: the first letter lower-cased.
pub(crate) fn member(name: &str) -> String {
    let mut c = name.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

impl Input {
    /// Parses a body: a JSON object, `{}` or empty when there are no parameters.
    ///
    /// # Errors
    /// `SerializationException` for anything else.
    pub fn parse(body: &[u8]) -> ApiResult<Self> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(Self {
                map,
                path: String::new(),
            }),
            Ok(v) => Err(serialization(format!(
                "The request body must be a JSON object, not a {}.",
                kind(&v)
            ))),
            Err(e) => Err(serialization(format!(
                "The request body is not valid JSON: {e}"
            ))),
        }
    }

    fn label(&self, name: &str) -> String {
        format!("{}{}", self.path, member(name))
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    /// True when the member is present (and not null).
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    fn wrong(&self, name: &str, v: &Value, want: &str) -> ApiError {
        serialization(format!(
            "Member '{}' must be a {want}, not a {}.",
            self.label(name),
            kind(v)
        ))
    }

    /// An error naming a required member that is missing.
    pub fn missing(&self, name: &str) -> ApiError {
        ApiError::validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            self.label(name)
        ))
    }

    /// An optional string of `min..=max` characters.
    ///
    /// # Errors
    /// `SerializationException` for another type, `ValidationException` for the length.
    pub fn string(&self, name: &str, min: usize, max: usize) -> ApiResult<Option<String>> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let Value::String(s) = v else {
            return Err(self.wrong(name, v, "string"));
        };
        let n = s.chars().count();
        if n < min {
            return Err(ApiError::constraint(
                s,
                &self.label(name),
                &format!("Member must have length greater than or equal to {min}"),
            ));
        }
        if n > max {
            return Err(ApiError::constraint(
                &s.chars().take(64).collect::<String>(),
                &self.label(name),
                &format!("Member must have length less than or equal to {max}"),
            ));
        }
        Ok(Some(s.clone()))
    }

    /// A required string.
    ///
    /// # Errors
    /// As [`Self::string`], and `ValidationException` when missing.
    pub fn required_string(&self, name: &str, min: usize, max: usize) -> ApiResult<String> {
        self.string(name, min, max)?
            .ok_or_else(|| self.missing(name))
    }

    /// A string that must be one of `allowed`.
    ///
    /// # Errors
    /// `ValidationException` naming the allowed values.
    pub fn enumerated(&self, name: &str, allowed: &[&str]) -> ApiResult<Option<String>> {
        let Some(s) = self.string(name, 0, usize::MAX)? else {
            return Ok(None);
        };
        if allowed.contains(&s.as_str()) {
            Ok(Some(s))
        } else {
            Err(ApiError::constraint(
                &s,
                &self.label(name),
                &format!(
                    "Member must satisfy enum value set: [{}]",
                    allowed.join(", ")
                ),
            ))
        }
    }

    /// An optional boolean.
    ///
    /// # Errors
    /// `SerializationException` for another type.
    pub fn boolean(&self, name: &str) -> ApiResult<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.wrong(name, v, "boolean")),
        }
    }

    /// An optional integer in `min..=max`.
    ///
    /// # Errors
    /// `SerializationException` for another type, `ValidationException` out of range.
    pub fn integer(&self, name: &str, min: i64, max: i64) -> ApiResult<Option<i64>> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let Some(n) = v.as_i64() else {
            return Err(self.wrong(name, v, "integer"));
        };
        if n < min {
            return Err(ApiError::constraint(
                &n.to_string(),
                &self.label(name),
                &format!("Member must have value greater than or equal to {min}"),
            ));
        }
        if n > max {
            return Err(ApiError::constraint(
                &n.to_string(),
                &self.label(name),
                &format!("Member must have value less than or equal to {max}"),
            ));
        }
        Ok(Some(n))
    }

    /// A page size: `0` or absent means `default`, above `max` is refused.
    ///
    /// # Errors
    /// As [`Self::integer`].
    pub fn limit(&self, name: &str, max: i64, default: usize) -> ApiResult<usize> {
        Ok(match self.integer(name, 0, max)? {
            None | Some(0) => default,
            Some(n) => usize::try_from(n).unwrap_or(default),
        })
    }

    /// A timestamp: epoch seconds (a number, fractions allowed) or an ISO 8601 string, as
    /// botocore may send either. Returned in epoch milliseconds.
    ///
    /// # Errors
    /// `SerializationException` for anything else.
    pub fn time(&self, name: &str) -> ApiResult<Option<i64>> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        #[allow(clippy::cast_possible_truncation, reason = "epoch ms fit i64")]
        match v {
            Value::Number(n) => n
                .as_f64()
                .map(|s| Some((s * 1000.0).round() as i64))
                .ok_or_else(|| self.wrong(name, v, "timestamp")),
            Value::String(s) => driftlog_model::time::parse_rfc3339_ms(s)
                .map(Some)
                .map_err(|_| self.wrong(name, v, "timestamp (epoch seconds or ISO 8601)")),
            _ => Err(self.wrong(name, v, "timestamp")),
        }
    }

    /// An optional list of at most `max_items` members.
    fn list(&self, name: &str, max_items: usize) -> ApiResult<Option<&Vec<Value>>> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let Value::Array(list) = v else {
            return Err(self.wrong(name, v, "list"));
        };
        if list.len() > max_items {
            // AWS prints the list itself; a list of structures by its size.
            let shown = if list.iter().all(Value::is_string) {
                format!(
                    "[{}]",
                    list.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                format!("[{} items]", list.len())
            };
            return Err(ApiError::constraint(
                &shown,
                &self.label(name),
                &format!("Member must have length less than or equal to {max_items}"),
            ));
        }
        Ok(Some(list))
    }

    /// An optional list of strings, at most `max_items`, each `min..=max` long.
    ///
    /// # Errors
    /// `SerializationException` for other types, `ValidationException` for sizes.
    pub fn strings(
        &self,
        name: &str,
        max_items: usize,
        min: usize,
        max: usize,
    ) -> ApiResult<Option<Vec<String>>> {
        let Some(list) = self.list(name, max_items)? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            let Value::String(s) = item else {
                return Err(serialization(format!(
                    "Member '{}.{}' must be a string, not a {}.",
                    self.label(name),
                    i + 1,
                    kind(item)
                )));
            };
            let n = s.chars().count();
            if n < min || n > max {
                return Err(ApiError::constraint(
                    s,
                    &format!("{}.{}.member", self.label(name), i + 1),
                    &format!("Member must have length between {min} and {max}"),
                ));
            }
            out.push(s.clone());
        }
        Ok(Some(out))
    }

    /// An optional nested structure.
    ///
    /// # Errors
    /// `SerializationException` for another type.
    pub fn object(&self, name: &str) -> ApiResult<Option<Input>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(Input {
                map: m.clone(),
                path: format!("{}.", self.label(name)),
            })),
            Some(v) => Err(self.wrong(name, v, "structure")),
        }
    }

    /// An optional list of structures, at most `max_items`.
    ///
    /// # Errors
    /// `SerializationException` for other types, `ValidationException` for the size.
    pub fn objects(&self, name: &str, max_items: usize) -> ApiResult<Option<Vec<Input>>> {
        let Some(list) = self.list(name, max_items)? else {
            return Ok(None);
        };
        list.iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(m) => Ok(Input {
                    map: m.clone(),
                    path: format!("{}.{}.member.", self.label(name), i + 1),
                }),
                v => Err(serialization(format!(
                    "Member '{}.{}' must be a structure, not a {}.",
                    self.label(name),
                    i + 1,
                    kind(v)
                ))),
            })
            .collect::<ApiResult<Vec<_>>>()
            .map(Some)
    }

    /// The members as given, null ones left out (for echoing a structure back).
    pub fn raw_map(&self) -> Map<String, Value> {
        self.map
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The raw value of a member (for echoing structures back as given).
    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}
