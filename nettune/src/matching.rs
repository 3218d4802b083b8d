//! A profile's `[match]` section: the hosts it is for, so that one profile serves a
//! heterogeneous fleet. Every condition given must hold; a condition with several values
//! holds when one of them does.
//!
//! ```toml
//! [match]
//! kernel = ">=5.15"             # the kernel release: >=, >, <=, <, = or a bare series ("6.1")
//! hostname = ["edge-*", "lb?"]  # the host name, patterns with * and ?
//! driver = "virtio_net"         # some interface of the namespace has this driver
//! interface = "eth*"            # some interface of the namespace is so named
//! ```
//!
//! A plan of a profile whose match does not hold is empty and says why
//! ([`crate::Plan::mismatch`]): nothing is written, and that is not an error.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// The `[match]` section; see the [module documentation](self).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Match {
    /// Kernel release constraints, all of which must hold.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub kernel: Vec<String>,
    /// Host name patterns, one of which must match.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub hostname: Vec<String>,
    /// Drivers, one of which some interface of the namespace must have.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub driver: Vec<String>,
    /// Interface name patterns, one of which some interface of the namespace must match.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub interface: Vec<String>,
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// What a [`Match`] is judged on: read from the host and the target namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    /// The kernel release (`uname -r`).
    pub kernel: String,
    /// The host name (`uname -n`).
    pub hostname: String,
    /// The namespace's interfaces and their drivers (`None` where none is reported).
    pub interfaces: Vec<(String, Option<String>)>,
}

/// The longest pattern or value accepted.
const MAX_LEN: usize = 255;

impl Match {
    /// Whether no condition is given (the profile is for every host).
    pub fn is_empty(&self) -> bool {
        self.kernel.is_empty()
            && self.hostname.is_empty()
            && self.driver.is_empty()
            && self.interface.is_empty()
    }

    /// Checks every condition's syntax.
    ///
    /// # Errors
    ///
    /// The first bad condition, named (`kernel ">=x": ...`).
    pub fn check(&self) -> Result<(), String> {
        for k in &self.kernel {
            Constraint::parse(k).map_err(|e| format!("kernel {k:?}: {e}"))?;
        }
        for (what, values) in [
            ("hostname", &self.hostname),
            ("driver", &self.driver),
            ("interface", &self.interface),
        ] {
            for v in values {
                if v.is_empty() || v.len() > MAX_LEN || v.chars().any(char::is_control) {
                    return Err(format!(
                        "{what} {v:?}: a pattern is 1 to {MAX_LEN} printable characters"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether the conditions hold for `facts`: `Err` says which one does not, and what
    /// the host has instead.
    ///
    /// # Errors
    ///
    /// The first condition that does not hold.
    pub fn verdict(&self, facts: &HostFacts) -> Result<(), String> {
        let host = Release::parse(&facts.kernel);
        for k in &self.kernel {
            let c = Constraint::parse(k)?;
            if !host.as_ref().is_some_and(|r| c.holds(r)) {
                return Err(format!("kernel {} is not {k}", facts.kernel));
            }
        }
        if !self.hostname.is_empty() && !self.hostname.iter().any(|p| glob(p, &facts.hostname)) {
            return Err(format!(
                "host name {} matches none of {}",
                facts.hostname,
                self.hostname.join(", ")
            ));
        }
        if !self.driver.is_empty()
            && !facts
                .interfaces
                .iter()
                .any(|(_, d)| d.as_ref().is_some_and(|d| self.driver.contains(d)))
        {
            return Err(format!(
                "no interface has driver {} (drivers here: {})",
                self.driver.join(" or "),
                listed(facts.interfaces.iter().filter_map(|(_, d)| d.as_deref()))
            ));
        }
        if !self.interface.is_empty()
            && !facts
                .interfaces
                .iter()
                .any(|(n, _)| self.interface.iter().any(|p| glob(p, n)))
        {
            return Err(format!(
                "no interface named {} (interfaces here: {})",
                self.interface.join(" or "),
                listed(facts.interfaces.iter().map(|(n, _)| n.as_str()))
            ));
        }
        Ok(())
    }

    /// Whether any condition reads the namespace's interfaces.
    pub(crate) fn needs_interfaces(&self) -> bool {
        !self.driver.is_empty() || !self.interface.is_empty()
    }
}

fn listed<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut v: Vec<&str> = items.collect();
    v.sort_unstable();
    v.dedup();
    if v.is_empty() {
        "none".to_owned()
    } else {
        v.join(", ")
    }
}

impl fmt::Display for Match {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (what, v) in [
            ("kernel", &self.kernel),
            ("hostname", &self.hostname),
            ("driver", &self.driver),
            ("interface", &self.interface),
        ] {
            if !v.is_empty() {
                parts.push(format!("{what} {}", v.join("|")));
            }
        }
        f.write_str(&parts.join(", "))
    }
}

/// A kernel release's numbers: `6.18.0-1-amd64` is (6, 18, 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Release([u32; 3]);

impl Release {
    /// The leading `A[.B[.C]]` of a release; `None` without a number first.
    fn parse(text: &str) -> Option<Self> {
        let mut out = [0u32; 3];
        let numeric = text
            .split(|c: char| !c.is_ascii_digit() && c != '.')
            .next()?;
        let mut any = false;
        for (slot, part) in out.iter_mut().zip(numeric.split('.')) {
            if part.is_empty() {
                break;
            }
            *slot = part.parse().ok()?;
            any = true;
        }
        any.then_some(Self(out))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
    /// A bare `6.1`: that series (6.1, 6.1.x).
    Series(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Constraint {
    op: Op,
    release: Release,
}

impl Constraint {
    fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let (op, rest) = [
            (">=", Op::Ge),
            ("<=", Op::Le),
            (">", Op::Gt),
            ("<", Op::Lt),
            ("=", Op::Eq),
        ]
        .iter()
        .find_map(|(p, op)| t.strip_prefix(p).map(|r| (*op, r.trim())))
        .unwrap_or((Op::Series(0), t));
        let ok = !rest.is_empty()
            && rest.split('.').count() <= 3
            && rest
                .split('.')
                .all(|p| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return Err(
                "a kernel condition is >=, >, <=, < or = followed by a version of up to three numbers (5.15, 6.1.0), or a bare version for that series".into(),
            );
        }
        let release = Release::parse(rest).ok_or("not a version")?;
        let op = match op {
            Op::Series(_) => Op::Series(rest.split('.').count()),
            other => other,
        };
        Ok(Self { op, release })
    }

    fn holds(&self, r: &Release) -> bool {
        match self.op {
            Op::Ge => r >= &self.release,
            Op::Gt => r > &self.release,
            Op::Le => r <= &self.release,
            Op::Lt => r < &self.release,
            Op::Eq => r == &self.release,
            Op::Series(n) => r.0[..n] == self.release.0[..n],
        }
    }
}

/// Whether `text` matches `pattern`: `*` any run of characters, `?` one character,
/// everything else itself.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // The classic two-pointer walk with one backtrack point: linear, no recursion.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> HostFacts {
        HostFacts {
            kernel: "6.18.0-1-amd64".into(),
            hostname: "edge-17".into(),
            interfaces: vec![
                ("lo".into(), None),
                ("eth0".into(), Some("virtio_net".into())),
            ],
        }
    }

    #[test]
    fn globs_match_as_shells_do() {
        for (p, t, want) in [
            ("edge-*", "edge-17", true),
            ("edge-*", "core-1", false),
            ("e?h0", "eth0", true),
            ("*", "", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("eth0", "eth01", false),
        ] {
            assert_eq!(glob(p, t), want, "{p} {t}");
        }
    }

    #[test]
    fn kernel_conditions_compare_numerically() {
        let r = Release::parse("6.18.0-1-amd64").expect("release");
        for (c, want) in [
            (">=5.15", true),
            (">=6.18", true),
            (">6.18", false),
            ("<6.9", false),
            ("<7", true),
            ("6.18", true),
            ("6", true),
            ("6.1", false),
            ("=6.18.0", true),
        ] {
            assert_eq!(Constraint::parse(c).expect(c).holds(&r), want, "{c}");
        }
        for bad in ["", ">=", "six", ">=5.x", "1.2.3.4", "=-1", ">=99999999999"] {
            assert!(Constraint::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_condition_must_hold_and_says_why_not() {
        let all = Match {
            kernel: vec![">=5.15".into()],
            hostname: vec!["edge-*".into()],
            driver: vec!["virtio_net".into()],
            interface: vec!["eth*".into()],
        };
        assert_eq!(all.verdict(&facts()), Ok(()));
        let wrong_driver = Match {
            driver: vec!["mlx5_core".into()],
            ..all.clone()
        };
        let why = wrong_driver.verdict(&facts()).expect_err("no mlx5");
        assert!(
            why.contains("mlx5_core") && why.contains("virtio_net"),
            "{why}"
        );
        let old = Match {
            kernel: vec!["<6".into()],
            ..Match::default()
        };
        assert!(
            old.verdict(&facts())
                .is_err_and(|w| w.contains("6.18.0-1-amd64"))
        );
        assert!(Match::default().verdict(&facts()).is_ok());
        assert!(
            Match {
                hostname: vec![String::new()],
                ..Match::default()
            }
            .check()
            .is_err()
        );
    }
}
