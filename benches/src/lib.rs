//! The side-by-side measurement behind the `compare` binary.
//!
//! Each comparison runs "ours" and a peer in the same process, interleaved: round after
//! round, each side runs a batch of operations and the time per operation is recorded;
//! the order of the two alternates between rounds. The report is the median of each side
//! and their ratio, so a noisy, shared machine disturbs both sides alike.

use std::time::{Duration, Instant};

pub mod sys;

/// How a comparison is measured.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Rounds; the median is taken over these.
    pub rounds: usize,
    /// Operations per side per round.
    pub batch: usize,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            rounds: 31,
            batch: 200,
        }
    }
}

/// The medians of one comparison.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// Median time per operation of ours.
    pub ours: Duration,
    /// Median time per operation of the peer.
    pub peer: Duration,
}

impl Outcome {
    /// ours / peer (lower is better).
    pub fn ratio(&self) -> f64 {
        self.ours.as_secs_f64() / self.peer.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Measures `ours` against `peer`, interleaved, and returns the medians per operation.
/// One warm-up round of each is run first and discarded.
pub fn measure(plan: Plan, ours: &mut dyn FnMut(), peer: &mut dyn FnMut()) -> Outcome {
    let batch = plan.batch.max(1);
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..batch {
            f();
        }
        start.elapsed() / u32::try_from(batch).unwrap_or(u32::MAX)
    };
    time(ours);
    time(peer);
    let (mut a, mut b) = (
        Vec::with_capacity(plan.rounds),
        Vec::with_capacity(plan.rounds),
    );
    for round in 0..plan.rounds.max(1) {
        if round % 2 == 0 {
            a.push(time(ours));
            b.push(time(peer));
        } else {
            b.push(time(peer));
            a.push(time(ours));
        }
    }
    Outcome {
        ours: median(a),
        peer: median(b),
    }
}

/// Formats a duration with a unit that keeps three significant digits.
pub fn human(d: Duration) -> String {
    let ns = d.as_secs_f64() * 1e9;
    if ns < 1e3 {
        format!("{ns:.1}ns")
    } else if ns < 1e6 {
        format!("{:.2}us", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2}ms", ns / 1e6)
    } else {
        format!("{:.2}s", ns / 1e9)
    }
}

/// The report line: `compare <name>: ours <median> peer <median> ratio <ours/peer>`.
pub fn line(name: &str, outcome: Outcome) -> String {
    format!(
        "compare {name}: ours {} peer {} ratio {:.3}",
        human(outcome.ours),
        human(outcome.peer),
        outcome.ratio()
    )
}

/// Measures and prints one comparison line.
pub fn compare(name: &str, plan: Plan, ours: &mut dyn FnMut(), peer: &mut dyn FnMut()) -> Outcome {
    let outcome = measure(plan, ours, peer);
    println!("{}", line(name, outcome));
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_has_the_documented_shape() {
        let o = Outcome {
            ours: Duration::from_nanos(1500),
            peer: Duration::from_nanos(1000),
        };
        assert_eq!(
            line("x", o),
            "compare x: ours 1.50us peer 1.00us ratio 1.500"
        );
    }

    #[test]
    fn measure_sees_the_slower_side() {
        let plan = Plan {
            rounds: 5,
            batch: 3,
        };
        let o = measure(
            plan,
            &mut || std::thread::sleep(Duration::from_micros(200)),
            &mut || {},
        );
        assert!(o.ratio() > 10.0, "{o:?}");
    }
}
