//! Macros the crates share to declare kernel enums and names the same way.

/// Declares an enum of the integer values a kernel interface defines, with a fallback
/// variant `Other(n)` that keeps a value a newer kernel adds (never rejected, never lost).
///
/// It generates `get()` (the kernel's number), `From<int>`, `name()`, the kernel's name
/// for the value (`None` for `Other`), `KNOWN`, and, when the calling crate's `serde`
/// feature is on, serde impls that use the name (or the number of an unknown value).
///
/// ```
/// nettune_core::int_enum! {
///     /// A TCP state (`tcpi_state`).
///     pub enum State: u8 {
///         /// TCP_ESTABLISHED
///         Established = 1 => "ESTABLISHED",
///         /// TCP_SYN_SENT
///         SynSent = 2 => "SYN_SENT",
///     }
/// }
/// assert_eq!(State::from(1), State::Established);
/// assert_eq!(State::from(200), State::Other(200));
/// assert_eq!(State::Other(200).get(), 200);
/// assert_eq!(State::SynSent.name(), Some("SYN_SENT"));
/// ```
#[macro_export]
macro_rules! int_enum {
    (
        $(#[$doc:meta])*
        $vis:vis enum $name:ident: $int:ty {
            $($(#[$vdoc:meta])* $variant:ident = $value:literal => $cname:literal),+ $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        $vis enum $name {
            $($(#[$vdoc])* $variant,)+
            /// A value this library does not know (a newer kernel), kept as it is.
            Other($int),
        }

        impl $name {
            /// The number the kernel uses.
            pub fn get(self) -> $int {
                match self {
                    $(Self::$variant => $value,)+
                    Self::Other(v) => v,
                }
            }

            /// The kernel's name of the value; `None` for [`Self::Other`].
            pub fn name(self) -> ::core::option::Option<&'static str> {
                match self {
                    $(Self::$variant => ::core::option::Option::Some($cname),)+
                    Self::Other(_) => ::core::option::Option::None,
                }
            }

            /// Every known value, in declaration order.
            pub const KNOWN: &'static [Self] = &[$(Self::$variant),+];
        }

        impl ::core::convert::From<$int> for $name {
            fn from(v: $int) -> Self {
                match v {
                    $($value => Self::$variant,)+
                    v => Self::Other(v),
                }
            }
        }

        /// Serialized as the kernel's name, or the number for [`Self::Other`]; either is
        /// accepted back.
        #[cfg(feature = "serde")]
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> ::core::result::Result<S::Ok, S::Error> {
                match self.name() {
                    ::core::option::Option::Some(n) => s.serialize_str(n),
                    ::core::option::Option::None => s.serialize_u64(::core::convert::From::from(self.get())),
                }
            }
        }

        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> ::core::result::Result<Self, D::Error> {
                #[derive(serde::Deserialize)]
                #[serde(untagged)]
                enum Repr {
                    Name(::std::string::String),
                    Number(u64),
                }
                match <Repr as serde::Deserialize>::deserialize(d)? {
                    Repr::Name(n) => Self::KNOWN
                        .iter()
                        .copied()
                        .find(|k| k.name() == ::core::option::Option::Some(n.as_str()))
                        .ok_or_else(|| serde::de::Error::custom(format!("unknown {} {n:?}", stringify!($name)))),
                    Repr::Number(v) => <$int as ::core::convert::TryFrom<u64>>::try_from(v)
                        .map(Self::from)
                        .map_err(|_| serde::de::Error::custom(format!("{v} is out of range"))),
                }
            }
        }
    };
}

/// Declares a newtype for a kernel algorithm or module name of 1 to 15 bytes (the
/// kernel's 16-byte name buffers, `TCP_CA_NAME_MAX`, `IFNAMSIZ`), validated at
/// construction: ASCII letters, digits, `_` and `-`; trailing NUL padding (as
/// `getsockopt` returns it) is stripped first.
///
/// It generates `new`, `as_str`, `FromStr`, `TryFrom<&str>`, `Display`, `Debug` and
/// `AsRef<str>`; errors are [`ValueError`](crate::ValueError)s naming `what`.
///
/// ```
/// nettune_core::kernel_name! {
///     /// A qdisc name.
///     pub struct Qdisc, "qdisc name"
/// }
/// assert_eq!("fq".parse::<Qdisc>()?.as_str(), "fq");
/// assert!("no spaces".parse::<Qdisc>().is_err());
/// # Ok::<(), nettune_core::ValueError>(())
/// ```
#[macro_export]
macro_rules! kernel_name {
    ($(#[$doc:meta])* $vis:vis struct $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis struct $name(::std::boxed::Box<str>);

        impl $name {
            /// Validates a name: 1-15 bytes of ASCII letters, digits, `_` or `-`.
            /// Trailing NUL padding (as `getsockopt` returns it) is stripped first.
            ///
            /// # Errors
            ///
            /// When the name is empty, too long or has other characters.
            pub fn new(name: &str) -> ::core::result::Result<Self, $crate::ValueError> {
                let trimmed = name.trim_end_matches('\0');
                if trimmed.is_empty() || trimmed.len() > 15 {
                    return Err($crate::ValueError::new($what, name, "must be 1 to 15 bytes long"));
                }
                if !trimmed
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    return Err($crate::ValueError::new(
                        $what,
                        name,
                        "may only contain ASCII letters, digits, `_` and `-`",
                    ));
                }
                Ok(Self(trimmed.into()))
            }

            /// The name.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::core::str::FromStr for $name {
            type Err = $crate::ValueError;
            fn from_str(s: &str) -> ::core::result::Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl ::core::convert::TryFrom<&str> for $name {
            type Error = $crate::ValueError;
            fn try_from(s: &str) -> ::core::result::Result<Self, Self::Error> {
                Self::new(s)
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl ::core::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }

        impl ::core::convert::AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}
