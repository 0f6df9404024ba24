//! Head-to-head results: wins, ties and losses of one model against another, and the win-rate
//! with ties left out, with its 95% Wilson score interval (Wilson 1927), which stays inside
//! [0, 1] and behaves at small counts where the normal approximation does not.

use serde::{Deserialize, Serialize};

/// Serialised with its win-rate and interval ([`HeadToHeadReport`]), so every front end
/// shows the figures computed here instead of computing them again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(into = "HeadToHeadReport", from = "HeadToHeadReport")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(as = "HeadToHeadReport"))]
pub struct HeadToHead {
    pub wins: usize,
    pub ties: usize,
    pub losses: usize,
}

/// A head-to-head result as it is written: the counts, and the win-rate and its 95% Wilson
/// interval derived from them (ignored when read back: the counts decide).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct HeadToHeadReport {
    pub wins: usize,
    pub ties: usize,
    pub losses: usize,
    #[serde(default)]
    pub win_rate: Option<f64>,
    #[serde(default)]
    pub interval95: Option<(f64, f64)>,
}

impl From<HeadToHead> for HeadToHeadReport {
    fn from(h: HeadToHead) -> Self {
        Self {
            wins: h.wins,
            ties: h.ties,
            losses: h.losses,
            win_rate: h.win_rate(),
            interval95: h.interval95(),
        }
    }
}

impl From<HeadToHeadReport> for HeadToHead {
    fn from(r: HeadToHeadReport) -> Self {
        Self {
            wins: r.wins,
            ties: r.ties,
            losses: r.losses,
        }
    }
}

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

impl HeadToHead {
    /// Counts one game: `Greater` is a win, `Less` a loss, `Equal` a tie.
    pub fn add(&mut self, outcome: std::cmp::Ordering) {
        match outcome {
            std::cmp::Ordering::Greater => self.wins += 1,
            std::cmp::Ordering::Less => self.losses += 1,
            std::cmp::Ordering::Equal => self.ties += 1,
        }
    }

    pub fn decided(&self) -> usize {
        self.wins + self.losses
    }

    /// wins / (wins + losses); `None` when every game was a tie.
    pub fn win_rate(&self) -> Option<f64> {
        (self.decided() > 0).then(|| self.wins as f64 / self.decided() as f64)
    }

    /// The 95% Wilson interval of the win-rate.
    pub fn interval95(&self) -> Option<(f64, f64)> {
        let n = self.decided() as f64;
        let p = self.win_rate()?;
        let z2 = Z95 * Z95;
        let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
        let half = Z95 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
        Some(((centre - half).max(0.0), (centre + half).min(1.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_interval_matches_the_worked_values() {
        // 8 of 10: the interval statsmodels' proportion_confint(8, 10, method="wilson") gives.
        let h = HeadToHead {
            wins: 8,
            ties: 5,
            losses: 2,
        };
        assert_eq!(h.win_rate(), Some(0.8));
        let (lo, hi) = h.interval95().unwrap();
        assert!(
            (lo - 0.490_162).abs() < 1e-5 && (hi - 0.943_317).abs() < 1e-5,
            "({lo}, {hi})"
        );
        // All wins: the upper end is 1, the lower end n/(n+z²).
        let all = HeadToHead {
            wins: 20,
            ties: 0,
            losses: 0,
        };
        let (lo, hi) = all.interval95().unwrap();
        assert_eq!(hi, 1.0);
        assert!((lo - 20.0 / (20.0 + Z95 * Z95)).abs() < 1e-12);
        assert_eq!(
            HeadToHead {
                wins: 0,
                ties: 3,
                losses: 0
            }
            .win_rate(),
            None
        );
    }

    #[test]
    fn the_written_form_carries_the_rate_and_interval_and_reads_back_from_counts() {
        let h = HeadToHead {
            wins: 8,
            ties: 5,
            losses: 2,
        };
        let json = serde_json::to_value(h).unwrap();
        assert_eq!(json["win_rate"], 0.8);
        let (lo, hi) = h.interval95().unwrap();
        assert_eq!(json["interval95"], serde_json::json!([lo, hi]));
        // Stored before the derived fields existed: the counts alone read back.
        let old: HeadToHead =
            serde_json::from_value(serde_json::json!({"wins": 8, "ties": 5, "losses": 2})).unwrap();
        assert_eq!(old, h);
        let none = serde_json::to_value(HeadToHead::default()).unwrap();
        assert!(none["win_rate"].is_null() && none["interval95"].is_null());
    }
}
