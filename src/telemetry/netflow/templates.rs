//! NetFlow v9 and IPFIX templates: parsing template and options-template records into an
//! owned [`Template`], and the per-exporter store they live in, with its caps, withdrawal,
//! refresh and expiry. Knows nothing of what the fields mean (that is `record`'s job), of
//! sequence numbers or of sampling.

use super::Limits;

/// The field length that marks an IPFIX variable-length field (RFC 7011 section 7).
pub const VARIABLE_LENGTH: u16 = 65535;

/// One field specifier of a template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// The information element (IPFIX) or field type (v9), without the enterprise bit.
    pub id: u16,
    /// The IPFIX private enterprise number; 0 for IANA elements and all of v9.
    pub enterprise: u32,
    /// The length in bytes, or [`VARIABLE_LENGTH`].
    pub length: u16,
    /// A v9 options scope field: its type is a scope type (System, Interface, ...), not a
    /// field type, so it is skipped rather than interpreted.
    pub v9_scope: bool,
}

/// What a template is keyed by within one exporter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateKey {
    /// 9 or 10: a v9 template is no IPFIX template, even with the same ID.
    pub version: u16,
    /// The v9 source ID or IPFIX observation domain ID.
    pub domain: u32,
    /// The template ID (256 and up).
    pub id: u16,
}

/// A learned template.
#[derive(Clone, Debug)]
pub struct Template {
    /// Its key.
    pub key: TemplateKey,
    /// An options template: its data records describe the exporter (sampling), not flows.
    pub options: bool,
    /// The fields, in record order.
    pub fields: Vec<Field>,
    /// The smallest record it can describe, in bytes (a variable-length field takes at least
    /// one); never 0, so a data set cannot loop without consuming bytes.
    pub min_record_len: usize,
    /// Arrival time it was last defined or refreshed, Unix nanoseconds.
    pub refreshed_nanos: u64,
}

/// Why a template record could not be learned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateError {
    /// The set ended inside the record.
    Truncated,
    /// A field count of 0 where it is not a withdrawal, too many fields, a scope count larger
    /// than the field count, a template ID below 256, or records that would be empty.
    Bad,
}

impl TemplateError {
    /// The `malformed` label.
    pub fn label(self) -> &'static str {
        match self {
            TemplateError::Truncated => "truncated",
            TemplateError::Bad => "bad_template",
        }
    }
}

/// What one template record said.
#[derive(Debug)]
pub enum Parsed {
    /// A definition: learn it (or replace the one with the same key).
    Define {
        /// The template ID.
        id: u16,
        /// An options template.
        options: bool,
        /// Number of bytes of the set the record took.
        consumed: usize,
    },
    /// IPFIX withdrawal of one template, or of all (ID 2 or 3) of that kind.
    Withdraw {
        /// The template ID; 2 withdraws all data templates, 3 all options templates.
        id: u16,
        /// Number of bytes of the set the record took.
        consumed: usize,
    },
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads the field specifiers of one record into `fields` (cleared first), from `at` in
/// `set`; returns the offset after them. IPFIX specifiers may carry an enterprise number.
fn read_fields(
    set: &[u8],
    mut at: usize,
    count: usize,
    ipfix: bool,
    v9_scope_fields: usize,
    fields: &mut Vec<Field>,
) -> Result<usize, TemplateError> {
    fields.clear();
    for index in 0..count {
        let raw = be16(set, at).ok_or(TemplateError::Truncated)?;
        let length = be16(set, at + 2).ok_or(TemplateError::Truncated)?;
        at += 4;
        let (id, enterprise) = if ipfix && raw & 0x8000 != 0 {
            let pen = be32(set, at).ok_or(TemplateError::Truncated)?;
            at += 4;
            (raw & 0x7fff, pen)
        } else {
            (raw, 0)
        };
        fields.push(Field {
            id,
            enterprise,
            length,
            v9_scope: index < v9_scope_fields,
        });
    }
    Ok(at)
}

/// The smallest record `fields` describe; `None` when it is 0 (every field empty).
fn min_record_len(fields: &[Field], ipfix: bool) -> Option<usize> {
    let len: usize = fields
        .iter()
        .map(|f| {
            if ipfix && f.length == VARIABLE_LENGTH {
                1
            } else {
                usize::from(f.length)
            }
        })
        .sum();
    (len > 0).then_some(len)
}

/// Parses one template record of a v9 template flowset (ID 0), v9 options template flowset
/// (ID 1), IPFIX template set (ID 2) or IPFIX options template set (ID 3), starting at `at`
/// of `set` (the set without its header). The fields go into `fields`, a scratch vector the
/// caller reuses, so parsing allocates only while it grows.
pub fn parse_record(
    set_id: u16,
    set: &[u8],
    at: usize,
    limits: &Limits,
    fields: &mut Vec<Field>,
) -> Result<Parsed, TemplateError> {
    let id = be16(set, at).ok_or(TemplateError::Truncated)?;
    let (ipfix, options) = match set_id {
        0 => (false, false),
        1 => (false, true),
        2 => (true, false),
        _ => (true, true),
    };
    let second = be16(set, at + 2).ok_or(TemplateError::Truncated)?;
    let (count, v9_scope_fields, start) = if !ipfix && options {
        // v9 options template: scope and option lengths in bytes, 4 bytes per specifier.
        let option_len = be16(set, at + 4).ok_or(TemplateError::Truncated)?;
        let scope = usize::from(second) / 4;
        let count = scope + usize::from(option_len) / 4;
        if second % 4 != 0 || option_len % 4 != 0 {
            return Err(TemplateError::Bad);
        }
        (count, scope, at + 6)
    } else if ipfix && second == 0 {
        // IPFIX withdrawal: a template ID and a field count of 0, nothing else.
        let all = if options { 3 } else { 2 };
        if id != all && id < 256 {
            return Err(TemplateError::Bad);
        }
        return Ok(Parsed::Withdraw { id, consumed: 4 });
    } else if ipfix && options {
        let scope = be16(set, at + 4).ok_or(TemplateError::Truncated)?;
        if scope == 0 || scope > second {
            return Err(TemplateError::Bad);
        }
        (usize::from(second), 0, at + 6)
    } else {
        (usize::from(second), 0, at + 4)
    };
    if id < 256 || count == 0 || count > limits.fields_per_template {
        return Err(TemplateError::Bad);
    }
    let end = read_fields(set, start, count, ipfix, v9_scope_fields, fields)?;
    if min_record_len(fields, ipfix).is_none() {
        return Err(TemplateError::Bad);
    }
    Ok(Parsed::Define {
        id,
        options,
        consumed: end - at,
    })
}

/// Why a template was not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The decoder-wide template cap is reached and no template of this exporter could make
    /// room.
    Full,
}

/// The templates of one exporter: at most [`Limits::templates_per_exporter`], and together
/// with every other exporter's at most [`Limits::templates`].
#[derive(Debug, Default)]
pub struct Store {
    templates: Vec<Template>,
}

impl Store {
    /// How many templates it holds.
    pub fn len(&self) -> usize {
        self.templates.len()
    }

    /// The live template for `key`. An expired one (not refreshed within the lifetime before
    /// `now`) is dropped and `None` returned; `total` is the decoder-wide count.
    pub fn get(
        &mut self,
        key: TemplateKey,
        now: u64,
        lifetime: u64,
        total: &mut usize,
    ) -> Option<&Template> {
        let index = self.templates.iter().position(|t| t.key == key)?;
        if now.saturating_sub(self.templates[index].refreshed_nanos) > lifetime {
            self.templates.swap_remove(index);
            *total = total.saturating_sub(1);
            return None;
        }
        self.templates.get(index)
    }

    /// Learns or refreshes a template from `fields`. A refresh replaces the definition in
    /// place (reusing its memory) and always succeeds. A new key takes a free slot; when
    /// this exporter is at its own cap it replaces this exporter's least recently refreshed
    /// template; when the decoder-wide cap is reached it replaces this exporter's expired or
    /// least recently refreshed one if it has any, else it is refused. So an exporter can
    /// only ever evict its own templates.
    pub fn insert(
        &mut self,
        key: TemplateKey,
        options: bool,
        fields: &[Field],
        now: u64,
        limits: &Limits,
        total: &mut usize,
    ) -> Result<(), StoreError> {
        let ipfix = key.version == 10;
        let min_record_len = min_record_len(fields, ipfix).unwrap_or(1);
        let slot = match self.templates.iter().position(|t| t.key == key) {
            Some(index) => Some(index),
            None if self.templates.len() < limits.templates_per_exporter
                && *total < limits.templates =>
            {
                None
            }
            None => {
                // Make room among this exporter's own templates only.
                let oldest = self
                    .templates
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, t)| t.refreshed_nanos)
                    .map(|(index, _)| index);
                match oldest {
                    Some(index) => Some(index),
                    None => return Err(StoreError::Full),
                }
            }
        };
        match slot.and_then(|index| self.templates.get_mut(index)) {
            Some(template) => {
                template.key = key;
                template.options = options;
                template.fields.clear();
                template.fields.extend_from_slice(fields);
                template.min_record_len = min_record_len;
                template.refreshed_nanos = now;
            }
            None => {
                self.templates.push(Template {
                    key,
                    options,
                    fields: fields.to_vec(),
                    min_record_len,
                    refreshed_nanos: now,
                });
                *total = total.saturating_add(1);
            }
        }
        Ok(())
    }

    /// IPFIX withdrawal: template `id` of `domain`, or all data (ID 2) or options (ID 3)
    /// templates of the domain.
    pub fn withdraw(&mut self, version: u16, domain: u32, id: u16, total: &mut usize) {
        let before = self.templates.len();
        self.templates.retain(|t| {
            let mine = t.key.version == version && t.key.domain == domain;
            let gone = match id {
                2 => mine && !t.options,
                3 => mine && t.options,
                _ => mine && t.key.id == id,
            };
            !gone
        });
        *total = total.saturating_sub(before - self.templates.len());
    }

    /// Drops every template not refreshed within `lifetime` before `now`.
    pub fn expire(&mut self, now: u64, lifetime: u64, total: &mut usize) {
        let before = self.templates.len();
        self.templates
            .retain(|t| now.saturating_sub(t.refreshed_nanos) <= lifetime);
        *total = total.saturating_sub(before - self.templates.len());
    }
}
