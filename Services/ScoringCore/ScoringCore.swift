// ScoringCore: work in progress
