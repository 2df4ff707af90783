import Testing
@testable import DisciplineCore
