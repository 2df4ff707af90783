import Testing
@testable import ScoringCore
