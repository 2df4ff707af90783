import Testing
@testable import TimingCore
