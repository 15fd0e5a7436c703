//! The filter language of RFC 7644 §3.4.2.2: AST, parser, printer, static checks and evaluator.
//!
//! * [`Filter::parse`] turns a filter string into a [`Filter`] AST, with hard limits on input
//!   length, nesting depth and expression count ([`FilterLimits`]) so hostile input yields an
//!   `invalidFilter` error, never a stack overflow.
//! * `Display` prints the canonical form; `Filter::parse(&f.to_string()) == Ok(f)`.
//! * [`Filter::check`] validates the filter against a resource schema and a
//!   [`ProtectionProfile`] (unknown attributes, operator/type mismatches, sealed attributes).
//! * [`Filter::matches`] evaluates against a JSON resource using the schema's `caseExact` and
//!   types. Stores can instead translate the public AST.

use std::cmp::Ordering;
use std::fmt;

use serde_json::{Number, Value};

use crate::datetime::parse_datetime;
use crate::error::{ScimError, ScimResult};
use crate::path::{clip, get_ci, is_path_char, parse_path_token, AttrPath};
use crate::protection::{is_index_token, Protection, ProtectionProfile};
use crate::resource_type::ResourceSchema;
use crate::schema::{AttrType, AttributeDef, Mutability, Returned};

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `co`
    Co,
    /// `sw`
    Sw,
    /// `ew`
    Ew,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
    /// `lt`
    Lt,
    /// `le`
    Le,
}

impl CompareOp {
    /// Lower-case keyword.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Co => "co",
            Self::Sw => "sw",
            Self::Ew => "ew",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }

    fn from_keyword(k: &str) -> Option<Self> {
        Some(match k.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "co" => Self::Co,
            "sw" => Self::Sw,
            "ew" => Self::Ew,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }

    fn is_ordering(self) -> bool {
        matches!(self, Self::Gt | Self::Ge | Self::Lt | Self::Le)
    }

    fn is_substring(self) -> bool {
        matches!(self, Self::Co | Self::Sw | Self::Ew)
    }
}

/// A comparison value (`compValue`).
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A JSON number.
    Number(Number),
    /// A JSON string.
    Str(String),
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Number(n) => write!(f, "{n}"),
            Self::Str(s) => {
                let quoted = serde_json::to_string(s).map_err(|_| fmt::Error)?;
                f.write_str(&quoted)
            }
        }
    }
}

/// Filter AST.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attrPath op compValue`
    Compare {
        /// Attribute path.
        path: AttrPath,
        /// Operator.
        op: CompareOp,
        /// Comparison value.
        value: CompValue,
    },
    /// `attrPath pr`
    Present {
        /// Attribute path.
        path: AttrPath,
    },
    /// `a and b`
    And(Box<Filter>, Box<Filter>),
    /// `a or b`
    Or(Box<Filter>, Box<Filter>),
    /// `not (a)`
    Not(Box<Filter>),
    /// `attrPath[valFilter]`: the inner filter's paths are relative to each value of `path`.
    ValuePath {
        /// The (complex) attribute whose values are filtered.
        path: AttrPath,
        /// Filter applied to each value.
        filter: Box<Filter>,
    },
}

/// Limits applied while parsing filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterLimits {
    /// Maximum filter length in bytes.
    pub max_len: usize,
    /// Maximum nesting depth of `( )`, `not ( )` and `[ ]`.
    pub max_depth: usize,
    /// Maximum number of AST nodes.
    pub max_nodes: usize,
}

impl Default for FilterLimits {
    fn default() -> Self {
        Self {
            max_len: 8192,
            max_depth: 32,
            max_nodes: 512,
        }
    }
}

impl Filter {
    /// Parse with the default [`FilterLimits`].
    pub fn parse(s: &str) -> ScimResult<Self> {
        Self::parse_with_limits(s, FilterLimits::default())
    }

    /// Parse with explicit limits.
    pub fn parse_with_limits(s: &str, limits: FilterLimits) -> ScimResult<Self> {
        if s.len() > limits.max_len {
            return Err(ScimError::invalid_filter(format!(
                "filter is {} bytes long; the maximum is {}",
                s.len(),
                limits.max_len
            )));
        }
        let mut p = Parser::new(s, limits, false);
        p.skip_ws();
        if p.at_end() {
            return Err(ScimError::invalid_filter("filter is empty"));
        }
        let f = p.parse_or()?;
        p.skip_ws();
        if !p.at_end() {
            return Err(p.err("unexpected input after the end of the filter"));
        }
        Ok(f)
    }

    /// `a and b`
    #[must_use]
    pub fn and(a: Filter, b: Filter) -> Self {
        Self::And(Box::new(a), Box::new(b))
    }

    /// `a or b`
    #[must_use]
    pub fn or(a: Filter, b: Filter) -> Self {
        Self::Or(Box::new(a), Box::new(b))
    }

    /// `not (a)`
    #[must_use]
    pub fn negate(a: Filter) -> Self {
        Self::Not(Box::new(a))
    }

    /// Every attribute path the filter references, fully resolved against `rs`
    /// (inner paths of value filters are reported as `attr.sub`).
    pub fn attribute_paths(&self, rs: &ResourceSchema) -> ScimResult<Vec<String>> {
        let mut out = Vec::new();
        self.collect_paths(rs, None, &mut out)?;
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn collect_paths(
        &self,
        rs: &ResourceSchema,
        parent: Option<&AttrPath>,
        out: &mut Vec<String>,
    ) -> ScimResult<()> {
        match self {
            Self::And(a, b) | Self::Or(a, b) => {
                a.collect_paths(rs, parent, out)?;
                b.collect_paths(rs, parent, out)
            }
            Self::Not(a) => a.collect_paths(rs, parent, out),
            Self::Compare { path, .. } | Self::Present { path } => {
                out.push(rs.resolve(&path.under(parent))?.qualified_name());
                Ok(())
            }
            Self::ValuePath { path, filter } => filter.collect_paths(rs, Some(path), out),
        }
    }

    /// Statically validate the filter against a resource schema and protection profile.
    ///
    /// Errors (all `invalidFilter`): unknown attributes, operators not valid for the attribute
    /// type (`gt` on a boolean, `co` on a number…), comparison values of the wrong type,
    /// malformed dateTime literals, value filters on non-complex attributes, and any use of a
    /// sealed attribute other than `eq` with a blind-index token on an indexed attribute.
    pub fn check(&self, rs: &ResourceSchema, protection: &ProtectionProfile) -> ScimResult<()> {
        self.check_in(rs, protection, None)
    }

    fn check_in(
        &self,
        rs: &ResourceSchema,
        prot: &ProtectionProfile,
        parent: Option<(&str, &AttributeDef)>,
    ) -> ScimResult<()> {
        match self {
            Self::And(a, b) | Self::Or(a, b) => {
                a.check_in(rs, prot, parent)?;
                b.check_in(rs, prot, parent)
            }
            Self::Not(a) => a.check_in(rs, prot, parent),
            Self::ValuePath { path, filter } => {
                if parent.is_some() {
                    return Err(ScimError::invalid_filter(format!(
                        "nested value filter on '{path}' is not allowed"
                    )));
                }
                let r = rs.resolve(path).map_err(to_filter_err)?;
                if r.sub.is_some() || r.attr.attr_type != AttrType::Complex {
                    return Err(ScimError::invalid_filter(format!(
                        "value filter '{path}[…]' requires a complex attribute"
                    )));
                }
                filter.check_in(rs, prot, Some((r.schema, r.attr)))
            }
            Self::Present { path } => {
                let (schema, attr, sub) = check_resolve(rs, path, parent)?;
                let p = prot.protection_of(schema, &attr.name, sub.map(|s| s.name.as_str()));
                if p != Protection::Clear {
                    return Err(sealed_err(schema, attr, sub, "pr"));
                }
                Ok(())
            }
            Self::Compare { path, op, value } => {
                let (schema, attr, sub) = check_resolve(rs, path, parent)?;
                let mut leaf = sub.unwrap_or(attr);
                let mut sub_name = sub.map(|s| s.name.as_str());
                if sub.is_none() && attr.attr_type == AttrType::Complex {
                    // `emails co "x"` compares the `value` sub-attribute.
                    match attr.sub("value") {
                        Some(v) => {
                            leaf = v;
                            sub_name = Some(v.name.as_str());
                        }
                        None => {
                            return Err(ScimError::invalid_filter(format!(
                                "attribute '{path}' is complex; compare one of its sub-attributes (e.g. '{}.{}')",
                                attr.name,
                                attr.sub_attributes.first().map_or("sub", |s| s.name.as_str())
                            )))
                        }
                    }
                }
                let display = match sub_name {
                    Some(s) => format!("{}.{s}", attr.name),
                    None => attr.name.clone(),
                };
                match prot.protection_of(schema, &attr.name, sub_name) {
                    Protection::Clear => {}
                    Protection::Sealed => {
                        return Err(ScimError::invalid_filter(format!(
                            "attribute '{schema}:{display}' is sealed and has no blind index; it cannot be used in a filter"
                        )))
                    }
                    Protection::SealedIndexed => {
                        if *op != CompareOp::Eq {
                            return Err(ScimError::invalid_filter(format!(
                                "operator '{}' is not allowed on sealed attribute '{schema}:{display}'; only 'eq' with a blind-index token (zkx1.…) is supported",
                                op.as_str()
                            )));
                        }
                        match value {
                            CompValue::Str(s) if is_index_token(s) => return Ok(()),
                            _ => {
                                return Err(ScimError::invalid_filter(format!(
                                    "attribute '{schema}:{display}' is sealed; 'eq' must compare against its blind-index token (zkx1.…), not a plaintext value"
                                )))
                            }
                        }
                    }
                }
                check_types(&display, leaf, *op, value)
            }
        }
    }

    /// Evaluate the filter against a resource (a JSON object).
    ///
    /// Multi-valued attributes match if any value matches; `ne` is the negation of `eq`
    /// (so it matches when the attribute is absent); string comparison honours `caseExact`;
    /// `dateTime` values compare chronologically; values of mismatched type never match.
    /// Run [`Filter::check`] first to turn such mismatches into errors.
    #[must_use]
    pub fn matches(&self, resource: &Value, rs: &ResourceSchema) -> bool {
        self.eval(resource, rs, None)
    }

    /// Evaluate a value-filter (the part inside `attr[…]`) against one value of `parent`.
    pub(crate) fn matches_element(
        &self,
        elem: &Value,
        rs: &ResourceSchema,
        parent: &AttributeDef,
    ) -> bool {
        self.eval(elem, rs, Some(parent))
    }

    fn eval(&self, target: &Value, rs: &ResourceSchema, parent: Option<&AttributeDef>) -> bool {
        match self {
            Self::And(a, b) => a.eval(target, rs, parent) && b.eval(target, rs, parent),
            Self::Or(a, b) => a.eval(target, rs, parent) || b.eval(target, rs, parent),
            Self::Not(a) => !a.eval(target, rs, parent),
            Self::Present { path } => {
                let (vals, _) = lookup_values(target, rs, parent, path);
                vals.iter().any(|v| is_present(v))
            }
            Self::ValuePath { path, filter } => {
                if parent.is_some() {
                    return false;
                }
                let (vals, def) = lookup_values(target, rs, None, path);
                let Some(def) = def else { return false };
                vals.iter()
                    .any(|v| v.is_object() && filter.eval(v, rs, Some(def)))
            }
            Self::Compare { path, op, value } => {
                let (mut vals, def) = lookup_values(target, rs, parent, path);
                let mut leaf = def;
                if let Some(d) = def {
                    if d.attr_type == AttrType::Complex && path.sub_attr.is_none() {
                        leaf = d.sub("value");
                        vals = vals
                            .into_iter()
                            .filter_map(|v| v.as_object().and_then(|o| get_ci(o, "value")))
                            .collect();
                    }
                }
                let present: Vec<&Value> = vals.into_iter().filter(|v| is_present(v)).collect();
                match (op, value) {
                    (CompareOp::Eq, CompValue::Null) => present.is_empty(),
                    (CompareOp::Ne, CompValue::Null) => !present.is_empty(),
                    (_, CompValue::Null) => false,
                    (CompareOp::Ne, v) => !present
                        .iter()
                        .any(|s| compare_one(CompareOp::Eq, s, v, leaf)),
                    (o, v) => present.iter().any(|s| compare_one(*o, s, v, leaf)),
                }
            }
        }
    }
}

fn to_filter_err(e: ScimError) -> ScimError {
    ScimError::invalid_filter(e.detail().to_owned())
}

fn sealed_err(
    schema: &str,
    attr: &AttributeDef,
    sub: Option<&AttributeDef>,
    op: &str,
) -> ScimError {
    let name = match sub {
        Some(s) => format!("{}.{}", attr.name, s.name),
        None => attr.name.clone(),
    };
    ScimError::invalid_filter(format!(
        "operator '{op}' is not allowed on sealed attribute '{schema}:{name}'; only 'eq' with a blind-index token (zkx1.…) on an indexed attribute is supported"
    ))
}

type Checked<'a> = (&'a str, &'a AttributeDef, Option<&'a AttributeDef>);

fn check_resolve<'a>(
    rs: &'a ResourceSchema,
    path: &AttrPath,
    parent: Option<(&'a str, &'a AttributeDef)>,
) -> ScimResult<Checked<'a>> {
    let checked = check_resolve_inner(rs, path, parent)?;
    for d in [Some(checked.1), checked.2].into_iter().flatten() {
        if d.mutability == Mutability::WriteOnly || d.returned == Returned::Never {
            return Err(ScimError::invalid_filter(format!(
                "attribute '{}' is never returned and cannot be used in a filter",
                d.name
            )));
        }
    }
    Ok(checked)
}

fn check_resolve_inner<'a>(
    rs: &'a ResourceSchema,
    path: &AttrPath,
    parent: Option<(&'a str, &'a AttributeDef)>,
) -> ScimResult<Checked<'a>> {
    match parent {
        None => {
            let r = rs.resolve(path).map_err(to_filter_err)?;
            Ok((r.schema, r.attr, r.sub))
        }
        Some((schema, pdef)) => {
            if path.urn.is_some() || path.sub_attr.is_some() {
                return Err(ScimError::invalid_filter(format!(
                    "inside '{}[…]' use plain sub-attribute names, not '{path}'",
                    pdef.name
                )));
            }
            let sub = pdef.sub(&path.name).ok_or_else(|| {
                ScimError::invalid_filter(format!(
                    "attribute '{}' has no sub-attribute '{}'",
                    pdef.name,
                    clip(&path.name)
                ))
            })?;
            Ok((schema, pdef, Some(sub)))
        }
    }
}

fn check_types(
    name: &str,
    leaf: &AttributeDef,
    op: CompareOp,
    value: &CompValue,
) -> ScimResult<()> {
    let bad_op = || {
        ScimError::invalid_filter(format!(
            "operator '{}' cannot be applied to {} attribute '{name}'",
            op.as_str(),
            leaf.attr_type.as_str()
        ))
    };
    let bad_val = |what: &str| {
        ScimError::invalid_filter(format!(
            "attribute '{name}' is of type {} but the comparison value is {what}",
            leaf.attr_type.as_str()
        ))
    };
    let kind = match value {
        CompValue::Null => return Ok(()),
        CompValue::Bool(_) => "a boolean",
        CompValue::Number(_) => "a number",
        CompValue::Str(_) => "a string",
    };
    match leaf.attr_type {
        AttrType::Boolean => {
            if op != CompareOp::Eq && op != CompareOp::Ne {
                return Err(bad_op());
            }
            match value {
                CompValue::Bool(_) => Ok(()),
                CompValue::Str(s)
                    if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") =>
                {
                    Ok(())
                }
                _ => Err(bad_val(kind)),
            }
        }
        AttrType::Integer | AttrType::Decimal => {
            if op.is_substring() {
                return Err(bad_op());
            }
            match value {
                CompValue::Number(_) => Ok(()),
                _ => Err(bad_val(kind)),
            }
        }
        AttrType::Binary => {
            if op.is_ordering() {
                return Err(bad_op());
            }
            match value {
                CompValue::Str(_) => Ok(()),
                _ => Err(bad_val(kind)),
            }
        }
        AttrType::DateTime => match value {
            CompValue::Str(s) => {
                if !op.is_substring() && parse_datetime(s).is_none() {
                    return Err(ScimError::invalid_filter(format!(
                        "'{}' is not a valid dateTime for attribute '{name}' (expected e.g. 2011-05-13T04:42:34Z)",
                        clip(s)
                    )));
                }
                Ok(())
            }
            _ => Err(bad_val(kind)),
        },
        AttrType::String | AttrType::Reference => match value {
            CompValue::Str(_) => Ok(()),
            _ => Err(bad_val(kind)),
        },
        AttrType::Complex => Err(bad_op()),
    }
}

fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(is_present),
        Value::Object(o) => o.values().any(is_present),
        _ => true,
    }
}

/// Collect the values a path designates in `target` (arrays flattened) and its definition.
fn lookup_values<'v, 's>(
    target: &'v Value,
    rs: &'s ResourceSchema,
    parent: Option<&'s AttributeDef>,
    path: &AttrPath,
) -> (Vec<&'v Value>, Option<&'s AttributeDef>) {
    let Some(obj) = target.as_object() else {
        return (Vec::new(), None);
    };
    let (container, def, name) = match parent {
        Some(p) => {
            if path.urn.is_some() || path.sub_attr.is_some() {
                return (Vec::new(), None);
            }
            (Some(obj), p.sub(&path.name), path.name.as_str())
        }
        None => match rs.lookup(path.urn.as_deref(), &path.name) {
            Some(r) if r.in_extension => (
                get_ci(obj, r.schema).and_then(Value::as_object),
                Some(r.def),
                r.def.name.as_str(),
            ),
            Some(r) => (Some(obj), Some(r.def), r.def.name.as_str()),
            None if path.urn.is_none() => (Some(obj), None, path.name.as_str()),
            None => (None, None, path.name.as_str()),
        },
    };
    let Some(container) = container else {
        return (Vec::new(), def);
    };
    let Some(v) = get_ci(container, name) else {
        return (Vec::new(), def);
    };
    let mut out = Vec::new();
    let flat = |v: &'v Value, out: &mut Vec<&'v Value>| match v {
        Value::Array(a) => out.extend(a.iter()),
        other => out.push(other),
    };
    match &path.sub_attr {
        None => flat(v, &mut out),
        Some(sub) => {
            let mut tops = Vec::new();
            flat(v, &mut tops);
            for t in tops {
                if let Some(sv) = t.as_object().and_then(|o| get_ci(o, sub)) {
                    flat(sv, &mut out);
                }
            }
        }
    }
    let def = match (&path.sub_attr, def) {
        (Some(s), Some(d)) => d.sub(s),
        (None, d) => d,
        (Some(_), None) => None,
    };
    (out, def)
}

fn fold(s: &str, case_exact: bool) -> String {
    if case_exact {
        s.to_owned()
    } else {
        s.to_lowercase()
    }
}

fn ord_matches(op: CompareOp, o: Ordering) -> bool {
    match op {
        CompareOp::Eq => o == Ordering::Equal,
        CompareOp::Ne => o != Ordering::Equal,
        CompareOp::Gt => o == Ordering::Greater,
        CompareOp::Ge => o != Ordering::Less,
        CompareOp::Lt => o == Ordering::Less,
        CompareOp::Le => o != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

/// Compare two JSON numbers numerically (exact for integers).
pub(crate) fn cmp_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

fn compare_one(op: CompareOp, stored: &Value, cv: &CompValue, def: Option<&AttributeDef>) -> bool {
    let ty = def.map(|d| d.attr_type);
    let case_exact = def.is_some_and(|d| d.case_exact);
    match (stored, cv) {
        (Value::String(s), CompValue::Str(v)) => {
            if ty == Some(AttrType::DateTime) && !op.is_substring() {
                if let (Some(a), Some(b)) = (parse_datetime(s), parse_datetime(v)) {
                    return ord_matches(op, a.cmp(&b));
                }
            }
            let exact = case_exact || ty == Some(AttrType::Binary);
            let (a, b) = (fold(s, exact), fold(v, exact));
            match op {
                CompareOp::Co => a.contains(&b),
                CompareOp::Sw => a.starts_with(&b),
                CompareOp::Ew => a.ends_with(&b),
                _ => ord_matches(op, a.cmp(&b)),
            }
        }
        (Value::Bool(a), CompValue::Bool(b)) => {
            matches!(op, CompareOp::Eq | CompareOp::Ne) && ord_matches(op, a.cmp(b))
        }
        (Value::Bool(a), CompValue::Str(s)) => {
            let b = if s.eq_ignore_ascii_case("true") {
                true
            } else if s.eq_ignore_ascii_case("false") {
                false
            } else {
                return false;
            };
            matches!(op, CompareOp::Eq | CompareOp::Ne) && ord_matches(op, a.cmp(&b))
        }
        (Value::Number(a), CompValue::Number(b)) => {
            cmp_numbers(a, b).is_some_and(|o| ord_matches(op, o))
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Printer

fn fmt_child(f: &mut fmt::Formatter<'_>, child: &Filter, paren: bool) -> fmt::Result {
    if paren {
        write!(f, "({child})")
    } else {
        write!(f, "{child}")
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Compare { path, op, value } => write!(f, "{path} {} {value}", op.as_str()),
            Self::Present { path } => write!(f, "{path} pr"),
            Self::Not(a) => write!(f, "not ({a})"),
            Self::ValuePath { path, filter } => write!(f, "{path}[{filter}]"),
            Self::And(a, b) => {
                fmt_child(f, a, matches!(**a, Self::Or(..)))?;
                f.write_str(" and ")?;
                fmt_child(f, b, matches!(**b, Self::Or(..) | Self::And(..)))
            }
            Self::Or(a, b) => {
                fmt_child(f, a, false)?;
                f.write_str(" or ")?;
                fmt_child(f, b, matches!(**b, Self::Or(..)))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parser

pub(crate) struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    depth: usize,
    nodes: usize,
    limits: FilterLimits,
    in_brackets: bool,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(s: &'a str, limits: FilterLimits, in_brackets: bool) -> Self {
        Self {
            s,
            b: s.as_bytes(),
            pos: 0,
            depth: 0,
            nodes: 0,
            limits,
            in_brackets,
        }
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.b.len()
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn advance(&mut self, n: usize) {
        self.pos += n;
    }

    pub(crate) fn err(&self, msg: &str) -> ScimError {
        let near: String = self
            .s
            .get(self.pos..)
            .map(|r| r.chars().take(20).collect())
            .unwrap_or_default();
        if near.is_empty() {
            ScimError::invalid_filter(format!("{msg} at position {} (end of input)", self.pos))
        } else {
            ScimError::invalid_filter(format!("{msg} at position {} (near '{near}')", self.pos))
        }
    }

    pub(crate) fn skip_ws(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn bump_node(&mut self) -> ScimResult<()> {
        self.nodes += 1;
        if self.nodes > self.limits.max_nodes {
            return Err(self.err(&format!(
                "filter has more than {} expressions",
                self.limits.max_nodes
            )));
        }
        Ok(())
    }

    fn enter(&mut self) -> ScimResult<()> {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            return Err(self.err(&format!(
                "filter nesting exceeds the maximum depth of {}",
                self.limits.max_depth
            )));
        }
        Ok(())
    }

    /// Peek a keyword (alphabetic word) at the current position without consuming it.
    fn peek_word(&self) -> &'a str {
        let mut end = self.pos;
        while self.b.get(end).is_some_and(u8::is_ascii_alphabetic) {
            end += 1;
        }
        self.s.get(self.pos..end).unwrap_or_default()
    }

    /// Try to consume a logical keyword followed by whitespace or '('.
    fn eat_logical(&mut self, kw: &str) -> bool {
        let save = self.pos;
        self.skip_ws();
        let w = self.peek_word();
        if w.eq_ignore_ascii_case(kw) {
            let after = self.b.get(self.pos + w.len()).copied();
            if matches!(after, Some(b' ' | b'\t' | b'\n' | b'\r' | b'(')) {
                self.pos += w.len();
                return true;
            }
        }
        self.pos = save;
        false
    }

    pub(crate) fn parse_or(&mut self) -> ScimResult<Filter> {
        let mut left = self.parse_and()?;
        while self.eat_logical("or") {
            self.bump_node()?;
            let right = self.parse_and()?;
            left = Filter::or(left, right);
        }
        Ok(left)
    }

    fn parse_and(&mut self) -> ScimResult<Filter> {
        let mut left = self.parse_unary()?;
        while self.eat_logical("and") {
            self.bump_node()?;
            let right = self.parse_unary()?;
            left = Filter::and(left, right);
        }
        Ok(left)
    }

    fn parse_group(&mut self) -> ScimResult<Filter> {
        // at '('
        self.enter()?;
        self.pos += 1;
        self.skip_ws();
        let inner = self.parse_or()?;
        self.skip_ws();
        if self.peek() != Some(b')') {
            return Err(self.err("expected ')'"));
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(inner)
    }

    fn parse_unary(&mut self) -> ScimResult<Filter> {
        self.skip_ws();
        self.bump_node()?;
        match self.peek() {
            None => return Err(self.err("expected an expression")),
            Some(b'(') => return self.parse_group(),
            _ => {}
        }
        let w = self.peek_word();
        if w.eq_ignore_ascii_case("not") {
            let save = self.pos;
            self.pos += w.len();
            self.skip_ws();
            if self.peek() == Some(b'(') {
                self.enter()?;
                let inner = self.parse_group()?;
                self.depth -= 1;
                return Ok(Filter::negate(inner));
            }
            self.pos = save;
        }
        self.parse_attr_exp()
    }

    pub(crate) fn parse_path(&mut self) -> ScimResult<AttrPath> {
        let start = self.pos;
        while self.peek().is_some_and(is_path_char) {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(self.err("expected an attribute path"));
        }
        let tok = self.s.get(start..self.pos).unwrap_or_default();
        parse_path_token(tok).map_err(|why| {
            ScimError::invalid_filter(format!(
                "invalid attribute path '{}' at position {start}: {why}",
                clip(tok)
            ))
        })
    }

    /// Parse `[ valFilter ]` at the current position (which must be '[').
    pub(crate) fn parse_bracket_filter(&mut self) -> ScimResult<Filter> {
        if self.in_brackets {
            return Err(self.err("value filters cannot be nested"));
        }
        self.enter()?;
        self.pos += 1;
        self.in_brackets = true;
        self.skip_ws();
        let inner = self.parse_or()?;
        self.skip_ws();
        if self.peek() != Some(b']') {
            return Err(self.err("expected ']' to close the value filter"));
        }
        self.pos += 1;
        self.in_brackets = false;
        self.depth -= 1;
        Ok(inner)
    }

    fn parse_attr_exp(&mut self) -> ScimResult<Filter> {
        let path = self.parse_path()?;
        if self.peek() == Some(b'[') {
            let inner = self.parse_bracket_filter()?;
            if self.peek() == Some(b'.') {
                return Err(self.err(
                    "a sub-attribute after a value filter ('attr[…].sub') is only allowed in PATCH paths",
                ));
            }
            return Ok(Filter::ValuePath {
                path,
                filter: Box::new(inner),
            });
        }
        if self.skip_ws() == 0 {
            return Err(self.err(&format!("expected a space and an operator after '{path}'")));
        }
        let op_pos = self.pos;
        let w = self.peek_word();
        if w.eq_ignore_ascii_case("pr") {
            self.pos += 2;
            return Ok(Filter::Present { path });
        }
        let Some(op) = CompareOp::from_keyword(w) else {
            return Err(self.err(&format!(
                "unknown operator '{}' after '{path}' (expected eq, ne, co, sw, ew, gt, ge, lt, le or pr)",
                clip(w)
            )));
        };
        self.pos += w.len();
        if self.skip_ws() == 0 {
            self.pos = op_pos;
            return Err(self.err(&format!(
                "expected a space and a value after operator '{}'",
                op.as_str()
            )));
        }
        let value = self.parse_value()?;
        Ok(Filter::Compare { path, op, value })
    }

    fn parse_value(&mut self) -> ScimResult<CompValue> {
        let start = self.pos;
        match self.peek() {
            Some(b'"') => {
                let mut i = self.pos + 1;
                loop {
                    match self.b.get(i) {
                        None => {
                            return Err(self.err("unterminated string value"));
                        }
                        Some(b'\\') => i += 2,
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
                let lit = self.s.get(start..=i).unwrap_or_default();
                let v: String = serde_json::from_str(lit)
                    .map_err(|e| self.err(&format!("invalid string value ({e})")))?;
                self.pos = i + 1;
                Ok(CompValue::Str(v))
            }
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                while self.peek().is_some_and(|c| {
                    c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E')
                }) {
                    self.pos += 1;
                }
                let lit = self.s.get(start..self.pos).unwrap_or_default();
                let invalid = |p: &mut Self| {
                    p.pos = start;
                    p.err(&format!("invalid number '{}'", clip(lit)))
                };
                let n: Number = match serde_json::from_str(lit) {
                    Ok(n) => n,
                    Err(_) => return Err(invalid(self)),
                };
                if lit.contains(['.', 'e', 'E']) {
                    // Correctly rounded parse so printing and re-parsing is lossless.
                    let f = lit
                        .parse::<f64>()
                        .ok()
                        .and_then(Number::from_f64)
                        .ok_or_else(|| invalid(self))?;
                    return Ok(CompValue::Number(f));
                }
                Ok(CompValue::Number(n))
            }
            _ => {
                let w = self.peek_word();
                let v = if w.eq_ignore_ascii_case("true") {
                    CompValue::Bool(true)
                } else if w.eq_ignore_ascii_case("false") {
                    CompValue::Bool(false)
                } else if w.eq_ignore_ascii_case("null") {
                    CompValue::Null
                } else {
                    return Err(self.err(
                        "expected a comparison value (a quoted string, number, true, false or null)",
                    ));
                };
                self.pos += w.len();
                Ok(v)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource_type::SchemaRegistry;
    use crate::schema::USER_SCHEMA;
    use serde_json::json;

    fn rt() -> ResourceSchema {
        SchemaRegistry::with_builtins()
            .resource_schema("User")
            .unwrap()
    }

    #[test]
    fn parse_precedence_and_roundtrip() {
        let f = Filter::parse("a eq 1 or b eq 2 and c eq 3").unwrap();
        assert!(matches!(f, Filter::Or(_, ref r) if matches!(**r, Filter::And(..))));
        assert_eq!(f.to_string(), "a eq 1 or b eq 2 and c eq 3");
        let f = Filter::parse("(a eq 1 or b eq 2) and c eq 3").unwrap();
        assert_eq!(f.to_string(), "(a eq 1 or b eq 2) and c eq 3");
        let f = Filter::parse("userName Eq \"bjensen\" AND NOT (title pr)").unwrap();
        assert_eq!(f.to_string(), "userName eq \"bjensen\" and not (title pr)");
        let f = Filter::parse(
            "emails[type eq \"work\" and value co \"@example.com\"] or ims[type eq \"xmpp\" and value co \"@foo.com\"]",
        )
        .unwrap();
        assert_eq!(Filter::parse(&f.to_string()).unwrap(), f);
    }

    #[test]
    fn parse_errors_have_positions() {
        let e = Filter::parse("userName eq").unwrap_err();
        assert_eq!(e.scim_type(), Some("invalidFilter"));
        let e = Filter::parse("userName xx \"a\"").unwrap_err();
        assert!(
            e.detail().contains("unknown operator 'xx'"),
            "{}",
            e.detail()
        );
        assert!(e.detail().contains("position 9"), "{}", e.detail());
        let e = Filter::parse("(a eq 1").unwrap_err();
        assert!(e.detail().contains("expected ')'"));
        let e = Filter::parse("a eq \"x").unwrap_err();
        assert!(e.detail().contains("unterminated"));
        let deep = "(".repeat(5_000);
        let e = Filter::parse(&deep).unwrap_err();
        assert!(e.detail().contains("depth"), "{}", e.detail());
        let deep = "not (".repeat(1_000);
        let e = Filter::parse(&deep).unwrap_err();
        assert!(e.detail().contains("depth"), "{}", e.detail());
        let e = Filter::parse(&"x".repeat(10_000)).unwrap_err();
        assert!(e.detail().contains("maximum is"), "{}", e.detail());
        assert!(Filter::parse("a[b[c eq 1]]").is_err());
        assert!(Filter::parse("emails[type eq \"work\"].value eq \"x\"").is_err());
        assert!(Filter::parse("").is_err());
        assert!(Filter::parse("a eq 1 and").is_err());
    }

    #[test]
    fn evaluate_basic() {
        let rs = rt();
        let u = json!({
            "schemas": [USER_SCHEMA],
            "id": "2819c223",
            "userName": "BJensen",
            "title": "Tour Guide",
            "active": true,
            "emails": [{"value": "bjensen@example.com", "type": "work"}, {"value": "babs@jensen.org", "type": "home"}],
            "meta": {"lastModified": "2011-05-13T04:42:34Z"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "701984"}
        });
        let t = |s: &str| {
            let f = Filter::parse(s).unwrap();
            f.check(&rs, &ProtectionProfile::clear()).unwrap();
            f.matches(&u, &rs)
        };
        assert!(t("userName eq \"bjensen\""));
        assert!(!t("id eq \"2819C223\""));
        assert!(t("title pr"));
        assert!(!t("nickName pr"));
        assert!(t("nickName ne \"x\""));
        assert!(t("active eq true"));
        assert!(t("emails co \"example.com\""));
        assert!(t("emails[type eq \"work\" and value co \"@example.com\"]"));
        assert!(!t("emails[type eq \"home\" and value co \"@example.com\"]"));
        assert!(!t("meta.lastModified gt \"2011-05-13T04:42:34.001-01:00\""));
        assert!(t("meta.lastModified gt \"2011-05-12T04:42:34Z\""));
        assert!(t("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq \"701984\""));
        assert!(t("userName sw \"bj\" and not (title ew \"x\")"));
        assert!(t("nickName eq null"));
    }

    #[test]
    fn check_errors() {
        let rs = rt();
        let clear = ProtectionProfile::clear();
        let c = |s: &str| Filter::parse(s).unwrap().check(&rs, &clear).unwrap_err();
        assert!(c("active gt true")
            .detail()
            .contains("operator 'gt' cannot be applied to boolean"));
        assert!(c("nosuch eq 1").detail().contains("nosuch"));
        assert!(c("userName eq 5")
            .detail()
            .contains("comparison value is a number"));
        assert!(c("meta.created gt \"yesterday\"")
            .detail()
            .contains("not a valid dateTime"));
        assert!(c("name eq \"x\"").detail().contains("complex"));
        assert!(c("password eq \"secret\"")
            .detail()
            .contains("never returned"));
        assert!(c("emails[nosuch eq \"x\"]")
            .detail()
            .contains("no sub-attribute 'nosuch'"));
    }

    #[test]
    fn sealed_rules() {
        let rs = rt();
        let p = ProtectionProfile::clear()
            .with(USER_SCHEMA, "userName", Protection::SealedIndexed)
            .with(USER_SCHEMA, "title", Protection::Sealed);
        let chk = |s: &str| Filter::parse(s).unwrap().check(&rs, &p);
        assert!(chk("userName eq \"zkx1.abcd\"").is_ok());
        let e = chk("userName eq \"bjensen\"").unwrap_err();
        assert!(e.detail().contains("blind-index token"), "{}", e.detail());
        let e = chk("userName sw \"zkx1.a\"").unwrap_err();
        assert!(e
            .detail()
            .contains("operator 'sw' is not allowed on sealed"));
        let e = chk("title eq \"zkx1.abcd\"").unwrap_err();
        assert!(e.detail().contains("no blind index"));
        assert!(chk("title pr").is_err());
        let u = json!({"userName": "zkx1.abcd"});
        assert!(Filter::parse("userName eq \"zkx1.abcd\"")
            .unwrap()
            .matches(&u, &rs));
    }
}
