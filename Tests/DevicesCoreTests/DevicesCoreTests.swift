import Testing
@testable import DevicesCore
