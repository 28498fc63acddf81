//! Enum names: each enum's variants are named once, by rule (kebab-case), and serde and
//! strum derive from that rule; nothing here or elsewhere lists a variant's name by hand.
//! A test holds, for every named enum, that serde's name and strum's agree.
use strum::{IntoEnumIterator, VariantNames};

/// A value in the file's own words (`terminate-reencrypt`), as serde names it, for enums
/// that carry data or need no strum table; empty for `None`.
pub fn kebab<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
}

/// The variant of `T` that `s` names, if any.
pub fn from_name<T: IntoEnumIterator + Into<&'static str> + Copy>(s: &str) -> Option<T> {
    T::iter().find(|v| Into::<&'static str>::into(*v) == s)
}

/// `T`'s names for an error message: `off, v1, v2 or any`.
pub fn choices<T: VariantNames>() -> String {
    match T::VARIANTS.split_last() {
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// serde's name of every variant is strum's, and reads back as the variant.
    fn agree<T>()
    where
        T: IntoEnumIterator + Into<&'static str> + Copy + PartialEq + std::fmt::Debug + serde::Serialize,
    {
        for v in T::iter() {
            let strum: &'static str = v.into();
            let serde = serde_json::to_value(v).unwrap();
            assert_eq!(serde.as_str(), Some(strum), "{v:?}");
            assert_eq!(from_name::<T>(strum), Some(v));
        }
    }

    #[test]
    fn serde_and_strum_name_every_variant_alike() {
        agree::<crate::model::Outcome>();
        agree::<crate::model::Verdict>();
        agree::<crate::load::ErrorClass>();
        agree::<crate::proxyproto::HeaderPolicy>();
        agree::<crate::forwarded::ClientIpHeader>();
        agree::<crate::forwarded::ClientIpSource>();
        agree::<crate::accesslog::LogFormat>();
        agree::<crate::load::ConnPolicy>();
        agree::<crate::compare::Magnitude>();
    }

    #[test]
    fn choices_read_as_a_sentence() {
        assert_eq!(choices::<crate::proxyproto::HeaderPolicy>(), "off, v1, v2 or any");
        assert_eq!(from_name::<crate::model::Verdict>("lost"), Some(crate::model::Verdict::Lost));
        assert_eq!(from_name::<crate::model::Verdict>("Lost"), None);
    }
}
