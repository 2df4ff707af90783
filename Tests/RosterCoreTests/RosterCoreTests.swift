import Testing
@testable import RosterCore
