//! `--shard K/N`: a deterministic split of the (scenario, target) matrix, so CI matrix jobs
//! on separate machines each run one share and together run every cell exactly once.

/// Shard `k` of `n`, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: usize,
    pub n: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("--shard {s:?}: expected K/N with 1 <= K <= N, e.g. 2/4");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (usize, usize) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if n == 0 || k == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }
}

impl Shard {
    /// Keep this shard's items. Items are ordered by their key (so the split does not depend
    /// on directory order or on which machine lists the files), then dealt round-robin.
    pub fn select<T>(&self, mut items: Vec<T>, key: impl Fn(&T) -> String) -> Vec<T> {
        items.sort_by_key(|t| key(t));
        items.into_iter().enumerate().filter(|(i, _)| i % self.n == self.k - 1).map(|(_, t)| t).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Shard;

    #[test]
    fn shards_cover_every_cell_exactly_once_whatever_the_input_order() {
        let cells: Vec<String> = (0..23).map(|i| format!("scenario-{i:02}/target-{}", i % 3)).collect();
        for n in 1..=7 {
            let mut seen: Vec<String> = Vec::new();
            let mut reversed = cells.clone();
            reversed.reverse();
            for k in 1..=n {
                let s = Shard { k, n };
                let a = s.select(cells.clone(), |c| c.clone());
                assert_eq!(a, s.select(reversed.clone(), |c| c.clone()), "order-independent");
                assert!(a.len() <= cells.len().div_ceil(n), "balanced: {} of {}", a.len(), cells.len());
                seen.extend(a);
            }
            seen.sort();
            let mut want = cells.clone();
            want.sort();
            assert_eq!(seen, want, "n={n}: every cell exactly once");
        }
    }

    #[test]
    fn bad_shards_are_refused_with_the_value() {
        for s in ["0/3", "4/3", "1/0", "2", "a/b", "1/-2"] {
            let e = s.parse::<Shard>().unwrap_err();
            assert!(e.contains(s), "{e}");
        }
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { k: 2, n: 4 }));
    }
}
