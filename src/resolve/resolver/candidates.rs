//! Sets of candidate versions of one package, as bitsets over their positions: what the
//! search intersects and compares instead of matching versions against ranges again.

/// The words of a bitset of `len` candidates (at least one, so that it is never empty).
pub(super) fn words(len: usize) -> usize {
    len.div_ceil(64).max(1)
}

/// Some candidates of one package, by position: a bitset, kept inline up to 64 candidates
/// (`high` is empty then), so that copying one costs nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Candidates {
    low: u64,
    high: Vec<u64>,
}

impl Candidates {
    pub(super) fn from_words(words: &[u64]) -> Self {
        Candidates {
            low: words.first().copied().unwrap_or(0),
            high: words.get(1..).unwrap_or_default().to_vec(),
        }
    }

    pub(super) fn matching(len: usize, wanted: impl Fn(usize) -> bool) -> Self {
        let mut set = Candidates {
            low: 0,
            high: vec![0; words(len) - 1],
        };
        for c in (0..len).filter(|&c| wanted(c)) {
            set.insert(c);
        }
        set
    }

    /// Adds candidate `c`, which must be below the length the set was made for.
    pub(super) fn insert(&mut self, c: usize) {
        let word = if c < 64 {
            &mut self.low
        } else {
            &mut self.high[c / 64 - 1]
        };
        *word |= 1 << (c % 64);
    }

    pub(super) fn words(&self) -> impl Iterator<Item = u64> + '_ {
        std::iter::once(self.low).chain(self.high.iter().copied())
    }

    pub(super) fn contains(&self, c: usize) -> bool {
        let word = if c < 64 {
            self.low
        } else {
            self.high.get(c / 64 - 1).copied().unwrap_or(0)
        };
        word & (1 << (c % 64)) != 0
    }

    pub(super) fn unite(&mut self, other: &Candidates) {
        self.low |= other.low;
        for (bits, others) in self.high.iter_mut().zip(&other.high) {
            *bits |= others;
        }
    }

    pub(super) fn intersect(&mut self, other: &Candidates) {
        self.low &= other.low;
        for (bits, others) in self.high.iter_mut().zip(&other.high) {
            *bits &= others;
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.words().all(|bits| bits == 0)
    }

    /// Whether every candidate of `self` is in `other`.
    pub(super) fn is_within(&self, other: &Candidates) -> bool {
        self.words()
            .zip(other.words())
            .all(|(bits, others)| bits & !others == 0)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words().enumerate().flat_map(|(word, bits)| {
            (0..64)
                .filter(move |bit| bits & (1 << bit) != 0)
                .map(move |bit| word * 64 + bit)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_beyond_one_word_behave_like_small_ones() {
        let evens = Candidates::matching(130, |c| c % 2 == 0);
        let low = Candidates::matching(130, |c| c < 70);
        assert!(evens.contains(128));
        assert!(!evens.contains(129));
        assert!(!evens.contains(500));
        let mut both = evens.clone();
        both.intersect(&low);
        assert_eq!(both.iter().count(), 35);
        assert!(both.is_within(&evens));
        assert!(!evens.is_within(&both));
        let mut all = evens.clone();
        all.unite(&Candidates::matching(130, |c| c % 2 == 1));
        assert_eq!(all, Candidates::matching(130, |_| true));
        assert!(Candidates::matching(0, |_| true).is_empty());
        assert_eq!(
            Candidates::from_words(&[1, 2, 4])
                .iter()
                .collect::<Vec<_>>(),
            [0, 65, 130]
        );
    }
}
