//! Serde helpers for what upstream is loose about on the wire: `null` where
//! a field is normally a list or a number, and integers where its models
//! declare floats. Wire types name them in `#[serde(with…)]` attributes so
//! one odd field never fails a whole answer.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Reads `null` (and a missing field, with `#[serde(default)]`) as the
/// type's default: upstream sends `"forms": null` for an empty pop.
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Writes an empty list as `null`, as upstream does for an empty pop.
pub(crate) fn empty_as_null<S, T>(v: &[T], s: S) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    T: Serialize,
{
    if v.is_empty() {
        s.serialize_none()
    } else {
        v.serialize(s)
    }
}

/// Writes a float that is exactly zero as the integer `0`, as upstream
/// does for a tally nobody has touched yet (its models' unformatted
/// default), and any other value as a float.
pub(crate) fn untouched_zero<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if *v == 0.0 {
        s.serialize_u64(0)
    } else {
        s.serialize_f64(*v)
    }
}
